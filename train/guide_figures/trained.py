"""Chapter 7 of docs/guide.md: what the trained networks learned.

First-layer filters and the feature maps of one digit (a train.fixed run), the
varres network's masks on a padded canvas (a train.varres run), the misclassified
test digits and the confusion matrix. Runs are loaded with train.trained.TrainedRun;
:func:`train_runs` makes short ones with the trainers' own command lines.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from flax import nnx

import jaxconv
from train.guide_figures.draw import save, show_grid
from train.trained import TrainedRun

# one epoch each: clean filters and a readable confusion matrix in a few minutes on 2 cores
FIXED_RUN = ["train.fixed", "--config.num_epochs=1"]
VARRES_RUN = ["train.varres", "--config.num_epochs=1", "--config.max_train_examples=20000"]


def train_runs(root: Path, cache: str | None = None) -> tuple[Path, Path]:
    """A short train.fixed and train.varres run under ``root`` (python -m, as a user would)."""
    workdirs = []
    for module, *flags in (FIXED_RUN, VARRES_RUN):
        workdir = root / module.split(".")[1]
        command = [sys.executable, "-m", module, f"--workdir={workdir}", *flags]
        subprocess.run(command + ([f"--cache_dir={cache}"] if cache else []), check=True)
        workdirs.append(workdir)
    return workdirs[0], workdirs[1]


def model_of(run: TrainedRun) -> nnx.Module:
    return nnx.merge(run.steps.graphdef, run.params)


def stage_maps(
    model: nnx.Module, image_u8: np.ndarray, mask: np.ndarray | None = None
) -> tuple[list, list]:
    """The activations after each conv-ReLU-pool stage of FixedCNN or VarResCNN for one (H, W)
    image, as their ``__call__`` computes them (with a mask: zero outside the image each stage)."""
    x = np.asarray(image_u8, np.float32)[None, :, :, None] / 255  # (1, H, W, 1)
    maps, masks = _stages(model, x, None if mask is None else np.asarray(mask)[None])
    return [np.asarray(m[0]) for m in maps], [np.asarray(m[0]) for m in masks]


@nnx.jit
def _stages(model, x, mask):
    maps, masks = [], []
    for conv in model.convs:
        x = jax.nn.relu(jaxconv.max_pool(conv(x)))  # (1, H/2, W/2, C)
        if mask is not None:
            mask = jaxconv.max_pool_mask(mask)  # (1, H/2, W/2)
            x = jnp.where(mask[..., None], x, 0.0)
            masks.append(mask)
        maps.append(x)
    return maps, masks


@nnx.jit
def _logits(model, x, mask):
    return model(x, mask)


def draw_filters(out: Path, model: nnx.Module) -> dict:
    filters = np.asarray(model.convs[0].kernel[...])[:, :, 0, :]  # (3, 3, C_out)
    fig, axes = plt.subplots(2, filters.shape[-1] // 2, figsize=(8, 2.4))
    limit = np.abs(filters).max()
    for c, ax in enumerate(axes.flat):
        ax.imshow(filters[:, :, c], cmap="RdBu", vmin=-limit, vmax=limit)
        ax.axis("off")
    fig.suptitle("first-layer filters (3×3, red negative, blue positive)", fontsize=9)
    save(fig, out, "ch7_filters")
    return {"filters": filters}


def draw_feature_maps(out: Path, model: nnx.Module, digit: np.ndarray, shown: int = 8) -> dict:
    maps, _ = stage_maps(model, digit)
    fig, axes = plt.subplots(len(maps), shown + 1, figsize=(shown + 1, len(maps) * 1.1))
    for row, stage in enumerate(maps):
        if row == 0:
            axes[row, 0].imshow(digit, cmap="gray")
        axes[row, 0].set_title(
            f"stage {row + 1}: {stage.shape[0]}×{stage.shape[1]}×{stage.shape[2]}",
            fontsize=7,
            loc="left",
        )
        for c in range(shown):
            axes[row, c + 1].imshow(stage[:, :, c], cmap="magma")
        for ax in axes[row]:
            ax.axis("off")
    save(fig, out, "ch7_feature_maps")
    return {"maps": maps}


def draw_varres_masks(
    out: Path, model: nnx.Module, image: np.ndarray, canvas: tuple[int, int]
) -> dict:
    """One image at the top-left of a larger zero canvas: the mask after each stage, and the
    logits of the padded image (with its mask) against those of the image alone."""
    padded = np.zeros(canvas, np.uint8)
    padded[: image.shape[0], : image.shape[1]] = image
    mask = np.zeros(canvas, bool)
    mask[: image.shape[0], : image.shape[1]] = True
    maps, masks = stage_maps(model, padded, mask)
    to_input = lambda u8: np.asarray(u8, np.float32)[None, :, :, None] / 255  # noqa: E731
    logits_padded = np.asarray(_logits(model, to_input(padded), mask[None]))[0]
    logits_alone = np.asarray(_logits(model, to_input(image), None))[0]
    fig, axes = plt.subplots(2, len(masks) + 1, figsize=(2.2 * (len(masks) + 1), 4.6))
    axes[0, 0].imshow(padded, cmap="gray")
    axes[0, 0].set_title(
        f"{image.shape[0]}×{image.shape[1]} on a {canvas[0]}×{canvas[1]} canvas", fontsize=8
    )
    axes[1, 0].imshow(mask, cmap="Greens")
    axes[1, 0].set_title("mask", fontsize=8)
    for i, (stage, stage_mask) in enumerate(zip(maps, masks)):
        axes[0, i + 1].imshow(stage.max(-1), cmap="magma")
        axes[0, i + 1].set_title(f"stage {i + 1}: max over channels", fontsize=8)
        axes[1, i + 1].imshow(stage_mask, cmap="Greens")
        axes[1, i + 1].set_title(
            f"pooled mask {stage_mask.shape[0]}×{stage_mask.shape[1]}", fontsize=8
        )
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    difference = np.abs(logits_padded - logits_alone).max()
    fig.suptitle(f"logits padded vs alone: largest difference {difference:.1e}", fontsize=9)
    save(fig, out, "ch7_varres_masks")
    return {"masks": masks, "logits_padded": logits_padded, "logits_alone": logits_alone}


def draw_mistakes(
    out: Path, images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, shown: int = 12
) -> dict:
    """The confusion matrix of ``probabilities`` (n, 10) against ``labels``, and the first
    misclassified images."""
    predicted = probabilities.argmax(-1)
    confusion = np.zeros((10, 10), int)
    np.add.at(confusion, (labels, predicted), 1)  # rows: true digit, columns: predicted
    wrong = np.flatnonzero(predicted != labels)
    fig = plt.figure(figsize=(11, 4.4))
    matrix = fig.add_axes([0.0, 0.0, 0.42, 0.92])
    show_grid(
        matrix,
        np.log1p(confusion),
        f"confusion (rows true, columns predicted), n = {len(labels)}",
        confusion,
        "Blues",
    )
    matrix.set_xticks(range(10))
    matrix.set_yticks(range(10))
    for k, index in enumerate(wrong[:shown]):
        ax = fig.add_axes([0.46 + (k % 6) * 0.09, 0.5 - (k // 6) * 0.45, 0.08, 0.36])
        ax.imshow(images[index], cmap="gray")
        ax.set_title(
            f"{labels[index]} → {predicted[index]} ({probabilities[index].max():.0%})", fontsize=8
        )
        ax.axis("off")
    save(fig, out, "ch7_mistakes")
    return {"confusion": confusion, "misclassified": wrong}


def run_test_split(
    run: TrainedRun, cache: str | None, data: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """The run's own test split as uint8 (n, H, W) images and labels (its smallest resolution)."""
    from train.data.cache import cache_dir, data_dir
    from train.data.datasets import load_datasets

    groups = load_datasets(run.config, cache_dir(cache), data_dir(data), with_train=False).test
    group = min(groups, key=lambda g: g.shape[0] * g.shape[1])
    return group.images[..., 0], group.labels


def draw_trained(
    out: Path,
    fixed: TrainedRun,
    images: np.ndarray,
    labels: np.ndarray,
    varres=None,
    canvas=(64, 64),
) -> dict:
    """Every chapter-7 figure: a train.fixed run with its test images (uint8 (n, H, W)) and
    labels, and for the masks a variable-resolution model and one small image, ``varres``."""
    model = model_of(fixed)
    results = {
        "filters": draw_filters(out, model),
        "feature_maps": draw_feature_maps(out, model, images[0]),
        "mistakes": draw_mistakes(out, images, labels, fixed.predict(list(images))),
    }
    if varres is not None:
        results["varres_masks"] = draw_varres_masks(out, *varres, canvas)
    return results
