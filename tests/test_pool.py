import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import jaxconv


@pytest.fixture
def images():
    return jnp.asarray(np.random.default_rng(0).normal(size=(3, 5, 7, 4)), jnp.float32)


def test_global_pools_reduce_height_and_width(images):
    x = np.asarray(images)
    assert jaxconv.global_max_pool(images).shape == (3, 4)
    np.testing.assert_allclose(jaxconv.global_max_pool(images), x.max(axis=(1, 2)))
    np.testing.assert_allclose(jaxconv.global_mean_pool(images), x.mean(axis=(1, 2)), rtol=1e-6)


@pytest.mark.parametrize("pool", [jaxconv.global_max_pool, jaxconv.global_mean_pool])
def test_masked_pool_of_padded_image_equals_pool_of_unpadded(pool, images):
    # each image pasted at the top-left of a larger canvas; the rest is padding
    canvas = jnp.full((3, 9, 11, 4), -5.0).at[:, :5, :7, :].set(images)
    mask = jnp.zeros((3, 9, 11), bool).at[:, :5, :7].set(True)
    np.testing.assert_allclose(pool(canvas, mask), pool(images), rtol=1e-6)


def test_masked_pools_handle_a_different_size_per_image():
    rng = np.random.default_rng(1)
    sizes = [(2, 3), (4, 4), (1, 5)]
    canvas = np.zeros((3, 4, 5, 2), np.float32)
    mask = np.zeros((3, 4, 5), bool)
    originals = []
    for i, (h, w) in enumerate(sizes):
        img = (
            rng.normal(size=(h, w, 2)).astype(np.float32) - 3.0
        )  # all negative: zeros in the padding must not win the max
        canvas[i, :h, :w] = img
        mask[i, :h, :w] = True
        originals.append(img)
    got_max = jaxconv.global_max_pool(jnp.asarray(canvas), jnp.asarray(mask))
    got_mean = jaxconv.global_mean_pool(jnp.asarray(canvas), jnp.asarray(mask))
    np.testing.assert_allclose(
        got_max, np.stack([o.max(axis=(0, 1)) for o in originals]), rtol=1e-6
    )
    np.testing.assert_allclose(
        got_mean, np.stack([o.mean(axis=(0, 1)) for o in originals]), rtol=1e-6
    )


def test_masked_pool_gradient_ignores_padding(images):
    canvas = jnp.zeros((3, 9, 11, 4)).at[:, :5, :7, :].set(images)
    mask = jnp.zeros((3, 9, 11), bool).at[:, :5, :7].set(True)
    for pool in (jaxconv.global_max_pool, jaxconv.global_mean_pool):
        grad = jax.grad(lambda c: jnp.sum(pool(c, mask)))(canvas)
        assert (
            float(jnp.abs(grad[:, 5:, :, :]).sum()) == 0.0
            and float(jnp.abs(grad[:, :, 7:, :]).sum()) == 0.0
        )


def test_pool_mask_errors(images):
    with pytest.raises(ValueError, match="mask must have shape \\(N, H, W\\) = \\(3, 5, 7\\)"):
        jaxconv.global_max_pool(images, jnp.ones((3, 5, 6), bool))
    with pytest.raises(ValueError, match="mask must be boolean"):
        jaxconv.global_mean_pool(images, jnp.ones((3, 5, 7), jnp.float32))
    with pytest.raises(ValueError, match="x must be NHWC"):
        jaxconv.global_max_pool(images[0])


@pytest.mark.parametrize("h, w", [(28, 28), (7, 7), (5, 8)])
def test_max_pool_matches_reduce_window_floor_mode(h, w):
    x = jnp.asarray(np.random.default_rng(2).normal(size=(2, h, w, 3)), jnp.float32)
    expected = lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    got = jaxconv.max_pool(x)
    assert got.shape == (2, h // 2, w // 2, 3)
    np.testing.assert_array_equal(got, expected)


def test_max_pool_mask_keeps_only_whole_windows():
    mask = jnp.zeros((1, 6, 6), bool).at[:, :5, :4].set(True)  # a 5x4 image on a 6x6 canvas
    pooled = jaxconv.max_pool_mask(mask)
    np.testing.assert_array_equal(
        pooled[0], np.array([[1, 1, 0], [1, 1, 0], [0, 0, 0]], bool)
    )  # 5x4 -> 2x2


def test_max_pool_rejects_too_small_input():
    with pytest.raises(ValueError, match="window 2 does not fit in an input of height 1"):
        jaxconv.max_pool(jnp.zeros((1, 1, 4, 1)))


def naive_max_pool(x, window):
    n, h, w, c = x.shape
    ho, wo = h // window, w // window
    return x[:, : ho * window, : wo * window].reshape(n, ho, window, wo, window, c).max(axis=(2, 4))


@pytest.mark.slow
@pytest.mark.parametrize(
    "shape, window", [((2, 7, 9, 3), 2), ((1, 28, 28, 4), 2), ((2, 9, 10, 2), 3), ((1, 5, 5, 1), 5)]
)
def test_max_pool_gradient_matches_autodiff_of_reshape_and_max_even_with_ties(shape, window):
    rng = np.random.default_rng(3)
    x = jnp.maximum(
        jnp.asarray(rng.normal(size=shape), jnp.float32), 0.0
    )  # ReLU output: many tied zeros
    x = x.at[0, 0, 0, 0].set(5.0).at[0, 0, 1, 0].set(5.0)  # and a tie at a positive maximum
    g = jnp.asarray(rng.normal(size=naive_max_pool(x, window).shape), jnp.float32)
    ours = jax.vjp(lambda x: jaxconv.max_pool(x, window), x)[1](g)[0]
    autodiff = jax.vjp(lambda x: naive_max_pool(x, window), x)[1](g)[0]
    np.testing.assert_array_equal(jaxconv.max_pool(x, window), naive_max_pool(x, window))
    np.testing.assert_allclose(ours, autodiff, rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_max_pool_second_order_gradients(x64):
    from jax.test_util import check_grads

    x = jnp.asarray(np.random.default_rng(4).normal(size=(1, 6, 6, 2)))
    check_grads(lambda x: jaxconv.max_pool(x) ** 2, (x,), order=2, modes=["rev"])
