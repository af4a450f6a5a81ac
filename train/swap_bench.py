"""Whole training steps of real architectures, stock Flax NNX against ``jaxconv.swap_convolutions``.

    python -m train.swap_bench --markdown                  # the table (docs/bench/swap_bench-*.md)
    python -m train.swap_bench --json docs/bench/swap_bench-cpu-2core.json
    python -m train.swap_bench --rounds 3 --only U-Net     # one network, fewer rounds

Each network of ``train.swap_models`` is built twice from the same seed: once as
it is, once swapped. A training step is forward, backward and an optax Adam
update, one ``nnx.jit`` call on the same synthetic batch. Both first losses
are printed: they must agree to float tolerance (the same parameters, the same
function). Then the two take turns, one step each per round, after the first
step (compilation; its loss is the first loss) and one warm-up step each; the
table gives the median seconds per step and the ratio of the medians. A
network with ``nnx.ConvTranspose`` layers is also timed with only those swapped
(``swap_convolutions(model, layers=(nnx.ConvTranspose,))``), its dense layers
stock.

Then two tables of single layers, forward and both gradients, jitted, in
alternating rounds: ``jaxconv.conv_general_dilated`` with ``lhs_dilation`` (the
fold path) against ``jaxconv.conv_transpose`` computing the same numbers, on
the networks' upsampling shapes; and the U-Net's dense 3×3 layers, XLA's
convolution against jaxconv's.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

import numpy as np


def training_step(model, loss):
    """One jitted step ``() -> loss`` of ``model`` on a fixed batch, Adam from a fresh state."""
    import optax
    from flax import nnx

    optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer, x, y):
        value, grads = nnx.value_and_grad(loss)(model, x, y)
        optimizer.update(model, grads)
        return value

    return lambda x, y: step(model, optimizer, x, y)


def median_seconds(steps: dict, args, rounds: int, warmup: int = 2) -> dict[str, float]:
    """Median seconds of each ``steps[name](*args)`` over ``rounds`` rounds, one call of each in
    turn, after ``warmup`` calls each (compilation)."""
    for step in steps.values():
        for _ in range(warmup):
            step(*args).block_until_ready()
    seconds = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            step(*args).block_until_ready()
            seconds[name].append(time.perf_counter() - start)
    return {name: float(np.median(s)) for name, s in seconds.items()}


def network_row(spec, rounds: int) -> dict:
    """First losses and median step times of ``spec``'s network, stock and swapped."""
    from flax import nnx

    import jaxconv
    from train.swap_models import parameter_count

    x, y = spec.batch()
    stock = spec.make(nnx.Rngs(0))
    swapped = jaxconv.swap_convolutions(spec.make(nnx.Rngs(0)))
    steps = {"stock": training_step(stock, spec.loss), "jaxconv": training_step(swapped, spec.loss)}
    if any(isinstance(node, nnx.ConvTranspose) for _, node in nnx.iter_graph(stock)):
        transposed_only = spec.make(nnx.Rngs(0))
        jaxconv.swap_convolutions(transposed_only, layers=(nnx.ConvTranspose,))
        steps["transposed_only"] = training_step(transposed_only, spec.loss)
    first = {name: float(step(x, y)) for name, step in steps.items()}
    seconds = median_seconds(steps, (x, y), rounds, warmup=1)
    extra = {}
    if "transposed_only" in seconds:
        extra = {
            "first_loss_transposed_only": first["transposed_only"],
            "transposed_only_s": seconds["transposed_only"],
        }
    return extra | {
        "network": spec.name,
        "batch": spec.input_shape[0],
        "input": list(spec.input_shape),
        "parameters": parameter_count(stock),
        "first_loss_stock": first["stock"],
        "first_loss_jaxconv": first["jaxconv"],
        "stock_s": seconds["stock"],
        "jaxconv_s": seconds["jaxconv"],
        "speedup": seconds["stock"] / seconds["jaxconv"],
        "rounds": rounds,
    }


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
    import jax
    import jax.numpy as jnp

    import jaxconv

    rank = len(y_shape) - 2
    rng = np.random.default_rng(0)
    y = jnp.asarray(rng.normal(size=y_shape), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=kernel_shape), jnp.float32)  # lax's (*k, C_y, C_z)
    k = kernel_shape[0]
    layouts = {2: ("NHWC", "HWIO", "NHWC"), 3: ("NDHWC", "DHWIO", "NDHWC")}[rank]

    def dilated(y, kernel):
        return jaxconv.conv_general_dilated(
            y, kernel, (1,) * rank, [pads] * rank, (dilation,) * rank, None, layouts
        )

    # the same map as conv_transpose: the kernel flipped, channels swapped; padding k - 1 - lo
    forward_kernel = jnp.flip(kernel, axis=tuple(range(rank))).swapaxes(-1, -2)
    crop = [(k - 1 - pads[0], k - 1 - pads[1])] * rank

    def transposed(y, kernel):
        return jaxconv.conv_transpose(y, kernel, dilation, crop)

    g = jnp.asarray(rng.normal(size=dilated(y, kernel).shape), jnp.float32)
    np.testing.assert_allclose(
        np.asarray(dilated(y, kernel)),
        np.asarray(transposed(y, forward_kernel)),
        rtol=1e-4,
        atol=1e-3,
    )

    def timed(conv, kernel):
        grad = jax.jit(jax.value_and_grad(lambda a, b: jnp.vdot(conv(a, b), g), argnums=(0, 1)))
        return lambda: grad(y, kernel)[0]

    seconds = median_seconds(
        {
            "input_dilated": timed(dilated, kernel),
            "conv_transpose": timed(transposed, forward_kernel),
        },
        (),
        rounds,
    )
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
    import jax
    import jax.numpy as jnp
    from jax import lax

    import jaxconv

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=x_shape), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=kernel_shape), jnp.float32)
    g = jnp.asarray(rng.normal(size=(*x_shape[:-1], kernel_shape[-1])), jnp.float32)

    def timed(conv):
        def loss(x, kernel):
            return jnp.vdot(
                conv(x, kernel, (1, 1), "SAME", None, None, ("NHWC", "HWIO", "NHWC")), g
            )

        grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
        return lambda: grad(x, kernel)[0]

    seconds = median_seconds(
        {"xla": timed(lax.conv_general_dilated), "jaxconv": timed(jaxconv.conv_general_dilated)},
        (),
        rounds,
    )
    return {
        "input": list(x_shape),
        "kernel": list(kernel_shape),
        "xla_s": seconds["xla"],
        "jaxconv_s": seconds["jaxconv"],
        "ratio": seconds["jaxconv"] / seconds["xla"],
        "rounds": rounds,
    }


def markdown(rows, fold_rows, machine: str, date: str, dense_rows=()) -> str:
    lines = [
        f"Training steps (forward, backward, Adam), {machine}, {date}. Median seconds per step, "
        "stock and swapped in alternating rounds; the machine was shared with other jobs, so the "
        "ratios are the numbers to read.",
        "",
        "| network | batch | parameters | first loss, stock | first loss, jaxconv | stock (s/step) "
        "| swapped (s/step) | speed-up | only ConvTranspose swapped (s/step) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        only = (
            f"{r['transposed_only_s']:.3f} ({r['stock_s'] / r['transposed_only_s']:.1f}×)"
            if "transposed_only_s" in r
            else "-"
        )
        lines.append(
            f"| {r['network']} | {r['batch']} | {r['parameters']:,} | {r['first_loss_stock']:.6f} "
            f"| {r['first_loss_jaxconv']:.6f} | {r['stock_s']:.3f} | {r['jaxconv_s']:.3f} "
            f"| {r['speedup']:.1f}× | {only} |"
        )
    if fold_rows:
        lines += [
            "",
            "`jaxconv.conv_general_dilated` with input dilation (the fold path) against "
            "`jaxconv.conv_transpose` on the same numbers, forward and both gradients, median "
            "seconds in alternating rounds:",
            "",
            "| shape | input-dilated (ms) | conv_transpose (ms) | ratio |",
            "|---|---:|---:|---:|",
        ]
        for r in fold_rows:
            lines.append(
                f"| {r['shape']} | {1e3 * r['input_dilated_s']:.2f} "
                f"| {1e3 * r['conv_transpose_s']:.2f} | {r['ratio']:.2f} |"
            )
    if dense_rows:
        lines += [
            "",
            "The U-Net's 3×3 'SAME' layers at batch 8, forward and both gradients, XLA's "
            "convolution against jaxconv's, median seconds in alternating rounds:",
            "",
            "| input | kernel | XLA (ms) | jaxconv (ms) | jaxconv / XLA |",
            "|---|---|---:|---:|---:|",
        ]
        for r in dense_rows:
            lines.append(
                f"| {'×'.join(map(str, r['input']))} | {'×'.join(map(str, r['kernel']))} "
                f"| {1e3 * r['xla_s']:.2f} | {1e3 * r['jaxconv_s']:.2f} | {r['ratio']:.2f} |"
            )
    return "\n".join(lines)


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
    parser.add_argument("--markdown", action="store_true", help="print the tables as markdown")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    from jaxconv.bench import machine
    from train.swap_models import specs

    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    rows = []
    for spec in specs():
        if args.only and args.only not in spec.name:
            continue
        row = network_row(spec, args.rounds)
        rows.append(row)
        print(
            f"{row['network']}: first loss stock {row['first_loss_stock']:.6f}, jaxconv "
            f"{row['first_loss_jaxconv']:.6f}; {row['stock_s']:.3f} s/step stock, "
            f"{row['jaxconv_s']:.3f} s/step swapped: {row['speedup']:.1f}×",
            flush=True,
        )
    fold_rows = [] if args.no_fold else [fold_row(*s, args.fold_rounds) for s in FOLD_SHAPES]
    for r in fold_rows:
        print(f"{r['shape']}: input-dilated / conv_transpose = {r['ratio']:.2f}", flush=True)
    dense_rows = (
        [] if args.no_layers else [dense_row(*s, args.fold_rounds) for s in UNET_DENSE_SHAPES]
    )
    for r in dense_rows:
        print(f"{r['input']} {r['kernel']}: jaxconv / XLA = {r['ratio']:.2f}", flush=True)
    if args.markdown:
        print()
        print(markdown(rows, fold_rows, machine(), date, dense_rows))
    if args.json:
        result = {
            "machine": machine(),
            "date": date,
            "networks": rows,
            "input_dilation": fold_rows,
            "unet_dense_layers": dense_rows,
        }
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
