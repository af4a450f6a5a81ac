"""Data parallelism: the same training on one device, on two (forced host) devices of one process,
and on two processes of one device each (jax.distributed over gloo) gives the same losses."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

# trains networks (shared module fixtures): the whole module is in the full suite only
pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).parent / "data_parallel_run.py"


def environment(devices: int) -> dict:
    forced = f"--xla_force_host_platform_device_count={devices}"
    return {**os.environ, "XLA_FLAGS": forced, "JAX_PLATFORMS": "cpu"}


def train_on(devices: int, workdir: Path, which: str) -> dict:
    command = [sys.executable, str(SCRIPT), str(workdir), which]
    env = environment(devices)
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def train_on_processes(count: int, workdir: Path, which: str) -> dict:
    """``count`` one-device processes on localhost sharing ``workdir``: process 0's result."""
    with socket.socket() as s:  # a free port for the coordinator
        s.bind(("localhost", 0))
        address = f"localhost:{s.getsockname()[1]}"
    command = [sys.executable, str(SCRIPT), str(workdir), which, address, str(count)]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    env = environment(1)
    processes = [subprocess.Popen([*command, str(i)], env=env, **pipes) for i in range(count)]
    outputs = [p.communicate(timeout=300) for p in processes]
    for p, (_, err) in zip(processes, outputs):
        assert p.returncode == 0, err[-3000:]
    return json.loads(outputs[0][0].strip().splitlines()[-1])


@pytest.fixture(scope="module")
def two_devices(tmp_path_factory):
    """``two_devices(which)``: the result of one process with two devices, run once per module."""
    runs = {}

    def result(which: str) -> dict:
        if which not in runs:
            runs[which] = train_on(2, tmp_path_factory.mktemp(which) / "run", which)
        return runs[which]

    return result


def assert_same_training(a: dict, b: dict) -> None:
    assert a["test_n"] == b["test_n"]
    for x, y in zip(a["metrics"], b["metrics"], strict=True):
        for name in ("train_loss", "val_loss"):
            assert y[name] == pytest.approx(x[name], rel=1e-4), name
        assert y["val_accuracy"] == pytest.approx(x["val_accuracy"], abs=0.02)
    assert b["test_loss"] == pytest.approx(a["test_loss"], rel=1e-4)


@pytest.mark.parametrize("which", ["fixed", "varres"])
def test_two_devices_give_the_losses_of_one(tmp_path, which, two_devices):
    one, two = train_on(1, tmp_path / "one", which), two_devices(which)
    assert (one["devices"], two["devices"]) == (1, 2)
    assert_same_training(one, two)


def test_two_processes_give_the_losses_of_one_process_with_two_devices(tmp_path, two_devices):
    """train.fixed on two processes (jax.distributed, gloo); train.varres takes the same path."""
    found = train_on_processes(2, tmp_path / "run", "fixed")
    assert (found["processes"], found["devices"]) == (2, 2)
    assert_same_training(two_devices("fixed"), found)
    run = tmp_path / "run"  # written once, by process 0, with Orbax checkpoints of the shared state
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    assert json.loads((run / "summary.json").read_text())["status"] == "finished"
    assert (run / "checkpoints" / "last" / "2" / "state").is_dir()
