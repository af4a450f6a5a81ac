"""``python -m train.report.job_main``: one training process of ``train.report --jobs N``.

Started by train/report/jobs.py with the plan (every run of the report that waits on no other's
result) and its share of the CPU cores; it walks the plan in order and trains each run it can
lock and nobody has finished.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from pathlib import Path

from absl import logging as absl_logging

from train.compilation_cache import use_compilation_cache
from train.errors import exit_on_user_error
from train.report.runs import train_plan


def exit_with_parent() -> None:
    """End this process (SIGTERM) once the report that started it dies, however it dies (SIGKILL
    too), so that no job trains on, holding its run's lock. The report holds the other end of this
    process's stdin and never writes to it (jobs.py): reading it returns when that end closes."""

    def wait_for_the_report() -> None:
        os.read(0, 1)  # not sys.stdin: its lock, held here, would abort the interpreter's exit
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=wait_for_the_report, daemon=True).start()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="one training process of train.report --jobs")
    parser.add_argument("--report_dir", type=Path, required=True)
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--cores", required=True, help="comma-separated CPU cores for this process")
    parser.add_argument("--cache_dir", type=Path, required=True)
    parser.add_argument("--data_dir", type=Path)
    args = parser.parse_args(argv)
    exit_with_parent()
    # Ctrl-C reaches every process of the terminal's group: the report (jobs.py) ends its jobs
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # before the first computation, when XLA sizes its thread pool to the cores it may use
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(core) for core in args.cores.split(",")})
    absl_logging.set_verbosity(absl_logging.WARNING)
    use_compilation_cache(args.cache_dir)
    with exit_on_user_error():
        plan = json.loads(args.plan.read_text())
        train_plan(plan, args.report_dir, args.cache_dir, args.data_dir)


if __name__ == "__main__":
    main()
