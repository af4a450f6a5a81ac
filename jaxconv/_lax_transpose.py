"""``conv_transpose_general``: ``jax.lax.conv_transpose``'s signature and semantics, on jaxconv.

lax's transposed convolution is a convolution with input dilation (the strides),
window stride 1 and, for 'SAME' / 'VALID', the padding below; with
``transpose_kernel`` the kernel is first flipped in space and its channel axes
swapped. This module does exactly that and hands the result to
:func:`jaxconv.conv_general_dilated`, which computes input dilation as fold
(``_transpose.conv_by_fold``), so the zeros lax inserts are never multiplied.

Padding per axis, with the dilated kernel ``k_d = d·(k - 1) + 1`` and stride s
(lax's ``_conv_transpose_padding``; the padding strings name the forward
convolution's)::

    'SAME':  total k_d + s - 2,                  low k_d - 1 if s > k_d - 1 else ceil(total / 2)
    'VALID': total k_d + s - 2 + max(k_d - s, 0), low k_d - 1
    (lo, hi) with use_consistent_padding: the forward's, (k_d - 1 - lo, k_d - 1 - hi)
    (lo, hi) otherwise: the zero-insertion view's padding, as given
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from jaxconv._general import conv_general_dilated
from jaxconv._shapes import ceil_div

_DEFAULT_LAYOUTS = {
    2: ("NC", "IO", "NC"),
    3: ("NHC", "HIO", "NHC"),
    4: ("NHWC", "HWIO", "NHWC"),
    5: ("NHWDC", "HWDIO", "NHWDC"),
}


def _transpose_padding(k_dilated: int, stride: int, padding) -> tuple[int, int]:
    """The zero-insertion view's (low, high) padding for one axis (module docstring)."""
    if padding == "SAME":
        total = k_dilated + stride - 2
        low = k_dilated - 1 if stride > k_dilated - 1 else ceil_div(total, 2)
    elif padding == "VALID":
        total = k_dilated + stride - 2 + max(k_dilated - stride, 0)
        low = k_dilated - 1
    elif isinstance(padding, tuple):
        low, high = (k_dilated - 1 - p for p in padding)
        total = low + high
    else:
        raise ValueError(f"Invalid padding mode: {padding}")
    return low, total - low


def conv_transpose_general(
    lhs,
    rhs,
    strides,
    padding,
    rhs_dilation=None,
    dimension_numbers=None,
    transpose_kernel: bool = False,
    precision=None,
    preferred_element_type=None,
    use_consistent_padding: bool = False,
):
    """``jax.lax.conv_transpose``, computed by jaxconv (fold forward, derived backward).

    **Arguments** (lax's, with lax's meaning):
      lhs: the input, ``(N, *spatial, C_in)`` by default (NC, NHC, NHWC, NHWDC).
      rhs: the kernel, ``(*k, C_in, C_out)`` by default (IO, HIO, HWIO, HWDIO).
      strides: one fractional stride (upsampling factor) per spatial axis.
      padding: ``'SAME'``, ``'VALID'`` (the forward convolution's) or one
        ``(low, high)`` pair per spatial axis (the zero-insertion view's, or the
        forward's with ``use_consistent_padding``).
      rhs_dilation: kernel dilation (None: 1).
      dimension_numbers: layouts as in ``conv_general_dilated`` (None: the defaults above).
      transpose_kernel: flip the kernel in space and swap its channel axes first
        (then it is the forward convolution's kernel, ``(*k, C_out, C_in)``).
      precision, preferred_element_type: passed to the products.

    **Returns:** the output, laid out as ``dimension_numbers[2]`` says.
    """
    if lhs.ndim != rhs.ndim or lhs.ndim < 3:
        raise ValueError(
            f"lhs {tuple(lhs.shape)} and rhs {tuple(rhs.shape)} must have the same rank, with at "
            "least one spatial axis"
        )
    if dimension_numbers is None:
        if lhs.ndim not in _DEFAULT_LAYOUTS:
            raise ValueError("No 4+ dimensional dimension_number defaults.")
        dimension_numbers = _DEFAULT_LAYOUTS[lhs.ndim]
    dn = lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
    kernel_size = [rhs.shape[axis] for axis in dn.rhs_spec[2:]]
    rhs_dilation = tuple(rhs_dilation) if rhs_dilation is not None else (1,) * len(kernel_size)
    if use_consistent_padding or (isinstance(padding, str) and padding in ("SAME", "VALID")):
        per_axis = [padding] * len(strides) if isinstance(padding, str) else padding
        pads = tuple(
            _transpose_padding(d * (k - 1) + 1, s, tuple(p) if not isinstance(p, str) else p)
            for k, d, s, p in zip(kernel_size, rhs_dilation, strides, per_axis)
        )
    else:
        pads = padding
    if transpose_kernel:  # flip the spatial axes, swap the channel axes
        rhs = jnp.flip(rhs, axis=tuple(dn.rhs_spec[2:]))
        rhs = rhs.swapaxes(dn.rhs_spec[0], dn.rhs_spec[1])
    one = (1,) * len(kernel_size)
    return conv_general_dilated(
        lhs,
        rhs,
        one,
        pads,
        tuple(strides),
        rhs_dilation,
        dn,
        precision=precision,
        preferred_element_type=preferred_element_type,
    )
