"""train.report.render's Q7-Q9 text from hand-made results (no training): validation over the
Q8 grid, the test set only for the chosen cell, the edge warning, Q9's mean of differences."""

from train.report.render import comparison_section, q8_section, q17_section

SIZES = {"num_train": 50_000, "num_val": 10_000, "test_n": 10_000, "epochs": 2}


def run(seed, lr, batch, val, test):
    summary = SIZES | {
        "best_val_accuracy": val,
        "test_accuracy": test,
        "train_seconds": 10.0,
        "compile_seconds": 1.0,
    }
    return {"seed": seed, "config": {"learning_rate": lr, "batch_size": batch}, "summary": summary}


def grid(best_lr, best_batch):
    """A 3 x 3 sweep whose best validation cell is (best_lr, best_batch); test accuracy 0.5 + 0.01
    per cell so that each cell's test number is recognisable."""
    variants = {}
    for i, lr in enumerate((1e-4, 1e-3, 1e-2)):
        for j, batch in enumerate((8, 16, 32)):
            val = 0.99 if (lr, batch) == (best_lr, best_batch) else 0.90
            test = 0.50 + 0.01 * (3 * i + j)
            variants[f"lr {lr}, batch {batch}"] = [run(s, lr, batch, val, test) for s in (0, 1)]
    return {"variants": variants}


def test_q8_shows_validation_over_the_grid_and_test_only_for_the_chosen_cell():
    text = "\n".join(q8_section(grid(1e-3, 16), "figures/q8_heatmap.png"))
    table = [line for line in text.splitlines() if line.startswith("| lr")]
    assert len(table) == 9 and all("99.00" in r or "90.00" in r for r in table)
    assert "test accuracy (%)" not in text
    assert "**lr 0.001, batch 16**; its test accuracy: **54.00 ± 0.00 %**" in text
    for other in (50, 51, 52, 53, 55, 56, 57, 58):  # no other cell's test accuracy
        assert f"{other}.00" not in text
    assert "edge" not in text  # the middle of the grid


def test_q8_warns_when_the_chosen_cell_lies_on_the_grids_edge():
    text = "\n".join(q8_section(grid(1e-2, 8), "f.png"))
    assert "on the grid's edge (the largest learning rate tried and the smallest batch size" in text
    text = "\n".join(q8_section(grid(1e-3, 32), "f.png"))
    assert "on the grid's edge (the largest batch size tried)" in text


def test_comparison_says_its_difference_is_the_mean_of_per_seed_differences():
    baseline = [run(s, 1e-3, 16, 0.99, t) for s, t in enumerate((0.9926, 0.9935, 0.9927))]
    augmented = [run(s, 1e-3, 16, 0.99, t) for s, t in enumerate((0.9940, 0.9955, 0.9948))]
    result = {"variants": {"baseline": baseline, "augmented": augmented}}
    text = "\n".join(
        comparison_section("Q9", result, "augmented", "baseline", "test_accuracy", None, [])
    )
    assert "augmented − baseline: +0.18 points" in text  # mean of 0.14, 0.20, 0.21
    assert "| augmented | 99.48 ± 0.08" in text and "| baseline | 99.29" in text  # 0.19 apart
    assert "the mean of the per-seed differences" in text


def q17(chosen_lr):
    """Two models tuned over three learning rates; each trains its chosen one with two seeds."""
    tuning, chosen, variants = {}, {}, {}
    for model in ("variable, global max", "resized to 64"):
        for lr in (1e-3, 2e-3, 4e-3):
            val = 0.99 if lr == chosen_lr else 0.90
            tuning.setdefault(model, {})[f"{model}, lr {lr}"] = run(0, lr, 16, val, 0.98)
        chosen[model] = f"{model}, lr {chosen_lr}"
        variants[model] = [run(s, chosen_lr, 16, 0.99, 0.98) for s in (0, 1)]
    return {"variants": variants, "tuning": tuning, "chosen": chosen, "pooling": "max"}


def test_q17_warns_when_a_chosen_learning_rate_ends_the_tried_range():
    warning = "at an end of the tried range for variable, global max, resized to 64"
    assert warning in "\n".join(q17_section(q17(4e-3), "figures/q17.png"))
    assert "tried range" not in "\n".join(q17_section(q17(2e-3), "figures/q17.png"))
