"""jaxconv.conv_transpose and ConvTranspose: fold(y Wᵀ) against the scatter-add loops, the input
gradient of jaxconv.conv, the zero-insertion view, lax.conv_transpose and nnx.ConvTranspose."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conv_cases import CHANNELS_LAST, ND_SWEEP
from flax import nnx
from hypothesis import assume, given
from hypothesis import strategies as st
from jax import lax
from jax.test_util import check_grads

import jaxconv
from jaxconv import reference


class TransposeCase(NamedTuple):
    y_shape: tuple  # (N, *spatial, C_out)
    kernel_shape: tuple  # (*k, C_in // groups, C_out), the forward convolution's
    stride: tuple
    padding: tuple  # symmetric, one per axis (PyTorch's meaning)
    output_padding: tuple
    dilation: tuple
    groups: int

    @property
    def rank(self):
        return len(self.y_shape) - 2

    def args(self):
        return (self.stride, self.padding, self.output_padding, self.dilation, self.groups)

    def out_spatial(self):
        return tuple(
            (n - 1) * s - 2 * p + d * (k - 1) + op + 1
            for n, k, s, p, op, d in zip(
                self.y_shape[1:-1], self.kernel_shape[:-2], *self.args()[:4]
            )
        )

    def x_shape(self):
        return (self.y_shape[0], *self.out_spatial(), self.kernel_shape[-2] * self.groups)

    def arrays(self, seed=0, dtype=np.float64):
        rng = np.random.default_rng(seed)
        return rng.normal(size=self.y_shape).astype(dtype), rng.normal(
            size=self.kernel_shape
        ).astype(dtype)


@st.composite
def transpose_cases(draw):
    d = draw(st.sampled_from([1, 2, 3]))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(d))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(d))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(d))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(d))
    output_padding = tuple(draw(st.integers(0, s - 1)) for s in stride)
    size = tuple(draw(st.integers(1, {1: 6, 2: 4, 3: 3}[d])) for _ in range(d))
    groups = draw(st.sampled_from([1, 2]))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    case = TransposeCase(
        (draw(st.integers(1, 2)), *size, c_out),
        (*kernel, c_in // groups, c_out),
        stride,
        padding,
        output_padding,
        dilation,
        groups,
    )
    assume(all(s >= 1 for s in case.out_spatial()))
    return case


EDGE = [
    TransposeCase(
        (2, 7, 7, 4), (4, 4, 2, 4), (2, 2), (1, 1), (0, 0), (1, 1), 1
    ),  # the MNIST decoder's kind
    TransposeCase(
        (1, 5, 6), (3, 3, 6), (2,), (1,), (1,), (1,), 1
    ),  # output_padding restores the floor's row
    TransposeCase(
        (1, 3, 4, 2, 4), (2, 3, 2, 1, 4), (2, 1, 2), (0, 1, 0), (1, 0, 0), (1, 2, 1), 4
    ),  # 3-D, depthwise
    TransposeCase(
        (1, 4, 5, 4), (3, 2, 3, 4), (1, 3), (2, 0), (0, 2), (2, 1), 2
    ),  # grouped, dilated
]


@pytest.mark.slow
@ND_SWEEP
@given(case=transpose_cases())
def test_forward_is_the_scatter_add_loop_and_the_input_gradient_of_conv(case, x64):
    y, k = case.arrays()
    z = jax.jit(lambda y, k: jaxconv.conv_transpose(y, k, *case.args()))(y, k)
    np.testing.assert_allclose(
        np.asarray(z), reference.conv_transpose(y, k, *case.args()), rtol=1e-10, atol=1e-10
    )

    # by definition: the input gradient of the forward convolution, for the cotangent y
    def conv(x):
        return jaxconv.conv(
            x, jnp.asarray(k), case.stride, case.padding, case.dilation, case.groups
        )

    input_grad = jax.jit(lambda y: jax.vjp(conv, jnp.zeros(case.x_shape()))[1](y)[0])
    np.testing.assert_allclose(
        np.asarray(z), np.asarray(input_grad(jnp.asarray(y))), rtol=1e-12, atol=1e-12
    )


@pytest.mark.slow
@ND_SWEEP
@given(case=transpose_cases())
def test_derived_backward_matches_the_loops(case, x64):
    y, k = case.arrays()
    dz = np.random.default_rng(1).normal(size=case.x_shape())
    f = lambda y, k: jaxconv.conv_transpose(y, k, *case.args())  # noqa: E731
    dy, dk = jax.jit(lambda y, k, dz: jax.vjp(f, y, k)[1](dz))(y, k, dz)
    forward = dict(
        stride=case.stride, padding=case.padding, dilation=case.dilation, groups=case.groups
    )
    np.testing.assert_allclose(
        np.asarray(dy), reference.conv(dz, k, **forward), rtol=1e-10, atol=1e-10
    )  # dY = conv(dZ)
    np.testing.assert_allclose(
        np.asarray(dk),
        reference.conv_weight_grad(dz, k.shape, y, **forward),
        rtol=1e-10,
        atol=1e-10,
    )


@pytest.mark.slow
@pytest.mark.parametrize("case", EDGE, ids=str)
def test_check_grads_second_order(case, x64):
    y, k = case.arrays(seed=3)
    f = jax.jit(lambda y, k: jaxconv.conv_transpose(y, k, *case.args()))
    check_grads(f, (jnp.asarray(y), jnp.asarray(k)), order=2, modes=["rev"], atol=1e-5, rtol=1e-5)


def zero_insertion_kernel(kernel, groups):
    """The forward kernel (*k, C_in/G, C_out) flipped in space and with each group's channel axes
    swapped: (*k, C_out/G, C_in), the kernel of the stride-1 convolution over the zero-inserted
    y."""
    *k, c, c_out = kernel.shape
    o = c_out // groups
    flipped = kernel[tuple(slice(None, None, -1) for _ in k)]
    per_group = flipped.reshape(*k, c, groups, o)  # (*k, C, G, O)
    return jnp.swapaxes(per_group, -3, -1).reshape(
        *k, o, groups * c
    )  # (*k, O, G, C) -> (*k, O, G·C)


@pytest.mark.slow
@pytest.mark.parametrize("case", EDGE, ids=str)
def test_fold_view_equals_zero_insertion_view(case, x64):
    y, k = case.arrays(seed=4)
    fold_view = jaxconv.conv_transpose(y, k, *case.args())
    pads = [
        (d * (kk - 1) - p, d * (kk - 1) - p + op)
        for kk, p, op, d in zip(
            case.kernel_shape[:-2], case.padding, case.output_padding, case.dilation
        )
    ]
    # lax's zero insertion (forward only): jaxconv.conv_general_dilated would compute it as fold
    insertion_view = lax.conv_general_dilated(
        jnp.asarray(y), zero_insertion_kernel(jnp.asarray(k), case.groups), (1,) * case.rank, pads,
        lhs_dilation=case.stride, rhs_dilation=case.dilation,
        dimension_numbers=CHANNELS_LAST[case.rank],
        feature_group_count=case.groups,
    )  # fmt: skip
    np.testing.assert_allclose(
        np.asarray(fold_view), np.asarray(insertion_view), rtol=1e-10, atol=1e-10
    )
    if case.groups == 1:  # lax.conv_transpose has no groups; forward only, which never aborts
        theirs = lax.conv_transpose(
            jnp.asarray(y), jnp.asarray(k), case.stride, pads, rhs_dilation=case.dilation,
            dimension_numbers=CHANNELS_LAST[case.rank], transpose_kernel=True,
        )  # fmt: skip
        np.testing.assert_allclose(
            np.asarray(fold_view), np.asarray(theirs), rtol=1e-10, atol=1e-10
        )


# (in, out, kernel_size, strides, padding, output_padding, dilation) for the layer against
# nnx.ConvTranspose
LAYER_CONFIGS = [
    (4, 3, (5,), 2, 2, 1, 1),
    (8, 4, (4, 4), 2, 1, 0, 1),
    (3, 5, (3, 2), (2, 1), (1, 0), (1, 0), (1, 2)),
    (4, 2, (4, 4, 4), 2, 1, 0, 1),
]
SPATIAL = {1: (9,), 2: (7, 6), 3: (4, 3, 4)}


@pytest.mark.slow
@pytest.mark.parametrize(
    "c_in, c_out, kernel_size, strides, padding, output_padding, dilation", LAYER_CONFIGS, ids=str
)
def test_conv_transpose_layer_equals_nnx_conv_transpose(
    c_in, c_out, kernel_size, strides, padding, output_padding, dilation
):
    rank = len(kernel_size)
    per_axis = lambda v: v if isinstance(v, tuple) else (v,) * rank  # noqa: E731
    pads = [
        (d * (k - 1) - p, d * (k - 1) - p + op)
        for k, p, op, d in zip(
            kernel_size, per_axis(padding), per_axis(output_padding), per_axis(dilation)
        )
    ]
    ours = jaxconv.ConvTranspose(
        c_in,
        c_out,
        kernel_size,
        strides,
        padding=padding,
        output_padding=output_padding,
        kernel_dilation=dilation,
        rngs=nnx.Rngs(0),
    )
    stock = nnx.ConvTranspose(
        c_in,
        c_out,
        kernel_size,
        strides,
        padding=pads,
        kernel_dilation=dilation,
        transpose_kernel=True,
        rngs=nnx.Rngs(0),
    )
    for a, b in zip(
        jax.tree.leaves(nnx.state(ours, nnx.Param)), jax.tree.leaves(nnx.state(stock, nnx.Param))
    ):
        np.testing.assert_array_equal(
            np.asarray(a), np.asarray(b)
        )  # same shapes, same initialisers
    y = jax.random.normal(jax.random.key(1), (2, *SPATIAL[rank], c_in))
    apply = nnx.jit(lambda model, y: model(y))
    np.testing.assert_allclose(
        np.asarray(apply(ours, y)), np.asarray(apply(stock, y)), rtol=1e-5, atol=1e-5
    )


def test_conv_transpose_doubles_a_digit_sized_map():
    layer = jaxconv.ConvTranspose(64, 32, (4, 4), 2, padding=1, rngs=nnx.Rngs(0))
    assert jax.eval_shape(layer, jax.ShapeDtypeStruct((3, 7, 7, 64), jnp.float32)).shape == (
        3,
        14,
        14,
        32,
    )
    assert layer.kernel.shape == (4, 4, 32, 64)


@pytest.mark.parametrize(
    "dtype, rtol", [(jnp.float32, 1e-5), (jnp.bfloat16, 3e-2), (jnp.float64, 1e-12)]
)
def test_dtype_is_kept(dtype, rtol):
    case = EDGE[3]
    with jax.enable_x64(dtype == jnp.float64):
        y, k = case.arrays(seed=5, dtype=np.float32)
        y, k = jnp.asarray(y, dtype), jnp.asarray(k, dtype)
        z, vjp = jax.vjp(lambda y, k: jaxconv.conv_transpose(y, k, *case.args()), y, k)
        dy, dk = vjp(z)
        assert z.dtype == dy.dtype == dk.dtype == dtype
        want = reference.conv_transpose(
            np.asarray(y, np.float64), np.asarray(k, np.float64), *case.args()
        )
        np.testing.assert_allclose(
            np.asarray(z, np.float64), want, rtol=rtol, atol=rtol * np.abs(want).max()
        )


@pytest.mark.slow
def test_vmap_and_grad_of_grad(x64):
    case = EDGE[1]
    y, k = case.arrays(seed=6)
    kernels = jnp.asarray(np.stack([k, -2 * k]))
    mapped = jax.vmap(lambda k: jaxconv.conv_transpose(jnp.asarray(y), k, *case.args()))(kernels)
    for got, kernel in zip(mapped, np.asarray(kernels)):
        np.testing.assert_allclose(
            np.asarray(got), reference.conv_transpose(y, kernel, *case.args()), rtol=1e-10
        )
    # reverse over reverse, against lax's forward-over-forward of the zero-insertion view
    pads = [(2 - 1, 2 - 1 + 1)]

    def outer(transpose):
        inner = lambda y, k: jnp.sum(jnp.sin(transpose(y, k)))  # noqa: E731
        return jax.grad(lambda k: jnp.sum(jax.grad(inner)(jnp.asarray(y), k) ** 2))

    ours = jax.jit(outer(lambda y, k: jaxconv.conv_transpose(y, k, *case.args())))(jnp.asarray(k))

    def lax_view(y, k):
        return lax.conv_transpose(
            y, k, case.stride, pads, dimension_numbers=("NWC", "WIO", "NWC"), transpose_kernel=True
        )

    vector = jax.random.normal(jax.random.key(0), k.shape, jnp.float64)
    # compare directional derivatives: lax only ever in forward mode
    inner_lax = lambda y, k: jnp.sum(jnp.sin(lax_view(y, k)))  # noqa: E731
    grad_y_lax = lambda k: jax.jacfwd(inner_lax)(jnp.asarray(y), k)  # noqa: E731
    _, theirs = jax.jvp(lambda k: jnp.sum(grad_y_lax(k) ** 2), (jnp.asarray(k),), (vector,))
    np.testing.assert_allclose(float(jnp.vdot(ours, vector)), float(theirs), rtol=1e-9)


@pytest.mark.parametrize(
    "y_shape, kernel_shape, kwargs, message",
    [
        (
            (1, 5, 5, 4),
            (3, 3, 2, 4),
            dict(stride=2, output_padding=2),
            "output_padding must satisfy 0 <= output_padding < stride, got 2",
        ),
        ((1, 5, 5, 3), (3, 3, 2, 4), {}, "y has 3 channels .* C_out = 4: they must match"),
        (
            (1, 2, 2, 4),
            (3, 3, 2, 4),
            dict(padding=3),
            "the output size \\(2 - 1\\)\\*1 - 3 - 3 \\+ 1\\*\\(3 - 1\\) \\+ 1 \\+ 0 = -2 is not "
            "positive",
        ),
        ((1, 5, 5, 4), (3, 3, 2, 4), dict(padding="SAME"), "not 'SAME'"),
        (
            (1, 5, 5, 4),
            (3, 3, 2, 4),
            dict(groups=3),
            "4 output channels .* do not split into 3 groups",
        ),
        ((1, 5, 5, 4), (3, 3, 2, 4), dict(groups=0), "groups must be an integer >= 1, got 0"),
    ],
)
def test_bad_input_is_a_clear_value_error(y_shape, kernel_shape, kwargs, message):
    with pytest.raises(ValueError, match=message):
        jaxconv.conv_transpose(jnp.zeros(y_shape), jnp.zeros(kernel_shape), **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["SAME", "VALID"])
def test_lax_padding_strings_map_to_padding_and_output_padding_as_the_guide_says(mode):
    # docs/guide.md: 'VALID' is padding 0, op = max(s - k, 0); 'SAME' is op = s - k (s >= k) or the
    # pair (floor((k - s) / 2), ceil((k - s) / 2)) with op = 0; lax.conv_transpose forward only
    rng = np.random.default_rng(0)
    for k in range(1, 6):
        for s in range(1, 4):
            y, kernel = (
                jnp.asarray(rng.normal(size=(1, 5, 2))),
                jnp.asarray(rng.normal(size=(k, 3, 2))),
            )
            if mode == "VALID":
                padding, output_padding = 0, max(s - k, 0)
            elif s >= k:
                padding, output_padding = 0, s - k
            else:
                padding, output_padding = (((k - s) // 2, (k - s + 1) // 2),), 0
            ours = jaxconv.conv_transpose(y, kernel, s, padding, output_padding)
            theirs = lax.conv_transpose(
                y,
                kernel,
                (s,),
                mode,
                dimension_numbers=("NWC", "WIO", "NWC"),
                transpose_kernel=True,
            )
            np.testing.assert_allclose(
                np.asarray(ours), np.asarray(theirs), rtol=1e-5, atol=1e-5, err_msg=f"k={k} s={s}"
            )
