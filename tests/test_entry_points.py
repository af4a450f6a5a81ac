"""Every entry point: --help shows its own flags (and the trainers' config fields with their
defaults), and a user error ends as one line on stderr with exit status 2 (train.errors)."""

import subprocess
import sys

import pytest

from train.errors import ConfigError, exit_on_user_error


def help_text(module: str, status: int = 0) -> str:
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == status, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize(
    "trainer, default", [("fixed", "config.pooling"), ("varres", "config.pooling = 'max'")]
)
def test_trainer_help_shows_its_flags_and_config_fields_with_defaults(trainer, default):
    text = help_text(f"train.{trainer}", status=1)  # absl's --help exits with 1
    for flag in ("--workdir", "--[no]resume", "--config", "--cache_dir", "--data_dir"):
        assert flag in text, flag
    assert "config.learning_rate = 0.002" in text and "config.batch_size = 16" in text
    assert (default in text) == (trainer == "varres")  # each lists its own config's fields
    assert "--helpfull" in text and "--jax_" not in text  # absl's and jax's flags stay hidden


def test_report_help_shows_its_flags():
    text = help_text("train.report")
    assert "--workdir" in text and "--quick" in text and "smoke test" in text and "--jobs" in text


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["0", "999"])
def test_report_refuses_a_bad_number_of_jobs_in_one_line_before_any_work(jobs, tmp_path):
    command = [sys.executable, "-m", "train.report", f"--workdir={tmp_path / 'report'}"]
    done = subprocess.run(command + ["--jobs", jobs], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith("error: --jobs must be an integer from 1 to the ")
    assert done.stderr.endswith(f"got {jobs}\n") and done.stderr.count("\n") == 1
    assert not (tmp_path / "report").exists()  # nothing written


def test_exit_on_user_error_is_one_line_on_stderr_and_status_2(capsys):
    with pytest.raises(SystemExit) as info, exit_on_user_error():
        raise ConfigError("config.batch_size = 0: must be an integer >= 1")
    assert info.value.code == 2
    assert capsys.readouterr().err == "error: config.batch_size = 0: must be an integer >= 1\n"


def test_exit_on_user_error_passes_other_errors_and_takes_extra_types(capsys):
    with pytest.raises(KeyError), exit_on_user_error():
        raise KeyError("a bug keeps its traceback")
    with pytest.raises(SystemExit), exit_on_user_error(ValueError):
        raise ValueError("cannot decode image.png")
    assert capsys.readouterr().err == "error: cannot decode image.png\n"


def test_exit_on_user_error_ends_an_interrupt_in_its_one_line(capsys):
    from train.run import Interrupted

    with pytest.raises(SystemExit) as info, exit_on_user_error():
        raise Interrupted("interrupted in epoch 2; --resume continues after epoch 1", 15)
    assert info.value.code == 143
    with pytest.raises(SystemExit) as info, exit_on_user_error():
        raise KeyboardInterrupt  # Ctrl-C outside a run
    assert info.value.code == 130
    err = capsys.readouterr().err
    assert err == "interrupted in epoch 2; --resume continues after epoch 1\ninterrupted\n"
