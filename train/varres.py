"""Train the variable-resolution classifier of Q10-Q17 on mnist-varres, with jaxconv.Conv2D.

The same program as train.fixed (train/loop.py, train/data/, train/models.py,
train/cli.py) with the default config configs/varres.py.

    python -m train.varres  # global max pooling, N = 81
    python -m train.varres --workdir runs/varres-mean --config.pooling=mean
    python -m train.varres --workdir runs/resized-64 --config.model=fixed \\
        --config.fixed.image_size=64
"""

from train import cli, config_check

if __name__ == "__main__":
    config_check.refuse_unknown_overrides("varres")  # ml_collections would raise a traceback
    cli.main("varres")
