"""Train (or reuse) the report's runs: one ordinary run workdir per (config, seed) in ``DIR/runs``.

A run is named by a hash of its resolved config (``run_id``), so a run shared by two experiments
is trained once, a finished run is reused and an interrupted one resumes from its last checkpoint.

JAX (the training code) and matplotlib (the report's rendering) are imported where they are
first used: ``python -m train.report`` imports this module before it re-executes itself
(train/glibc_reexec.py).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import configs.fixed
import configs.report
import configs.varres
from train import config_check
from train.compilation_cache import use_compilation_cache
from train.data.cache import cache_dir, data_dir
from train.errors import ConfigError, RunDirError
from train.progress import EpochProgress
from train.report import jobs as training_processes
from train.report.stats import best_by_mean
from train.rundir import RunDir

BASES = {"fixed": configs.fixed, "varres": configs.varres}


def variant_config(variant, seed: int, quick: bool):
    config = BASES[variant.base].get_config()
    config.update_from_flattened_dict(dict(variant.overrides))
    config.seed = seed
    if quick:  # a field the config lacks (a fixed config's max_resolutions) is left out
        quick_fields = configs.report.quick_overrides().items()
        config.update({field: value for field, value in quick_fields if field in config})
    config_check.validate(config)  # a bad entry of configs/report.py fails before any training
    return config


def run_id(config) -> str:
    digest = hashlib.sha256(config.to_json_best_effort(sort_keys=True).encode()).hexdigest()[:12]
    return f"{config.dataset}-{config.model}-seed{config.seed}-{digest}"


class Runner:
    """Trains (or reuses) the run of a config inside ``DIR/runs``; returns its results.

    With ``jobs`` > 1, ``train_ahead`` first trains a list of runs in that many processes at once
    (train/report/jobs.py); ``result`` then finds them finished."""

    def __init__(self, report_dir: Path, cache: Path, data: Path | None, jobs: int = 1):
        self.report_dir, self.runs_dir = report_dir, report_dir / "runs"
        self.cache, self.data, self.jobs = cache, data, jobs
        self.trained = self.reused = 0
        self.counted_ahead = set()  # runs train_ahead counted as trained: result counts them once
        self.on_run = lambda: None  # called after every run trained or reused (make_report logs)

    def train_ahead(self, runs) -> None:
        """Train the unfinished ones of ``runs`` ((config, label) pairs) in ``self.jobs``
        processes at once; with one job, nothing: ``result`` trains each in its turn. After a
        process fails, the report goes on with one job."""
        from train.data.datasets import load_datasets

        if self.jobs == 1:
            return
        plan = {}
        for config, label in runs:
            run = run_id(config)
            if run not in plan and RunDir(self.runs_dir / run).read_summary() is None:
                as_dict = json.loads(config.to_json_best_effort())
                plan[run] = {"run": run, "label": label, "config": as_dict}
        if not plan:
            return
        for dataset in {entry["config"]["dataset"] for entry in plan.values()}:
            # prepared here once, so that the processes only read it
            config = next(c for c, _ in runs if c.dataset == dataset)
            load_datasets(config, self.cache, self.data, with_train=False)
        statuses = []
        try:
            statuses = training_processes.train_in_processes(
                list(plan.values()), self.jobs, self.report_dir, self.cache, self.data
            )
        finally:  # interrupted too: the call log counts what the processes finished
            finished = {
                run for run in plan if RunDir(self.runs_dir / run).read_summary() is not None
            }
            self.trained += len(finished)
            self.counted_ahead |= finished
            self.on_run()
        if any(statuses):
            self.jobs = 1
            print(
                f"train.report: training processes exited with {statuses}; the report goes on "
                "with one run at a time",
                file=sys.stderr,
                flush=True,
            )

    def result(self, config, label: str) -> dict:
        """The run of ``config``: trained (or resumed) here unless finished."""
        files = RunDir(self.runs_dir / run_id(config))
        summary = files.read_summary()
        if summary is not None and summary.get("status") == "failed":
            raise RunDirError(f"run {files.path} failed: {summary.get('reason')}")
        if summary is not None and files.path.name in self.counted_ahead:
            self.counted_ahead.discard(files.path.name)  # counted by train_ahead
        elif summary is not None:
            self.reused += 1
        else:
            self.train(config, label)
        self.on_run()
        summary, metrics = files.read_summary(), files.read_metrics()
        result = {"run": files.path.name, "seed": config.seed, "config": config.to_dict()}
        return result | {"summary": summary, "metrics": metrics}

    def train(self, config, label: str) -> None:
        """Train the run of ``config``, or resume it; nothing if another process finished it
        meanwhile. RunInUseError if another process holds it."""
        from train.data.datasets import load_datasets
        from train.loop import train_and_evaluate
        from train.models import model_factory
        from train.run import Run

        with Run.open(self.runs_dir / run_id(config), config, resume=None) as run:
            if run.files.read_summary() is not None:
                return
            what = "training" if run.new else "resuming"
            print(f"{what} {label}, seed {config.seed} -> {run.path}", flush=True)
            datasets = load_datasets(run.config, self.cache, self.data)
            progress = EpochProgress(live=False)
            train_and_evaluate(
                run.config, run, datasets, model_factory(run.config), progress=progress
            )
        self.trained += 1


def variant_runs(variants, seeds, quick: bool) -> list[tuple]:
    """The (config, label) of every seed of every variant, for ``Runner.train_ahead``."""
    return [(variant_config(v, s, quick), v.label) for v in variants for s in seeds]


def run_experiment(experiment, runner: Runner, seeds, quick: bool) -> dict:
    """{"variants": {label: [result per seed]}} (plus "tuning" and "chosen" if tuned).

    An untuned experiment's runs are trained ahead by make_report, with every other such run."""
    if not experiment.tune_on_validation:
        return {
            "variants": {
                v.label: [runner.result(variant_config(v, s, quick), v.label) for s in seeds]
                for v in experiment.variants
            }
        }
    runner.train_ahead(variant_runs(experiment.variants, seeds[:1], quick))
    tuning, chosen = {}, {}
    for variant in experiment.variants:  # first seed only
        tuning.setdefault(variant.model, {})[variant.label] = runner.result(
            variant_config(variant, seeds[0], quick), variant.label
        )
    for model, candidates in tuning.items():
        chosen[model] = max(
            candidates, key=lambda label: candidates[label]["summary"]["best_val_accuracy"]
        )
    finals = [v for v in experiment.variants if chosen[v.model] == v.label]
    runner.train_ahead(variant_runs(finals, seeds, quick))
    variants = {
        v.model: [runner.result(variant_config(v, s, quick), v.label) for s in seeds]
        for v in finals
    }
    return {"variants": variants, "tuning": tuning, "chosen": chosen}


def chosen_pooling(q16, result: dict) -> str:
    """Q16's choice for Q17: the pooling ("max" or "mean") of the variant with the best mean
    validation accuracy."""
    best = best_by_mean(result["variants"], "best_val_accuracy")
    return dict(next(v for v in q16.variants if v.label == best).overrides)["pooling"]


class CallLog:
    """``DIR/calls.jsonl``: a line after every run a call of train.report trains or reuses, and one
    at its end, so that the report can say what building it took in all, however often it was
    interrupted: a call killed part-way counts up to its last finished run."""

    def __init__(self, report_dir: Path, jobs: int = 1):
        self.path = report_dir / "calls.jsonl"
        self.jobs = jobs  # as asked for: a call that falls back to one job still trained in N
        self.call = f"{datetime.datetime.now():%Y-%m-%dT%H:%M:%S}-{os.getpid()}"
        self.start = time.perf_counter()

    def write(self, runner: Runner, finished: bool = False) -> dict:
        record = {
            "call": self.call,
            "runs_trained": runner.trained,
            "runs_reused": runner.reused,
            "seconds": time.perf_counter() - self.start,
            "finished": finished,
            "jobs": self.jobs,
        }
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        return record

    def calls(self) -> list[dict]:
        """The last line of every call, oldest call first."""
        last = {}
        for line in self.path.read_text().splitlines():
            record = json.loads(line)
            last[record["call"]] = record  # a key keeps its first place
        return list(last.values())


def make_report(report_dir: Path, quick: bool, cache=None, data=None, jobs: int = 1) -> dict:
    from train.report.render import write_report

    # a bad --jobs fails before anything is written
    training_processes.core_shares(training_processes.allowed_cores(), jobs)
    if jobs > 1:
        import jax

        if jax.default_backend() != "cpu":  # each process would claim most of the device
            raise ConfigError(
                f"--jobs {jobs} shares out CPU cores: on a {jax.default_backend()}, "
                "train one run at a time (--jobs 1)"
            )
    report_dir.mkdir(parents=True, exist_ok=True)
    seeds = configs.report.QUICK_SEEDS if quick else configs.report.SEEDS
    log = CallLog(report_dir, jobs)
    runner = Runner(report_dir, cache_dir(cache), data_dir(data), jobs)
    runner.on_run = lambda: log.write(runner)
    use_compilation_cache(runner.cache)
    experiments = configs.report.get_experiments(quick)
    # with --jobs, every run that waits on no other's result at once: the untuned experiments'
    untuned = [v for e in experiments if not e.tune_on_validation for v in e.variants]
    runner.train_ahead(variant_runs(untuned, seeds, quick))
    results = {e.key: run_experiment(e, runner, seeds, quick) for e in experiments}
    pooling = chosen_pooling(next(e for e in experiments if e.key == "q16"), results["q16"])
    results["q17"] = run_experiment(
        configs.report.q17_experiment(pooling, quick), runner, seeds, quick
    ) | {"pooling": pooling}
    this_call = log.write(runner, finished=True)
    info = {
        "quick": quick,
        "seeds": list(seeds),
        **{key: this_call[key] for key in ("runs_trained", "runs_reused", "seconds")},
        "calls": log.calls(),
    }
    write_report(report_dir, results, info, runner.cache, runner.data)
    return info
