"""The report's figures draw what they say: seed bands from known metrics, the Q8 heatmap's cells
from known results (no training: hand-made results of the shape train.report produces)."""

import numpy as np
import pytest

from train.report.figures import learning_curves, seed_band, sweep_heatmap


def run(seed, val_accuracy, train_loss=(0.5, 0.25), lr=1e-3, batch=16, test_accuracy=0.99):
    metrics = [{"val_accuracy": v, "train_loss": t} for v, t in zip(val_accuracy, train_loss)]
    config = {"learning_rate": lr, "batch_size": batch}
    summary = {"test_accuracy": test_accuracy}
    return {"seed": seed, "config": config, "summary": summary, "metrics": metrics}


def test_seed_band_is_mean_and_sample_std_per_epoch():
    runs = [run(0, (0.90, 0.96)), run(1, (0.92, 0.97)), run(2, (0.94, 0.98))]
    epochs, mean, std = seed_band(runs, "val_accuracy")
    assert epochs.tolist() == [1, 2]
    assert mean == pytest.approx([0.92, 0.97])
    assert std == pytest.approx([0.02, 0.01])  # ddof=1: sqrt((0.02² + 0 + 0.02²) / 2)


def test_seed_band_of_one_seed_has_no_spread_and_unequal_runs_are_cut():
    _, mean, std = seed_band([run(0, (0.9, 0.95))], "val_accuracy")
    assert mean.tolist() == [0.9, 0.95] and std.tolist() == [0.0, 0.0]
    epochs, _, _ = seed_band([run(0, (0.9, 0.95)), run(1, (0.9,))], "val_accuracy")
    assert epochs.tolist() == [1]


def test_learning_curves_draw_the_bands_they_return(tmp_path):
    series = {"a": [run(0, (0.90, 0.96)), run(1, (0.92, 0.97))], "b": [run(0, (0.5, 0.6))]}
    drawn = learning_curves(tmp_path / "curves.png", series, "test")
    assert set(drawn) == {(label, m) for label in "ab" for m in ("train_loss", "val_accuracy")}
    assert drawn["a", "val_accuracy"][1] == pytest.approx([0.91, 0.965])
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_sweep_heatmap_puts_each_mean_in_its_learning_rate_and_batch_cell(tmp_path):
    variants = {
        "lr 0.001, batch 16": [
            run(0, (0.9,), test_accuracy=0.98),
            run(1, (0.9,), test_accuracy=0.96),
        ],
        "lr 0.001, batch 32": [run(0, (0.9,), batch=32, test_accuracy=0.95)],
        "lr 0.003, batch 16": [run(0, (0.9,), lr=3e-3, test_accuracy=0.99)],
    }
    lrs, batches, grid = sweep_heatmap(tmp_path / "q8.png", variants)
    assert lrs == [1e-3, 3e-3] and batches == [16, 32]
    # rows: learning rate, columns: batch size; the pair (0.003, 32) was not run
    np.testing.assert_allclose(grid, [[0.97, 0.95], [0.99, np.nan]])
    assert (tmp_path / "q8.png").read_bytes()[:4] == b"\x89PNG"
