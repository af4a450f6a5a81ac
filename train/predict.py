"""Predict the digit in each image with a trained run of train.fixed or train.varres.

    python -m train.predict --workdir RUN IMAGE [IMAGE ...]

Prints ``IMAGE<TAB>digit<TAB>probability`` per image. Images may have any
resolution and mode (converted to grayscale); a fixed-resolution model gets
them resized.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def predict_images(workdir: Path, images: list[Path]):
    """[(path, digit, probability)] for each image, in order."""
    from train.errors import DataUnavailableError
    from train.imagefolder import decode_gray
    from train.trained import TrainedRun

    decoded = []
    for path in images:
        if not path.is_file():
            raise DataUnavailableError(f"no such image file: {path}")
        decoded.append(decode_gray(path.read_bytes(), str(path)))
    probabilities = TrainedRun(workdir).predict(decoded)
    return [(path, int(p.argmax()), float(p.max())) for path, p in zip(images, probabilities)]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True, type=Path, help="a run directory of train.fixed or train.varres")
    parser.add_argument("images", nargs="+", type=Path, help="image files")
    args = parser.parse_args(argv)
    from train.errors import UserError

    try:
        results = predict_images(args.workdir, args.images)
    except (UserError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    for path, digit, probability in results:
        print(f"{path}\t{digit}\t{probability:.4f}")


if __name__ == "__main__":
    main()
