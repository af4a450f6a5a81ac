"""The one training loop behind train.fixed and train.varres.

``train_and_evaluate(config, workdir, datasets)`` trains, validates after every
epoch, checkpoints the last and the best-by-validation state, and finally
evaluates the test split (only then) with the best state. It writes into the
workdir: ``metrics.jsonl`` (one JSON object per epoch), the checkpoints, and
``summary.json``. Everything random derives from ``config.seed`` and the epoch
number, so a resumed run repeats exactly what an uninterrupted one would do.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from pathlib import Path
from typing import Callable

import jax
import numpy as np
import optax
from flax import nnx

from train.augment import augment_batch
from train.checkpoints import Checkpoints
from train.data import DeviceGroup, Split, epoch_chunks, eval_batches, split_size
from train.errors import ConfigError
from train.models import num_params
from train.progress import EpochProgress
from train.steps import Steps


@dataclasses.dataclass
class Datasets:
    train: Split
    val: Split
    test: Split


def make_optimizer(config, steps_per_epoch: int) -> optax.GradientTransformation:
    """Adam (Q7) with a constant or cosine-decayed learning rate."""
    if config.lr_schedule == "constant":
        return optax.adam(config.learning_rate)
    if config.lr_schedule == "cosine":
        return optax.adam(optax.cosine_decay_schedule(config.learning_rate, max(1, config.num_epochs * steps_per_epoch)))
    raise ConfigError(f"config.lr_schedule must be 'constant' or 'cosine', got {config.lr_schedule!r}")


def _check_batch_sizes(config, num_devices: int) -> None:
    for name in ("batch_size", "eval_batch_size"):
        value = config[name]
        if value < 1 or value % num_devices:
            raise ConfigError(f"config.{name} = {value} must be a positive multiple of the {num_devices} devices it is sharded over")


def evaluate(steps: Steps, params, split: Split, batch_size: int) -> dict:
    """Mean loss and accuracy over every example of the split (padded batches, weight 0 on padding)."""
    totals = steps.zero_totals()
    for group in split:
        for images, labels, sizes, weights in eval_batches(group, batch_size):
            totals = totals + steps.eval_batch(params, images, labels, sizes, weights)  # summed on the device
    loss_sum, correct, count = np.asarray(totals, np.float64)  # the one wait for the device
    return {"loss": float(loss_sum / count), "accuracy": float(correct / count), "n": int(count)}


class RunFiles:
    """metrics.jsonl and summary.json of a workdir."""

    def __init__(self, workdir: Path):
        self.metrics, self.summary = workdir / "metrics.jsonl", workdir / "summary.json"

    def read_metrics(self) -> list[dict]:
        if not self.metrics.exists():
            return []
        return [json.loads(line) for line in self.metrics.read_text().splitlines() if line.strip()]

    def read_summary(self) -> dict | None:
        """The summary of a finished run; None while the run is unfinished."""
        return json.loads(self.summary.read_text()) if self.summary.is_file() else None

    def keep_metrics_through(self, epoch: int) -> list[dict]:
        """Drop lines of epochs after ``epoch`` (written before a crash, redone on resume)."""
        kept = [m for m in self.read_metrics() if m["epoch"] <= epoch]
        self.metrics.write_text("".join(json.dumps(m) + "\n" for m in kept))
        return kept

    def append_metrics(self, record: dict) -> None:
        with self.metrics.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def write_summary(self, summary: dict) -> None:
        # written whole or not at all: a summary marks a finished run (train.report reuses it)
        partial = self.summary.with_suffix(".json.partial")
        partial.write_text(json.dumps(summary, indent=2) + "\n")
        partial.replace(self.summary)


def train_and_evaluate(
    config,
    workdir: Path,
    datasets: Datasets,
    make_model: Callable[[nnx.Rngs], nnx.Module],
    *,
    resume: bool = False,
    progress: EpochProgress | None = None,
    on_epoch_end: Callable[[int, dict], None] | None = None,
) -> dict:
    """Train, validate every epoch, checkpoint, test once at the end; returns the summary.

    ``on_epoch_end(epoch, metrics)`` runs after an epoch's checkpoint is saved
    (raising from it interrupts the run as a crash would).
    """
    workdir = Path(workdir)
    progress = progress or EpochProgress()
    model = make_model(nnx.Rngs(config.seed))
    graphdef, params = nnx.split(model)
    steps_per_epoch = sum(len(g) // config.batch_size for g in datasets.train)
    if config.augment and any(g.sizes is not None for g in datasets.train):
        # the warps turn about the canvas centre and the brightness jitter lights up the padding,
        # so an augmented padded image is no longer the augmented image: refuse rather than mislead
        raise ConfigError(
            "config.augment = True cannot train on images padded onto bucketed canvases (more than "
            f"config.max_resolutions = {config.get('max_resolutions')} resolutions): turn augmentation off or raise max_resolutions"
        )
    if steps_per_epoch == 0:
        raise ConfigError(f"no group of the training split has a full batch of config.batch_size = {config.batch_size} images")
    tx = make_optimizer(config, steps_per_epoch)
    augment = functools.partial(augment_batch, cfg=config.augmentation) if config.augment else None
    steps = Steps(graphdef, tx, augment)
    _check_batch_sizes(config, steps.num_devices)

    state = {"params": params, "opt_state": tx.init(params)}
    checkpoints, files = Checkpoints(workdir), RunFiles(workdir)
    start_epoch, best_val, history = 0, -1.0, []
    if resume:
        restored = checkpoints.restore("last", state)
        if restored is not None:
            state, record = restored
            start_epoch, best_val = record["epoch"], record["best_val_accuracy"]
            progress.line(f"resuming {workdir} after epoch {start_epoch}")
        history = files.keep_metrics_through(start_epoch)
    state = jax.device_put(state, steps.replicated)
    train_groups = [DeviceGroup.put(g, steps.replicated) for g in datasets.train]

    for epoch in range(start_epoch + 1, config.num_epochs + 1):
        start = time.perf_counter()
        compile_before = steps.compile_seconds
        chunks = epoch_chunks(
            [len(g) for g in datasets.train], config.batch_size, config.steps_per_call, np.random.default_rng([config.seed, epoch])
        )
        epoch_key = jax.device_put(jax.random.fold_in(jax.random.key(config.seed), epoch), steps.replicated)
        totals, shown = steps.zero_totals(), time.perf_counter()
        with progress.epoch(epoch, config.num_epochs, steps_per_epoch) as update:
            for i, chunk in enumerate(chunks):
                group = train_groups[chunk.group]
                state, totals = steps.train_chunk(state, totals, group, chunk.batch_indices, chunk.valid, epoch_key, i)
                if steps.wait_per_call:
                    jax.block_until_ready(totals)
                if progress.live and time.perf_counter() - shown > 0.5:  # reading totals waits for the device
                    loss_sum, _, count = np.asarray(totals)
                    update(int(count) // config.batch_size, loss_sum / max(count, 1))
                    shown = time.perf_counter()
        totals = np.asarray(totals)
        val = evaluate(steps, state["params"], datasets.val, config.eval_batch_size)
        seconds = time.perf_counter() - start - (steps.compile_seconds - compile_before)
        record = {
            "epoch": epoch,
            "train_loss": float(totals[0] / totals[2]),
            "train_accuracy": float(totals[1] / totals[2]),
            "val_loss": val["loss"],
            "val_accuracy": val["accuracy"],
            "seconds": seconds,
        }
        history.append(record)
        files.append_metrics(record)
        is_best = val["accuracy"] > best_val
        best_val = max(best_val, val["accuracy"])
        checkpoints.save(epoch, state, {"epoch": epoch, "best_val_accuracy": best_val}, is_best)
        progress.line(
            f"epoch {epoch}/{config.num_epochs}  train loss {record['train_loss']:.4f} acc {record['train_accuracy']:.4f}  "
            f"val loss {val['loss']:.4f} acc {val['accuracy']:.4f}  {seconds:.1f}s"
        )
        if on_epoch_end is not None:
            on_epoch_end(epoch, record)

    summary = _final_evaluation(config, steps, checkpoints, state, datasets, history)
    summary |= {
        "num_params": num_params(model),
        "train_seconds": sum(m["seconds"] for m in history),
        "compile_seconds": steps.compile_seconds,
    }
    files.write_summary(summary)
    checkpoints.close()
    progress.line(f"test accuracy {summary['test_accuracy']:.4f} (best validation epoch {summary['best_epoch']}); wrote {workdir}")
    return summary


def _final_evaluation(config, steps: Steps, checkpoints: Checkpoints, state, datasets: Datasets, history: list[dict]) -> dict:
    """Test once: with the best-by-validation state (and, for reference, the last)."""
    best_state, record = checkpoints.restore("best", state)
    test = evaluate(steps, jax.device_put(best_state, steps.replicated)["params"], datasets.test, config.eval_batch_size)
    is_last = record["epoch"] == history[-1]["epoch"] if history else True
    last = test if is_last else evaluate(steps, state["params"], datasets.test, config.eval_batch_size)
    return {
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "test_n": test["n"],
        "best_val_accuracy": record["best_val_accuracy"],
        "best_epoch": record["epoch"],
        "last_test_accuracy": last["accuracy"],
        "epochs": len(history),
        "num_train": split_size(datasets.train),
        "num_val": split_size(datasets.val),
    }
