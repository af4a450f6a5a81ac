"""Predict the digit in each image with a trained run of train.fixed or train.varres.

    python -m train.predict --workdir RUN IMAGE [IMAGE ...]
    python -m train.predict --workdir RUN --invert IMAGE   # dark digits on a light background

Prints ``IMAGE<TAB>digit<TAB>probability`` per image. Images may have any
resolution and mode (scaled to 8-bit grayscale); a fixed-resolution model gets
them resized. Images that look inverted (mostly bright background, unlike
MNIST's light digits on black) are named on one warning line; ``--invert``
inverts every image first.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from train.data.imagefolder import decode_gray, looks_inverted
from train.errors import DataUnavailableError, exit_on_user_error
from train.trained import TrainedRun


def predict_images(workdir: Path, images: list[Path], invert: bool = False):
    """[(path, digit, probability)] for each image, in order; ``invert`` turns each image into
    255 - image."""
    decoded = []
    for path in images:
        if not path.is_file():
            raise DataUnavailableError(f"no such image file: {path}")
        decoded.append(decode_gray(path.read_bytes(), str(path)))
    inverted = [str(path) for path, image in zip(images, decoded) if looks_inverted(image)]
    if inverted and not invert:
        named = ", ".join(inverted[:3]) + (", ..." if len(inverted) > 3 else "")
        print(
            f"warning: {len(inverted)} of {len(images)} images look inverted "
            "(mostly bright background; the model was trained on "
            f"light digits on black): {named}; pass --invert if their digits are dark on light",
            file=sys.stderr,
        )
    if invert:
        decoded = [255 - image for image in decoded]
    probabilities = TrainedRun(workdir).predict(decoded)
    return [(path, int(p.argmax()), float(p.max())) for path, p in zip(images, probabilities)]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workdir", required=True, type=Path, help="a run directory of train.fixed or train.varres"
    )
    parser.add_argument(
        "--invert",
        action="store_true",
        help="invert every image first (for dark digits on a light background)",
    )
    parser.add_argument("images", nargs="+", type=Path, help="image files")
    args = parser.parse_args(argv)
    with exit_on_user_error(ValueError):  # a bad image is the user's too
        results = predict_images(args.workdir, args.images, args.invert)
    for path, digit, probability in results:
        print(f"{path}\t{digit}\t{probability:.4f}")


if __name__ == "__main__":
    main()
