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
axes swapped: ``jaxconv.conv_general_dilated`` with ``lhs_dilation`` gives it, and
a test holds the two views equal. fold never multiplies the inserted zeros.
"""

from __future__ import annotations

import jax

from jaxconv._bilinear import input_grad_p
from jaxconv._conv import bind_bilinear, check_channels
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
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"groups must be an integer >= 1, got {groups!r}")
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
