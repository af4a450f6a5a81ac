"""Small ImageFolder trees written with Pillow, for the loader, evaluate and predict tests."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
from PIL import Image
from synthetic import blobs

# (height, width) of the tree's images: three resolutions, one of them not square
RESOLUTIONS = [(32, 32), (48, 48), (40, 24)]


def write_tree(root: Path, splits=("train", "test"), per_class: int = 2, seed: int = 0) -> dict:
    """root/<split>/<digit>/<i>.png; returns {split: [(relative path, label, uint8 (H, W))]}."""
    written = {}
    for s, split in enumerate(splits):
        entries = []
        for r, (h, w) in enumerate(RESOLUTIONS):
            group = blobs(10 * per_class, height=h, width=w, seed=seed + 10 * s + r)
            for i, (image, label) in enumerate(zip(group.images[..., 0], group.labels)):
                path = root / split / str(label) / f"{r}-{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image, mode="L").save(path)
                entries.append((path.relative_to(root).as_posix(), int(label), image))
        written[split] = entries
    return written


def add_color_images(root: Path) -> dict:
    """An RGB and a palette image in train/3/; returns {name: expected grayscale}."""
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
    Image.fromarray(rgb, mode="RGB").save(root / "train" / "3" / "rgb.png")
    palette = Image.fromarray(rgb, mode="RGB").convert("P")
    palette.save(root / "train" / "3" / "palette.png")
    gray = np.asarray(Image.fromarray(rgb, mode="RGB").convert("L"))
    return {"rgb.png": gray, "palette.png": np.asarray(palette.convert("L"))}


def tar_tree(root: Path, archive: Path, prefix: str = "mnist-varres") -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname=prefix)
    return archive
