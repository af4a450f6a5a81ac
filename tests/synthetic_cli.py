"""``python -m train.fixed`` on the synthetic blobs instead of MNIST; run by test_interrupt.py in
a subprocess. With ``SLEEP_IN_EPOCH=N`` set, epoch N starts with a long sleep, so that a signal
sent once epoch N - 1 is logged lands inside epoch N:

    SLEEP_IN_EPOCH=2 python synthetic_cli.py --workdir DIR [--resume] [--config.FIELD=VALUE ...]
"""

import gc
import os
import signal
import sys
import time
from pathlib import Path

# As a terminal's process: Ctrl-C is KeyboardInterrupt (a pytest-xdist worker's children may
# inherit SIGINT ignored). A signal that lands in one of jaxlib's garbage-collection callbacks is
# printed and dropped by Python (a known gap of every JAX process): without the collector, the
# test's signal always ends the run.
signal.signal(signal.SIGINT, signal.default_int_handler)
gc.disable()

# tests/ for its helpers, the repository root for train (run from the repository, not installed)
sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parent.parent)]

from absl import flags  # noqa: E402
from synthetic import blob_datasets  # noqa: E402

import train.loop  # noqa: E402
from train import cli  # noqa: E402

cli.load_datasets = lambda *args, **kwargs: blob_datasets(256, 100)
train_epoch = train.loop.train_epoch


def sleepy_train_epoch(config, steps, state, groups, epoch, progress):
    if epoch == int(os.environ.get("SLEEP_IN_EPOCH", 0)):
        time.sleep(600)
    return train_epoch(config, steps, state, groups, epoch, progress)


train.loop.train_epoch = sleepy_train_epoch

if __name__ == "__main__":  # as train/fixed.py
    cli.define_flags("fixed")
    flags.adopt_module_key_flags(cli)
    cli.main("fixed")
