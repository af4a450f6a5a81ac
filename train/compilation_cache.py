"""Compiled XLA programs kept on disk across runs: JAX's persistent compilation cache.

Compiling the training chunk, the evaluation step and the initializer is most of a short run's
start-up on a CPU (docs/performance.md, "Start-up"). The trainers and the report keep what they
compile in ``<cache folder>/xla`` (``--cache_dir`` / ``$JAXCONV_CACHE_DIR``), so the next run of the
same network and shapes loads it instead. Results are unchanged: the cache is keyed by the program
and the compiler's version and flags. A cache the user configured through JAX (its
``JAX_COMPILATION_CACHE_DIR`` variable or ``jax.config``) is left as it is;
``JAXCONV_COMPILATION_CACHE=0`` turns ours off (to time a cold start).
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

# programs that compile faster than this are not worth a file (JAX's default is 1 s)
MIN_COMPILE_SECONDS = 0.2


def use_compilation_cache(cache: Path) -> Path | None:
    """Point JAX's persistent compilation cache at ``cache/xla``; returns the folder in use, or None
    when it is off."""
    configured = jax.config.jax_compilation_cache_dir
    if configured:
        return Path(configured)
    if os.environ.get("JAXCONV_COMPILATION_CACHE", "1") == "0":
        return None
    folder = cache / "xla"
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    return folder
