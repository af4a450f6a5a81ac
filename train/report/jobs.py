"""``python -m train.report --jobs N``: train a report's runs in N processes at once, each on its
own share of the CPU cores.

On a small CPU one XLA process does not keep every core busy with the assignment's small
convolutions, so N processes of fewer cores each train more images per second in all
(docs/performance.md, "Several runs at once"). Each process (``python -m train.report.jobs``)
gets the same list of runs and walks it in order; it trains a run only once it holds the run's
lock, and skips a run that is finished or that another process holds, so the processes share the
work without a coordinator. Each run is an ordinary run workdir, trained by the same
``Runner.result`` as without jobs (on fewer threads XLA sums in another order, so its last digits,
and over a long run its accuracy, move by seed-noise amounts); the report then collects every
result in one ordinary pass, which finds them finished (and trains any that a process left
undone).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def core_shares(cores: list[int], jobs: int) -> list[list[int]]:
    """The cores this process may use, dealt out to ``jobs`` processes (every process at least
    one)."""
    from train.errors import ConfigError

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
        common = [sys.executable, "-m", "train.report.jobs", f"--report_dir={report_dir}"]
        common += [f"--plan={plan_file}", f"--cache_dir={cache}"]
        common += [f"--data_dir={data}"] if data else []
        processes = []
        try:
            for share in shares:
                cores = ",".join(map(str, share))
                processes.append(subprocess.Popen(common + [f"--cores={cores}"]))
            return [p.wait() for p in processes]
        finally:  # interrupted: stop them too (their runs resume on the next call)
            for p in processes:
                if p.poll() is None:
                    p.terminate()
                    p.wait()


def _exit_with_parent() -> None:
    """Linux: have the kernel send this process SIGTERM when the report that started it dies,
    however it dies (a kill, a timeout), so that no job trains on, holding its run's lock."""
    if sys.platform != "linux":
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() == 1:  # the parent was already gone
        sys.exit(1)


def train_plan(plan: list[dict], report_dir: Path, cache: Path, data) -> None:
    """One process's walk through the plan: train each run it can lock and nobody has finished."""
    import ml_collections

    from train.errors import RunInUseError
    from train.report.build import Runner, run_id
    from train.rundir import RunDir

    runner = Runner(report_dir, cache, data)
    for entry in plan:
        config = ml_collections.ConfigDict(entry["config"])
        if run_id(config) != entry["run"]:  # the config must name the same run once re-read
            raise RuntimeError(f"run {entry['run']} changed its id to {run_id(config)} in a job")
        if RunDir(runner.runs_dir / entry["run"]).read_summary() is not None:
            continue
        try:
            runner.train(config, entry["label"])
        except RunInUseError:
            continue  # another process is training it


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="one training process of train.report --jobs")
    parser.add_argument("--report_dir", type=Path, required=True)
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--cores", required=True, help="comma-separated CPU cores for this process")
    parser.add_argument("--cache_dir", type=Path, required=True)
    parser.add_argument("--data_dir", type=Path)
    args = parser.parse_args(argv)
    from train import glibc_reexec

    glibc_reexec.keep_freed_memory_in_heap()
    _exit_with_parent()
    # before the first computation, when XLA sizes its thread pool to the cores it may use
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(core) for core in args.cores.split(",")})
    from absl import logging as absl_logging

    from train.compilation_cache import use_compilation_cache
    from train.errors import exit_on_user_error

    absl_logging.set_verbosity(absl_logging.WARNING)
    use_compilation_cache(args.cache_dir)
    with exit_on_user_error():
        plan = json.loads(args.plan.read_text())
        train_plan(plan, args.report_dir, args.cache_dir, args.data_dir)


if __name__ == "__main__":
    main()
