"""The command line shared by train.fixed and train.varres, in the Flax examples' style.

    python -m train.<name> [--workdir DIR] [--resume] [--config.FIELD=VALUE ...]
                           [--cache_dir DIR] [--data_dir DIR]

The config is ``configs/<name>.py`` (``get_config()``), overridable field by
field. A new run needs a new (or empty) workdir; ``--resume`` continues the run
in an existing one from its last committed epoch with its saved config; a
``--config.*`` given now that would change the epochs already done is refused
(train/rundir.py).
"""

from __future__ import annotations

import datetime
import importlib
import sys
from pathlib import Path

import ml_collections
from absl import app, flags
from absl import logging as absl_logging
from ml_collections import config_flags

import configs
from train import config_check, glibc_reexec
from train.data.cache import cache_dir, data_dir
from train.errors import ConfigError, exit_on_user_error
from train.rundir import RunDir

FLAGS = flags.FLAGS


def prepare_workdir(
    workdir: Path, resume: bool, config: ml_collections.ConfigDict, overrides: dict
) -> ml_collections.ConfigDict:
    """Check the workdir and write ``config.json`` at once (train/rundir.py); returns the config to
    run.

    A new run refuses a non-empty workdir (nothing is ever overwritten). A resumed run takes the
    saved config and applies ``overrides`` to it, refusing those that would change its finished
    epochs.
    """
    run_dir = RunDir(workdir)
    config = run_dir.config_to_run(config, resume, overrides)
    run_dir.start(config, resume)
    run_dir.release()
    return config


def run(
    name: str,
    config: ml_collections.ConfigDict,
    workdir: Path,
    resume: bool,
    overrides: dict,
    cache=None,
    data=None,
) -> dict:
    """Load the data, train and evaluate: the whole job behind ``python -m train.<name>``.

    Nothing is written into the workdir before the data has loaded (a resume takes its lock first).
    """
    # heavy imports after flag parsing
    from train import distributed
    from train.compilation_cache import use_compilation_cache
    from train.data.datasets import load_datasets
    from train.loop import train_and_evaluate
    from train.models import model_factory

    config_check.validate(config)  # every field, before the workdir or the data is touched
    run_dir, created = distributed.view_of_run(RunDir(workdir)), False  # only process 0 writes
    try:
        config = run_dir.config_to_run(config, resume, overrides)
        if distributed.is_primary():
            print(
                f"{name}: workdir {workdir}\nconfig: {config.to_json_best_effort(sort_keys=True)}",
                flush=True,
            )
        datasets = load_datasets(config, cache_dir(cache), data_dir(data))
        use_compilation_cache(cache_dir(cache))
        run_dir.start(config, resume)
        created = not resume
        return train_and_evaluate(config, run_dir, datasets, model_factory(config), resume=resume)
    except ConfigError:
        if created:  # refused before its first epoch: a failed start leaves no half-made run
            run_dir.release()
            run_dir.discard_new()
        raise
    finally:
        run_dir.release()


def config_fields_help(config: ml_collections.ConfigDict) -> str:
    """One line per field of the config, with its default: ``config.batch_size = 16``."""
    fields = config_check.flatten(config).items()
    return "\n".join(f"config.{field} = {value!r}" for field, value in fields)


def main(name: str) -> None:
    """Define the flags, parse them and run; user errors end in one line on stderr, exit status 2.

    ``--help`` lists these flags and every config field with its default: absl shows only the key
    flags of the main module (``python -m train.<name>``), so they are registered as its own.
    """
    glibc_reexec.keep_freed_memory_in_heap()
    config_file = Path(configs.__file__).parent / f"{name}.py"
    fields = config_fields_help(importlib.import_module(f"configs.{name}").get_config())
    config_flags.DEFINE_config_file(
        "config",
        str(config_file),
        f"Training configuration file; set one field with --config.FIELD=VALUE. The fields of "
        f"configs/{name}.py, with their defaults:\n{fields}",
        lock_config=True,
    )
    flags.DEFINE_string(
        "workdir",
        None,
        f"Run directory; must be new or empty unless --resume (default: runs/{name}-<time>).",
    )
    flags.DEFINE_bool("resume", False, "Continue the run in --workdir from its last checkpoint.")
    flags.DEFINE_string(
        "cache_dir", None, "Cache folder (default: $JAXCONV_CACHE_DIR or ~/.cache/jaxconv)."
    )
    flags.DEFINE_string("data_dir", None, "Read-only data folder (default: $JAXCONV_DATA_DIR).")
    flags.DEFINE_string(
        "coordinator_address",
        None,
        "Several processes: process 0's HOST:PORT (train/distributed.py).",
    )
    flags.DEFINE_integer(
        "num_processes", None, "Several processes: how many (default: $JAX_NUM_PROCESSES)."
    )
    flags.DEFINE_integer(
        "process_id", None, "Several processes: this one's index (default: $JAX_PROCESS_ID)."
    )
    for flag in FLAGS.get_key_flags_for_module(__name__):  # every flag defined above
        FLAGS.register_key_flag_for_module(sys.argv[0], flag)

    def _main(argv):
        from train import distributed  # jax: imported only after the re-exec above

        absl_logging.set_verbosity(absl_logging.WARNING)  # Orbax logs every save at INFO
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
        workdir = Path(FLAGS.workdir or f"runs/{name}-{datetime.datetime.now():%Y%m%d-%H%M%S}")
        overrides = config_flags.get_override_values(FLAGS["config"])
        try:
            with exit_on_user_error():
                if distributed.initialize(
                    FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id
                ):
                    if FLAGS.workdir is None:  # each process would pick its own time-stamped folder
                        raise ConfigError(
                            "several processes share one run: give them all the same --workdir"
                        )
                cache, data = FLAGS.cache_dir, FLAGS.data_dir
                run(name, FLAGS.config, workdir, FLAGS.resume, overrides, cache, data)
        except (
            OSError
        ) as err:  # a full disk, a folder gone read-only: the run resumes once it is fixed
            print(
                f"error: {err} (continue the run with --resume once this is fixed)", file=sys.stderr
            )
            sys.exit(1)

    app.run(_main)
