"""The products of a large batch in tiles of whole examples, so each tile's patch matrix stays
in the CPU's caches (docs/performance.md, "Decisions: Patch-matrix tiles" has the budget's
measurement).

U's rows are ordered example first: with P = prod(spatial_out) rows per example and a tile of B
examples, U : (N·P, K) is N/B row blocks U_b : (B·P, K), and g' likewise g'_b : (B·P, C_out)::

    Y' = U W      = [U_1 W; ...; U_{N/B} W]        [B·P, K] [K, C_out] -> [B·P, C_out], per b
    dU = g' Wᵀ    = [g'_1 Wᵀ; ...]                  [B·P, C_out] [C_out, K] -> [B·P, K], per b
    dX = fold(dU) = [fold(dU_1); ...]               an example's patches fold into its own image
    dW = Uᵀ g'    = sum_b U_bᵀ g'_b                 [K, B·P] [B·P, C_out] -> [K, C_out], summed

so the forward and the input gradient map over the tiles (``lax.map``) and the weight gradient
is a scan adding each tile's product (the same sum over m, in another order). Per group the same
holds with U_g, W_g and g'_g.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax

# Bytes of patch matrix per tile (docs/performance.md, "Decisions: Patch-matrix tiles").
PATCH_BYTES_PER_TILE = 16 * 2**20


def examples_per_tile(n: int, patch_bytes_per_example: int) -> int:
    """The largest divisor of ``n`` whose examples' patch matrix fits ``PATCH_BYTES_PER_TILE``
    (1 if not even one example's does; ``n`` when the whole batch fits)."""
    fitting = max(1, PATCH_BYTES_PER_TILE // max(1, patch_bytes_per_example))
    if n <= fitting:
        return n
    return max(b for b in range(1, fitting + 1) if n % b == 0)


def patch_bytes_per_example(geometry, c_in: int, dtype) -> int:
    """One example's patch matrix: prod(spatial_out) rows of T·C_in entries."""
    rows = math.prod(geometry.output_size)
    return rows * geometry.num_taps * c_in * jnp.dtype(dtype).itemsize


def _split(a, tile: int):
    return a.reshape(a.shape[0] // tile, tile, *a.shape[1:])  # (N/B, B, ...)


def map_over_tiles(per_tile, a, tile: int):
    """``per_tile`` of each tile of ``tile`` examples of ``a``, the results stacked back."""
    if tile == a.shape[0]:
        return per_tile(a)
    out = lax.map(per_tile, _split(a, tile))  # (N/B, B, ...)
    return out.reshape(a.shape[0], *out.shape[2:])  # (N, ...)


def sum_over_tiles(per_tile, a, b, tile: int):
    """The sum over the tiles of ``per_tile(a_tile, b_tile)``, one tile at a time."""
    if tile == a.shape[0]:
        return per_tile(a, b)

    def add_tile(total, tiles):
        return total + per_tile(*tiles), None

    shape = jax.eval_shape(per_tile, a[:tile], b[:tile])
    zero = jnp.zeros(shape.shape, shape.dtype)
    total, _ = lax.scan(add_tile, zero, (_split(a, tile), _split(b, tile)))
    return total
