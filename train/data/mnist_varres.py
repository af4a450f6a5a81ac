"""mnist-varres (Q12-Q17): 70,000 grayscale digits on 32×32, 48×48 or 64×64 canvases.

Found as ``$JAXCONV_DATA_DIR/mnist-varres.tgz`` (read straight from the
archive) or ``$JAXCONV_DATA_DIR/mnist-varres/``; failing both, downloaded once
into the cache folder. The decoded images are cached per split as .npz, keyed
by the source's content, so a second run loads in about a second.
"""

from __future__ import annotations

import hashlib
import os
import urllib.parse
import urllib.request
from pathlib import Path

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from train.data.cache import load_cached, save_arrays_atomically
from train.data.groups import ImageGroup
from train.data.imagefolder import read_imagefolder
from train.data.network import network_reachable
from train.data.resolution import group_by_resolution
from train.errors import DataUnavailableError

URL = "https://dlvu.github.io/data/mnist-varres.tgz"
ARCHIVE = "mnist-varres.tgz"


def source_identity(source: Path) -> str:
    """A short hash of the source's content: the archive's bytes, or a folder's file names, sizes
    and times."""
    if source.is_file():
        with source.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()[:16]
    digest = hashlib.sha256()
    for path in sorted(source.rglob("*")):
        if path.is_file():
            stat = path.stat()
            name = path.relative_to(source).as_posix()
            digest.update(f"{name}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def download(url: str, target: Path) -> Path:
    """Download ``url`` to ``target`` with a progress bar; the file appears only when complete."""
    partial = target.with_suffix(target.suffix + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        host = urllib.parse.urlsplit(url).hostname
        if not network_reachable(host):  # at once, rather than after urlopen's timeout
            raise ConnectionError(f"{host} cannot be reached")
        with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            columns = (
                TextColumn(f"downloading {url}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
            )
            with Progress(*columns, transient=True) as bar:
                task = bar.add_task("download", total=total)
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    bar.update(task, advance=len(block))
    except OSError as err:
        partial.unlink(missing_ok=True)
        raise DataUnavailableError(
            f"mnist-varres is not in $JAXCONV_DATA_DIR and downloading {url} failed "
            f"({type(err).__name__}: {err}). "
            f"Set $JAXCONV_DATA_DIR to a folder holding {ARCHIVE} "
            "(or the extracted mnist-varres/), or run where the internet is reachable."
        ) from None
    os.replace(partial, target)
    return target


def find_source(cache: Path, data_dir: Path | None, allow_download: bool) -> Path:
    candidates = [data_dir / ARCHIVE, data_dir / "mnist-varres"] if data_dir else []
    candidates.append(cache / ARCHIVE)  # an earlier download
    for candidate in candidates:
        if candidate.exists():
            return candidate
    if not allow_download:
        looked = ", ".join(str(c) for c in candidates)
        raise DataUnavailableError(
            f"mnist-varres not found (looked for {looked}) and downloading is off. "
            f"Put {ARCHIVE} or the extracted mnist-varres/ folder in $JAXCONV_DATA_DIR."
        )
    return download(URL, cache / ARCHIVE)


def load_imagefolder_groups(
    source: Path, cache: Path, splits: tuple[str, ...]
) -> dict[str, list[ImageGroup]]:
    """{split: groups by resolution} of an ImageFolder source, through the .npz cache."""
    key = source_identity(source)
    files = {split: cache / "imagefolder" / f"{source.name}-{key}-{split}.npz" for split in splits}
    cached = {split: load_cached(file, _groups_from_arrays) for split, file in files.items()}
    if all(groups is not None for groups in cached.values()):
        return cached
    decoded = read_imagefolder(source, splits)
    result = {}
    for split in splits:
        result[split] = group_by_resolution(*decoded[split])
        arrays = {}
        for i, group in enumerate(result[split]):
            arrays[f"images_{i}"], arrays[f"labels_{i}"] = group.images, group.labels
        save_arrays_atomically(files[split], arrays)
    return result


def load_mnist_varres(
    cache: Path, data_dir: Path | None, download: bool = True
) -> dict[str, list[ImageGroup]]:
    """{"train": groups, "test": groups}, one uint8 (n, H, W, 1) group per resolution."""
    return load_imagefolder_groups(find_source(cache, data_dir, download), cache, ("train", "test"))


def _groups_from_arrays(arrays: dict) -> list[ImageGroup]:
    """The groups a cache file holds: ``images_{i}`` and ``labels_{i}`` for i = 0, 1, ...; a
    KeyError when it holds none or lacks labels."""
    count = max(1, sum(1 for name in arrays if name.startswith("images_")))
    return [ImageGroup(arrays[f"images_{i}"], arrays[f"labels_{i}"]) for i in range(count)]
