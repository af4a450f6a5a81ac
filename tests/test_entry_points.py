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


@pytest.mark.parametrize(
    "module",
    ["train.fixed", "train.varres", "train.report.__main__", "train.report.jobs", "train.bench"],
)
def test_entry_points_import_no_jax_before_they_re_execute(module):
    # the glibc re-exec (train/glibc_reexec.py) runs every import made before it a second time:
    # importing jax there cost a second ~2 s import on every start of a trainer
    code = f"import sys, {module}; print(sorted(m for m in ('jax', 'flax') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


class Restarted(Exception):
    """What the test's stand-in for ``os.execve`` raises, with the environment it was given."""


@pytest.mark.skipif(sys.platform != "linux", reason="the thresholds are glibc's")
def test_trainers_restart_once_with_glibc_keeping_freed_memory_in_the_heap(monkeypatch):
    # why they do: docs/performance.md, "Process set-up"
    from train import cli, glibc_reexec

    def execve(path, argv, env):
        raise Restarted(env)

    for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "JAXCONV_NO_REEXEC"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("os.execve", execve)
    with pytest.raises(Restarted) as restart:
        cli.main("fixed")  # restarts before it defines or parses anything
    env = restart.value.args[0]
    assert int(env["MALLOC_MMAP_THRESHOLD_"]) >= 2**31 - 1  # above any of XLA's temporaries
    assert int(env["MALLOC_TRIM_THRESHOLD_"]) >= 2**31 - 1
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "4096")  # the user's own setting wins: no restart
    glibc_reexec.keep_freed_memory_in_heap()
