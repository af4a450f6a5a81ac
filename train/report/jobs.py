"""``python -m train.report --jobs N``: train a report's runs in N processes at once, each on its
own share of the CPU cores (why: docs/performance.md, "Several runs at once"). This module is the
report's side; each process runs train/report/job_main.py.

Every process gets the same plan and walks it in order, training each run that is unfinished and
whose lock it can take, so the processes share the work without a coordinator. The report then
collects every result in its ordinary pass, which finds them finished (and trains any left undone).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from train.errors import ConfigError


def core_shares(cores: list[int], jobs: int) -> list[list[int]]:
    """The cores this process may use, dealt out to ``jobs`` processes (every process at least
    one)."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= len(cores):
        raise ConfigError(
            f"--jobs must be an integer from 1 to the {len(cores)} cores this process may use, "
            f"got {jobs!r}"
        )
    return [cores[i::jobs] for i in range(jobs)]


def allowed_cores() -> list[int]:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def train_in_processes(
    plan: list[dict], jobs: int, report_dir: Path, cache: Path, data
) -> list[int]:
    """Train ``plan`` (entries {"run": run id, "label": ..., "config": the config as a dict}) in
    up to ``jobs`` processes (no more than the plan has runs, so that none sits idle on its
    cores); returns their exit statuses."""
    shares = core_shares(allowed_cores(), min(jobs, len(plan)))
    with tempfile.TemporaryDirectory() as tmp:
        plan_file = Path(tmp, "plan.json")
        plan_file.write_text(json.dumps(plan))
        common = [sys.executable, "-m", "train.report.job_main", f"--report_dir={report_dir}"]
        common += [f"--plan={plan_file}", f"--cache_dir={cache}"]
        common += [f"--data_dir={data}"] if data else []
        processes = []
        try:
            for share in shares:
                cores = ",".join(map(str, share))
                # its stdin tells it when this process dies (job_main.exit_with_parent)
                command = common + [f"--cores={cores}"]
                processes.append(subprocess.Popen(command, stdin=subprocess.PIPE))
            return [p.wait() for p in processes]
        finally:  # interrupted: stop them too (their runs resume on the next call)
            for p in processes:
                if p.poll() is None:
                    p.terminate()
                    p.wait()
