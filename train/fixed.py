"""Train the MNIST classifier of the assignment's first table (Q7-Q9) with jaxconv.Conv2D.

The logic lives in train/loop.py (the loop shared with train.varres),
train/data/ (config -> datasets), train/models.py and train/cli.py (flags).

    python -m train.fixed                                   # default config: configs/fixed.py
    python -m train.fixed --workdir runs/fixed
    python -m train.fixed --workdir runs/fixed-aug --config.augment=True
    python -m train.fixed --workdir runs/fixed --resume           # continue an interrupted run
"""

from absl import flags

from train import cli

if __name__ == "__main__":
    cli.define_flags("fixed")
    flags.adopt_module_key_flags(cli)  # --help lists them as this program's own flags
    cli.main("fixed")
