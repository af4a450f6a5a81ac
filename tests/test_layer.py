import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxconv


def test_conv2d_layer_initialises_like_nnx_conv():
    ours = jaxconv.Conv2D(3, 8, rngs=nnx.Rngs(0))
    theirs = nnx.Conv(3, 8, kernel_size=(3, 3), padding=1, rngs=nnx.Rngs(0))
    assert ours.kernel.shape == theirs.kernel.shape == (3, 3, 3, 8)
    np.testing.assert_array_equal(ours.kernel[...], theirs.kernel[...])
    np.testing.assert_array_equal(ours.bias[...], theirs.bias[...])


@pytest.mark.slow
@pytest.mark.parametrize(
    "kernel_size, stride, padding", [(3, 1, 1), ((2, 5), (2, 3), (1, 3)), (1, 2, 0)]
)
def test_conv2d_layer_matches_nnx_conv_with_its_parameters(kernel_size, stride, padding):
    ours = jaxconv.Conv2D(4, 6, kernel_size, stride, padding, rngs=nnx.Rngs(1))
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    theirs = nnx.Conv(
        4, 6, kernel_size=(kh, kw), strides=stride, padding=((ph, ph), (pw, pw)), rngs=nnx.Rngs(2)
    )
    # interchangeable parameter for parameter: load our state into theirs
    nnx.update(theirs, nnx.state(ours, nnx.Param))
    ours.bias[...] = jnp.arange(6.0)
    theirs.bias[...] = jnp.arange(6.0)
    x = jax.random.normal(jax.random.key(0), (2, 14, 7, 4))
    np.testing.assert_allclose(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


def test_conv2d_layer_defaults_are_3x3_stride_1_padding_1():
    layer = jaxconv.Conv2D(1, 16, rngs=nnx.Rngs(0))
    assert (layer.kernel_size, layer.stride, layer.padding) == ((3, 3), (1, 1), (1, 1))
    assert layer(jnp.zeros((2, 28, 28, 1))).shape == (2, 28, 28, 16)


def test_conv2d_layer_without_bias_has_only_a_kernel():
    layer = jaxconv.Conv2D(2, 3, use_bias=False, rngs=nnx.Rngs(0))
    params = nnx.state(layer, nnx.Param)
    assert sum(p.size for p in jax.tree.leaves(params)) == 3 * 3 * 2 * 3


@pytest.mark.slow
def test_conv2d_layer_trains_under_nnx_jit():
    layer = jaxconv.Conv2D(1, 2, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (4, 6, 6, 1))

    @nnx.jit
    def loss_and_grad(layer):
        return nnx.value_and_grad(lambda m: jnp.mean(m(x) ** 2))(layer)

    loss, grads = loss_and_grad(layer)
    assert np.isfinite(loss) and grads.kernel[...].shape == (3, 3, 1, 2)
    assert float(jnp.abs(grads.kernel[...]).sum()) > 0


@pytest.mark.slow
def test_conv2d_layer_computes_in_the_requested_dtype():
    layer = jaxconv.Conv2D(1, 2, dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
    assert layer(jnp.ones((1, 5, 5, 1))).dtype == jnp.bfloat16
    assert layer.kernel[...].dtype == jnp.float32


def test_conv2d_layer_refuses_wrong_channel_count():
    layer = jaxconv.Conv2D(3, 16, kernel_size=5, stride=2, padding=1, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="x has 8 input channels"):
        layer(jnp.zeros((1, 20, 20, 8)))
