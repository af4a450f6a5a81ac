"""The NumPy loop oracles themselves: hand-computed answers, lax's forward convolution,
adjointness, finite differences.

lax convolutions are only ever called forward here (differentiating them can abort the process).
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np
import pytest
from jax import lax

from jaxconv import reference

DIMENSION_NUMBERS = {
    1: ("NWC", "WIO", "NWC"),
    2: ("NHWC", "HWIO", "NHWC"),
    3: ("NDHWC", "DHWIO", "NDHWC"),
}


class Case(NamedTuple):
    x_shape: tuple  # (N, *spatial, C_in)
    kernel_shape: tuple  # (*k, C_in // groups, C_out)
    stride: tuple
    padding: tuple  # (low, high) per dim
    dilation: tuple
    groups: int

    def arrays(self, seed=0):
        rng = np.random.default_rng(seed)
        return rng.normal(size=self.x_shape), rng.normal(size=self.kernel_shape)

    def args(self):
        return dict(
            stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups
        )


CASES = {
    "1d-grouped-dilated-strided": Case((2, 9, 4), (3, 2, 6), (2,), ((2, 1),), (2,), 2),
    "2d-asymmetric": Case((1, 7, 6, 3), (3, 2, 3, 2), (2, 1), ((1, 2), (0, 3)), (1, 2), 1),
    "2d-depthwise-multiplier-2": Case(
        (1, 5, 6, 3), (3, 3, 1, 6), (1, 2), ((2, 2), (2, 2)), (2, 2), 3
    ),
    "3d-grouped": Case(
        (1, 5, 4, 6, 4), (2, 3, 2, 2, 4), (1, 2, 2), ((0, 1), (1, 1), (2, 0)), (2, 1, 2), 2
    ),
}

TINY = {  # for finite differences: every entry of x and kernel is perturbed twice
    "1d-grouped-dilated": Case((1, 7, 4), (2, 2, 4), (2,), ((1, 2),), (3,), 2),
    "2d-depthwise-strided": Case((1, 4, 5, 2), (2, 2, 1, 4), (2, 1), ((0, 1), (1, 0)), (1, 2), 2),
}


def lax_conv(x, kernel, case):
    """lax.conv_general_dilated, forward only, in float64 (the caller holds the x64 fixture)."""
    d = len(case.stride)
    y = lax.conv_general_dilated(
        x, kernel, case.stride, case.padding, rhs_dilation=case.dilation,
        dimension_numbers=DIMENSION_NUMBERS[d], feature_group_count=case.groups,
    )  # fmt: skip
    assert y.dtype == np.float64
    return np.asarray(y)


# --- hand-computed answers -------------------------------------------------------


def test_conv2d_hand_computed():
    x = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    kernel = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(2, 2, 1, 1)
    # y[0, 0] = 1·1 + 2·2 + 4·3 + 5·4 = 37, and so on
    np.testing.assert_array_equal(
        reference.conv2d(x, kernel)[0, :, :, 0], [[37.0, 47.0], [67.0, 77.0]]
    )


def test_conv1d_dilation_stride_asymmetric_padding_hand_computed():
    x = np.arange(1.0, 6.0).reshape(1, 5, 1)  # padded with one zero in front: [0, 1, 2, 3, 4, 5]
    kernel = np.array([2.0, -1.0]).reshape(2, 1, 1)  # y[o] = 2·xp[o·stride] - xp[o·stride + 2]
    y = reference.conv(x, kernel, padding=[(1, 0)], dilation=2)
    np.testing.assert_array_equal(y[0, :, 0], [-2.0, -1.0, 0.0, 1.0])
    y = reference.conv(x, kernel, stride=2, padding=[(1, 0)], dilation=2)
    np.testing.assert_array_equal(y[0, :, 0], [-2.0, 0.0])


def test_grouped_1x1_conv_hand_computed():
    x = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]]).reshape(1, 3, 2)
    kernel = np.array([2.0, -1.0]).reshape(
        1, 1, 2
    )  # two groups, one channel each: channel 0 ·2, channel 1 ·(-1)
    np.testing.assert_array_equal(
        reference.conv(x, kernel, groups=2)[0], [[2.0, -10.0], [4.0, -20.0], [6.0, -30.0]]
    )


def test_unfold_fold_2d_hand_computed():
    x = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    patches = reference.unfold(x, 2)
    np.testing.assert_array_equal(patches[0, 0, 0], [1.0, 2.0, 4.0, 5.0])
    np.testing.assert_array_equal(patches[0, 1, 1], [5.0, 6.0, 8.0, 9.0])
    counts = reference.fold(np.ones_like(patches), x.shape, 2)  # how many patches cover each pixel
    np.testing.assert_array_equal(
        counts[0, :, :, 0], [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
    )


def test_conv_transpose_hand_computed():
    y = np.array([1.0, 2.0]).reshape(1, 2, 1)
    kernel = np.ones((3, 1, 1))
    # full result: y[0]·[1, 1, 1] at 0..2 plus y[1]·[1, 1, 1] at 2..4
    np.testing.assert_array_equal(
        reference.conv_transpose(y, kernel, stride=2)[0, :, 0], [1.0, 1.0, 3.0, 2.0, 2.0]
    )
    # padding crops one row off each end; output_padding keeps one more row at the high end
    got = reference.conv_transpose(y, kernel, stride=2, padding=1, output_padding=1)
    np.testing.assert_array_equal(got[0, :, 0], [1.0, 3.0, 2.0, 2.0])


# --- against lax, and against each other --------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_conv_matches_lax(name, x64):
    case = CASES[name]
    x, kernel = case.arrays()
    np.testing.assert_allclose(
        reference.conv(x, kernel, **case.args()), lax_conv(x, kernel, case), rtol=1e-12, atol=1e-12
    )


def test_padding_forms_agree():
    x, kernel = CASES["2d-depthwise-multiplier-2"].arrays()
    want = reference.conv(x, kernel, padding=((2, 2), (2, 2)), groups=3)
    np.testing.assert_array_equal(reference.conv(x, kernel, padding=2, groups=3), want)
    np.testing.assert_array_equal(reference.conv(x, kernel, padding=[2, 2], groups=3), want)


def test_conv2d_is_conv():
    x, kernel = CASES["2d-asymmetric"].arrays()
    np.testing.assert_array_equal(
        reference.conv2d(x, kernel, (2, 1), (1, 3)),
        reference.conv(x, kernel, (2, 1), ((1, 1), (3, 3))),
    )


@pytest.mark.parametrize("name", ["1d-grouped-dilated-strided", "2d-asymmetric", "3d-grouped"])
def test_conv_is_unfold_times_kernel(name):
    case = CASES[name]
    x, kernel = case.arrays()
    c_in_per_group, c_out = kernel.shape[-2:]
    patches = reference.unfold(
        x, kernel.shape[:-2], case.stride, case.padding, case.dilation
    )  # (N, *out, prod(k)·C_in)
    # block-diagonal dense kernel: each group's output channels see only that group's input channels
    dense = np.zeros((*kernel.shape[:-2], c_in_per_group * case.groups, c_out))  # (*k, C_in, C_out)
    for o in range(c_out):
        first = (o // (c_out // case.groups)) * c_in_per_group
        dense[..., first : first + c_in_per_group, o] = kernel[..., o]
    want = patches @ dense.reshape(-1, c_out)  # (N, *out, C_out)
    np.testing.assert_allclose(
        reference.conv(x, kernel, **case.args()), want, rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("name", CASES)
def test_unfold_fold_adjoint(name):
    case = CASES[name]
    x, kernel = case.arrays()
    geometry = (kernel.shape[:-2], case.stride, case.padding, case.dilation)
    patches = reference.unfold(x, *geometry)
    p = np.random.default_rng(1).normal(size=patches.shape)
    np.testing.assert_allclose(
        np.vdot(patches, p), np.vdot(x, reference.fold(p, x.shape, *geometry)), rtol=1e-12
    )


# --- gradients -------------------------------------------------------------------


def central_differences(f, a, eps=1e-3):
    grad = np.zeros_like(a)
    for i in np.ndindex(*a.shape):
        step = np.zeros_like(a)
        step[i] = eps
        grad[i] = (f(a + step) - f(a - step)) / (2 * eps)
    return grad


@pytest.mark.parametrize("name", TINY)
def test_grads_match_finite_differences(name):
    case = TINY[name]
    x, kernel = case.arrays()
    g = np.random.default_rng(2).normal(size=reference.conv(x, kernel, **case.args()).shape)
    loss_of_x = lambda x: np.vdot(reference.conv(x, kernel, **case.args()), g)  # noqa: E731
    loss_of_kernel = lambda kernel: np.vdot(reference.conv(x, kernel, **case.args()), g)  # noqa: E731
    dx = reference.conv_input_grad(x.shape, kernel, g, **case.args())
    dk = reference.conv_weight_grad(x, kernel.shape, g, **case.args())
    np.testing.assert_allclose(dx, central_differences(loss_of_x, x), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(
        dk, central_differences(loss_of_kernel, kernel), rtol=1e-8, atol=1e-8
    )


# --- the transposed convolution ------------------------------------------------------

TRANSPOSED = {  # (y_shape, kernel_shape, stride, padding, output_padding, dilation, groups)
    "1d": ((2, 4, 4), (3, 1, 4), 2, 1, 1, 1, 4),
    "2d-grouped": ((1, 3, 4, 4), (3, 2, 3, 4), (2, 3), (1, 0), (1, 2), (2, 1), 2),
    "3d": ((1, 2, 3, 2, 2), (2, 2, 3, 2, 2), (2, 1, 2), (0, 1, 1), (1, 0, 0), (1, 2, 1), 1),
}


def transposed_arrays(name):
    y_shape, kernel_shape, *args = TRANSPOSED[name]
    rng = np.random.default_rng(3)
    return rng.normal(size=y_shape), rng.normal(size=kernel_shape), args


@pytest.mark.parametrize("name", TRANSPOSED)
def test_conv_transpose_is_input_grad(name):
    y, kernel, (stride, padding, output_padding, dilation, groups) = transposed_arrays(name)
    x_t = reference.conv_transpose(y, kernel, stride, padding, output_padding, dilation, groups)
    assert x_t.shape[-1] == kernel.shape[-2] * groups
    want = reference.conv_input_grad(x_t.shape, kernel, y, stride, padding, dilation, groups)
    np.testing.assert_array_equal(x_t, want)


@pytest.mark.parametrize("name", TRANSPOSED)
def test_conv_transpose_adjoint(name):
    y, kernel, (stride, padding, output_padding, dilation, groups) = transposed_arrays(name)
    x_t = reference.conv_transpose(y, kernel, stride, padding, output_padding, dilation, groups)
    x = np.random.default_rng(4).normal(size=x_t.shape)  # output_padding chose this size
    forward = reference.conv(x, kernel, stride, padding, dilation, groups)
    assert forward.shape == y.shape
    np.testing.assert_allclose(np.vdot(forward, y), np.vdot(x, x_t), rtol=1e-12)


@pytest.mark.parametrize("name", TRANSPOSED)
def test_conv_transpose_matches_lax_dilated_conv(name, x64):
    """The textbook form: a stride-1 convolution of the stride-dilated y with the flipped,
    transposed kernel."""
    y, kernel, (stride, padding, output_padding, dilation, groups) = transposed_arrays(name)
    d = y.ndim - 2
    k = kernel.shape[:d]
    stride, padding, output_padding, dilation = (
        np.broadcast_to(v, (d,)).tolist() for v in (stride, padding, output_padding, dilation)
    )
    c_in_per_group, c_out = kernel.shape[-2:]
    flipped = np.flip(kernel, axis=tuple(range(d))).reshape(
        *k, c_in_per_group, groups, c_out // groups
    )  # (*k, C_in/G, G, C_out/G)
    flipped = np.moveaxis(flipped, (d, d + 1, d + 2), (d + 2, d + 1, d))  # (*k, C_out/G, G, C_in/G)
    flipped = flipped.reshape(
        *k, c_out // groups, groups * c_in_per_group
    )  # (*k, C_out/G, C_in): I and O swapped
    pads = [
        (dil * (kk - 1) - p, dil * (kk - 1) - p + op)
        for kk, p, op, dil in zip(k, padding, output_padding, dilation)
    ]
    want = lax.conv_general_dilated(
        y, flipped, (1,) * d, pads, lhs_dilation=stride, rhs_dilation=dilation,
        dimension_numbers=DIMENSION_NUMBERS[d], feature_group_count=groups,
    )  # fmt: skip
    got = reference.conv_transpose(y, kernel, stride, padding, output_padding, dilation, groups)
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-12, atol=1e-12)


def test_conv_transpose_output_padding_beyond_stride():
    """stride <= output_padding < dilation: the forward convolution of that size has one more
    output, which y lacks."""
    rng = np.random.default_rng(5)
    y, kernel = rng.normal(size=(1, 4, 2)), rng.normal(size=(3, 2, 2))
    x_t = reference.conv_transpose(y, kernel, stride=1, output_padding=1, dilation=2)
    assert x_t.shape == (1, 4 + 2 * 2 + 1, 2)
    y_extended = np.concatenate([y, np.zeros((1, 1, 2))], axis=1)  # (N, 5, C_out)
    np.testing.assert_array_equal(
        x_t, reference.conv_input_grad(x_t.shape, kernel, y_extended, dilation=2)
    )


# --- bad arguments -----------------------------------------------------------------

X2, K2 = np.zeros((1, 4, 4, 4)), np.zeros((3, 3, 2, 4))

BAD = {
    "groups-in": (
        lambda: reference.conv(X2[..., :3], np.zeros((1, 1, 1, 4)), groups=2),
        "input channels 3 are not divisible by groups 2",
    ),
    "groups-out": (
        lambda: reference.conv(X2, np.zeros((1, 1, 2, 3)), groups=2),
        "output channels 3 are not divisible by groups 2",
    ),
    "kernel-channels": (
        lambda: reference.conv(X2, K2),
        "the kernel has 2 input channels per group, but 4 input channels in 1 groups",
    ),
    "dilation": (
        lambda: reference.conv(X2, K2, dilation=0, groups=2),
        "dilation must be >= 1, got 0",
    ),
    "stride-count": (
        lambda: reference.conv(X2, K2, stride=(1, 2, 3), groups=2),
        "stride must be an int or 2 ints",
    ),
    "pair-count": (
        lambda: reference.conv(X2, K2, padding=((1, 1),), groups=2),
        "2 (low, high) pairs",
    ),
    "too-large": (
        lambda: reference.conv(X2, K2, dilation=(1, 2), groups=2),
        "along spatial dim 1: the dilated kernel 2*(3-1)+1 = 5 is larger than the padded input "
        "4+0+0 = 4",
    ),
    "kernel-rank": (
        lambda: reference.conv(X2, np.zeros((3, 4, 4))),
        "needs a kernel (*k, C_in // groups, C_out) of rank 4",
    ),
    "unfold-padding": (lambda: reference.unfold(X2, 3, padding=-1), "padding must be >= 0, got -1"),
    "output-padding": (
        lambda: reference.conv_transpose(X2, K2, stride=2, output_padding=2, groups=2),
        "along spatial dim 0: output_padding 2 must be smaller than the stride 2 or the dilation 1",
    ),
    "transpose-pairs": (
        lambda: reference.conv_transpose(X2, K2, padding=((1, 1), (0, 0)), groups=2),
        "padding must be an integer",
    ),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_arguments_raise(name):
    call, message = BAD[name]
    with pytest.raises(ValueError, match=re.escape(message)):
        call()
