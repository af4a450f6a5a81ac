"""Counting XLA compilations per jitted function with JAX's own compile events."""

from __future__ import annotations

import collections
import contextlib

import jax

BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"  # one per compilation
STEPS = ("_train_chunk_impl", "_eval_batch_impl", "_predict_impl")  # train.steps.Steps' functions


@contextlib.contextmanager
def compilations():
    """A Counter of the compilations inside the block, by function name ("_train_chunk_impl")."""
    counts = collections.Counter()

    def record(event, duration, fun_name="", **kwargs):
        if event == BACKEND_COMPILE:
            counts[fun_name.removeprefix("jit(").removesuffix(")")] += 1

    jax.monitoring.register_event_duration_secs_listener(record)
    try:
        yield counts
    finally:
        jax.monitoring.unregister_event_duration_listener(record)
