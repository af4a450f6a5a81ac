"""The convolution as unfold + matrix product, any rank, with hand-derived gradients.

The derivation (Q4 and Q5 of the assignment, then past it), as shape algebra.
Write T = prod(kernel) for the kernel's taps, M = N·prod(spatial_out) for the
output pixels of the batch, G for the groups, C = C_in / G and O = C_out / G
for the channels of one group. The derivation in words and pictures is
docs/guide.md (chapters 3 and 5), its one copy; here is what the code below computes.

Dense (G = 1), K = T·C_in::

    X : (N, *S, C_in)                          input, channels-last
    U = unfold(X)          : (M, K)            one row per output pixel
    W : (K, C_out)                             the (*k, C_in, C_out) kernel, reshaped
    Y' = U W               : [M, K] [K, C_out] -> [M, C_out]
    Y = reshape(Y')        : (N, *S_out, C_out)

    With the output cotangent g = dL/dY, g' = reshape(g) : (M, C_out), and
    Y'_mo = sum_k U_mk W_ko:
    dW_ko = sum_m U_mk g'_mo  ->  dW = Uᵀ g'   : [K, M] [M, C_out] -> [K, C_out]
    dU_mk = sum_o g'_mo W_ko  ->  dU = g' Wᵀ   : [M, C_out] [C_out, K] -> [M, K]
    dX = fold(dU)                              : [M, K] -> (N, *S, C_in)

unfold copies each input entry into every patch that covers it, so its adjoint
``fold`` adds up the gradients of all those copies (and drops the ones that
landed in the zero padding), with the forward's own stride and padding
(docs/guide.md, chapter 4, shows what folding U, or folding with stride 1 and
padding 0, as the student report does, returns instead).

Dilation, padding of any form and input dilation change only unfold, never the
products: tap t of axis a reads padded row ``o·s + t·d``, so the taps of a
dilated kernel are d rows apart; asymmetric and 'SAME' padding become one
``(lo, hi)`` pair per axis; input dilation r inserts r - 1 zeros between input
rows. fold, built from the same geometry, is the adjoint of all of it (the
adjoint of zero insertion keeps every r-th row), so dX = fold(dU) holds as is.

Groups (G > 1): output channel block g sees only input channel block g. As one
matrix the kernel is block-diagonal, W_full = diag(W_1, ..., W_G) : (T·C_in, C_out)
with zeros off the blocks; the code never builds it and runs the G blocks as
one batched product over the patches split by group, the group axis leading
(a batch of G plain matrix products; with g inside the operands, XLA CPU's
products were slower: docs/performance.md, "Choosing the implementation")::

    U : (M, T, G, C) -> (G, M, T·C)    W : (T, C, G, O) -> (G, T·C, O)    g' : (G, M, O)
    Y'_gmo = sum_k U_gmk W_gko                  : [M, T·C] [T·C, O] -> [M, O], per g
    dW_gko = sum_m U_gmk g'_gmo                 : [T·C, M] [M, O] -> [T·C, O], per g
    dU_gmk = sum_o g'_gmo W_gko                 : [M, O] [O, T·C] -> [M, T·C], per g
    dX = fold(dU), dU back in (M, T, G, C) order

Depthwise (G = C_in, so C = 1, any multiplier O): the sum over c vanishes and
each tap is one multiply-add, with no patch matrix at all. For tap t with the
strided view V_t = unfold's tap t, (M, G)::

    Y'_mgo = sum_t V_t[m, g] W_tgo              : T multiply-adds of (M, G, 1) * (G, O)
    dW_tgo = sum_m V_t[m, g] g'_mgo             : one reduction over M per tap
    dV_t[m, g] = sum_o g'_mgo W_tgo             : then dX = sum_t place_tap(dV_t) = fold

The backward below uses only unfold's views, fold's placements and einsum: no
jax.grad, jax.vjp, jax.linear_transpose or lax convolution. Its own derivative
(needed for grad-of-grad and jax.hessian) is JAX's ordinary autodiff of those
einsums, slices and pads.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxconv._patches import fold_taps, pad_input, tap_views, unfold_taps
from jaxconv._shapes import ConvGeometry, IntOrPair, Padding, conv_geometry


def _accumulation_dtype(dtype):
    """float32 accumulation for 16-bit floats, as XLA's own convolutions do."""
    return jnp.float32 if jnp.dtype(dtype).itemsize < 4 else None


# ---------------------------------------------------------------------------
# The three products of each kind of convolution: forward, dW and dU.


def _dense_forward(x, kernel, geometry, precision):
    n, c_out = x.shape[0], kernel.shape[-1]
    patches = unfold_taps(x, geometry)  # (N, *O, T, C_in)
    u = patches.reshape(-1, geometry.num_taps * x.shape[-1])  # (M, K)
    w_matrix = kernel.reshape(-1, c_out)  # (K, C_out)
    acc = _accumulation_dtype(x.dtype)
    y = jnp.einsum(
        "mk,ko->mo", u, w_matrix, precision=precision, preferred_element_type=acc
    )  # (M, C_out)
    return y.astype(x.dtype).reshape(n, *geometry.output_size, c_out)  # (N, *O, C_out)


def _dense_weight_grad(x, kernel_shape, g, geometry, precision):
    patches = unfold_taps(x, geometry)  # (N, *O, T, C_in)
    # A 2-D contraction over M: XLA's CPU dot runs faster on it than on the same
    # einsum over (n, *spatial) (docs/performance.md).
    u = patches.reshape(-1, geometry.num_taps * x.shape[-1])  # (M, K)
    g_rows = g.reshape(-1, kernel_shape[-1])  # (M, C_out)
    acc = _accumulation_dtype(u.dtype)
    dw = jnp.einsum(
        "mk,mo->ko", u, g_rows, precision=precision, preferred_element_type=acc
    )  # (K, C_out)
    return dw.astype(x.dtype).reshape(kernel_shape)  # (*k, C_in, C_out)


def _dense_patch_grad(kernel, g, geometry, precision):
    c_in, c_out = kernel.shape[-2], kernel.shape[-1]
    w_matrix = kernel.reshape(-1, c_out)  # (K, C_out)
    g_rows = g.reshape(-1, c_out)  # (M, C_out)
    acc = _accumulation_dtype(g.dtype)
    du = jnp.einsum(
        "mo,ko->mk", g_rows, w_matrix, precision=precision, preferred_element_type=acc
    )  # (M, K)
    return du.reshape(
        g.shape[0], *geometry.output_size, geometry.num_taps, c_in
    )  # (N, *O, T, C_in)


def _patches_by_group(x, geometry, groups):
    """unfold(X) split by group, the group axis leading: ``(G, M, T·C)``."""
    t, c = geometry.num_taps, x.shape[-1] // groups
    u = unfold_taps(x, geometry).reshape(-1, t, groups, c)  # (M, T, G, C)
    return u.transpose(2, 0, 1, 3).reshape(groups, -1, t * c)  # (G, M, T·C)


def _kernel_by_group(kernel, groups):
    """The ``(*k, C, C_out)`` kernel as G matrices: ``(G, T·C, O)``."""
    c, c_out = kernel.shape[-2], kernel.shape[-1]
    w = kernel.reshape(-1, c, groups, c_out // groups)  # (T, C, G, O)
    return w.transpose(2, 0, 1, 3).reshape(groups, -1, c_out // groups)  # (G, T·C, O)


def _grouped_forward(x, kernel, geometry, groups, precision):
    n, c_out = x.shape[0], kernel.shape[-1]
    u = _patches_by_group(x, geometry, groups)  # (G, M, T·C)
    w = _kernel_by_group(kernel, groups)  # (G, T·C, O)
    acc = _accumulation_dtype(x.dtype)
    y = jnp.einsum(
        "gmk,gko->mgo", u, w, precision=precision, preferred_element_type=acc
    )  # (M, G, O)
    return y.astype(x.dtype).reshape(n, *geometry.output_size, c_out)  # (N, *O, C_out)


def _grouped_weight_grad(x, kernel_shape, g, geometry, groups, precision):
    o = kernel_shape[-1] // groups
    u = _patches_by_group(x, geometry, groups)  # (G, M, T·C)
    g_rows = g.reshape(-1, groups, o).transpose(1, 0, 2)  # (G, M, O)
    acc = _accumulation_dtype(x.dtype)
    dw = jnp.einsum(
        "gmk,gmo->kgo", u, g_rows, precision=precision, preferred_element_type=acc
    )  # (T·C, G, O)
    return dw.astype(x.dtype).reshape(kernel_shape)  # (*k, C, C_out)


def _grouped_patch_grad(kernel, g, geometry, groups, precision):
    t, c, c_out = geometry.num_taps, kernel.shape[-2], kernel.shape[-1]
    w = _kernel_by_group(kernel, groups)  # (G, T·C, O)
    g_rows = g.reshape(-1, groups, c_out // groups).transpose(1, 0, 2)  # (G, M, O)
    acc = _accumulation_dtype(g.dtype)
    du = jnp.einsum(
        "gmo,gko->mgk", g_rows, w, precision=precision, preferred_element_type=acc
    )  # (M, G, T·C)
    du = du.reshape(-1, groups, t, c).transpose(0, 2, 1, 3)  # (M, T, G, C)
    return du.reshape(g.shape[0], *geometry.output_size, t, groups * c)  # (N, *O, T, C_in)


def _depthwise_forward(x, kernel, geometry, precision):
    del precision  # elementwise products: no matrix unit to set a precision for
    n, groups, c_out = x.shape[0], x.shape[-1], kernel.shape[-1]
    acc = _accumulation_dtype(x.dtype) or x.dtype
    w = kernel.reshape(geometry.num_taps, 1, groups, c_out // groups).astype(acc)  # (T, 1, G, O)
    views = tap_views(pad_input(x, geometry), geometry)  # T × (N, *O, G)
    y = sum(v.reshape(-1, groups, 1).astype(acc) * w[t] for t, v in enumerate(views))  # (M, G, O)
    return y.astype(x.dtype).reshape(n, *geometry.output_size, c_out)  # (N, *O, C_out)


def _depthwise_weight_grad(x, kernel_shape, g, geometry):
    groups = x.shape[-1]
    acc = _accumulation_dtype(x.dtype) or x.dtype
    g_rows = g.reshape(-1, groups, kernel_shape[-1] // groups).astype(acc)  # (M, G, O)
    views = tap_views(pad_input(x, geometry), geometry)  # T × (N, *O, G)
    dw = jnp.stack(
        [jnp.sum(v.reshape(-1, groups, 1).astype(acc) * g_rows, axis=0) for v in views]
    )  # (T, G, O)
    return dw.astype(x.dtype).reshape(kernel_shape)  # (*k, 1, C_out)


def _depthwise_patch_grads(kernel, g, geometry, groups):
    o = kernel.shape[-1] // groups
    acc = _accumulation_dtype(g.dtype) or g.dtype
    w = kernel.reshape(geometry.num_taps, 1, groups, o).astype(acc)  # (T, 1, G, O)
    g_rows = g.reshape(-1, groups, o).astype(acc)  # (M, G, O)
    tap_shape = (g.shape[0], *geometry.output_size, groups)
    return [
        jnp.sum(g_rows * w[t], axis=-1).reshape(tap_shape) for t in range(geometry.num_taps)
    ]  # T × (N, *O, G)


# ---------------------------------------------------------------------------
# One forward and one backward for every kind, chosen by the groups.


def _is_depthwise(c_in: int, groups: int) -> bool:
    return groups > 1 and groups == c_in


def _forward(x, kernel, geometry: ConvGeometry, groups: int, precision):
    if groups == 1:
        return _dense_forward(x, kernel, geometry, precision)
    if _is_depthwise(x.shape[-1], groups):
        return _depthwise_forward(x, kernel, geometry, precision)
    return _grouped_forward(x, kernel, geometry, groups, precision)


def _weight_grad(x, kernel_shape, g, geometry: ConvGeometry, groups: int, precision):
    """dL/dW: Uᵀ g' (per group; per tap for depthwise)."""
    if groups == 1:
        return _dense_weight_grad(x, kernel_shape, g, geometry, precision)
    if _is_depthwise(x.shape[-1], groups):
        return _depthwise_weight_grad(x, kernel_shape, g, geometry)
    return _grouped_weight_grad(x, kernel_shape, g, geometry, groups, precision)


def _input_grad(kernel, g, geometry: ConvGeometry, groups: int, precision):
    """dL/dX: fold(g' Wᵀ) (per group; per tap for depthwise). fold sums up to T overlapping
    taps, so the accumulation dtype is kept until after it."""
    c_in = kernel.shape[-2] * groups
    if _is_depthwise(c_in, groups):
        taps = _depthwise_patch_grads(kernel, g, geometry, groups)  # T × (N, *O, C_in)
    else:
        if groups == 1:
            du = _dense_patch_grad(kernel, g, geometry, precision)  # (N, *O, T, C_in)
        else:
            du = _grouped_patch_grad(kernel, g, geometry, groups, precision)  # (N, *O, T, C_in)
        taps = [du[..., t, :] for t in range(geometry.num_taps)]  # T × (N, *O, C_in)
    return fold_taps(taps, geometry).astype(g.dtype)  # (N, *S, C_in)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv(x, kernel, geometry, groups, precision):
    return _forward(x, kernel, geometry, groups, precision)


def _conv_fwd(x, kernel, geometry, groups, precision):
    # Keep X, not U: U is T times larger, and under jit XLA computes the unfold
    # once for both passes anyway.
    return _forward(x, kernel, geometry, groups, precision), (x, kernel)


def _conv_bwd(geometry, groups, precision, residuals, g):
    x, kernel = residuals
    dx = _input_grad(kernel, g, geometry, groups, precision)
    dw = _weight_grad(x, kernel.shape, g, geometry, groups, precision)
    assert dx.shape == x.shape and dw.shape == kernel.shape
    return dx.astype(x.dtype), dw.astype(kernel.dtype)


_conv.defvjp(_conv_fwd, _conv_bwd)


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


def check_channels(x_shape, kernel_shape, groups) -> int:
    """The groups as an int, after checking that x, the kernel and the groups fit together."""
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"groups must be an integer >= 1, got {groups!r}")
    if len(kernel_shape) < 3 or len(x_shape) != len(kernel_shape):
        raise ValueError(
            f"x {tuple(x_shape)} must be (N, *spatial, C_in) and the kernel {tuple(kernel_shape)} "
            "(*k, C_in // groups, C_out), "
            "with the same number of spatial axes (at least one)"
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


def common_float_dtype(x, kernel):
    dtype = jnp.promote_types(x.dtype, kernel.dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(
            f"the convolution needs floating-point inputs, got x {x.dtype} and kernel "
            f"{kernel.dtype}"
        )
    return dtype


def conv_with_geometry(x, kernel, geometry: ConvGeometry, groups: int, precision=None):
    """The custom-VJP convolution for checked arguments (``conv`` and ``conv_general_dilated``
    use it)."""
    dtype = common_float_dtype(x, kernel)
    return _conv(x.astype(dtype), kernel.astype(dtype), geometry, groups, precision)


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
    return _weight_grad(x, kernel_shape, g, geometry, groups, precision)


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
    return _input_grad(kernel, g, geometry, groups, precision)


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
