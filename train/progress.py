"""Progress inside an epoch: a rich bar with the running loss on a terminal; in a log file or a
pipe, a plain line every ``plain_every`` seconds (long epochs show they are alive); and one line
per epoch."""

from __future__ import annotations

import contextlib
import sys
import time

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class EpochProgress:
    """``live``: None picks by the stream (a bar on a terminal, plain lines otherwise), True forces
    the bar, False shows nothing inside epochs. The loop feeds ``update`` only when
    ``self.live``."""

    def __init__(self, live: bool | None = None, stream=None, plain_every: float = 10.0):
        self.stream = stream or sys.stdout
        self.bar = self.stream.isatty() if live is None else bool(live)
        self.live = live is not False  # a bar, or plain lines
        self.plain_every = plain_every

    @property
    def refresh_seconds(self) -> float:
        """How often the loop should read the running loss (each read waits for the device):
        twice a second for the bar, once per plain line otherwise."""
        return 0.5 if self.bar else self.plain_every

    @contextlib.contextmanager
    def epoch(self, epoch: int, num_epochs: int, total_steps: int):
        """Yields ``update(steps_done, running_loss)``."""
        if not self.live:
            yield lambda steps, loss: None
        elif self.bar:
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
        else:
            yield self._plain_updates(epoch, num_epochs, total_steps)

    def _plain_updates(self, epoch: int, num_epochs: int, total_steps: int):
        start = last = time.perf_counter()

        def update(steps: int, loss: float) -> None:
            nonlocal last
            now = time.perf_counter()
            if now - last < self.plain_every or steps <= 0:
                return
            last = now
            left = (now - start) * (total_steps - steps) / steps
            self.line(
                f"epoch {epoch}/{num_epochs}  step {steps}/{total_steps}  loss {loss:.4f}  "
                f"{now - start:.0f}s, ~{left:.0f}s left"
            )

        return update

    def line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)
