"""The one training loop behind train.fixed and train.varres.

``train_and_evaluate(config, run, datasets, make_model)`` trains, validates after
every epoch, has the run (train/run.py) save the epoch and its last and
best-by-validation state, and finally evaluates the test split (only then) with
the best state. Everything random derives from ``config.seed`` and the epoch
number, so a resumed run repeats exactly what an uninterrupted one would do.
"""

from __future__ import annotations

import functools
import io
import math
import time
from typing import Callable

import jax
import numpy as np
import optax
from flax import nnx

from train import config_check, distributed
from train.compile_time import CompileClock
from train.data.augment import augment_batch
from train.data.batching import DeviceGroup, epoch_chunks, eval_batches
from train.data.datasets import Datasets
from train.data.groups import Split, split_size
from train.errors import TrainingDivergedError
from train.models import init_model, num_params
from train.progress import EpochProgress
from train.run import Run
from train.steps import Steps

# A mean training loss above this has exploded: guessing uniformly among 10 classes costs
# ln 10 = 2.3.
EXPLODED_LOSS = 100.0


def make_optimizer(config, steps_per_epoch: int) -> optax.GradientTransformation:
    """Adam (Q7) with a constant or cosine-decayed learning rate (``config.lr_schedule``, one of
    the two: train.config_check)."""
    if config.lr_schedule == "constant":
        return optax.adam(config.learning_rate)
    return optax.adam(
        optax.cosine_decay_schedule(
            config.learning_rate, max(1, config.num_epochs * steps_per_epoch)
        )
    )


def evaluate(steps: Steps, params, split: Split, batch_size: int) -> dict:
    """Mean loss and accuracy over every example of the split (padded batches, weight 0 on
    padding)."""
    totals = steps.zero_totals()
    for group in split:
        for images, labels, sizes, weights in eval_batches(group, batch_size):
            totals = totals + steps.eval_batch(
                params, images, labels, sizes, weights
            )  # summed on the device
    loss_sum, correct, count = np.asarray(totals, np.float64)  # the one wait for the device
    return {"loss": float(loss_sum / count), "accuracy": float(correct / count), "n": int(count)}


def train_and_evaluate(
    config,
    run: Run,
    datasets: Datasets,
    make_model: Callable[[nnx.Rngs], nnx.Module],
    *,
    progress: EpochProgress | None = None,
    on_epoch_end: Callable[[int, dict], None] | None = None,
) -> dict:
    """Train, validate every epoch, checkpoint, test once at the end; returns the summary.

    ``run`` (train/run.py) is new or resumed; training continues after its last committed epoch.
    ``on_epoch_end(epoch, metrics)`` runs after an epoch is committed (raising from it
    interrupts the run as a crash would). A loss that becomes non-finite or explodes
    ends the run with TrainingDivergedError and a summary marked failed.
    """
    if not run.writer:  # logs and metrics are process 0's
        progress = EpochProgress(live=False, stream=io.StringIO())
    progress = progress or EpochProgress()
    config_check.check_trainable(config, datasets.train, jax.device_count())  # Steps' mesh
    steps_per_epoch = sum(len(g) // config.batch_size for g in datasets.train)
    model, steps, state = _initial_state(config, make_model, steps_per_epoch)
    state = distributed.put(run.restore(state, progress.line), steps.replicated)
    train_groups = [DeviceGroup.put(g, steps.replicated, distributed.put) for g in datasets.train]
    with CompileClock() as compiling:  # the steps' compilations, kept out of the epochs' seconds
        for epoch in range(run.epochs_done + 1, config.num_epochs + 1):
            start, compiled_before = time.perf_counter(), compiling.seconds
            state, record = train_epoch(config, steps, state, train_groups, epoch, progress)
            val = evaluate(steps, state["params"], datasets.val, config.eval_batch_size)
            record |= {"val_loss": val["loss"], "val_accuracy": val["accuracy"]}
            record["seconds"] = time.perf_counter() - start - (compiling.seconds - compiled_before)
            if reason := divergence(record, steps_per_epoch):
                run.fail(reason, record)
                raise TrainingDivergedError(reason)
            run.save_epoch(state, record)
            progress.line(_epoch_line(record, config.num_epochs))
            if on_epoch_end is not None:
                on_epoch_end(epoch, record)
        test = _test(config, steps, run, state, datasets)
    summary = run.finish(test | _totals(model, run, compiling.seconds))
    progress.line(
        f"test accuracy {summary['test_accuracy']:.4f} "
        f"(best validation epoch {summary['best_epoch']}); wrote {run.path}"
    )
    return summary


def _initial_state(config, make_model, steps_per_epoch: int) -> tuple[nnx.Module, Steps, dict]:
    """(the model, its compiled steps, the initial training state) of ``config.seed``."""
    model = init_model(make_model, config.seed)
    graphdef, params = nnx.split(model)
    tx = make_optimizer(config, steps_per_epoch)
    augment = functools.partial(augment_batch, cfg=config.augmentation) if config.augment else None
    steps = Steps(graphdef, tx, augment, tile_pixels=config.get("tile_pixels", 0))
    # the optimizer state as one compiled program, not one eager zeros per parameter shape
    return model, steps, {"params": params, "opt_state": jax.jit(tx.init)(params)}


def train_epoch(config, steps: Steps, state, train_groups, epoch: int, progress: EpochProgress):
    """One epoch of training: (the new state, {"epoch", "train_loss", "train_accuracy"})."""
    chunks = epoch_chunks(
        [len(g.images) for g in train_groups],
        config.batch_size,
        config.steps_per_call,
        np.random.default_rng([config.seed, epoch]),
    )
    epoch_key = distributed.put(
        jax.random.fold_in(jax.random.key(config.seed), epoch), steps.replicated
    )
    totals, shown = steps.zero_totals(), time.perf_counter()
    steps_per_epoch = sum(int(chunk.valid.sum()) for chunk in chunks)
    with progress.epoch(epoch, config.num_epochs, steps_per_epoch) as update:
        for i, chunk in enumerate(chunks):
            group = train_groups[chunk.group]
            state, totals = steps.train_chunk(
                state, totals, group, chunk.batch_indices, chunk.valid, epoch_key, i
            )
            if steps.wait_per_call:
                jax.block_until_ready(totals)
            if progress.live and time.perf_counter() - shown > progress.refresh_seconds:
                loss_sum, _, count = np.asarray(totals)  # reading totals waits for the device
                update(int(count) // config.batch_size, loss_sum / max(count, 1))
                shown = time.perf_counter()
    loss_sum, correct, count = np.asarray(totals)
    record = {"epoch": epoch, "train_loss": float(loss_sum / count)}
    return state, record | {"train_accuracy": float(correct / count)}


def _epoch_line(record: dict, num_epochs: int) -> str:
    return (
        f"epoch {record['epoch']}/{num_epochs}  "
        f"train loss {record['train_loss']:.4f} acc {record['train_accuracy']:.4f}  "
        f"val loss {record['val_loss']:.4f} acc {record['val_accuracy']:.4f}  "
        f"{record['seconds']:.1f}s"
    )


def divergence(record: dict, steps_per_epoch: int) -> str | None:
    """Why the epoch of ``record`` diverged (a non-finite or exploded loss), or None."""
    loss, val_loss = record["train_loss"], record["val_loss"]
    if math.isfinite(loss) and loss <= EXPLODED_LOSS and math.isfinite(val_loss):
        return None
    epoch, exploded = record["epoch"], math.isfinite(loss) and loss > EXPLODED_LOSS
    what = (
        f"the mean training loss is {loss:.4g}"
        if exploded or not math.isfinite(loss)
        else f"the validation loss is {val_loss:.4g}"
    )
    if exploded:
        what += f" (above {EXPLODED_LOSS:g}: exploded; a uniform guess costs 2.3)"
    return (
        f"training diverged in epoch {epoch} "
        f"(optimizer steps {(epoch - 1) * steps_per_epoch + 1}-{epoch * steps_per_epoch}): "
        f"{what}; nothing of this epoch was saved. Try a smaller config.learning_rate."
    )


def _test(config, steps: Steps, run: Run, state, datasets: Datasets) -> dict:
    """Test once: with the best-by-validation state (and, for reference, the last)."""
    best_state, record = run.best_state(state)
    best_params = distributed.put(best_state, steps.replicated)["params"]
    test = evaluate(steps, best_params, datasets.test, config.eval_batch_size)
    is_last = record["epoch"] == run.epochs_done
    last = (
        test if is_last else evaluate(steps, state["params"], datasets.test, config.eval_batch_size)
    )
    return {
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "test_n": test["n"],
        "best_val_accuracy": record["best_val_accuracy"],
        "best_epoch": record["epoch"],
        "last_test_accuracy": last["accuracy"],
        "epochs": len(run.history),
        "num_train": split_size(datasets.train),
        "num_val": split_size(datasets.val),
    }


def _totals(model: nnx.Module, run: Run, compile_seconds: float) -> dict:
    return {
        "num_params": num_params(model),
        "train_seconds": sum(m["seconds"] for m in run.history),
        "compile_seconds": compile_seconds,
    }
