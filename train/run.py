"""A run from start to end behind one object: its directory, its lock and its checkpoints.

    with Run.open(workdir, config, resume=False) as run:
        summary = train_and_evaluate(run.config, run, datasets, make_model)

``Run.open`` starts a new run (refusing a workdir that holds one) or resumes one with its
saved config plus ``overrides`` (refusing those that would change its finished epochs), and
holds the run's lock until the block ends. A new run that fails before training begins (a bad
config, missing data) leaves nothing behind. Inside, the loop calls ``restore`` once,
``save_epoch`` after every epoch, ``best_state`` for the test, then ``finish`` (or ``fail``).

The files and the order in which an epoch is committed are train/rundir.py's; the Orbax
checkpoints and their digests are train/checkpoints.py's. With several processes only process 0
writes (``writer=True``); the others (``writer=False``) read what it writes and take part only in
the collective checkpoint saves.

Ctrl-C (or SIGTERM, once :func:`stop_on_sigterm` is called) leaves the block as
:class:`Interrupted`, whose message says where ``--resume`` continues; nothing committed is lost.
"""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path
from typing import Callable

from train import distributed
from train.checkpoints import Checkpoints
from train.errors import RunDirError
from train.rundir import RunDir


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a run; ``exit_status`` is 128 + the signal (130, or 143)."""

    def __init__(self, message: str = "interrupted", signum: int = signal.SIGINT):
        super().__init__(message)
        self.signum = signum
        self.exit_status = 128 + signum

    def __str__(self) -> str:
        return self.args[0]


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
        files = RunDir(workdir)
        made = []  # folders a new run made, to remove if it fails before training
        if not writer:
            config = files.resume_config(overrides or {}) if resume else config
        else:
            resume, made = _lock_or_create(files, config, resume)
            config = _resumed_config(files, config, overrides) if resume else config
        run = cls(files, config, new=not resume, writer=writer)
        try:
            yield run
        except BaseException as err:
            if writer and run.new and not run.began:  # a failed start leaves no half-made run
                files.release()
                files.discard_new(made)
            if isinstance(err, KeyboardInterrupt):
                raise Interrupted(
                    run._where_interrupted(), getattr(err, "signum", signal.SIGINT)
                ) from None
            raise
        finally:
            files.release()

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
        commit, restored = self.checkpoints.resume_point(self.files.read_commit(), state, say)
        if commit is None:
            say(f"{self.path} has no finished epoch on record: starting from epoch 1")
        else:
            say(f"resuming {self.path} after epoch {commit['epoch']}")
        self.commit = commit
        if self.writer:
            self._drop_what_follows_the_commit()
        self.history = [m for m in self.files.read_metrics() if m["epoch"] <= self.epochs_done]
        if [m["epoch"] for m in self.history] != list(range(1, self.epochs_done + 1)):
            raise RunDirError(
                f"{self.files.metrics_file} lacks epochs the commit record says are done: "
                "this run cannot be resumed"
            )
        return state if commit is None else restored

    def _drop_what_follows_the_commit(self) -> None:
        if self.commit is None:
            self.files.uncommit()
        elif self.commit != self.files.read_commit():
            self.files.commit(self.commit)  # now naming only intact checkpoints
        self.files.remove_unreferenced_checkpoints()
        self.files.remove_summary()  # unfinished again until the end
        self.files.keep_metrics_through(self.epochs_done)

    def save_epoch(self, state, record: dict) -> None:
        """Save an epoch crash-consistently: its metrics line, its checkpoint(s), then the commit
        record (the one atomic step), then the checkpoints no longer named are removed."""
        epoch, best_val = record["epoch"], self.commit["best_val_accuracy"] if self.commit else -1.0
        if self.writer:
            self.files.append_metrics(record)
        saved = {"epoch": epoch, "best_val_accuracy": max(best_val, record["val_accuracy"])}
        last = self.checkpoints.save("last", epoch, state, saved)
        if record["val_accuracy"] > best_val:
            best = self.checkpoints.save("best", epoch, state, saved)
        else:
            best = self.commit["checkpoints"]["best"]
        self.commit = {"epoch": epoch, "best_epoch": best["epoch"]}
        self.commit |= {"best_val_accuracy": saved["best_val_accuracy"]}
        self.commit |= {"checkpoints": {"last": last, "best": best}}
        if self.writer:
            self.files.commit(self.commit)
            self.files.remove_unreferenced_checkpoints()
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
        done = self.files.committed_epoch() if not self.began else self.epochs_done
        if self.new and not self.began:
            return "interrupted before training began; nothing was kept"
        if not self.began:
            where = "before training resumed"
        elif done == self.config.num_epochs:
            where = "in the final test"
        else:
            where = f"in epoch {done + 1}"
        then = f"continues after epoch {done}" if done else "starts again from epoch 1"
        return f"interrupted {where}; --resume {then}"


def _lock_or_create(files: RunDir, config, resume: bool | None) -> tuple[bool, list[Path]]:
    """Lock the run to resume, or create and lock a new one; (whether it resumes, the folders
    made)."""
    if resume is None:  # whether to resume is decided under the lock
        files.path.mkdir(parents=True, exist_ok=True)
        files.lock()
        resume = files.config_file.is_file()
    if resume:
        files.check_resumable()
        files.lock()
        return True, []
    return False, files.create(config)


def _resumed_config(files: RunDir, config, overrides: dict | None):
    """The saved config plus ``overrides``, recorded in config.json; the lock is let go if it is
    refused."""
    try:
        resumed = files.resume_config(overrides or {})
        saved = files.read_config().to_json_best_effort(sort_keys=True)
        if saved != resumed.to_json_best_effort(sort_keys=True):
            files.write_config(resumed)
        return resumed
    except BaseException:
        files.release()
        raise
