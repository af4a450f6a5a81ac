"""The report's figures (matplotlib, PNG): learning curves and augmented images."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def mean_curve(results: list[dict], metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, mean over seeds of ``metric`` per epoch) for the runs of one variant."""
    epochs = min(len(r["metrics"]) for r in results)
    values = np.array([[m[metric] for m in r["metrics"][:epochs]] for r in results])  # (seeds, epochs)
    return np.arange(1, epochs + 1), values.mean(axis=0)


def learning_curves(path: Path, series: dict[str, list[dict]], title: str, styles: dict | None = None) -> None:
    """Training loss and validation accuracy per epoch, one line per variant (mean over seeds)."""
    many = len(series) > 4  # then the legend goes beside the plots, where it hides no line
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(13 if many else 11, 4.2))
    for label, results in series.items():
        style = (styles or {}).get(label, {})
        epochs, loss = mean_curve(results, "train_loss")
        loss_ax.plot(epochs, loss, marker="o", label=label, **style)
        epochs, accuracy = mean_curve(results, "val_accuracy")
        acc_ax.plot(epochs, 100 * accuracy, marker="o", label=label, **style)
    loss_ax.set(xlabel="epoch", ylabel="training loss (mean over the epoch)", yscale="log")
    acc_ax.set(xlabel="epoch", ylabel="validation accuracy (%)")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    if many:
        acc_ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    else:
        acc_ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title + " (mean over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def sweep_styles(labels) -> dict:
    """Colour by learning rate, line style by batch size, for the Q8 sweep."""
    lrs = sorted({label.split(",")[0] for label in labels}, key=lambda s: float(s.split()[1]))
    batches = sorted({label.split(",")[1] for label in labels}, key=lambda s: int(s.split()[1]))
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(lrs)))
    dashes = ["-", "--", ":", "-."]
    return {
        label: {"color": colours[lrs.index(label.split(",")[0])], "linestyle": dashes[batches.index(label.split(",")[1]) % 4]}
        for label in labels
    }


def augmentation_grid(path: Path, images: np.ndarray, augmented: list[np.ndarray]) -> None:
    """Originals in the top row, one row per augmented draw below."""
    rows, columns = 1 + len(augmented), len(images)
    fig, axes = plt.subplots(rows, columns, figsize=(1.2 * columns, 1.25 * rows))
    for c in range(columns):
        for r, batch in enumerate([images, *augmented]):
            ax = axes[r, c]
            ax.imshow(np.asarray(batch[c, ..., 0]), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0, c].set_title("original" if c == 0 else "", fontsize=8)
    for r in range(1, rows):
        axes[r, 0].set_ylabel(f"draw {r}", fontsize=8)
    fig.suptitle("Q9: training images and random augmentations (rotation, scale, shift, brightness, contrast)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
