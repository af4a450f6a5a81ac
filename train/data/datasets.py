"""From a config to the train/validation/test splits the training loop takes.

``config.dataset`` picks the data ("mnist"; "mnist-varres" in train.varres) and
``config.model`` how mnist-varres's images are prepared (resized for "fixed",
grouped or bucketed by resolution for "varres"); the network itself comes from
:func:`train.models.model_factory`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from train.data.groups import ImageGroup, Split, subsample, train_val_split
from train.data.mnist import load_mnist
from train.data.mnist_varres import load_mnist_varres
from train.data.resolution import bucket, resize_all


@dataclasses.dataclass
class Datasets:
    train: Split
    val: Split
    test: Split


def load_datasets(config, cache: Path, data_dir: Path | None, with_train: bool = True) -> Datasets:
    """The train/validation/test splits the config names, at most config.max_train_examples and
    config.max_eval_examples each (0: all); ``with_train=False`` prepares only the test split (the
    same images), leaving train and validation empty."""
    if config.dataset == "mnist":
        arrays = load_mnist(cache, data_dir, download=config.download)
        splits = {
            split: [ImageGroup(arrays[f"{split}_images"], arrays[f"{split}_labels"])]
            for split in ("train", "test")
        }
    else:
        splits = load_mnist_varres(cache, data_dir, download=config.download)

    def prepared(split: str) -> Split:
        groups = splits[split]
        return groups if config.dataset == "mnist" else prepare_groups(config, groups)

    test = subsample(prepared("test"), config.max_eval_examples, config.seed)
    if not with_train:
        return Datasets([], [], test)
    # prepare before splitting: resizing keeps the order of the images, so every
    # model sees the same validation and test images for a seed (paired comparisons)
    train, val = train_val_split(prepared("train"), config.num_val, config.seed)
    return Datasets(
        subsample(train, config.max_train_examples, config.seed),
        subsample(val, config.max_eval_examples, config.seed),
        test,
    )


def prepare_groups(config, groups: Split) -> Split:
    """Images as the configured model takes them: resized to fixed.image_size squared for a
    fixed-resolution model (Q12, Q17), else grouped by resolution, bucketed onto a few
    canvases when there are more than config.max_resolutions of them (Q14)."""
    if config.model == "fixed":
        size = config.fixed.image_size
        if all(g.shape[:2] == (size, size) and g.sizes is None for g in groups):
            return groups
        return [resize_all(groups, size)]
    return bucket(groups, config.max_resolutions, config.bucket_step)
