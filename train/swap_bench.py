"""Whole training steps of real architectures, stock Flax NNX against ``jaxconv.swap_convolutions``.

    python -m train.swap_bench --markdown                  # the table (docs/bench/swap_bench-*.md)
    python -m train.swap_bench --json docs/bench/swap_bench-cpu-2core.json
    python -m train.swap_bench --rounds 3 --only U-Net     # one network, fewer rounds

Each network of ``train.swap_models`` is built from the same seed as it is, swapped,
and, when it has ``nnx.ConvTranspose`` layers, with only those swapped. A step is
forward, backward and an optax Adam update in one ``nnx.jit`` call on one synthetic
batch; the first losses (of the compiling step) must agree to float tolerance. The
variants take turns, one step each per round, after a warm-up step each.

Then two tables of single layers, forward and both gradients, in alternating rounds:
``jaxconv.conv_general_dilated`` with ``lhs_dilation`` (the fold path) against
``jaxconv.conv_transpose`` computing the same numbers, on the networks' upsampling
shapes; and the U-Net's dense 3×3 layers, XLA's convolution against jaxconv's.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax import lax

import jaxconv
from jaxconv.bench import CHANNELS_LAST, add_output_flags, machine, time_alternating
from train.models import num_params
from train.swap_models import specs


def training_step(model, loss):
    """One jitted step ``(x, y) -> loss`` of ``model``, Adam from a fresh state."""
    optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer, x, y):
        value, grads = nnx.value_and_grad(loss)(model, x, y)
        optimizer.update(model, grads)
        return value

    return lambda x, y: step(model, optimizer, x, y)


def network_row(spec, rounds: int) -> dict:
    """First losses and median step times of ``spec``'s network, stock and swapped."""
    x, y = spec.batch()
    stock = spec.make(nnx.Rngs(0))
    swapped = jaxconv.swap_convolutions(spec.make(nnx.Rngs(0)))
    steps = {"stock": training_step(stock, spec.loss), "jaxconv": training_step(swapped, spec.loss)}
    if any(isinstance(node, nnx.ConvTranspose) for _, node in nnx.iter_graph(stock)):
        transposed_only = spec.make(nnx.Rngs(0))
        jaxconv.swap_convolutions(transposed_only, layers=(nnx.ConvTranspose,))
        steps["transposed_only"] = training_step(transposed_only, spec.loss)
    first = {name: float(step(x, y)) for name, step in steps.items()}
    seconds = time_alternating(steps, (x, y), rounds, warmup=1)
    row = {
        "network": spec.name,
        "batch": spec.input_shape[0],
        "input": list(spec.input_shape),
        "parameters": num_params(stock),
        "first_loss_stock": first["stock"],
        "first_loss_jaxconv": first["jaxconv"],
        "stock_s": seconds["stock"],
        "jaxconv_s": seconds["jaxconv"],
        "speedup": seconds["stock"] / seconds["jaxconv"],
        "rounds": rounds,
    }
    if "transposed_only" in steps:
        row["first_loss_transposed_only"] = first["transposed_only"]
        row["transposed_only_s"] = seconds["transposed_only"]
    return row


def gradient_seconds(convs: dict, g, rounds: int) -> dict[str, float]:
    """Median seconds of ``vdot(conv(a, b), g)`` and its gradients in ``a`` and ``b``, jitted, for
    each ``convs[name] = (conv, a, b)``, in alternating rounds after two warm-up calls each."""
    calls = {}
    for name, (conv, a, b) in convs.items():

        def loss(a, b, conv=conv):
            return jnp.vdot(conv(a, b), g)

        grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
        calls[name] = functools.partial(grad, a, b)
    return time_alternating(calls, (), rounds, warmup=2)


def normal(rng, shape) -> jax.Array:
    return jnp.asarray(rng.normal(size=shape), jnp.float32)


# (name, y shape (N, *S, C_y), lax kernel shape (*k, C_y, C_z), input dilation, lax padding)
FOLD_SHAPES = [
    ("U-Net up, 8×8×128 -> 16×16×64", (8, 8, 8, 128), (2, 2, 128, 64), 2, (1, 1)),
    ("U-Net up, 32×32×32 -> 64×64×16", (8, 32, 32, 32), (2, 2, 32, 16), 2, (1, 1)),
    ("3×3, 16×16×64 -> 32×32×32", (8, 16, 16, 64), (3, 3, 64, 32), 2, (1, 2)),
    ("3-D up, 8³×32 -> 16³×16", (4, 8, 8, 8, 32), (2, 2, 2, 32, 16), 2, (1, 1)),
]


def fold_row(name, y_shape, kernel_shape, dilation, pads, rounds: int) -> dict:
    """conv_general_dilated with input dilation against conv_transpose on the same numbers:
    forward and both gradients, jitted, alternating rounds."""
    rank = len(y_shape) - 2
    rng = np.random.default_rng(0)
    y, kernel = normal(rng, y_shape), normal(rng, kernel_shape)  # kernel: lax's (*k, C_y, C_z)

    def dilated(y, kernel):
        return jaxconv.conv_general_dilated(
            y, kernel, (1,) * rank, [pads] * rank, (dilation,) * rank, None, CHANNELS_LAST[rank]
        )

    # the same map as conv_transpose: the kernel flipped, channels swapped; padding k - 1 - lo
    forward_kernel = jnp.flip(kernel, axis=tuple(range(rank))).swapaxes(-1, -2)
    k = kernel_shape[0]
    crop = [(k - 1 - pads[0], k - 1 - pads[1])] * rank

    def transposed(y, kernel):
        return jaxconv.conv_transpose(y, kernel, dilation, crop)

    out = dilated(y, kernel)
    g = normal(rng, out.shape)
    np.testing.assert_allclose(out, transposed(y, forward_kernel), rtol=1e-4, atol=1e-3)
    convs = {
        "input_dilated": (dilated, y, kernel),
        "conv_transpose": (transposed, y, forward_kernel),
    }
    seconds = gradient_seconds(convs, g, rounds)
    return {
        "shape": name,
        "input_dilated_s": seconds["input_dilated"],
        "conv_transpose_s": seconds["conv_transpose"],
        "ratio": seconds["input_dilated"] / seconds["conv_transpose"],
        "rounds": rounds,
    }


# The U-Net's 3×3 'SAME' layers at batch 8: (input shape, kernel shape)
UNET_DENSE_SHAPES = [
    ((8, 64, 64, 3), (3, 3, 3, 16)),
    ((8, 64, 64, 16), (3, 3, 16, 16)),
    ((8, 64, 64, 32), (3, 3, 32, 16)),
    ((8, 32, 32, 16), (3, 3, 16, 32)),
    ((8, 32, 32, 64), (3, 3, 64, 32)),
    ((8, 16, 16, 32), (3, 3, 32, 64)),
    ((8, 16, 16, 128), (3, 3, 128, 64)),
    ((8, 8, 8, 64), (3, 3, 64, 128)),
    ((8, 8, 8, 128), (3, 3, 128, 128)),
]


def dense_row(x_shape, kernel_shape, rounds: int) -> dict:
    """One 3×3 'SAME' layer, forward and both gradients, XLA's convolution against jaxconv's."""
    rng = np.random.default_rng(0)
    x, kernel = normal(rng, x_shape), normal(rng, kernel_shape)
    g = normal(rng, (*x_shape[:-1], kernel_shape[-1]))

    def same(conv):
        return lambda x, kernel: conv(x, kernel, (1, 1), "SAME", None, None, CHANNELS_LAST[2])

    convs = {
        "xla": (same(lax.conv_general_dilated), x, kernel),
        "jaxconv": (same(jaxconv.conv_general_dilated), x, kernel),
    }
    seconds = gradient_seconds(convs, g, rounds)
    return {
        "input": list(x_shape),
        "kernel": list(kernel_shape),
        "xla_s": seconds["xla"],
        "jaxconv_s": seconds["jaxconv"],
        "ratio": seconds["jaxconv"] / seconds["xla"],
        "rounds": rounds,
    }


def network_lines(rows) -> list[str]:
    lines = [
        "| network | batch | parameters | first loss, stock | first loss, jaxconv | stock (s/step) "
        "| swapped (s/step) | speed-up | only ConvTranspose swapped (s/step) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        only = "-"
        if "transposed_only_s" in r:
            only = f"{r['transposed_only_s']:.3f} ({r['stock_s'] / r['transposed_only_s']:.1f}×)"
        lines.append(
            f"| {r['network']} | {r['batch']} | {r['parameters']:,} | {r['first_loss_stock']:.6f} "
            f"| {r['first_loss_jaxconv']:.6f} | {r['stock_s']:.3f} | {r['jaxconv_s']:.3f} "
            f"| {r['speedup']:.1f}× | {only} |"
        )
    return lines


def fold_lines(rows) -> list[str]:
    lines = [
        "`jaxconv.conv_general_dilated` with input dilation (the fold path) against "
        "`jaxconv.conv_transpose` on the same numbers, forward and both gradients, median "
        "seconds in alternating rounds:",
        "",
        "| shape | input-dilated (ms) | conv_transpose (ms) | ratio |",
        "|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['shape']} | {1e3 * r['input_dilated_s']:.2f} "
            f"| {1e3 * r['conv_transpose_s']:.2f} | {r['ratio']:.2f} |"
        )
    return lines


def dense_lines(rows) -> list[str]:
    lines = [
        "The U-Net's 3×3 'SAME' layers at batch 8, forward and both gradients, XLA's "
        "convolution against jaxconv's, median seconds in alternating rounds:",
        "",
        "| input | kernel | XLA (ms) | jaxconv (ms) | jaxconv / XLA |",
        "|---|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {'×'.join(map(str, r['input']))} | {'×'.join(map(str, r['kernel']))} "
            f"| {1e3 * r['xla_s']:.2f} | {1e3 * r['jaxconv_s']:.2f} | {r['ratio']:.2f} |"
        )
    return lines


def markdown(result: dict) -> str:
    """The tables of a result (what ``--json`` writes): whole training steps, then the fold path
    and the dense layers when they were measured."""
    lines = [
        f"Training steps (forward, backward, Adam), {result['machine']}, {result['date']}. Median "
        "seconds per step, stock and swapped in alternating rounds; the machine was shared with "
        "other jobs, so the ratios are the numbers to read.",
        "",
        *network_lines(result["networks"]),
    ]
    if result["input_dilation"]:
        lines += ["", *fold_lines(result["input_dilation"])]
    if result["unet_dense_layers"]:
        lines += ["", *dense_lines(result["unet_dense_layers"])]
    return "\n".join(lines)


def measure(args) -> dict:
    """The networks' rows, then the layer tables', each reported as it is measured."""
    networks = []
    for spec in specs():
        if args.only and args.only not in spec.name:
            continue
        r = network_row(spec, args.rounds)
        networks.append(r)
        print(
            f"{r['network']}: first loss stock {r['first_loss_stock']:.6f}, jaxconv "
            f"{r['first_loss_jaxconv']:.6f}; {r['stock_s']:.3f} s/step stock, "
            f"{r['jaxconv_s']:.3f} s/step swapped: {r['speedup']:.1f}×",
            flush=True,
        )
    folds = [] if args.no_fold else [fold_row(*s, args.fold_rounds) for s in FOLD_SHAPES]
    for r in folds:
        print(f"{r['shape']}: input-dilated / conv_transpose = {r['ratio']:.2f}", flush=True)
    dense = [] if args.no_layers else [dense_row(*s, args.fold_rounds) for s in UNET_DENSE_SHAPES]
    for r in dense:
        print(f"{r['input']} {r['kernel']}: jaxconv / XLA = {r['ratio']:.2f}", flush=True)
    return {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "networks": networks,
        "input_dilation": folds,
        "unet_dense_layers": dense,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default: 5)")
    parser.add_argument(
        "--fold-rounds", type=int, default=20, help="rounds of the layer tables (20)"
    )
    parser.add_argument("--only", help="only the networks whose name contains this")
    parser.add_argument("--no-fold", action="store_true", help="skip the input-dilation table")
    parser.add_argument(
        "--no-layers", action="store_true", help="skip the U-Net's dense layers table"
    )
    add_output_flags(parser)
    args = parser.parse_args(argv)
    if args.from_json:
        print(markdown(json.loads(Path(args.from_json).read_text())))
        return
    result = measure(args)
    if args.markdown:
        print("\n" + markdown(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
