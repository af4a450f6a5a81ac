"""Data augmentation for Q9, on the device inside jit, one PRNG key per example.

A small random affine warp (rotation, scale and shift about the image centre,
bilinear, zeros outside) followed by brightness and contrast jitter, built on
dm-pix. Only training batches are augmented: validation and test must measure
the model on the data as it is. Every strength at zero makes it the identity.
"""

from __future__ import annotations

import dm_pix as pix
import jax
import jax.numpy as jnp
import ml_collections

from configs.fixed import get_config


def default_augmentation() -> ml_collections.ConfigDict:
    """The strengths of configs/fixed.py (``config.augmentation``), the one place they are set."""
    return get_config().augmentation


def _uniform(key, half_width):
    return jax.random.uniform(key, minval=-half_width, maxval=half_width)


def augment_image(key: jax.Array, image: jax.Array, cfg) -> jax.Array:
    """One float image (H, W, C) in [0, 1] -> its augmented copy, same shape, in [0, 1]."""
    k_rot, k_scale, k_shift, k_bright, k_contrast = jax.random.split(key, 5)
    angle = jnp.deg2rad(_uniform(k_rot, cfg.rotation_degrees))
    zoom = 1.0 + _uniform(k_scale, cfg.scale)
    # (2,) rows, cols
    shift = jax.vmap(lambda k: _uniform(k, cfg.shift_pixels))(jax.random.split(k_shift, 2))
    # "pull" mapping, output pixel o -> input pixel R(-angle) (o - centre - shift) / zoom + centre
    cos, sin = jnp.cos(angle), jnp.sin(angle)
    pull = jnp.array([[cos, sin], [-sin, cos]]) / zoom  # (2, 2) inverse rotation and zoom
    centre = (jnp.array(image.shape[:2], jnp.float32) - 1.0) / 2.0  # (2,)
    matrix = jnp.eye(3).at[:2, :2].set(pull)  # (3, 3) over (row, col, channel); channel untouched
    offset = jnp.concatenate([centre - pull @ (centre + shift), jnp.zeros(1)])  # (3,)
    warped = pix.affine_transform(image, matrix, offset=offset, order=1, mode="constant", cval=0.0)
    jittered = pix.random_brightness(k_bright, warped, cfg.brightness)
    jittered = pix.random_contrast(k_contrast, jittered, 1.0 - cfg.contrast, 1.0 + cfg.contrast)
    return jnp.clip(jittered, 0.0, 1.0)


def augment_batch(key: jax.Array, images: jax.Array, cfg) -> jax.Array:
    """(B, H, W, C) float in [0, 1] -> augmented, each example with its own key."""
    keys = jax.random.split(key, images.shape[0])
    return jax.vmap(lambda k, im: augment_image(k, im, cfg))(keys, images)
