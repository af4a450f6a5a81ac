"""Training throughput of the assignment's networks: jaxconv against XLA's convolution and PyTorch.

    python -m train.bench --markdown         # a table of docs/performance.md, with its caption
    python -m train.bench --json bench.json  # also as JSON
    python -m train.bench --no-torch --no-time-to-accuracy
    python -m train.bench --from-json docs/bench/train_bench-gpu-h100.json  # re-render it

Images/s of whole training steps of the Q8 network and the variable-resolution one
(Q14, on 32×32, 48×48 and 64×64) by jaxconv, flax.nnx.Conv and PyTorch, all in this
one process on synthetic data (train/throughput.py says how each is run); then the
time to accuracy: the wall time of ``python -m train.fixed`` with its default config,
from process start to its final test accuracy (data prepared).

On a CPU each row also shows the share of the machine's FP32 peak that jaxconv
reaches as its trainer runs: images/s × FLOP per image of a training step
over cores × clock × FLOP per cycle (train/flops.py).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jaxconv.bench import add_output_flags
from train import throughput
from train.errors import exit_on_user_error

COLUMNS = [
    ("jaxconv", "jaxconv, as its trainer runs"),
    ("jaxconv_per_step", "jaxconv, jit per step"),
    ("flax_nnx_conv", "nnx.Conv, as the trainer runs"),
    ("flax_nnx_conv_per_step", "nnx.Conv, jit per step"),
    ("torch_conv2d", "torch nn.Conv2d"),
    ("torch_unfold_fold", "torch unfold/fold Function"),
]


def markdown(rows, peak_flops: float | None = None) -> str:
    """Images/s per implementation; ratios of jaxconv as train.fixed runs it against nnx.Conv
    at its best (either way of stepping) and against torch nn.Conv2d; with ``peak_flops``
    (FLOP/s), the share of it jaxconv reaches (images/s × the row's step FLOP per image)."""
    present = [(k, t) for k, t in COLUMNS if any(k in r for r in rows)]
    has_torch = any("torch_conv2d" in r for r in rows)
    head = [
        "network",
        "batch",
        *(f"{t} (img/s)" for _, t in present),
        "jaxconv / best nnx.Conv",
    ] + (["jaxconv / torch nn.Conv2d"] if has_torch else [])
    head += ["jaxconv, share of FP32 peak"] if peak_flops else []
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for r in rows:
        best_nnx = max(r["flax_nnx_conv"], r["flax_nnx_conv_per_step"])
        cells = [
            r["network"],
            str(r["batch"]),
            *(f"{r[k]:.0f}" if k in r else "-" for k, _ in present),
            f"{r['jaxconv'] / best_nnx:.2f}",
        ]
        if has_torch:
            cells.append(f"{r['jaxconv'] / r['torch_conv2d']:.2f}" if "torch_conv2d" in r else "-")
        if peak_flops:
            cells.append(f"{r['jaxconv'] * r['step_flop_per_image'] / peak_flops:.1%}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def time_to_accuracy_markdown(runs: dict) -> str:
    """The time to accuracy as a table: one row per compilation cache state."""
    lines = [
        "| compilation cache | seconds from process start | test accuracy | epochs "
        "| of them training (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, run in runs.items():
        lines.append(
            f"| {name} | {run['seconds']:.1f} | {run['test_accuracy']:.2%} | {run['epochs']} "
            f"| {run['train_seconds']:.1f} |"
        )
    return "\n".join(lines)


TIMING = {
    "alternating": "alternating rounds",
    "sequential": "repeats, each implementation's in a row",  # the saved GPU run's timing
}


def markdown_block(result: dict) -> str:
    """The tables of one run as docs/performance.md shows them: a caption naming the command, the
    date, the machine and the FP32 peak (on a CPU), the throughput table, and the time to
    accuracy when it was measured. ``result`` is what ``--json`` writes."""
    needed = ("command", "date", "machine", "torch", "repeats", "timing", "rows")
    missing = [key for key in needed if key not in result]
    if missing:
        raise ValueError(f"a train.bench result needs {missing}; it has {sorted(result)}")
    peak = result.get("fp32_peak")
    caption = (
        f"`{result['command']}`, {result['date']}, {result['machine']}, {result['torch']}: "
        f"images/s of whole training steps, median of {result['repeats']} "
        f"{TIMING[result['timing']]}"
    )
    if peak:
        caption += (
            f"; FP32 peak {peak['flops'] / 1e9:.1f} GFLOP/s = {peak['cores']} cores × "
            f"{peak['mhz']:.0f} MHz × {peak['flop_per_cycle']} FLOP/cycle ({peak['isa']})"
        )
    block = caption + ".\n\n" + markdown(result["rows"], peak["flops"] if peak else None)
    if "time_to_accuracy" in result:
        block += (
            f"\n\nTime to accuracy, `python -m train.fixed` (default config), {result['date']}, "
            f"{result['machine']}, data prepared, process start to exit:\n\n"
            + time_to_accuracy_markdown(result["time_to_accuracy"])
        )
    return block


def command(args) -> str:
    """The command line that measures what ``args`` asks for (the output options left out)."""
    words = ["python -m train.bench"]
    if args.batch != [16, 128]:
        words.append("--batch " + " ".join(map(str, args.batch)))
    words += ["--no-torch"] if args.no_torch else []
    words += ["--no-time-to-accuracy"] if args.no_time_to_accuracy else []
    return " ".join(words + [f"--repeats {args.repeats}"])


def parse_args(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--batch",
        type=int,
        nargs="+",
        default=[16, 128],
        help="batch sizes of the Q8 rows (default: 16 128)",
    )
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats per row (default: 7)")
    parser.add_argument("--no-torch", action="store_true", help="leave out the PyTorch rows")
    parser.add_argument(
        "--no-time-to-accuracy",
        action="store_true",
        help="skip the train.fixed time-to-accuracy run",
    )
    parser.add_argument("--cache_dir", help="cache folder for the time-to-accuracy run's MNIST")
    add_output_flags(parser)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    """Measure and print; without ``--markdown`` the throughput table as soon as it is measured,
    with the FLOP per image of each network, then the time to accuracy."""
    args = parse_args(argv)
    if args.from_json:
        print(markdown_block(json.loads(Path(args.from_json).read_text())))
        return
    result = {"command": command(args)}
    result |= throughput.measure(args.batch, args.repeats, torch_wanted=not args.no_torch)
    if not args.markdown:
        flop = (f"{r['network']} {r['step_flop_per_image'] / 1e6:.1f} M" for r in result["rows"])
        print(f"training step FLOP per image (train.flops): {'; '.join(flop)}\n")
        print(markdown_block(result))
    if not args.no_time_to_accuracy:
        with exit_on_user_error():  # MNIST unavailable offline, say
            result["time_to_accuracy"] = throughput.time_to_accuracy(args.cache_dir)
        if not args.markdown:
            print("\n" + time_to_accuracy_markdown(result["time_to_accuracy"]))
    if args.markdown:
        print(markdown_block(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
