"""``conv_general_dilated``: lax's signature and semantics, computed by jaxconv.

A drop-in for ``jax.lax.conv_general_dilated`` so that any Flax convolution
layer runs on jaxconv::

    nnx.Conv(..., conv_general_dilated=jaxconv.conv_general_dilated)

Layouts are lax's dimension numbers (strings such as ``('NCHW', 'OIHW', 'NCHW')``
or a ``ConvDimensionNumbers``; None is lax's default, NC* / OI* / NC*). The
arrays are transposed to jaxconv's channels-last layout ``(N, *S, C)`` /
``(*k, I, O)``, convolved by :func:`jaxconv.conv`'s primitive, and the output
transposed to the requested layout (XLA folds these transposes into its
neighbours, and for Flax's own NHWC / HWIO layout they are identities).
"""

from __future__ import annotations

import operator

import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxconv._conv import check_channels, conv_with_geometry
from jaxconv._shapes import conv_geometry
from jaxconv._transpose import conv_by_fold, takes_fold_path


def checked_lax_padding(padding):
    """A string, or (low, high) pairs as a tuple of int pairs; lax's message and type if not."""
    if isinstance(padding, str):
        return padding
    try:
        return tuple((operator.index(lo), operator.index(hi)) for lo, hi in padding)
    except (ValueError, TypeError) as e:
        raise ValueError(
            "padding argument to conv_general_dilated should be a string or a sequence of "
            f"(low, high) pairs, got {padding}"
        ) from e


def check_negative_padding(spatial, pairs, lhs_dilation) -> None:
    """lax's check: no axis of the input-dilated, padded input may be shorter than nothing."""
    dilated = [(size - 1) * r + 1 if size else 0 for size, r in zip(spatial, lhs_dilation)]
    if any(size + lo + hi < 0 for size, (lo, hi) in zip(dilated, pairs)):
        raise ValueError(
            "Negative padding is larger than the size of the corresponding dimension: "
            f"got padding={list(pairs)} for lhs_shape[2:]={tuple(dilated)}"
        )


def check_batch_groups(x_shape, kernel_shape, batch_group_count, feature_group_count) -> None:
    """lax's conditions on batch_group_count, with its messages."""
    if isinstance(batch_group_count, bool) or not isinstance(batch_group_count, int):
        raise TypeError(f"batch_group_count must be an integer, got {batch_group_count!r}")
    if batch_group_count < 1:
        raise ValueError(f"batch_group_count must be a positive integer, got {batch_group_count}")
    if feature_group_count != 1:
        raise ValueError(
            "At most one of batch_group_count and feature_group_count may be > 1, got "
            f"batch_group_count={batch_group_count} and feature_group_count={feature_group_count}"
        )
    if x_shape[0] % batch_group_count:
        raise ValueError(
            f"batch_group_count must divide the lhs batch, but {batch_group_count} does not "
            f"divide {x_shape[0]}"
        )
    if kernel_shape[-1] % batch_group_count:
        raise ValueError(
            f"the rhs output features ({kernel_shape[-1]}) must be a multiple of "
            f"batch_group_count ({batch_group_count})"
        )


def _batch_groups_as_feature_groups(x, batch_group_count: int):
    """lax's batch groups as feature groups. With B batch groups, lhs (B·N', *S, C) and rhs
    (*k, C, B·O), output channel o of block b sees batch block b and every input channel::

        Y[n', *, b·O + o] = sum_tc X[b·N' + n', *+t, c] W[t, c, b·O + o]

    Moving the batch blocks in front of the channels, X' = (N', *S, B·C) with
    X'[n', *, b·C + c] = X[b·N' + n', *, c], makes that the convolution with B feature
    groups of X' and the same rhs (group b: channels b·C.., outputs b·O..)."""
    b = batch_group_count
    x = x.reshape(b, x.shape[0] // b, *x.shape[1:])  # (B, N', *S, C)
    x = jnp.moveaxis(x, 0, -2)  # (N', *S, B, C)
    return x.reshape(*x.shape[:-2], b * x.shape[-1]), b  # (N', *S, B·C), B groups


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
      batch_group_count: batch block b of lhs meets output-channel block b of rhs
        (``_batch_groups_as_feature_groups``); at most one of the two counts > 1.
      precision: passed to the products.
      preferred_element_type: the output dtype (None: the inputs' dtype).
      out_sharding: must be None (accepted because Flax passes it).

    **Returns:** the output, laid out as ``dimension_numbers[2]`` says.
    """
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
    # lax's order of checks, so that each bad input raises lax's exception type
    lhs_spec, rhs_spec, out_spec = lax.conv_dimension_numbers(
        lhs.shape, rhs.shape, dimension_numbers
    )
    padding = checked_lax_padding(padding)
    if lhs.ndim != rhs.ndim:
        raise ValueError(
            "conv_general_dilated lhs and rhs must have the same number of dimensions, but got "
            f"{lhs.shape} and {rhs.shape}"
        )
    x = lhs.transpose(lhs_spec[0], *lhs_spec[2:], lhs_spec[1])  # (N, *S, C_in)
    kernel = rhs.transpose(*rhs_spec[2:], rhs_spec[1], rhs_spec[0])  # (*k, C_in // groups, C_out)
    if not isinstance(padding, str):
        check_negative_padding(x.shape[1:-1], padding, lhs_dilation or (1,) * rank)
    if batch_group_count != 1:
        check_batch_groups(x.shape, kernel.shape, batch_group_count, feature_group_count)
        x, feature_group_count = _batch_groups_as_feature_groups(x, batch_group_count)
    groups = check_channels(x.shape, kernel.shape, feature_group_count)
    geometry = conv_geometry(
        x.shape[1:-1],
        kernel.shape[:-2],
        tuple(window_strides),
        padding,
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
    logical = jnp.result_type(x, kernel) == jnp.bool_
    if logical:  # lax's boolean convolution: the OR of ANDs, as a count of products > 0
        x, kernel = x.astype(jnp.int32), kernel.astype(jnp.int32)
    if 0 in geometry.output_size:  # nothing to compute; the gradients are zeros
        y = jnp.zeros((x.shape[0], *geometry.output_size, kernel.shape[-1]), x.dtype)
    elif takes_fold_path(geometry):  # input dilation: the transposed convolution, as fold
        y = conv_by_fold(x, kernel, geometry, groups, precision)  # (N, *O, C_out)
    else:
        y = conv_with_geometry(
            x, kernel, geometry, groups, precision, integers=True
        )  # (N, *O, C_out)
    if logical:
        y = y > 0
    if preferred_element_type is not None:
        y = y.astype(preferred_element_type)
    # y's axes in the output's terms: batch, the spatial axes, then the features
    out_axes = (out_spec[0], *out_spec[2:], out_spec[1])
    assert y.ndim == rank + 2
    return y.transpose(*np.argsort(out_axes))
