"""The one owner of a run directory: what is in it, who may write it, and what counts as done.

    <workdir>/run.lock       held (fcntl.flock) by the one process writing the run; says its pid,
                             host, start
    <workdir>/config.json    the resolved config, replaced atomically
    <workdir>/metrics.jsonl  one JSON line per epoch; lines after the committed epoch are dropped on
                             resume
    <workdir>/commit.json    the commit record: the last finished epoch, the best one, and the
                             digests of their checkpoints; replacing it (os.replace) is the one
                             step that commits an epoch
    <workdir>/checkpoints/{last,best}/<epoch>/   Orbax checkpoints (train/checkpoints.py)
    <workdir>/summary.json   written once at the end: "status": "finished" (or "failed", with the
                             reason)

An epoch is saved as: its metrics line, its checkpoint(s), then the commit record,
then the old checkpoints are removed. A process killed at any instant leaves
either the previous commit or the new one; whatever was written after the
commit in force is dropped on resume, so the resumed run repeats exactly what
the uninterrupted one did. All JSON written here is strict (no NaN): non-finite
numbers become null.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import math
import os
import shutil
import socket
from pathlib import Path

import ml_collections

from train.config_check import flatten
from train.errors import RunDirError, RunInUseError

# Fields that --resume may change: they do not change what training does. Changing the evaluation
# batch or the batch tile only regroups sums (the last digits of the losses may differ).
# steps_per_call is not here: chunks of steps are shuffled as units, so it changes the order of the
# batches.
RESUMABLE_CHANGES = ("eval_batch_size", "tile_pixels", "download")


def strict_json(value, **kwargs) -> str:
    """json.dumps that never writes NaN or Infinity (they become null)."""

    def finite(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: finite(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [finite(x) for x in v]
        return v

    return json.dumps(finite(value), allow_nan=False, **kwargs)


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


def _flatten(config: ml_collections.ConfigDict) -> dict:
    """config_check.flatten, with tuples and lists made alike (as JSON) so that they compare."""
    return {name: json.loads(json.dumps(value)) for name, value in flatten(config).items()}


def changes_that_alter_the_past(
    saved: ml_collections.ConfigDict, new: ml_collections.ConfigDict, epochs_done: int
) -> list[str]:
    """The fields whose change would make a resumed run differ from the uninterrupted one.

    Each as 'name (old -> new)'.
    """
    before, after = _flatten(saved), _flatten(new)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    refused = []
    for name in changed:
        if name in RESUMABLE_CHANGES:
            continue
        if (
            name == "num_epochs"
            and after.get("lr_schedule") == "constant"
            and after[name] >= epochs_done
        ):
            continue  # a constant learning rate does not depend on the length of the run
        refused.append(f"{name} ({before.get(name)!r} -> {after.get(name)!r})")
    return refused


class RunDir:
    """One run's directory. Read freely; write only while holding the lock (train/run.py's ``Run``
    holds it)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.config_file = self.path / "config.json"
        self.metrics_file = self.path / "metrics.jsonl"
        self.summary_file = self.path / "summary.json"
        self.commit_file = self.path / "commit.json"
        self.lock_file = self.path / "run.lock"
        self.checkpoints = self.path / "checkpoints"
        self._lock = None  # the open lock file while held

    # -- creating, checking and locking ------------------------------------------------------------

    def check_new(self) -> None:
        """Refuse, before anything is written, a workdir a new run cannot use."""
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(
                f"{self.path} is a file, not a run directory: choose another --workdir"
            )
        if self.path.is_dir():
            if any(p.name != self.lock_file.name for p in self.path.iterdir()):
                raise RunDirError(
                    f"refusing to overwrite {self.path}: it already holds a run. Continue it with "
                    "--resume, or choose a new --workdir."
                )
            return
        parent = self.path.parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            raise RunDirError(f"cannot create {self.path}: {parent} is a file")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise RunDirError(f"cannot create {self.path}: {parent} is not writable")

    def check_resumable(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"{self.path} is a file, not a run directory")
        if not self.config_file.is_file():
            raise RunDirError(
                f"nothing to resume in {self.path}: it has no config.json (start a new run without "
                "--resume)"
            )

    def lock(self) -> None:
        """Become the one writer of the run (until ``release``); RunDirError naming the holder
        otherwise."""
        if self._lock is not None:
            return
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

    def create(self, config: ml_collections.ConfigDict) -> list[Path]:
        """Make a new run's workdir, lock it and write config.json; a failure leaves no trace.

        Returns the folders it made (for ``discard_new``)."""
        self.check_new()
        made = [p for p in (self.path, *self.path.parents) if not p.exists()]
        made_lock = not self.lock_file.exists()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self.lock()
            self.check_new()  # another process may have started a run here meanwhile
            self.write_config(config)
        except BaseException as err:
            if self._lock is not None:
                self.release()
                if made_lock:
                    self.lock_file.unlink(missing_ok=True)
            for p in made:  # innermost first
                with contextlib.suppress(OSError):
                    p.rmdir()
            if isinstance(err, OSError):
                raise RunDirError(
                    f"cannot start a run in {self.path}: {err.strerror or err}"
                ) from None
            raise
        return made

    def discard_new(self, made: list[Path]) -> None:
        """Remove what a new run that failed before its first epoch wrote, and the folders
        ``create`` made for it (the workdir included) if then empty."""
        if self.committed_epoch():
            return
        for path in (self.config_file, self.metrics_file, self.summary_file, self.lock_file):
            path.unlink(missing_ok=True)
        shutil.rmtree(self.checkpoints, ignore_errors=True)
        for path in made:  # innermost first
            with contextlib.suppress(OSError):
                path.rmdir()

    # -- config ------------------------------------------------------------------------------------

    def read_config(self) -> ml_collections.ConfigDict:
        if not self.config_file.is_file():
            raise RunDirError(
                f"{self.path} is not a run of train.fixed or train.varres: it has no config.json"
            )
        try:
            return ml_collections.ConfigDict(json.loads(self.config_file.read_text()))
        except (ValueError, OSError) as err:
            raise RunDirError(
                f"{self.config_file} cannot be read ({err}): this workdir cannot be resumed"
            ) from None

    def write_config(self, config: ml_collections.ConfigDict) -> None:
        write_atomic(self.config_file, config.to_json_best_effort(indent=2, sort_keys=True) + "\n")

    def resume_config(self, overrides: dict) -> ml_collections.ConfigDict:
        """The saved config plus ``overrides``, refusing any change that would alter the epochs
        already done."""
        self.check_resumable()
        saved = self.read_config()
        config = ml_collections.ConfigDict(saved.to_dict())
        config.update_from_flattened_dict(overrides)
        done = self.committed_epoch()
        refused = changes_that_alter_the_past(saved, config, done) if done else []
        if refused:
            raise RunDirError(
                f"--resume continues {self.path} with its saved config, and {done} epoch(s) are "
                f"done: changing {', '.join(refused)} would change them; start a new run with a "
                "new --workdir instead"
            )
        return config

    # -- metrics and summary ----------------------------------------------------------------------

    def read_metrics(self) -> list[dict]:
        """The epochs' records; a torn last line (a write cut short) is left out."""
        if not self.metrics_file.exists():
            return []
        lines = self.metrics_file.read_text().split("\n")
        records = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except ValueError:
                if number == len(lines):  # the last line, with no newline after it: torn
                    break
                raise RunDirError(
                    f"{self.metrics_file}, line {number}, is not JSON: {line[:60]!r}"
                ) from None
        return records

    def keep_metrics_through(self, epoch: int) -> list[dict]:
        """Drop the lines of epochs after ``epoch`` (written before a crash, redone on resume)."""
        kept = [m for m in self.read_metrics() if m["epoch"] <= epoch]
        write_atomic(self.metrics_file, "".join(strict_json(m) + "\n" for m in kept))
        return kept

    def append_metrics(self, record: dict) -> None:
        with self.metrics_file.open("a") as f:
            f.write(strict_json(record) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def read_summary(self) -> dict | None:
        """The summary of a finished (or failed) run; None while the run is unfinished."""
        if not self.summary_file.is_file():
            return None
        try:
            return json.loads(self.summary_file.read_text())
        except ValueError as err:
            raise RunDirError(f"{self.summary_file} is not valid JSON ({err})") from None

    def write_summary(self, summary: dict) -> None:
        write_atomic(self.summary_file, strict_json(summary, indent=2) + "\n")

    def remove_summary(self) -> None:
        self.summary_file.unlink(missing_ok=True)

    # -- the commit record and the checkpoints' places --------------------------------------------

    def read_commit(self) -> dict | None:
        """The commit record (epoch, best_epoch, best_val_accuracy, checkpoints), or None before the
        first epoch."""
        if not self.commit_file.is_file():
            return None
        try:
            return json.loads(self.commit_file.read_text())
        except ValueError as err:  # never torn (os.replace), so this is damage from outside
            raise RunDirError(
                f"{self.commit_file} is not valid JSON ({err}): the run's record of its epochs is "
                "damaged"
            ) from None

    def committed_epoch(self) -> int:
        commit = self.read_commit()
        return commit["epoch"] if commit else 0

    def commit(self, record: dict) -> None:
        """Commit an epoch: the one atomic step after which it counts as done."""
        write_atomic(self.commit_file, strict_json(record, indent=1) + "\n")

    def uncommit(self) -> None:
        """Forget every epoch (a resume that must start over)."""
        self.commit_file.unlink(missing_ok=True)

    def checkpoint_dir(self, role: str, epoch: int) -> Path:
        return self.checkpoints / role / str(epoch)

    def remove_unreferenced_checkpoints(self) -> None:
        """Delete checkpoint folders the commit record does not name (older ones, or ones a crash
        left half-made)."""
        commit = self.read_commit() or {"checkpoints": {}}
        keep = {(self.path / entry["path"]).resolve() for entry in commit["checkpoints"].values()}
        for role in ("last", "best"):
            folder = self.checkpoints / role
            for path in folder.iterdir() if folder.is_dir() else ():
                if path.resolve() not in keep:
                    shutil.rmtree(path, ignore_errors=True)
