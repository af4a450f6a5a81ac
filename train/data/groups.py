"""Datasets as groups of same-shape images, and their deterministic splits.

A split is a list of :class:`ImageGroup`: MNIST is one group of 28×28 images;
mnist-varres is one group per resolution (Q14), or per canvas size when images
of many resolutions are bucketed (then each image carries its true size and is
padded onto the canvas at the top-left).
"""

from __future__ import annotations

import dataclasses

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
            raise ValueError(
                f"images must be uint8 (n, H, W, C), got {self.images.dtype} {self.images.shape}"
            )
        if self.labels.shape != (len(self.images),):
            raise ValueError(
                f"labels must have shape ({len(self.images)},), got {self.labels.shape}"
            )
        if self.sizes is not None and self.sizes.shape != (len(self.images), 2):
            raise ValueError(
                f"sizes must have shape ({len(self.images)}, 2), got {self.sizes.shape}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.images.shape[1:]

    def take(self, index: np.ndarray) -> "ImageGroup":
        return ImageGroup(
            self.images[index],
            self.labels[index],
            None if self.sizes is None else self.sizes[index],
        )


Split = list  # list[ImageGroup]


def split_size(split: Split) -> int:
    return sum(len(g) for g in split)


def _select(groups: Split, chosen: np.ndarray) -> Split:
    """The examples of ``groups`` whose global index (groups concatenated) is in ``chosen``, group
    by group."""
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
