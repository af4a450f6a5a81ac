"""Where data is read from, where caches are written, and the .npz array cache.

* ``JAXCONV_DATA_DIR``: read-only input data (``mnist/`` with the four canonical
  MNIST files, ``mnist-varres.tgz`` or ``mnist-varres/``). Nothing is ever
  written there.
* ``JAXCONV_CACHE_DIR`` (default ``~/.cache/jaxconv``, or ``--cache_dir``):
  TFDS's prepared copy, downloads and decoded arrays.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np


def data_dir(override: str | os.PathLike | None = None) -> Path | None:
    """The input data folder: the override, else $JAXCONV_DATA_DIR, else None."""
    value = override or os.environ.get("JAXCONV_DATA_DIR")
    return Path(value).expanduser() if value else None


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """The cache folder (created): the override, else $JAXCONV_CACHE_DIR, else ~/.cache/jaxconv."""
    value = override or os.environ.get("JAXCONV_CACHE_DIR") or Path.home() / ".cache" / "jaxconv"
    path = Path(value).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_arrays_atomically(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write an .npz so that a crash never leaves a half-written cache behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp.npz", delete=False) as tmp:
        np.savez(tmp, **arrays)
    os.replace(tmp.name, path)


def load_cached(path: Path, parse: Callable[[dict[str, np.ndarray]], Any]) -> Any:
    """``parse(arrays)`` of a cache .npz; None when there is none, or it is unreadable (truncated,
    corrupt) or ``parse`` fails on it (an array missing), so the caller rebuilds it. Saying so on
    one line."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as npz:
            return parse({name: npz[name] for name in npz.files})
    except Exception as err:  # BadZipFile, EOFError, zlib.error, KeyError...: all rebuilt
        problem = f"{type(err).__name__}: {err}"
        print(f"cache {path} is unreadable ({problem}): rebuilding it", file=sys.stderr, flush=True)
    path.unlink(missing_ok=True)
    return None
