"""Orbax checkpoints of a run: the last state and the best-by-validation state.

``<workdir>/checkpoints/last`` and ``<workdir>/checkpoints/best`` each keep one
checkpoint: the training state (parameters and optimizer state) and a small
JSON record (epoch, best validation accuracy so far). Saving is synchronous:
the training step donates the state's buffers, so an asynchronous save could
still be reading them when the next step reuses them.
"""

from __future__ import annotations

from pathlib import Path

import jax
import orbax.checkpoint as ocp


class Checkpoints:
    def __init__(self, workdir: Path, read_only: bool = False):
        def manager(name):
            options = ocp.CheckpointManagerOptions(
                max_to_keep=1, create=not read_only, read_only=read_only, enable_async_checkpointing=False
            )
            return ocp.CheckpointManager((Path(workdir) / "checkpoints" / name).absolute(), options=options)

        self.last, self.best = manager("last"), manager("best")

    @staticmethod
    def _args(state, record):
        return ocp.args.Composite(state=ocp.args.StandardSave(state), record=ocp.args.JsonSave(record))

    def save(self, epoch: int, state, record: dict, is_best: bool) -> None:
        """Save after ``epoch`` (1-based) epochs; also as the best when ``is_best``."""
        self.last.save(epoch, args=self._args(state, record))
        if is_best:
            self.best.save(epoch, args=self._args(state, record))

    def restore(self, which: str, like) -> tuple[object, dict] | None:
        """(state, record) of the ``"last"`` or ``"best"`` checkpoint, or None if there is none.

        ``like`` is a state of the right structure (its values are not used).
        """
        manager = {"last": self.last, "best": self.best}[which]
        epoch = manager.latest_step()
        if epoch is None:
            return None
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        restored = manager.restore(epoch, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), record=ocp.args.JsonRestore()))
        return restored.state, restored.record

    def close(self) -> None:
        self.last.close()
        self.best.close()
