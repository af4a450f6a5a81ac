import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from train.data.augment import augment_batch, default_augmentation


def batch(n=8):
    images = np.zeros((n, 28, 28, 1), np.float32)
    images[:, 8:20, 12:16] = 1.0  # a vertical bar
    return jnp.asarray(images)


def zero_strength():
    return ml_collections.ConfigDict({k: 0.0 for k in default_augmentation()})


@pytest.mark.slow
def test_augmentation_is_the_identity_at_zero_strength():
    images = batch()
    out = jax.jit(lambda k, x: augment_batch(k, x, zero_strength()))(jax.random.key(0), images)
    np.testing.assert_allclose(out, images, atol=1e-6)


@pytest.mark.slow
def test_augmentation_keeps_shape_and_range_and_changes_the_images():
    images = batch()
    out = jax.jit(lambda k, x: augment_batch(k, x, default_augmentation()))(
        jax.random.key(0), images
    )
    assert out.shape == images.shape and out.dtype == images.dtype
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert float(jnp.abs(out - images).max()) > 0.1


@pytest.mark.slow
def test_each_example_gets_its_own_random_transform():
    out = augment_batch(jax.random.key(1), batch(4), default_augmentation())
    differences = [float(jnp.abs(out[0] - out[i]).max()) for i in range(1, 4)]
    assert min(differences) > 1e-3  # identical inputs, different outputs


@pytest.mark.slow
def test_a_pure_shift_moves_the_image():
    cfg = zero_strength()
    cfg.shift_pixels = 3.0
    out = augment_batch(jax.random.key(2), batch(16), cfg)
    centre_of_mass = lambda im: float((jnp.arange(28)[None, :, None] * im).sum() / im.sum())  # noqa: E731
    assert max(abs(centre_of_mass(o) - centre_of_mass(batch(1)[0])) for o in out) > 0.5
