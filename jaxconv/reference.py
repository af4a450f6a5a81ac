"""Slow, obviously-correct oracles: the nested loops of Q1 and Q3 in plain NumPy, in any number of
dimensions.

These are what the fast functions are tested against, so they are written to
read like the pseudo-code of the assignment, one scalar at a time, in float64.
Never use them for real work: they run a Python loop per multiply-add. They check
their own arguments and import nothing from jaxconv, so a slip in the fast code's
shape arithmetic cannot hide in its oracle.

The geometry is exactly ``lax.conv_general_dilated``'s, channels last, with d >= 1 spatial dims:

- input ``x``: ``(N, *spatial, C_in)`` (NWC, NHWC, NDHWC for d = 1, 2, 3);
- kernel: ``(*k, C_in // groups, C_out)`` (WIO, HWIO, DHWIO);
- output: ``(N, *spatial_out, C_out)`` with, per dim,
  ``out = (size + low + high - dilation·(k - 1) - 1) // stride + 1``;
- output position ``o`` reads, through kernel tap ``t``, padded input index
  ``o·stride + t·dilation``;
- groups G: output channel ``o`` is in group ``g = o // (C_out // G)`` and sees the input
  channels ``g·(C_in // G) + c`` for ``c < C_in // G``, through ``kernel[..., c, o]``
  (G = C_in is depthwise);
- patches (``unfold``): ``(N, *spatial_out, prod(k)·C)``, ordered (tap in row-major order over the
  kernel dims, then channel), the order of ``kernel.reshape(-1, C_out)``.

``stride`` and ``dilation`` are an int or one int per spatial dim; ``padding`` is an int (every
side), one int per dim (both sides of it) or one ``(low, high)`` pair per dim. ``conv_transpose``
takes PyTorch's arguments instead (see there). The 2-D names of the assignment (``conv2d``,
``conv2d_weight_grad``, ``conv2d_input_grad``) are the d = 2 cases of the N-d loops.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

# ---------------------------------------------------------------------------
# Argument normalisation (self-contained: the oracle shares no code with what it checks)
# ---------------------------------------------------------------------------


def _int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _per_dim(name, value, d, minimum):
    """An int, or one int per spatial dim, as a tuple of d ints."""
    if isinstance(value, (tuple, list)):
        if len(value) != d:
            raise ValueError(
                f"{name} must be an int or {d} ints (one per spatial dim), got {value!r} "
                f"({len(value)} values)"
            )
        return tuple(_int(name, v, minimum) for v in value)
    return (_int(name, value, minimum),) * d


def _padding_pairs(padding, d):
    """An int, d ints or d ``(low, high)`` pairs, as d ``(low, high)`` pairs."""
    if isinstance(padding, (tuple, list)) and any(isinstance(p, (tuple, list)) for p in padding):
        if len(padding) != d or any(
            not isinstance(p, (tuple, list)) or len(p) != 2 for p in padding
        ):
            raise ValueError(
                f"padding must be an int, {d} ints or {d} (low, high) pairs (one per spatial dim), "
                f"got {padding!r}"
            )
        return tuple((_int("padding", low, 0), _int("padding", high, 0)) for low, high in padding)
    return tuple((p, p) for p in _per_dim("padding", padding, d, 0))


def _check_input_rank(name, shape):
    if len(shape) < 3:
        raise ValueError(
            f"{name} must be (N, *spatial, C) with at least one spatial dim, got shape "
            f"{tuple(shape)}"
        )


def _check_shape(name, shape, expected):
    if tuple(shape) != tuple(expected):
        raise ValueError(f"{name} must have shape {tuple(expected)}, got {tuple(shape)}")


class _Geometry(NamedTuple):
    kernel: tuple  # k per dim
    stride: tuple
    padding: tuple  # (low, high) per dim
    dilation: tuple
    out: tuple  # output size per dim


def _geometry(input_shape, kernel_size, stride, padding, dilation):
    """The checked geometry of sliding a kernel of spatial size ``kernel_size`` over an input
    ``(N, *spatial, C)``."""
    _check_input_rank("the input", input_shape)
    spatial = tuple(input_shape[1:-1])
    d = len(spatial)
    kernel_size = _per_dim("kernel_size", kernel_size, d, 1)
    stride, dilation = _per_dim("stride", stride, d, 1), _per_dim("dilation", dilation, d, 1)
    padding = _padding_pairs(padding, d)
    out = []
    for axis, (size, k, s, (low, high), dil) in enumerate(
        zip(spatial, kernel_size, stride, padding, dilation)
    ):
        span, padded = dil * (k - 1) + 1, size + low + high
        if span > padded:
            raise ValueError(
                f"along spatial dim {axis}: the dilated kernel {dil}*({k}-1)+1 = {span} "
                f"is larger than the padded input {size}+{low}+{high} = {padded}"
            )
        out.append((padded - span) // s + 1)
    return _Geometry(kernel_size, stride, padding, dilation, tuple(out))


def _check_groups(c_in, kernel_shape, groups):
    """groups as an int, after checking that the channels split into that many groups."""
    groups = _int("groups", groups, 1)
    c_in_per_group, c_out = kernel_shape[-2], kernel_shape[-1]
    if c_in % groups:
        raise ValueError(f"input channels {c_in} are not divisible by groups {groups}")
    if c_out % groups:
        raise ValueError(f"output channels {c_out} are not divisible by groups {groups}")
    if c_in_per_group * groups != c_in:
        raise ValueError(
            f"the kernel has {c_in_per_group} input channels per group, but {c_in} input channels "
            f"in {groups} groups "
            f"need {c_in // groups} (kernel shape {tuple(kernel_shape)})"
        )
    return groups


def _conv_geometry(input_shape, kernel_shape, stride, padding, dilation, groups):
    _check_input_rank("the input", input_shape)
    if len(kernel_shape) != len(input_shape):
        raise ValueError(
            f"a {len(input_shape) - 2}-d input {tuple(input_shape)} needs a kernel (*k, C_in // "
            "groups, C_out) "
            f"of rank {len(input_shape)}, got shape {tuple(kernel_shape)}"
        )
    groups = _check_groups(input_shape[-1], kernel_shape, groups)
    return _geometry(input_shape, kernel_shape[:-2], stride, padding, dilation), groups


def _reads(pos, tap, stride, dilation):
    """The padded input index that output position ``pos`` reads through kernel tap ``tap``:
    o·stride + t·dilation."""
    return tuple(o * s + t * dil for o, t, s, dil in zip(pos, tap, stride, dilation))


def _crop(xp, padding, spatial):
    """Drop the padding again: ``xp[:, low : low + size, ..., :]``."""
    return xp[
        (
            slice(None),
            *(slice(low, low + size) for (low, _), size in zip(padding, spatial)),
            slice(None),
        )
    ]


# ---------------------------------------------------------------------------
# The loops
# ---------------------------------------------------------------------------


def pad(x, padding):
    """Q3, part one: a zero border around every image; ``padding`` an int, one per dim, or
    (low, high) pairs."""
    x = np.asarray(x, np.float64)
    _check_input_rank("x", x.shape)
    pads = _padding_pairs(padding, x.ndim - 2)
    padded = np.zeros(
        (
            x.shape[0],
            *(size + low + high for size, (low, high) in zip(x.shape[1:-1], pads)),
            x.shape[-1],
        )
    )
    padded[
        (
            slice(None),
            *(slice(low, low + size) for size, (low, _) in zip(x.shape[1:-1], pads)),
            slice(None),
        )
    ] = x
    return padded


def conv(x, kernel, stride=1, padding=0, dilation=1, groups=1):
    """Q1 in N-d: for every output pixel and output channel, a dot product of its patch and the
    kernel.

    **Arguments:** ``x``: ``(N, *spatial, C_in)``; ``kernel``: ``(*k, C_in // groups, C_out)``.

    **Returns:** ``(N, *spatial_out, C_out)`` in float64, equal to ``lax.conv_general_dilated`` with
    ``rhs_dilation=dilation`` and ``feature_group_count=groups``.
    """
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    geo, groups = _conv_geometry(x.shape, kernel.shape, stride, padding, dilation, groups)
    c_in_per_group, c_out = kernel.shape[-2:]
    xp = pad(x, geo.padding)
    y = np.zeros((x.shape[0], *geo.out, c_out))
    for b in range(x.shape[0]):
        for pos in np.ndindex(*geo.out):
            for o in range(c_out):
                first = (o // (c_out // groups)) * c_in_per_group  # the group's first input channel
                total = 0.0
                for tap in np.ndindex(*geo.kernel):
                    at = _reads(pos, tap, geo.stride, geo.dilation)
                    for c in range(c_in_per_group):
                        total += xp[(b, *at, first + c)] * kernel[(*tap, c, o)]
                y[(b, *pos, o)] = total
    return y


def unfold(x, kernel_size, stride=1, padding=0, dilation=1):
    """Q3, part two: copy every patch of the padded input into one row vector.

    ``(N, *spatial, C)`` -> ``(N, *spatial_out, prod(k)·C)``, entry ``t·C + c`` of a row being
    channel ``c`` under tap ``t`` (taps numbered in row-major order over the kernel dims).
    """
    x = np.asarray(x, np.float64)
    geo = _geometry(x.shape, kernel_size, stride, padding, dilation)
    n, c_in = x.shape[0], x.shape[-1]
    xp = pad(x, geo.padding)
    patches = np.zeros((n, *geo.out, math.prod(geo.kernel) * c_in))
    for b in range(n):
        for pos in np.ndindex(*geo.out):
            for t, tap in enumerate(np.ndindex(*geo.kernel)):  # t: the tap's row-major number
                at = _reads(pos, tap, geo.stride, geo.dilation)
                for c in range(c_in):
                    patches[(b, *pos, t * c_in + c)] = xp[(b, *at, c)]
    return patches


def fold(patches, input_shape, kernel_size, stride=1, padding=0, dilation=1):
    """The adjoint of unfold: add every patch entry back onto the pixel it was copied from."""
    patches = np.asarray(patches, np.float64)
    geo = _geometry(input_shape, kernel_size, stride, padding, dilation)
    n, c_in = input_shape[0], input_shape[-1]
    _check_shape("patches", patches.shape, (n, *geo.out, math.prod(geo.kernel) * c_in))
    xp = np.zeros(
        (n, *(size + low + high for size, (low, high) in zip(input_shape[1:-1], geo.padding)), c_in)
    )
    for b in range(n):
        for pos in np.ndindex(*geo.out):
            for t, tap in enumerate(np.ndindex(*geo.kernel)):
                at = _reads(pos, tap, geo.stride, geo.dilation)
                for c in range(c_in):
                    xp[(b, *at, c)] += patches[(b, *pos, t * c_in + c)]
    return _crop(xp, geo.padding, input_shape[1:-1])  # what landed in the padding is dropped


def conv_weight_grad(x, kernel_shape, g, stride=1, padding=0, dilation=1, groups=1):
    """Q4 in scalars: dW[*t, c, o] = sum over batch and output pixels of x_padded · g.

    **Arguments:** ``x``: ``(N, *spatial, C_in)``; ``kernel_shape``:
    ``(*k, C_in // groups, C_out)``; ``g``: the output gradient ``(N, *spatial_out, C_out)``.
    **Returns:** dL/dW, ``kernel_shape``.
    """
    x, g = np.asarray(x, np.float64), np.asarray(g, np.float64)
    kernel_shape = tuple(kernel_shape)
    geo, groups = _conv_geometry(x.shape, kernel_shape, stride, padding, dilation, groups)
    c_in_per_group, c_out = kernel_shape[-2:]
    _check_shape("g", g.shape, (x.shape[0], *geo.out, c_out))
    xp = pad(x, geo.padding)
    dw = np.zeros(kernel_shape)
    for tap in np.ndindex(*geo.kernel):
        for c in range(c_in_per_group):
            for o in range(c_out):
                channel = (o // (c_out // groups)) * c_in_per_group + c
                for b in range(x.shape[0]):
                    for pos in np.ndindex(*geo.out):
                        dw[(*tap, c, o)] += (
                            xp[(b, *_reads(pos, tap, geo.stride, geo.dilation), channel)]
                            * g[(b, *pos, o)]
                        )
    return dw


def conv_input_grad(input_shape, kernel, g, stride=1, padding=0, dilation=1, groups=1):
    """Q5 in scalars: each output pixel sends g · kernel back to every input pixel of its patch.

    **Arguments:** ``input_shape``: ``(N, *spatial, C_in)``; ``kernel``:
    ``(*k, C_in // groups, C_out)``; ``g``: the output gradient ``(N, *spatial_out, C_out)``.
    **Returns:** dL/dX, ``input_shape``.
    """
    kernel, g = np.asarray(kernel, np.float64), np.asarray(g, np.float64)
    input_shape = tuple(input_shape)
    geo, groups = _conv_geometry(input_shape, kernel.shape, stride, padding, dilation, groups)
    c_in_per_group, c_out = kernel.shape[-2:]
    n = input_shape[0]
    _check_shape("g", g.shape, (n, *geo.out, c_out))
    dxp = np.zeros(
        (
            n,
            *(size + low + high for size, (low, high) in zip(input_shape[1:-1], geo.padding)),
            input_shape[-1],
        )
    )
    for b in range(n):
        for pos in np.ndindex(*geo.out):
            for o in range(c_out):
                first = (o // (c_out // groups)) * c_in_per_group
                for tap in np.ndindex(*geo.kernel):
                    at = _reads(pos, tap, geo.stride, geo.dilation)
                    for c in range(c_in_per_group):
                        dxp[(b, *at, first + c)] += kernel[(*tap, c, o)] * g[(b, *pos, o)]
    return _crop(dxp, geo.padding, input_shape[1:-1])


def conv_transpose(y, kernel, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """The transposed convolution (PyTorch's ``F.conv_transpose{1,2,3}d``), as the scatter-add loop.

    Each pixel of ``y`` adds itself times the kernel into the input window it came from; the
    full result, of size ``(size - 1)·stride + dilation·(k - 1) + 1 + output_padding`` per dim,
    then loses ``padding`` rows at each end. By definition this is the input gradient of the
    forward convolution::

        conv_transpose(y, kernel, s, p, op, dil, G)
            == conv_input_grad((N, *spatial_in, C_in), kernel, y, s, p, dil, G)

    when ``output_padding < stride`` (otherwise ``y`` must first be extended by zeros at the high
    end, to the forward convolution's larger output).

    **Arguments:**
      y: ``(N, *spatial, C_out)``.
      kernel: ``(*k, C_in // groups, C_out)``, the FORWARD convolution's layout (not PyTorch's).
      stride, dilation: an int or one per spatial dim (>= 1).
      padding: an int or one per spatial dim (>= 0), symmetric: PyTorch's meaning, rows cropped
        off each end.
      output_padding: an int or one per spatial dim, rows added at the high end; each must be
        smaller than that dim's stride or dilation.

    **Returns:** ``(N, *spatial_in, C_in)`` with
    ``spatial_in = (size - 1)·stride - 2·padding + dilation·(k - 1) + output_padding + 1``.
    """
    y, kernel = np.asarray(y, np.float64), np.asarray(kernel, np.float64)
    _check_input_rank("y", y.shape)
    d = y.ndim - 2
    if kernel.ndim != y.ndim:
        raise ValueError(
            f"a {d}-d y {y.shape} needs a kernel (*k, C_in // groups, C_out) of rank {y.ndim}, got "
            f"shape {kernel.shape}"
        )
    c_in_per_group, c_out = kernel.shape[-2:]
    if y.shape[-1] != c_out:
        raise ValueError(
            f"y has {y.shape[-1]} channels but the kernel {kernel.shape} has C_out = {c_out}"
        )
    groups = _int("groups", groups, 1)
    if c_out % groups:
        raise ValueError(f"output channels {c_out} are not divisible by groups {groups}")
    c_in = c_in_per_group * groups
    k = kernel.shape[:-2]
    stride, dilation = _per_dim("stride", stride, d, 1), _per_dim("dilation", dilation, d, 1)
    padding = _per_dim("padding", padding, d, 0)
    output_padding = _per_dim("output_padding", output_padding, d, 0)
    full, spatial_in = [], []
    for axis, (size, kk, s, p, op, dil) in enumerate(
        zip(y.shape[1:-1], k, stride, padding, output_padding, dilation)
    ):
        if op >= s and op >= dil:
            raise ValueError(
                f"along spatial dim {axis}: output_padding {op} must be smaller than the stride "
                f"{s} or the dilation {dil}"
            )
        full.append((size - 1) * s + dil * (kk - 1) + 1 + op)
        spatial_in.append(full[-1] - 2 * p)
        if size < 1 or spatial_in[-1] < 1:
            raise ValueError(
                f"along spatial dim {axis}: the output size ({size}-1)*{s} - 2*{p} + "
                f"{dil}*({kk}-1) + {op} + 1 = {spatial_in[-1]} "
                f"must be >= 1 (and y's size {size} >= 1)"
            )
    n = y.shape[0]
    out = np.zeros((n, *full, c_in))
    for b in range(n):
        for pos in np.ndindex(*y.shape[1:-1]):
            for o in range(c_out):
                first = (o // (c_out // groups)) * c_in_per_group
                for tap in np.ndindex(*k):
                    at = _reads(pos, tap, stride, dilation)
                    for c in range(c_in_per_group):
                        out[(b, *at, first + c)] += kernel[(*tap, c, o)] * y[(b, *pos, o)]
    return _crop(
        out, [(p, p + op) for p, op in zip(padding, output_padding)], spatial_in
    )  # rows in the padding are cropped


# ---------------------------------------------------------------------------
# The 2-D names of the assignment (NHWC images, HWIO kernels)
# ---------------------------------------------------------------------------


def _check_2d(name, shape):
    if len(shape) != 4:
        raise ValueError(
            f"{name} must be NHWC (batch, height, width, channels), a rank-4 array; got shape "
            f"{tuple(shape)}"
        )


def conv2d(x, kernel, stride=1, padding=0):
    """Q1: for every output pixel and output channel, a dot product of patch and kernel
    (``conv`` for d = 2)."""
    _check_2d("x", np.shape(x))
    return conv(x, kernel, stride, padding)


def conv2d_weight_grad(x, kernel_shape, g, stride=1, padding=0):
    """Q4 in scalars: dW[i, j, c, o] = sum over batch and output pixels of x_padded · g
    (``conv_weight_grad`` for d = 2)."""
    _check_2d("x", np.shape(x))
    return conv_weight_grad(x, kernel_shape, g, stride, padding)


def conv2d_input_grad(input_shape, kernel, g, stride=1, padding=0):
    """Q5 in scalars: each output pixel sends g · kernel back to every input pixel of its patch
    (``conv_input_grad`` for d = 2)."""
    _check_2d("input_shape", input_shape)
    return conv_input_grad(input_shape, kernel, g, stride, padding)
