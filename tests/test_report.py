"""python -m train.report --quick: the whole report machinery end to end, and its resumability."""

import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from train.report.build import make_report
from train.report.jobs import allowed_cores
from train.report.stats import sweep_grid

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("JAXCONV_DATA_DIR"),
        reason="JAXCONV_DATA_DIR is unset: the report trains on MNIST and mnist-varres",
    ),
    pytest.mark.slow,  # trains networks (shared module fixtures): in the full suite only
]

FIGURES = ("q8_heatmap", "q9_augmentation", "q9_examples", "q16_pooling", "q17_models")


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory, mnist_cache):
    """One quick report for the module: (its folder, make_report's info, the parsed
    results.json)."""
    report_dir = tmp_path_factory.mktemp("report")
    info = make_report(report_dir, quick=True, cache=mnist_cache)
    return report_dir, info, json.loads((report_dir / "results.json").read_text())["results"]


def test_quick_report_says_on_its_first_line_that_it_is_a_smoke_test(quick_report):
    first = (quick_report[0] / "report.md").read_text().splitlines()[0]
    assert "smoke test" in first and "--quick" in first and "mean nothing" in first


def test_q8_heatmap_holds_each_learning_rate_and_batch_validation_accuracy(quick_report):
    variants = quick_report[2]["q8"]["variants"]
    lrs, batches, grid = sweep_grid(variants, "best_val_accuracy")  # test only for the chosen cell
    assert grid.shape == (len(lrs), len(batches)) == (2, 2)  # --quick: 2 learning rates x 2 batches
    for runs in variants.values():
        config = runs[0]["config"]
        i, j = lrs.index(config["learning_rate"]), batches.index(config["batch_size"])
        assert grid[i, j] == np.mean([r["summary"]["best_val_accuracy"] for r in runs])


def test_quick_report_answers_every_question(quick_report):
    report_dir, _, results = quick_report
    report = (report_dir / "report.md").read_text()
    for question in (
        "Q1.",
        "Q2.",
        "Q3.",
        "Q4-Q6.",
        "Q7.",
        "Q8.",
        "Q9.",
        "Q10.",
        "Q11.",
        "Q12.",
        "Q13.",
        "Q14.",
        "Q15.",
        "Q16.",
        "Q17.",
    ):
        assert f"**{question}**" in report, question
    assert set(results) == {"q8", "q9", "q12", "q16", "q17"}


def test_quick_report_computes_the_shape_and_parameter_answers(quick_report):
    report = (quick_report[0] / "report.md").read_text()
    assert "16×383×511" in report and "16×539×959" in report  # Q10, from jaxconv.output_size
    assert "x has 8 input channels" in report  # the 8-channel image, refused
    assert "29,066" in report and "29,029" in report  # Q15


def test_quick_report_writes_and_links_every_figure(quick_report):
    report_dir = quick_report[0]
    report = (report_dir / "report.md").read_text()
    for figure in FIGURES:
        assert (report_dir / "figures" / f"{figure}.png").read_bytes()[
            :8
        ] == b"\x89PNG\r\n\x1a\n", figure
        assert f"figures/{figure}.png" in report, figure


def test_q17_uses_the_pooling_q16_chose_and_shares_its_run(quick_report):
    _, _, results = quick_report
    mean_val = {
        label: runs[0]["summary"]["best_val_accuracy"]
        for label, runs in results["q16"]["variants"].items()
    }
    assert results["q17"]["pooling"] == max(mean_val, key=mean_val.get).removeprefix("global ")
    # the Q16 run of the chosen pooling is the same run as Q17's variable network at the same
    # learning rate
    q16_run = results["q16"]["variants"][f"global {results['q17']['pooling']}"][0]["run"]
    q17_runs = {
        run["run"]
        for candidates in results["q17"]["tuning"].values()
        for run in candidates.values()
    }
    assert q16_run in q17_runs


def test_an_interrupted_report_reuses_finished_runs_and_redoes_the_rest(quick_report, mnist_cache):
    report_dir, info, results = quick_report
    unfinished = report_dir / "runs" / results["q12"]["variants"]["fixed, resized to 28"][0]["run"]
    (unfinished / "summary.json").unlink()
    again = make_report(report_dir, quick=True, cache=mnist_cache)
    assert again["runs_trained"] == 1
    assert again["runs_reused"] == info["runs_trained"] + info["runs_reused"] - 1
    assert (unfinished / "summary.json").is_file()
    assert len(again["calls"]) == 2  # the report counts the time of both calls


# python -m train.report whose runs wait 600 s before loading their data: a signal sent once it
# prints "training" lands in that wait or just before it, in a run. As a terminal's process, it
# takes Ctrl-C as KeyboardInterrupt (a pytest-xdist worker's children may inherit SIGINT ignored),
# and its garbage collector is off: a signal that lands in one of jaxlib's garbage-collection
# callbacks is printed and dropped by Python (a known gap of every JAX process).
REPORT_WITH_SLOW_DATA = (
    "import gc, signal; gc.disable(); signal.signal(signal.SIGINT, signal.default_int_handler); "
    "import time; import train.report.runs as runs; load = runs.load_datasets; "
    "runs.load_datasets = lambda *args, **kwargs: (time.sleep(600), load(*args, **kwargs))[1]; "
    "from train.report.__main__ import main; main()"
)


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_report_says_so_in_one_line_and_the_same_command_continues(
    quick_report, mnist_cache, tmp_path, signum, status
):
    source, info, results = quick_report
    report_dir = tmp_path / "report"
    shutil.copytree(source / "runs", report_dir / "runs")
    label = "fixed, resized to 28"
    run = report_dir / "runs" / results["q12"]["variants"][label][0]["run"]
    shutil.rmtree(run)  # the one run the next call trains: interrupted while it does
    command = [sys.executable, "-c", REPORT_WITH_SLOW_DATA, f"--workdir={report_dir}", "--quick"]
    process = subprocess.Popen(
        command + [f"--cache_dir={mnist_cache}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in process.stdout:
        if line.startswith("training "):
            process.send_signal(signum)
            break
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == status, stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == (
        f"train.report interrupted while training {label}, seed 0 ({run}); the same command "
        "continues: finished runs are reused, unfinished ones resume from their last finished epoch"
    )
    assert "Traceback" not in stderr
    again = make_report(report_dir, quick=True, cache=mnist_cache)  # nothing lost: one run to train
    assert (again["runs_trained"], again["runs_reused"]) == (
        1,
        info["runs_trained"] + info["runs_reused"] - 1,
    )


@pytest.mark.skipif(len(allowed_cores()) < 2, reason="two jobs need two CPU cores")
def test_a_report_in_two_jobs_trains_the_same_runs_as_in_one(quick_report, mnist_cache, tmp_path):
    _, info, results = quick_report
    in_jobs = make_report(tmp_path, quick=True, cache=mnist_cache, jobs=2)
    assert (in_jobs["runs_trained"], in_jobs["runs_reused"]) == (
        info["runs_trained"],
        info["runs_reused"],
    )
    results_in_jobs = json.loads((tmp_path / "results.json").read_text())["results"]

    def runs(results):  # run id -> its summary, over every experiment
        found = {}
        for experiment in results.values():
            for per_seed in experiment["variants"].values():
                for run in per_seed:
                    found[run["run"]] = run["summary"]
        return found

    # every run trained in a job process, none here (each writes its pid into the locks it takes);
    # two processes for the runs that wait on no other, two for Q17's tuning runs
    holders = {lock.read_text().split()[1] for lock in tmp_path.glob("runs/*/run.lock")}
    assert len(holders) >= 2 and str(os.getpid()) not in holders
    alone, together = runs(results), runs(results_in_jobs)
    assert together.keys() == alone.keys()
    for run, summary in alone.items():
        assert together[run]["epochs"] == summary["epochs"]
        assert together[run]["test_loss"] == pytest.approx(summary["test_loss"], rel=1e-4)
