"""The seconds JAX spends compiling, read from its own compile events (``jax.monitoring``)."""

from __future__ import annotations

import jax

# the three stages of a jit's compilation, each reported with its duration
COMPILE_EVENTS = frozenset(
    {
        "/jax/core/compile/jaxpr_trace_duration",  # the Python function -> a jaxpr
        "/jax/core/compile/jaxpr_to_mlir_module_duration",  # the jaxpr -> StableHLO
        "/jax/core/compile/backend_compile_duration",  # XLA (or the persistent cache's copy)
    }
)


class CompileClock:
    """``seconds``: the time JAX spent tracing, lowering and compiling while the clock was open
    (``with CompileClock() as compiling:``), in this process."""

    def __init__(self):
        self.seconds = 0.0

    def _record(self, event: str, duration: float, **kwargs) -> None:
        if event in COMPILE_EVENTS:
            self.seconds += duration

    def __enter__(self) -> CompileClock:
        jax.monitoring.register_event_duration_secs_listener(self._record)
        return self

    def __exit__(self, *exc) -> None:
        jax.monitoring.unregister_event_duration_listener(self._record)
