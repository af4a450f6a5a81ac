"""A tiny learnable image dataset for testing the training machinery without MNIST:
label k is a bright 6x6 square at the k-th cell of a 2x5 grid, plus noise."""

from __future__ import annotations

import json

import numpy as np

from train.data.datasets import Datasets
from train.data.groups import ImageGroup
from train.run import Run


def blobs(
    n: int, height: int = 28, width: int = 28, seed: int = 0, canvas: tuple[int, int] | None = None
) -> ImageGroup:
    """``n`` images of (height, width); with ``canvas``, pasted at the top-left of a larger canvas
    (sizes set)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.int32)
    images = rng.integers(0, 60, (n, height, width, 1)).astype(np.uint8)
    for i, label in enumerate(labels):
        row, col = divmod(int(label), 5)
        top, left = row * (height // 2) + 2, col * (width // 5) + 1
        images[i, top : top + 6, left : left + 4] = 255
    if canvas is None:
        return ImageGroup(images, labels)
    padded = np.zeros((n, *canvas, 1), np.uint8)
    padded[:, :height, :width] = images
    return ImageGroup(padded, labels, np.tile(np.array([height, width], np.int32), (n, 1)))


def blob_datasets(num_train: int = 512, num_eval: int = 250) -> Datasets:
    return Datasets(
        [blobs(num_train, seed=1)], [blobs(num_eval, seed=2)], [blobs(num_eval, seed=3)]
    )


# a run's fields that measure time, which two runs of the same config never share
TIMING = ("seconds", "train_seconds", "compile_seconds")


def outcome(workdir):
    """A run's metrics.jsonl and summary.json without their timings: what a resumed run must
    reproduce exactly."""
    metrics = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    summary = json.loads((workdir / "summary.json").read_text())
    return [{k: v for k, v in m.items() if k not in TIMING} for m in metrics], {
        k: v for k, v in summary.items() if k not in TIMING
    }


def open_run(workdir, resume, config, overrides):
    """Open (and close) the run: the config it runs."""
    with Run.open(workdir, config, resume=resume, overrides=overrides) as run:
        return run.config
