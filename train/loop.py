"""The one training loop behind train.fixed and train.varres.

``train_and_evaluate(config, workdir, datasets)`` trains, validates after every
epoch, checkpoints the last and the best-by-validation state, and finally
evaluates the test split (only then) with the best state. The workdir's files
belong to :class:`train.rundir.RunDir`, which also says how an epoch is committed
so that a run killed at any instant resumes exactly. Everything random derives
from ``config.seed`` and the epoch number, so a resumed run repeats exactly what
an uninterrupted one would do.
"""

from __future__ import annotations

import functools
import io
import math
import time
from pathlib import Path
from typing import Callable

import jax
import numpy as np
import optax
from flax import nnx

from train import distributed
from train.checkpoints import Checkpoints
from train.data.augment import augment_batch
from train.data.batching import DeviceGroup, epoch_chunks, eval_batches
from train.data.datasets import Datasets
from train.data.groups import Split, split_size
from train.errors import ConfigError, RunDirError, TrainingDivergedError
from train.models import init_model, num_params
from train.progress import EpochProgress
from train.rundir import RunDir
from train.steps import Steps

# A mean training loss above this has exploded: guessing uniformly among 10 classes costs
# ln 10 = 2.3.
EXPLODED_LOSS = 100.0


def make_optimizer(config, steps_per_epoch: int) -> optax.GradientTransformation:
    """Adam (Q7) with a constant or cosine-decayed learning rate."""
    if config.lr_schedule == "constant":
        return optax.adam(config.learning_rate)
    if config.lr_schedule == "cosine":
        return optax.adam(
            optax.cosine_decay_schedule(
                config.learning_rate, max(1, config.num_epochs * steps_per_epoch)
            )
        )
    raise ConfigError(
        f"config.lr_schedule must be 'constant' or 'cosine', got {config.lr_schedule!r}"
    )


def _check_batch_sizes(config, num_devices: int) -> None:
    for name in ("batch_size", "eval_batch_size"):
        value = config[name]
        if value < 1 or value % num_devices:
            raise ConfigError(
                f"config.{name} = {value} must be a positive multiple of the {num_devices} devices "
                "it is sharded over"
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
    workdir: Path | RunDir,
    datasets: Datasets,
    make_model: Callable[[nnx.Rngs], nnx.Module],
    *,
    resume: bool = False,
    progress: EpochProgress | None = None,
    on_epoch_end: Callable[[int, dict], None] | None = None,
) -> dict:
    """Train, validate every epoch, checkpoint, test once at the end; returns the summary.

    Holds the run's lock throughout (a ``RunDir`` already locked by the caller stays locked).
    ``on_epoch_end(epoch, metrics)`` runs after an epoch is committed (raising from it
    interrupts the run as a crash would). A loss that becomes non-finite or explodes
    ends the run with TrainingDivergedError and a summary marked failed.
    """
    run = distributed.view_of_run(workdir if isinstance(workdir, RunDir) else RunDir(workdir))
    if not distributed.is_primary():  # logs and metrics are process 0's
        progress = EpochProgress(live=False, stream=io.StringIO())
    if not resume:
        run.path.mkdir(parents=True, exist_ok=True)
    with run.hold():
        return _train_and_evaluate(
            config, run, datasets, make_model, resume, progress or EpochProgress(), on_epoch_end
        )


def _train_and_evaluate(
    config,
    run: RunDir,
    datasets: Datasets,
    make_model,
    resume: bool,
    progress: EpochProgress,
    on_epoch_end,
) -> dict:
    model = init_model(make_model, config.seed)
    graphdef, params = nnx.split(model)
    steps_per_epoch = sum(len(g) // config.batch_size for g in datasets.train)
    if config.augment and any(g.sizes is not None for g in datasets.train):
        # the warps turn about the canvas centre and the brightness jitter lights up the padding,
        # so an augmented padded image is no longer the augmented image: refuse rather than mislead
        raise ConfigError(
            "config.augment = True cannot train on images padded onto bucketed canvases (more than "
            f"config.max_resolutions = {config.get('max_resolutions')} resolutions): "
            "turn augmentation off or raise max_resolutions"
        )
    if steps_per_epoch == 0:
        raise ConfigError(
            "no group of the training split has a full batch of "
            f"config.batch_size = {config.batch_size} images"
        )
    tx = make_optimizer(config, steps_per_epoch)
    augment = functools.partial(augment_batch, cfg=config.augmentation) if config.augment else None
    steps = Steps(graphdef, tx, augment, tile_pixels=config.get("tile_pixels", 0))
    _check_batch_sizes(config, steps.num_devices)

    # the optimizer state as one compiled program, not one eager zeros per parameter shape
    state = {"params": params, "opt_state": jax.jit(tx.init)(params)}
    checkpoints = Checkpoints(run)
    commit, history = None, []
    if resume:
        commit, state, history = _resume(run, checkpoints, state, progress)
    elif run.read_commit() is not None or run.metrics_file.exists() or run.summary_file.exists():
        raise RunDirError(
            f"refusing to overwrite {run.path}: it already holds a run. "
            "Continue it with --resume, or choose a new --workdir"
        )
    start_epoch = commit["epoch"] if commit else 0
    state = distributed.put(state, steps.replicated)
    train_groups = [DeviceGroup.put(g, steps.replicated, distributed.put) for g in datasets.train]

    for epoch in range(start_epoch + 1, config.num_epochs + 1):
        start = time.perf_counter()
        compile_before = steps.compile_seconds
        chunks = epoch_chunks(
            [len(g) for g in datasets.train],
            config.batch_size,
            config.steps_per_call,
            np.random.default_rng([config.seed, epoch]),
        )
        epoch_key = distributed.put(
            jax.random.fold_in(jax.random.key(config.seed), epoch), steps.replicated
        )
        totals, shown = steps.zero_totals(), time.perf_counter()
        with progress.epoch(epoch, config.num_epochs, steps_per_epoch) as update:
            for i, chunk in enumerate(chunks):
                group = train_groups[chunk.group]
                state, totals = steps.train_chunk(
                    state, totals, group, chunk.batch_indices, chunk.valid, epoch_key, i
                )
                if steps.wait_per_call:
                    jax.block_until_ready(totals)
                if (
                    progress.live and time.perf_counter() - shown > progress.refresh_seconds
                ):  # reading totals waits for the device
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
        _stop_if_diverged(run, record, steps_per_epoch, history)
        history.append(record)
        commit = _commit_epoch(run, checkpoints, state, record, commit)
        progress.line(
            f"epoch {epoch}/{config.num_epochs}  "
            f"train loss {record['train_loss']:.4f} acc {record['train_accuracy']:.4f}  "
            f"val loss {val['loss']:.4f} acc {val['accuracy']:.4f}  {seconds:.1f}s"
        )
        if on_epoch_end is not None:
            on_epoch_end(epoch, record)

    summary = {"status": "finished"} | _final_evaluation(
        config, steps, checkpoints, commit, state, datasets, history
    )
    summary |= {
        "num_params": num_params(model),
        "train_seconds": sum(m["seconds"] for m in history),
        "compile_seconds": steps.compile_seconds,
    }
    run.write_summary(summary)
    progress.line(
        f"test accuracy {summary['test_accuracy']:.4f} "
        f"(best validation epoch {summary['best_epoch']}); wrote {run.path}"
    )
    return summary


def _resume(
    run: RunDir, checkpoints: Checkpoints, state, progress: EpochProgress
) -> tuple[dict | None, object, list[dict]]:
    """(commit record, state, metrics so far) after the last committed epoch with intact checkpoints
    (None and the initial state to start over); whatever was written after it is dropped."""
    commit, restored = checkpoints.resume_point(run.read_commit(), state, progress.line)
    if commit is None:
        run.uncommit()
        progress.line(f"{run.path} has no finished epoch on record: starting from epoch 1")
    else:
        if commit != run.read_commit():
            run.commit(commit)  # now naming only intact checkpoints
        state = restored
        progress.line(f"resuming {run.path} after epoch {commit['epoch']}")
    run.remove_unreferenced_checkpoints()
    run.remove_summary()  # unfinished again until the end
    done = commit["epoch"] if commit else 0
    history = run.keep_metrics_through(done)
    if [m["epoch"] for m in history] != list(range(1, done + 1)):
        raise RunDirError(
            f"{run.metrics_file} lacks epochs the commit record says are done: "
            "this run cannot be resumed"
        )
    return commit, state, history


def _commit_epoch(
    run: RunDir, checkpoints: Checkpoints, state, record: dict, commit: dict | None
) -> dict:
    """Save an epoch crash-consistently: its metrics line, its checkpoint(s), then the commit record
    (the one atomic step), then the checkpoints no longer named are removed. Returns the new commit
    record."""
    epoch, best_val = record["epoch"], commit["best_val_accuracy"] if commit else -1.0
    run.append_metrics(record)
    is_best = record["val_accuracy"] > best_val
    saved = {"epoch": epoch, "best_val_accuracy": max(best_val, record["val_accuracy"])}
    last = checkpoints.save("last", epoch, state, saved)
    best = (
        checkpoints.save("best", epoch, state, saved) if is_best else commit["checkpoints"]["best"]
    )
    commit = {
        "epoch": epoch,
        "best_epoch": best["epoch"],
        "best_val_accuracy": saved["best_val_accuracy"],
    }
    commit |= {"checkpoints": {"last": last, "best": best}}
    run.commit(commit)
    run.remove_unreferenced_checkpoints()
    return commit


def _stop_if_diverged(run: RunDir, record: dict, steps_per_epoch: int, history: list[dict]) -> None:
    """A non-finite or exploded loss: write a summary marked failed and raise
    TrainingDivergedError."""
    loss, val_loss = record["train_loss"], record["val_loss"]
    if math.isfinite(loss) and loss <= EXPLODED_LOSS and math.isfinite(val_loss):
        return
    epoch, exploded = record["epoch"], math.isfinite(loss) and loss > EXPLODED_LOSS
    what = (
        f"the mean training loss is {loss:.4g}"
        if exploded or not math.isfinite(loss)
        else f"the validation loss is {val_loss:.4g}"
    )
    if exploded:
        what += f" (above {EXPLODED_LOSS:g}: exploded; a uniform guess costs 2.3)"
    reason = (
        f"training diverged in epoch {epoch} "
        f"(optimizer steps {(epoch - 1) * steps_per_epoch + 1}-{epoch * steps_per_epoch}): "
        f"{what}; nothing of this epoch was saved. Try a smaller config.learning_rate."
    )
    run.write_summary(
        {
            "status": "failed",
            "reason": reason,
            "failed_epoch": epoch,
            "failed_epoch_metrics": record,
            "epochs": len(history),
        }
    )
    raise TrainingDivergedError(reason)


def _final_evaluation(
    config,
    steps: Steps,
    checkpoints: Checkpoints,
    commit: dict,
    state,
    datasets: Datasets,
    history: list[dict],
) -> dict:
    """Test once: with the best-by-validation state (and, for reference, the last)."""
    best_state, record = checkpoints.restore(commit["checkpoints"]["best"], state)
    test = evaluate(
        steps,
        distributed.put(best_state, steps.replicated)["params"],
        datasets.test,
        config.eval_batch_size,
    )
    is_last = record["epoch"] == history[-1]["epoch"] if history else True
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
        "epochs": len(history),
        "num_train": split_size(datasets.train),
        "num_val": split_size(datasets.val),
    }
