"""Build the report: train or reuse every run of configs/report.py's experiments (runs.py), then
write ``DIR/report.md``, ``DIR/results.json`` and ``DIR/figures/``."""

from __future__ import annotations

import datetime
import json
import os
import signal
import time
from pathlib import Path

import jax

import configs.report
from train.compilation_cache import use_compilation_cache
from train.data.cache import cache_dir, data_dir
from train.errors import ConfigError
from train.report import facts, figures, render
from train.report import jobs as training_processes
from train.report.runs import Runner, variant_config
from train.report.stats import best_by_mean
from train.run import Interrupted


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
    """Train or reuse every run of the report in ``report_dir``, then write the report; returns
    the call's ``info`` (results.json's). Ctrl-C or SIGTERM ends it as ``Interrupted``, whose
    message says what it interrupted and that the same command continues."""
    # a bad --jobs fails before anything is written
    training_processes.core_shares(training_processes.allowed_cores(), jobs)
    if jobs > 1 and jax.default_backend() != "cpu":  # each process would claim most of the device
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
    try:
        results = run_experiments(runner, seeds, quick)
        this_call = log.write(runner, finished=True)
        info = {
            "quick": quick,
            "seeds": list(seeds),
            **{key: this_call[key] for key in ("runs_trained", "runs_reused", "seconds")},
            "calls": log.calls(),
        }
        runner.doing = "while writing the report"
        write_report(report_dir, results, info, runner.cache, runner.data)
    except KeyboardInterrupt as err:
        raise Interrupted(
            f"train.report interrupted {runner.doing}; the same command continues: finished runs "
            "are reused, unfinished ones resume from their last finished epoch",
            getattr(err, "signum", signal.SIGINT),
        ) from None
    return info


def run_experiments(runner: Runner, seeds, quick: bool) -> dict:
    """{experiment key: its results} of every experiment of configs/report.py, and Q17's."""
    experiments = configs.report.get_experiments(quick)
    # with --jobs, every run that waits on no other's result at once: the untuned experiments'
    untuned = [v for e in experiments if not e.tune_on_validation for v in e.variants]
    runner.train_ahead(variant_runs(untuned, seeds, quick))
    results = {e.key: run_experiment(e, runner, seeds, quick) for e in experiments}
    pooling = chosen_pooling(next(e for e in experiments if e.key == "q16"), results["q16"])
    q17 = configs.report.q17_experiment(pooling, quick)
    results["q17"] = run_experiment(q17, runner, seeds, quick) | {"pooling": pooling}
    return results


def write_report(
    report_dir: Path, results: dict, info: dict, cache: Path, data: Path | None
) -> None:
    """report.md, results.json and figures/ from the experiments' results."""
    (report_dir / "figures").mkdir(exist_ok=True)
    examples = facts.augmented_examples(cache, data)
    figures.draw_report_figures(report_dir / "figures", results, examples)
    markdown = render.report_markdown(results, info, facts.code_facts())
    (report_dir / "report.md").write_text(markdown)
    text = json.dumps({"info": info, "results": results}, indent=1)
    (report_dir / "results.json").write_text(text + "\n")
