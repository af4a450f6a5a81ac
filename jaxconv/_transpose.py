"""The transposed convolution as fold: the input gradient of a convolution, as a layer of its own.

A convolution maps X ``(N, *S, C_in)`` to Y ``(N, *O, C_out)``; its input
gradient maps a cotangent of Y's shape back to X's shape, ``fold(g Wᵀ)``. The
transposed convolution is exactly that map applied to a feature map, so a
decoder upsamples with the very code that differentiates the encoder. Per
axis, with the forward convolution's stride s, padding (lo, hi), dilation d and
kernel k, and ``output_padding`` op::

    S = (O - 1)·s - lo - hi + d·(k - 1) + 1 + op         (0 <= op < s)

op picks among the input sizes whose strided forward convolution gives O
outputs (its floor drops up to s - 1 rows), as PyTorch's ``output_padding`` does.

Forward and derived backward, with T taps, M = N·prod(O), K = T·C_in
(per group when groups > 1, exactly as in ``_conv``)::

    Y : (N, *O, C_out)   Y' = reshape(Y) : (M, C_out)      W : (K, C_out)
    Z = fold(Y' Wᵀ)      : [M, C_out] [C_out, K] -> [M, K] -> (N, *S, C_in)

    With the cotangent dZ : (N, *S, C_in) and V = unfold(dZ) : (M, K),
    <dZ, fold(P)> = <unfold(dZ), P> (fold is unfold's adjoint), so
    <dZ, Z> = <V, Y' Wᵀ> = sum_mko V_mk Y'_mo W_ko, and
    dY' = V W            : [M, K] [K, C_out] -> [M, C_out]   a convolution of dZ
    dW  = Vᵀ Y'          : [K, M] [M, C_out] -> [K, C_out]   unfolded dZ paired with Y

So the backward of the transposed convolution is the forward convolution and
its weight gradient, the same three products as ``_conv`` in another order
(docs/guide.md, chapter 6, with pictures of both views below). It is the
primitive ``input_grad_p`` of ``_bilinear``, which holds these rules and the
forward-mode one.

The zero-insertion view (vdumoulin/conv_arithmetic, and lax's conv_transpose)
computes the same Z as a stride-1 convolution of Y with s - 1 zeros inserted
between its pixels (input dilation s), padded by ``d·(k - 1) - lo`` low and
``d·(k - 1) - hi + op`` high, with the kernel flipped in space and its channel
axes swapped: ``lax.conv_general_dilated`` with ``lhs_dilation`` gives it, and a
test holds the two views equal. fold never multiplies the inserted zeros.

Read backwards, that identity is how ``conv_general_dilated`` with input
dilation runs (``conv_by_fold`` below): lax's zero-insertion convolution is a
transposed convolution, computed as fold instead of unfolding the zeros.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax

from jaxconv._bilinear import input_grad_p
from jaxconv._conv import bind_bilinear, check_channels, check_groups
from jaxconv._shapes import (
    ConvGeometry,
    IntOrPair,
    axis_name,
    conv_geometry,
    padding_pairs,
    per_axis,
)


def transpose_geometry(
    y_shape, kernel_shape, stride, padding, output_padding, dilation
) -> ConvGeometry:
    """The geometry of the forward convolution whose input gradient this transposed convolution
    is."""
    rank = len(y_shape) - 2
    if isinstance(padding, str):
        raise ValueError(
            "conv_transpose takes padding as ints or (low, high) pairs (the forward "
            f"convolution's), not {padding!r}; "
            "see docs/guide.md for 'SAME'/'VALID' in nnx.ConvTranspose's terms"
        )
    kernel_size = tuple(int(k) for k in kernel_shape[:-2])
    stride, dilation = per_axis("stride", stride, rank), per_axis("dilation", dilation, rank)
    output_padding = per_axis("output_padding", output_padding, rank)
    pads = padding_pairs(padding, y_shape[1:-1], kernel_size, stride, dilation)
    spatial = []
    for axis, (size, k, s, (lo, hi), d, op) in enumerate(
        zip(y_shape[1:-1], kernel_size, stride, pads, dilation, output_padding)
    ):
        where = f"along the {axis_name(rank, axis)}"
        if s < 1 or d < 1:
            raise ValueError(
                f"{where}: stride and dilation must be >= 1, got stride {s}, dilation {d}"
            )
        if not 0 <= op < s:
            raise ValueError(
                f"{where}: output_padding must satisfy 0 <= output_padding < stride, got {op} with "
                f"stride {s}"
            )
        out = (size - 1) * s - lo - hi + d * (k - 1) + 1 + op
        if out < 1:
            raise ValueError(
                f"{where}: the output size ({size} - 1)*{s} - {lo} - {hi} + {d}*({k} - 1) + 1 + "
                f"{op} = {out} is not positive"
            )
        spatial.append(out)
    geometry = conv_geometry(tuple(spatial), kernel_size, stride, pads, dilation)
    assert geometry.output_size == tuple(y_shape[1:-1]), (geometry, y_shape)
    return geometry


def conv_transpose(
    y: jax.Array,
    kernel: jax.Array,
    stride: IntOrPair = 1,
    padding=0,
    output_padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
    *,
    precision=None,
) -> jax.Array:
    """The transposed convolution: by definition the input gradient of :func:`jaxconv.conv`.

    ``conv_transpose(y, kernel, s, p, op, d, g)`` is ``dL/dX`` of
    ``conv(x, kernel, s, p, d, g)`` for the cotangent ``y``, with x of the size
    below, computed as ``fold(y Wᵀ)``; PyTorch's ``F.conv_transpose{1,2,3}d``
    with its weight ``(C_out, C_in // groups, *k)`` permuted to ``(*k, C_in // groups, C_out)``.

    **Arguments:**
      y: ``(N, *spatial, C_out)``.
      kernel: the forward convolution's kernel ``(*k, C_in // groups, C_out)``.
      stride, dilation: an int or one per spatial axis.
      padding: the forward convolution's: an int, one per axis, or ``(low, high)``
        pairs; the output is cropped by it.
      output_padding: rows added at the high end, ``0 <= output_padding < stride``.
      groups: as in :func:`jaxconv.conv`.

    **Returns:** ``(N, *spatial_in, C_in)``, ``spatial_in = (size − 1)·stride − 2·padding
    + dilation·(k − 1) + output_padding + 1`` per axis.
    """
    check_groups(groups)  # before it multiplies the kernel's channels below
    forward_x_shape = (
        *y.shape[:-1],
        kernel.shape[-2] * groups,
    )  # the forward convolution's input, spatially unknown
    check_channels(forward_x_shape, kernel.shape, groups)
    if y.shape[-1] != kernel.shape[-1]:
        raise ValueError(
            f"y has {y.shape[-1]} channels (shape {tuple(y.shape)}) but the kernel "
            f"{tuple(kernel.shape)} "
            f"is (*k, C_in // groups, C_out) with C_out = {kernel.shape[-1]}: they must match"
        )
    geometry = transpose_geometry(y.shape, kernel.shape, stride, padding, output_padding, dilation)
    return bind_bilinear(input_grad_p, y, kernel, geometry, groups, precision)


# ---------------------------------------------------------------------------
# lax's input-dilated convolution as fold.
#
# Per axis, lax's convolution of Y (length S) with input dilation r, padding
# (lo, hi), kernel k with dilation d and window stride s reads the zero-inserted
# Y_r (length (S - 1)·r + 1) padded by (lo, hi). Let Z_full be the transposed
# convolution with stride r, dilation d and no padding, of length
#
#     F = (S - 1)·r + d·(k - 1) + 1
#
# Y's row o lands on Z_full's rows o·r + t·d (tap t), while in lax's view output
# row z (stride 1) reads Y_r row z + t'·d - lo with the kernel's tap t'; with
# t = k - 1 - t' (the kernel flipped in space) the two agree when z = o·r + t·d -
# c_lo, where
#
#     c_lo = d·(k - 1) - lo      Z_full rows before lax's first output row
#     c_hi = d·(k - 1) - hi      Z_full rows after its last (stride 1)
#
# Negative c_lo / c_hi are rows of zeros lax reads in its padding beyond Y's
# reach. So, per axis:
#
#     1. Z = fold(Y' W'ᵀ) with the forward geometry stride r, dilation d and padding
#        (max(c_lo, 0), max(c_hi, 0)): Z_full's rows [p_lo, F - p_hi), length
#        Z_s = F - p_lo - p_hi; its forward convolution gives floor((F - d·(k - 1) - 1)
#        / r) + 1 = S outputs, so the geometry is Y's (output_padding 0).
#     2. zeros where c_lo, c_hi < 0: length F - c_lo - c_hi = (S - 1)·r + 1 + lo + hi
#        - d·(k - 1), lax's stride-1 output.
#     3. every s-th row: ceil(that / s) = lax's O rows.
#
# W' is lax's kernel flipped in space with its channel axes swapped per group:
# lax's W (*k, C_y/G, C_z) links Y channel g·I + i and Z channel g·O + c through
# W[t', i, g·O + c]; the forward kernel (*k, O, G·I) links them through
# W'[t, c, g·I + i] = W[k - 1 - t, i, g·O + c].
#
# Cost: fold multiplies prod(S)·T·C_y·C_z/G times; unfolding the zero-inserted input
# multiplies prod(O)·T·C_y·C_z/G times, prod(O) ≈ prod(S)·prod(r)/prod(s), mostly by
# the inserted zeros. Step 3 keeps 1/prod(s) of fold's rows, so fold is chosen
# while prod(s) <= prod(r), where it never multiplies more.


def fold_padding(geometry: ConvGeometry) -> tuple[tuple[int, int], ...]:
    """(c_lo, c_hi) per axis: Z_full's rows outside lax's stride-1 output (negative: zeros)."""
    return tuple(
        (d * (k - 1) - lo, d * (k - 1) - hi)
        for k, d, (lo, hi) in zip(geometry.kernel_size, geometry.dilation, geometry.padding)
    )


def takes_fold_path(geometry: ConvGeometry) -> bool:
    """Input dilation, no more window strides than it, and some of Z_full inside the output."""
    if all(r == 1 for r in geometry.input_dilation) or 0 in geometry.input_size:
        return False
    if math.prod(geometry.stride) > math.prod(geometry.input_dilation):
        return False
    return all(
        (size - 1) * r + d * (k - 1) + 1 - max(c_lo, 0) - max(c_hi, 0) >= 1
        for size, r, d, k, (c_lo, c_hi) in zip(
            geometry.input_size,
            geometry.input_dilation,
            geometry.dilation,
            geometry.kernel_size,
            fold_padding(geometry),
        )
    )


def _forward_kernel(kernel: jax.Array, groups: int) -> jax.Array:
    """lax's ``(*k, C_y/G, C_z)`` as the forward convolution's ``(*k, C_z/G, C_y)``, flipped."""
    *k, i, c_z = kernel.shape
    flipped = jnp.flip(kernel, axis=tuple(range(len(k))))  # (*k, I, C_z), taps reversed
    w = flipped.reshape(*k, i, groups, c_z // groups)  # (*k, I, G, O)
    w = jnp.moveaxis(w, (-3, -2, -1), (-1, -2, -3))  # (*k, O, G, I)
    return w.reshape(*k, c_z // groups, groups * i)  # (*k, O, C_y)


def conv_by_fold(y, kernel, geometry: ConvGeometry, groups: int, precision) -> jax.Array:
    """lax's input-dilated convolution (``takes_fold_path(geometry)``) as a transposed one.

    y ``(N, *S, C_y)``, kernel ``(*k, C_y // groups, C_z)`` in lax's orientation;
    returns ``(N, *geometry.output_size, C_z)``, steps 1-3 above.
    """
    crops = fold_padding(geometry)
    fold_pads = tuple((max(c_lo, 0), max(c_hi, 0)) for c_lo, c_hi in crops)
    z_size = tuple(
        (size - 1) * r + d * (k - 1) + 1 - p_lo - p_hi
        for size, r, d, k, (p_lo, p_hi) in zip(
            geometry.input_size,
            geometry.input_dilation,
            geometry.dilation,
            geometry.kernel_size,
            fold_pads,
        )
    )
    forward = conv_geometry(
        z_size, geometry.kernel_size, geometry.input_dilation, fold_pads, geometry.dilation
    )
    assert forward.output_size == geometry.input_size, (forward, geometry)
    w = _forward_kernel(kernel, groups)  # (*k, C_z / G, C_y)
    z = bind_bilinear(
        input_grad_p, y, w, forward, groups, precision, integers=True
    )  # fold(Y' W'ᵀ): (N, *Z_s, C_z)
    zeros = [(0, 0, 0), *((max(-c_lo, 0), max(-c_hi, 0), 0) for c_lo, c_hi in crops), (0, 0, 0)]
    z = lax.pad(z, jnp.zeros((), z.dtype), zeros)  # (N, *L, C_z), lax's stride-1 output
    if any(s > 1 for s in geometry.stride):
        z = z[(slice(None), *(slice(None, None, s) for s in geometry.stride))]  # (N, *O, C_z)
    assert z.shape[1:-1] == geometry.output_size, (z.shape, geometry)
    return z
