"""A run from start to end behind one object: its directory, its lock and its checkpoints.

    with Run.open(workdir, config, resume=False) as run:
        summary = train_and_evaluate(run.config, run, datasets, make_model)

``Run.open`` starts a new run or resumes one, and holds its lock until the block ends; a new run
that fails before training begins (a bad config, missing data) leaves nothing behind. Inside, the
loop calls ``restore`` once, ``save_epoch`` after every epoch, ``best_state`` for the test, then
``finish`` (or ``fail``). With several processes only process 0 writes (``writer=True``); the
others read what it writes and take part only in the collective checkpoint saves. Ctrl-C (or
SIGTERM, once :func:`stop_on_sigterm` is called) leaves the block as :class:`Interrupted`, whose
message says where ``--resume`` continues.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import Callable

import ml_collections

from train import config_check, distributed
from train.checkpoints import Checkpoints
from train.errors import RunDirError
from train.rundir import RunDir


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a run; ``exit_status`` is 128 + the signal (130, or 143)."""

    def __init__(self, message: str = "interrupted", signum: int = signal.SIGINT):
        super().__init__(message)
        self.signum = signum
        self.exit_status = 128 + signum


def stop_on_sigterm() -> None:
    """Make SIGTERM interrupt a run as Ctrl-C does (exit status 143 instead of 130)."""

    def interrupt(signum, frame):
        raise Interrupted(signum=signum)

    signal.signal(signal.SIGTERM, interrupt)


class Run:
    """One run being trained. Build it with :meth:`open`."""

    def __init__(self, files: RunDir, config, *, new: bool, writer: bool):
        self.files, self.path, self.config = files, files.path, config
        self.new, self.writer = new, writer
        self.checkpoints = Checkpoints(files)
        self.commit: dict | None = None  # the commit record in force
        self.history: list[dict] = []  # the metrics of the committed epochs
        self.began = False  # whether training began (``restore`` ran)
        self._made: list[Path] = []  # the folders made for a new run (innermost first)
        self._owned = False  # whether this process created the run (and may discard it)

    @classmethod
    @contextlib.contextmanager
    def open(
        cls,
        workdir: Path,
        config,
        *,
        resume: bool | None = False,
        overrides: dict | None = None,
        writer: bool | None = None,
    ):
        """The run in ``workdir``, locked for the duration of the block.

        ``resume``: False starts a new run (the workdir must be new or empty), True continues the
        one there, None continues it if there is one. ``writer``: None is process 0 (train/
        distributed.py).
        """
        writer = distributed.is_primary() if writer is None else writer
        run = cls(RunDir(workdir), config, new=not resume, writer=writer)
        try:
            run._start(resume, overrides or {})
            yield run
        except BaseException as err:
            if not run.began:
                run._discard()  # a failed start leaves no half-made run
            if isinstance(err, KeyboardInterrupt):
                signum = getattr(err, "signum", signal.SIGINT)
                raise Interrupted(run._where_interrupted(), signum) from None
            raise
        finally:
            run.files.release()

    def _start(self, resume: bool | None, overrides: dict) -> None:
        """Lock the run and resume it, or create it (the writer) and lock it."""
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(
                f"{self.path} is a file, not a run directory: choose another --workdir"
            )
        if resume and not self.files.config_file.is_file():
            raise RunDirError(
                f"nothing to resume in {self.path}: it has no config.json (start a new run without "
                "--resume)"
            )
        if resume and self.writer:
            self.files.lock()
        elif self.writer:
            resume = self._create(resume_if_there=resume is None)
        self.new = not resume
        if resume:
            self.commit = self.files.read_commit()
            self.config = self._resumed_config(overrides)

    def _create(self, resume_if_there: bool) -> bool:
        """Make the workdir, lock it and write config.json; whether it held a run to resume
        instead (only asked with ``resume_if_there``)."""
        if not resume_if_there:
            self._check_new()  # before anything is written
        self._made = [p for p in (self.path, *self.path.parents) if not p.exists()]
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self.files.lock()
            if resume_if_there and self.files.config_file.is_file():
                return True
            self._check_new()  # another process may have started a run here meanwhile
            self._owned = True
            self.files.write_config(self.config)
        except OSError as err:
            raise RunDirError(f"cannot start a run in {self.path}: {err.strerror or err}") from None
        return False

    def _check_new(self) -> None:
        """Refuse a workdir a new run cannot use."""
        if self.path.is_dir():
            if any(p.name != self.files.lock_file.name for p in self.path.iterdir()):
                raise RunDirError(
                    f"refusing to overwrite {self.path}: it already holds a run. Continue it with "
                    "--resume, or choose a new --workdir."
                )
            return
        parent = next(p for p in self.path.parents if p.exists())
        if not parent.is_dir():
            raise RunDirError(f"cannot create {self.path}: {parent} is a file")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise RunDirError(f"cannot create {self.path}: {parent} is not writable")

    def _discard(self) -> None:
        """Remove what a new run wrote before training began, and the folders made for it."""
        if self._owned:
            self.files.config_file.unlink(missing_ok=True)
            self.files.lock_file.unlink(missing_ok=True)
        for folder in self._made:
            with contextlib.suppress(OSError):
                folder.rmdir()  # if empty

    def _resumed_config(self, overrides: dict) -> ml_collections.ConfigDict:
        """The saved config plus ``overrides`` (recorded in config.json), refusing any change that
        would alter the epochs already done."""
        saved = self.files.read_config()
        config = ml_collections.ConfigDict(saved.to_dict())
        config.update_from_flattened_dict(overrides)
        done = self.epochs_done
        refused = config_check.changes_that_alter_the_past(saved, config, done) if done else []
        if refused:
            raise RunDirError(
                f"--resume continues {self.path} with its saved config, and {done} epoch(s) are "
                f"done: changing {', '.join(refused)} would change them; start a new run with a "
                "new --workdir instead"
            )
        if self.writer and config.to_dict() != saved.to_dict():
            self.files.write_config(config)
        return config

    # -- what the training loop calls ----------------------------------------------------------

    @property
    def epochs_done(self) -> int:
        return self.commit["epoch"] if self.commit else 0

    def restore(self, state, say: Callable[[str], None]):
        """The state to train from: ``state`` itself for a new run; on resume the state after the
        last committed epoch with intact checkpoints (``state`` gives the structure), and
        whatever was written after that epoch is dropped."""
        self.began = True
        if self.new:
            return state
        self.commit, state = self.checkpoints.resume_point(self.commit, state, say)
        if self.commit is None:
            say(f"{self.path} has no finished epoch on record: starting from epoch 1")
        else:
            say(f"resuming {self.path} after epoch {self.epochs_done}")
        if self.writer:
            self.files.roll_back(self.commit)
        self.history = [m for m in self.files.read_metrics() if m["epoch"] <= self.epochs_done]
        if [m["epoch"] for m in self.history] != list(range(1, self.epochs_done + 1)):
            raise RunDirError(
                f"{self.files.metrics_file} lacks epochs the commit record says are done: "
                "this run cannot be resumed"
            )
        return state

    def save_epoch(self, state, record: dict) -> None:
        """Commit an epoch (train/rundir.py); the processes other than the writer only take part
        in saving its checkpoints."""

        def save_checkpoints() -> dict:
            return self.checkpoints.save_epoch(self.commit, state, record)

        if self.writer:
            self.commit = self.files.commit_epoch(record, save_checkpoints)
        else:
            self.commit = save_checkpoints()
        self.history.append(record)

    def best_state(self, like) -> tuple[object, dict]:
        """(state, record) of the best-by-validation epoch; ``like`` gives the structure."""
        return self.checkpoints.restore(self.commit["checkpoints"]["best"], like)

    def finish(self, results: dict) -> dict:
        """Write the summary of a finished run; returns it."""
        summary = {"status": "finished"} | results
        if self.writer:
            self.files.write_summary(summary)
        return summary

    def fail(self, reason: str, record: dict) -> None:
        """Write the summary of a run that failed in the epoch of ``record``."""
        summary = {"status": "failed", "reason": reason, "failed_epoch": record["epoch"]}
        summary |= {"failed_epoch_metrics": record, "epochs": len(self.history)}
        if self.writer:
            self.files.write_summary(summary)

    def _where_interrupted(self) -> str:
        if self.new and not self.began:
            return "interrupted before training began; nothing was kept"
        done = self.epochs_done
        if not self.began:
            where = "before training resumed"
            with contextlib.suppress(RunDirError, OSError):  # interrupted before _start read it
                done = (self.files.read_commit() or {}).get("epoch", 0)
        elif done == self.config.num_epochs:
            where = "in the final test"
        else:
            where = f"in epoch {done + 1}"
        then = f"continues after epoch {done}" if done else "starts again from epoch 1"
        return f"interrupted {where}; --resume {then}"
