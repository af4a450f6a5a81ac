"""python -m train.guide_figures: the numbers the guide's figures show are the ones it claims."""

import json

import numpy as np
import pytest
from flax import nnx
from PIL import Image
from synthetic import blobs

import configs.fixed
from train.data.datasets import Datasets
from train.guide_figures.__main__ import main
from train.guide_figures.trained import draw_trained
from train.loop import train_and_evaluate
from train.models import VarResCNN, model_factory
from train.progress import EpochProgress
from train.run import Run
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
    assert result["geometry"] == {"size": 7, "kernel": 3, "stride": 2, "padding": 1, "output": 4}
    np.testing.assert_array_equal(result["dx"], result["frame"][1:-1, 1:-1])  # inside the box
    assert result["frame"].sum() == 4 * 4 * 9 and result["dx"].sum() < result["frame"].sum()
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
        and graph["shapes"]["g'"] == graph["shapes"]["Y'"] == (18, 4)
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


def test_group_kernels_are_block_diagonal_only_after_a_row_permutation(drawn):
    """Rows (tap, channel) as in U: group g's rows recur once per tap. Reordered to (group, tap,
    channel), the matrix is diag(W_1, W_2) with blocks of (9·2, 2)."""
    grouped = list(drawn[1]["group_kernels"]["matrices"].values())[1]  # (36, 4), rows (t, c)
    nonzero = grouped != 0
    first_rows = nonzero[:4]  # tap 0, channels 0-3: both groups' blocks in four rows
    assert first_rows[:2, :2].all() and first_rows[2:, 2:].all() and not first_rows[:2, 2:].any()
    assert not np.all(nonzero[:18, 2:] == 0)  # the first half of the rows is not group 0's block
    by_group = grouped.reshape(9, 2, 2, 4).transpose(1, 0, 2, 3).reshape(36, 4)  # (g, t, c) rows
    block = np.kron(np.eye(2), np.ones((18, 2)))  # diag of two (18, 2) blocks
    assert np.array_equal(by_group != 0, block != 0)


def test_transposed_convolution_fold_view_equals_zero_insertion(drawn):
    views = drawn[1]["transposed_views"]
    assert views["fold"].shape == (7, 7) and views["fold"][2, 2] == 1 + 2 + 4 + 5
    np.testing.assert_allclose(views["fold"], views["insertion"], rtol=1e-6)
    np.testing.assert_allclose(views["fold"], views["lhs_dilation"], rtol=1e-6)


def test_upsampled_digit_is_bilinear_inside(drawn):
    up = drawn[1]["upsampled_digit"]
    assert up["upsampled"].shape == (56, 56)
    np.testing.assert_allclose(up["upsampled"][1:-1, 1:-1], up["resized"][1:-1, 1:-1], atol=1e-5)


ANIMATIONS = [
    "anim_forward",
    "anim_input_grad",
    "anim_weight_grad",
    "anim_dilation",
    "anim_transposed",
]


def test_the_command_writes_every_animation_as_a_small_gif(drawn):
    out, results = drawn
    for name in ANIMATIONS:
        with Image.open(out / f"{name}.gif") as gif:
            frames = gif.n_frames
        assert (out / f"{name}.gif").stat().st_size < 400_000, name
        extra = 1 if name in ("anim_input_grad", "anim_transposed") else 0  # the cropping frame
        assert frames == len(results[name]["frames"]) + extra, name


@pytest.mark.slow
def test_only_draws_just_the_named_figures(tmp_path):
    results = main(["--only", "anim_dilation", "ch1_output_size", "--out", str(tmp_path)])
    assert set(results) == {"anim_dilation", "output_windows"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "anim_dilation.gif",
        "ch1_output_size.png",
    ]


def test_forward_animation_frames_are_the_windows_of_the_padded_strided_input(drawn):
    r = drawn[1]["anim_forward"]
    padded = np.pad(r["x"], 1)  # (7, 7)
    assert [f["corner"] for f in r["frames"][:3]] == [(0, 0), (0, 2), (0, 4)]  # stride 2
    for frame in r["frames"]:
        (a, b), pixel = frame["corner"], frame["pixel"]
        np.testing.assert_array_equal(frame["patch"], padded[a : a + 3, b : b + 3])
        assert frame["value"] == pytest.approx(r["y"][pixel])  # jaxconv.conv's output pixel


def test_input_grad_animation_adds_each_tap_two_rows_apart_then_crops(drawn):
    r = drawn[1]["anim_input_grad"]
    for frame in r["frames"]:
        i, j = frame["tap"]
        landed = np.argwhere(frame["placed"] != 0)
        y_x = (landed - (i, j)) / 2  # rows 2y + i, columns 2x + j of output pixels (y, x)
        assert np.all((y_x == np.round(y_x)) & (y_x >= 0) & (y_x < 3)), frame["tap"]
    np.testing.assert_allclose(sum(f["placed"] for f in r["frames"]), r["frames"][-1]["total"])
    np.testing.assert_allclose(r["frames"][-1]["total"][1:-1, 1:-1], r["dx"])
    np.testing.assert_allclose(r["dx"], r["loops"], atol=1e-5)


def test_weight_grad_animation_accumulates_to_jaxconvs_weight_grad(drawn):
    r = drawn[1]["anim_weight_grad"]
    padded = np.pad(r["x"], 1)
    expected = np.zeros((3, 3))
    for frame in r["frames"]:
        (y, x), g = frame["pixel"], frame["g"]
        assert g == r["g"][y, x]
        expected += g * padded[2 * y : 2 * y + 3, 2 * x : 2 * x + 3]
        np.testing.assert_allclose(frame["total"], expected)
    np.testing.assert_allclose(expected, r["dw"], atol=1e-5)


def test_dilation_animation_reads_every_other_pixel(drawn):
    r = drawn[1]["anim_dilation"]
    for frame in r["frames"]:
        y, x = frame["pixel"]
        np.testing.assert_array_equal(frame["read"], r["x"][y : y + 5 : 2, x : x + 5 : 2].ravel())
        assert r["y"][y, x] == frame["read"].sum()
    assert r["frames"][4]["read"].tolist() == [9, 11, 13, 23, 25, 27, 37, 39, 41]


def test_transposed_animation_scatter_adds_to_conv_transpose(drawn):
    r = drawn[1]["anim_transposed"]
    frame_7x7 = np.zeros((7, 7))
    for frame in r["frames"]:
        y, x = frame["pixel"]
        frame_7x7[2 * y : 2 * y + 3, 2 * x : 2 * x + 3] += r["y"][y, x] * r["kernel"]
        np.testing.assert_allclose(frame["total"], frame_7x7)
    np.testing.assert_allclose(frame_7x7[1:-1, 1:-1], r["z"], atol=1e-5)
    gradient = drawn[1]["anim_input_grad"]  # the same y = g and kernel: the input gradient
    np.testing.assert_array_equal(r["y"], gradient["g"])
    np.testing.assert_allclose(r["z"], gradient["dx"], atol=1e-5)


@pytest.fixture(scope="module")
def tiny_fixed_run(tmp_path_factory):
    """One epoch of the fixed network on 160 synthetic images: seconds."""
    config = configs.fixed.get_config()
    config.update(num_epochs=1, batch_size=16, learning_rate=3e-3, eval_batch_size=40)
    workdir = tmp_path_factory.mktemp("guide") / "run"
    data = Datasets([blobs(160, seed=1)], [blobs(40, seed=2)], [blobs(40, seed=3)])
    with Run.open(workdir, config) as run:
        train_and_evaluate(
            run.config, run, data, model_factory(config), progress=EpochProgress(live=False)
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
