"""train.report --jobs without training: the cores, the processes, the counts, the refusals (the
runs it trains: tests/test_report.py)."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

import configs.report
from train.errors import ConfigError
from train.report.build import make_report, variant_runs
from train.report.jobs import core_shares, train_in_processes
from train.report.runs import Runner, run_id


def test_core_shares_deal_every_process_its_own_cores():
    assert core_shares([0, 1], 2) == [[0], [1]]
    assert core_shares([0, 1, 2, 3], 2) == [[0, 2], [1, 3]]
    assert core_shares([0, 1, 2], 1) == [[0, 1, 2]]
    for bad in (0, 3, 1.5):
        with pytest.raises(ConfigError, match="--jobs must be an integer from 1 to the 2 cores"):
            core_shares([0, 1], bad)


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_a_job_process_dies_with_the_report_that_started_it():
    job = "from train.report.job_main import exit_with_parent; import time; "
    job += "exit_with_parent(); print('ready', flush=True); time.sleep(60)"
    report = "import subprocess, sys, time; "
    report += f"p = subprocess.Popen([sys.executable, '-c', {job!r}], stdout=subprocess.PIPE, "
    report += "stdin=subprocess.PIPE); "  # as jobs.py starts a job
    report += "p.stdout.readline(); print(p.pid, flush=True); time.sleep(60)"
    parent = subprocess.Popen([sys.executable, "-c", report], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.kill()  # SIGKILL: no Python code of the report runs
    parent.wait()

    def alive(pid):  # a zombie (dead, not yet reaped) counts as dead
        status = Path(f"/proc/{pid}/status")
        return status.exists() and "\nState:\tZ" not in status.read_text()

    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)


def test_a_job_process_whose_report_lives_ends_as_it_would_without_the_watch():
    job = "from train.report.job_main import exit_with_parent; exit_with_parent(); print('done')"
    process = subprocess.Popen(
        [sys.executable, "-c", job], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.read() == "done\n"
    assert process.wait(timeout=60) == 0  # its stdin still open: the watch is still waiting
    process.stdin.close()


def quick_runs(count):
    experiment = configs.report.get_experiments(quick=True)[0]
    return variant_runs(experiment.variants[:count], (0,), quick=True)


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.setattr("train.report.runs.load_datasets", lambda *args, **kwargs: None)
    runner = Runner(tmp_path, cache=tmp_path / "cache", data=None, jobs=2)
    runner.logged = 0

    def on_run():
        runner.logged += 1

    runner.on_run = on_run
    return runner


def finish(runner, config):
    (runner.runs_dir / run_id(config)).mkdir(parents=True)
    (runner.runs_dir / run_id(config) / "summary.json").write_text('{"status": "finished"}')


def test_train_ahead_counts_what_the_jobs_finished_even_when_interrupted(runner, monkeypatch):
    runs = quick_runs(2)

    def one_then_interrupted(*args):
        finish(runner, runs[0][0])
        raise KeyboardInterrupt

    monkeypatch.setattr("train.report.jobs.train_in_processes", one_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.train_ahead(runs)
    assert (runner.trained, runner.logged) == (1, 1)  # counted, and the call log written
    runner.result(*runs[0])  # the ordinary pass finds it: counted once, not again as reused
    assert (runner.trained, runner.reused) == (1, 0)
    runner.result(*runs[0])
    assert (runner.trained, runner.reused) == (1, 1)


def test_train_ahead_goes_on_with_one_job_after_a_process_fails(runner, monkeypatch, capsys):
    monkeypatch.setattr("train.report.jobs.train_in_processes", lambda *args: [1, 0])
    runner.train_ahead(quick_runs(2))
    assert runner.jobs == 1
    assert "goes on with one run at a time" in capsys.readouterr().err


def test_no_more_job_processes_than_runs(tmp_path, monkeypatch):
    started = []

    class Process:
        def __init__(self, command, **kwargs):
            started.append(command)

        def wait(self):
            return 0

        def poll(self):
            return 0

    monkeypatch.setattr("train.report.jobs.allowed_cores", lambda: [0, 1])
    monkeypatch.setattr("subprocess.Popen", Process)
    entry = {"run": "r", "label": "l", "config": {}}
    assert train_in_processes([entry], 2, tmp_path, tmp_path, None) == [0]
    assert len(started) == 1 and started[0][-1] == "--cores=0,1"  # one process, both cores
    assert train_in_processes([entry, entry], 2, tmp_path, tmp_path, None) == [0, 0]
    assert [c[-1] for c in started[1:]] == ["--cores=0", "--cores=1"]


def test_jobs_are_refused_off_the_cpu_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr("train.report.jobs.allowed_cores", lambda: [0, 1])
    monkeypatch.setattr("jax.default_backend", lambda: "gpu")
    with pytest.raises(ConfigError, match="--jobs 2 shares out CPU cores: on a gpu"):
        make_report(tmp_path / "report", quick=True, jobs=2)
    assert not (tmp_path / "report").exists()
