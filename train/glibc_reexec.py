"""Process set-up for the command-line entry points: glibc's allocator for XLA on the CPU.

XLA's CPU runtime allocates the temporaries of each compiled call as one large
block and frees it when the call returns. glibc hands blocks above its mmap
threshold straight back to the kernel, so the next call page-faults the whole
block in again (what that costs: docs/performance.md, "glibc's allocator").
Raising the mmap and trim thresholds keeps
the block in the heap. glibc reads them only from the environment at start-up
(``mallopt`` refuses mmap thresholds above 32 MiB), so the entry points re-run
the interpreter once with them set.
"""

from __future__ import annotations

import os
import sys

MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(2**31 - 1), "MALLOC_TRIM_THRESHOLD_": str(2**32 - 1)}


def keep_freed_memory_in_heap() -> None:
    """Re-exec this process once with the glibc thresholds set, unless they already are.

    Skipped off Linux, when either variable is already set (by us or the user),
    and when JAXCONV_NO_REEXEC is set.
    """
    if (
        sys.platform != "linux"
        or os.environ.get("JAXCONV_NO_REEXEC")
        or any(name in os.environ for name in MALLOC_ENV)
    ):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, sys.orig_argv, {**os.environ, **MALLOC_ENV})
