"""The one batching idea both trainers share, over a split of :class:`ImageGroup` (groups.py).

Training batches never mix groups. Each epoch every group is shuffled and cut
into full batches (the partial remainder is dropped for training), the batches
are cut into equal chunks of at most ``steps_per_call`` steps (the last chunk of
a group padded with a few invalid steps), and the chunks of all groups are
interleaved in a fresh random order. Evaluation walks every image once, padding the last batch.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import jax
import numpy as np

from jaxconv._shapes import ceil_div
from train.data.groups import ImageGroup


@dataclasses.dataclass
class DeviceGroup:
    """A group's arrays on the device(s), replicated, for the on-device batch gather."""

    images: jax.Array
    labels: jax.Array
    sizes: jax.Array | None

    @classmethod
    def put(cls, group: ImageGroup, sharding, put=jax.device_put) -> "DeviceGroup":
        """``put(array, sharding)`` places each array: the trainers pass ``train.distributed.put``,
        which with several processes has each give only its own devices' share."""
        return cls(*put((group.images, group.labels, group.sizes), sharding))


@dataclasses.dataclass
class Chunk:
    group: int  # which group of the split
    batch_indices: np.ndarray  # (steps_per_call, batch_size) int32, rows into that group
    valid: np.ndarray  # (steps_per_call,) bool: False for the padding steps


def epoch_chunks(
    group_sizes: list[int], batch_size: int, steps_per_call: int, rng: np.random.Generator
) -> list[Chunk]:
    """The training plan of one epoch: shuffled full batches, chunked, chunks of all groups
    interleaved."""
    chunks = []
    for g, n in enumerate(group_sizes):
        num_batches = n // batch_size
        if num_batches == 0:
            continue
        order = rng.permutation(n)[: num_batches * batch_size].astype(np.int32)
        batches = order.reshape(num_batches, batch_size)  # (num_batches, B)
        # the fewest chunks of at most steps_per_call steps, all of one length k for this group
        # (one compilation), so that fewer than one step per chunk is padding
        num_chunks = ceil_div(num_batches, steps_per_call)
        k = ceil_div(num_batches, num_chunks)
        pad = num_chunks * k - num_batches
        # (num_chunks·k, B)
        batches = np.concatenate([batches, np.zeros((pad, batch_size), np.int32)])
        valid = np.arange(len(batches)) < num_batches
        for start in range(0, len(batches), k):
            chunks.append(Chunk(g, batches[start : start + k], valid[start : start + k]))
    return [chunks[i] for i in rng.permutation(len(chunks))]


def eval_batches(
    group: ImageGroup, batch_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]]:
    """(images, labels, sizes, weights) batches covering every image once; the last is padded,
    weight 0."""
    for start in range(0, len(group), batch_size):
        index = np.arange(start, start + batch_size)
        weights = (index < len(group)).astype(np.float32)
        index = np.minimum(index, len(group) - 1)  # padding repeats the last image, weighted 0
        part = group.take(index)
        yield part.images, part.labels, part.sizes, weights
