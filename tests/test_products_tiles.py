"""A large batch's products in tiles of whole examples (jaxconv/_batch_tiles.py): the same values
and derivatives of every order as the products of the whole batch, and tiles only where the
patch matrix is over the budget."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxconv
from jaxconv import _batch_tiles

# (x shape, kernel shape, stride, padding, dilation, groups); N = 6 tiles in 2s or 3s, N = 7 and
# N = 5 (prime) only in single examples.
CASES = [
    ((6, 9, 8, 3), (3, 3, 3, 4), 1, 1, 1, 1),
    ((7, 10, 9, 2), (3, 2, 2, 3), 2, ((1, 0), (2, 1)), (1, 2), 1),
    ((5, 11, 4), (3, 2, 6), 1, 1, 1, 2),
    ((6, 5, 4, 4, 2), (2, 3, 2, 2, 3), (2, 1, 1), 0, 1, 1),
]


def _conv_of(case):
    _, _, stride, padding, dilation, groups = case
    return lambda x, k: jaxconv.conv(x, k, stride, padding, dilation, groups)


def _set_budget(monkeypatch, examples, case):
    """A budget of exactly ``examples`` examples' float64 patch matrix, caches cleared so the
    products are traced again under it."""
    x_shape, k_shape, *_ = case
    x, k = jax.ShapeDtypeStruct(x_shape, jnp.float64), jax.ShapeDtypeStruct(k_shape, jnp.float64)
    y = jax.eval_shape(_conv_of(case), x, k)  # (N, *O, C_out)
    per_example = np.prod(y.shape[1:-1]) * np.prod(k_shape[:-2]) * x_shape[-1] * 8
    monkeypatch.setattr(_batch_tiles, "PATCH_BYTES_PER_TILE", int(examples * per_example))
    jax.clear_caches()
    return jax.jit(jax.vjp, static_argnums=0).lower(_conv_of(case), x, k).as_text()


def _all_derivatives(case):
    """The output, both gradients (weight_grad and input_grad), and a Hessian-vector product of
    a loss (all three primitives again, at second order)."""
    x_shape, k_shape, *_ = case
    conv = _conv_of(case)
    rng = np.random.default_rng(0)
    x, k, dx, dk = (jnp.asarray(rng.normal(size=s)) for s in (x_shape, k_shape, x_shape, k_shape))

    y, vjp = jax.vjp(conv, x, k)
    cotangent = jnp.asarray(rng.normal(size=y.shape))
    grads = vjp(cotangent)

    def loss_grads(x, k):
        return jax.grad(lambda x, k: jnp.sum(jnp.sin(conv(x, k))), argnums=(0, 1))(x, k)

    _, hvp = jax.jvp(loss_grads, (x, k), (dx, dk))
    return [y, *grads, *hvp]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-g{c[5]}")
@pytest.mark.parametrize("examples", [1, 2, 3])
def test_tiled_products_equal_the_whole_batch(case, examples, x64, monkeypatch):
    assert "stablehlo.while" not in _set_budget(monkeypatch, 10**9, case)
    whole = _all_derivatives(case)
    assert "stablehlo.while" in _set_budget(monkeypatch, examples, case)
    tiled = _all_derivatives(case)
    for got, want in zip(tiled, whole, strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12, atol=1e-12)


def _lowered_text(x_shape, k_shape, groups=1):
    x = jnp.zeros(x_shape, jnp.float32)
    k = jnp.zeros(k_shape, jnp.float32)

    def forward_backward(x, k, g):
        y, vjp = jax.vjp(lambda x, k: jaxconv.conv(x, k, 1, 1, 1, groups), x, k)
        return y, *vjp(g)

    g = jnp.zeros((*x_shape[:-1], k_shape[-1]), jnp.float32)
    return jax.jit(forward_backward).lower(x, k, g).as_text()


def test_a_large_patch_matrix_is_tiled():
    # 8 × 64 × 64 rows of 9 × 16 float32: 18.9 MB of patches, over the default budget
    assert "stablehlo.while" in _lowered_text((8, 64, 64, 16), (3, 3, 16, 16))
    assert "stablehlo.while" in _lowered_text((8, 64, 64, 16), (3, 3, 8, 16), groups=2)


@pytest.mark.parametrize(
    "x_shape, k_shape",
    [((128, 28, 28, 1), (3, 3, 1, 16)), ((16, 14, 14, 16), (3, 3, 16, 32))],
)
def test_a_small_patch_matrix_is_not_tiled(x_shape, k_shape):
    assert "stablehlo.while" not in _lowered_text(x_shape, k_shape)


def test_depthwise_is_never_tiled():
    # no patch matrix: T multiply-adds of strided views
    assert "stablehlo.while" not in _lowered_text((64, 64, 64, 16), (3, 3, 1, 16), groups=16)


def test_examples_per_tile_is_the_largest_fitting_divisor(monkeypatch):
    monkeypatch.setattr(_batch_tiles, "PATCH_BYTES_PER_TILE", 1000)
    assert _batch_tiles.examples_per_tile(12, 100) == 6  # 10 fit; 6 is the largest divisor
    assert _batch_tiles.examples_per_tile(7, 100) == 7  # the whole batch fits
    assert _batch_tiles.examples_per_tile(13, 100) == 1  # prime
    assert _batch_tiles.examples_per_tile(8, 5000) == 1  # not one example fits


@pytest.mark.parametrize("platform, tiled", [("cpu", True), ("cuda", False), ("tpu", False)])
def test_only_a_cpu_tiles_the_batch(platform, tiled):
    # a batch whose patch matrix (512·28·28 rows of 9·16 floats, 231 MB) is far over the budget
    x, kernel = jnp.zeros((512, 28, 28, 16)), jnp.zeros((3, 3, 16, 32))

    def loss(x, kernel):
        return jnp.sum(jaxconv.conv(x, kernel, padding=1))

    f = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    module = jax.export.export(f, platforms=[platform])(x, kernel).mlir_module()
    assert ("stablehlo.while" in module) == tiled  # the tiles' lax.map / scan
