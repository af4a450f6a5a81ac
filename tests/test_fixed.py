"""train.fixed: the Q8 network, the command line, and a short real MNIST run."""

import json
import os
import subprocess
import sys

import ml_collections
import pytest
from flax import nnx
from synthetic import open_run

import configs.fixed
from train.errors import RunDirError
from train.models import FixedCNN, num_params

DATA_DIR = os.environ.get("JAXCONV_DATA_DIR")


@pytest.mark.slow
def test_fixed_network_has_the_tables_29066_parameters():
    assert num_params(FixedCNN(rngs=nnx.Rngs(0))) == 29_066


@pytest.mark.slow
def test_fixed_network_at_64x64_has_a_linear_layer_over_64x8x8():
    model = FixedCNN(input_size=64, rngs=nnx.Rngs(0))
    assert model.linear.kernel.shape == (64 * 8 * 8, 10)


def test_existing_workdir_is_refused_and_left_alone(tmp_path):
    (tmp_path / "metrics.jsonl").write_text("precious\n")
    with pytest.raises(RunDirError, match="refusing to overwrite .* --resume"):
        open_run(tmp_path, False, configs.fixed.get_config(), {})
    assert (tmp_path / "metrics.jsonl").read_text() == "precious\n"


def test_resume_needs_a_saved_config(tmp_path):
    with pytest.raises(RunDirError, match="nothing to resume"):
        open_run(tmp_path, True, configs.fixed.get_config(), {})


def test_resume_takes_the_saved_config_plus_new_overrides(tmp_path):
    config = configs.fixed.get_config()
    config.learning_rate = 3e-3
    open_run(tmp_path / "run", False, config, {})
    resumed = open_run(tmp_path / "run", True, configs.fixed.get_config(), {"num_epochs": 7})
    assert resumed.learning_rate == 3e-3 and resumed.num_epochs == 7
    assert json.loads((tmp_path / "run" / "config.json").read_text())["num_epochs"] == 7


@pytest.mark.slow
@pytest.mark.skipif(
    not DATA_DIR, reason="JAXCONV_DATA_DIR is unset: the short real training run needs MNIST"
)
def test_short_real_mnist_run_from_the_command_line(tmp_path, mnist_cache):
    """A CI-sized run of python -m train.fixed: 3,000 images, 2 epochs."""
    workdir = tmp_path / "run"
    command = [
        sys.executable, "-m", "train.fixed", f"--workdir={workdir}", f"--cache_dir={mnist_cache}",
        "--config.num_epochs=2", "--config.max_train_examples=3000",
        "--config.max_eval_examples=2000",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    summary = json.loads((workdir / "summary.json").read_text())
    assert metrics[1]["train_loss"] < metrics[0]["train_loss"]
    assert summary["test_accuracy"] > 0.85 and summary["test_n"] == 2000  # chance is 0.10
    assert summary["num_params"] == 29_066
    assert (
        ml_collections.ConfigDict(
            json.loads((workdir / "config.json").read_text())
        ).max_train_examples
        == 3000
    )
    # train.evaluate on the run's own test split reproduces the summary's number
    evaluated = subprocess.run(
        [
            sys.executable,
            "-m",
            "train.evaluate",
            f"--workdir={workdir}",
            f"--cache_dir={mnist_cache}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    result = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert result["n"] == 2000 and result["accuracy"] == summary["test_accuracy"]
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr
