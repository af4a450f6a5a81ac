"""The compiled training and evaluation steps, shared by every trainer.

Training runs in *chunks*: one jitted call runs ``k`` optimizer steps in a
``lax.scan``, each step gathering its batch by index from the training images
that already sit on the device, so there is no host work per step. Steps past
the end of an epoch are padding: marked invalid, their result is discarded
(``jnp.where``), so every chunk has the same shape and compiles once per image
shape. Evaluation is one jitted call per batch; the last, partial batch is
padded to full size and masked, so every image counts exactly once and nothing
recompiles.

Data parallelism: the batch axis of everything per-example is sharded over a
1-D mesh of all devices (``data``), the parameters and optimizer state are
replicated, and jit partitions the computation. One device is simply a mesh of
one: there is no code path special to it. Several processes (train/distributed.py)
make one mesh of all their devices; each feeds its share of every array.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from train import distributed


def data_mesh() -> Mesh:
    return Mesh(np.array(jax.devices()), ("data",))


def canvas_mask(sizes: jax.Array, height: int, width: int) -> jax.Array:
    """(N, 2) true (h, w) of images at the top-left of an (H, W) canvas -> (N, H, W) bool."""
    rows = jnp.arange(height)[None, :, None] < sizes[:, 0, None, None]  # (N, H, 1)
    cols = jnp.arange(width)[None, None, :] < sizes[:, 1, None, None]  # (N, 1, W)
    return rows & cols


def round_up(n: int, multiple: int) -> int:
    """The smallest positive multiple of ``multiple`` that is >= n."""
    return max(multiple, n + (-n % multiple))


def examples_per_tile(
    batch: int, pixels_per_example: int, tile_pixels: int, devices: int = 1
) -> int:
    """The largest divisor of ``batch`` that is a multiple of ``devices`` (so that every tile
    spans all of them) and whose examples hold at most ``tile_pixels`` image pixels (examples ×
    height × width); the smallest such divisor when none fits; the whole batch when
    ``tile_pixels`` is 0."""
    if not tile_pixels:
        return batch
    tiles = [t for t in range(devices, batch + 1, devices) if batch % t == 0] or [batch]
    fitting = [t for t in tiles if t * pixels_per_example <= tile_pixels]
    return max(fitting) if fitting else tiles[0]


def to_float(images_u8: jax.Array) -> jax.Array:
    return images_u8.astype(jnp.float32) / 255.0


class Steps:
    """Jitted train-chunk and eval-batch functions for one model and optimizer.

    Each compiles once per distinct image shape (jit's own cache): the contract the tests hold
    it to.
    """

    def __init__(
        self,
        graphdef,
        tx: optax.GradientTransformation,
        augment: Callable | None = None,
        mesh: Mesh | None = None,
        tile_pixels: int = 0,
    ):
        self.graphdef, self.tx, self.augment = graphdef, tx, augment
        # image pixels per forward+backward tile (examples_per_tile); 0: the whole batch
        self.tile_pixels = tile_pixels
        self.mesh = mesh or data_mesh()
        self.replicated = NamedSharding(self.mesh, P())
        self.batch_sharded = NamedSharding(self.mesh, P("data"))
        self.index_shardings = (
            NamedSharding(self.mesh, P(None, "data")),
            self.replicated,
            self.replicated,
        )
        # On a CPU, Python preparing the next call while XLA computes takes a core from XLA's
        # threads, so there we wait for each call (docs/performance.md, "Waiting for each call").
        # An accelerator computes on its own, so there the host runs ahead.
        self.wait_per_call = self.mesh.devices.flat[0].platform == "cpu"
        self._train_chunk = jax.jit(
            self._train_chunk_impl, donate_argnums=(0, 1), out_shardings=self.replicated
        )
        self._eval_batch = jax.jit(self._eval_batch_impl, out_shardings=self.replicated)
        self._predict = jax.jit(self._predict_impl, out_shardings=self.replicated)

    @property
    def num_devices(self) -> int:
        return self.mesh.size

    def device_multiple(self, batch_size: int) -> int:
        """``batch_size`` rounded up to a multiple of the devices the batch is sharded over."""
        return round_up(batch_size, self.num_devices)

    # -- model application ---------------------------------------------------
    def logits(self, params, images, sizes):
        """images: float (B, H, W, 1) in [0, 1]; sizes: (B, 2) or None."""
        model = nnx.merge(self.graphdef, params)
        mask = None if sizes is None else canvas_mask(sizes, images.shape[1], images.shape[2])
        return model(images, mask)

    def loss(self, params, images, labels, sizes):
        """Mean cross-entropy of a batch, with the per-example losses and the logits."""
        logits = self.logits(params, images, sizes)
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)  # (B,)
        return losses.mean(), (losses, logits)

    # -- training ------------------------------------------------------------
    def gradients(self, params, images, labels, sizes):
        """The gradient of the batch's mean loss, with the per-example losses (B,) and logits
        (B, classes).

        With ``tile_pixels`` set, the forward and backward run on B/T tiles of T examples in turn
        (a ``lax.scan``), T = ``examples_per_tile`` (a divisor of the batch B), so that each layer's
        patches fit in a CPU's caches at any batch size and resolution (docs/performance.md,
        "Batch tiles"); when T = B the batch is one piece. It is the same
        gradient summed in another order: mean loss = Σ_tiles (T/B)·(mean loss of the tile), so
        d(mean)/dθ = Σ_tiles (T/B)·d(tile mean)/dθ. Tile j holds examples j, j + B/T, j + 2B/T, ...,
        so every tile spans the batch axis as the devices share it.
        """
        batch, height, width = images.shape[:3]
        tile = examples_per_tile(batch, height * width, self.tile_pixels, self.num_devices)
        loss_and_grad = jax.value_and_grad(self.loss, has_aux=True)
        if tile == batch:
            (_, (losses, logits)), grads = loss_and_grad(params, images, labels, sizes)
            return grads, losses, logits
        num_tiles = batch // tile

        def to_tiles(a):  # (B, ...) -> (B/T, T, ...): [j, i] is example i·(B/T) + j
            return None if a is None else a.reshape(tile, num_tiles, *a.shape[1:]).swapaxes(0, 1)

        def from_tiles(a):  # (B/T, T, ...) -> (B, ...), the inverse of to_tiles
            return a.swapaxes(0, 1).reshape(batch, *a.shape[2:])

        def add_tile(grads, tile_inputs):  # grads += (T/B)·d(the tile's mean loss)/dθ
            (_, (losses, logits)), tile_grads = loss_and_grad(params, *tile_inputs)
            grads = jax.tree.map(lambda g, d: g + (tile / batch) * d, grads, tile_grads)
            return grads, (losses, logits)  # (T,), (T, classes)

        zeros = jax.tree.map(jnp.zeros_like, params)
        tiles = (to_tiles(images), to_tiles(labels), to_tiles(sizes))
        grads, (losses, logits) = jax.lax.scan(add_tile, zeros, tiles)
        return grads, from_tiles(losses), from_tiles(logits)

    def _train_chunk_impl(
        self, state, totals, images, labels, sizes, batch_indices, valid, key, chunk
    ):
        """``k`` steps. batch_indices (k, B) index the group's arrays; valid (k,) bool; totals (3,)
        accumulates [sum of losses, correct, examples] on the device; the step keys derive from
        ``key`` and the chunk's number."""

        def step(carry, inputs):
            state, totals = carry
            index, is_valid, step_key = inputs
            batch_images, batch_labels = (
                to_float(images[index]),
                labels[index],
            )  # (B, H, W, 1), (B,)
            batch_sizes = None if sizes is None else sizes[index]  # (B, 2)
            if self.augment is not None:
                batch_images = self.augment(step_key, batch_images)

            grads, losses, logits = self.gradients(
                state["params"], batch_images, batch_labels, batch_sizes
            )
            updates, opt_state = self.tx.update(grads, state["opt_state"], state["params"])
            updated = {
                "params": optax.apply_updates(state["params"], updates),
                "opt_state": opt_state,
            }
            # A padding step computes and is then discarded: cheaper than lax.cond, whose branch
            # copies the state in and out on every step (docs/performance.md, "The training loop").
            state = jax.tree.map(lambda new, old: jnp.where(is_valid, new, old), updated, state)
            correct = jnp.sum(jnp.argmax(logits, -1) == batch_labels)
            sums = jnp.stack([losses.sum(), correct, losses.size]) * is_valid
            return (state, totals + sums), None

        keys = jax.random.split(jax.random.fold_in(key, chunk), batch_indices.shape[0])
        (state, totals), _ = jax.lax.scan(step, (state, totals), (batch_indices, valid, keys))
        return state, totals

    def zero_totals(self) -> jax.Array:
        return distributed.put(np.zeros(3, np.float32), self.replicated)

    def train_chunk(
        self, state, totals, group, batch_indices: np.ndarray, valid: np.ndarray, key, chunk: int
    ):
        """Run one chunk of steps on a :class:`DeviceGroup`; returns (state, totals), both on the
        device.

        Nothing here waits for the device: the caller decides when to (reading
        ``totals`` waits)."""
        batch_indices, valid, chunk = distributed.put(
            (batch_indices, valid, np.int32(chunk)), self.index_shardings
        )
        return self._train_chunk(
            state, totals, group.images, group.labels, group.sizes, batch_indices, valid, key, chunk
        )

    # -- evaluation ----------------------------------------------------------
    def _eval_batch_impl(self, params, images, labels, sizes, weights):
        _, (losses, logits) = self.loss(params, to_float(images), labels, sizes)
        correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
        return jnp.stack([jnp.sum(losses * weights), jnp.sum(correct * weights), jnp.sum(weights)])

    def _predict_impl(self, params, images, sizes):
        return jax.nn.softmax(self.logits(params, to_float(images), sizes), axis=-1)

    def _shard_batch(self, *arrays):
        return [distributed.put(a, self.batch_sharded) for a in arrays]

    def eval_batch(self, params, images, labels, sizes, weights):
        """Sums of [loss, correct, examples] over one padded batch (weights 0 for padding)."""
        return self._eval_batch(params, *self._shard_batch(images, labels, sizes, weights))

    def predict(self, params, images, sizes=None):
        """Class probabilities (B, classes) for one batch."""
        return self._predict(params, *self._shard_batch(images, sizes))
