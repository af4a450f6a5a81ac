"""Orbax checkpoints of a run: the last state and the best-by-validation state, with digests.

``<workdir>/checkpoints/last/<epoch>`` and ``<workdir>/checkpoints/best/<epoch>``
each hold the training state (parameters and optimizer state) and a small JSON
record (epoch, best validation accuracy so far). :meth:`Checkpoints.save`
returns an entry ``{"path", "epoch", "files": {file: sha256}}`` that goes into
the run's commit record (train/rundir.py); a checkpoint is used only if its
files still match those digests, so a damaged one is named rather than loaded.
Saving is synchronous: the training step donates the state's buffers, so an
asynchronous save could still be reading them when the next step reuses them.
Orbax's CheckpointManager is not used: its retention (``max_to_keep``, ``best_fn``)
deletes the previous checkpoint while saving the next, before the commit record
names the new one, so a run killed between the two would have lost the
checkpoint its record names; here old checkpoints go only after the commit.
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
        its commit entry."""
        folder = self.run.checkpoint_dir(role, epoch)
        shutil.rmtree(
            folder, ignore_errors=True
        )  # never committed: left by a crash in this epoch's save
        folder.parent.mkdir(parents=True, exist_ok=True)
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(state), record=ocp.args.JsonSave(record)
        )
        self._checkpointer.save(folder.absolute(), args=args)
        return {
            "path": str(folder.relative_to(self.run.path)),
            "epoch": epoch,
            "files": _digests(folder),
        }

    def restore(self, entry: dict, like) -> tuple[object, dict]:
        """(state, record) of a commit entry; CorruptCheckpointError if its files are missing,
        changed or unreadable.

        ``like`` is a state of the right structure (its values are not used).
        """
        folder = self.run.path / entry["path"]
        found = _digests(folder) if folder.is_dir() else {}
        for name, digest in entry["files"].items():
            if name not in found:
                raise CorruptCheckpointError(
                    f"checkpoint {entry['path']} is damaged: {name} is missing"
                )
            if found[name] != digest:
                raise CorruptCheckpointError(
                    f"checkpoint {entry['path']} is corrupt: {name} differs from its saved digest"
                )
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        args = ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), record=ocp.args.JsonRestore()
        )
        try:
            restored = self._checkpointer.restore(folder.absolute(), args=args)
        except Exception as err:  # Orbax and TensorStore raise many kinds; all mean "unusable"
            reason = (
                str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
            )
            raise CorruptCheckpointError(
                f"checkpoint {entry['path']} cannot be read: {reason}"
            ) from None
        return restored.state, restored.record

    def _try(self, entry: dict, like, problems: list[str]):
        try:
            return self.restore(entry, like)
        except CorruptCheckpointError as err:
            problems.append(str(err))
            return None

    def resume_point(
        self, commit: dict | None, like, say: Callable[[str], None]
    ) -> tuple[dict | None, object]:
        """(commit record to continue from, its last state) after the last intact checkpoint.

        The committed last state and the best one, if both are intact; else the best state alone
        (the run continues after the best epoch, redoing the later ones exactly); else (None, None):
        start over.
        The record returned names only intact checkpoints.
        """
        if commit is None:
            return None, None
        problems, last_entry, best_entry = (
            [],
            commit["checkpoints"]["last"],
            commit["checkpoints"]["best"],
        )
        last = self._try(last_entry, like, problems)
        best = (
            self._try(best_entry, like, problems)
            if best_entry["path"] != last_entry["path"]
            else last
        )
        if last is not None and (best is not None or best_entry["epoch"] == last_entry["epoch"]):
            repaired = (
                commit
                if best is not None
                else commit | {"checkpoints": {"last": last_entry, "best": last_entry}}
            )
            if problems:
                say(
                    f"{'; '.join(problems)}: using checkpoint {last_entry['path']}, an intact copy "
                    "of the same epoch"
                )
            return repaired, last[0]
        if best is not None:
            epoch = best_entry["epoch"]
            say(
                f"{'; '.join(problems)}: resuming from checkpoint {best_entry['path']} (epoch "
                f"{epoch}), the last intact state"
            )
            repaired = {
                "epoch": epoch,
                "best_epoch": epoch,
                "best_val_accuracy": best[1]["best_val_accuracy"],
            }
            return repaired | {"checkpoints": {"last": best_entry, "best": best_entry}}, best[0]
        say(f"{'; '.join(problems)}: no intact checkpoint is left, starting over from epoch 1")
        return None, None

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
        best = self._try(entries["best"], like, problems)
        if best is not None:
            return best
        if entries["last"]["path"] != entries["best"]["path"]:
            last = self._try(entries["last"], like, problems)
            if last is not None:
                say(
                    f"{problems[0]}: using checkpoint {entries['last']['path']} (epoch "
                    f"{entries['last']['epoch']}), the last intact state"
                )
                return last
        raise CorruptCheckpointError(
            f"{'; '.join(problems)}: {self.run.path} has no intact checkpoint left"
        )
