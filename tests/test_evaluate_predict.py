"""python -m train.evaluate and python -m train.predict on tiny trained runs."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from imagefolder_trees import write_tree
from synthetic import blobs

import configs.fixed
import configs.varres
from train.data.datasets import Datasets
from train.data.imagefolder import read_imagefolder
from train.loop import train_and_evaluate
from train.models import model_factory
from train.progress import EpochProgress
from train.run import Run
from train.trained import TrainedRun

# trains networks (shared module fixtures): the whole module is in the full suite only
pytestmark = pytest.mark.slow


def train_tiny_run(workdir, config, datasets):
    with Run.open(workdir, config) as run:
        train_and_evaluate(
            run.config, run, datasets, model_factory(config), progress=EpochProgress(live=False)
        )
    return workdir


@pytest.fixture(scope="module")
def varres_run(tmp_path_factory):
    config = configs.varres.get_config()
    config.update(num_epochs=4, batch_size=8, learning_rate=3e-3, eval_batch_size=40)
    groups = [blobs(160, 32, 32, seed=1), blobs(160, 48, 48, seed=2), blobs(160, 40, 24, seed=3)]
    held_out = [blobs(40, 32, 32, seed=4)]
    return train_tiny_run(
        tmp_path_factory.mktemp("varres") / "run", config, Datasets(groups, held_out, held_out)
    )


@pytest.fixture(scope="module")
def fixed_run(tmp_path_factory):
    config = configs.fixed.get_config()
    config.update(num_epochs=3, batch_size=8, learning_rate=3e-3, eval_batch_size=40)
    data = Datasets([blobs(480, seed=1)], [blobs(40, seed=2)], [blobs(40, seed=3)])
    return train_tiny_run(tmp_path_factory.mktemp("fixed") / "run", config, data)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("tree")
    write_tree(root, splits=("test",), per_class=3, seed=50)  # 90 images at 32x32, 48x48 and 40x24
    return root


def run_module(*args):
    done = subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()


@pytest.mark.parametrize("which", ["varres_run", "fixed_run"])
def test_evaluate_on_an_imagefolder_tree_prints_json_last(which, tree, request):
    workdir = request.getfixturevalue(which)
    lines = run_module("train.evaluate", f"--workdir={workdir}", f"--data={tree}")
    result = json.loads(lines[-1])
    assert result["n"] == 90
    assert result["accuracy"] > 0.5  # chance is 0.1; the fixed run sees resized images
    # the same number the library computes directly
    run = TrainedRun(workdir)
    expected = run.evaluate(run.prepare(*read_imagefolder(tree)["test"]))
    assert result["accuracy"] == pytest.approx(expected["accuracy"])


def test_predict_prints_a_digit_and_probability_per_image(varres_run, tree):
    images = sorted((tree / "test").rglob("*.png"))[:6]
    lines = run_module("train.predict", f"--workdir={varres_run}", *map(str, images))
    assert len(lines) == 6
    run = TrainedRun(varres_run)
    from train.data.imagefolder import decode_gray

    probabilities = run.predict([decode_gray(p.read_bytes(), str(p)) for p in images])
    for line, path, p in zip(lines, images, probabilities):
        name, digit, probability = line.split("\t")
        assert name == str(path) and int(digit) == int(np.argmax(p))
        assert (
            float(probability) == pytest.approx(float(p.max()), abs=1e-4)
            and 0.0 < float(probability) <= 1.0
        )
    correct = sum(
        int(line.split("\t")[1]) == int(path.parent.name) for line, path in zip(lines, images)
    )
    assert correct >= 4


def test_predict_and_evaluate_refuse_bad_input_clearly(varres_run, tmp_path):
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "train.predict",
            f"--workdir={varres_run}",
            str(tmp_path / "nope.png"),
        ],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "no such image file" in missing.stderr
    not_a_run = subprocess.run(
        [sys.executable, "-m", "train.evaluate", f"--workdir={tmp_path}"],
        capture_output=True,
        text=True,
    )
    assert not_a_run.returncode == 2 and "has no config.json" in not_a_run.stderr


def test_evaluate_reads_only_the_test_split_of_a_tree(fixed_run, tmp_path):
    from train.errors import DataUnavailableError
    from train.evaluate import evaluate_run

    write_tree(tmp_path / "both", splits=("train", "test"), per_class=1, seed=7)
    (tmp_path / "both" / "train" / "3" / "broken.png").write_bytes(b"not a png")  # never decoded
    assert evaluate_run(fixed_run, tmp_path / "both")["n"] == 30
    write_tree(tmp_path / "train_only", splits=("train",), per_class=1, seed=8)
    with pytest.raises(DataUnavailableError, match="no images found in .*train_only in the split"):
        evaluate_run(fixed_run, tmp_path / "train_only")


def test_sixteen_bit_and_inverted_images_predict_like_the_original(
    fixed_run, tree, tmp_path, capsys
):
    from PIL import Image

    from train.predict import predict_images

    originals = sorted((tree / "test").rglob("0-*.png"))[:4]  # 32x32
    sixteen, inverted = [], []
    for i, path in enumerate(originals):
        image = np.asarray(Image.open(path))
        sixteen.append(tmp_path / f"{i}-16bit.png")
        Image.fromarray(image.astype(np.uint16) * 257).save(sixteen[-1])  # mode I;16
        inverted.append(tmp_path / f"{i}-inverted.png")
        Image.fromarray(255 - image).save(inverted[-1])
    both = predict_images(fixed_run, originals + sixteen)
    assert "look inverted" not in capsys.readouterr().err
    expected, got_16 = both[:4], both[4:]
    got_inverted = predict_images(fixed_run, inverted, invert=True)
    assert "look inverted" not in capsys.readouterr().err  # --invert: nothing to warn about
    for got in (got_16, got_inverted):
        assert [digit for _, digit, _ in got] == [digit for _, digit, _ in expected]
        assert [p for *_, p in got] == pytest.approx([p for *_, p in expected], abs=1e-5)
    predict_images(fixed_run, inverted)
    warning = capsys.readouterr().err.strip()
    assert (
        warning.startswith("warning: 4 of 4 images look inverted")
        and "--invert" in warning
        and "\n" not in warning
    )


def test_evaluate_warns_about_an_inverted_tree_and_inverts_it(fixed_run, tree, tmp_path):
    from PIL import Image

    from train.evaluate import evaluate_run

    for path in (tree / "test").rglob("*.png"):
        target = tmp_path / "inverted" / path.relative_to(tree)
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(255 - np.asarray(Image.open(path))).save(target)
    original = evaluate_run(fixed_run, tree)
    assert "warning" not in original
    assert "--invert" in evaluate_run(fixed_run, tmp_path / "inverted")["warning"]
    inverted = evaluate_run(fixed_run, tmp_path / "inverted", invert=True)
    assert "warning" not in inverted and inverted["accuracy"] == pytest.approx(original["accuracy"])


def test_evaluate_prints_per_class_accuracy_confusion_and_misclassified_files(
    fixed_run, tree, capsys
):
    from train.evaluate import main

    main(
        [
            f"--workdir={fixed_run}",
            f"--data={tree}",
            "--per_class",
            "--confusion",
            "--misclassified",
        ]
    )
    lines = capsys.readouterr().out.strip().splitlines()
    result = json.loads(lines[-1])
    confusion = np.asarray(result["confusion"])  # rows: true digit, columns: predicted
    assert confusion.shape == (10, 10) and confusion.sum() == result["n"] == 90
    assert np.trace(confusion) / 90 == pytest.approx(result["accuracy"])
    assert result["per_class"] == pytest.approx((np.diag(confusion) / confusion.sum(1)).tolist())
    assert [line for line in lines if line.startswith("digit ")] == [
        f"digit {d}: accuracy {result['per_class'][d]:.4f} of {confusion[d].sum()}"
        for d in range(10)
    ]
    assert any(line.startswith("true \\ predicted") for line in lines)
    wrong = [line.split("\t") for line in lines if "\tpredicted " in line]
    assert len(wrong) == len(result["misclassified"]) == 90 - np.trace(confusion)
    for file, true, predicted in wrong:
        assert (
            (tree / "test").as_posix() in file
            and true == f"true {Path(file).parent.name}"
            and predicted != f"predicted {true[5:]}"
        )


def test_evaluate_on_a_truncated_tgz_is_one_line_naming_it(fixed_run, tree, tmp_path):
    from imagefolder_trees import tar_tree

    archive = tar_tree(tree, tmp_path / "tree.tgz")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    command = [
        sys.executable,
        "-m",
        "train.evaluate",
        f"--workdir={fixed_run}",
        f"--data={archive}",
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.strip() == done.stderr.strip().splitlines()[0]
    assert f"{archive} is truncated or corrupt" in done.stderr
