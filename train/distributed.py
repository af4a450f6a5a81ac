"""Training on several processes (several machines) with JAX's multi-controller runtime.

Every process runs the same program on the whole dataset from the same seed, so the processes
agree on every batch without talking. The mesh (train/steps.py) spans the devices of all
processes; each process feeds only its share of every global array (:func:`put`), and XLA's
collectives (gloo between CPU processes) sum the gradients. Orbax checkpoints are saved
collectively; the run directory's own files and the log lines are process 0's alone
(:func:`is_primary`), so the workdir must be one folder all the processes share.

Asked for by flags or environment variables, the flags winning::

    --coordinator_address HOST:PORT   JAX_COORDINATOR_ADDRESS   (process 0's host; any free port)
    --num_processes N                 JAX_NUM_PROCESSES
    --process_id I                    JAX_PROCESS_ID            (0 .. N-1)

Under Slurm or Open MPI, JAX finds all three itself: set ``JAX_DISTRIBUTED=1``.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from train.errors import ConfigError


def initialize(coordinator_address=None, num_processes=None, process_id=None) -> bool:
    """Join a multi-process run if one is asked for (module docstring); whether it was. Must run
    before JAX computes anything."""
    address = coordinator_address or os.environ.get("JAX_COORDINATOR_ADDRESS")
    count = num_processes if num_processes is not None else _env_int("JAX_NUM_PROCESSES")
    index = process_id if process_id is not None else _env_int("JAX_PROCESS_ID")
    asked = address is not None or count is not None or index is not None
    if not asked and not os.environ.get("JAX_DISTRIBUTED"):
        return False
    if count is not None and (count < 1 or index is not None and not 0 <= index < count):
        raise ConfigError(f"process id {index} of {count} processes: need 0 <= id < count")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(address, count, index)
    return True


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    try:
        return int(value) if value else None
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {value!r}") from None


def is_primary() -> bool:
    """Whether this process writes the run's files and logs (process 0; also a lone process)."""
    return not jax.distributed.is_initialized() or jax.process_index() == 0


def put(tree, sharding):
    """The arrays of ``tree`` (numpy or single-process jax arrays, the same on every process)
    placed with ``sharding`` (one, or a tree of them matching ``tree``): ``jax.device_put`` in
    one process; with several, each process gives only the part its own devices hold
    (``jax.make_array_from_process_local_data``), so no data crosses between processes."""
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)
    if isinstance(sharding, jax.sharding.Sharding):
        return jax.tree.map(lambda x: _put_local_share(x, sharding), tree)
    return jax.tree.map(_put_local_share, tree, sharding)


def _put_local_share(x, sharding) -> jax.Array:
    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        key_data = _put_local_share(jax.random.key_data(x), sharding)  # (..., key words)
        return jax.random.wrap_key_data(key_data, impl=jax.random.key_impl(x))
    x = np.asarray(x)
    indices = sharding.addressable_devices_indices_map(x.shape).values()
    # (start, stop) of every local shard along every axis
    ranges = [[i[d].indices(n)[:2] for i in indices] for d, n in enumerate(x.shape)]
    # this process's box of x: from the lowest start to the highest stop along every axis
    box = tuple(slice(min(r[0] for r in axis), max(r[1] for r in axis)) for axis in ranges)
    return jax.make_array_from_process_local_data(sharding, x[box], x.shape)
