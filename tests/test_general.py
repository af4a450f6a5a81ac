"""jaxconv.conv_general_dilated against lax's, and Flax's Conv layers running on it."""

import flax.linen as linen
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax import lax

import jaxconv

NHWC_AS_NUMBERS = lax.ConvDimensionNumbers((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2))

# (lhs shape, rhs shape, strides, padding, lhs_dilation, rhs_dilation, dimension_numbers, groups)
GENERAL_CASES = [
    ((2, 4, 9, 7), (6, 2, 3, 3), (2, 1), [(1, 0), (-1, 2)], (1, 2), (2, 1),
     ("NCHW", "OIHW", "NCHW"), 2),
    ((2, 4, 9, 7), (6, 4, 3, 2), (1, 2), "SAME", None, (1, 2), None, 1),
    ((2, 9, 7, 4), (3, 3, 1, 8), (2, 2), "SAME_LOWER", None, None, ("NHWC", "HWIO", "NHWC"), 4),
    ((2, 9, 7, 4), (3, 2, 4, 5), (1, 1), [(0, 0), (1, 1)], (2, 1), None,
     ("NHWC", "HWIO", "NCHW"), 1),
    ((3, 5, 11), (4, 5, 3), (2,), [(2, 1)], (1,), (2,), ("NCH", "OIH", "NCH"), 1),
    ((1, 2, 5, 4, 6), (4, 1, 2, 3, 2), (1, 2, 1), [(1, 1), (0, 1), (2, 0)], None, (2, 1, 1),
     ("NCDHW", "OIDHW", "NCDHW"), 2),
    ((2, 8, 8, 3), (3, 3, 3, 4), (1, 1), [(-1, -1), (1, 1)], None, None, NHWC_AS_NUMBERS, 1),
]  # fmt: skip


def call(conv, case, lhs, rhs, **kwargs):
    _, _, strides, padding, lhs_dil, rhs_dil, dnums, groups = case
    return conv(lhs, rhs, strides, padding, lhs_dil, rhs_dil, dnums, groups, **kwargs)


def case_arrays(case, seed=0):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.normal(size=case[0])), jnp.asarray(rng.normal(size=case[1]))


@pytest.mark.slow
@pytest.mark.parametrize("case", GENERAL_CASES, ids=str)
def test_conv_general_dilated_matches_lax_forward_and_forward_mode(case, x64):
    lhs, rhs = case_arrays(case)
    ours = call(jaxconv.conv_general_dilated, case, lhs, rhs)
    theirs = call(lax.conv_general_dilated, case, lhs, rhs)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-10, atol=1e-10)
    # our VJP against lax's jvp (forward mode never aborts): <g, J v> = <Jᵀ g, v>
    rng = np.random.default_rng(1)
    v = (jnp.asarray(rng.normal(size=lhs.shape)), jnp.asarray(rng.normal(size=rhs.shape)))
    _, jv = jax.jvp(lambda a, b: call(lax.conv_general_dilated, case, a, b), (lhs, rhs), v)
    g = rng.normal(size=jv.shape)
    d_lhs, d_rhs = jax.jit(
        lambda a, b: jax.vjp(lambda a, b: call(jaxconv.conv_general_dilated, case, a, b), a, b)[1](
            g
        )
    )(lhs, rhs)
    np.testing.assert_allclose(
        np.vdot(g, jv), np.vdot(d_lhs, v[0]) + np.vdot(d_rhs, v[1]), rtol=1e-9
    )


def test_preferred_element_type_and_precision_are_honoured():
    case = GENERAL_CASES[2]
    lhs, rhs = case_arrays(case)
    lhs, rhs = lhs.astype(jnp.bfloat16), rhs.astype(jnp.bfloat16)
    ours = call(
        jaxconv.conv_general_dilated,
        case,
        lhs,
        rhs,
        preferred_element_type=jnp.float32,
        precision=lax.Precision.HIGHEST,
    )
    theirs = call(
        lax.conv_general_dilated,
        case,
        lhs,
        rhs,
        preferred_element_type=jnp.float32,
        precision=lax.Precision.HIGHEST,
    )
    assert ours.dtype == theirs.dtype == jnp.float32
    np.testing.assert_allclose(
        np.asarray(ours), np.asarray(theirs), rtol=1e-5, atol=1e-5
    )  # float32 accumulation, as lax


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(batch_group_count=2, feature_group_count=2),
            "At most one of batch_group_count and feature_group_count",
        ),
        (dict(lhs_dilation=(2, 1)), "string padding with lhs_dilation is not defined"),
        (dict(lhs_dilation=(0, 1)), "input dilation must be >= 1, got 0"),
    ],
)
def test_conv_general_dilated_refusals(kwargs, message):
    lhs, rhs = jnp.zeros((2, 4, 8, 8)), jnp.zeros((4, 4, 3, 3))
    with pytest.raises(ValueError, match=message):
        jaxconv.conv_general_dilated(lhs, rhs, (1, 1), "SAME", **kwargs)


# nnx.Conv options, 1-D to 3-D: (in, out, kernel_size, keyword arguments)
NNX_CONFIGS = [
    (3, 5, (4,), dict(padding="CAUSAL", kernel_dilation=2)),
    (4, 8, (3,), dict(padding="SAME", strides=2, feature_group_count=4)),
    (2, 6, (3, 2), dict(padding="VALID", strides=(2, 1), use_bias=False)),
    (4, 8, (3, 3), dict(padding="CIRCULAR", kernel_dilation=(1, 2), feature_group_count=2)),
    (4, 4, (3, 3), dict(padding="REFLECT", feature_group_count=4)),
    (3, 4, (2, 3), dict(padding=((1, 2), (0, 1)), input_dilation=(2, 1))),
    (3, 4, (3, 3), dict(padding=1, strides=2, mask=np.tril(np.ones((3, 3, 3, 4))), use_bias=False)),
    (2, 4, (3, 3, 3), dict(padding="SAME", strides=(1, 2, 1))),
    (4, 4, (2, 3, 2), dict(padding="CIRCULAR", feature_group_count=4, kernel_dilation=(2, 1, 1))),
]  # fmt: skip
SPATIAL = {1: (13,), 2: (9, 8), 3: (5, 6, 4)}


@pytest.mark.slow
@pytest.mark.parametrize("c_in, c_out, kernel_size, kwargs", NNX_CONFIGS, ids=str)
def test_nnx_conv_on_jaxconv_equals_stock_nnx_conv(c_in, c_out, kernel_size, kwargs):
    kwargs = {k: jnp.asarray(v) if k == "mask" else v for k, v in kwargs.items()}
    x = jax.random.normal(jax.random.key(0), (2, *SPATIAL[len(kernel_size)], c_in))
    stock = nnx.Conv(c_in, c_out, kernel_size, rngs=nnx.Rngs(0), **kwargs)
    swapped = nnx.Conv(
        c_in,
        c_out,
        kernel_size,
        rngs=nnx.Rngs(0),
        conv_general_dilated=jaxconv.conv_general_dilated,
        **kwargs,
    )
    ours = jaxconv.Conv(c_in, c_out, kernel_size, rngs=nnx.Rngs(0), **kwargs)
    for a, b in zip(
        jax.tree.leaves(nnx.state(stock, nnx.Param)), jax.tree.leaves(nnx.state(ours, nnx.Param))
    ):
        np.testing.assert_array_equal(
            np.asarray(a), np.asarray(b)
        )  # same parameters, same initialisers
    apply = nnx.jit(lambda model, x: model(x))  # eager would compile each slice and pad on its own
    want = apply(stock, x)
    np.testing.assert_allclose(
        np.asarray(apply(swapped, x)), np.asarray(want), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(np.asarray(apply(ours, x)), np.asarray(want), rtol=1e-5, atol=1e-5)


def test_jaxconv_conv_trains_like_nnx_conv():
    # one gradient of a loss through the layer: our derived VJP against lax's jvp, parameter by
    # parameter
    x = jax.random.normal(jax.random.key(1), (2, 9, 8, 4))
    ours = jaxconv.Conv(4, 8, (3, 3), padding="SAME", feature_group_count=2, rngs=nnx.Rngs(0))
    stock = nnx.Conv(4, 8, (3, 3), padding="SAME", feature_group_count=2, rngs=nnx.Rngs(0))
    loss = lambda model: jnp.sum(jnp.tanh(model(x)))  # noqa: E731
    grads = nnx.jit(nnx.grad(loss))(ours)
    direction = jax.tree.map(jnp.ones_like, nnx.state(stock, nnx.Param))
    graphdef, params = nnx.split(stock, nnx.Param)
    _, directional = jax.jvp(lambda p: loss(nnx.merge(graphdef, p)), (params,), (direction,))
    total = sum(jnp.sum(g) for g in jax.tree.leaves(grads))
    np.testing.assert_allclose(float(total), float(directional), rtol=1e-4)


@pytest.mark.slow
def test_linen_conv_on_jaxconv_equals_stock_linen_conv():
    x = jax.random.normal(jax.random.key(2), (2, 9, 8, 3))
    stock = linen.Conv(6, (3, 3), strides=2, padding="SAME", kernel_dilation=1)
    swapped = linen.Conv(
        6,
        (3, 3),
        strides=2,
        padding="SAME",
        kernel_dilation=1,
        conv_general_dilated=jaxconv.conv_general_dilated,
    )
    params = stock.init(jax.random.key(0), x)
    np.testing.assert_allclose(
        np.asarray(swapped.apply(params, x)),
        np.asarray(stock.apply(params, x)),
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.parametrize(
    "lhs_shape, rhs_shape, padding, rhs_dilation",
    [
        ((1, 2, 2, 1), (3, 3, 1, 1), "VALID", None),  # a 3x3 kernel on a 2x2 image
        ((1, 4, 5, 3, 2), (3, 2, 2, 2, 4), [(0, 0), (1, 0), (0, 0)], (2, 1, 1)),  # dilated, 3-D
    ],
)
def test_a_kernel_longer_than_the_padded_input_gives_lax_s_empty_output(
    lhs_shape, rhs_shape, padding, rhs_dilation
):
    lhs = jnp.ones(lhs_shape)
    rhs = jnp.ones(rhs_shape)
    spec = ("NHWC", "HWIO", "NHWC") if len(lhs_shape) == 4 else ("NDHWC", "DHWIO", "NDHWC")
    kwargs = dict(rhs_dilation=rhs_dilation, dimension_numbers=spec)
    strides = (1,) * (len(lhs_shape) - 2)
    theirs = lax.conv_general_dilated(lhs, rhs, strides, padding, **kwargs)
    ours = jaxconv.conv_general_dilated(lhs, rhs, strides, padding, **kwargs)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    assert 0 in ours.shape
    dx, dk = jax.grad(
        lambda a, b: jaxconv.conv_general_dilated(a, b, strides, padding, **kwargs).sum(),
        argnums=(0, 1),
    )(lhs, rhs)
    assert dx.shape == lhs.shape and dk.shape == rhs.shape
    assert not dx.any() and not dk.any()
    with pytest.raises(ValueError, match="larger than the padded input"):
        jaxconv.conv(lhs, rhs, padding=0, dilation=rhs_dilation or 1)  # jaxconv's own API refuses


def test_nnx_conv_on_jaxconv_gives_the_empty_output_of_a_too_small_image():
    image = jnp.ones((1, 2, 2, 1))
    stock = nnx.Conv(1, 1, (3, 3), padding="VALID", rngs=nnx.Rngs(0))
    ours = nnx.Conv(
        1,
        1,
        (3, 3),
        padding="VALID",
        conv_general_dilated=jaxconv.conv_general_dilated,
        rngs=nnx.Rngs(0),
    )
    assert ours(image).shape == stock(image).shape == (1, 0, 0, 1)
