"""Data parallelism: the same training on one and on two (forced host) devices gives the same losses."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "data_parallel_run.py"


def train_on(devices: int, workdir: Path, which: str) -> dict:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, str(SCRIPT), str(workdir), which], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("which", ["fixed", "varres"])
def test_two_devices_give_the_losses_of_one(tmp_path, which):
    one = train_on(1, tmp_path / "one", which)
    two = train_on(2, tmp_path / "two", which)
    assert (one["devices"], two["devices"]) == (1, 2)
    assert one["test_n"] == two["test_n"]
    for a, b in zip(one["metrics"], two["metrics"]):
        for name in ("train_loss", "val_loss"):
            assert b[name] == pytest.approx(a[name], rel=1e-4), name
        assert b["val_accuracy"] == pytest.approx(a["val_accuracy"], abs=0.02)
    assert two["test_loss"] == pytest.approx(one["test_loss"], rel=1e-4)
