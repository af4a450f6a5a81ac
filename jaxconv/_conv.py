"""The public convolution functions: argument checks, then the primitives of ``_bilinear``.

``conv`` is ``unfold(X) W`` (the products and their derivation as shape algebra:
``_products``); its derivatives of every order, forward and reverse, are the
hand-derived maps ``conv_input_grad`` = fold(g Wᵀ) and ``conv_weight_grad`` =
unfold(X)ᵀ g (the JVP and transpose rules: ``_bilinear``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxconv._bilinear import conv_p, input_grad_p, weight_grad_p
from jaxconv._shapes import ConvGeometry, IntOrPair, Padding, conv_geometry

# ---------------------------------------------------------------------------
# Argument checks and the public functions.

_LAYOUTS = {1: ("NWC", "WIO"), 2: ("NHWC", "HWIO"), 3: ("NDHWC", "DHWIO")}


def _layouts(rank: int) -> tuple[str, str]:
    return _LAYOUTS.get(rank, ("channels-last", "(*k, I, O)"))


def check_rank(name: str, x_shape, kernel_shape, rank: int) -> None:
    """conv1d/conv2d/conv3d: both arrays of the function's rank."""
    x_layout, k_layout = _layouts(rank)
    if len(x_shape) != rank + 2:
        raise ValueError(
            f"x must be {x_layout} ({rank} spatial axes) for {name}, a rank-{rank + 2} array; "
            f"got shape {tuple(x_shape)} of rank {len(x_shape)}"
        )
    if len(kernel_shape) != rank + 2:
        raise ValueError(
            f"kernel must be {k_layout} ({rank} spatial axes) for {name}, a rank-{rank + 2} array; "
            f"got shape {tuple(kernel_shape)} of rank {len(kernel_shape)}"
        )


def check_groups(groups) -> int:
    """``groups`` itself, after checking that it is an integer >= 1."""
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"groups must be an integer >= 1, got {groups!r}")
    return groups


def check_channels(x_shape, kernel_shape, groups) -> int:
    """The groups as an int, after checking that x, the kernel and the groups fit together."""
    check_groups(groups)
    if len(kernel_shape) < 2 or len(x_shape) != len(kernel_shape):
        raise ValueError(
            f"x {tuple(x_shape)} must be (N, *spatial, C_in) and the kernel {tuple(kernel_shape)} "
            "(*k, C_in // groups, C_out), "
            "with the same number of spatial axes (none: a matrix product)"
        )
    x_layout, k_layout = _layouts(len(x_shape) - 2)
    c_in, k_in, c_out = x_shape[-1], kernel_shape[-2], kernel_shape[-1]
    if groups == 1 and c_in != k_in:
        raise ValueError(
            f"x has {c_in} input channels (shape {tuple(x_shape)}, {x_layout}) but the kernel "
            "expects "
            f"{k_in} (shape {tuple(kernel_shape)}, {k_layout}): the channel counts must match"
        )
    if c_in % groups:
        raise ValueError(
            f"x has {c_in} input channels (shape {tuple(x_shape)}), which do not split into "
            f"{groups} groups"
        )
    if c_out % groups:
        raise ValueError(
            f"the kernel has {c_out} output channels (shape {tuple(kernel_shape)}), which do not "
            f"split into {groups} groups"
        )
    if k_in != c_in // groups:
        raise ValueError(
            f"x has {c_in} input channels (shape {tuple(x_shape)}), {c_in // groups} per group for "
            f"{groups} groups, but the kernel "
            f"expects {k_in} per group (shape {tuple(kernel_shape)}, (*k, C_in // groups, C_out))"
        )
    return groups


def common_dtype(x, kernel, integers: bool = False):
    """The promoted dtype of both operands: floating or complex, or also an integer type for
    ``conv_general_dilated`` (lax's integer convolutions)."""
    dtype = jnp.promote_types(x.dtype, kernel.dtype)
    allowed = jnp.issubdtype(dtype, jnp.inexact) or (
        integers and jnp.issubdtype(dtype, jnp.integer)
    )
    if not allowed:
        raise ValueError(
            f"the convolution needs floating-point inputs, got x {x.dtype} and kernel "
            f"{kernel.dtype} (complex works; integers through conv_general_dilated only)"
        )
    return dtype


def conv_with_geometry(
    x, kernel, geometry: ConvGeometry, groups: int, precision=None, integers: bool = False
):
    """The convolution primitive for checked arguments (``conv`` and ``conv_general_dilated``
    use it)."""
    return bind_bilinear(conv_p, x, kernel, geometry, groups, precision, integers)


def bind_bilinear(prim, a, b, geometry: ConvGeometry, groups: int, precision, integers=False):
    """One of the three primitives on ``a`` and ``b`` cast to their common dtype."""
    dtype = common_dtype(a, b, integers)
    if isinstance(precision, list):
        precision = tuple(precision)  # a primitive parameter must be hashable
    return prim.bind(
        a.astype(dtype), b.astype(dtype), geometry=geometry, groups=groups, precision=precision
    )


def conv(
    x: jax.Array,
    kernel: jax.Array,
    stride: IntOrPair = 1,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
    *,
    precision=None,
) -> jax.Array:
    """N-d cross-correlation (a deep-learning "convolution") with derived gradients.

    **Arguments:**
      x: input, ``(N, *spatial, C_in)`` with d >= 1 spatial axes (channels-last).
      kernel: ``(*k, C_in // groups, C_out)`` (flax's layout: HWIO in 2-D).
      stride, dilation: an int or one per spatial axis, each >= 1.
      padding: an int (every side), one int per axis (both sides), one
        ``(low, high)`` pair per axis, or ``'SAME'``/``'SAME_LOWER'``/``'VALID'``
        (lax's meaning: 'SAME' gives ``ceil(size / stride)`` outputs, the odd
        extra row of padding at the high end).
      groups: split C_in and C_out into this many independent convolutions
        (``groups == C_in``: depthwise, with C_out / C_in outputs per channel).
      precision: passed to the matrix products (``jax.lax.Precision``).

    **Returns:** ``(N, *spatial_out, C_out)`` in the promoted dtype of ``x`` and
    ``kernel``, ``spatial_out`` as :func:`jaxconv.output_size` gives it per axis.

    Raises ValueError at trace time, naming the numbers, for mismatched ranks or
    channels, channels the groups do not divide, stride or dilation < 1, a bad
    padding, or a dilated kernel larger than the padded input.
    """
    groups = check_channels(x.shape, kernel.shape, groups)
    geometry = conv_geometry(x.shape[1:-1], kernel.shape[:-2], stride, padding, dilation)
    return conv_with_geometry(x, kernel, geometry, groups, precision)


def _conv_of_rank(rank: int, name: str):
    def conv_nd(x, kernel, stride=1, padding=0, dilation=1, groups=1, *, precision=None):
        check_rank(name, x.shape, kernel.shape, rank)
        return conv(x, kernel, stride, padding, dilation, groups, precision=precision)

    x_layout, k_layout = _layouts(rank)
    conv_nd.__name__ = conv_nd.__qualname__ = name
    conv_nd.__doc__ = (
        f"{rank}-D :func:`conv`: x ``{x_layout}``, kernel ``{k_layout}``; the same arguments, with "
        "the rank checked.\n\n"
        "    Per-axis arguments (stride, dilation, padding pairs) take one entry per spatial axis."
    )
    return conv_nd


conv1d = _conv_of_rank(1, "conv1d")
conv2d = _conv_of_rank(2, "conv2d")
conv3d = _conv_of_rank(3, "conv3d")


def _geometry_for_grad(input_shape, kernel_shape, g_shape, stride, padding, dilation, groups):
    groups = check_channels(input_shape, kernel_shape, groups)
    geometry = conv_geometry(input_shape[1:-1], kernel_shape[:-2], stride, padding, dilation)
    expected = (input_shape[0], *geometry.output_size, kernel_shape[-1])
    if tuple(g_shape) != expected:
        raise ValueError(
            f"g must be the output cotangent of shape (N, *spatial_out, C_out) = {expected}; got "
            f"{tuple(g_shape)}"
        )
    return geometry, groups


def conv_weight_grad(
    x, kernel_shape, g, stride=1, padding=0, dilation=1, groups=1, *, precision=None
) -> jax.Array:
    """dL/dW = Uᵀ g' for the convolution of ``x`` (per group when ``groups > 1``).

    **Arguments:**
      x: the convolution's input, ``(N, *spatial, C_in)``.
      kernel_shape: ``(*k, C_in // groups, C_out)``.
      g: the output cotangent dL/dY, ``(N, *spatial_out, C_out)``.
      stride, padding, dilation, groups: as given to :func:`conv`.

    **Returns:** dL/dW with shape ``kernel_shape``.
    """
    kernel_shape = tuple(int(d) for d in kernel_shape)
    geometry, groups = _geometry_for_grad(
        x.shape, kernel_shape, g.shape, stride, padding, dilation, groups
    )
    return bind_bilinear(weight_grad_p, x, g, geometry, groups, precision)


def conv_input_grad(
    input_shape, kernel, g, stride=1, padding=0, dilation=1, groups=1, *, precision=None
) -> jax.Array:
    """dL/dX = fold(g' Wᵀ) for a convolution with ``kernel`` (per group when ``groups > 1``).

    **Arguments:**
      input_shape: ``(N, *spatial, C_in)`` of the convolution's input.
      kernel: ``(*k, C_in // groups, C_out)``.
      g: the output cotangent dL/dY, ``(N, *spatial_out, C_out)``.
      stride, padding, dilation, groups: as given to :func:`conv`.

    **Returns:** dL/dX with shape ``input_shape``.
    """
    input_shape = tuple(int(d) for d in input_shape)
    geometry, groups = _geometry_for_grad(
        input_shape, kernel.shape, g.shape, stride, padding, dilation, groups
    )
    return bind_bilinear(input_grad_p, g, kernel, geometry, groups, precision)


def conv2d_weight_grad(
    x, kernel_shape, g, stride=1, padding=0, precision=None, *, dilation=1, groups=1
) -> jax.Array:
    """:func:`conv_weight_grad` in 2-D: ``x`` NHWC, ``kernel_shape`` HWIO, ``g`` NHWC."""
    check_rank("conv2d_weight_grad", x.shape, kernel_shape, 2)
    return conv_weight_grad(
        x, kernel_shape, g, stride, padding, dilation, groups, precision=precision
    )


def conv2d_input_grad(
    input_shape, kernel, g, stride=1, padding=0, precision=None, *, dilation=1, groups=1
) -> jax.Array:
    """:func:`conv_input_grad` in 2-D: ``input_shape`` NHWC, ``kernel`` HWIO, ``g`` NHWC."""
    check_rank("conv2d_input_grad", input_shape, kernel.shape, 2)
    return conv_input_grad(
        input_shape, kernel, g, stride, padding, dilation, groups, precision=precision
    )
