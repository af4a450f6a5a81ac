"""The assignment's networks, built from jaxconv.Conv2D and jaxconv's pooling.

* :class:`FixedCNN` (Q7-Q9, Q12, Q17): conv-ReLU-pool stages, flatten, linear.
  ReLU and max commute, so each stage computes relu(pool(conv(x))), the same
  function as the table's pool(relu(conv(x))) with the ReLU on 4x fewer values.
* :class:`VarResCNN` (Q14-Q17): the same stages, then global max or mean
  pooling, so any input resolution maps to one feature vector.

Both take ``(images, mask)``: images ``(N, H, W, 1)`` float, and for images
padded onto a larger canvas a boolean ``(N, H, W)`` mask of the real pixels
(None when every pixel is real). VarResCNN uses the mask so that a padded
image gets exactly the logits of the unpadded one: after every stage the
activations outside the image are zeroed, which is what the convolution's own
zero padding would have seen, and the pooled mask keeps only the windows that
the unpadded image's pooling keeps (image at the top-left of its canvas).
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

import jaxconv


def flax_conv(in_features: int, out_features: int, *, dtype=None, rngs: nnx.Rngs) -> nnx.Module:
    """XLA's native convolution with the same geometry, for comparisons (train.bench)."""
    return nnx.Conv(
        in_features, out_features, kernel_size=(3, 3), padding=1, dtype=dtype, rngs=rngs
    )


def init_model(make_model: Callable[[nnx.Rngs], nnx.Module], seed: int) -> nnx.Module:
    """``make_model(nnx.Rngs(seed))`` with its parameters drawn by one compiled program.

    Drawn eagerly, every initializer's random draw is compiled on its own, and threefry's bits take
    the better part of a second each to compile on a CPU: several seconds of a short run's start-up
    (docs/performance.md, "Start-up"). The program runs once, so it is compiled unoptimized
    (XLA's backend optimization level 0), which compiles faster; the parameters may then differ
    from the eager draw in the last bit of float32. The seed is an argument, not a constant, so
    every seed shares one compiled program (and one entry of the compilation cache).
    """
    graphdef, _ = nnx.split(nnx.eval_shape(lambda: make_model(nnx.Rngs(0))))
    draw = jax.jit(
        lambda key: nnx.state(make_model(nnx.Rngs(key))),
        compiler_options={"xla_backend_optimization_level": 0},
    )
    return nnx.merge(graphdef, draw(jax.random.key(seed)))


def num_params(model: nnx.Module) -> int:
    """Q15: the number of scalar parameters (every dimension of every parameter, multiplied,
    summed)."""
    return sum(p.size for p in jax.tree.leaves(nnx.state(model, nnx.Param)))


def conv_stack(channels: Sequence[int], conv, compute_dtype, rngs: nnx.Rngs) -> nnx.List:
    """One 3×3 convolution per entry of ``channels``, the first from the images' one channel."""
    sizes = [1, *channels]
    return nnx.List(
        [
            conv(c_in, c_out, dtype=compute_dtype, rngs=rngs)
            for c_in, c_out in zip(sizes[:-1], sizes[1:])
        ]
    )


def conv_stages(convs: nnx.List, images: jax.Array, mask: jax.Array | None = None):
    """conv → ReLU → 2×2 max pool per convolution of ``convs``: (features, mask), both pooled.

    With a ``mask`` (N, H, W) of the real pixels, the features outside them are zeroed after every
    stage: what the unpadded image's zero padding would see.
    """
    x = images
    for conv in convs:
        x = jax.nn.relu(jaxconv.max_pool(conv(x)))  # (N, H/2, W/2, C); = pool(relu(.))
        if mask is not None:
            mask = jaxconv.max_pool_mask(mask)  # (N, H/2, W/2)
            x = jnp.where(mask[..., None], x, 0.0)  # outside the image: what zero padding would see
    return x, mask


class FixedCNN(nnx.Module):
    """conv 3×3 s1 p1 → ReLU → 2×2 max pool, per entry of ``channels``; flatten; linear → classes.

    The Q7 table is ``channels=(16, 32, 64)`` on 28×28: flatten 64·3·3 = 576,
    29,066 parameters. At 64×64 (Q17) the linear layer is over 64·8·8.
    """

    def __init__(
        self,
        channels: Sequence[int] = (16, 32, 64),
        input_size: int = 28,
        num_classes: int = 10,
        *,
        conv=jaxconv.Conv2D,
        compute_dtype=None,
        rngs: nnx.Rngs,
    ):
        self.convs = conv_stack(channels, conv, compute_dtype, rngs)
        side = input_size // 2 ** len(channels)  # after the 2x2 poolings (each floors)
        if side < 1:
            raise ValueError(
                f"input_size {input_size} is too small for {len(channels)} 2x2 pooling stages"
            )
        self.input_size = input_size
        self.linear = nnx.Linear(channels[-1] * side * side, num_classes, rngs=rngs)

    def __call__(self, images: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        if images.shape[1:3] != (self.input_size, self.input_size):
            raise ValueError(
                f"FixedCNN expects {self.input_size}x{self.input_size} images, "
                f"got {images.shape[1]}x{images.shape[2]}"
            )
        x, _ = conv_stages(self.convs, images)  # (N, side, side, C)
        x = x.astype(jnp.float32)  # the classifier in float32 whatever the convolutions computed in
        return self.linear(x.reshape(x.shape[0], -1))  # (N, side·side·C) -> (N, classes)


class VarResCNN(nnx.Module):
    """conv 3×3 s1 p1 → ReLU → 2×2 max pool per entry of ``channels``; global max or mean pool;
    linear.

    The Q14 table is ``channels=(16, 32, N)``; N = 81 matches the fixed
    network's parameter count (Q15). More entries make the deeper variant the
    assignment suggests, whose map before global pooling is about 1×1.
    """

    def __init__(
        self,
        channels: Sequence[int] = (16, 32, 81),
        pooling: str = "max",
        num_classes: int = 10,
        *,
        conv=jaxconv.Conv2D,
        compute_dtype=None,
        rngs: nnx.Rngs,
    ):
        if pooling not in ("max", "mean"):
            raise ValueError(f"pooling must be 'max' or 'mean', got {pooling!r}")
        self.convs = conv_stack(channels, conv, compute_dtype, rngs)
        self.pooling = pooling
        self.min_input = 2 ** len(channels)
        self.linear = nnx.Linear(channels[-1], num_classes, rngs=rngs)

    def __call__(self, images: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        if min(images.shape[1:3]) < self.min_input:
            raise ValueError(
                f"a {images.shape[1]}x{images.shape[2]} input is too small "
                f"for {len(self.convs)} 2x2 pooling stages "
                f"(needs at least {self.min_input}x{self.min_input})"
            )
        x, mask = conv_stages(self.convs, images, mask)  # (N, H', W', C), (N, H', W')
        pool = jaxconv.global_max_pool if self.pooling == "max" else jaxconv.global_mean_pool
        return self.linear(
            pool(x.astype(jnp.float32), mask)
        )  # (N, C) -> (N, classes), pooled in float32


def matching_width(target: int, make_model, max_width: int = 4096) -> int:
    """The width whose model's parameter count is closest to ``target`` (Q15).

    ``make_model(width)`` builds the model; its parameter count must grow with
    the width (true for a layer's channel count), so a bisection finds the first
    width at or above the target and the closer of it and its predecessor wins
    (the smaller on a tie). Models are built abstractly (``nnx.eval_shape``), so
    no parameters are drawn.
    """
    count = lambda w: num_params(nnx.eval_shape(lambda: make_model(w)))  # noqa: E731
    low, high = 1, max_width
    if count(high) < target:
        raise ValueError(f"no width up to {max_width} reaches {target} parameters")
    while low < high:  # first width whose count is >= target
        mid = (low + high) // 2
        low, high = (mid + 1, high) if count(mid) < target else (low, mid)
    if low > 1 and target - count(low - 1) <= count(low) - target:
        return low - 1
    return low


def model_factory(config):
    """``make_model(rngs)`` for the network the config names (``config.model``: 'fixed' or
    'varres', train.config_check)."""
    dtype = jnp.dtype(config.get("compute_dtype", "float32"))
    if config.model == "fixed":
        fixed = config.fixed
        return lambda rngs: FixedCNN(
            tuple(fixed.channels), input_size=fixed.image_size, compute_dtype=dtype, rngs=rngs
        )
    varres = config.varres
    return lambda rngs: VarResCNN(
        tuple(varres.channels), pooling=config.pooling, compute_dtype=dtype, rngs=rngs
    )
