"""ImageFolder trees of digit images, read with Pillow (Q12-Q14).

Layout: ``.../<split>/<digit>/<image>`` (split ``train`` or ``test``) or just
``.../<digit>/<image>``, in a folder or straight from a tar archive (.tgz),
with no extraction. Images are converted to 8-bit grayscale whatever their mode
(RGB, palette, ...). Bad data is an error that names the file.
"""

from __future__ import annotations

import contextlib
import io
import tarfile
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image

from train.errors import DataUnavailableError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}
NO_SPLIT = "all"  # the split name of a tree without train/ and test/ folders


def _files(source: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(relative posix path, reader of its bytes) for every image file of a folder or tar
    archive."""
    if source.is_dir():
        for path in sorted(source.rglob("*")):
            if path.is_file():
                yield path.relative_to(source).as_posix(), path.read_bytes
    elif source.is_file() and tarfile.is_tarfile(source):
        with _archive_errors(source), tarfile.open(source) as archive:
            for member in archive:
                if member.isfile():
                    yield member.name, (lambda m=member: _read_member(archive, m, source))
    else:
        raise DataUnavailableError(
            f"{source} is neither a folder nor a readable tar archive of images"
        )


@contextlib.contextmanager
def _archive_errors(source: Path):
    """A truncated or corrupt archive (EOFError, zlib.error, tarfile.ReadError...) as one line
    naming it."""
    try:
        yield
    except (EOFError, OSError, tarfile.TarError, zlib.error) as err:
        raise DataUnavailableError(
            f"{source} is truncated or corrupt ({type(err).__name__}: {err}): "
            "replace it with a complete copy"
        ) from None


def _read_member(archive: tarfile.TarFile, member: tarfile.TarInfo, source: Path) -> bytes:
    with _archive_errors(source):
        return archive.extractfile(member).read()


def decode_gray(data: bytes, name: str) -> np.ndarray:
    """The image as uint8 (H, W) grayscale from any mode (:func:`to_gray8`)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return to_gray8(image)
    except Exception as err:
        raise DataUnavailableError(f"cannot decode {name}: {type(err).__name__}: {err}") from None


def to_gray8(image: Image.Image) -> np.ndarray:
    """uint8 (H, W), the full range of the image's mode scaled onto 0-255.

    * 16-bit ("I;16", "I;16B", ...): divided by 257, so 65535 is 255 (Pillow's
      own conversion clips, turning a 16-bit image black and white).
    * 32-bit integer ("I") and float ("F"): 0-255 kept, 0-65535 (a 16-bit PNG
      read as "I") divided by 257, 0-1 floats times 255; anything else stretched.
    * with transparency ("RGBA", "LA", "PA", "P" with a transparent colour):
      composited over black (MNIST's background), or over white when the
      opaque ink is dark, so the digit stays visible.
    * everything else ("1", "RGB", "P", "CMYK", ...): Pillow's luminance.
    """
    mode = image.mode
    if mode == "L":
        return np.asarray(image, np.uint8)
    if mode.startswith("I;16"):
        return _round8(np.asarray(image, np.float64) / 257.0)
    if mode in ("I", "F"):
        values = np.asarray(image, np.float64)
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        if mode == "F" and low >= 0 and high <= 1:
            return _round8(values * 255.0)
        if low >= 0 and high <= 255:
            return _round8(values)
        if low >= 0 and high <= 65535:
            return _round8(values / 257.0)
        return _round8((values - low) * (255.0 / (high - low)))
    if mode == "P" and "transparency" in image.info:
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = np.asarray(image.convert("RGBA"), np.float64)  # (H, W, 4)
        gray = np.asarray(image.convert("RGBA").convert("L"), np.float64)  # (H, W)
        alpha = rgba[..., 3] / 255.0
        opaque = alpha > 0.5
        background = 255.0 if opaque.any() and gray[opaque].mean() < 128 else 0.0
        return _round8(gray * alpha + background * (1.0 - alpha))
    return np.asarray(image.convert("L"), np.uint8)


def _round8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def looks_inverted(image: np.ndarray) -> bool:
    """Dark ink on a light background (median pixel above 127), unlike MNIST's light digits on
    black."""
    return float(np.median(image)) > 127


def read_imagefolder(
    source: Path,
    splits: tuple[str, ...] | None = None,
    every_split: bool = True,
    with_names: bool = False,
) -> dict[str, tuple]:
    """{split: (images as uint8 (H, W) arrays, int32 labels)} of every image in the tree
    (with ``with_names``, a third item: each image's path, ``source/<relative path>``).

    ``splits`` keeps only those split folders (a tree without split folders
    has the single split ``"all"``); images of other splits are not decoded.
    ``every_split=False`` accepts a tree that has only some of ``splits``. Raises
    :class:`DataUnavailableError` for a class folder that is not a digit, an undecodable image, or
    no images.
    """
    images, labels, names = defaultdict(list), defaultdict(list), defaultdict(list)
    for name, read in _files(source):
        parts = name.split("/")
        if Path(name).suffix.lower() not in IMAGE_SUFFIXES or any(p.startswith(".") for p in parts):
            continue
        if len(parts) < 2:
            raise DataUnavailableError(
                f"{source}/{name} is not inside a class folder: "
                "expected <digit>/<image> or <split>/<digit>/<image>"
            )
        class_dir = parts[-2]
        if not (len(class_dir) == 1 and class_dir.isdigit()):
            raise DataUnavailableError(
                f"class folder {class_dir!r} of {source}/{name} is not a digit 0-9"
            )
        split = parts[-3] if len(parts) >= 3 and parts[-3] in ("train", "test") else NO_SPLIT
        if splits is not None and split not in splits:
            continue
        images[split].append(decode_gray(read(), f"{source}/{name}"))
        labels[split].append(int(class_dir))
        names[split].append(f"{source}/{name}")
    if not images:
        wanted = f" in the split(s) {', '.join(splits)}" if splits else ""
        raise DataUnavailableError(
            f"no images found in {source}{wanted}: "
            "expected <split>/<digit>/<image> or <digit>/<image>"
        )
    for split in splits if splits and every_split else ():
        if split not in images:
            raise DataUnavailableError(
                f"the {split!r} split of {source} is empty: expected {split}/<digit>/<image> files"
            )
    if with_names:
        return {
            split: (images[split], np.asarray(labels[split], np.int32), names[split])
            for split in images
        }
    return {split: (images[split], np.asarray(labels[split], np.int32)) for split in images}
