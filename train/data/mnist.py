"""MNIST from tensorflow-datasets, into NumPy arrays in memory (Q7), offline when it can be.

When the four canonical files are in ``$JAXCONV_DATA_DIR/mnist/`` (their sha256
are the ones TFDS registers), TFDS prepares ``mnist`` from them as a manual
download, with its GCS download turned off: no network. Without them TFDS
downloads as usual. Either way TFDS writes only into the cache folder, and the
decoded arrays are cached there too, so later runs load in well under a second
without importing TensorFlow at all.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import numpy as np

from train.data.cache import load_cached, save_arrays_atomically
from train.data.network import network_reachable
from train.errors import DataUnavailableError

MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
ARRAYS = ("train_images", "train_labels", "test_images", "test_labels")
TFDS_NAME = "mnist:3.0.1"
DOWNLOAD_HOST = "storage.googleapis.com"  # where TFDS downloads MNIST from
HOW = (
    "Set $JAXCONV_DATA_DIR to a folder whose mnist/ holds the four canonical MNIST files "
    f"({', '.join(MNIST_FILES)}), "
    "or run once on a machine that can reach the internet so TFDS can download them."
)


def load_mnist(
    cache: Path, data_dir: Path | None = None, download: bool = True
) -> dict[str, np.ndarray]:
    """``{train,test}_{images,labels}``: uint8 (n, 28, 28, 1) and int32 (n,), 60,000 and 10,000.

    **Arguments:**
      cache: the cache folder (TFDS's prepared copy and the decoded arrays go there).
      data_dir: the read-only data folder holding ``mnist/``, or None.
      download: let TFDS download when the files are not in ``data_dir``.

    Raises :class:`DataUnavailableError` saying what is missing, where it
    looked and how to provide it.
    """
    npz = cache / "mnist" / "mnist-3.0.1.npz"
    arrays = load_cached(npz, lambda arrays: {name: arrays[name] for name in ARRAYS})
    if arrays is None:
        arrays = _prepare_with_tfds(cache, data_dir, download)
        save_arrays_atomically(npz, arrays)
    return arrays


def import_tfds():
    """TFDS with TensorFlow as a CPU-only backend: TF must never take GPU memory from JAX."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.set_visible_devices([], "GPU")
    import tensorflow_datasets as tfds

    return tfds


def _prepare_with_tfds(cache: Path, data_dir: Path | None, download: bool) -> dict:
    """The arrays of TFDS's MNIST, prepared into ``cache`` from ``data_dir/mnist``'s files, or
    downloaded when some are missing there."""
    folder = data_dir / "mnist" if data_dir else None
    missing = [name for name in MNIST_FILES if folder is None or not (folder / name).is_file()]
    where = str(folder) if folder else "$JAXCONV_DATA_DIR (unset)"
    if missing and not download:
        raise DataUnavailableError(
            f"MNIST not found: {where} is missing {', '.join(missing)}, "
            f"and downloading is off. {HOW}"
        )
    source = f"a download (nothing usable in {where})" if missing else f"the files in {folder}"
    try:
        if missing and not network_reachable(DOWNLOAD_HOST):
            # fail at once: TFDS would retry the unreachable network for minutes
            raise ConnectionError(f"{DOWNLOAD_HOST} cannot be reached")
        tfds = import_tfds()
        builder = _prepare(tfds, cache, None if missing else folder)
    except Exception as err:  # TFDS raises many kinds; the user needs one sentence
        raise DataUnavailableError(
            f"MNIST could not be prepared from {source}: {type(err).__name__}: {err}. {HOW}"
        ) from None
    arrays = {}
    for split in ("train", "test"):
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = _read(tfds, builder, split)
    return arrays


def _prepare(tfds, cache: Path, manual_dir: Path | None):
    """TFDS's builder of MNIST in ``cache``, prepared from the files in ``manual_dir`` (no
    network), or downloaded when it is None."""
    builder = tfds.builder(TFDS_NAME, data_dir=str(cache / "tensorflow_datasets"))
    config = tfds.download.DownloadConfig(
        manual_dir=str(manual_dir) if manual_dir else None, try_download_gcs=False
    )
    quiet = contextlib.nullcontext()
    # from local files nothing is downloaded: no "Downloading" line or "Dl Completed" bars
    if manual_dir is not None:
        tfds.disable_progress_bar()
        quiet = contextlib.redirect_stdout(io.StringIO())
        print(f"preparing MNIST from {manual_dir} into {cache} (once; about a minute)", flush=True)
    with quiet:
        builder.download_and_prepare(download_dir=str(cache / "downloads"), download_config=config)
    return builder


def _read(tfds, builder, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The split's images, uint8 (n, 28, 28, 1), and labels, int32 (n,)."""
    try:
        data = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
    except Exception as err:  # DataLossError for a truncated record
        records = sorted(Path(builder.data_dir).glob(f"mnist-{split}.tfrecord*"))
        # TensorFlow's op prefix ({{function_node ...}}) and newlines
        reason = re.sub(r"\{\{.*?\}\}\s*|\s+", " ", str(err)).strip()
        raise DataUnavailableError(
            f"TFDS's prepared MNIST cannot be read: {', '.join(map(str, records))} is truncated or "
            f"corrupt ({type(err).__name__}: {reason[:200]}). "
            f"Delete {builder.data_dir} and run again to prepare it anew."
        ) from None
    return data["image"].astype(np.uint8), data["label"].astype(np.int32)
