"""Images of many resolutions as the models take them (Q12-Q14): grouped by resolution,
bucketed onto a few canvas sizes, or all resized to one size.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterator

import numpy as np
from PIL import Image

from jaxconv._shapes import ceil_div
from train.data.groups import ImageGroup


def group_by_resolution(images: list[np.ndarray], labels: np.ndarray) -> list[ImageGroup]:
    """One uint8 (n, H, W, 1) group per distinct (H, W), smallest first (Q14)."""
    members = defaultdict(list)
    for i, image in enumerate(images):
        members[image.shape].append(i)
    # one (n, H, W, 1) group per shape
    return [
        ImageGroup(np.stack([images[i] for i in index])[..., None], labels[np.asarray(index)])
        for shape, index in sorted(members.items())
    ]


def bucket(groups: list[ImageGroup], max_shapes: int, step: int) -> list[ImageGroup]:
    """Few canvas sizes for many resolutions: each image padded at the top-left of a canvas
    whose sides are its own rounded up to a multiple of ``step`` (doubled until at most
    ``max_shapes`` canvases remain), with its true size kept for the mask. Unchanged when
    there are at most ``max_shapes`` resolutions already."""
    if max_shapes < 1 or step < 1:
        raise ValueError(
            f"bucketing needs max_shapes >= 1 and step >= 1, got {max_shapes} and {step}"
        )
    if len(groups) <= max_shapes:
        return groups
    images = [im[..., 0] for g in groups for im in _unpadded(g)]
    labels = np.concatenate([g.labels for g in groups])
    # the loop ends: once step covers the largest side, one canvas is left
    while len({_canvas(im.shape, step) for im in images}) > max_shapes:
        step *= 2
    members = defaultdict(list)
    for i, im in enumerate(images):
        members[_canvas(im.shape, step)].append(i)
    buckets = []
    for (height, width), index in sorted(members.items()):
        canvas = np.zeros((len(index), height, width, 1), np.uint8)
        sizes = np.zeros((len(index), 2), np.int32)
        for row, i in enumerate(index):
            h, w = images[i].shape
            canvas[row, :h, :w, 0] = images[i]
            sizes[row] = (h, w)
        buckets.append(ImageGroup(canvas, labels[np.asarray(index)], sizes))
    return buckets


def _canvas(shape: tuple[int, ...], step: int) -> tuple[int, int]:
    """(H, W) of the canvas an image of ``shape`` is padded onto: each side rounded up to a
    multiple of ``step``."""
    return ceil_div(shape[0], step) * step, ceil_div(shape[1], step) * step


def _unpadded(group: ImageGroup) -> Iterator[np.ndarray]:
    """Each image of the group without its canvas padding, (h, w, 1)."""
    for i, image in enumerate(group.images):
        if group.sizes is None:
            yield image
        else:
            h, w = group.sizes[i]
            yield image[:h, :w]


def resize_all(groups: list[ImageGroup], size: int) -> ImageGroup:
    """Every image resized to size × size (bilinear, antialiased when shrinking, like
    torchvision's Resize on PIL images in Q12), as one group."""
    resized = [
        np.asarray(Image.fromarray(image[..., 0]).resize((size, size), Image.BILINEAR), np.uint8)
        for g in groups
        for image in _unpadded(g)
    ]
    labels = np.concatenate([g.labels for g in groups])
    return ImageGroup(np.stack(resized)[..., None], labels)  # (n, size, size, 1)
