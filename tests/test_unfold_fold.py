import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conv_cases import EDGE_CASES, SWEEP, conv_cases
from hypothesis import given
from jax import lax

import jaxconv
from jaxconv import reference


@pytest.mark.slow
@SWEEP
@given(case=conv_cases())
def test_unfold_matches_reference_loops(case, x64):
    x, _ = case.arrays()
    got = jax.jit(jaxconv.unfold, static_argnums=(1, 2, 3))(
        jnp.asarray(x), case.kernel, case.stride, case.padding
    )
    np.testing.assert_array_equal(
        np.asarray(got), reference.unfold(x, case.kernel, case.stride, case.padding)
    )


@pytest.mark.slow
@SWEEP
@given(case=conv_cases())
def test_fold_matches_reference_loops(case, x64):
    x, _ = case.arrays()
    patches_shape = reference.unfold(x, case.kernel, case.stride, case.padding).shape
    p = np.random.default_rng(1).normal(size=patches_shape)
    got = jax.jit(jaxconv.fold, static_argnums=(1, 2, 3, 4))(
        jnp.asarray(p), case.x_shape, case.kernel, case.stride, case.padding
    )
    np.testing.assert_allclose(
        np.asarray(got),
        reference.fold(p, case.x_shape, case.kernel, case.stride, case.padding),
        rtol=1e-12,
        atol=1e-12,
    )


@pytest.mark.slow
@SWEEP
@given(case=conv_cases())
def test_fold_is_the_adjoint_of_unfold(case, x64):
    # <unfold(x), p> = <x, fold(p)> for every x and p
    @jax.jit
    def both_sides(x, p):
        u = jaxconv.unfold(x, case.kernel, case.stride, case.padding)
        return jnp.vdot(u, p), jnp.vdot(
            x, jaxconv.fold(p, case.x_shape, case.kernel, case.stride, case.padding)
        )

    x, _ = case.arrays(seed=2)
    patches_shape = reference.unfold(x, case.kernel, case.stride, case.padding).shape
    p = np.random.default_rng(3).normal(size=patches_shape)
    lhs, rhs = both_sides(jnp.asarray(x), jnp.asarray(p))
    np.testing.assert_allclose(float(lhs), float(rhs), rtol=1e-10)


@pytest.mark.parametrize("case", EDGE_CASES, ids=str)
def test_unfold_feature_order_matches_hwio_kernel_matrix(case):
    # conv = unfold(x) @ kernel.reshape(-1, C_out), with no transpose in between
    x, k = case.arrays(dtype=np.float32)
    u = jaxconv.unfold(jnp.asarray(x), case.kernel, case.stride, case.padding)
    y = jnp.einsum("nhwk,ko->nhwo", u, jnp.asarray(k).reshape(-1, case.c_out), precision="highest")
    pads = [(case.padding[0],) * 2, (case.padding[1],) * 2]
    expected = lax.conv_general_dilated(
        x, k, case.stride, pads, dimension_numbers=("NHWC", "HWIO", "NHWC"), precision="highest"
    )
    np.testing.assert_allclose(np.asarray(y), np.asarray(expected), rtol=1e-5, atol=1e-5)


def test_unfold_under_jit_and_vmap():
    x = jnp.arange(2 * 5 * 4 * 3, dtype=jnp.float32).reshape(2, 5, 4, 3)
    direct = jaxconv.unfold(x, (2, 3), (1, 2), (1, 0))
    jitted = jax.jit(lambda a: jaxconv.unfold(a, (2, 3), (1, 2), (1, 0)))(x)
    mapped = jax.vmap(lambda a: jaxconv.unfold(a[None], (2, 3), (1, 2), (1, 0))[0])(x)
    np.testing.assert_array_equal(direct, jitted)
    np.testing.assert_array_equal(direct, mapped)


def test_unfold_rejects_wrong_rank():
    # any rank >= 3 is an image with spatial axes now (rank 3: 1-D); rank 2 has none
    with pytest.raises(
        ValueError,
        match="x must be \\(batch, \\*spatial, channels\\) .* got shape \\(5, 3\\) of rank 2",
    ):
        jaxconv.unfold(jnp.zeros((5, 3)), 3)


def test_unfold_rejects_kernel_larger_than_padded_input():
    with pytest.raises(
        ValueError,
        match="along the width: kernel 6 is larger than the padded input 4 \\+ 2\\*0 = 4",
    ):
        jaxconv.unfold(jnp.zeros((1, 8, 4, 1)), (3, 6))


def test_fold_rejects_patches_of_the_wrong_shape():
    with pytest.raises(ValueError, match="patches must have shape .* = \\(1, 3, 3, 9\\)"):
        jaxconv.fold(jnp.zeros((1, 3, 3, 8)), (1, 5, 5, 1), 3)
