"""Benchmark: jaxconv against XLA's native convolution, per layer.

    python -m jaxconv.bench --markdown      # a table of docs/performance.md, with its caption
    python -m jaxconv.bench --only nd --rounds 400 --json bench.json
    python -m jaxconv.bench --from-json docs/bench/jaxconv_bench-cpu-2core.json  # re-render it

For each conv layer of the assignment's MNIST network (3×3, stride 1, padding 1)
and for a 1-D, a 3-D, a dilated, a strided, a grouped and a depthwise layer,
it times the jitted forward and the jitted forward+backward (gradients for both
the input and the kernel) of ``jaxconv.conv`` and of
``lax.conv_general_dilated``. Compilation and warm-up calls are excluded; the
two implementations are timed in alternation, one call each per round, so that
drift of the machine hits both alike; the table shows the median of the rounds
and the ratio jaxconv / XLA (below 1.0: jaxconv is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import NamedTuple

import jax
import numpy as np
from jax import lax

import jaxconv


class Row(NamedTuple):
    """One benchmarked convolution: x ``(N, *spatial, C_in)``, kernel
    ``(*k, C_in // groups, C_out)``."""

    name: str
    x_shape: tuple
    kernel_shape: tuple
    stride: int = 1
    padding: int = 1
    dilation: int = 1
    groups: int = 1


def mnist_rows(batch: int) -> list[Row]:
    """The three conv layers of the Q7 network: 3×3, stride 1, padding 1."""
    return [
        Row(f"{size}x{size}x{c_in}->{c_out}", (batch, size, size, c_in), (3, 3, c_in, c_out))
        for size, c_in, c_out in ((28, 1, 16), (14, 16, 32), (7, 32, 64))
    ]


# The complete convolution's rows (issue: N-d, dilation, groups), at the sizes it names.
ND_ROWS = [
    Row("1-D 1024x32->64, k5", (16, 1024, 32), (5, 32, 64), padding=2),
    Row("3-D 16^3x8->16, k3", (4, 16, 16, 16, 8), (3, 3, 3, 8, 16)),
    Row("dilated 14x14x16->32, d2", (16, 14, 14, 16), (3, 3, 16, 32), padding=2, dilation=2),
    Row("strided 28x28x16->32, s2", (16, 28, 28, 16), (3, 3, 16, 32), stride=2),
    Row("grouped 14x14x64->64, g4", (16, 14, 14, 64), (3, 3, 16, 64), groups=4),
    Row("depthwise 14x14x64, g64", (16, 14, 14, 64), (3, 3, 1, 64), groups=64),
]

# Transposed convolutions (issue: transposed convolution as fold): y (N, *spatial, C_out) upsampled
# by the forward kernel (*k, C_in, C_out), kernel 4, stride 2, padding 1 (each map doubles).
TRANSPOSE_ROWS = [
    Row(
        f"transposed {s}x{s}x{c_out}->{2 * s}x{2 * s}x{c_in}",
        (batch, s, s, c_out),
        (4, 4, c_in, c_out),
        stride=2,
    )
    for batch in (16, 128)
    for s, c_out, c_in in ((7, 64, 32), (14, 32, 16))
] + [Row("transposed 3-D 8^3x16->16^3x8", (2, 8, 8, 8, 16), (4, 4, 4, 8, 16), stride=2)]

CHANNELS_LAST = {
    1: ("NWC", "WIO", "NWC"),
    2: ("NHWC", "HWIO", "NHWC"),
    3: ("NDHWC", "DHWIO", "NDHWC"),
}


def xla_conv(row: Row):
    rank = len(row.x_shape) - 2
    return lambda x, k: lax.conv_general_dilated(
        x, k, (row.stride,) * rank, [(row.padding, row.padding)] * rank,
        rhs_dilation=(row.dilation,) * rank,
        dimension_numbers=CHANNELS_LAST[rank], feature_group_count=row.groups,
    )  # fmt: skip


def jaxconv_conv(row: Row):
    return lambda x, k: jaxconv.conv(x, k, row.stride, row.padding, row.dilation, row.groups)


def jaxconv_transpose(row: Row):
    return lambda y, k: jaxconv.conv_transpose(y, k, row.stride, row.padding)


def _transpose_pads(row: Row):
    """The zero-insertion view's padding: ``k - 1 - padding`` on each side (dilation 1, no
    output_padding)."""
    return [(k - 1 - row.padding, k - 1 - row.padding) for k in row.kernel_shape[:-2]]


def xla_transpose(row: Row):
    rank = len(row.x_shape) - 2
    return lambda y, k: lax.conv_transpose(
        y,
        k,
        (row.stride,) * rank,
        _transpose_pads(row),
        dimension_numbers=CHANNELS_LAST[rank],
        transpose_kernel=True,
    )


def nnx_transpose(row: Row):
    """nnx.ConvTranspose (transpose_kernel=True, no bias) as a function of its kernel."""
    from flax import nnx

    c_in, c_out = row.kernel_shape[-2:]
    layer = nnx.ConvTranspose(
        c_out, c_in, row.kernel_shape[:-2], row.stride, padding=_transpose_pads(row),
        transpose_kernel=True, use_bias=False,
        rngs=nnx.Rngs(0),
    )  # fmt: skip
    graphdef, params = nnx.split(layer)

    def apply(y, kernel):
        state = nnx.State(params)
        nnx.replace_by_pure_dict(state, {"kernel": kernel})
        return nnx.merge(graphdef, state)(y)

    return apply


def compiled_pair(conv):
    """Jitted forward ``(x, k)``, and jitted forward + both gradients ``(x, k, g)``.

    The backward is ``jax.vjp`` with the cotangent g as an argument (not a
    closed-over constant, so XLA cannot fold it in), returning the output and
    both gradients: the convolution alone, with no loss around it. (A loss such
    as ``vdot(y, g)`` lets XLA's CPU YNNPACK fusion pull an elementwise forward,
    jaxconv's depthwise one, into the reduction, a slow path: docs/performance.md.)"""
    forward = jax.jit(conv)

    def forward_backward(x, k, g):
        y, vjp = jax.vjp(conv, x, k)
        return y, *vjp(g)

    return forward, jax.jit(forward_backward)


def time_alternating(functions: dict, args, rounds: int, warmup: int = 5) -> dict:
    """Median seconds per call of each function, timed one call each per round."""
    for f in functions.values():
        for _ in range(warmup):
            jax.block_until_ready(f(*args))
    samples = {name: [] for name in functions}
    for _ in range(rounds):
        for name, f in functions.items():
            start = time.perf_counter()
            jax.block_until_ready(f(*args))
            samples[name].append(time.perf_counter() - start)
    return {name: float(np.median(s)) for name, s in samples.items()}


def agreement_tolerance(backend: str | None = None) -> float:
    """How closely jaxconv and XLA must agree at default precision on this backend.

    CPUs multiply float32 in float32. GPUs and TPUs run default-precision float32 products in
    reduced precision (TF32 on NVIDIA tensor cores, bf16 passes on TPUs), each implementation
    with its own summation order, so their outputs differ in the third significant digit.
    """
    return 1e-4 if (backend or jax.default_backend()) == "cpu" else 1e-2


def bench_row(row: Row, rounds: int, transposed: bool = False) -> dict:
    """Times of jaxconv and XLA (and for transposed rows nnx.ConvTranspose), in alternating
    rounds."""
    keys = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(keys[0], row.x_shape)
    kernel = jax.random.normal(keys[1], row.kernel_shape) * 0.1
    if transposed:
        pairs = {
            "jaxconv": jaxconv_transpose(row),
            "xla": xla_transpose(row),
            "nnx": nnx_transpose(row),
        }
    else:
        pairs = {"jaxconv": jaxconv_conv(row), "xla": xla_conv(row)}
    compiled = {name: compiled_pair(conv) for name, conv in pairs.items()}
    y = compiled["xla"][0](x, kernel)
    tol = agreement_tolerance()
    for name, (forward, _) in compiled.items():
        np.testing.assert_allclose(forward(x, kernel), y, rtol=tol, atol=tol, err_msg=name)
    cotangent = jax.random.normal(keys[2], y.shape)
    t = time_alternating(
        {f"{name}_fwd": f for name, (f, _) in compiled.items()}, (x, kernel), rounds
    )
    t |= time_alternating(
        {f"{name}_fwd_bwd": fb for name, (_, fb) in compiled.items()},
        (x, kernel, cotangent),
        rounds,
    )
    return {
        "batch": row.x_shape[0],
        "layer": row.name,
        **{name: seconds * 1e3 for name, seconds in t.items()},  # milliseconds
        "ratio_fwd": t["jaxconv_fwd"] / t["xla_fwd"],
        "ratio_fwd_bwd": t["jaxconv_fwd_bwd"] / t["xla_fwd_bwd"],
    }


def machine() -> str:
    """The device JAX runs on, and for a CPU its model name and core count."""
    device = jax.devices()[0]
    if device.platform != "cpu":
        return f"{device.platform} {device.device_kind}, jax {jax.__version__}"
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(
                line.split(":", 1)[1].strip() for line in f if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    return f"cpu {model}, {os.cpu_count()} cores, jax {jax.__version__}"


def markdown_table(rows) -> str:
    """One table; a column for nnx.ConvTranspose when any row has it (transposed rows)."""
    nnx = any("nnx_fwd" in r for r in rows)
    extra = (
        (lambda r, key: f" {r[key]:.3f} |" if key in r else " |") if nnx else (lambda r, key: "")
    )
    lines = [
        "| batch | layer | jaxconv fwd (ms) | XLA fwd (ms) |"
        + (" nnx fwd (ms) |" if nnx else "")
        + " ratio "
        "| jaxconv fwd+bwd (ms) | XLA fwd+bwd (ms) |"
        + (" nnx fwd+bwd (ms) |" if nnx else "")
        + " ratio |",
        "|---:|---|---:|---:|"
        + ("---:|" if nnx else "")
        + "---:|---:|---:|"
        + ("---:|" if nnx else "")
        + "---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['batch']} | {r['layer']} | {r['jaxconv_fwd']:.3f} | {r['xla_fwd']:.3f} "
            f"|{extra(r, 'nnx_fwd')} {r['ratio_fwd']:.2f} "
            f"| {r['jaxconv_fwd_bwd']:.3f} | {r['xla_fwd_bwd']:.3f} |{extra(r, 'nnx_fwd_bwd')} "
            f"{r['ratio_fwd_bwd']:.2f} |"
        )
    return "\n".join(lines)


def markdown_block(result: dict) -> str:
    """The table of one run as docs/performance.md shows it: a caption naming the command, the
    date and the machine, then the table. ``result`` is what ``--json`` writes."""
    missing = [key for key in ("command", "date", "machine", "rounds", "rows") if key not in result]
    if missing:
        raise ValueError(f"a jaxconv.bench result needs {missing}; it has {sorted(result)}")
    transposed = any("nnx_fwd" in row for row in result["rows"])
    caption = (
        f"`{result['command']}`, {result['date']}, {result['machine']}: milliseconds, median of "
        f"{result['rounds']} alternating rounds; ratio = jaxconv / XLA"
        + (" (`lax.conv_transpose` on the transposed rows)" if transposed else "")
        + ", below 1.0 jaxconv is faster."
    )
    return caption + "\n\n" + markdown_table(result["rows"])


def command(args) -> str:
    """The command line that measures what ``args`` asks for (the output options left out)."""
    words = ["python -m jaxconv.bench"]
    if args.batch != [16, 128]:
        words.append("--batch " + " ".join(map(str, args.batch)))
    if args.only:
        words.append(f"--only {args.only}")
    return " ".join(words + [f"--rounds {args.rounds}"])


def parse_args(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--batch", type=int, nargs="+", default=[16, 128], help="batch sizes (default: 16 128)"
    )
    parser.add_argument(
        "--rounds", type=int, default=200, help="timed calls per implementation (default: 200)"
    )
    parser.add_argument(
        "--only", choices=["mnist", "nd", "transposed"], help="only one group of rows"
    )
    add_output_flags(parser)
    return parser.parse_args(argv)


def add_output_flags(parser: argparse.ArgumentParser) -> None:
    """``--json``, ``--markdown`` and ``--from-json``: how a benchmark's results are saved and
    shown (python -m jaxconv.bench, python -m train.bench)."""
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


def main(argv=None):
    args = parse_args(argv)
    if args.from_json:
        with open(args.from_json) as f:
            print(markdown_block(json.load(f)))
        return
    groups = {
        "mnist": [(row, False) for batch in args.batch for row in mnist_rows(batch)],
        "nd": [(row, False) for row in ND_ROWS],
        "transposed": [(row, True) for row in TRANSPOSE_ROWS],
    }
    todo = groups[args.only] if args.only else [item for rows in groups.values() for item in rows]
    rows = []
    for row, transposed in todo:
        rows.append(bench_row(row, args.rounds, transposed))
        print(f"  measured batch {row.x_shape[0]} {row.name}", file=sys.stderr, flush=True)
    result = {
        "command": command(args),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "machine": machine(),
        "rounds": args.rounds,
        "rows": rows,
    }
    if args.markdown:
        print(markdown_block(result))
    else:
        print(
            f"\n{machine()}; median of {args.rounds} alternating rounds; ratio = jaxconv / XLA "
            "(lax.conv_transpose for transposed rows)\n"
        )
        print(markdown_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
