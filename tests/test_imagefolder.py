"""Reading ImageFolder trees (mnist-varres), grouping by resolution, bucketing, caching."""

import os
from pathlib import Path

import numpy as np
import pytest
from imagefolder_trees import RESOLUTIONS, add_color_images, tar_tree, write_tree
from PIL import Image

import train.data.mnist_varres as mnist_varres
from train.data.imagefolder import read_imagefolder
from train.data.mnist_varres import load_imagefolder_groups, load_mnist_varres
from train.data.resolution import bucket, group_by_resolution, resize_all
from train.errors import DataUnavailableError

DATA_DIR = os.environ.get("JAXCONV_DATA_DIR")


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "tree"
    return root, write_tree(root)


def test_reads_splits_labels_and_every_resolution(tree):
    root, written = tree
    decoded = read_imagefolder(root)
    assert sorted(decoded) == ["test", "train"]
    for split, entries in written.items():
        images, labels = decoded[split]
        assert sorted(labels.tolist()) == sorted(label for _, label, _ in entries)
        assert sorted(im.shape for im in images) == sorted(im.shape for *_, im in entries)
        assert all(im.dtype == np.uint8 and im.ndim == 2 for im in images)


def test_reads_the_same_from_a_tgz_as_from_the_folder(tree, tmp_path):
    root, _ = tree
    from_folder = read_imagefolder(root)
    from_archive = read_imagefolder(tar_tree(root, tmp_path / "tree.tgz"))
    for split in from_folder:
        np.testing.assert_array_equal(from_archive[split][1], from_folder[split][1])
        for a, b in zip(from_archive[split][0], from_folder[split][0]):
            np.testing.assert_array_equal(a, b)


def test_rgb_and_palette_images_become_grayscale(tmp_path):
    root = tmp_path / "colour"
    (root / "train" / "3").mkdir(parents=True)
    expected = add_color_images(root)  # train/3/palette.png and train/3/rgb.png
    images, labels = read_imagefolder(root)["train"]
    assert labels.tolist() == [3, 3]
    for image, name in zip(images, sorted(expected)):  # files are read in sorted order
        np.testing.assert_array_equal(image, expected[name])


def test_groups_one_array_per_resolution(tree):
    root, written = tree
    groups = group_by_resolution(*read_imagefolder(root)["train"])
    assert sorted(g.shape[:2] for g in groups) == sorted(RESOLUTIONS)
    assert sum(len(g) for g in groups) == len(written["train"])
    assert all(
        g.images.dtype == np.uint8 and g.images.shape[-1] == 1 and g.sizes is None for g in groups
    )


def test_corrupt_image_is_named_in_the_error(tree):
    root, _ = tree
    bad = root / "train" / "4" / "broken.png"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    with pytest.raises(DataUnavailableError, match="cannot decode .*train/4/broken.png"):
        read_imagefolder(root)


def test_class_folder_that_is_not_a_digit_is_named(tree):
    root, _ = tree
    (root / "train" / "cat").mkdir()
    Image.new("L", (8, 8)).save(root / "train" / "cat" / "y.png")
    with pytest.raises(DataUnavailableError, match="class folder 'cat' .* is not a digit"):
        read_imagefolder(root)


def test_empty_split_is_an_error(tmp_path):
    root = tmp_path / "tree"
    write_tree(root, splits=("train",))
    with pytest.raises(DataUnavailableError, match="the 'test' split of .* is empty"):
        read_imagefolder(root, ("train", "test"))


def test_bucketing_many_resolutions_onto_few_canvases():
    rng = np.random.default_rng(0)
    shapes = [(h, w) for h in (20, 27, 33, 41, 50) for w in (18, 30, 45)]  # 15 resolutions
    images = [rng.integers(1, 255, s).astype(np.uint8) for s in shapes for _ in range(2)]
    labels = np.arange(len(images), dtype=np.int32) % 10
    groups = bucket(group_by_resolution(images, labels), max_shapes=8, step=16)
    assert len(groups) <= 8
    assert sum(len(g) for g in groups) == len(images)
    by_label_and_shape = {}
    for g in groups:
        assert g.sizes is not None
        for image, label, (h, w) in zip(g.images[..., 0], g.labels, g.sizes):
            assert image.shape[0] >= h and image.shape[1] >= w
            assert (
                not image[h:].any() and not image[:, w:].any()
            )  # padding is zero, image at the top-left
            by_label_and_shape.setdefault((int(label), (int(h), int(w))), []).append(image[:h, :w])
    for image, label in zip(images, labels):
        assert any(np.array_equal(image, b) for b in by_label_and_shape[(int(label), image.shape)])


def test_few_resolutions_are_not_bucketed(tree):
    root, _ = tree
    groups = group_by_resolution(*read_imagefolder(root)["train"])
    assert bucket(groups, max_shapes=8, step=16) is groups


def test_resize_all_makes_one_group(tree):
    root, written = tree
    group = resize_all(group_by_resolution(*read_imagefolder(root)["test"]), 28)
    assert group.images.shape == (len(written["test"]), 28, 28, 1)


def test_decoded_arrays_are_cached_by_content(tree, tmp_path, monkeypatch):
    root, _ = tree
    first = load_imagefolder_groups(root, tmp_path / "cache", ("train", "test"))
    monkeypatch.setattr(
        mnist_varres, "read_imagefolder", lambda *a: pytest.fail("decoded again despite the cache")
    )
    second = load_imagefolder_groups(root, tmp_path / "cache", ("train", "test"))
    for split in first:
        for a, b in zip(first[split], second[split]):
            np.testing.assert_array_equal(a.images, b.images)
            np.testing.assert_array_equal(a.labels, b.labels)


def test_missing_mnist_varres_without_download_is_one_clear_error(tmp_path):
    with pytest.raises(
        DataUnavailableError,
        match="mnist-varres not found .*looked for .*mnist-varres.tgz.*JAXCONV_DATA_DIR",
    ):
        load_mnist_varres(tmp_path / "cache", tmp_path, download=False)


def test_failed_download_is_one_clear_error(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("Name or service not known")

    monkeypatch.setattr(mnist_varres.urllib.request, "urlopen", offline)
    with pytest.raises(
        DataUnavailableError,
        match="downloading https://dlvu.github.io/data/mnist-varres.tgz failed",
    ):
        load_mnist_varres(tmp_path / "cache", None, download=True)
    assert not list((tmp_path / "cache").glob("*.part"))


@pytest.mark.slow
@pytest.mark.skipif(
    not DATA_DIR, reason="JAXCONV_DATA_DIR is unset: the real mnist-varres.tgz test needs it"
)
def test_real_mnist_varres_tgz(mnist_cache):
    splits = load_mnist_varres(mnist_cache, Path(DATA_DIR), download=False)
    assert [g.shape for g in splits["train"]] == [(32, 32, 1), (48, 48, 1), (64, 64, 1)]
    assert (
        sum(len(g) for g in splits["train"]) == 60_000
        and sum(len(g) for g in splits["test"]) == 10_000
    )
    test_labels = np.concatenate([g.labels for g in splits["test"]])
    assert np.bincount(test_labels, minlength=10).tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]


def _png(image: Image.Image, fmt: str = "PNG") -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def _mode_cases():
    """(name, encoded image, expected uint8 (H, W)): a digit-like square of ink 204 on 0, in many
    modes."""
    ink = np.zeros((8, 8), np.uint8)
    ink[2:6, 3:5] = 204
    opaque = np.where(ink > 0, 255, 0).astype(np.uint8)
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., :3] = (
        255  # transparent pixels are white underneath: only the alpha says they are background
    )
    rgba[..., 3] = opaque  # the ink opaque, white
    dark = rgba.copy()
    dark[..., :3] = 0  # black ink on a transparent background
    la = np.stack([np.full((8, 8), 255, np.uint8), rgba[..., 3]], -1)
    palette = Image.fromarray(np.where(ink > 0, 1, 0).astype(np.uint8), mode="P")
    palette.putpalette([0, 0, 0, 204, 204, 204] + [0] * 762)
    transparent_palette = Image.fromarray(np.where(ink > 0, 1, 0).astype(np.uint8), mode="P")
    transparent_palette.putpalette([255, 255, 255, 255, 255, 255] + [0] * 762)
    transparent_palette.info["transparency"] = 0  # colour 0 (white) is transparent
    return [
        ("16-bit PNG (I;16)", _png(Image.fromarray(ink.astype(np.uint16) * 257)), ink),
        (
            "32-bit integer TIFF (I), 16-bit range",
            _png(Image.fromarray(ink.astype(np.int32) * 257), "TIFF"),
            ink,
        ),
        (
            "float TIFF (F) in [0, 1]",
            _png(Image.fromarray(ink.astype(np.float32) / 255), "TIFF"),
            ink,
        ),
        ("RGBA, light ink on transparent white", _png(Image.fromarray(rgba, mode="RGBA")), opaque),
        ("RGBA, dark ink on transparent", _png(Image.fromarray(dark, mode="RGBA")), 255 - opaque),
        ("LA, light ink", _png(Image.fromarray(la, mode="LA")), opaque),
        ("P", _png(palette), ink),
        ("P with a transparent colour", _png(transparent_palette), opaque),
        ("1 (bilevel)", _png(Image.fromarray(ink > 0).convert("1")), opaque),
    ]


@pytest.mark.parametrize(
    "name, data, expected", _mode_cases(), ids=[case[0] for case in _mode_cases()]
)
def test_every_image_mode_is_scaled_to_8_bits(name, data, expected):
    from train.data.imagefolder import decode_gray

    np.testing.assert_array_equal(decode_gray(data, name), expected)
