"""conv_general_dilated on the rest of lax's signature: batch groups, zero spatial axes, integer,
boolean and complex dtypes, and lax's exception types. lax's forward and forward mode are the
oracles (never its reverse mode: it aborts on some shapes in jax 0.10.2)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax.test_util import check_grads

import jaxconv

# (lhs shape, rhs shape, strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
#  batch_group_count)
BATCH_GROUP_CASES = [
    ((6, 5, 4, 3), (2, 2, 3, 8), (1, 1), "SAME", None, None, ("NHWC", "HWIO", "NHWC"), 2),
    ((4, 3, 7, 6), (6, 3, 2, 3), (2, 1), [(1, 0), (0, 2)], None, (2, 1), ("NCHW", "OIHW", "NCHW"),
     2),
    ((6, 2, 9), (9, 2, 3), (2,), [(2, 1)], (2,), None, ("NCH", "OIH", "NCH"), 3),
]  # fmt: skip


def call(conv, case, lhs, rhs):
    _, _, strides, padding, lhs_dil, rhs_dil, dnums, batch_groups = case
    return conv(lhs, rhs, strides, padding, lhs_dil, rhs_dil, dnums, batch_group_count=batch_groups)


def normal(shape, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.complexfloating):
        return jnp.asarray(rng.normal(size=shape) + 1j * rng.normal(size=shape), dtype)
    return jnp.asarray(rng.normal(size=shape), dtype)


@pytest.mark.parametrize("case", BATCH_GROUP_CASES, ids=str)
def test_batch_groups_match_lax_forward_and_forward_mode(case, x64):
    lhs, rhs = normal(case[0], 0), normal(case[1], 1)
    tangents = normal(case[0], 2), normal(case[1], 3)
    ours = lambda a, b: call(jaxconv.conv_general_dilated, case, a, b)  # noqa: E731
    theirs = lambda a, b: call(lax.conv_general_dilated, case, a, b)  # noqa: E731
    y, dy = jax.jit(lambda p, t: jax.jvp(ours, p, t))((lhs, rhs), tangents)
    want_y, want_dy = jax.jvp(theirs, (lhs, rhs), tangents)
    assert y.shape == want_y.shape
    np.testing.assert_allclose(np.asarray(y), np.asarray(want_y), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.asarray(dy), np.asarray(want_dy), rtol=1e-10, atol=1e-10)
    # the VJP against lax's forward mode: <g, J v> = <Jᵀ g, v>
    g = normal(y.shape, 4)
    d_lhs, d_rhs = jax.vjp(ours, lhs, rhs)[1](g)
    np.testing.assert_allclose(
        np.vdot(g, want_dy),
        np.vdot(d_lhs, tangents[0]) + np.vdot(d_rhs, tangents[1]),
        rtol=1e-9,
    )


def test_batch_groups_check_grads_both_modes_second_order(x64):
    case = BATCH_GROUP_CASES[1]
    check_grads(
        lambda a, b: call(jaxconv.conv_general_dilated, case, a, b),
        (normal(case[0], 5), normal(case[1], 6)),
        order=2,
        modes=("fwd", "rev"),
    )


# jax issue 4316: explicit dimension numbers for arrays of different ranks
DIFFERENT_RANKS = lax.ConvDimensionNumbers((0, 1, 2), (0, 1, 2), (0, 1, 2))


def raised_by(conv, *args, **kwargs):
    try:
        conv(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - the type is what is compared
        return type(e), str(e)
    return None, None


@pytest.mark.parametrize(
    "lhs_shape, rhs_shape, padding, kwargs",
    [
        ((6, 4, 5, 5), (6, 4, 3, 3), "SAME", dict(batch_group_count=4)),  # 4 does not divide 6
        ((6, 4, 5, 5), (5, 4, 3, 3), "SAME", dict(batch_group_count=2)),  # nor 2 the 5 outputs
        ((4, 4, 5, 5), (4, 2, 3, 3), "SAME", dict(batch_group_count=2, feature_group_count=2)),
        ((1, 1, 4), (1, 1, 1, 1), [(0, 0)], {}),  # the ranks differ: a TypeError
        ((1, 1, 4), (1, 1, 1, 1), [(0, 0)], dict(dimension_numbers=DIFFERENT_RANKS)),  # ValueError
        ((1, 2, 5, 5), (3, 2, 3, 3), (3, 3), {}),  # padding not (low, high) pairs
        ((1, 2, 5, 5), (3, 2, 3, 3), [(1, 1, 1), (0, 0)], {}),
        ((1, 2, 5), (3, 2, 1), [(-3, -3)], {}),  # cropping more than the input holds
        ((1, 2, 1), (3, 2, 1), [(-2, -1)], dict(lhs_dilation=(2,))),  # ... after input dilation
    ],
)
def test_refusals_raise_lax_s_exception_types(lhs_shape, rhs_shape, padding, kwargs):
    args = (jnp.zeros(lhs_shape), jnp.zeros(rhs_shape), (1,) * (len(lhs_shape) - 2), padding)
    lax_type, lax_message = raised_by(lax.conv_general_dilated, *args, **kwargs)
    assert lax_type is not None, "lax accepts it: not a refusal"
    with pytest.raises(lax_type) as refused:
        jaxconv.conv_general_dilated(*args, **kwargs)
    first_words = " ".join(lax_message.split()[:3])
    if first_words.startswith(("conv_general_dilated lhs", "padding argument", "Negative padding")):
        assert str(refused.value).startswith(first_words)  # the message lax's own tests match


def test_zero_spatial_axes_is_a_matrix_product(x64):
    # lax's testConv0DIsDot: ('NC', 'IO', 'NC') with no window is x @ W
    x, w = normal((10, 5), 7), normal((5, 7), 8)

    def f(x, w):
        return jaxconv.conv_general_dilated(x, w, (), "VALID", dimension_numbers=("NC", "IO", "NC"))

    np.testing.assert_allclose(np.asarray(f(x, w)), np.asarray(x) @ np.asarray(w), rtol=1e-12)
    g = normal((10, 7), 9)
    dx, dw = jax.vjp(f, x, w)[1](g)  # dX = g Wᵀ, dW = Xᵀ g
    np.testing.assert_allclose(np.asarray(dx), np.asarray(g) @ np.asarray(w).T, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(dw), np.asarray(x).T @ np.asarray(g), rtol=1e-12)
    check_grads(f, (x, w), order=2, modes=("fwd", "rev"))
    # lax's own default layout (NC / OI / NC) with () padding
    ours = jaxconv.conv_general_dilated(x, w.T, (), ())
    np.testing.assert_allclose(
        np.asarray(ours), np.asarray(lax.conv_general_dilated(x, w.T, (), ()))
    )


@pytest.mark.parametrize(
    "dtype, preferred",
    [
        (np.int8, None),
        (np.int8, np.int32),
        (np.uint8, np.int32),
        (np.int32, None),
        (np.bool_, None),
    ],
)
def test_integer_and_boolean_convolutions_match_lax_exactly(dtype, preferred):
    rng = np.random.default_rng(10)
    low, high = (0, 2) if dtype in (np.bool_, np.uint8) else (-4, 5)
    lhs = jnp.asarray(rng.integers(low, high, size=(2, 3, 7, 6)).astype(dtype))
    rhs = jnp.asarray(rng.integers(low, high, size=(4, 3, 3, 2)).astype(dtype))
    args = (lhs, rhs, (2, 1), [(1, 1), (0, 1)], None, (1, 2))
    ours = jaxconv.conv_general_dilated(*args, preferred_element_type=preferred)
    theirs = lax.conv_general_dilated(*args, preferred_element_type=preferred)
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_integer_inputs_have_zero_float0_tangents_as_in_lax():
    lhs, rhs = jnp.ones((1, 2, 5), jnp.int32), jnp.ones((3, 2, 2), jnp.int32)
    zero = np.zeros(lhs.shape, jax.dtypes.float0), np.zeros(rhs.shape, jax.dtypes.float0)
    outs = [
        jax.jvp(lambda a, b: conv(a, b, (1,), "VALID"), (lhs, rhs), zero)
        for conv in (jaxconv.conv_general_dilated, lax.conv_general_dilated)
    ]
    assert outs[0][1].dtype == outs[1][1].dtype == jax.dtypes.float0
    np.testing.assert_array_equal(np.asarray(outs[0][0]), np.asarray(outs[1][0]))


def test_complex_forward_matches_lax_and_the_vjp_follows_jax_s_convention(x64):
    # JAX's VJP of a complex linear map is its plain transpose (no conjugation): for the
    # bilinear conv, sum(g · J v) = sum(Jᵀg · v) with complex products and no conjugates.
    lhs, rhs = normal((2, 3, 6, 5), 11, np.complex128), normal((4, 3, 3, 2), 12, np.complex128)
    args = ((2, 1), [(1, 0), (1, 1)], None, (1, 2))
    ours = lambda a, b: jaxconv.conv_general_dilated(a, b, *args)  # noqa: E731
    theirs = lambda a, b: lax.conv_general_dilated(a, b, *args)  # noqa: E731
    v = normal(lhs.shape, 13, np.complex128), normal(rhs.shape, 14, np.complex128)
    y, jv = jax.jvp(theirs, (lhs, rhs), v)
    np.testing.assert_allclose(np.asarray(ours(lhs, rhs)), np.asarray(y), rtol=1e-10, atol=1e-10)
    g = normal(y.shape, 15, np.complex128)
    d_lhs, d_rhs = jax.vjp(ours, lhs, rhs)[1](g)
    np.testing.assert_allclose(
        np.sum(np.asarray(g) * np.asarray(jv)),
        np.sum(np.asarray(d_lhs) * np.asarray(v[0])) + np.sum(np.asarray(d_rhs) * np.asarray(v[1])),
        rtol=1e-9,
    )

    # jax.grad of a real loss L is JAX's conjugate-convention gradient: dL[v] = Re(sum(grad · v)),
    # here against lax's forward mode of the same loss
    def loss(conv):
        return lambda a, b: jnp.sum(jnp.abs(conv(a, b)) ** 2)

    grads = jax.grad(loss(ours), argnums=(0, 1))(lhs, rhs)
    directional = jax.jvp(loss(theirs), (lhs, rhs), v)[1]
    np.testing.assert_allclose(
        np.real(sum(np.sum(np.asarray(d) * np.asarray(t)) for d, t in zip(grads, v))),
        np.asarray(directional),
        rtol=1e-9,
    )
    check_grads(ours, (lhs, rhs), order=2, modes=("fwd", "rev"))
