"""The run directory: one writer, no half-made runs, strict JSON, a resume that cannot rewrite the
past, and a diverging run that stops with a failed summary."""

import errno
import json
import os
import pathlib
import socket
import subprocess
import sys

import pytest
from synthetic import blob_datasets, open_run

import configs.fixed
from train import cli
from train.errors import ConfigError, DataUnavailableError, RunDirError, TrainingDivergedError
from train.loop import train_and_evaluate
from train.models import model_factory
from train.progress import EpochProgress
from train.run import Interrupted, Run
from train.rundir import RunDir, strict_json
from train.steps import Steps


def tiny_config(**overrides):
    config = configs.fixed.get_config()
    config.update(
        num_epochs=2, batch_size=16, learning_rate=3e-3, steps_per_call=8, eval_batch_size=100
    )
    config.update(overrides)
    config.fixed.channels = (4, 8, 8)
    return config


def fake_data(monkeypatch, error=None):
    """cli.run loads the tiny synthetic datasets (or raises ``error``) instead of MNIST."""

    def load_datasets(config, cache, data_dir, with_train=True):
        if error is not None:
            raise error
        return blob_datasets(256, 100)

    monkeypatch.setattr("train.cli.load_datasets", load_datasets)


def parse_strict(text):
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))


def test_a_second_writer_is_refused_with_the_holders_pid_host_and_start(tmp_path, monkeypatch):
    workdir = tmp_path / "run"
    open_run(workdir, False, tiny_config(), {})
    holder = RunDir(workdir)
    holder.lock()
    fake_data(monkeypatch)
    with pytest.raises(
        RunDirError,
        match=f"in use by another run \\(pid {os.getpid()} on {socket.gethostname()}, started 20",
    ):
        cli.run("fixed", tiny_config(), workdir, True, {})
    with pytest.raises(RunDirError, match="in use by another run"):
        with Run.open(workdir, tiny_config(), resume=True) as run:
            train_and_evaluate(
                run.config, run, blob_datasets(256, 100), model_factory(tiny_config())
            )
    assert not (workdir / "metrics.jsonl").exists()
    holder.release()
    RunDir(workdir).lock()  # free again once the holder lets go


def test_a_full_disk_at_the_start_leaves_no_run_behind(tmp_path, monkeypatch):
    workdir = tmp_path / "run"
    fake_data(monkeypatch)
    write_text = pathlib.Path.write_text

    def disk_full(self, text, *args, **kwargs):
        write_text(self, "", *args, **kwargs)  # the file is made, its contents do not fit
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    with monkeypatch.context() as patch:
        patch.setattr(pathlib.Path, "write_text", disk_full)
        with pytest.raises(RunDirError, match="cannot start a run in .*: No space left on device"):
            cli.run("fixed", tiny_config(), workdir, False, {})
    assert not workdir.exists()


def test_a_failed_data_load_writes_nothing(tmp_path, monkeypatch):
    workdir = tmp_path / "run"
    fake_data(monkeypatch, DataUnavailableError("MNIST is not in /nowhere"))
    with pytest.raises(DataUnavailableError):
        cli.run("fixed", tiny_config(), workdir, False, {})
    assert not workdir.exists()


def test_a_workdir_that_is_a_file_is_one_line_and_exit_2(tmp_path):
    workdir = tmp_path / "not-a-folder"
    workdir.write_text("hello")
    done = subprocess.run(
        [sys.executable, "-m", "train.fixed", f"--workdir={workdir}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert (
        done.stderr.strip().splitlines()[-1]
        == f"error: {workdir} is a file, not a run directory: choose another --workdir"
    )
    assert "Traceback" not in done.stderr and workdir.read_text() == "hello"


def test_a_parent_that_cannot_be_written_is_a_run_dir_error(tmp_path, monkeypatch):
    monkeypatch.setattr(
        os, "access", lambda path, mode: False
    )  # as root, chmod cannot make a folder unwritable
    with pytest.raises(
        RunDirError, match=f"cannot create {tmp_path}/a/b: {tmp_path} is not writable"
    ):
        open_run(tmp_path / "a" / "b", False, tiny_config(), {})
    assert not (tmp_path / "a").exists()


def test_a_hand_edited_config_is_checked_when_read(tmp_path):
    open_run(tmp_path / "run", False, tiny_config(), {})
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    (tmp_path / "run" / "config.json").write_text(json.dumps(config | {"dataset": "cifar10"}))
    with pytest.raises(ConfigError, match=r"config.json: config.dataset = 'cifar10': must be one"):
        RunDir(tmp_path / "run").read_config()


def test_a_torn_last_metrics_line_is_left_out_and_a_torn_middle_line_named(tmp_path):
    run = RunDir(tmp_path)
    run.metrics_file.write_text('{"epoch": 1, "val_accuracy": 0.5}\n{"epoch": 2, "val_acc')
    assert run.read_metrics() == [{"epoch": 1, "val_accuracy": 0.5}]
    assert run.keep_metrics_through(1) == [{"epoch": 1, "val_accuracy": 0.5}]
    assert run.metrics_file.read_text() == '{"epoch": 1, "val_accuracy": 0.5}\n'
    run.metrics_file.write_text('{"epoch": 1}\n{"epo\n{"epoch": 3}\n')
    with pytest.raises(RunDirError, match="metrics.jsonl, line 2, is not JSON"):
        run.read_metrics()


def fake_finished_epochs(workdir, config, epochs):
    """A run with ``epochs`` committed epochs, as far as resume's config check can tell."""
    open_run(workdir, False, config, {})
    (workdir / "commit.json").write_text(
        json.dumps(
            {"epoch": epochs, "best_epoch": epochs, "best_val_accuracy": 0.5, "checkpoints": {}}
        )
    )


def test_resume_refuses_changes_that_would_rewrite_finished_epochs(tmp_path):
    fake_finished_epochs(tmp_path / "run", tiny_config(), 1)
    saved = (tmp_path / "run" / "config.json").read_text()
    with pytest.raises(
        RunDirError,
        match=r"changing learning_rate \(0.003 -> 0.01\), num_epochs \(2 -> 4\) would change them",
    ):
        open_run(
            tmp_path / "run",
            True,
            configs.fixed.get_config(),
            {"num_epochs": 4, "learning_rate": 0.01},
        )
    past = [
        ("batch_size", 32),
        ("seed", 1),
        ("steps_per_call", 4),
        ("max_train_examples", 100),
        ("fixed.channels", (8, 8, 8)),
    ]
    for field, value in past:
        with pytest.raises(RunDirError, match=f"changing {field} "):
            open_run(tmp_path / "run", True, configs.fixed.get_config(), {field: value})
    assert (tmp_path / "run" / "config.json").read_text() == saved
    # fields that do not change what training did may change
    resumed = open_run(tmp_path / "run", True, configs.fixed.get_config(), {"eval_batch_size": 50})
    assert resumed.eval_batch_size == 50 and resumed.learning_rate == 3e-3


def test_a_constant_schedule_run_may_be_extended_on_resume(tmp_path):
    fake_finished_epochs(tmp_path / "run", tiny_config(lr_schedule="constant"), 2)
    assert (
        open_run(tmp_path / "run", True, configs.fixed.get_config(), {"num_epochs": 4}).num_epochs
        == 4
    )
    with pytest.raises(RunDirError, match=r"num_epochs \(4 -> 1\)"):
        open_run(tmp_path / "run", True, configs.fixed.get_config(), {"num_epochs": 1})


def test_an_interrupt_before_training_says_what_resume_will_do(tmp_path):
    with pytest.raises(Interrupted, match="^interrupted before training began; nothing was kept$"):
        with Run.open(tmp_path / "new", tiny_config()):
            raise KeyboardInterrupt
    assert not (tmp_path / "new").exists()  # a new run's failed start leaves nothing
    fake_finished_epochs(tmp_path / "run", tiny_config(), 1)
    with pytest.raises(Interrupted) as interrupted:
        with Run.open(tmp_path / "run", tiny_config(), resume=True):
            raise KeyboardInterrupt
    assert str(interrupted.value) == (
        "interrupted before training resumed; --resume continues after epoch 1"
    )
    assert interrupted.value.exit_status == 130 and (tmp_path / "run" / "commit.json").exists()


def test_an_interrupt_while_a_resume_takes_the_lock_says_where_it_continues(tmp_path, monkeypatch):
    fake_finished_epochs(tmp_path / "run", tiny_config(), 1)

    def interrupted_lock(self):
        raise KeyboardInterrupt  # Ctrl-C before the commit record is read

    monkeypatch.setattr(RunDir, "lock", interrupted_lock)
    with pytest.raises(Interrupted, match="; --resume continues after epoch 1$"):
        open_run(tmp_path / "run", True, tiny_config(), {})


def train_tiny_run(config, workdir):
    """train_and_evaluate on 256 training blobs, quietly."""
    with Run.open(workdir, config) as run:
        return train_and_evaluate(
            run.config,
            run,
            blob_datasets(256, 100),
            model_factory(config),
            progress=EpochProgress(live=False),
        )


@pytest.mark.slow
def test_a_nan_loss_stops_the_run_with_a_failed_strict_json_summary(
    tmp_path, monkeypatch, compilation_cache
):
    train_chunk = Steps.train_chunk

    def nan_loss(self, *args):
        state, totals = train_chunk(self, *args)
        return state, totals * float("nan")

    monkeypatch.setattr(Steps, "train_chunk", nan_loss)
    config = tiny_config()
    with pytest.raises(
        TrainingDivergedError,
        match=r"diverged in epoch 1 \(optimizer steps 1-16\): the mean training loss is nan",
    ):
        train_tiny_run(config, tmp_path)
    summary = parse_strict((tmp_path / "summary.json").read_text())
    assert summary["status"] == "failed" and "epoch 1" in summary["reason"]
    assert summary["failed_epoch_metrics"]["train_loss"] is None
    assert not (tmp_path / "commit.json").exists()  # nothing of the diverged epoch is kept


@pytest.mark.slow
def test_an_exploding_learning_rate_stops_the_run(tmp_path):
    config = tiny_config(learning_rate=1e6)
    with pytest.raises(TrainingDivergedError, match="diverged in epoch 1 .* exploded"):
        train_tiny_run(config, tmp_path)
    assert parse_strict((tmp_path / "summary.json").read_text())["status"] == "failed"


def test_strict_json_writes_non_finite_numbers_as_null():
    assert strict_json(
        {"a": float("nan"), "b": [float("inf"), 1.5], "c": {"d": -float("inf")}}
    ) == ('{"a": null, "b": [null, 1.5], "c": {"d": null}}')
