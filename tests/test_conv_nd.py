"""jaxconv.conv in 1-3 dimensions with dilation, groups and every padding form: forward and derived
VJP against the NumPy loops, lax's forward, lax's forward-mode derivatives and finite
differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conv_cases import (
    ND_EDGE_CASES,
    ND_SWEEP,
    NdCase,
    check_second_order_reverse,
    nd_conv_cases,
)
from hypothesis import example, given
from jax import lax

import jaxconv
from jaxconv import reference


def conv_of(case):
    return lambda x, k: jaxconv.conv(x, k, *case.args())


def derived_grads(case, x, k, g, jit=True):
    vjp = lambda x, k, g: jax.vjp(conv_of(case), x, k)[1](g)  # noqa: E731
    return (jax.jit(vjp) if jit else vjp)(jnp.asarray(x), jnp.asarray(k), jnp.asarray(g))


@pytest.mark.slow
@ND_SWEEP
@given(case=nd_conv_cases())
@example(case=ND_EDGE_CASES[2])
def test_forward_matches_reference_loops_and_lax(case, x64):
    x, k = case.arrays()
    y = np.asarray(jax.jit(conv_of(case))(x, k))
    np.testing.assert_allclose(
        y, reference.conv(x, k, **case.reference_args()), rtol=1e-10, atol=1e-10
    )
    np.testing.assert_allclose(y, np.asarray(case.lax_forward(x, k)), rtol=1e-10, atol=1e-10)


@pytest.mark.slow
@ND_SWEEP
@given(case=nd_conv_cases())
@example(case=ND_EDGE_CASES[1])
def test_vjp_matches_reference_loops(case, x64):
    x, k = case.arrays()
    g = np.random.default_rng(5).normal(size=reference.conv(x, k, **case.reference_args()).shape)
    dx, dk = derived_grads(case, x, k, g)
    want_dx = reference.conv_input_grad(case.x_shape, k, g, **case.reference_args())
    want_dk = reference.conv_weight_grad(x, case.kernel_shape, g, **case.reference_args())
    np.testing.assert_allclose(np.asarray(dx), want_dx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.asarray(dk), want_dk, rtol=1e-10, atol=1e-10)


@pytest.mark.slow
@ND_SWEEP
@given(case=nd_conv_cases())
def test_vjp_agrees_with_lax_forward_mode(case, x64):
    # <g, J v> from lax's jvp (which never builds a transposed convolution, so never aborts)
    # must equal <Jᵀ g, v> from our VJP, for random directions v in (x, kernel)
    x, k = case.arrays()
    rng = np.random.default_rng(6)
    vx, vk = rng.normal(size=x.shape), rng.normal(size=k.shape)
    _, jv = jax.jvp(
        case.lax_forward, (jnp.asarray(x), jnp.asarray(k)), (jnp.asarray(vx), jnp.asarray(vk))
    )
    g = rng.normal(size=jv.shape)
    dx, dk = derived_grads(case, x, k, g)
    np.testing.assert_allclose(
        np.vdot(g, jv), np.vdot(dx, vx) + np.vdot(dk, vk), rtol=1e-9, atol=1e-9
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "case, jit", [(case, True) for case in ND_EDGE_CASES] + [(ND_EDGE_CASES[1], False)], ids=str
)
def test_check_grads_second_order_reverse(case, jit, x64):
    check_second_order_reverse(conv_of(case), *case.arrays(seed=7), jit)


HESSIAN_CASES = [
    NdCase((1, 9, 2), (3, 2, 2), (2,), "SAME", (2,), 1),
    NdCase(
        (1, 5, 6, 2), (2, 2, 1, 4), (1, 2), ((1, 0), (0, 1)), (1, 1), 2
    ),  # depthwise, multiplier 2
]


@pytest.mark.parametrize("case", HESSIAN_CASES, ids=str)
def test_hessian_matches_lax_forward_over_forward(case, x64):
    # jax.hessian is forward-over-reverse: jvp through our hand-written backward
    x, k = case.arrays(seed=8)
    x = jnp.asarray(x[:1])
    k = jnp.asarray(k)

    def loss(conv):
        return lambda k: jnp.sum(jnp.tanh(conv(x, k)))

    ours = jax.jit(jax.hessian(loss(conv_of(case))))(k)
    theirs = jax.jit(jax.jacfwd(jax.jacfwd(loss(case.lax_forward))))(k)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("case", ND_EDGE_CASES[3:6], ids=str)
def test_vmap_and_scan_of_grouped_and_depthwise(case, x64):
    x, k = case.arrays()
    kernels = jnp.asarray(np.stack([k, 2 * k, -k]))
    mapped = jax.vmap(lambda k: conv_of(case)(jnp.asarray(x), k))(kernels)
    for got, kernel in zip(mapped, kernels):
        np.testing.assert_allclose(
            np.asarray(got),
            reference.conv(x, np.asarray(kernel), **case.reference_args()),
            rtol=1e-10,
        )

    def scanned(kernels):
        total, _ = lax.scan(
            lambda acc, k: (acc + jnp.sum(conv_of(case)(jnp.asarray(x), k) ** 2), None),
            0.0,
            kernels,
        )
        return total

    grads = jax.jit(jax.grad(scanned))(kernels)
    for gk, kernel in zip(grads, np.asarray(kernels)):
        y = reference.conv(x, kernel, **case.reference_args())
        np.testing.assert_allclose(
            np.asarray(gk),
            reference.conv_weight_grad(x, k.shape, 2 * y, **case.reference_args()),
            rtol=1e-9,
        )


@pytest.mark.slow
@pytest.mark.parametrize(
    "dtype, rtol", [(jnp.float32, 1e-5), (jnp.bfloat16, 3e-2), (jnp.float64, 1e-12)]
)
@pytest.mark.parametrize("case", ND_EDGE_CASES[2:5], ids=str)
def test_dtype_is_kept_forward_and_backward(case, dtype, rtol):
    with jax.enable_x64(dtype == jnp.float64):
        x, k = case.arrays(seed=1, dtype=np.float32)
        x, k = jnp.asarray(x, dtype), jnp.asarray(k, dtype)
        y = conv_of(case)(x, k)
        g = jnp.asarray(np.random.default_rng(2).normal(size=y.shape), dtype)
        dx, dk = derived_grads(case, x, k, g)
        assert y.dtype == dx.dtype == dk.dtype == dtype
        as64 = lambda a: np.asarray(a, np.float64)  # noqa: E731
        want = reference.conv_input_grad(case.x_shape, as64(k), as64(g), **case.reference_args())
        np.testing.assert_allclose(as64(dx), want, rtol=rtol, atol=rtol * np.abs(want).max())
        want = reference.conv_weight_grad(
            as64(x), case.kernel_shape, as64(g), **case.reference_args()
        )
        np.testing.assert_allclose(as64(dk), want, rtol=rtol, atol=rtol * np.abs(want).max())


@pytest.mark.parametrize("case", ND_EDGE_CASES, ids=str)
def test_backward_contains_no_lax_convolution(case):
    x, k = case.arrays(dtype=np.float32)
    grad = jax.grad(lambda x, k: jnp.sum(conv_of(case)(x, k) ** 2), argnums=(0, 1))
    jaxpr = str(jax.make_jaxpr(grad)(x, k))
    assert "jaxconv_conv_input_grad" in jaxpr and "jaxconv_conv_weight_grad" in jaxpr
    hlo = jax.jit(grad).lower(x, k).as_text()  # the primitives' computations, inlined
    assert "convolution" not in hlo
    assert ("dot_general" in hlo) or case.groups == case.x_shape[-1]  # depthwise: multiply-adds


@pytest.mark.parametrize(
    "case", [ND_EDGE_CASES[0], ND_EDGE_CASES[1], ND_EDGE_CASES[3], ND_EDGE_CASES[5]], ids=str
)
def test_gradients_come_from_the_derived_backward(case, monkeypatch):
    # swap the backward's two halves for sentinels: the gradients must follow
    import jaxconv._products as products

    def input_grad_sentinel(kernel, g, geometry, groups, *args):
        return jnp.full((g.shape[0], *geometry.input_size, kernel.shape[-2] * groups), 7.0)

    monkeypatch.setattr(products, "input_grad", input_grad_sentinel)
    monkeypatch.setattr(products, "weight_grad", lambda x, shape, *a: jnp.full(shape, 3.0))
    jax.clear_caches()  # the primitives' evaluations are jitted: trace them with the sentinels
    x, k = case.arrays(dtype=np.float32)
    dx, dk = jax.grad(lambda x, k: jnp.sum(conv_of(case)(x, k)), argnums=(0, 1))(x, k)
    jax.clear_caches()
    assert bool((dx == 7.0).all()) and bool((dk == 3.0).all())


def test_conv1d_conv2d_conv3d_are_conv_with_the_rank_checked(x64):
    for case, f in zip(
        (ND_EDGE_CASES[0], ND_EDGE_CASES[3], ND_EDGE_CASES[2]),
        (jaxconv.conv1d, jaxconv.conv2d, jaxconv.conv3d),
    ):
        x, k = case.arrays()
        np.testing.assert_array_equal(
            np.asarray(f(x, k, *case.args())), np.asarray(conv_of(case)(x, k))
        )


BAD_INPUT = [
    # (function, x shape, kernel shape, keyword arguments, the error it must name)
    (
        "conv", (1, 8, 8, 6), (3, 3, 2, 6), dict(groups=4),
        "6 input channels .* do not split into 4 groups",
    ),
    (
        "conv", (1, 8, 8, 6), (3, 3, 3, 5), dict(groups=2),
        "5 output channels .* do not split into 2 groups",
    ),
    (
        "conv", (1, 8, 8, 6), (3, 3, 2, 6), dict(groups=2),
        "3 per group for 2 groups, but the kernel expects 2",
    ),
    ("conv", (1, 8, 8, 6), (3, 3, 6, 6), dict(groups=0), "groups must be an integer >= 1, got 0"),
    ("conv", (1, 8, 8, 1), (3, 3, 1, 1), dict(dilation=0), "dilation must be >= 1, got 0"),
    (
        "conv", (1, 8, 8, 1), (3, 3, 1, 1), dict(padding="FULL"),
        "padding must be 'SAME', .* the string 'FULL'",
    ),
    (
        "conv", (1, 8, 8, 1), (3, 3, 1, 1), dict(padding=((1, 1),)),
        r"one \(low, high\) pair per spatial axis \(2 here\)",
    ),
    (
        "conv", (1, 8, 8, 1), (3, 3, 1, 1), dict(padding=((1, 1, 1), (0, 0))),
        r"each padding pair must be \(low, high\)",
    ),
    (
        "conv", (1, 8, 8, 1), (3, 3, 1, 1), dict(stride=(1, 1, 1)),
        r"stride must be an int or an \(h, w\) pair",
    ),
    (
        "conv", (1, 8, 5, 1), (3, 3, 1, 1), dict(dilation=3),
        r"along the width: dilated kernel 7 \(kernel 3, dilation 3\) is larger than "
        r"the padded input 5 \+ 2\*0 = 5",
    ),
    (
        "conv", (1, 3, 1), (3, 1, 1), dict(padding=((0, 1),), dilation=2),
        r"along the length: dilated kernel 5 .* padded input 3 \+ 0 \+ 1 = 4",
    ),
    ("conv", (1, 8, 8, 1), (3, 1, 1), {}, "same number of spatial axes"),
    (
        "conv1d", (1, 8, 8, 1), (3, 3, 1, 1), {},
        r"x must be NWC \(1 spatial axes\) for conv1d, a rank-3 array; "
        r"got shape \(1, 8, 8, 1\)",
    ),
    ("conv3d", (1, 8, 8, 1), (3, 3, 1, 1), {}, r"x must be NDHWC \(3 spatial axes\) for conv3d"),
    (
        "conv2d", (1, 8, 8, 1), (3, 3, 3, 1, 1), {},
        r"kernel must be HWIO \(2 spatial axes\) for conv2d",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    "name, x_shape, kernel_shape, kwargs, message",
    BAD_INPUT,
    ids=[case[-1][:40] for case in BAD_INPUT],
)
def test_bad_input_is_a_value_error_naming_the_numbers(
    name, x_shape, kernel_shape, kwargs, message
):
    with pytest.raises(ValueError, match=message):
        getattr(jaxconv, name)(jnp.zeros(x_shape), jnp.zeros(kernel_shape), **kwargs)


def test_same_padding_gives_ceil_of_size_over_stride_with_the_extra_row_high():
    x = jnp.zeros((1, 7, 1))
    for stride in (1, 2, 3):
        assert jaxconv.conv(x, jnp.zeros((4, 1, 1)), stride, "SAME").shape == (
            1,
            -(-7 // stride),
            1,
        )
    # kernel 4, stride 1: 3 rows of padding, 1 low and 2 high (SAME_LOWER: 2 low, 1 high)
    row = jnp.arange(1.0, 8.0).reshape(1, 7, 1)
    first = jnp.zeros((4, 1, 1)).at[0].set(1.0)  # picks the first row of each window
    np.testing.assert_array_equal(
        jaxconv.conv(row, first, 1, "SAME")[0, :, 0], [0, 1, 2, 3, 4, 5, 6]
    )
    np.testing.assert_array_equal(
        jaxconv.conv(row, first, 1, "SAME_LOWER")[0, :, 0], [0, 0, 1, 2, 3, 4, 5]
    )


def test_output_size_with_dilation_and_pairs():
    assert jaxconv.output_size(14, 3, stride=1, padding=2, dilation=2) == 14
    assert (
        jaxconv.output_size(10, 3, stride=2, padding=(0, 1), dilation=3) == 3
    )  # (10 + 1 - 7) // 2 + 1
    with pytest.raises(ValueError, match="dilation must be >= 1, got 0"):
        jaxconv.output_size(10, 3, dilation=0)
    with pytest.raises(ValueError, match="padding must be an int or a \\(low, high\\) pair"):
        jaxconv.output_size(10, 3, padding=(1, 2, 3))


def test_hand_computed_3x3_convolution():
    # pencil and paper: a 4x4 image 1..16, a 3x3 kernel, padding 1, stride 2
    x = jnp.arange(1.0, 17.0).reshape(1, 4, 4, 1)
    kernel = jnp.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]]).reshape(3, 3, 1, 1)
    # output (0, 0) sees the padded rows -1..1 and columns -1..1:
    #   [[0, 0, 0], [0, 1, 2], [0, 5, 6]] · kernel = 1·1 + 0·2 + 1·6 = 7
    # output (0, 1) sees columns 1..3:
    # [[0, 0, 0], [2, 3, 4], [6, 7, 8]] · kernel = 2·2 + 3·1 + 8·1 = 15
    # output (1, 0) sees rows 1..3: [[0, 5, 6], [0, 9, 10], [0, 13, 14]] · kernel = -6 + 9 + 14 = 17
    # output (1, 1): [[6, 7, 8], [10, 11, 12], [14, 15, 16]] · kernel = 6 - 8 + 20 + 11 + 16 = 45
    y = jaxconv.conv2d(x, kernel, stride=2, padding=1)
    np.testing.assert_array_equal(np.asarray(y)[0, :, :, 0], [[7.0, 15.0], [17.0, 45.0]])


@ND_SWEEP
@given(case=nd_conv_cases())
def test_unfold_fold_nd_match_reference_and_are_adjoint(case, x64):
    x, _ = case.arrays()
    c = case.x_shape[-1]
    kernel_size = case.kernel_shape[:-2]
    args = (case.stride, case.padding, case.dilation)
    patches = jax.jit(jaxconv.unfold, static_argnums=(1, 2, 3, 4))(
        jnp.asarray(x), kernel_size, *args
    )
    ref_args = dict(stride=case.stride, padding=case.padding_pairs, dilation=case.dilation)
    np.testing.assert_allclose(
        np.asarray(patches), reference.unfold(x, kernel_size, **ref_args), rtol=1e-12
    )
    p = np.random.default_rng(3).normal(size=patches.shape)
    folded = jax.jit(jaxconv.fold, static_argnums=(1, 2, 3, 4, 5))(
        jnp.asarray(p), case.x_shape, kernel_size, *args
    )
    np.testing.assert_allclose(
        np.asarray(folded),
        reference.fold(p, case.x_shape, kernel_size, **ref_args),
        rtol=1e-10,
        atol=1e-10,
    )
    np.testing.assert_allclose(
        np.vdot(np.asarray(patches), p), np.vdot(x, np.asarray(folded)), rtol=1e-10
    )
    assert patches.shape[-1] == int(np.prod(kernel_size)) * c


def test_fold_of_unfold_of_ones_counts_the_overlaps():
    counts = jaxconv.fold(jaxconv.unfold(jnp.ones((1, 4, 4, 1)), 3, 1, 1), (1, 4, 4, 1), 3, 1, 1)[
        0, :, :, 0
    ]
    np.testing.assert_array_equal(
        np.asarray(counts), [[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]]
    )


def test_nd_case_helper_resolves_padding_like_lax():
    case = NdCase((1, 7, 1), (4, 1, 1), (1,), "SAME", (1,), 1)
    assert case.padding_pairs == ((1, 2),)
