"""conv_general_dilated with input dilation (the fold path) and conv_transpose_general, against
lax's forward and, for the gradients, lax's forward mode (never jax.grad of a lax convolution)."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conv_cases import CHANNELS_LAST
from jax import lax

import jaxconv
from jaxconv._shapes import conv_geometry
from jaxconv._transpose import takes_fold_path


def _dilated_cases(count=16, seed=0):
    """(lhs shape, rhs shape, strides, padding, lhs_dilation, rhs_dilation, groups): ranks 1-3,
    input dilation 1-3 (at least one axis > 1), kernel dilation, window strides up to the input
    dilation and beyond it, negative and large padding, dense, grouped and depthwise."""
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        rank = int(rng.integers(1, 4))
        size = tuple(int(v) for v in rng.integers(1, 6 if rank < 3 else 4, rank))
        k = tuple(int(v) for v in rng.integers(1, 4, rank))
        r = tuple(int(v) for v in rng.integers(1, 4, rank))
        if all(v == 1 for v in r):
            continue
        d = tuple(int(v) for v in rng.integers(1, 3, rank))
        s = tuple(int(v) for v in rng.integers(1, 3, rank))
        pad = tuple((int(rng.integers(-1, 5)), int(rng.integers(-1, 5))) for _ in range(rank))
        groups, per_group = [(1, 2), (2, 1), (3, 1), (2, 2)][int(rng.integers(0, 4))]
        c_in, c_out = groups * per_group, groups * int(rng.integers(1, 3))
        try:
            conv_geometry(size, k, s, pad, d, r, allow_negative_padding=True)
        except ValueError:  # the kernel does not fit the padded input
            continue
        cases.append(((2, *size, c_in), (*k, per_group, c_out), s, pad, r, d, groups))
    return cases


DILATED_CASES = _dilated_cases()


def _lax_style(conv, case):
    _, _, strides, padding, lhs_dil, rhs_dil, groups = case
    layouts = CHANNELS_LAST[len(strides)]
    return lambda a, b: conv(a, b, strides, padding, lhs_dil, rhs_dil, layouts, groups)


def _check_vjp_against_lax_jvp(ours, theirs, args, seed=1, rtol=1e-9):
    """Our VJP against lax's jvp: <g, J v> = <Jᵀ g, v>."""
    rng = np.random.default_rng(seed)
    v = tuple(jnp.asarray(rng.normal(size=a.shape)) for a in args)
    _, jv = jax.jvp(theirs, args, v)
    g = jnp.asarray(rng.normal(size=jv.shape))
    cotangents = jax.jit(lambda *a: jax.vjp(ours, *a)[1](g))(*args)
    np.testing.assert_allclose(
        np.vdot(g, jv), sum(np.vdot(c, w) for c, w in zip(cotangents, v)), rtol=rtol
    )


def _check_against_lax(ours, theirs, shapes, seed):
    """``ours`` equals ``theirs`` on random operands of ``shapes`` (forward, under jit, same shape
    and dtype), and its VJP agrees with ``theirs``' forward mode."""
    rng = np.random.default_rng(seed)
    lhs, rhs = (jnp.asarray(rng.normal(size=shape)) for shape in shapes)
    expected = theirs(lhs, rhs)
    got = jax.jit(ours)(lhs, rhs)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-10, atol=1e-10)
    _check_vjp_against_lax_jvp(ours, theirs, (lhs, rhs))


def test_the_sweep_takes_both_paths():
    taken = [
        takes_fold_path(conv_geometry(c[0][1:-1], c[1][:-2], c[2], c[3], c[5], c[4], True))
        for c in DILATED_CASES
    ]
    assert any(taken) and not all(taken)


@pytest.mark.parametrize("case", DILATED_CASES, ids=str)
def test_input_dilation_matches_lax_forward_and_forward_mode(case, x64):
    ours = _lax_style(jaxconv.conv_general_dilated, case)
    _check_against_lax(ours, _lax_style(lax.conv_general_dilated, case), case[:2], seed=0)


def test_input_dilation_runs_the_transposed_convolution_not_zero_insertion():
    """The 2x upsampling of a U-Net decoder goes through fold(Y Wᵀ) (the input-gradient
    primitive, the transposed convolution), not through an unfold of the zero-inserted input."""
    lhs, rhs = jnp.ones((1, 4, 4, 3)), jnp.ones((3, 3, 3, 5))
    jaxpr = str(
        jax.make_jaxpr(
            lambda a, b: jaxconv.conv_general_dilated(
                a, b, (1, 1), [(1, 2)] * 2, (2, 2), None, ("NHWC", "HWIO", "NHWC")
            )  # fmt: skip
        )(lhs, rhs)
    )
    primitives = set(re.findall(r"\b(jaxconv_\w+)\[", jaxpr))
    assert primitives == {"jaxconv_conv_input_grad"}, jaxpr


# (lhs shape, rhs shape, strides, padding, rhs_dilation, dimension_numbers, transpose_kernel,
#  use_consistent_padding)
TRANSPOSE_CASES = [
    ((2, 5, 6, 3), (3, 3, 3, 4), (2, 2), "SAME", None, None, False, False),
    ((2, 5, 6, 3), (3, 3, 4, 3), (2, 2), "SAME", None, None, True, False),
    ((2, 5, 6, 3), (4, 4, 3, 4), (2, 2), "SAME", None, None, False, False),
    ((2, 5, 6, 3), (4, 4, 4, 3), (2, 2), "SAME", None, None, True, False),
    ((2, 5, 6, 3), (3, 2, 3, 4), (2, 3), "VALID", None, None, False, False),
    ((2, 5, 6, 3), (3, 2, 4, 3), (3, 1), "VALID", (2, 1), None, True, False),
    ((2, 5, 6, 3), (1, 1, 3, 4), (4, 4), "SAME", None, None, False, False),
    ((2, 5, 6, 3), (2, 2, 3, 4), (2, 2), [(1, 1), (0, 2)], None, None, False, False),
    ((2, 5, 6, 3), (3, 3, 4, 3), (2, 2), [(1, 1), (2, 0)], (2, 2), None, True, False),
    ((2, 5, 6, 3), (3, 3, 3, 4), (2, 2), [(1, 1), (0, 1)], None, None, False, True),
    ((2, 5, 6, 3), (3, 3, 4, 3), (2, 3), [(0, 0), (2, 1)], (1, 2), None, True, True),
    ((2, 5, 6, 3), (3, 3, 3, 4), (2, 2), [(-1, 3), (4, -1)], None, None, False, False),
    ((2, 3, 7, 5), (4, 3, 3, 3), (2, 2), "SAME", None, ("NCHW", "OIHW", "NCHW"), False, False),
    ((2, 3, 7, 5), (3, 4, 3, 3), (1, 2), "VALID", (2, 1), ("NCHW", "OIHW", "NCHW"), True, False),
    ((3, 7, 2), (5, 2, 3), (3,), "SAME", None, None, False, False),
    ((3, 7, 2), (5, 3, 2), (2,), "VALID", (2,), None, True, False),
    ((3, 7, 2), (2, 2, 3), (1,), "SAME", None, None, False, False),
    ((3, 7, 2), (3, 3, 2), (2,), [(3, 1)], None, None, True, False),
    ((1, 3, 4, 2, 2), (2, 3, 3, 2, 3), (2, 2, 2), "SAME", None, None, False, False),
    ((1, 3, 4, 2, 2), (3, 2, 2, 3, 2), (2, 1, 3), "VALID", (1, 2, 1), None, True, False),
    ((1, 3, 4, 2, 2), (2, 2, 2, 2, 3), (2, 2, 2), [(1, 1), (0, 0), (2, 1)], None, None, False,
     False),
]  # fmt: skip


def _transpose_call(conv, case):
    _, _, strides, padding, rhs_dil, dnums, transpose_kernel, consistent = case
    return lambda a, b: conv(
        a,
        b,
        strides,
        padding,
        rhs_dil,
        dnums,
        transpose_kernel,
        use_consistent_padding=consistent,
    )


@pytest.mark.parametrize("case", TRANSPOSE_CASES, ids=str)
def test_conv_transpose_general_matches_lax_conv_transpose(case, x64):
    ours = _transpose_call(jaxconv.conv_transpose_general, case)
    _check_against_lax(ours, _transpose_call(lax.conv_transpose, case), case[:2], seed=2)


def test_conv_transpose_general_keeps_bfloat16_and_preferred_element_type():
    rng = np.random.default_rng(3)
    lhs = jnp.asarray(rng.normal(size=(2, 5, 5, 3)), jnp.bfloat16)
    rhs = jnp.asarray(rng.normal(size=(3, 3, 3, 4)), jnp.bfloat16)
    assert jaxconv.conv_transpose_general(lhs, rhs, (2, 2), "SAME").dtype == jnp.bfloat16
    ours = jaxconv.conv_transpose_general(
        lhs, rhs, (2, 2), "SAME", preferred_element_type=jnp.float32
    )
    theirs = lax.conv_transpose(lhs, rhs, (2, 2), "SAME", preferred_element_type=jnp.float32)
    assert ours.dtype == theirs.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=2e-2, atol=2e-2)


def test_conv_transpose_general_equals_jaxconv_conv_transpose():
    """lax's transposed convolution with transpose_kernel and the forward's padding is
    jaxconv.conv_transpose (PyTorch's) with the same kernel."""
    rng = np.random.default_rng(4)
    y = jnp.asarray(rng.normal(size=(2, 6, 5, 4)), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(3, 3, 3, 4)), jnp.float32)  # (*k, C_in, C_out) forward
    ours = jaxconv.conv_transpose_general(
        y, kernel, (2, 2), [(1, 1), (1, 1)], transpose_kernel=True, use_consistent_padding=True
    )
    expected = jaxconv.conv_transpose(y, kernel, 2, 1)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(expected), rtol=1e-5, atol=1e-5)


def test_conv_transpose_general_refuses_an_unknown_padding_string():
    with pytest.raises(ValueError, match="padding"):
        jaxconv.conv_transpose_general(
            jnp.ones((1, 4, 4, 2)), jnp.ones((3, 3, 2, 2)), (2, 2), "FULL"
        )
