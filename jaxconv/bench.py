"""Benchmark: jaxconv.conv2d against XLA's native convolution, per MNIST layer.

    python -m jaxconv.bench                 # the README table
    python -m jaxconv.bench --batch 16 --rounds 400 --json bench.json

For each conv layer of the assignment's MNIST network (3×3, stride 1, padding 1)
it times the jitted forward and the jitted forward+backward (gradients for both
the input and the kernel) of ``jaxconv.conv2d`` and of
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
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import jaxconv

# (height = width, C_in, C_out) of the three conv layers of the Q7 network
MNIST_LAYERS = ((28, 1, 16), (14, 16, 32), (7, 32, 64))


def xla_conv(x, kernel, stride, padding):
    pads = [(padding, padding), (padding, padding)]
    return lax.conv_general_dilated(x, kernel, (stride, stride), pads, dimension_numbers=("NHWC", "HWIO", "NHWC"))


def jaxconv_conv(x, kernel, stride, padding):
    return jaxconv.conv2d(x, kernel, stride, padding)


def compiled_pair(conv):
    """Jitted forward ``(x, k)``, and jitted forward + both gradients ``(x, k, g)``.

    The cotangent g is an argument, not a closed-over constant, so XLA cannot
    fold it into the compiled backward."""
    forward = jax.jit(lambda x, k: conv(x, k, 1, 1))
    loss = lambda x, k, g: jnp.vdot(conv(x, k, 1, 1), g)  # noqa: E731
    forward_backward = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    return forward, forward_backward


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


def bench_layer(batch: int, size: int, c_in: int, c_out: int, rounds: int) -> dict:
    keys = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(keys[0], (batch, size, size, c_in))
    kernel = jax.random.normal(keys[1], (3, 3, c_in, c_out)) * 0.1
    cotangent = jax.random.normal(keys[2], (batch, size, size, c_out))
    ours_f, ours_fb = compiled_pair(jaxconv_conv)
    xla_f, xla_fb = compiled_pair(xla_conv)
    np.testing.assert_allclose(ours_f(x, kernel), xla_f(x, kernel), rtol=1e-4, atol=1e-4)
    t = time_alternating({"jaxconv_fwd": ours_f, "xla_fwd": xla_f}, (x, kernel), rounds)
    t |= time_alternating({"jaxconv_fwd_bwd": ours_fb, "xla_fwd_bwd": xla_fb}, (x, kernel, cotangent), rounds)
    return {
        "batch": batch,
        "layer": f"{size}x{size}x{c_in}->{c_out}",
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
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"cpu {model}, {os.cpu_count()} cores, jax {jax.__version__}"


def markdown_table(rows) -> str:
    lines = [
        "| batch | layer | jaxconv fwd (ms) | XLA fwd (ms) | ratio | jaxconv fwd+bwd (ms) | XLA fwd+bwd (ms) | ratio |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['batch']} | {r['layer']} | {r['jaxconv_fwd']:.3f} | {r['xla_fwd']:.3f} | {r['ratio_fwd']:.2f} "
            f"| {r['jaxconv_fwd_bwd']:.3f} | {r['xla_fwd_bwd']:.3f} | {r['ratio_fwd_bwd']:.2f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[16, 128], help="batch sizes (default: 16 128)")
    parser.add_argument("--rounds", type=int, default=200, help="timed calls per implementation (default: 200)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    rows = []
    for batch in args.batch:
        for size, c_in, c_out in MNIST_LAYERS:
            rows.append(bench_layer(batch, size, c_in, c_out, args.rounds))
            print(f"  measured batch {batch} layer {rows[-1]['layer']}", flush=True)
    print(f"\n{machine()}; median of {args.rounds} alternating rounds; ratio = jaxconv / XLA\n")
    print(markdown_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "rounds": args.rounds, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
