"""Broken caches heal, broken data is one line naming the file, and no network is known at once."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest
from imagefolder_trees import tar_tree, write_tree

import train.data.mnist as mnist
from train.data.cache import save_arrays_atomically
from train.data.imagefolder import read_imagefolder
from train.data.mnist_varres import load_imagefolder_groups, load_mnist_varres
from train.errors import DataUnavailableError


def truncate(path, fraction=0.5):
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * fraction)])


def test_truncated_imagefolder_cache_is_rebuilt_and_said_so(tmp_path, capsys):
    write_tree(tmp_path / "tree", per_class=1)
    first = load_imagefolder_groups(tmp_path / "tree", tmp_path / "cache", ("train", "test"))
    caches = sorted((tmp_path / "cache").rglob("*.npz"))
    assert len(caches) == 2
    truncate(caches[0])
    second = load_imagefolder_groups(tmp_path / "tree", tmp_path / "cache", ("train", "test"))
    assert f"cache {caches[0]} is unreadable" in capsys.readouterr().err
    for split in first:
        for a, b in zip(first[split], second[split]):
            np.testing.assert_array_equal(a.images, b.images)
    np.load(caches[0]).close()  # written again, whole


def test_truncated_mnist_cache_is_rebuilt(tmp_path, monkeypatch, capsys):
    tiny = {f"{s}_images": np.zeros((2, 28, 28, 1), np.uint8) for s in ("train", "test")}
    tiny |= {f"{s}_labels": np.arange(2, dtype=np.int32) for s in ("train", "test")}
    npz = tmp_path / "mnist" / "mnist-3.0.1.npz"
    save_arrays_atomically(npz, tiny)
    truncate(npz)
    monkeypatch.setattr(
        mnist, "_prepare_with_tfds", lambda *args: tiny
    )  # what TFDS would prepare again
    arrays = mnist.load_mnist(tmp_path, None, download=False)
    assert "is unreadable" in capsys.readouterr().err and sorted(arrays) == sorted(tiny)
    assert sorted(np.load(npz).files) == sorted(tiny)


def test_truncated_tgz_is_one_line_naming_the_file(tmp_path):
    write_tree(tmp_path / "tree", per_class=3)
    (tmp_path / "data").mkdir()
    archive = tar_tree(tmp_path / "tree", tmp_path / "data" / "mnist-varres.tgz")
    truncate(archive)
    for load in (
        lambda: read_imagefolder(archive),
        lambda: load_mnist_varres(tmp_path / "cache", tmp_path / "data", download=False),
    ):
        with pytest.raises(DataUnavailableError) as info:
            load()
        message = str(info.value)
        assert f"{archive} is truncated or corrupt" in message and "\n" not in message


def test_unreachable_network_fails_at_once_without_tensorflow(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "network_reachable", lambda host: False)
    monkeypatch.setattr(
        mnist, "import_tfds", lambda: pytest.fail("TFDS would retry the network for minutes")
    )
    start = time.perf_counter()
    with pytest.raises(
        DataUnavailableError, match="storage.googleapis.com cannot be reached.*JAXCONV_DATA_DIR"
    ):
        mnist.load_mnist(tmp_path / "cache", None, download=True)
    assert time.perf_counter() - start < 2


@pytest.mark.slow
def test_download_off_with_an_empty_data_folder_fails_within_seconds(tmp_path):
    (tmp_path / "data").mkdir()
    env = os.environ | {
        "JAXCONV_DATA_DIR": str(tmp_path / "data"),
        "JAXCONV_CACHE_DIR": str(tmp_path / "cache"),
    }
    start = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "train.fixed",
            f"--workdir={tmp_path / 'run'}",
            "--config.download=False",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    seconds = time.perf_counter() - start
    assert (
        done.returncode == 2
        and "downloading is off" in done.stderr
        and "JAXCONV_DATA_DIR" in done.stderr
    )
    assert seconds < 20, f"{seconds:.1f} s, Python and JAX start-up included"
