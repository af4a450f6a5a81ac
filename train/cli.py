"""The command line shared by train.fixed and train.varres, in the Flax examples' style.

    python -m train.<name> [--workdir DIR] [--resume] [--config.FIELD=VALUE ...]
                           [--cache_dir DIR] [--data_dir DIR]

The config is ``configs/<name>.py`` (``get_config()``), overridable field by
field. A new run needs a new (or empty) workdir; ``--resume`` continues the run
in an existing one from its last committed epoch with its saved config; a
``--config.*`` given now that would change the epochs already done is refused
(train/config_check.py). Ctrl-C or SIGTERM ends the run with one line saying where
``--resume`` continues, exit status 130 (Ctrl-C) or 143 (SIGTERM).
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
from train import config_check, distributed
from train.compilation_cache import use_compilation_cache
from train.data.cache import cache_dir, data_dir
from train.data.datasets import load_datasets
from train.errors import ConfigError, exit_on_user_error
from train.loop import train_and_evaluate
from train.models import model_factory
from train.run import Run, stop_on_sigterm

FLAGS = flags.FLAGS


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

    A new run that fails before training (a bad config, data that cannot be had) leaves no
    workdir behind; a resumed one continues with its saved config plus ``overrides``.
    """
    config_check.validate(config)  # every field, before the workdir or the data is touched
    with Run.open(workdir, config, resume=resume, overrides=overrides) as run:
        if run.writer:
            print(
                f"{name}: workdir {workdir}\nconfig: "
                f"{run.config.to_json_best_effort(sort_keys=True)}",
                flush=True,
            )
        datasets = load_datasets(run.config, cache_dir(cache), data_dir(data))
        use_compilation_cache(cache_dir(cache))
        return train_and_evaluate(run.config, run, datasets, model_factory(run.config))


def define_flags(name: str) -> None:
    """The flags of ``python -m train.<name>``; its ``--help`` lists every config field with its
    default. The entry point adopts them as its own key flags (absl's ``--help`` lists only
    those). A ``--config.FIELD`` that names no field ends here, in one line, exit status 2."""
    config = importlib.import_module(f"configs.{name}").get_config()
    fields = "\n".join(f"config.{f} = {v!r}" for f, v in config_check.flatten(config).items())
    with exit_on_user_error():
        try:
            config_flags.DEFINE_config_file(
                "config",
                str(Path(configs.__file__).parent / f"{name}.py"),
                f"Training configuration file; set one field with --config.FIELD=VALUE. The "
                f"fields of configs/{name}.py, with their defaults:\n{fields}",
                lock_config=True,
            )
        except (AttributeError, KeyError):  # ml_collections applies --config.FIELD=VALUE here
            unknown = config_check.unknown_override(config_check.flatten(config), sys.argv)
            if unknown is None:
                raise
            raise ConfigError(unknown) from None
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


def main(name: str) -> None:
    """Parse the flags (:func:`define_flags`) and run. User errors end in one line on stderr, exit
    status 2; Ctrl-C and SIGTERM in one line saying where ``--resume`` continues, 130 or 143."""

    def _main(argv):
        absl_logging.set_verbosity(absl_logging.WARNING)  # Orbax logs every save at INFO
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
        workdir = Path(FLAGS.workdir or f"runs/{name}-{datetime.datetime.now():%Y%m%d-%H%M%S}")
        overrides = config_flags.get_override_values(FLAGS["config"])
        stop_on_sigterm()
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
        except OSError as err:  # a full disk, a folder gone read-only: --resume once it is fixed
            print(
                f"error: {err} (continue the run with --resume once this is fixed)", file=sys.stderr
            )
            sys.exit(1)

    app.run(_main)
