"""Progress: a rich bar per epoch with the running loss on a terminal; one plain line per epoch otherwise."""

from __future__ import annotations

import contextlib
import sys

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class EpochProgress:
    def __init__(self, live: bool | None = None, stream=None):
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live

    @contextlib.contextmanager
    def epoch(self, epoch: int, num_epochs: int, total_steps: int):
        """Yields ``update(steps_done, running_loss)``; a no-op when not live."""
        if not self.live:
            yield lambda steps, loss: None
            return
        columns = (
            TextColumn(f"epoch {epoch}/{num_epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, transient=True) as bar:
            task = bar.add_task("train", total=total_steps, loss=float("nan"))
            yield lambda steps, loss: bar.update(task, completed=steps, loss=loss)

    def line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)
