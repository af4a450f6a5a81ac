"""The report's figures (matplotlib, PNG): learning curves with their seed spread, the Q8 sweep
as a heatmap, and augmented images. Each figure function returns the numbers it drew."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from train.report.stats import sweep_grid  # noqa: E402


def seed_band(results: list[dict], metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(epochs, mean, sample std) over seeds of ``metric`` per epoch for the runs of one variant;
    the std is 0 with one seed. Runs of unequal length are cut to the shortest."""
    epochs = min(len(r["metrics"]) for r in results)
    values = np.array([[m[metric] for m in r["metrics"][:epochs]] for r in results])
    # values: (seeds, epochs)
    std = values.std(axis=0, ddof=1) if len(results) > 1 else np.zeros(epochs)
    return np.arange(1, epochs + 1), values.mean(axis=0), std


def learning_curves(path: Path, series: dict[str, list[dict]], title: str) -> dict:
    """Training loss and validation accuracy per epoch, one line per variant: the mean over seeds,
    with a band of ± one sample std. Returns {(label, metric): (epochs, mean, std)} as drawn."""
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    drawn = {}
    for label, results in series.items():
        for ax, metric in ((loss_ax, "train_loss"), (acc_ax, "val_accuracy")):
            epochs, mean, std = drawn[label, metric] = seed_band(results, metric)
            scale = 100 if metric == "val_accuracy" else 1
            low = np.maximum(mean - std, mean / 10)  # the loss axis is logarithmic: keep it > 0
            (line,) = ax.plot(epochs, scale * mean, marker="o", label=label)
            high = mean + std
            ax.fill_between(epochs, scale * low, scale * high, color=line.get_color(), alpha=0.2)
    loss_ax.set(xlabel="epoch", ylabel="training loss (mean over the epoch)", yscale="log")
    acc_ax.set(xlabel="epoch", ylabel="validation accuracy (%)")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    acc_ax.legend(fontsize=7, loc="lower right")
    seeds = {len(results) for results in series.values()}
    spread = "one seed: no band" if seeds == {1} else "mean over seeds, band ± one sample std"
    fig.suptitle(f"{title} ({spread})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return drawn


def sweep_heatmap(path: Path, variants: dict[str, list[dict]], key: str = "test_accuracy"):
    """Q8: the mean final ``key`` accuracy (%) over seeds for each learning rate × batch size,
    one annotated cell each. Returns sweep_grid's (learning rates, batch sizes, grid)."""
    lrs, batches, grid = sweep_grid(variants, key)
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * len(batches), 1.2 + 0.6 * len(lrs)))
    image = ax.imshow(100 * grid, cmap="viridis", aspect="auto")
    for (i, j), value in np.ndenumerate(100 * grid):
        text = "–" if np.isnan(value) else f"{value:.2f}"
        ax.text(j, i, text, ha="center", va="center", color="white", fontsize=9)
    ax.set_xticks(range(len(batches)), [str(b) for b in batches])
    ax.set_yticks(range(len(lrs)), [f"{lr:g}" for lr in lrs])
    ax.set(xlabel="batch size", ylabel="learning rate")
    fig.colorbar(image, ax=ax, label=f"{key.replace('_', ' ')} (%)")
    seeds = len(next(iter(variants.values())))
    over = f"mean over {seeds} seeds" if seeds > 1 else "one seed"
    ax.set_title(f"Q8: {key.replace('_', ' ')}, {over}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return lrs, batches, grid


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
    fig.suptitle(
        "Q9: training images and random augmentations (rotation, scale, shift, brightness, "
        "contrast)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw_report_figures(folder: Path, results: dict, examples: tuple) -> None:
    """Every figure report.md links, into ``folder``; ``examples``: (images, augmented draws) for
    augmentation_grid."""
    sweep_heatmap(folder / "q8_heatmap.png", results["q8"]["variants"], "best_val_accuracy")
    learning_curves(
        folder / "q9_augmentation.png",
        results["q9"]["variants"],
        "Q9: baseline against augmented",
    )
    learning_curves(
        folder / "q16_pooling.png",
        results["q16"]["variants"],
        "Q16: global max against global mean pooling",
    )
    q17 = results["q17"]
    chosen = {q17["chosen"][model]: runs for model, runs in q17["variants"].items()}  # lr labels
    title = "Q17: tuned fixed against tuned variable resolution"
    learning_curves(folder / "q17_models.png", chosen, title)
    augmentation_grid(folder / "q9_examples.png", *examples)
