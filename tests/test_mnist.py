"""The MNIST loader on the real files of $JAXCONV_DATA_DIR, its cache, and its errors."""

import os
import time
from pathlib import Path

import numpy as np
import pytest

from train.data.mnist import MNIST_FILES, load_mnist
from train.errors import DataUnavailableError

DATA_DIR = os.environ.get("JAXCONV_DATA_DIR")
needs_mnist = pytest.mark.skipif(
    not DATA_DIR or not (Path(DATA_DIR) / "mnist").is_dir(),
    reason="JAXCONV_DATA_DIR is unset or has no mnist/ folder: "
    "the real-data loader test needs the four MNIST files",
)
# per-class counts of the canonical 10,000-image MNIST test set
MNIST_TEST_CLASS_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def snapshot(folder: Path):
    return sorted(
        (str(p.relative_to(folder)), p.stat().st_mtime_ns, p.stat().st_size)
        for p in folder.rglob("*")
    )


@pytest.mark.slow  # TFDS prepares MNIST into a cache of its own: the preparation is under test
@needs_mnist
def test_loader_reads_the_real_test_split_offline_and_writes_only_to_the_cache(tmp_path):
    data_dir = Path(DATA_DIR)
    before = snapshot(data_dir)
    # download=False: the files must suffice
    arrays = load_mnist(tmp_path / "cache", data_dir, download=False)
    assert snapshot(data_dir) == before  # nothing written into the data folder
    images, labels = arrays["test_images"], arrays["test_labels"]
    assert images.shape == (10_000, 28, 28, 1) and images.dtype == np.uint8
    assert labels.shape == (10_000,) and labels.dtype == np.int32
    assert np.bincount(labels, minlength=10).tolist() == MNIST_TEST_CLASS_COUNTS
    assert arrays["train_images"].shape == (60_000, 28, 28, 1)
    assert 30 < images.mean() < 40  # MNIST's mean intensity is about 33


@pytest.mark.slow  # mnist_cache: TFDS prepares MNIST, once per test run
@needs_mnist
def test_second_load_comes_from_the_array_cache(mnist_cache):
    load_mnist(mnist_cache, Path(DATA_DIR), download=False)
    start = time.perf_counter()
    arrays = load_mnist(mnist_cache, None, download=False)  # no data folder needed any more
    assert time.perf_counter() - start < 5
    assert arrays["test_images"].shape == (10_000, 28, 28, 1)


def test_missing_files_give_one_clear_error(tmp_path):
    data_dir = tmp_path / "data"
    (data_dir / "mnist").mkdir(parents=True)
    (data_dir / "mnist" / MNIST_FILES[0]).write_bytes(b"")
    with pytest.raises(DataUnavailableError) as info:
        load_mnist(tmp_path / "cache", data_dir, download=False)
    message = str(info.value)
    assert str(data_dir / "mnist") in message  # where it looked
    assert all(name in message for name in MNIST_FILES[1:])  # what is missing
    assert "JAXCONV_DATA_DIR" in message  # how to provide it


def test_failed_download_gives_one_clear_error(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    def no_network(self, *args, **kwargs):
        raise ConnectionError("Failed to resolve 'storage.googleapis.com'")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", no_network)
    with pytest.raises(
        DataUnavailableError,
        match="MNIST could not be prepared from a download .*ConnectionError.*JAXCONV_DATA_DIR",
    ):
        load_mnist(tmp_path / "cache", None, download=True)


@pytest.mark.slow  # mnist_cache: TFDS prepares MNIST, once per test run
@needs_mnist
def test_test_only_loading_gives_the_same_test_split_without_training_data(mnist_cache):
    import configs.fixed
    from train.data.datasets import load_datasets

    config = configs.fixed.get_config()
    full = load_datasets(config, mnist_cache, Path(DATA_DIR))
    test_only = load_datasets(config, mnist_cache, Path(DATA_DIR), with_train=False)
    assert test_only.train == [] and test_only.val == []
    assert np.array_equal(test_only.test[0].images, full.test[0].images)
    assert np.array_equal(test_only.test[0].labels, full.test[0].labels)


@pytest.mark.slow
@needs_mnist
def test_truncated_tfrecord_is_one_line_naming_the_file(mnist_cache, tmp_path):
    import shutil

    load_mnist(
        mnist_cache, Path(DATA_DIR), download=False
    )  # TFDS's prepared copy in the session cache
    shutil.copytree(mnist_cache / "tensorflow_datasets", tmp_path / "tensorflow_datasets")
    record = next((tmp_path / "tensorflow_datasets").rglob("mnist-train.tfrecord*"))
    record.write_bytes(record.read_bytes()[:1_000_000])
    with pytest.raises(DataUnavailableError) as info:
        load_mnist(
            tmp_path, Path(DATA_DIR), download=False
        )  # no .npz there: read from the tfrecords
    message = str(info.value)
    assert f"{record} is truncated or corrupt" in message and "\n" not in message
