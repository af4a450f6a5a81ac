"""unfold (im2col) and its adjoint fold (col2im), from lax slices and pads.

Layout: images are NHWC; a patch vector is ordered (kernel row i, kernel column j,
channel c), the order of ``kernel.reshape(-1, C_out)`` for an HWIO kernel, so a
convolution is ``unfold(x) @ kernel.reshape(-1, C_out)`` with no transpose.

Why slices and not ``lax.conv_general_dilated_patches``: on the 2-core CPU of
this project, stacking kh·kw strided slices of the padded input runs at the
speed of a plain copy of the patch tensor, while the patches primitive (a
convolution with a one-hot kernel) was 2-7x slower on the MNIST layer shapes
(numbers in README.md, "Choosing the implementation").
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jaxconv._shapes import IntOrPair, check_nhwc, conv_output_hw, pair


def _tap_slices(x_padded: jax.Array, kernel_hw, stride, out_hw):
    """The kh·kw strided views of the padded input, one per kernel tap (i, j)."""
    n, _, _, c = x_padded.shape
    (kh, kw), (sh, sw), (ho, wo) = kernel_hw, stride, out_hw
    return [
        # tap (i, j) sees rows i, i+sh, ..., i+sh·(ho-1) and likewise columns
        lax.slice(x_padded, (0, i, j, 0), (n, i + sh * (ho - 1) + 1, j + sw * (wo - 1) + 1, c), (1, sh, sw, 1))
        for i in range(kh)
        for j in range(kw)
    ]  # each (N, H_out, W_out, C)


def _place_tap(tap: jax.Array, offset, image_hw, stride) -> jax.Array:
    """The adjoint of one of :func:`_tap_slices`' views: tap ``(N, H_out, W_out, C)`` -> ``(N, H, W, C)``,
    entry (y, x) landing on row ``offset_h + y·sh`` and column ``offset_w + x·sw``, zeros elsewhere.

    One ``lax.pad``: interior padding ``s - 1`` spreads the entries by the stride, low padding
    ``offset`` shifts them (negative: crops, as for taps that fell in the zero padding), and the
    high padding makes the length ``H`` (``W``)."""
    (oh, ow), (h, w), (sh, sw) = offset, image_hw, stride
    ho, wo = tap.shape[1:3]
    config = [(0, 0, 0), (oh, h - oh - sh * (ho - 1) - 1, sh - 1), (ow, w - ow - sw * (wo - 1) - 1, sw - 1), (0, 0, 0)]
    return lax.pad(tap, jnp.zeros((), tap.dtype), config)  # (N, H, W, C)


def unfold(x: jax.Array, kernel_size: IntOrPair, stride: IntOrPair = 1, padding: IntOrPair = 0) -> jax.Array:
    """All convolution patches of ``x``, flattened (Q3's unfold, channels-last).

    **Arguments:**
      x: images, shape ``(N, H, W, C)``.
      kernel_size, stride, padding: an int or an ``(h, w)`` pair each.

    **Returns:** patches of shape ``(N, H_out, W_out, kh·kw·C)`` where entry
    ``[n, y, x, (i·kw + j)·C + c]`` is ``x_padded[n, y·sh + i, x·sw + j, c]``.
    """
    check_nhwc("x", x.shape)
    kernel_hw, stride, padding = pair("kernel_size", kernel_size), pair("stride", stride), pair("padding", padding)
    n, h, w, c = x.shape
    ho, wo = conv_output_hw((h, w), kernel_hw, stride, padding)
    (ph, pw) = padding
    x_padded = jnp.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))  # (N, H + 2ph, W + 2pw, C)
    taps = _tap_slices(x_padded, kernel_hw, stride, (ho, wo))
    patches = jnp.stack(taps, axis=3)  # (N, H_out, W_out, kh·kw, C)
    return patches.reshape(n, ho, wo, kernel_hw[0] * kernel_hw[1] * c)  # (N, H_out, W_out, kh·kw·C)


def fold(
    patches: jax.Array,
    input_shape,
    kernel_size: IntOrPair,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
) -> jax.Array:
    """The adjoint of :func:`unfold`: every patch entry added back where it came from.

    Overlapping patches are summed and entries that came from the zero padding
    are dropped, so that ``<unfold(x), p> = <x, fold(p)>`` for all ``x, p``.

    Built from pads only: tap (i, j) of the patches, an ``(N, H_out, W_out, C)``
    array, goes back to rows ``i - ph, i - ph + sh, ...`` of the input. That is
    ``lax.pad`` with interior padding ``sh - 1`` (the stride), low padding
    ``i - ph`` (negative: crop the zero padding) and the high padding that makes
    the length ``H``; likewise for columns. The kh·kw padded taps are summed,
    which XLA fuses into one loop.

    **Arguments:**
      patches: shape ``(N, H_out, W_out, kh·kw·C)``, as :func:`unfold` returns.
      input_shape: ``(N, H, W, C)`` of the image the patches belong to.
      kernel_size, stride, padding: as given to :func:`unfold`.

    **Returns:** an array of shape ``input_shape``.
    """
    check_nhwc("input_shape", input_shape)
    kernel_hw, stride, padding = pair("kernel_size", kernel_size), pair("stride", stride), pair("padding", padding)
    n, h, w, c = (int(d) for d in input_shape)
    ho, wo = conv_output_hw((h, w), kernel_hw, stride, padding)
    (kh, kw), (ph, pw) = kernel_hw, padding
    expected = (n, ho, wo, kh * kw * c)
    if tuple(patches.shape) != expected:
        raise ValueError(
            f"patches must have shape (N, H_out, W_out, kh*kw*C) = {expected} for input_shape "
            f"{(n, h, w, c)}, kernel {kernel_hw}, stride {stride}, padding {padding}; got {tuple(patches.shape)}"
        )
    taps = patches.reshape(n, ho, wo, kh, kw, c)  # (N, H_out, W_out, kh, kw, C)
    # tap (i, j) goes back to rows i - ph, i - ph + sh, ... and columns j - pw, j - pw + sw, ...
    placed = [_place_tap(taps[:, :, :, i, j, :], (i - ph, j - pw), (h, w), stride) for i in range(kh) for j in range(kw)]
    return sum(placed[1:], placed[0])  # (N, H, W, C)
