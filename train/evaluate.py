"""Evaluate a trained run of train.fixed or train.varres (its best-by-validation checkpoint).

    python -m train.evaluate --workdir RUN                  # on the run's own test split
    python -m train.evaluate --workdir RUN --data PATH      # on an ImageFolder tree of digit images
    python -m train.evaluate --workdir RUN --data PATH --per_class --confusion --misclassified

PATH is a folder (or .tgz) with ``test/<digit>/`` or ``<digit>/`` subfolders
of images of any resolution and mode; a fixed-resolution model gets them
resized. Images that look inverted (dark digits on a light background) are
warned about on one line; ``--invert`` turns them into light on dark. The last
line printed is one JSON object with ``accuracy``, ``loss`` and ``n`` (and
``per_class``, ``confusion``, ``misclassified`` when asked for).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from train.data.batching import eval_batches
from train.data.cache import cache_dir, data_dir
from train.data.datasets import load_datasets
from train.data.imagefolder import NO_SPLIT, looks_inverted, read_imagefolder
from train.errors import exit_on_user_error
from train.trained import TrainedRun


def inverted_warning(images: list[np.ndarray], invert: bool) -> str | None:
    """One line when most images look inverted and ``--invert`` is not given, else None."""
    count = sum(looks_inverted(image) for image in images)
    if invert or count <= len(images) // 2:
        return None
    return (
        f"warning: {count} of {len(images)} images look inverted "
        "(mostly bright background; the model was trained on "
        "light digits on black): pass --invert if the digits are dark on light"
    )


def predict_split(run, split) -> tuple[np.ndarray, np.ndarray]:
    """(labels, predicted digits) of every image of a prepared split, group after group."""
    labels, predicted = [], []
    batch = run.steps.device_multiple(run.config.eval_batch_size)
    for group in split:
        for images, group_labels, sizes, weights in eval_batches(group, batch):
            digits = np.asarray(run.steps.predict(run.params, images, sizes)).argmax(-1)  # (B,)
            labels.append(group_labels[weights > 0])
            predicted.append(digits[weights > 0])
    return np.concatenate(labels), np.concatenate(predicted)


def breakdown(labels: np.ndarray, predicted: np.ndarray, names: list[str]) -> dict:
    """Per-class accuracy, the confusion matrix (rows: true digit, columns: predicted) and the
    misclassified images."""
    confusion = np.zeros((10, 10), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    totals = confusion.sum(1)
    per_class = [float(confusion[d, d] / totals[d]) if totals[d] else None for d in range(10)]
    wrong = np.flatnonzero(labels != predicted)
    return {
        "per_class": per_class,
        "confusion": confusion.tolist(),
        "misclassified": [
            {"file": names[i], "label": int(labels[i]), "predicted": int(predicted[i])}
            for i in wrong
        ],
    }


def evaluate_run(
    workdir: Path, data: Path | None = None, cache=None, invert: bool = False, details: bool = False
) -> dict:
    """accuracy, loss, n (and with ``details`` per_class, confusion, misclassified) of the run on
    ``data``; ``warning`` is set when the images look inverted."""
    warning = None
    if data is None:
        run = TrainedRun(workdir)
        split = load_datasets(run.config, cache_dir(cache), data_dir(), with_train=False).test
        source = f"the test split of {run.config.dataset}"
        names = [f"{run.config.dataset} test image #{i}" for i in range(sum(len(g) for g in split))]
        if details:
            labels, predicted = predict_split(run, split)
    else:
        # decode only what is evaluated on: a train/test tree's training images are never read
        decoded = read_imagefolder(
            Path(data), splits=("test", NO_SPLIT), every_split=False, with_names=True
        )
        name = "test" if "test" in decoded else NO_SPLIT
        images, labels, names = decoded[name]
        warning = inverted_warning(images, invert)
        if invert:
            images = [255 - image for image in images]
        run = TrainedRun(workdir)
        split = run.prepare(images, labels)
        source = f"{data} ({name})"
        if details:
            predicted = run.predict(images).argmax(-1)  # in the order of names
    result = {
        "workdir": str(workdir),
        "data": source,
        "epoch": run.record["epoch"],
        **run.evaluate(split),
    }
    if details:
        result |= breakdown(labels, predicted, names)
    return result | ({"warning": warning} if warning else {})


def print_details(result: dict, per_class: bool, confusion: bool, misclassified: bool) -> None:
    if per_class:
        totals = np.asarray(result["confusion"]).sum(1)
        for digit, accuracy in enumerate(result["per_class"]):
            shown = (
                "no images" if accuracy is None else f"accuracy {accuracy:.4f} of {totals[digit]}"
            )
            print(f"digit {digit}: {shown}")
    if confusion:
        print("true \\ predicted " + " ".join(f"{d:>5}" for d in range(10)))
        for digit, row in enumerate(result["confusion"]):
            print(f"{digit:>16} " + " ".join(f"{count:>5}" for count in row))
    if misclassified:
        for entry in result["misclassified"]:
            print(f"{entry['file']}\ttrue {entry['label']}\tpredicted {entry['predicted']}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workdir", required=True, type=Path, help="a run directory of train.fixed or train.varres"
    )
    parser.add_argument(
        "--data",
        type=Path,
        help="an ImageFolder tree (folder or .tgz); default: the run's own test split",
    )
    parser.add_argument(
        "--cache_dir", help="cache folder (default: $JAXCONV_CACHE_DIR or ~/.cache/jaxconv)"
    )
    parser.add_argument(
        "--invert",
        action="store_true",
        help="invert the --data images (for dark digits on a light background)",
    )
    parser.add_argument("--per_class", action="store_true", help="print the accuracy of each digit")
    parser.add_argument(
        "--confusion", action="store_true", help="print the confusion matrix (rows: true digit)"
    )
    parser.add_argument(
        "--misclassified",
        action="store_true",
        help="print each misclassified image with its true and predicted digit",
    )
    args = parser.parse_args(argv)
    details = args.per_class or args.confusion or args.misclassified
    with exit_on_user_error(ValueError):  # a bad image or array is the user's too
        result = evaluate_run(args.workdir, args.data, args.cache_dir, args.invert, details)
    if "warning" in result:
        print(result["warning"], file=sys.stderr)
    print_details(result, args.per_class, args.confusion, args.misclassified)
    for key, wanted in (
        ("per_class", args.per_class),
        ("confusion", args.confusion),
        ("misclassified", args.misclassified),
    ):
        if not wanted:
            result.pop(key, None)
    print(
        f"{result['data']}: accuracy {result['accuracy']:.4f} on {result['n']} images "
        f"(checkpoint of epoch {result['epoch']})"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
