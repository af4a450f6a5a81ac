"""The derived VJP: against the scalar loops, finite differences and lax's own gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conv_cases import (
    EDGE_CASES,
    SWEEP,
    TRAP,
    ConvCase,
    check_second_order_reverse,
    conv_cases,
)
from hypothesis import example, given
from jax import lax

import jaxconv
from jaxconv import reference


def conv_of(case):
    return lambda x, k: jaxconv.conv2d(x, k, case.stride, case.padding)


def derived_grads(case, x, k, g, jit=False):
    f = conv_of(case)
    vjp = lambda x, k, g: jax.vjp(f, x, k)[1](g)  # noqa: E731
    return (jax.jit(vjp) if jit else vjp)(jnp.asarray(x), jnp.asarray(k), jnp.asarray(g))


@pytest.mark.slow
@SWEEP
@given(case=conv_cases())
@example(case=TRAP)
def test_vjp_matches_reference_loops(case, x64):
    x, k = case.arrays()
    g = np.random.default_rng(5).normal(
        size=reference.conv2d(x, k, case.stride, case.padding).shape
    )
    dx, dk = derived_grads(case, x, k, g, jit=True)
    np.testing.assert_allclose(
        np.asarray(dx),
        reference.conv2d_input_grad(case.x_shape, k, g, case.stride, case.padding),
        rtol=1e-10,
        atol=1e-10,
    )
    np.testing.assert_allclose(
        np.asarray(dk),
        reference.conv2d_weight_grad(x, case.kernel_shape, g, case.stride, case.padding),
        rtol=1e-10,
        atol=1e-10,
    )


@pytest.mark.slow
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("case", EDGE_CASES, ids=str)
def test_check_grads_second_order_reverse(case, jit, x64):
    check_second_order_reverse(conv_of(case), *case.arrays(seed=7), jit)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_trap_shape_regression(jit, x64):
    # x (1,14,7,1), kernel (2,5,1,5), stride (2,3), padding (1,3): differentiating
    # lax.conv_general_dilated here aborts the process; our VJP must be right.
    x, k = TRAP.arrays(seed=11)
    g = np.random.default_rng(12).normal(size=(1, 8, 3, 5))
    dx, dk = derived_grads(TRAP, x, k, g, jit=jit)
    np.testing.assert_allclose(
        np.asarray(dx),
        reference.conv2d_input_grad(TRAP.x_shape, k, g, TRAP.stride, TRAP.padding),
        rtol=1e-10,
        atol=1e-10,
    )
    np.testing.assert_allclose(
        np.asarray(dk),
        reference.conv2d_weight_grad(x, TRAP.kernel_shape, g, TRAP.stride, TRAP.padding),
        rtol=1e-10,
        atol=1e-10,
    )
    # and against central finite differences of the loss <conv(x, k), g> in float64
    loss = lambda x, k: float(np.vdot(reference.conv2d(x, k, TRAP.stride, TRAP.padding), g))  # noqa: E731
    eps, rng = 1e-6, np.random.default_rng(13)
    for _ in range(3):
        tx, tk = rng.normal(size=x.shape), rng.normal(size=k.shape)
        numeric = (loss(x + eps * tx, k + eps * tk) - loss(x - eps * tx, k - eps * tk)) / (2 * eps)
        analytic = np.vdot(np.asarray(dx), tx) + np.vdot(np.asarray(dk), tk)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-7)


# Shapes on which jax 0.10.2 differentiates lax.conv_general_dilated without
# aborting, the MNIST layers first. A probe that differentiated it on 6,912
# geometries, each in a crash-tolerant subprocess, saw 15 aborts, all with a
# kernel 2 rows tall at stride 2 and padding 1 along the height (the TRAP is
# one); none of these shapes is of that kind.
LAX_SAFE_CASES = [
    ConvCase(2, 28, 28, 1, 16, (3, 3), (1, 1), (1, 1)),
    ConvCase(2, 14, 14, 16, 32, (3, 3), (1, 1), (1, 1)),
    ConvCase(2, 7, 7, 32, 64, (3, 3), (1, 1), (1, 1)),
    ConvCase(1, 9, 8, 3, 4, (3, 2), (2, 2), (1, 0)),
    ConvCase(1, 11, 10, 2, 3, (5, 5), (2, 3), (2, 2)),
    ConvCase(2, 6, 9, 3, 2, (1, 3), (1, 2), (0, 1)),
]


@pytest.mark.slow
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("case", LAX_SAFE_CASES, ids=str)
def test_vjp_matches_lax_conv_gradients_on_safe_shapes(case, jit, x64):
    x, k = case.arrays(seed=3)
    pads = [(case.padding[0],) * 2, (case.padding[1],) * 2]

    def lax_f(x, k):
        return lax.conv_general_dilated(
            x, k, case.stride, pads, dimension_numbers=("NHWC", "HWIO", "NHWC")
        )

    g = np.random.default_rng(4).normal(size=lax_f(x, k).shape)
    expected = jax.vjp(lax_f, jnp.asarray(x), jnp.asarray(k))[1](jnp.asarray(g))
    got = derived_grads(case, x, k, g, jit=jit)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-10)


def test_backward_contains_no_lax_convolution():
    case = EDGE_CASES[1]
    x, k = case.arrays(dtype=np.float32)
    grad = jax.grad(lambda x, k: jnp.sum(jaxconv.conv2d(x, k, 1, 1) ** 2), argnums=(0, 1))
    jaxpr = str(jax.make_jaxpr(grad)(x, k))
    assert "jaxconv_conv_input_grad" in jaxpr and "jaxconv_conv_weight_grad" in jaxpr
    hlo = jax.jit(grad).lower(x, k).as_text()  # the primitives' computations, inlined
    assert "dot_general" in hlo and "convolution" not in hlo


@pytest.mark.slow
def test_grad_of_grad_matches_lax_on_a_safe_shape(x64):
    # reverse over reverse: d/dk of |d/dx <conv(x, k), g>|^2
    case = LAX_SAFE_CASES[3]
    x, k = case.arrays(seed=9)
    g = jnp.asarray(np.random.default_rng(10).normal(size=(1, 5, 4, 4)))
    pads = [(case.padding[0],) * 2, (case.padding[1],) * 2]

    def outer(conv):
        inner = lambda x, k: jnp.vdot(conv(x, k), g)  # noqa: E731
        return jax.grad(lambda k: jnp.sum(jax.grad(inner)(jnp.asarray(x), k) ** 2))(jnp.asarray(k))

    ours = outer(conv_of(case))
    theirs = outer(
        lambda x, k: lax.conv_general_dilated(
            x, k, case.stride, pads, dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
    )
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-9, atol=1e-9)


@pytest.mark.slow
def test_vmap_over_kernels_and_of_grad(x64):
    case = EDGE_CASES[4]
    x, _ = case.arrays()
    kernels = np.random.default_rng(0).normal(size=(3, *case.kernel_shape))
    f = conv_of(case)
    mapped = jax.vmap(lambda k: f(jnp.asarray(x), k))(jnp.asarray(kernels))
    looped = np.stack([reference.conv2d(x, k, case.stride, case.padding) for k in kernels])
    np.testing.assert_allclose(np.asarray(mapped), looped, rtol=1e-10, atol=1e-10)
    grads = jax.vmap(jax.grad(lambda k: jnp.sum(f(jnp.asarray(x), k) ** 2)))(jnp.asarray(kernels))
    for k, gk in zip(kernels, grads):
        y = reference.conv2d(x, k, case.stride, case.padding)
        np.testing.assert_allclose(
            np.asarray(gk),
            reference.conv2d_weight_grad(x, k.shape, 2 * y, case.stride, case.padding),
            rtol=1e-10,
            atol=1e-10,
        )


@pytest.mark.slow
def test_scan_over_layers_matches_unrolled_loop(x64):
    # the same conv applied three times in a lax.scan, differentiated through the scan
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(2, 6, 6, 3)))
    kernels = jnp.asarray(rng.normal(size=(3, 3, 3, 3, 3)) * 0.3)

    def scanned(x, kernels):
        y, _ = lax.scan(lambda h, k: (jnp.tanh(jaxconv.conv2d(h, k, 1, 1)), None), x, kernels)
        return jnp.sum(y**2)

    def unrolled(x, kernels):
        for k in kernels:
            x = jnp.tanh(jaxconv.conv2d(x, k, 1, 1))
        return jnp.sum(x**2)

    a = jax.jit(jax.value_and_grad(scanned, argnums=(0, 1)))(x, kernels)
    b = jax.value_and_grad(unrolled, argnums=(0, 1))(x, kernels)
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "dtype, rtol", [(jnp.float32, 1e-5), (jnp.bfloat16, 3e-2), (jnp.float64, 1e-12)]
)
def test_gradients_keep_the_input_dtype(dtype, rtol):
    with jax.enable_x64(dtype == jnp.float64):
        case = EDGE_CASES[1]
        x, k = case.arrays(seed=1, dtype=np.float32)
        g = np.random.default_rng(2).normal(size=(1, 5, 5, 3)).astype(np.float32)
        dx, dk = derived_grads(case, x.astype(dtype), k.astype(dtype), g.astype(dtype), jit=True)
        assert dx.dtype == dtype and dk.dtype == dtype
        as64 = lambda a: np.asarray(jnp.asarray(a, dtype), np.float64)  # noqa: E731
        want_dx = reference.conv2d_input_grad(case.x_shape, as64(k), as64(g), 1, 1)
        want_dk = reference.conv2d_weight_grad(as64(x), case.kernel_shape, as64(g), 1, 1)
        np.testing.assert_allclose(
            np.asarray(dx, np.float64), want_dx, rtol=rtol, atol=rtol * np.abs(want_dx).max()
        )
        np.testing.assert_allclose(
            np.asarray(dk, np.float64), want_dk, rtol=rtol, atol=rtol * np.abs(want_dk).max()
        )
