"""One run of the report: its config (a variant of configs/report.py and a seed), its folder
``DIR/runs/<run_id>`` (a hash of the resolved config, so a run shared by two experiments is trained
once, a finished run is reused and an interrupted one resumes from its last checkpoint), trained by
the same code as train.fixed and train.varres."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import ml_collections

import configs.fixed
import configs.report
import configs.varres
from train import config_check
from train.data.datasets import load_datasets
from train.errors import RunDirError, RunInUseError
from train.loop import train_and_evaluate
from train.models import model_factory
from train.progress import EpochProgress
from train.report import jobs as training_processes
from train.run import Run
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
        self.doing = "between runs"  # what Ctrl-C would interrupt, for its message

    def train_ahead(self, runs) -> None:
        """Train the unfinished ones of ``runs`` ((config, label) pairs) in ``self.jobs``
        processes at once; with one job, nothing: ``result`` trains each in its turn. After a
        process fails, the report goes on with one job."""
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
        self.doing = f"while {min(self.jobs, len(plan))} processes trained {len(plan)} runs"
        try:
            statuses = training_processes.train_in_processes(
                list(plan.values()), self.jobs, self.report_dir, self.cache, self.data
            )
            self.doing = "between runs"
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
            self.doing = "between runs"
        self.on_run()
        summary, metrics = files.read_summary(), files.read_metrics()
        result = {"run": files.path.name, "seed": config.seed, "config": config.to_dict()}
        return result | {"summary": summary, "metrics": metrics}

    def train(self, config, label: str) -> None:
        """Train the run of ``config``, or resume it; nothing if another process finished it
        meanwhile. RunInUseError if another process holds it."""
        path = self.runs_dir / run_id(config)
        self.doing = f"while training {label}, seed {config.seed} ({path})"
        with Run.open(path, config, resume=None) as run:
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


def train_plan(plan: list[dict], report_dir: Path, cache: Path, data) -> None:
    """One process's walk through the plan: train each run it can lock and nobody has finished."""
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
