"""Training throughput of the assignment's networks: jaxconv against XLA's convolution and PyTorch.

    python -m train.bench --markdown         # a table of docs/performance.md, with its caption
    python -m train.bench --json bench.json  # also as JSON
    python -m train.bench --no-torch --no-time-to-accuracy
    python -m train.bench --from-json docs/bench/train_bench-gpu-h100.json  # re-render it

Rows, all in this one process on synthetic data (images/s of full training
steps: forward, backward, Adam; warm-up and compilation excluded; median of
repeats, the implementations of a row timed in alternating rounds):

* jaxconv: the network as its trainer runs it (``train.steps.Steps``: jitted
  calls of a ``lax.scan`` of ``steps_per_call`` steps, each gathering its batch on
  the device; all the row's steps in one call for train.fixed, its config's
  ``steps_per_call`` batches of one resolution per call for train.varres, whose
  chunks of all resolutions interleave), and Flax-example style (one
  jitted step per batch, the batch sent from the host);
* flax.nnx.Conv: the same network with XLA's native convolution, both ways. Inside
  the scan XLA's CPU convolutions keep non-canonical layouts for their gradients
  and fall back to a slow path, so jaxconv is compared with nnx.Conv's better way;
* PyTorch eager with ``nn.Conv2d``, and with the assignment's unfold/fold
  autograd Function (Q6), when torch can be imported (``pip install torch``).

Then the variable-resolution network on batches of 32×32, 48×48 and 64×64, and
the time to accuracy: the wall time of ``python -m train.fixed`` with its
default config, from process start to its final test accuracy (data prepared).

On a CPU each row also shows the share of the machine's FP32 peak that jaxconv
reaches as its trainer runs: images/s × FLOP per image of a training step
(``train.flops.training_step_flops``: the matrix products, forward and backward)
over cores × clock × FLOP per cycle (``train.flops.cpu_fp32_peak``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np


@dataclasses.dataclass
class Contender:
    """One implementation of a row, ready to time: ``run()`` trains one round of ``images``
    images and returns once the work is done."""

    images: int
    run: Callable[[], None]


def images_per_second(contenders: dict[str, Contender], repeats: int) -> dict[str, float]:
    """Median images/s of each contender over ``repeats`` rounds, one round of each in turn (so a
    drift of the machine hits all alike), after two rounds each of compilation and warm-up."""
    for contender in contenders.values():
        for _ in range(2):
            contender.run()
    seconds = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, contender in contenders.items():
            start = time.perf_counter()
            contender.run()
            seconds[name].append(time.perf_counter() - start)
    return {name: c.images / float(np.median(seconds[name])) for name, c in contenders.items()}


def as_trainer_runs(
    make_model, batch: int, side: int, steps_per_call: int, calls: int, tile_pixels: int = 0
) -> Contender:
    """As the trainers run: ``calls`` jitted calls of ``train.steps.Steps`` per round, each a scan
    of ``steps_per_call`` steps, the batch's gradient in tiles of at most ``tile_pixels`` pixels."""
    import jax
    import optax
    from flax import nnx

    from train.data.batching import DeviceGroup
    from train.data.groups import ImageGroup
    from train.steps import Steps

    graphdef, params = nnx.split(make_model(nnx.Rngs(0)))
    tx = optax.adam(1e-3)
    steps = Steps(graphdef, tx, tile_pixels=tile_pixels)
    carry = {
        "state": jax.device_put({"params": params, "opt_state": tx.init(params)}, steps.replicated),
        "totals": steps.zero_totals(),
        "chunk": 0,
    }
    rng = np.random.default_rng(0)
    n = 4096
    group = ImageGroup(
        rng.integers(0, 256, (n, side, side, 1), dtype=np.uint8),
        rng.integers(0, 10, n).astype(np.int32),
    )
    device_group = DeviceGroup.put(group, steps.replicated)
    valid = np.ones(steps_per_call, bool)
    key = jax.device_put(jax.random.key(0), steps.replicated)

    def run():
        indices = rng.integers(0, n, (calls, steps_per_call, batch)).astype(np.int32)
        state, totals = carry["state"], carry["totals"]
        for c in range(calls):
            state, totals = steps.train_chunk(
                state, totals, device_group, indices[c], valid, key, carry["chunk"]
            )
            carry["chunk"] += 1
            if steps.wait_per_call:  # as train.loop does
                jax.block_until_ready(totals)
        carry["state"], carry["totals"] = state, jax.block_until_ready(totals)

    return Contender(calls * steps_per_call * batch, run)


def jit_per_step(make_model, batch: int, side: int, steps: int) -> Contender:
    """The same training, Flax-example style: one jitted (donated) step per batch, batches on the
    device; ``steps`` steps per round."""
    import functools

    import jax
    import optax
    from flax import nnx

    from train.steps import Steps, to_float

    graphdef, params = nnx.split(make_model(nnx.Rngs(0)))
    tx = optax.adam(1e-3)
    carry = {"params": params, "opt_state": tx.init(params)}
    loss = Steps(graphdef, tx).loss  # the trainers' loss, without their scan and on-device gather

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(params, opt_state, images, labels):
        grads = jax.grad(lambda p: loss(p, to_float(images), labels, None)[0])(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    rng = np.random.default_rng(0)
    batches = [
        (
            jax.device_put(rng.integers(0, 256, (batch, side, side, 1), dtype=np.uint8)),
            jax.device_put(rng.integers(0, 10, batch).astype(np.int32)),
        )
        for _ in range(16)
    ]

    def run():
        params, opt_state = carry["params"], carry["opt_state"]
        for i in range(steps):
            params, opt_state = step(params, opt_state, *batches[i % len(batches)])
        carry["params"], carry["opt_state"] = jax.block_until_ready((params, opt_state))

    return Contender(steps * batch, run)


def torch_eager(
    conv: str, batch: int, side: int, steps: int, global_pool: bool = False, channels=(16, 32, 64)
) -> Contender:
    """PyTorch eager training of the same network (``conv``: "nn" for nn.Conv2d, "unfold" for the
    assignment's unfold/fold Function), ``steps`` steps per round."""
    import torch
    import torch.nn.functional as F

    from train.torch_reference import q8_network

    torch.manual_seed(0)
    model = q8_network(conv, channels=channels, input_size=side, global_pool=global_pool)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    n = 4096
    data, labels = torch.rand(n, 1, side, side), torch.randint(0, 10, (n,))

    def run():
        for _ in range(steps):
            index = torch.randint(0, n, (batch,))
            loss = F.cross_entropy(model(data[index]), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    return Contender(steps * batch, run)


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def network_rows(batches, repeats: int, with_torch: bool) -> list[dict]:
    from flax import nnx

    import configs.fixed
    import configs.varres
    import jaxconv
    from jaxconv._shapes import ceil_div
    from train.flops import training_step_flops
    from train.models import FixedCNN, VarResCNN, flax_conv

    rows = []
    cases = [("Q8 fixed, 28x28", 28, b, False) for b in batches] + [
        (f"Q14 varres N=81, {s}x{s}", s, 16, True) for s in (32, 48, 64)
    ]
    for name, side, batch, varres in cases:
        steps = max(10, 1600 // batch) if side == 28 else max(10, 800 // batch)
        if varres:
            make = lambda conv: lambda rngs: VarResCNN((16, 32, 81), conv=conv, rngs=rngs)  # noqa: E731
        else:
            make = lambda conv: lambda rngs: FixedCNN(conv=conv, rngs=rngs)  # noqa: E731
        # train.fixed scans many steps per call; train.varres its config's steps_per_call per call
        config = configs.varres.get_config() if varres else configs.fixed.get_config()
        steps_per_call, calls = (config.steps_per_call, steps) if varres else (steps, 1)
        calls = ceil_div(calls, steps_per_call)
        flop_per_image = training_step_flops(make(jaxconv.Conv2D)(nnx.Rngs(0)), 1, side, side)
        row = {"network": name, "batch": batch, "step_flop_per_image": flop_per_image}
        contenders = {
            "jaxconv": as_trainer_runs(
                make(jaxconv.Conv2D), batch, side, steps_per_call, calls, config.tile_pixels
            ),
            "jaxconv_per_step": jit_per_step(make(jaxconv.Conv2D), batch, side, steps),
            "flax_nnx_conv": as_trainer_runs(
                make(flax_conv), batch, side, steps_per_call, calls, config.tile_pixels
            ),
            "flax_nnx_conv_per_step": jit_per_step(make(flax_conv), batch, side, steps),
        }
        if with_torch:
            channels = (16, 32, 81) if varres else (16, 32, 64)
            for key, conv in (("torch_conv2d", "nn"), ("torch_unfold_fold", "unfold")):
                contenders[key] = torch_eager(conv, batch, side, steps, varres, channels)
        row |= images_per_second(contenders, repeats)
        print(f"  measured {name} batch {batch}", file=sys.stderr, flush=True)
        rows.append(row)
    return rows


def time_to_accuracy(cache_dir: str | None) -> dict:
    """Wall time of the default ``python -m train.fixed``, process start to exit, data already
    prepared: ``cold``, compiling everything (the first run, which fills a fresh compilation
    cache), then ``warm``, a second run that loads its programs from that cache
    (train/compilation_cache.py)."""
    import configs.fixed
    from train.compilation_cache import MIN_COMPILE_SECONDS
    from train.data.cache import cache_dir as resolve_cache
    from train.data.cache import data_dir
    from train.data.datasets import load_datasets

    load_datasets(
        configs.fixed.get_config(), resolve_cache(cache_dir), data_dir()
    )  # prepare (and cache) MNIST first
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = os.environ | {
            "JAX_COMPILATION_CACHE_DIR": f"{tmp}/xla",
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": str(MIN_COMPILE_SECONDS),
        }
        for name in ("cold", "warm"):
            command = [sys.executable, "-m", "train.fixed", f"--workdir={tmp}/{name}"] + (
                [f"--cache_dir={cache_dir}"] if cache_dir else []
            )
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, env=env)
            seconds = time.perf_counter() - start
            if done.returncode != 0:
                raise RuntimeError(f"train.fixed failed: {done.stderr[-2000:]}")
            summary = json.loads(Path(tmp, name, "summary.json").read_text())
            result[name] = {
                "seconds": seconds,
                "test_accuracy": summary["test_accuracy"],
                "epochs": summary["epochs"],
                "train_seconds": summary["train_seconds"],
            }
    return result


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
    """The ``time_to_accuracy`` result as a table: one row per compilation cache state."""
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
    "sequential": "repeats, each implementation's in a row",  # how train.bench timed at first
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


def main(argv=None) -> None:
    from train import glibc_reexec
    from train.errors import exit_on_user_error

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
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="print the tables with their caption, as docs/performance.md shows them",
    )
    parser.add_argument(
        "--from-json",
        metavar="FILE",
        help="print the tables of a saved --json file; measure nothing",
    )
    args = parser.parse_args(argv)
    if args.from_json:
        print(markdown_block(json.loads(Path(args.from_json).read_text())))
        return
    glibc_reexec.keep_freed_memory_in_heap()

    import jax

    from jaxconv.bench import machine
    from train.flops import cpu_fp32_peak

    with_torch = torch_available() and not args.no_torch
    if with_torch:
        import torch

        torch_info = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    else:
        torch_info = "torch not installed" if not torch_available() else "torch rows skipped"
    rows = network_rows(args.batch, args.repeats, with_torch)
    result = {
        "command": command(args),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "machine": machine(),
        "torch": torch_info,
        "devices": len(jax.devices()),
        "repeats": args.repeats,
        "timing": "alternating",
        "rows": rows,
    }
    peak = cpu_fp32_peak() if jax.devices()[0].platform == "cpu" else None  # no GPU peak rule
    if peak is not None:
        result["fp32_peak"] = dataclasses.asdict(peak) | {"flops": peak.flops}
    if not args.markdown:
        print(f"\n{machine()}; {torch_info}; median of {args.repeats} repeats")
        if peak is not None:
            per_image = {r["network"]: r["step_flop_per_image"] for r in rows}
            counts = "; ".join(f"{name} {flop / 1e6:.1f} M" for name, flop in per_image.items())
            print(f"{peak.describe()}\ntraining step FLOP per image (train.flops): {counts}")
        print()
        print(markdown(rows, peak.flops if peak else None))
    if not args.no_time_to_accuracy:
        with exit_on_user_error():  # MNIST unavailable offline, say
            result["time_to_accuracy"] = tta = time_to_accuracy(args.cache_dir)
        for name, run in tta.items():
            print(
                f"time to accuracy, {name} compilation cache: python -m train.fixed (default "
                f"config) reached {run['test_accuracy']:.2%} test accuracy in "
                f"{run['seconds']:.1f} s from process start ({run['epochs']} epochs, "
                f"{run['train_seconds']:.1f} s of them training)",
                file=sys.stderr if args.markdown else sys.stdout,
            )
    if args.markdown:
        print(markdown_block(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
