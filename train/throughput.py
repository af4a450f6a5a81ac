"""What ``python -m train.bench`` measures, on synthetic data: images/s of whole training steps
(forward, backward, Adam) of each contender of a row, in alternating rounds; and the wall time
of ``python -m train.fixed`` to its test accuracy.

Each network is timed with jaxconv and with flax.nnx.Conv (XLA's convolution), each both as
the trainers run it and Flax-example style, and eagerly in PyTorch when torch can be imported.
Inside the trainers' scan XLA's CPU convolutions keep non-canonical layouts for their gradients
and fall back to a slow path, so jaxconv is compared with nnx.Conv's better way.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import jax
import numpy as np
import optax
from flax import nnx

import configs.fixed
import configs.varres
import jaxconv
from jaxconv._shapes import ceil_div
from jaxconv.bench import machine, time_alternating
from train.compilation_cache import MIN_COMPILE_SECONDS
from train.data.batching import DeviceGroup
from train.data.cache import cache_dir as resolve_cache
from train.data.cache import data_dir
from train.data.datasets import load_datasets
from train.data.groups import ImageGroup
from train.flops import cpu_fp32_peak, training_step_flops
from train.models import FixedCNN, VarResCNN, flax_conv
from train.steps import Steps, to_float


@dataclasses.dataclass
class Contender:
    """One implementation of a row, ready to time: ``run()`` trains one round of ``images``
    images and returns once the work is done."""

    images: int
    run: Callable[[], None]


def images_per_second(contenders: dict[str, Contender], repeats: int) -> dict[str, float]:
    """Median images/s of each contender over ``repeats`` alternating rounds, after two rounds
    each of compilation and warm-up."""
    runs = {name: contender.run for name, contender in contenders.items()}
    seconds = time_alternating(runs, (), repeats, warmup=2)
    return {name: c.images / seconds[name] for name, c in contenders.items()}


def as_trainer_runs(
    make_model, batch: int, side: int, steps_per_call: int, calls: int, tile_pixels: int = 0
) -> Contender:
    """As the trainers run: ``calls`` jitted calls of ``train.steps.Steps`` per round, each a scan
    of ``steps_per_call`` steps, the batch's gradient in tiles of at most ``tile_pixels`` pixels."""
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


def network_row(side: int, batch: int, varres: bool, repeats: int, with_torch: bool) -> dict:
    """Images/s of each contender on Q8's network (28×28) or Q14's (N = 81), and the FLOP per
    image of its training step."""
    network = functools.partial(VarResCNN, (16, 32, 81)) if varres else FixedCNN

    def make(conv):
        return lambda rngs: network(conv=conv, rngs=rngs)

    steps = max(10, (800 if varres else 1600) // batch)
    # train.fixed scans all the row's steps in one call; train.varres its config's steps_per_call
    config = configs.varres.get_config() if varres else configs.fixed.get_config()
    per_call = config.steps_per_call if varres else steps
    calls = ceil_div(steps, per_call)
    contenders = {
        "jaxconv": as_trainer_runs(
            make(jaxconv.Conv2D), batch, side, per_call, calls, config.tile_pixels
        ),
        "jaxconv_per_step": jit_per_step(make(jaxconv.Conv2D), batch, side, steps),
        "flax_nnx_conv": as_trainer_runs(
            make(flax_conv), batch, side, per_call, calls, config.tile_pixels
        ),
        "flax_nnx_conv_per_step": jit_per_step(make(flax_conv), batch, side, steps),
    }
    if with_torch:
        from train import torch_reference  # torch is optional

        channels = (16, 32, 81) if varres else (16, 32, 64)
        for key, conv in (("torch_conv2d", "nn"), ("torch_unfold_fold", "unfold")):
            run = torch_reference.training_round(conv, batch, side, steps, varres, channels)
            contenders[key] = Contender(steps * batch, run)
    flop = training_step_flops(make(jaxconv.Conv2D)(nnx.Rngs(0)), 1, side, side)
    return {"step_flop_per_image": flop} | images_per_second(contenders, repeats)


def network_rows(batches, repeats: int, with_torch: bool) -> list[dict]:
    """Q8's network at each of ``batches``, then Q14's at batch 16 on 32×32, 48×48 and 64×64."""
    cases = [("Q8 fixed, 28x28", 28, b, False) for b in batches] + [
        (f"Q14 varres N=81, {s}x{s}", s, 16, True) for s in (32, 48, 64)
    ]
    rows = []
    for name, side, batch, varres in cases:
        row = network_row(side, batch, varres, repeats, with_torch)
        rows.append({"network": name, "batch": batch} | row)
        print(f"  measured {name} batch {batch}", file=sys.stderr, flush=True)
    return rows


def torch_rows(wanted: bool) -> tuple[bool, str]:
    """Whether to time the PyTorch contenders, and what the result says about torch."""
    try:
        import torch  # optional, and heavy
    except ImportError:
        return False, "torch not installed"
    if not wanted:
        return False, "torch rows skipped"
    return True, f"torch {torch.__version__}, {torch.get_num_threads()} threads"


def measure(batches, repeats: int, torch_wanted: bool) -> dict:
    """The throughput rows and what they ran on; on a CPU also its FP32 peak (train/flops.py)."""
    with_torch, torch_info = torch_rows(torch_wanted)
    result = {
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "machine": machine(),
        "torch": torch_info,
        "devices": len(jax.devices()),
        "repeats": repeats,
        "timing": "alternating",
        "rows": network_rows(batches, repeats, with_torch),
    }
    if jax.devices()[0].platform == "cpu":  # no peak rule for accelerators
        peak = cpu_fp32_peak()
        result["fp32_peak"] = dataclasses.asdict(peak) | {"flops": peak.flops}
    return result


def time_to_accuracy(cache_dir: str | None) -> dict:
    """Wall time of the default ``python -m train.fixed``, process start to exit, data already
    prepared: ``cold``, compiling everything (the first run, which fills a fresh compilation
    cache), then ``warm``, a second run that loads its programs from that cache
    (train/compilation_cache.py)."""
    load_datasets(configs.fixed.get_config(), resolve_cache(cache_dir), data_dir())
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
            keep = ("test_accuracy", "epochs", "train_seconds")
            result[name] = {"seconds": seconds} | {key: summary[key] for key in keep}
    return result
