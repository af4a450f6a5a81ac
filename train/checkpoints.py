"""Orbax checkpoints of a run's last and best-by-validation states, checked against digests.

``<workdir>/checkpoints/{last,best}/<epoch>`` each hold the training state (parameters and
optimizer state) and a JSON record (epoch, best validation accuracy so far). The commit record
(train/rundir.py) names each with the sha256 of its files, so a damaged checkpoint is named rather
than loaded. Saving is synchronous: the training step donates the state's buffers, which an
asynchronous save could still be reading. Orbax's CheckpointManager is not used: its retention
deletes the previous checkpoint while saving the next, before the commit record names the new one.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Callable

import jax
import orbax.checkpoint as ocp

from train.errors import CorruptCheckpointError, RunDirError
from train.rundir import RunDir


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


class Checkpoints:
    def __init__(self, run: RunDir):
        self.run = run
        self._checkpointer = ocp.Checkpointer(ocp.CompositeCheckpointHandler())

    def save(self, role: str, epoch: int, state, record: dict) -> dict:
        """Save the state after ``epoch`` (1-based) epochs as the ``"last"`` or ``"best"``; returns
        its entry in the commit record: ``{"path", "epoch", "files": {file: sha256}}``."""
        folder = self.run.checkpoints / role / str(epoch)
        shutil.rmtree(folder, ignore_errors=True)  # never committed: a crash in this epoch's save
        folder.parent.mkdir(parents=True, exist_ok=True)
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(state), record=ocp.args.JsonSave(record)
        )
        self._checkpointer.save(folder.absolute(), args=args)
        path = str(folder.relative_to(self.run.path))
        return {"path": path, "epoch": epoch, "files": _digests(folder)}

    def save_epoch(self, commit: dict | None, state, metrics: dict) -> dict:
        """Save the state after the epoch of ``metrics`` as the last, and as the best if it
        validated better than the epochs of ``commit`` (the record before); the record naming
        them."""
        epoch, best_val = metrics["epoch"], commit["best_val_accuracy"] if commit else -1.0
        record = {"epoch": epoch, "best_val_accuracy": max(best_val, metrics["val_accuracy"])}
        last = self.save("last", epoch, state, record)
        if metrics["val_accuracy"] > best_val:
            best = self.save("best", epoch, state, record)
        else:
            best = commit["checkpoints"]["best"]
        return {
            "epoch": epoch,
            "best_epoch": best["epoch"],
            "best_val_accuracy": record["best_val_accuracy"],
            "checkpoints": {"last": last, "best": best},
        }

    def restore(self, entry: dict, like) -> tuple[object, dict]:
        """(state, record) of a commit entry; CorruptCheckpointError if its files are missing,
        changed or unreadable. ``like`` is a state of the right structure (its values are not
        used)."""
        folder = self.run.path / entry["path"]
        found = _digests(folder) if folder.is_dir() else {}
        for name, digest in entry["files"].items():
            if found.get(name) != digest:
                problem = (
                    f"is corrupt: {name} differs from its saved digest"
                    if name in found
                    else f"is damaged: {name} is missing"
                )
                raise CorruptCheckpointError(f"checkpoint {entry['path']} {problem}")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        args = ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), record=ocp.args.JsonRestore()
        )
        try:
            restored = self._checkpointer.restore(folder.absolute(), args=args)
        except Exception as err:  # Orbax and TensorStore raise many kinds; all mean "unusable"
            said = str(err).strip()
            reason = said.splitlines()[0][:200] if said else type(err).__name__
            raise CorruptCheckpointError(
                f"checkpoint {entry['path']} cannot be read: {reason}"
            ) from None
        return restored.state, restored.record

    def _try(self, entry: dict, like, problems: list[str]):
        """``restore``, or None with the reason added to ``problems``."""
        try:
            return self.restore(entry, like)
        except CorruptCheckpointError as err:
            problems.append(str(err))
            return None

    def resume_point(self, commit: dict | None, like, say: Callable[[str], None]):
        """(commit record, state) to continue from: ``commit``'s, if its last and best checkpoints
        are intact; else the best epoch's, from an intact copy (best or last), the later epochs to
        be redone exactly; else (None, ``like``): start over. The record returned names only
        intact checkpoints."""
        if commit is None:
            return None, like
        problems, entries = [], commit["checkpoints"]
        last = self._try(entries["last"], like, problems)
        if entries["best"]["path"] == entries["last"]["path"]:
            best = last
        else:
            best = self._try(entries["best"], like, problems)
        if last is not None and best is not None:
            return commit, last[0]
        copies = [(entries["best"], best), (entries["last"], last)]
        at_best = [
            (e, found) for e, found in copies if found and e["epoch"] == commit["best_epoch"]
        ]
        if not at_best:
            say(f"{'; '.join(problems)}: no intact checkpoint is left, starting over from epoch 1")
            return None, like
        entry, (state, record) = at_best[0]
        epoch = entry["epoch"]
        say(
            f"{'; '.join(problems)}: resuming from checkpoint {entry['path']} (epoch {epoch}), the "
            "last intact state"
        )
        best_val = record["best_val_accuracy"]
        resumed = {"epoch": epoch, "best_epoch": epoch, "best_val_accuracy": best_val}
        return resumed | {"checkpoints": {"last": entry, "best": entry}}, state

    def best_for_use(
        self, commit: dict | None, like, say: Callable[[str], None]
    ) -> tuple[object, dict]:
        """(state, record) of the best-by-validation checkpoint, or of the last one if the best is
        damaged."""
        if commit is None:
            raise RunDirError(
                f"{self.run.path} has no checkpoint yet: it stopped before finishing its first "
                "epoch"
            )
        problems, entries = [], commit["checkpoints"]
        for entry in {e["path"]: e for e in (entries["best"], entries["last"])}.values():
            found = self._try(entry, like, problems)
            if found is not None:
                if problems:
                    say(
                        f"{problems[0]}: using checkpoint {entry['path']} (epoch "
                        f"{entry['epoch']}), the last intact state"
                    )
                return found
        raise CorruptCheckpointError(
            f"{'; '.join(problems)}: {self.run.path} has no intact checkpoint left"
        )
