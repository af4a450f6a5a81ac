"""jaxconv.lessons: the backward as a convolution, forward mode, Winograd, checked against
jaxconv's fold form and lax's forward mode."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import jaxconv
from jaxconv import lessons


def test_unfold_matrix_of_5_samples_kernel_3_stride_2_padding_1_by_hand():
    expected = np.zeros((9, 5))  # 3 outputs × 3 taps, 5 samples
    for o in range(3):
        for t in range(3):
            column = 2 * o + t - 1
            if 0 <= column < 5:
                expected[3 * o + t, column] = 1
    np.testing.assert_array_equal(lessons.unfold_matrix_1d(5, 3, 2, 1), expected)
    assert expected[0].sum() == 0  # output 0, tap 0 reads the padding


@pytest.mark.parametrize("length, k, s, p", [(5, 3, 2, 1), (7, 2, 3, 0), (6, 4, 1, 2)])
def test_fold_matrix_is_the_transpose_and_linear_transpose_of_unfold_is_fold(length, k, s, p):
    unfold_m = lessons.unfold_matrix_1d(length, k, s, p)
    np.testing.assert_array_equal(lessons.fold_matrix_1d(length, k, s, p), unfold_m.T)
    o = jaxconv.output_size(length, k, s, p)
    patches = jax.random.normal(jax.random.key(0), (1, o, k))
    by_jax = lessons.fold_by_linear_transpose(patches, (1, length, 1), k, s, p)
    np.testing.assert_allclose(by_jax, jaxconv.fold(patches, (1, length, 1), k, s, p), atol=1e-6)
    np.testing.assert_allclose(by_jax.ravel(), unfold_m.T @ np.asarray(patches).ravel(), atol=1e-6)


BACKWARD_CASES = [  # x shape, kernel shape, stride, padding, dilation
    ((2, 7, 7, 3), (3, 3, 3, 4), 2, 1, 1),
    pytest.param((1, 8, 6, 2), (2, 3, 2, 3), 3, 0, 1, marks=pytest.mark.slow),
    pytest.param((2, 9, 9, 1), (3, 3, 1, 2), 2, 2, 2, marks=pytest.mark.slow),
    pytest.param((2, 11, 3), (4, 3, 2), 3, 1, 2, marks=pytest.mark.slow),  # 1-D
]


@pytest.mark.parametrize("x_shape, k_shape, s, p, d", BACKWARD_CASES)
def test_the_backward_as_convolutions_equals_the_fold_form(x_shape, k_shape, s, p, d):
    kx, kk, kg = jax.random.split(jax.random.key(1), 3)
    x, kernel = jax.random.normal(kx, x_shape), jax.random.normal(kk, k_shape)
    y = jaxconv.conv(x, kernel, s, p, d)
    g = jax.random.normal(kg, y.shape)

    @jax.jit  # one compilation instead of one per small lax op
    def both_forms(x, kernel, g):
        as_convolutions = (
            lessons.weight_grad_as_correlation(x, g, k_shape[:-2], s, p, d),
            lessons.input_grad_as_convolution(g, kernel, x_shape, s, p, d),
        )
        as_folds = (
            jaxconv.conv_weight_grad(x, k_shape, g, s, p, d),
            jaxconv.conv_input_grad(x_shape, kernel, g, s, p, d),
        )
        return as_convolutions, as_folds

    for ours, fold_form in zip(*both_forms(x, kernel, g)):
        np.testing.assert_allclose(ours, fold_form, rtol=1e-4, atol=1e-4)


def test_conv_jvp_is_the_product_rule_and_matches_lax_forward_mode():
    keys = jax.random.split(jax.random.key(2), 4)
    x, dx = (jax.random.normal(k, (2, 7, 7, 3)) for k in keys[:2])
    kernel, dkernel = (jax.random.normal(k, (3, 3, 3, 4)) for k in keys[2:])

    def lax_conv(a, b):
        return lax.conv_general_dilated(
            a, b, (2, 2), [(1, 1), (1, 1)], dimension_numbers=("NHWC", "HWIO", "NHWC")
        )

    primal, tangent = jax.jvp(lax_conv, (x, kernel), (dx, dkernel))
    ours = lessons.conv_jvp(x, kernel, dx, dkernel, 2, 1)
    np.testing.assert_allclose(ours[0], primal, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours[1], tangent, rtol=1e-4, atol=1e-4)


def test_forward_over_reverse_through_jaxconv_matches_the_bilinear_hessian():
    """jax.jacfwd(jax.grad(f)) runs forward mode through jaxconv's hand-written backward."""
    x = jax.random.normal(jax.random.key(3), (1, 4, 4, 1))
    kernel = jax.random.normal(jax.random.key(4), (2, 2, 1, 1))

    def f(k):
        return jnp.sum(jaxconv.conv2d(x, k, 2, 0) ** 2)  # quadratic in k: Hessian 2 UᵀU

    hessian = jax.jacfwd(jax.grad(f))(kernel).reshape(4, 4)
    u = jaxconv.unfold(x, 2, 2, 0).reshape(-1, 4)  # (M, K)
    np.testing.assert_allclose(hessian, 2 * u.T @ u, rtol=1e-4, atol=1e-4)


def test_winograd_equals_jaxconv_with_fewer_multiplications():
    x = jax.random.normal(jax.random.key(5), (2, 8, 6))
    kernel = jax.random.normal(jax.random.key(6), (3, 3))
    expected = jaxconv.conv(x[..., None], kernel[..., None, None])[..., 0]  # (2, 6, 4)
    np.testing.assert_allclose(lessons.winograd_conv2d(x, kernel), expected, atol=1e-4)
    assert lessons.multiplications(6, 4) == {"unfold": 216, "winograd": 96}


def test_winograd_refuses_an_odd_output():
    with pytest.raises(ValueError, match="even output"):
        lessons.winograd_conv2d(jnp.zeros((1, 7, 8)), jnp.zeros((3, 3)))


def test_unfold_memory_is_nine_times_the_input_for_a_3x3_kernel():
    assert lessons.unfold_memory(16, 28, 1) == {"input": 16 * 28 * 28, "patches": 9 * 16 * 28 * 28}
    assert lessons.unfold_memory(16, 7, 32)["patches"] == 9 * 16 * 7 * 7 * 32


def test_torch_patch_order_is_channel_major():
    x = jnp.arange(1, 2 * 3 * 3 + 1, dtype=jnp.float32).reshape(1, 3, 3, 2)  # (N, H, W, C)
    patches = jaxconv.unfold(x, 2)  # (1, 2, 2, 8), entries (i, j, c)
    torch_order = lessons.to_torch_patch_order(patches, 2)[0, 0, 0]  # output pixel (0, 0)
    # F.unfold lists channel 0's four taps (i, j) row-major, then channel 1's
    assert torch_order.tolist() == [1, 3, 7, 9, 2, 4, 8, 10]
