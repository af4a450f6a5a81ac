"""What the report computes from the code and the data rather than from its runs: the output sizes
and the refused image of Q2 and Q10, the parameter counts of Q15, the augmented images of Q9, and
the date and machine it was built on."""

from __future__ import annotations

import datetime
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import jaxconv
from configs.varres import DEEP_CHANNELS
from jaxconv.bench import machine
from train.data.augment import augment_batch, default_augmentation
from train.data.mnist import load_mnist
from train.models import FixedCNN, VarResCNN, num_params


def code_facts() -> dict:
    """The numbers render.py writes that come from the code, not from a run."""
    return {
        "date": str(datetime.date.today()),
        "machine": machine(),
        "q2_size": jaxconv.output_size(227, 11, 4, 0),
        # (height, width) of a 1024×768 and a 1920×1080 image; 5×5 kernel, stride 2, padding 1
        "q10_sizes": [[jaxconv.output_size(n, 5, 2, 1) for n in hw] for hw in SIZES_Q10],
        "q10_refusal": eight_channel_refusal(),
        "q15_parameters": parameter_counts(),
    }


SIZES_Q10 = ((768, 1024), (1080, 1920))


def eight_channel_refusal() -> str:
    """jaxconv's error for an 8-channel image under a kernel made for 3 channels (Q10)."""
    image = jax.ShapeDtypeStruct((1, 1080, 1920, 8), jnp.float32)
    kernel = jax.ShapeDtypeStruct((5, 5, 3, 16), jnp.float32)
    try:
        jax.eval_shape(lambda x, k: jaxconv.conv2d(x, k, 2, 1), image, kernel)
    except ValueError as err:
        return str(err)
    return "(not refused: this is a bug)"


def parameter_counts() -> dict[str, int]:
    """{network: its number of parameters} of Q15's table (built abstractly: no weights)."""
    networks = {
        "fixed, 28×28 input (Q8)": partial(FixedCNN),
        "variable, N = 64": partial(VarResCNN, (16, 32, 64)),
        "variable, N = 81 (closest to the fixed network)": partial(VarResCNN, (16, 32, 81)),
        f"variable deep, channels {DEEP_CHANNELS}": partial(VarResCNN, DEEP_CHANNELS),
        "fixed, 64×64 input (Q17)": partial(FixedCNN, input_size=64),
    }
    return {
        name: num_params(nnx.eval_shape(lambda: make(rngs=nnx.Rngs(0))))
        for name, make in networks.items()
    }


def augmented_examples(cache: Path, data: Path | None) -> tuple[np.ndarray, list[np.ndarray]]:
    """(eight MNIST training images in [0, 1], three random augmentations of them), each
    (8, 28, 28, 1)."""
    images = jnp.asarray(load_mnist(cache, data)["train_images"][:8], jnp.float32) / 255.0
    draws = [
        np.asarray(augment_batch(jax.random.key(seed), images, default_augmentation()))
        for seed in (1, 2, 3)
    ]
    return np.asarray(images), draws
