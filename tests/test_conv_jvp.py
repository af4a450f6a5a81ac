"""Forward mode through jaxconv: jax.jvp, jacfwd, linearize and check_grads against lax's forward
mode (a safe oracle on every shape), mixed orders, vmap, scan and the NNX layers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conv_cases import ND_EDGE_CASES
from flax import nnx
from jax import lax
from jax.test_util import check_grads

import jaxconv


def conv_of(case):
    return lambda x, k: jaxconv.conv(x, k, *case.args())


def directions(case, seed):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.normal(size=case.x_shape)), jnp.asarray(
        rng.normal(size=case.kernel_shape)
    )


@pytest.mark.parametrize("case", ND_EDGE_CASES, ids=str)
def test_jvp_matches_lax_forward_mode(case, x64):
    primals, tangents = case.arrays(), directions(case, 1)
    y, dy = jax.jit(lambda p, t: jax.jvp(conv_of(case), p, t))(primals, tangents)
    want_y, want_dy = jax.jvp(case.lax_forward, primals, tangents)
    np.testing.assert_allclose(np.asarray(y), np.asarray(want_y), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.asarray(dy), np.asarray(want_dy), rtol=1e-10, atol=1e-10)


def test_jvp_is_the_product_rule_of_two_convolutions(x64):
    # dY = conv(dX, W) + conv(X, dW): in the jaxpr, the primal and the two tangent products
    case = ND_EDGE_CASES[3]
    (x, k), (dx, dk) = case.arrays(), directions(case, 2)
    jaxpr = jax.make_jaxpr(lambda p, t: jax.jvp(conv_of(case), p, t))((x, k), (dx, dk))
    assert [str(e.primitive) for e in jaxpr.eqns].count("jaxconv_conv") == 3
    _, dy = jax.jvp(conv_of(case), (x, k), (dx, dk))
    want = conv_of(case)(dx, k) + conv_of(case)(x, dk)
    np.testing.assert_allclose(np.asarray(dy), np.asarray(want), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", ND_EDGE_CASES[2:6], ids=str)
def test_check_grads_both_modes_second_order(case, x64):
    check_grads(conv_of(case), case.arrays(seed=3), order=2, modes=("fwd", "rev"))


def test_jacfwd_equals_jacrev_and_lax(x64):
    case = ND_EDGE_CASES[0]
    x, k = case.arrays(seed=4)
    x = x[:1, :7]  # a small Jacobian
    f = lambda k: conv_of(case)(jnp.asarray(x), k)  # noqa: E731
    fwd, rev = jax.jit(jax.jacfwd(f))(k), jax.jit(jax.jacrev(f))(k)
    want = jax.jacfwd(lambda k: case.lax_forward(jnp.asarray(x), k))(k)
    np.testing.assert_allclose(np.asarray(fwd), np.asarray(want), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.asarray(rev), np.asarray(want), rtol=1e-10, atol=1e-10)


def test_linearize_and_its_transpose_are_the_jvp_and_the_vjp(x64):
    case = ND_EDGE_CASES[1]
    (x, k), (dx, dk) = case.arrays(seed=5), directions(case, 6)
    y, f_lin = jax.linearize(conv_of(case), x, k)
    _, dy = jax.jvp(case.lax_forward, (x, k), (dx, dk))
    np.testing.assert_allclose(np.asarray(f_lin(dx, dk)), np.asarray(dy), rtol=1e-10, atol=1e-10)
    g = jnp.asarray(np.random.default_rng(7).normal(size=y.shape))
    transposed = jax.linear_transpose(f_lin, dx, dk)(g)
    vjp = jax.vjp(conv_of(case), x, k)[1](g)
    for a, b in zip(transposed, vjp):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("case", [ND_EDGE_CASES[0], ND_EDGE_CASES[5]], ids=str)
def test_jvp_of_grad_and_grad_of_jvp_match_lax_forward_over_forward(case, x64):
    (x, k), (dx, dk) = case.arrays(seed=8), directions(case, 9)

    def loss(conv):
        return lambda x, k: jnp.sum(jnp.sin(conv(x, k)))

    def jvp_of_grad(conv):
        return jax.jvp(jax.grad(loss(conv), argnums=(0, 1)), (x, k), (dx, dk))[1]

    def grad_of_jvp(conv):
        return jax.grad(lambda x, k: jax.jvp(loss(conv), (x, k), (dx, dk))[1], (0, 1))(x, k)

    # lax's side: the Hessian-vector product, forward over forward, contracted with unit vectors
    def hvp_lax(x, k):
        flat, unravel = jax.flatten_util.ravel_pytree((x, k))
        f = lambda p: loss(case.lax_forward)(*unravel(p))  # noqa: E731
        v = jax.flatten_util.ravel_pytree((dx, dk))[0]
        hessian = jax.jacfwd(jax.jacfwd(f))(flat)
        return unravel(hessian @ v)

    want = hvp_lax(x, k)
    ours = jax.jit(lambda: (jvp_of_grad(conv_of(case)), grad_of_jvp(conv_of(case))))()
    for got in ours:
        for a, b in zip(got, want):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-9, atol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("case", [ND_EDGE_CASES[3], ND_EDGE_CASES[5]], ids=str)
def test_vmap_over_images_kernels_and_both_with_jvp_and_grad(case, x64):
    rng = np.random.default_rng(10)
    xs = jnp.asarray(rng.normal(size=(3, *case.x_shape)))
    ks = jnp.asarray(rng.normal(size=(3, *case.kernel_shape)))
    f = conv_of(case)
    loops = {
        (0, None): [case.lax_forward(xs[i], ks[0]) for i in range(3)],
        (None, 0): [case.lax_forward(xs[0], ks[i]) for i in range(3)],
        (0, 0): [case.lax_forward(xs[i], ks[i]) for i in range(3)],
    }
    for axes, want in loops.items():
        args = (xs if axes[0] == 0 else xs[0], ks if axes[1] == 0 else ks[0])
        got = jax.jit(jax.vmap(f, axes))(*args)
        np.testing.assert_allclose(np.asarray(got), np.stack(want), rtol=1e-10, atol=1e-10)
        # per-example gradients and tangents through the batched primitives
        loss = lambda x, k: jnp.sum(f(x, k) ** 2)  # noqa: E731
        grads = jax.jit(jax.vmap(jax.grad(loss, (0, 1)), axes))(*args)
        tangents = jax.jit(jax.vmap(lambda x, k: jax.jvp(f, (x, k), (x, k))[1], axes))(*args)
        for i in range(3):
            x_i, k_i = (a[i] if ax == 0 else a for a, ax in zip(args, axes))
            lax_loss = lambda x, k: jnp.sum(case.lax_forward(x, k) ** 2)  # noqa: E731
            _, jv = jax.jvp(lax_loss, (x_i, k_i), directions(case, 11 + i))
            dots = sum(np.vdot(g[i], v) for g, v in zip(grads, directions(case, 11 + i)))
            np.testing.assert_allclose(dots, np.asarray(jv), rtol=1e-9)
            _, want_t = jax.jvp(case.lax_forward, (x_i, k_i), (x_i, k_i))
            np.testing.assert_allclose(
                np.asarray(tangents[i]), np.asarray(want_t), rtol=1e-10, atol=1e-10
            )


def test_jvp_through_scan(x64):
    case = ND_EDGE_CASES[3]
    (x, k), (dx, dk) = case.arrays(seed=12), directions(case, 13)
    kernels = jnp.stack([k, -0.5 * k])

    def scanned(conv):
        def f(x, kernels):
            total, _ = lax.scan(lambda acc, k: (acc + jnp.sum(conv(x, k) ** 2), None), 0.0, kernels)
            return total

        return f

    dkernels = jnp.stack([dk, dk])
    got = jax.jit(lambda p, t: jax.jvp(scanned(conv_of(case)), p, t))((x, kernels), (dx, dkernels))
    want = jax.jvp(scanned(case.lax_forward), (x, kernels), (dx, dkernels))
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-10)


def test_conv_transpose_forward_mode_and_check_grads(x64):
    rng = np.random.default_rng(14)
    y, k = jnp.asarray(rng.normal(size=(2, 4, 5, 4))), jnp.asarray(rng.normal(size=(3, 2, 3, 4)))
    f = lambda y, k: jaxconv.conv_transpose(y, k, (2, 1), ((1, 0), (0, 1)), (1, 0))  # noqa: E731
    check_grads(f, (y, k), order=2, modes=("fwd", "rev"))
    dy, dk = jnp.asarray(rng.normal(size=y.shape)), jnp.asarray(rng.normal(size=k.shape))
    _, got = jax.jvp(f, (y, k), (dy, dk))
    np.testing.assert_allclose(np.asarray(got), np.asarray(f(dy, k) + f(y, dk)), rtol=1e-12)


def test_conv_general_dilated_check_grads_both_modes(x64):
    rng = np.random.default_rng(15)
    lhs, rhs = (
        jnp.asarray(rng.normal(size=(2, 4, 6, 5))),
        jnp.asarray(rng.normal(size=(6, 2, 3, 2))),
    )

    def f(lhs, rhs):
        return jaxconv.conv_general_dilated(
            lhs, rhs, (2, 1), [(1, 0), (0, 1)], (1, 2), (2, 1), ("NCHW", "OIHW", "NCHW"), 2
        )

    def lax_f(lhs, rhs):
        return lax.conv_general_dilated(
            lhs, rhs, (2, 1), [(1, 0), (0, 1)], (1, 2), (2, 1), ("NCHW", "OIHW", "NCHW"), 2
        )

    check_grads(f, (lhs, rhs), order=2, modes=("fwd", "rev"))
    t = (jnp.asarray(rng.normal(size=lhs.shape)), jnp.asarray(rng.normal(size=rhs.shape)))
    got, want = jax.jvp(f, (lhs, rhs), t)[1], jax.jvp(lax_f, (lhs, rhs), t)[1]
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-10, atol=1e-10)


@pytest.mark.slow
def test_jvp_through_the_nnx_layers_matches_stock_nnx_conv():
    x = jnp.asarray(np.random.default_rng(16).normal(size=(2, 7, 6, 3)), jnp.float32)
    ours = nnx.Conv(3, 4, (3, 3), padding="SAME", rngs=nnx.Rngs(0))
    ours_t = jaxconv.ConvTranspose(4, 3, (3, 3), strides=2, rngs=nnx.Rngs(0))
    stock = nnx.Conv(3, 4, (3, 3), padding="SAME", rngs=nnx.Rngs(0))
    ours.conv_general_dilated = jaxconv.conv_general_dilated
    layer = jaxconv.Conv(3, 4, (3, 3), padding="SAME", rngs=nnx.Rngs(0))
    tangent = jnp.ones_like(x)
    want = jax.jvp(stock, (x,), (tangent,))[1]
    for model in (ours, layer):
        got = jax.jvp(model, (x,), (tangent,))[1]
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-5)
    # the transposed layer is affine in its input: its tangent is the layer minus its bias
    y, ty = stock(x), jnp.asarray(np.random.default_rng(17).normal(size=(2, 7, 6, 4)), jnp.float32)
    got = jax.jvp(ours_t, (y,), (ty,))[1]
    want = ours_t(ty) - ours_t(jnp.zeros_like(ty))
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-5)
