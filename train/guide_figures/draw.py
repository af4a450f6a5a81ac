"""What every guide figure shares: a small PNG, a matrix with its numbers, a labelled image."""

from __future__ import annotations

from pathlib import Path

import jax
import matplotlib.pyplot as plt
import numpy as np

import jaxconv

DPI = 80


def save(fig, out: Path, name: str) -> Path:
    path = out / f"{name}.png"
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def show_grid(ax, values, title="", text=None, cmap="Blues", vmin=None, vmax=None):
    """A matrix as coloured cells, each with its number (or the given text) written in it."""
    values = np.asarray(values, float)
    ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax)
    text = values if text is None else np.asarray(text)
    for (i, j), v in np.ndenumerate(text):
        label = v if isinstance(v, str) else f"{v + 0.0:g}"  # + 0.0: no "-0"
        ax.text(j, i, label, ha="center", va="center", fontsize=8)
    ax.set_xticks(np.arange(values.shape[1] + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(values.shape[0] + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="0.6", lw=0.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    ax.set_title(title, fontsize=9)


def labelled_image(height: int, width: int) -> np.ndarray:
    """A one-channel image whose pixel (i, j) holds its label i·width + j + 1 (0: padding)."""
    return np.arange(1, height * width + 1, dtype=np.float32).reshape(
        1, height, width, 1
    )  # (1, H, W, 1)


# jaxconv's functions compiled once per geometry: run eagerly, each of their many small
# lax ops compiles on its own, which made the quick figures take a minute instead of seconds
unfold = jax.jit(jaxconv.unfold, static_argnums=(1, 2, 3, 4))
fold = jax.jit(jaxconv.fold, static_argnums=(1, 2, 3, 4, 5))
conv = jax.jit(jaxconv.conv, static_argnums=(2, 3, 4, 5))
conv_transpose = jax.jit(jaxconv.conv_transpose, static_argnums=(2, 3, 4, 5, 6))
