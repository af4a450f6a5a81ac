"""jaxconv.explorer: the numbers the notebooks' explorer draws, checked by hand and against the
loop oracles; the drawing and the sliders only checked to show them."""

import sys

import matplotlib
import numpy as np
import pytest

import jaxconv
from jaxconv import explorer

matplotlib.use("Agg")


def test_unfold_labels_of_a_padded_4x4():
    p = explorer.panels(4, 3, stride=1, padding=1)
    assert p["output_size"] == 4
    # output pixel (0, 0): five of its nine taps in the padding (0), then pixels 1, 2, 5, 6
    assert p["unfold_labels"][0].tolist() == [0, 0, 0, 0, 1, 2, 0, 5, 6]
    image = np.arange(1, 17, dtype=float).reshape(1, 4, 4, 1)
    loops = jaxconv.reference.unfold(image, 3, 1, 1).reshape(16, 9)
    np.testing.assert_array_equal(p["unfold_labels"], loops)


def test_overlap_counts_are_fold_of_unfold():
    counts = explorer.panels(4, 3, stride=1, padding=1)["overlap_counts"]
    assert counts.tolist() == [[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]]
    # stride 2 leaves gaps: rows 1 and 3 of a 5-row input are read by one window each, 2 by two
    counts = explorer.panels(5, 2, stride=3, padding=0)["overlap_counts"]
    assert counts.tolist()[0] == [1, 1, 0, 1, 1]


def test_gradient_taps_of_a_dilated_strided_kernel():
    p = explorer.panels(7, 3, stride=2, padding=1, dilation=2)
    assert p["output_size"] == 3 and p["position"] == (1, 1)
    # output pixel (1, 1) reads padded rows 1·2 + 2t, t = 0, 1, 2: input rows 1, 3, 5
    expected = np.zeros((7, 7), int)
    expected[np.ix_([1, 3, 5], [1, 3, 5])] = np.arange(1, 10).reshape(3, 3)
    np.testing.assert_array_equal(p["gradient_taps"], expected)


def test_taps_in_the_padding_are_dropped():
    taps = explorer.panels(2, 3, stride=1, padding=1)["gradient_taps"]
    # output pixel (1, 1) of a 2x2 input, kernel 3, padding 1: taps 1-4 land on the input
    assert taps.tolist() == [[1, 2], [4, 5]]


def test_transposed_is_the_input_gradient_of_its_forward():
    size, kernel, stride, padding, dilation = 3, 3, 2, 1, 1
    t = explorer.panels(size, kernel, stride, padding, dilation, transposed=True)
    assert t["input_size"] == explorer.transposed_input_size(size, kernel, stride, padding, 1) == 5
    assert t["output_size"] == size
    forward = explorer.panels(t["input_size"], kernel, stride, padding, dilation)
    np.testing.assert_array_equal(t["overlap_counts"], forward["overlap_counts"])
    np.testing.assert_array_equal(t["gradient_taps"], forward["gradient_taps"])
    assert t["overlap_counts"].tolist()[1] == [2, 4, 2, 4, 2]


@pytest.mark.parametrize(
    "groups, blocks",
    [(1, [[1, 1], [1, 1]]), (2, [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]])],
)
def test_kernel_matrix_is_block_diagonal(groups, blocks):
    matrix = explorer.kernel_matrix(2, groups)
    c = 2 * groups
    assert matrix.shape == (4 * c, c)
    per_group = np.kron(np.eye(groups, dtype=int), np.ones((2, 2), int))  # (C_in, C_out)
    np.testing.assert_array_equal(matrix, np.tile(per_group, (4, 1)))  # the same block per tap
    np.testing.assert_array_equal(matrix[:c].astype(int), per_group)
    assert per_group.tolist() == blocks


def test_a_kernel_that_does_not_fit_is_jaxconvs_error():
    with pytest.raises(ValueError, match="kernel 5 is larger than the padded input"):
        explorer.panels(3, 5, padding=0)
    with pytest.raises(ValueError, match="must be >= 1"):
        explorer.panels(1, 1, stride=1, padding=1, transposed=True)


def test_draw_writes_the_numbers():
    fig = explorer.draw(explorer.panels(4, 3, stride=1, padding=1))
    unfold_axes, counts_axes, taps_axes, kernel_axes = fig.axes
    assert [t.get_text() for t in unfold_axes.texts[:9]] == ["·"] * 4 + ["1", "2", "·", "5", "6"]
    assert [t.get_text() for t in counts_axes.texts[:4]] == ["4", "6", "6", "4"]
    assert "output 4×4" in counts_axes.get_title()
    assert len(taps_axes.texts) == 16 and len(kernel_axes.texts) == 0


def test_explore_builds_one_slider_per_argument():
    pytest.importorskip("ipywidgets")
    interactive = explorer.explore().widget
    names = [child.description for child in interactive.children[:-1]]
    assert names == [
        "input size",
        "kernel",
        "stride",
        "padding",
        "dilation",
        "groups",
        "transposed",
    ]


def test_missing_matplotlib_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install 'jaxconv\[docs\]'"):
        explorer.draw(explorer.panels(3, 1))


def test_draw_shows_only_the_panels_asked_for():
    fig = explorer.draw(explorer.panels(7, 2, stride=3), show=("unfold", "taps", "overlaps"))
    titles = [axes.get_title() for axes in fig.axes]
    assert len(titles) == 3
    assert titles[0].startswith("unfold") and titles[1].startswith("fold(unfold")
    assert "which tap" in titles[2] and not any("weights" in t for t in titles)
    with pytest.raises(ValueError, match="show names panels among unfold, overlaps, taps"):
        explorer.draw(explorer.panels(3, 1), show=("groups",))


def test_transposed_titles_give_y_then_the_output():
    fig = explorer.draw(explorer.panels(3, 3, stride=2, padding=1, transposed=True))
    assert "y 3×3, output 5×5" in fig.axes[1].get_title()
