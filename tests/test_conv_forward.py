import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conv_cases import EDGE_CASES, SWEEP, conv_cases
from hypothesis import example, given
from jax import lax

import jaxconv
from jaxconv import reference


def lax_conv(x, k, stride, padding):
    pads = [(padding[0], padding[0]), (padding[1], padding[1])]
    return lax.conv_general_dilated(x, k, stride, pads, dimension_numbers=("NHWC", "HWIO", "NHWC"))


@pytest.mark.slow
@SWEEP
@given(case=conv_cases())
@example(case=EDGE_CASES[0])
def test_conv2d_matches_reference_loops(case, x64):
    x, k = case.arrays()
    got = jax.jit(jaxconv.conv2d, static_argnums=(2, 3))(
        jnp.asarray(x), jnp.asarray(k), case.stride, case.padding
    )
    np.testing.assert_allclose(
        np.asarray(got), reference.conv2d(x, k, case.stride, case.padding), rtol=1e-10, atol=1e-10
    )


@pytest.mark.slow
@SWEEP
@given(case=conv_cases(max_size=12, max_channels=4))
def test_conv2d_matches_lax_conv_forward(case, x64):
    # only the forward: differentiating lax convolutions can abort the process
    x, k = case.arrays()
    got = jax.jit(jaxconv.conv2d, static_argnums=(2, 3))(
        jnp.asarray(x), jnp.asarray(k), case.stride, case.padding
    )
    np.testing.assert_allclose(
        np.asarray(got),
        np.asarray(lax_conv(x, k, case.stride, case.padding)),
        rtol=1e-10,
        atol=1e-10,
    )


@pytest.mark.slow
@pytest.mark.parametrize("case", EDGE_CASES, ids=str)
def test_conv2d_output_shape_follows_output_size(case):
    x, k = case.arrays(dtype=np.float32)
    y = jaxconv.conv2d(x, k, case.stride, case.padding)
    expected = tuple(
        jaxconv.output_size(s, kk, st, p)
        for s, kk, st, p in zip((case.h, case.w), case.kernel, case.stride, case.padding)
    )
    assert y.shape == (case.n, *expected, case.c_out)


def test_conv2d_int_stride_and_padding_mean_both_axes():
    x, k = EDGE_CASES[1].arrays(dtype=np.float32)
    np.testing.assert_array_equal(jaxconv.conv2d(x, k, 2, 1), jaxconv.conv2d(x, k, (2, 2), (1, 1)))


@pytest.mark.parametrize(
    "dtype, rtol", [(jnp.float32, 1e-5), (jnp.bfloat16, 2e-2), (jnp.float16, 5e-3)]
)
def test_conv2d_keeps_the_input_dtype(dtype, rtol):
    x, k = EDGE_CASES[1].arrays(dtype=np.float32)
    y = jax.jit(jaxconv.conv2d, static_argnums=(2, 3))(x.astype(dtype), k.astype(dtype), 1, 1)
    assert y.dtype == dtype
    expected = reference.conv2d(
        np.asarray(x.astype(dtype), np.float64), np.asarray(k.astype(dtype), np.float64), 1, 1
    )
    scale = np.abs(expected).max()
    np.testing.assert_allclose(np.asarray(y, np.float64), expected, rtol=rtol, atol=rtol * scale)


def test_conv2d_refuses_q10_eight_channel_image_for_three_channel_kernel():
    # Q10: a 5x5 kernel with 3 input channels cannot take an 8-channel 1920x1080 image.
    image = jax.ShapeDtypeStruct((1, 1080, 1920, 8), jnp.float32)
    kernel = jax.ShapeDtypeStruct((5, 5, 3, 16), jnp.float32)
    with pytest.raises(ValueError, match="x has 8 input channels .* but the kernel expects 3"):
        jax.eval_shape(lambda x, k: jaxconv.conv2d(x, k, 2, 1), image, kernel)


def test_conv2d_q10_output_shapes():
    kernel = jax.ShapeDtypeStruct((5, 5, 3, 16), jnp.float32)
    for (h, w), expected in (((768, 1024), (383, 511)), ((1080, 1920), (539, 959))):
        image = jax.ShapeDtypeStruct((1, h, w, 3), jnp.float32)
        out = jax.eval_shape(lambda x, k: jaxconv.conv2d(x, k, 2, 1), image, kernel)
        assert out.shape == (1, *expected, 16)


@pytest.mark.parametrize(
    "x_shape, k_shape, stride, padding, message",
    [
        ((5, 5, 1), (3, 3, 1, 2), 1, 0, "x must be NHWC .* rank 3"),
        ((1, 5, 5, 1), (3, 3, 2), 1, 0, "kernel must be HWIO .* rank 3"),
        (
            (1, 5, 5, 1),
            (7, 3, 1, 2),
            1,
            0,
            "along the height: kernel 7 is larger than the padded input 5 \\+ 2\\*0 = 5",
        ),
        ((1, 5, 5, 1), (3, 3, 1, 2), 0, 0, "stride must be >= 1, got 0"),
        ((1, 5, 5, 1), (3, 3, 1, 2), (1, -1), 0, "stride must be >= 1, got -1"),
        ((1, 5, 5, 1), (3, 3, 1, 2), 1, -1, "padding must be >= 0, got -1"),
        ((1, 5, 5, 1), (3, 3, 1, 2), 1.5, 0, "stride must be an integer, got 1.5"),
        ((1, 5, 5, 1), (3, 3, 1, 2), (1, 1, 1), 0, "stride must be an int or an \\(h, w\\) pair"),
    ],
)
def test_conv2d_rejects_bad_input_at_trace_time(x_shape, k_shape, stride, padding, message):
    x = jax.ShapeDtypeStruct(x_shape, jnp.float32)
    k = jax.ShapeDtypeStruct(k_shape, jnp.float32)
    with pytest.raises(ValueError, match=message):
        jax.jit(lambda x, k: jaxconv.conv2d(x, k, stride, padding)).trace(x, k)


def test_conv2d_rejects_integer_inputs():
    with pytest.raises(ValueError, match="floating-point inputs, got x int32"):
        jaxconv.conv2d(jnp.zeros((1, 4, 4, 1), jnp.int32), jnp.zeros((3, 3, 1, 1), jnp.int32))
