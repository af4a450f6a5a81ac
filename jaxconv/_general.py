"""``conv_general_dilated``: lax's signature and semantics, computed by jaxconv.

A drop-in for ``jax.lax.conv_general_dilated`` so that any Flax convolution
layer runs on jaxconv::

    nnx.Conv(..., conv_general_dilated=jaxconv.conv_general_dilated)

Layouts are lax's dimension numbers (strings such as ``('NCHW', 'OIHW', 'NCHW')``
or a ``ConvDimensionNumbers``; None is lax's default, NC* / OI* / NC*). The
arrays are transposed to jaxconv's channels-last layout ``(N, *S, C)`` /
``(*k, I, O)``, convolved by :func:`jaxconv.conv`'s custom VJP, and the output
transposed to the requested layout (XLA folds these transposes into its
neighbours, and for Flax's own NHWC / HWIO layout they are identities).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxconv._conv import check_channels, conv_with_geometry
from jaxconv._shapes import conv_geometry
from jaxconv._transpose import conv_by_fold, takes_fold_path


def conv_general_dilated(
    lhs,
    rhs,
    window_strides,
    padding,
    lhs_dilation=None,
    rhs_dilation=None,
    dimension_numbers=None,
    feature_group_count: int = 1,
    batch_group_count: int = 1,
    precision=None,
    preferred_element_type=None,
    out_sharding=None,
):
    """``jax.lax.conv_general_dilated``, with jaxconv's unfold/fold forward and derived backward.

    **Arguments** (lax's, with lax's meaning):
      lhs: the input, laid out as ``dimension_numbers[0]`` says.
      rhs: the kernel, laid out as ``dimension_numbers[1]`` says.
      window_strides: one stride per spatial axis.
      padding: ``'SAME'``, ``'SAME_LOWER'``, ``'VALID'`` or one ``(low, high)`` pair
        per spatial axis (negative values crop).
      lhs_dilation: input dilation, zero insertion between input pixels (None: 1).
      rhs_dilation: kernel dilation (None: 1).
      dimension_numbers: layouts, as strings or a ``ConvDimensionNumbers``.
      feature_group_count: groups (``== C_in``: depthwise).
      batch_group_count: must be 1 (lax uses larger values only inside its own
        transpose rules); anything else is refused.
      precision: passed to the products.
      preferred_element_type: the output dtype (None: the inputs' dtype).
      out_sharding: must be None (accepted because Flax passes it).

    **Returns:** the output, laid out as ``dimension_numbers[2]`` says.
    """
    if batch_group_count != 1:
        raise ValueError(
            "jaxconv.conv_general_dilated supports batch_group_count=1 only, got "
            f"{batch_group_count}"
        )
    if out_sharding is not None:
        raise ValueError(
            "jaxconv.conv_general_dilated does not take out_sharding; shard its inputs instead"
        )
    rank = lhs.ndim - 2
    if isinstance(padding, str) and lhs_dilation is not None and any(r > 1 for r in lhs_dilation):
        raise ValueError(
            "string padding with lhs_dilation is not defined (lax refuses it too): give (low, "
            "high) pairs"
        )
    lhs_spec, rhs_spec, out_spec = lax.conv_dimension_numbers(
        lhs.shape, rhs.shape, dimension_numbers
    )
    x = lhs.transpose(lhs_spec[0], *lhs_spec[2:], lhs_spec[1])  # (N, *S, C_in)
    kernel = rhs.transpose(*rhs_spec[2:], rhs_spec[1], rhs_spec[0])  # (*k, C_in // groups, C_out)
    groups = check_channels(x.shape, kernel.shape, feature_group_count)
    geometry = conv_geometry(
        x.shape[1:-1],
        kernel.shape[:-2],
        tuple(window_strides),
        padding if isinstance(padding, str) else tuple(tuple(p) for p in padding),
        rhs_dilation or 1,
        lhs_dilation or 1,
        allow_negative_padding=True,
        allow_empty_output=True,  # a kernel longer than the padded input: lax returns no pixels
    )
    if (
        preferred_element_type is not None
        and jnp.dtype(preferred_element_type).itemsize > jnp.dtype(x.dtype).itemsize
    ):
        # a wider output type, as lax's accumulation in it: compute in it from the start
        x, kernel = x.astype(preferred_element_type), kernel.astype(preferred_element_type)
    if 0 in geometry.output_size:  # nothing to compute; the gradients are zeros
        y = jnp.zeros((x.shape[0], *geometry.output_size, kernel.shape[-1]), x.dtype)
    elif takes_fold_path(geometry):  # input dilation: the transposed convolution, as fold
        y = conv_by_fold(x, kernel, geometry, groups, precision)  # (N, *O, C_out)
    else:
        y = conv_with_geometry(x, kernel, geometry, groups, precision)  # (N, *O, C_out)
    if preferred_element_type is not None:
        y = y.astype(preferred_element_type)
    # y's axes in the output's terms: batch, the spatial axes, then the features
    out_axes = (out_spec[0], *out_spec[2:], out_spec[1])
    assert y.ndim == rank + 2
    return y.transpose(*np.argsort(out_axes))
