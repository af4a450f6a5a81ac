"""Pooling: global max/mean pooling (Q11), with masks for padded images, and
the non-overlapping window max pool of the assignment's networks.

A mask marks the real pixels of an image that was padded onto a larger canvas
(True = real). Pooling with the mask gives exactly what pooling the unpadded
image gives, which is what lets images of any resolution share one batch shape.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxconv._patches import place_tap, tap_offsets, tap_views
from jaxconv._shapes import _check_int, check_nhwc, conv_geometry


def _check_mask(x: jax.Array, mask: jax.Array) -> None:
    if mask.shape != x.shape[:3]:
        raise ValueError(
            f"mask must have shape (N, H, W) = {tuple(x.shape[:3])} to match x {tuple(x.shape)}; "
            f"got {tuple(mask.shape)}"
        )
    if mask.dtype != jnp.bool_:
        raise ValueError(f"mask must be boolean (True marks a real pixel), got dtype {mask.dtype}")


def global_max_pool(x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """Max over the whole height and width: ``(N, H, W, C) -> (N, C)``.

    Q11's one line in PyTorch's NCHW is ``x.amax(dim=(2, 3))``; here it is
    ``x.max(axis=(1, 2))``. With ``mask`` ``(N, H, W)`` (bool), only the True
    pixels count; every image needs at least one (else its result is -inf).
    """
    check_nhwc("x", x.shape)
    if mask is None:
        return jnp.max(x, axis=(1, 2))
    _check_mask(x, mask)
    return jnp.max(jnp.where(mask[..., None], x, -jnp.inf), axis=(1, 2))  # (N, C)


def global_mean_pool(x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """Mean over the whole height and width: ``(N, H, W, C) -> (N, C)``.

    Q11: ``x.mean(dim=(2, 3))`` in NCHW; here ``x.mean(axis=(1, 2))``. With
    ``mask``, the mean of the True pixels only (NaN for an image with none).
    """
    check_nhwc("x", x.shape)
    if mask is None:
        return jnp.mean(x, axis=(1, 2))
    _check_mask(x, mask)
    weights = mask[..., None].astype(x.dtype)  # (N, H, W, 1)
    total = jnp.sum(x * weights, axis=(1, 2))  # (N, C)
    count = jnp.sum(weights, axis=(1, 2))  # (N, 1)
    return total / count


def _window_geometry(x: jax.Array, window: int):
    """The pool as a convolution geometry: kernel = stride = window, no padding."""
    return conv_geometry(x.shape[1:3], window, window)


def _window_views(x: jax.Array, window: int) -> list[jax.Array]:
    """The window·window strided views of x, one per position (i, j) in the window, row-major:
    unfold's taps with kernel = stride = window and no padding."""
    return tap_views(x, _window_geometry(x, window))  # each (N, H_out, W_out, C)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _max_pool(x: jax.Array, window: int) -> jax.Array:
    return functools.reduce(jnp.maximum, _window_views(x, window))  # (N, H_out, W_out, C)


def _max_pool_fwd(x, window):
    pooled = _max_pool(x, window)
    return pooled, (x, pooled)


def _max_pool_bwd(window, residuals, g):
    """The gradient goes to the maximum of each window, split equally among ties (JAX's own
    rule for max). Built from the same strided views and placed back with interior-padded
    pads, like fold: everything fuses into a few loops, where differentiating reshape + max
    materialised a float mask and reduced it (docs/performance.md, "Choosing the
    implementation")."""
    x, pooled = residuals
    hits = [view == pooled for view in _window_views(x, window)]  # each (N, H_out, W_out, C)
    share = g / sum(
        hit.astype(g.dtype) for hit in hits
    )  # (N, H_out, W_out, C): g split among each window's ties
    geometry = _window_geometry(x, window)
    placed = [
        place_tap(jnp.where(hit, share, 0), tap, geometry)  # (N, H, W, C)
        for tap, hit in zip(tap_offsets(geometry), hits)
    ]
    return (sum(placed[1:], placed[0]),)


_max_pool.defvjp(_max_pool_fwd, _max_pool_bwd)


def max_pool(x: jax.Array, window: int = 2) -> jax.Array:
    """Non-overlapping ``window × window`` max pool:
    ``(N, H, W, C) -> (N, H//window, W//window, C)``.

    Trailing rows and columns that do not fill a window are dropped (PyTorch's
    ``MaxPool2d`` default, so 7 -> 3). Built from strided views with its own
    gradient (above) rather than ``lax.reduce_window``, whose gradient is a slow
    select-and-scatter on the CPU (docs/performance.md, "Choosing the implementation"),
    or reshape + max, whose gradient materialises masks and reductions.
    """
    check_nhwc("x", x.shape)
    window = _check_int("window", window)
    n, h, w, c = x.shape
    if window < 1 or h // window == 0 or w // window == 0:
        raise ValueError(
            f"max_pool window {window} does not fit in an input of height {h} and width {w}"
        )
    return _max_pool(x, window)


def max_pool_mask(mask: jax.Array, window: int = 2) -> jax.Array:
    """The mask after :func:`max_pool`: a pooled pixel is real when its whole window is.

    For an image at the top-left of its canvas, that keeps exactly the windows
    the unpadded image would have kept (its own trailing remainder is dropped
    too), so masked pooling of the canvas equals pooling the image.
    ``(N, H, W) -> (N, H//window, W//window)``.
    """
    n, h, w = mask.shape
    ho, wo = h // window, w // window
    windows = mask[:, : ho * window, : wo * window].reshape(
        n, ho, window, wo, window
    )  # (N, H_out, window, W_out, window)
    return windows.all(axis=(2, 4))  # (N, H_out, W_out)
