"""report.md as text, from the experiments' results (build.py), the calls that built it and what
the report computes from the code (facts.py)."""

from __future__ import annotations

from train.report.stats import best_by_mean, compare, pct, seconds, sweep_grid, verdict


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
        "",
    ]


def _variant_rows(variants: dict, keys=("test_accuracy", "best_val_accuracy")) -> list[list[str]]:
    rows = []
    for label, runs in variants.items():
        epochs = runs[0]["summary"]["epochs"]
        rows.append([label, *(pct(runs, k) for k in keys), str(epochs), seconds(runs)])
    return rows


VARIANT_HEADER = [
    "variant",
    "test accuracy (%)",
    "best validation accuracy (%)",
    "epochs",
    "time per run (s)",
]


def part1(facts: dict) -> list[str]:
    (h1, w1), (h2, w2) = facts["q10_sizes"]
    return [
        "## Part 1: the convolution",
        "",
        "**Q1.** The weights are one 4-D tensor of shape (kernel height, kernel width, input "
        "channels, output channels) (HWIO, flax's layout), plus one bias per output channel. The "
        "nested loops, one multiply-add at a time, are `jaxconv.reference.conv2d`; the tests hold "
        "the fast code to them.",
        "",
        "**Q2.** H_out = floor((H + 2·padding − kernel) / stride) + 1 (`jaxconv.output_size`). For "
        f"227 with an 11×11 kernel, padding 0, stride 4: {facts['q2_size']}.",
        "",
        "**Q3.** `jaxconv.reference.unfold`: loops over images, output pixels, kernel rows, kernel "
        "columns and channels, copying the padded input into one row per output pixel, entries "
        "ordered (i, j, c).",
        "",
        "**Q4-Q6.** With U = unfold(X) (M×K), W (K×C_out) and g = dL/dY reshaped to M×C_out: dW = "
        "Uᵀg, dU = gWᵀ, dX = fold(dU), where fold adds every patch entry back onto the pixel it "
        "came from (the adjoint of unfold). The derivation with shapes is in `docs/guide.md` in "
        "the repository and above the VJP in `jaxconv/_conv.py`. The student report folds the "
        "forward patches U instead of dU, and folds with stride 1 and padding 0 whatever the "
        "forward used; both are wrong. `jaxconv.conv2d` is a `jax.custom_vjp` with exactly this "
        "backward, tested against loop oracles, finite differences and lax's own gradients.",
        "",
        "**Q10.** A 5×5 kernel, padding 1, stride 2, 3→16 channels: a 3-channel 1024×768 image "
        f"(768 rows, 1024 columns) gives 16×{h1}×{w1}; a 1920×1080 image gives 16×{h2}×{w2} "
        "(computed by `jaxconv.output_size`). An 8-channel image does **not** fit: every kernel "
        "position multiplies C_in channels by C_in weights, so the kernel's 3 input channels "
        "cannot take 8 (the student report says it would work). jaxconv refuses it:",
        "",
        f"    ValueError: {facts['q10_refusal']}",
        "",
        "**Q11.** With x of shape (b, c, h, w) in PyTorch: `x.amax(dim=(2, 3))` and "
        "`x.mean(dim=(2, 3))`. jaxconv is channels-last, so `x.max(axis=(1, 2))` and "
        "`x.mean(axis=(1, 2))` (`jaxconv.global_max_pool`, `jaxconv.global_mean_pool`, which also "
        "take a mask for padded images). The report's `torch.flatten(nn.AdaptiveMaxPool2d(1), 1)` "
        "flattens a module, not the pooled input.",
        "",
    ]


def q8_section(result: dict, figure: str) -> list[str]:
    """Q7 and Q8: the grid by validation accuracy only; the test set for the chosen cell only."""
    variants = result["variants"]
    best = best_by_mean(variants, "best_val_accuracy")
    sizes = next(iter(variants.values()))[0]["summary"]  # num_train, num_val, test_n of one run
    grid_keys = ("best_val_accuracy",)
    header = [h for h in VARIANT_HEADER if not h.startswith("test")]
    return [
        "## Part 2: MNIST",
        "",
        "**Q7.** MNIST comes from tensorflow-datasets into NumPy arrays in memory; its training "
        f"images are split {sizes['num_train']:,} / {sizes['num_val']:,} into training and "
        f"validation, deterministically per seed. Every choice below is made on validation "
        f"accuracy; the {sizes['test_n']:,} test images only measure the chosen setting, with its "
        "best-by-validation checkpoint. Training loops over shuffled batches (16 by default).",
        "",
        "**Q8.** The network of the first table (29,066 parameters), Adam with a cosine-decayed "
        "learning rate, over learning rates and batch sizes (validation only):",
        "",
        *_table(header, _variant_rows(variants, grid_keys)),
        f"![Q8 heatmap]({figure})",
        "",
        f"Best mean validation accuracy: **{best}**; its test accuracy: "
        f"**{pct(variants[best], 'test_accuracy')} %**.",
        *q8_edge_warning(variants, best),
        "",
    ]


def q8_edge_warning(variants: dict, best: str) -> list[str]:
    """A sentence when the chosen cell lies on the grid's edge (as Q17 warns for its range)."""
    lrs, batches, _ = sweep_grid(variants, "best_val_accuracy")
    config = variants[best][0]["config"]
    ends = [
        f"the {end} {name} tried"
        for name, value, tried in (
            ("learning rate", config["learning_rate"], lrs),
            ("batch size", config["batch_size"], batches),
        )
        if (end := _end_of(value, tried))
    ]
    if not ends:
        return []
    return [
        "",
        f"The chosen cell lies on the grid's edge ({' and '.join(ends)}): a wider grid might do "
        "better.",
    ]


def _end_of(value, tried: list) -> str | None:
    """ "largest" or "smallest" when ``value`` is at an end of a range of more than two (sorted)."""
    if len(tried) > 2 and value in (tried[0], tried[-1]):
        return "largest" if value == tried[-1] else "smallest"
    return None


def comparison_section(
    title: str, result: dict, a: str, b: str, key: str, figure: str | None, extra: list[str]
) -> list[str]:
    variants = result["variants"]
    lines = [title, "", *_table(VARIANT_HEADER, _variant_rows(variants))]
    lines += [
        "Comparison on the "
        + ("test" if key == "test_accuracy" else "validation")
        + f" set: {verdict(compare(variants[a], variants[b], key), a, b)} {MEAN_OF_DIFFERENCES}",
        "",
    ]
    if figure:
        lines += [f"![learning curves]({figure})", ""]
    return lines + extra


MEAN_OF_DIFFERENCES = (
    "The difference is the mean of the per-seed differences of the unrounded accuracies, so it "
    "can differ by 0.01 from the difference of the table's rounded means."
)


def q15_table(parameters: dict[str, int]) -> list[str]:
    rows = [[network, f"{count:,}"] for network, count in parameters.items()]
    return [
        "**Q15.** With N = 64 the variable network's linear layer has 64·10 + 10 weights instead "
        "of 576·10 + 10. `train.models.matching_width` finds the N whose parameter count is "
        "closest to the fixed network's:",
        "",
        *_table(["network", "parameters"], rows),
    ]


def q17_section(result: dict, figure: str) -> list[str]:
    tuning_rows = [
        [
            model,
            label.split("lr ")[1],
            f"{100 * run['summary']['best_val_accuracy']:.2f}",
            "✓" if result["chosen"][model] == label else "",
        ]
        for model, candidates in result["tuning"].items()
        for label, run in candidates.items()
    ]
    variants = result["variants"]
    reference = f"variable, global {result['pooling']}"
    lines = [
        "**Q17.** Tuning (no augmentation): each model's learning rate chosen on the validation "
        "accuracy of the first seed, then the chosen setting trained with every seed and compared "
        "on the test set.",
        "",
        *_table(
            ["model", "learning rate", "validation accuracy, first seed (%)", "chosen"], tuning_rows
        ),
        *_table(VARIANT_HEADER, _variant_rows(variants)),
    ]
    for other in variants:
        if other != reference:
            comparison = compare(variants[reference], variants[other], "test_accuracy")
            lines += [f"* {verdict(comparison, reference, other)}"]
    at_edge = [
        model
        for model, candidates in result["tuning"].items()
        if _end_of(
            candidates[result["chosen"][model]]["config"]["learning_rate"],
            sorted(run["config"]["learning_rate"] for run in candidates.values()),
        )
    ]
    if at_edge:
        lines += [
            "",
            f"The chosen learning rate is at an end of the tried range for {', '.join(at_edge)}: a "
            "wider range might do better.",
        ]
    return lines + ["", f"![Q17]({figure})", ""]


TEXT_Q9 = (
    "Why only the training data: augmentation is a regulariser that teaches the model invariances "
    "(small rotations, shifts, zooms, lighting) during learning. Validation and test accuracy must "
    "estimate performance on the data the model will actually meet, so they are measured on the "
    "images as they are; augmenting them would measure a different, noisier distribution and blur "
    "model selection."
)
TEXT_Q13 = (
    "**Q13.** Besides 64²/28² ≈ 5.2× the computation: the 32×32 and 48×48 canvases are blown up by "
    "2× and 1.33×, so the same digit appears at three scales and the network must learn all of "
    "them; interpolation blurs the small ones; the linear layer grows to 64·8·8·10 weights (64,266 "
    "parameters in all against 29,066), which needs more data to fit; and a fixed size still has "
    "to shrink any larger image, losing detail. Q17 measures what this costs."
)
TEXT_Q14 = (
    "**Q14.** The data is held in memory as one uint8 array per resolution, and every batch comes "
    "from one of them; batches of all resolutions are interleaved in a fresh random order each "
    "epoch, with one compiled step per resolution. When almost every image has its own resolution, "
    "the images are bucketed onto a few canvas sizes (each side rounded up to a multiple of 16), "
    "padded at the top-left, and a mask of the real pixels travels through the network: "
    "activations outside the image are zeroed after every stage and the global pooling ignores "
    "them, so a padded image gets exactly the prediction of the unpadded one (a test checks this "
    "end to end)."
)


ASSIGNMENT_LINK = (
    "The seventeen questions, in short, are in the repository's "
    "[docs/assignment.md](../assignment.md) (the link works where the report sits in docs/report/)."
)
QUICK_WARNING = (
    "**A smoke test (`python -m train.report --quick`): a few batches, one epoch, one seed. Its "
    "numbers mean nothing; they only show that the machinery runs.**"
)


def report_markdown(results: dict, info: dict, facts: dict) -> str:
    """report.md: ``results`` of every experiment, ``info`` on the calls of train.report that built
    it (build.py), ``facts`` from the code (facts.py)."""
    lines = [
        *header(info, facts),
        *part1(facts),
        *q8_section(results["q8"], "figures/q8_heatmap.png"),
        *comparison_section(
            "**Q9.** Baseline against augmented training (test set).",
            results["q9"],
            "augmented",
            "baseline",
            "test_accuracy",
            "figures/q9_augmentation.png",
            [TEXT_Q9, "", "![augmented examples](figures/q9_examples.png)", ""],
        ),
        "## Part 3: variable resolution",
        "",
        "**Q12.** mnist-varres with every image resized to 28×28 (bilinear, antialiased) and the "
        "fixed network:",
        "",
        *_table(VARIANT_HEADER, _variant_rows(results["q12"]["variants"])),
        TEXT_Q13,
        "",
        TEXT_Q14,
        "",
        *q15_table(facts["q15_parameters"]),
        *comparison_section(
            "**Q16.** Global max against global mean pooling (validation set, N = 81).",
            results["q16"],
            "global max",
            "global mean",
            "best_val_accuracy",
            "figures/q16_pooling.png",
            [
                "Chosen for Q17, by mean validation accuracy: **global "
                f"{results['q17']['pooling']} pooling**.",
                "",
            ],
        ),
        *q17_section(results["q17"], "figures/q17_models.png"),
    ]
    return "\n".join(lines) + "\n"


def header(info: dict, facts: dict) -> list[str]:
    seeds = info["seeds"]
    return [
        *([QUICK_WARNING, ""] if info["quick"] else []),
        "# Assignment 3A, reproduced with jaxconv",
        "",
        ASSIGNMENT_LINK,
        "",
        f"Generated by `python -m train.report{' --quick' if info['quick'] else ''}` on "
        f"{facts['date']}, {facts['machine']}. Every number is a mean ± sample standard deviation "
        f"over seeds {', '.join(map(str, seeds))} (seed: train/validation split, initialisation, "
        "data order), with epochs and the time of one run (its epochs, validation included, and "
        "compilation). Two variants are compared seed by seed: the difference exceeds seed-to-seed "
        "noise when a two-sided paired t-test over the seeds gives p < 0.05. "
        f"{build_time(info['calls'])}",
        "",
    ]


def build_time(calls: list[dict]) -> str:
    """What building the report took, summed over every call of train.report (``calls``: the last
    record of each, train/report/build.py's CallLog)."""
    minutes = sum(c["seconds"] for c in calls) / 60
    trained = sum(c["runs_trained"] for c in calls)
    interrupted = sum(not c["finished"] for c in calls)
    cut_short = (
        f"; {interrupted} of them interrupted, each counted up to its last finished run"
        if interrupted
        else ""
    )
    in_jobs = [c for c in calls if c["jobs"] > 1 and c["runs_trained"]]
    shared = ""
    if in_jobs:
        counts = sorted({c["jobs"] for c in in_jobs})
        at_a_time = str(counts[0]) if len(counts) == 1 else f"up to {counts[-1]}"
        runs = sum(c["runs_trained"] for c in in_jobs)
        which = "Its runs were" if runs == trained else f"{runs} of its {trained} runs were"
        shared = (
            f" {which} trained {at_a_time} at a time (--jobs), each process on its share of the "
            "cores, so such a run's time is its time on that share."
        )
    return (
        f"Building it trained {trained} runs in {minutes:.0f} minutes of wall time ({len(calls)} "
        f"call(s) of train.report{cut_short}).{shared}"
    )
