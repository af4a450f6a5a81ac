"""The convolution as unfold + matrix product, any rank, and its hand-derived gradients.

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
jax.grad, jax.vjp, jax.linear_transpose or lax convolution. ``_bilinear`` makes
forward, input_grad and weight_grad three JAX primitives whose derivatives of
every order (forward mode included) are again these three maps.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxconv import _batch_tiles
from jaxconv._patches import fold_taps, pad_input, tap_views, unfold_taps
from jaxconv._shapes import ConvGeometry


def _accumulation_dtype(dtype):
    """float32 accumulation for 16-bit floats, as XLA's own convolutions do (None otherwise:
    integers accumulate in their own type, as lax's do)."""
    dtype = jnp.dtype(dtype)
    return jnp.float32 if jnp.issubdtype(dtype, jnp.floating) and dtype.itemsize < 4 else None


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


def _dense_weight_grad_sum(x, kernel_shape, g, geometry, precision):
    patches = unfold_taps(x, geometry)  # (N, *O, T, C_in)
    # A 2-D contraction over M: XLA's CPU dot runs faster on it than on the same
    # einsum over (n, *spatial) (docs/performance.md).
    u = patches.reshape(-1, geometry.num_taps * x.shape[-1])  # (M, K)
    g_rows = g.reshape(-1, kernel_shape[-1])  # (M, C_out)
    acc = _accumulation_dtype(u.dtype)
    return jnp.einsum(
        "mk,mo->ko", u, g_rows, precision=precision, preferred_element_type=acc
    )  # (K, C_out), in the accumulation dtype


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


def _grouped_weight_grad_sum(x, kernel_shape, g, geometry, groups, precision):
    o = kernel_shape[-1] // groups
    u = _patches_by_group(x, geometry, groups)  # (G, M, T·C)
    g_rows = g.reshape(-1, groups, o).transpose(1, 0, 2)  # (G, M, O)
    acc = _accumulation_dtype(x.dtype)
    return jnp.einsum(
        "gmk,gmo->kgo", u, g_rows, precision=precision, preferred_element_type=acc
    )  # (T·C, G, O), in the accumulation dtype


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
# One forward and one backward for every kind, chosen by the groups; a large batch's patch
# matrix in tiles of whole examples (``_batch_tiles`` derives why that is the same product).


def _is_depthwise(c_in: int, groups: int) -> bool:
    return groups > 1 and groups == c_in


def _examples_per_tile(n, geometry, c_in, dtype, groups, tile_batch):
    """Depthwise has no patch matrix and is never tiled, nor is anything with ``tile_batch``
    False; the others by ``_batch_tiles``."""
    if not tile_batch or _is_depthwise(c_in, groups):
        return n
    return _batch_tiles.examples_per_tile(
        n, _batch_tiles.patch_bytes_per_example(geometry, c_in, dtype)
    )


def _forward_untiled(x, kernel, geometry, groups, precision):
    if groups == 1:
        return _dense_forward(x, kernel, geometry, precision)
    if _is_depthwise(x.shape[-1], groups):
        return _depthwise_forward(x, kernel, geometry, precision)
    return _grouped_forward(x, kernel, geometry, groups, precision)


def forward(x, kernel, geometry: ConvGeometry, groups: int, precision, tile_batch=True):
    """Y = unfold(X) W (per group; per tap for depthwise), in tiles of whole examples."""
    tile = _examples_per_tile(x.shape[0], geometry, x.shape[-1], x.dtype, groups, tile_batch)
    return _batch_tiles.map_over_tiles(
        lambda x_tile: _forward_untiled(x_tile, kernel, geometry, groups, precision), x, tile
    )


def weight_grad(
    x, kernel_shape, g, geometry: ConvGeometry, groups: int, precision, tile_batch=True
):
    """dL/dW: Uᵀ g' (per group; per tap for depthwise), summed over tiles of whole examples in
    the accumulation dtype."""
    if _is_depthwise(x.shape[-1], groups):
        return _depthwise_weight_grad(x, kernel_shape, g, geometry)

    def tile_sum(x_tile, g_tile):  # (K, C_out) or (T·C, G, O), in the accumulation dtype
        if groups == 1:
            return _dense_weight_grad_sum(x_tile, kernel_shape, g_tile, geometry, precision)
        return _grouped_weight_grad_sum(x_tile, kernel_shape, g_tile, geometry, groups, precision)

    tile = _examples_per_tile(x.shape[0], geometry, x.shape[-1], x.dtype, groups, tile_batch)
    dw = _batch_tiles.sum_over_tiles(tile_sum, x, g, tile)  # (K, C_out) or (T·C, G, O)
    return dw.astype(x.dtype).reshape(kernel_shape)  # (*k, C, C_out)


def _input_grad_untiled(kernel, g, geometry, groups, precision):
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


def input_grad(kernel, g, geometry: ConvGeometry, groups: int, precision, tile_batch=True):
    """dL/dX: fold(g' Wᵀ) (per group; per tap for depthwise), in tiles of whole examples. fold
    sums up to T overlapping taps, so the accumulation dtype is kept until after it."""
    c_in = kernel.shape[-2] * groups
    tile = _examples_per_tile(g.shape[0], geometry, c_in, g.dtype, groups, tile_batch)
    return _batch_tiles.map_over_tiles(
        lambda g_tile: _input_grad_untiled(kernel, g_tile, geometry, groups, precision), g, tile
    )
