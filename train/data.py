"""Datasets as groups of same-shape images, and the one batching idea both trainers share.

A split is a list of :class:`ImageGroup`: MNIST is one group of 28×28 images;
mnist-varres is one group per resolution (Q14), or per canvas size when images
of many resolutions are bucketed (then each image carries its true size and is
padded onto the canvas at the top-left).

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


@dataclasses.dataclass
class ImageGroup:
    """Images of one shape: uint8 ``(n, H, W, 1)``, int32 labels ``(n,)``, and for
    images padded onto the canvas their true sizes int32 ``(n, 2)`` (else None)."""

    images: np.ndarray
    labels: np.ndarray
    sizes: np.ndarray | None = None

    def __post_init__(self):
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (n, H, W, C), got {self.images.dtype} {self.images.shape}")
        if self.labels.shape != (len(self.images),):
            raise ValueError(f"labels must have shape ({len(self.images)},), got {self.labels.shape}")
        if self.sizes is not None and self.sizes.shape != (len(self.images), 2):
            raise ValueError(f"sizes must have shape ({len(self.images)}, 2), got {self.sizes.shape}")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.images.shape[1:]

    def take(self, index: np.ndarray) -> "ImageGroup":
        return ImageGroup(self.images[index], self.labels[index], None if self.sizes is None else self.sizes[index])


Split = list  # list[ImageGroup]


def split_size(split: Split) -> int:
    return sum(len(g) for g in split)


def _select(groups: Split, chosen: np.ndarray) -> Split:
    """The examples of ``groups`` whose global index (groups concatenated) is in ``chosen``, group by group."""
    keep = np.zeros(split_size(groups), bool)
    keep[chosen] = True
    result, offset = [], 0
    for group in groups:
        index = np.flatnonzero(keep[offset : offset + len(group)])
        offset += len(group)
        if len(index):
            result.append(group.take(index))
    return result


def train_val_split(groups: Split, num_val: int, seed: int) -> tuple[Split, Split]:
    """A deterministic (per seed) split of all examples of ``groups`` into train and validation."""
    total = split_size(groups)
    if not 0 < num_val < total:
        raise ValueError(f"cannot hold out {num_val} validation examples from {total}")
    order = np.random.default_rng(seed).permutation(total)
    return _select(groups, order[num_val:]), _select(groups, order[:num_val])


def subsample(groups: Split, limit: int, seed: int) -> Split:
    """At most ``limit`` examples of the split (0: all), drawn deterministically."""
    total = split_size(groups)
    if not limit or limit >= total:
        return groups
    return _select(groups, np.random.default_rng([seed, limit]).permutation(total)[:limit])


@dataclasses.dataclass
class DeviceGroup:
    """A group's arrays on the device(s), replicated, for the on-device batch gather."""

    images: jax.Array
    labels: jax.Array
    sizes: jax.Array | None

    @classmethod
    def put(cls, group: ImageGroup, sharding) -> "DeviceGroup":
        sizes = None if group.sizes is None else jax.device_put(group.sizes, sharding)
        return cls(jax.device_put(group.images, sharding), jax.device_put(group.labels, sharding), sizes)


@dataclasses.dataclass
class Chunk:
    group: int  # which group of the split
    batch_indices: np.ndarray  # (steps_per_call, batch_size) int32, rows into that group
    valid: np.ndarray  # (steps_per_call,) bool: False for the padding steps


def epoch_chunks(group_sizes: list[int], batch_size: int, steps_per_call: int, rng: np.random.Generator) -> list[Chunk]:
    """The training plan of one epoch: shuffled full batches, chunked, chunks of all groups interleaved."""
    chunks = []
    for g, n in enumerate(group_sizes):
        num_batches = n // batch_size
        if num_batches == 0:
            continue
        order = rng.permutation(n)[: num_batches * batch_size].astype(np.int32)
        batches = order.reshape(num_batches, batch_size)  # (num_batches, B)
        # the fewest chunks of at most steps_per_call steps, all of one length k for this group
        # (one compilation), so that fewer than one step per chunk is padding
        num_chunks = -(-num_batches // steps_per_call)
        k = -(-num_batches // num_chunks)
        pad = num_chunks * k - num_batches
        batches = np.concatenate([batches, np.zeros((pad, batch_size), np.int32)])  # (num_chunks·k, B)
        valid = np.arange(len(batches)) < num_batches
        for start in range(0, len(batches), k):
            chunks.append(Chunk(g, batches[start : start + k], valid[start : start + k]))
    return [chunks[i] for i in rng.permutation(len(chunks))]


def eval_batches(group: ImageGroup, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]]:
    """(images, labels, sizes, weights) batches covering every image once; the last is padded, weight 0."""
    for start in range(0, len(group), batch_size):
        index = np.arange(start, start + batch_size)
        weights = (index < len(group)).astype(np.float32)
        index = np.minimum(index, len(group) - 1)  # padding repeats the last image, weighted 0
        part = group.take(index)
        yield part.images, part.labels, part.sizes, weights
