"""From a config to the train/validation/test splits the training loop takes.

``config.dataset`` picks the data ("mnist"; "mnist-varres" in train.varres) and
``config.model`` how its images are prepared (resized for "fixed", grouped or
bucketed by resolution for "varres"); the network itself comes from
:func:`train.models.model_factory`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from train.data.groups import ImageGroup, Split, subsample, train_val_split
from train.data.mnist import load_mnist
from train.data.mnist_varres import load_mnist_varres
from train.data.resolution import bucket, resize_all
from train.errors import ConfigError


@dataclasses.dataclass
class Datasets:
    train: Split
    val: Split
    test: Split


def limit_datasets(config, train: Split, val: Split, test: Split) -> Datasets:
    """Apply config.max_train_examples and config.max_eval_examples (0: all)."""
    return Datasets(
        subsample(train, config.max_train_examples, config.seed),
        subsample(val, config.max_eval_examples, config.seed),
        subsample(test, config.max_eval_examples, config.seed),
    )


def _mnist(config, cache: Path, data_dir: Path | None, with_train: bool) -> Datasets:
    arrays = load_mnist(cache, data_dir, download=config.download)
    test = [ImageGroup(arrays["test_images"], arrays["test_labels"])]
    if not with_train:
        return limit_datasets(config, [], [], test)
    train, val = train_val_split(
        [ImageGroup(arrays["train_images"], arrays["train_labels"])], config.num_val, config.seed
    )
    return limit_datasets(config, train, val, test)


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


def _mnist_varres(config, cache: Path, data_dir: Path | None, with_train: bool) -> Datasets:
    splits = load_mnist_varres(cache, data_dir, download=config.download)
    test = prepare_groups(config, splits["test"])
    if not with_train:
        return limit_datasets(config, [], [], test)
    # prepare before splitting: resizing keeps the order of the images, so every
    # model sees the same validation and test images for a seed (paired comparisons)
    train, val = train_val_split(
        prepare_groups(config, splits["train"]), config.num_val, config.seed
    )
    return limit_datasets(config, train, val, test)


DATASETS = {"mnist": _mnist, "mnist-varres": _mnist_varres}


def load_datasets(config, cache: Path, data_dir: Path | None, with_train: bool = True) -> Datasets:
    """The train/validation/test splits the config names; ``with_train=False`` prepares only the
    test split (the same images), leaving train and validation empty."""
    if config.dataset not in DATASETS:
        raise ConfigError(
            f"config.dataset must be one of {sorted(DATASETS)}, got {config.dataset!r}"
        )
    return DATASETS[config.dataset](config, cache, data_dir, with_train)
