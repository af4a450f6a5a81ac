"""Ctrl-C or SIGTERM during training: one line saying where --resume continues, exit status
128 + the signal, and a resume that ends exactly as the uninterrupted run (synthetic data, in a
subprocess)."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from synthetic import outcome

SCRIPT = Path(__file__).parent / "synthetic_cli.py"
CONFIG = [
    "--config.num_epochs=3",
    "--config.batch_size=16",
    "--config.learning_rate=0.003",
    "--config.steps_per_call=8",
    "--config.eval_batch_size=100",
    "--config.fixed.channels=(4, 8, 8)",  # the tiny network of the other run tests
]


def command(workdir, *extra):
    return [sys.executable, str(SCRIPT), f"--workdir={workdir}", *CONFIG, *extra]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("uninterrupted") / "run"
    done = subprocess.run(command(workdir), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return outcome(workdir)


def interrupt_in_epoch_2(workdir, signum):
    """Start the run, send ``signum`` once epoch 1 is logged (epoch 2 then sleeps); returns
    (exit status, stderr)."""
    env = os.environ | {"SLEEP_IN_EPOCH": "2"}
    process = subprocess.Popen(
        command(workdir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    for line in process.stdout:
        if line.startswith("epoch 1/3"):
            process.send_signal(signum)
            break
    _, stderr = process.communicate(timeout=300)
    return process.returncode, stderr


@pytest.mark.slow
@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_says_where_to_resume_and_resumes_exactly(
    tmp_path, uninterrupted, signum, status
):
    workdir = tmp_path / "run"
    returncode, stderr = interrupt_in_epoch_2(workdir, signum)
    assert returncode == status, stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == (
        "interrupted in epoch 2; --resume continues after epoch 1"
    )
    assert "Traceback" not in stderr
    assert [json.loads(line)["epoch"] for line in open(workdir / "metrics.jsonl")] == [1]
    resumed = subprocess.run(
        command(workdir, "--resume"), capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert outcome(workdir) == uninterrupted
