"""Four small networks of real architectures, built from stock Flax NNX layers, for
``train.swap_bench`` (stock against ``jaxconv.swap_convolutions``).

Each ``Spec`` says how to make the network, a batch of synthetic data and the loss:

* MobileNetV2-style classifier: a 3×3 stem, inverted residual blocks (1×1
  expansion ×6, 3×3 depthwise, 1×1 projection, residual where shapes allow),
  32×32×3 images, 10 classes.
* U-Net: three levels of two 3×3 convolutions, max pooling down, 2×2 stride-2
  ``nnx.ConvTranspose`` up with skip connections; 64×64×3 images, per-pixel
  labels of 4 classes (segmentation-like).
* Temporal convolution network: residual blocks of two dilated causal 1-D
  convolutions (kernel 3, ``padding='CAUSAL'``, dilations 1 to 32), sequences
  of 256 steps × 8 channels, one regression target per step.
* 3-D network: 16³ volumes, 3×3×3 convolutions, one stride-2 level down and a
  2×2×2 stride-2 ``nnx.ConvTranspose`` back up, per-voxel labels of 2 classes.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx


class InvertedResidual(nnx.Module):
    """MobileNetV2's block: 1×1 expand, 3×3 depthwise (the stride), 1×1 project."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int, *, rngs: nnx.Rngs):
        hidden = c_in * expand
        self.expand = (
            nnx.Conv(c_in, hidden, (1, 1), use_bias=False, rngs=rngs) if expand > 1 else None
        )
        self.depthwise = nnx.Conv(
            hidden, hidden, (3, 3), stride, feature_group_count=hidden, use_bias=False, rngs=rngs
        )
        self.project = nnx.Conv(hidden, c_out, (1, 1), use_bias=False, rngs=rngs)
        self.residual = stride == 1 and c_in == c_out

    def __call__(self, x):
        h = nnx.relu6(self.expand(x)) if self.expand is not None else x
        h = self.project(nnx.relu6(self.depthwise(h)))
        return x + h if self.residual else h


class MobileNetV2Small(nnx.Module):
    # (c_out, stride, expand) per block, after a 16-channel stem
    BLOCKS = ((16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (64, 2, 6), (64, 1, 6))

    def __init__(self, *, rngs: nnx.Rngs):
        self.stem = nnx.Conv(3, 16, (3, 3), use_bias=False, rngs=rngs)
        blocks, c_in = [], 16
        for c_out, stride, expand in self.BLOCKS:
            blocks.append(InvertedResidual(c_in, c_out, stride, expand, rngs=rngs))
            c_in = c_out
        self.blocks = nnx.List(blocks)
        self.last = nnx.Conv(c_in, 128, (1, 1), use_bias=False, rngs=rngs)
        self.head = nnx.Linear(128, 10, rngs=rngs)

    def __call__(self, x):  # (N, 32, 32, 3) -> (N, 10)
        x = nnx.relu6(self.stem(x))
        for block in self.blocks:
            x = block(x)
        x = nnx.relu6(self.last(x))  # (N, 4, 4, 128)
        return self.head(x.mean(axis=(1, 2)))


class DoubleConv(nnx.Module):
    def __init__(self, c_in: int, c_out: int, *, rngs: nnx.Rngs, rank: int = 2):
        k = (3,) * rank
        self.first = nnx.Conv(c_in, c_out, k, rngs=rngs)
        self.second = nnx.Conv(c_out, c_out, k, rngs=rngs)

    def __call__(self, x):
        return nnx.relu(self.second(nnx.relu(self.first(x))))


class UNet(nnx.Module):
    WIDTHS = (16, 32, 64)

    def __init__(self, classes: int = 4, *, rngs: nnx.Rngs):
        w = self.WIDTHS
        self.down = nnx.List(
            [DoubleConv(c_in, c_out, rngs=rngs) for c_in, c_out in zip((3, *w[:-1]), w)]
        )
        self.bottom = DoubleConv(w[-1], 2 * w[-1], rngs=rngs)
        self.up = nnx.List(
            [nnx.ConvTranspose(2 * c, c, (2, 2), strides=2, rngs=rngs) for c in reversed(w)]
        )
        self.merge = nnx.List([DoubleConv(2 * c, c, rngs=rngs) for c in reversed(w)])
        self.head = nnx.Conv(w[0], classes, (1, 1), rngs=rngs)

    def __call__(self, x):  # (N, 64, 64, 3) -> (N, 64, 64, classes)
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = nnx.max_pool(x, (2, 2), (2, 2))
        x = self.bottom(x)  # (N, 8, 8, 128)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips)):
            x = merge(jnp.concatenate([up(x), skip], axis=-1))
        return self.head(x)


class TemporalBlock(nnx.Module):
    def __init__(self, c_in: int, c_out: int, dilation: int, *, rngs: nnx.Rngs):
        causal = dict(padding="CAUSAL", kernel_dilation=dilation, rngs=rngs)
        self.first = nnx.Conv(c_in, c_out, (3,), **causal)
        self.second = nnx.Conv(c_out, c_out, (3,), **causal)
        self.shortcut = nnx.Conv(c_in, c_out, (1,), rngs=rngs) if c_in != c_out else None

    def __call__(self, x):
        h = nnx.relu(self.second(nnx.relu(self.first(x))))
        return nnx.relu(h + (self.shortcut(x) if self.shortcut is not None else x))


class TCN(nnx.Module):
    DILATIONS = (1, 2, 4, 8, 16, 32)

    def __init__(self, c_in: int = 8, width: int = 32, *, rngs: nnx.Rngs):
        self.blocks = nnx.List(
            [
                TemporalBlock(c_in if i == 0 else width, width, d, rngs=rngs)
                for i, d in enumerate(self.DILATIONS)
            ]
        )
        self.head = nnx.Conv(width, 1, (1,), rngs=rngs)

    def __call__(self, x):  # (N, L, 8) -> (N, L, 1)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


class Volume3D(nnx.Module):
    def __init__(self, classes: int = 2, *, rngs: nnx.Rngs):
        self.encode = DoubleConv(1, 16, rngs=rngs, rank=3)
        self.down = nnx.Conv(16, 32, (3, 3, 3), strides=2, rngs=rngs)
        self.middle = DoubleConv(32, 32, rngs=rngs, rank=3)
        self.up = nnx.ConvTranspose(32, 16, (2, 2, 2), strides=2, rngs=rngs)
        self.decode = DoubleConv(32, 16, rngs=rngs, rank=3)
        self.head = nnx.Conv(16, classes, (1, 1, 1), rngs=rngs)

    def __call__(self, x):  # (N, 16, 16, 16, 1) -> (N, 16, 16, 16, classes)
        skip = self.encode(x)
        x = self.middle(nnx.relu(self.down(skip)))  # (N, 8, 8, 8, 32)
        x = self.decode(jnp.concatenate([self.up(x), skip], axis=-1))
        return self.head(x)


@dataclasses.dataclass(frozen=True)
class Spec:
    """A network and its synthetic batch: inputs of ``input_shape``, and labels of ``classes``
    classes per example (or per pixel, ``per_pixel``) with the cross-entropy loss; without
    ``classes``, one regression target per position with the mean squared error."""

    name: str
    make: Callable[[nnx.Rngs], nnx.Module]
    input_shape: tuple[int, ...]
    classes: int | None = None
    per_pixel: bool = False

    def batch(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=self.input_shape).astype(np.float32)
        if self.classes is None:
            y = rng.normal(size=(*self.input_shape[:-1], 1)).astype(np.float32)
        else:
            labels = self.input_shape[:-1] if self.per_pixel else self.input_shape[:1]
            y = rng.integers(0, self.classes, labels).astype(np.int32)
        return jnp.asarray(x), jnp.asarray(y)

    def loss(self, model, x, y):
        if self.classes is None:
            return jnp.mean((model(x) - y) ** 2)
        return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()


def specs(batch_scale: float = 1.0) -> list[Spec]:
    """The four networks; ``batch_scale`` scales their batches (tests use small ones)."""

    def n(batch: int) -> int:
        return max(1, round(batch * batch_scale))

    return [
        Spec(
            "MobileNetV2-style, 32×32×3",
            lambda rngs: MobileNetV2Small(rngs=rngs),
            (n(32), 32, 32, 3),
            classes=10,
        ),
        Spec(
            "U-Net, 64×64×3, 4 classes",
            lambda rngs: UNet(rngs=rngs),
            (n(8), 64, 64, 3),
            classes=4,
            per_pixel=True,
        ),
        Spec("TCN, 256 steps, dilations 1-32", lambda rngs: TCN(rngs=rngs), (n(16), 256, 8)),
        Spec(
            "3-D, 16³ volumes",
            lambda rngs: Volume3D(rngs=rngs),
            (n(4), 16, 16, 16, 1),
            classes=2,
            per_pixel=True,
        ),
    ]
