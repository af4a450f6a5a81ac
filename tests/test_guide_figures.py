"""python -m train.guide_figures: the numbers the guide's figures show are the ones it claims."""

import json

import numpy as np
import pytest
from flax import nnx
from synthetic import blobs

import configs.fixed
from train.cli import prepare_workdir
from train.data.datasets import Datasets
from train.guide_figures.__main__ import main
from train.guide_figures.trained import draw_trained
from train.loop import train_and_evaluate
from train.models import VarResCNN, model_factory
from train.progress import EpochProgress
from train.trained import TrainedRun

# trains networks (shared module fixtures): the whole module is in the full suite only
pytestmark = pytest.mark.slow

FIGURES = [
    "ch1_output_size",
    "ch2_unfold_grid",
    "ch3_overlap_counts",
    "ch3_strided_input_grad",
    "ch3_computation_graph",
    "ch4_report_backward",
    "ch5_taps",
    "ch5_group_kernels",
    "ch6_transposed_views",
    "ch6_upsampled_digit",
]


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """The command itself, on its quick settings (chapters 1-6, no data)."""
    out = tmp_path_factory.mktemp("figures")
    return out, main(["--quick", "--out", str(out)])


def test_the_command_writes_every_figure_as_a_small_png(drawn):
    out, _ = drawn
    for name in FIGURES:
        data = (out / f"{name}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 200_000, name


def test_output_size_windows_of_7_rows_kernel_3_stride_2_padding_1(drawn):
    windows = drawn[1]["output_windows"]
    assert windows["count"] == 4 and windows["starts"] == [0, 2, 4, 6]


def test_unfold_grid_rows_list_the_pixels_of_each_patch(drawn):
    grid = drawn[1]["unfold_grid"]
    assert grid["patches"].shape == (16, 9)
    assert grid["patches"][0].tolist() == [
        0,
        0,
        0,
        0,
        1,
        2,
        0,
        5,
        6,
    ]  # pixel (0, 0): 5 taps in the padding
    assert grid["patches"][5].tolist() == [
        1,
        2,
        3,
        5,
        6,
        7,
        9,
        10,
        11,
    ]  # pixel (1, 1): the 3x3 around pixel 6
    np.testing.assert_allclose(grid["product"], grid["conv"], rtol=1e-6)  # U W is the convolution


def test_fold_of_unfold_of_ones_counts_the_overlaps(drawn):
    counts = drawn[1]["overlap_counts"]["counts"]
    assert counts.tolist() == [[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]]


def test_strided_input_grad_places_taps_two_rows_apart_and_crops_the_ring(drawn):
    result = drawn[1]["strided_input_grad"]
    corner = result["taps"][(0, 0)]
    assert (
        corner[::2, ::2][:4, :4].tolist() == np.ones((4, 4)).tolist() and corner.sum() == 16
    )  # the stride's gaps
    np.testing.assert_array_equal(result["dx"], result["frame"][1:-1, 1:-1])
    assert result["dx"][0].tolist() == [
        1,
        2,
        1,
        2,
        1,
        2,
        1,
    ]  # g = W = 1: windows covering each pixel


def test_computation_graph_shapes_and_its_fold_is_the_gradient(drawn):
    graph = drawn[1]["computation_graph"]
    assert (
        graph["shapes"]["U"] == (18, 27)
        and graph["shapes"]["dW"] == (27, 4)
        and graph["shapes"]["dX"] == (2, 5, 5, 3)
    )
    np.testing.assert_allclose(graph["dx"], graph["dx_autodiff"], rtol=1e-5, atol=1e-5)


def test_the_reports_backward_is_wrong_and_jaxconvs_is_right(drawn):
    errors = drawn[1]["report_backward"]["errors"]
    assert errors["jaxconv"] < 1e-5
    assert errors["report: fold(U), stride 1, padding 0"] > 1.0
    assert (
        errors["fold(U), the forward's stride and padding"] > 1.0
    )  # each mistake alone is wrong too
    assert errors["fold(dU), stride 1, padding 0"] > 1.0


def test_tap_pictures_agree_with_unfold(drawn):
    taps = drawn[1]["taps"]
    assert taps["'SAME', k 4, stride 1 (7×7)"]["padding"] == ((1, 2), (1, 2))
    assert taps["'SAME', k 3, stride 2 (6×6)"]["padding"] == ((0, 1), (0, 1))
    for title, case in taps.items():
        width = case["frame"][1] - sum(case["padding"][1])
        height = case["frame"][0] - sum(case["padding"][0])
        expected = []
        for row, col in case["reads"]:
            r, c = row - case["low"][0], col - case["low"][1]
            expected.append(r * width + c + 1 if 0 <= r < height and 0 <= c < width else 0)
        assert case["labels"].tolist() == expected, title


def test_group_kernels_are_block_diagonal(drawn):
    matrices = list(drawn[1]["group_kernels"]["matrices"].values())
    dense, grouped, depthwise = (
        m.reshape(9, 4, 4) for m in matrices
    )  # (tap, input channel, output channel)
    c, o = np.meshgrid(range(4), range(4), indexing="ij")
    assert np.all(dense != 0)
    assert np.all((grouped != 0) == (c // 2 == o // 2)[None])
    assert np.all((depthwise != 0) == (c == o)[None])


def test_transposed_convolution_fold_view_equals_zero_insertion(drawn):
    views = drawn[1]["transposed_views"]
    assert views["fold"].shape == (7, 7) and views["fold"][2, 2] == 1 + 2 + 4 + 5
    np.testing.assert_allclose(views["fold"], views["insertion"], rtol=1e-6)
    np.testing.assert_allclose(views["fold"], views["lhs_dilation"], rtol=1e-6)


def test_upsampled_digit_is_bilinear_inside(drawn):
    up = drawn[1]["upsampled_digit"]
    assert up["upsampled"].shape == (56, 56)
    np.testing.assert_allclose(up["upsampled"][1:-1, 1:-1], up["resized"][1:-1, 1:-1], atol=1e-5)


@pytest.fixture(scope="module")
def tiny_fixed_run(tmp_path_factory):
    """One epoch of the fixed network on 160 synthetic images: seconds."""
    config = configs.fixed.get_config()
    config.update(num_epochs=1, batch_size=16, learning_rate=3e-3, eval_batch_size=40)
    workdir = tmp_path_factory.mktemp("guide") / "run"
    config = prepare_workdir(workdir, False, config, {})
    data = Datasets([blobs(160, seed=1)], [blobs(40, seed=2)], [blobs(40, seed=3)])
    train_and_evaluate(
        config, workdir, data, model_factory(config), progress=EpochProgress(live=False)
    )
    return TrainedRun(workdir)


def test_trained_chapter_from_a_tiny_run(tmp_path, tiny_fixed_run):
    test = blobs(40, seed=3)
    images, labels = test.images[..., 0], test.labels
    varres = (VarResCNN(rngs=nnx.Rngs(0)), blobs(1, 32, 32, seed=4).images[0, :, :, 0])
    result = draw_trained(tmp_path, tiny_fixed_run, images, labels, varres)
    assert {p.stem for p in tmp_path.glob("*.png")} == {
        "ch7_filters",
        "ch7_feature_maps",
        "ch7_mistakes",
        "ch7_varres_masks",
    }
    assert result["filters"]["filters"].shape == (3, 3, 16)
    assert [m.shape for m in result["feature_maps"]["maps"]] == [
        (14, 14, 16),
        (7, 7, 32),
        (3, 3, 64),
    ]
    confusion, wrong = result["mistakes"]["confusion"], result["mistakes"]["misclassified"]
    assert confusion.sum() == 40 and confusion.sum() - np.trace(confusion) == len(wrong)
    summary = json.loads(
        (tiny_fixed_run.workdir / "summary.json").read_text()
    )  # the same 40 test images
    assert np.trace(confusion) / 40 == pytest.approx(summary["test_accuracy"])
    masks = result["varres_masks"]
    assert [m.shape for m in masks["masks"]] == [(32, 32), (16, 16), (8, 8)]
    assert [int(m.sum()) for m in masks["masks"]] == [16 * 16, 8 * 8, 4 * 4]
    np.testing.assert_allclose(masks["logits_padded"], masks["logits_alone"], rtol=1e-5, atol=1e-5)
