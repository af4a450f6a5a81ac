"""The files of a run directory, and the order in which an epoch is committed.

    run.lock       held (fcntl.flock) by the one process writing the run; says its pid, host, start
    config.json    the resolved config
    metrics.jsonl  one JSON line per epoch
    commit.json    the last finished epoch, the best one, and the digests of their checkpoints
    checkpoints/{last,best}/<epoch>/   Orbax checkpoints (train/checkpoints.py)
    summary.json   written at the end: "status": "finished", or "failed" with the reason

An epoch is committed (:meth:`RunDir.commit_epoch`) as: its metrics line, its checkpoint(s), then
commit.json, replaced atomically (the one step that commits it), then the checkpoints it no longer
names are removed. A process killed at any instant leaves the previous commit or the new one;
:meth:`RunDir.roll_back` drops on resume whatever was written after the commit in force, so the
resumed run repeats exactly what the uninterrupted one did. JSON is written strict: non-finite
numbers become null.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import shutil
import socket
from pathlib import Path
from typing import Callable

import ml_collections

from train import config_check
from train.errors import ConfigError, RunDirError, RunInUseError


def strict_json(value, **kwargs) -> str:
    """json.dumps that never writes NaN or Infinity (they become null)."""
    finite = json.loads(json.dumps(value), parse_constant=lambda name: None)
    return json.dumps(finite, allow_nan=False, **kwargs)


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` whole or not at all (a temporary file, fsync, os.replace)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text)
        with open(tmp) as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _read_json(path: Path):
    """The JSON in ``path``; None if there is no such file."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (ValueError, OSError) as err:
        raise RunDirError(f"{path} cannot be read ({err}): the run is damaged") from None


class RunDir:
    """One run's directory. Read freely; write only while holding the lock (``Run`` holds it)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.config_file = self.path / "config.json"
        self.metrics_file = self.path / "metrics.jsonl"
        self.summary_file = self.path / "summary.json"
        self.commit_file = self.path / "commit.json"
        self.lock_file = self.path / "run.lock"
        self.checkpoints = self.path / "checkpoints"
        self._lock = None  # the open lock file while held

    def lock(self) -> None:
        """Become the one writer of the run (until ``release``); RunInUseError naming the holder
        otherwise."""
        try:
            f = open(self.lock_file, "a+")
        except OSError as err:
            raise RunDirError(f"cannot lock {self.path}: {err.strerror}") from None
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "a process that has not yet said who it is"
            f.close()
            raise RunInUseError(
                f"{self.path} is in use by another run ({holder}); wait for it to end or choose "
                "another --workdir"
            ) from None
        started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {socket.gethostname()}, started {started}\n")
        f.flush()
        self._lock = f

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases the flock
            self._lock = None

    def read_config(self) -> ml_collections.ConfigDict:
        saved = _read_json(self.config_file)
        if saved is None:
            raise RunDirError(
                f"{self.path} is not a run of train.fixed or train.varres: it has no config.json"
            )
        config = ml_collections.ConfigDict(saved)
        try:
            config_check.validate(config)  # a hand-edited file is checked as a command line is
        except ConfigError as err:
            raise ConfigError(f"{self.config_file}: {err}") from None
        return config

    def write_config(self, config: ml_collections.ConfigDict) -> None:
        write_atomic(self.config_file, config.to_json_best_effort(indent=2, sort_keys=True) + "\n")

    def read_metrics(self) -> list[dict]:
        """The epochs' records; a last line with no newline (a write cut short) is left out."""
        text = self.metrics_file.read_text() if self.metrics_file.exists() else ""
        records = []
        for number, line in enumerate(text.split("\n")[:-1], 1):
            try:
                records.append(json.loads(line))
            except ValueError:
                raise RunDirError(
                    f"{self.metrics_file}, line {number}, is not JSON: {line[:60]!r}"
                ) from None
        return records

    def append_metrics(self, record: dict) -> None:
        with self.metrics_file.open("a") as f:
            f.write(strict_json(record) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def keep_metrics_through(self, epoch: int) -> list[dict]:
        """Drop the lines of epochs after ``epoch`` (written before a crash, redone on resume)."""
        kept = [m for m in self.read_metrics() if m["epoch"] <= epoch]
        write_atomic(self.metrics_file, "".join(strict_json(m) + "\n" for m in kept))
        return kept

    def read_summary(self) -> dict | None:
        """The summary of a finished (or failed) run; None while the run is unfinished."""
        return _read_json(self.summary_file)

    def write_summary(self, summary: dict) -> None:
        write_atomic(self.summary_file, strict_json(summary, indent=2) + "\n")

    def read_commit(self) -> dict | None:
        """The commit record (epoch, best_epoch, best_val_accuracy, checkpoints), or None before the
        first epoch."""
        return _read_json(self.commit_file)

    def commit(self, record: dict) -> None:
        """Commit an epoch: the one atomic step after which it counts as done."""
        write_atomic(self.commit_file, strict_json(record, indent=1) + "\n")

    def commit_epoch(self, metrics: dict, save_checkpoints: Callable[[], dict]) -> dict:
        """Commit the epoch of ``metrics`` in the order above; ``save_checkpoints()`` saves its
        checkpoints and returns the commit record naming them, which this returns."""
        self.append_metrics(metrics)
        record = save_checkpoints()
        self.commit(record)
        self._remove_checkpoints_not_in(record)
        return record

    def roll_back(self, record: dict | None) -> None:
        """Drop whatever was written after the commit ``record`` (None: after the start)."""
        if record is None:
            self.commit_file.unlink(missing_ok=True)
        elif record != self.read_commit():
            self.commit(record)  # now naming only intact checkpoints
        self._remove_checkpoints_not_in(record)
        self.summary_file.unlink(missing_ok=True)  # unfinished again until the end
        self.keep_metrics_through(record["epoch"] if record else 0)

    def _remove_checkpoints_not_in(self, record: dict | None) -> None:
        """Delete the checkpoint folders ``record`` does not name (older ones, or ones a crash
        left half-made)."""
        entries = record["checkpoints"].values() if record else ()
        named = {self.path / entry["path"] for entry in entries}
        for folder in self.checkpoints.glob("*/*"):
            if folder not in named:
                shutil.rmtree(folder, ignore_errors=True)
