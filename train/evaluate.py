"""Evaluate a trained run of train.fixed or train.varres (its best-by-validation checkpoint).

    python -m train.evaluate --workdir RUN                  # on the run's own test split
    python -m train.evaluate --workdir RUN --data PATH      # on an ImageFolder tree of digit images

PATH is a folder (or .tgz) with ``test/<digit>/`` or ``<digit>/`` subfolders
of images of any resolution; a fixed-resolution model gets them resized. The
last line printed is one JSON object with ``accuracy``, ``loss`` and ``n``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from train import paths
from train.errors import UserError


def evaluate_run(workdir: Path, data: Path | None = None, cache=None) -> dict:
    from train.experiment import load_datasets
    from train.imagefolder import NO_SPLIT, read_imagefolder
    from train.trained import TrainedRun

    run = TrainedRun(workdir)
    if data is None:
        split = load_datasets(run.config, paths.cache_dir(cache), paths.data_dir(), with_train=False).test
        source = f"the test split of {run.config.dataset}"
    else:
        # decode only what is evaluated on: a train/test tree's training images are never read
        decoded = read_imagefolder(Path(data), splits=("test", NO_SPLIT), every_split=False)
        name = "test" if "test" in decoded else NO_SPLIT
        split = run.prepare(*decoded[name])
        source = f"{data} ({name})"
    result = run.evaluate(split)
    return {"workdir": str(workdir), "data": source, "epoch": run.record["epoch"], **result}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True, type=Path, help="a run directory of train.fixed or train.varres")
    parser.add_argument("--data", type=Path, help="an ImageFolder tree (folder or .tgz); default: the run's own test split")
    parser.add_argument("--cache_dir", help="cache folder (default: $JAXCONV_CACHE_DIR or ~/.cache/jaxconv)")
    args = parser.parse_args(argv)
    try:
        result = evaluate_run(args.workdir, args.data, args.cache_dir)
    except (UserError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(f"{result['data']}: accuracy {result['accuracy']:.4f} on {result['n']} images (checkpoint of epoch {result['epoch']})")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
