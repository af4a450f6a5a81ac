"""Train the variable-resolution classifier of Q10-Q17 on mnist-varres, with jaxconv.Conv2D.

The same program as train.fixed (train/loop.py, train/data/, train/models.py,
train/cli.py) with the default config configs/varres.py.

    python -m train.varres  # global max pooling, N = 81
    python -m train.varres --workdir runs/varres-mean --config.pooling=mean
    python -m train.varres --workdir runs/resized-64 --config.model=fixed \\
        --config.fixed.image_size=64
"""

from absl import flags

from train import cli

if __name__ == "__main__":
    cli.define_flags("varres")
    flags.adopt_module_key_flags(cli)  # --help lists them as this program's own flags
    cli.main("varres")
