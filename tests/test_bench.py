"""train.bench and train.throughput: the throughput measurement and the tables it prints."""

import json
import math

import pytest
from flax import nnx

import jaxconv
from train import bench, throughput
from train.bench import markdown
from train.flops import cpu_fp32_peak, flop_per_cycle, training_step_flops
from train.models import FixedCNN
from train.throughput import Contender, as_trainer_runs, images_per_second


@pytest.mark.slow
def test_as_trainer_runs_trains_whole_calls():
    make = lambda rngs: FixedCNN(conv=jaxconv.Conv2D, rngs=rngs)  # noqa: E731
    contender = as_trainer_runs(make, batch=4, side=28, steps_per_call=2, calls=2, tile_pixels=0)
    assert contender.images == 2 * 2 * 4
    rate = images_per_second({"jaxconv": contender}, repeats=1)["jaxconv"]
    assert math.isfinite(rate) and rate > 0


def test_images_per_second_alternates_the_contenders_after_their_warm_up():
    calls = []
    contenders = {
        name: Contender(images, lambda name=name: calls.append(name))
        for name, images in (("a", 10), ("b", 20))
    }
    rates = images_per_second(contenders, repeats=3)
    assert calls == ["a", "a", "b", "b"] + ["a", "b"] * 3  # two warm-up rounds each, then in turn
    assert set(rates) == {"a", "b"} and all(rate > 0 for rate in rates.values())


def test_markdown_ratios_use_nnx_at_its_best_and_torch_nn_conv2d():
    row = {
        "network": "net",
        "batch": 16,
        "jaxconv": 600.0,
        "jaxconv_per_step": 500.0,
        "flax_nnx_conv": 100.0,
        "flax_nnx_conv_per_step": 400.0,
        "torch_conv2d": 480.0,
        "torch_unfold_fold": 200.0,
    }
    last_line = markdown([row]).splitlines()[-1]
    assert last_line == "| net | 16 | 600 | 500 | 100 | 400 | 480 | 200 | 1.50 | 1.25 |"


def test_markdown_leaves_out_torch_when_it_was_not_measured():
    row = {"network": "net", "batch": 16, "jaxconv": 600.0, "jaxconv_per_step": 500.0}
    row |= {"flax_nnx_conv": 100.0, "flax_nnx_conv_per_step": 400.0}
    table = markdown([row])
    assert "torch" not in table and table.splitlines()[-1].endswith("| 1.50 |")


@pytest.mark.slow
def test_training_step_flops_of_a_tiny_network_is_the_hand_count():
    model = FixedCNN(channels=(2, 3), input_size=4, rngs=nnx.Rngs(0))
    # conv 1: M = 4·4 = 16, K = 3·3·1 = 9, N = 2: forward 2·16·9·2 = 576, backward only dW: 576
    # conv 2 (after a 2x2 pool, 2x2): M = 4, K = 3·3·2 = 18, N = 3: forward 432, backward 2·432
    # linear (after a pool, 1x1x3): M = 1, K = 3, N = 10: forward 60, backward 2·60
    per_image = (576 + 576) + 3 * 432 + 3 * 60
    assert per_image == 2628
    assert training_step_flops(model, 1, 4, 4) == 2628
    assert training_step_flops(model, 5, 4, 4) == 5 * 2628


def test_flop_per_cycle_follows_the_vector_units():
    avx512 = {"sse", "sse2", "avx", "avx2", "fma", "avx512f"}
    assert flop_per_cycle(avx512, "GenuineIntel", 6, 85)[0] == 64
    assert flop_per_cycle(avx512, "AuthenticAMD", 25, 17)[0] == 32  # Zen 4: 256-bit halves
    assert flop_per_cycle(avx512 - {"avx512f"}, "AuthenticAMD", 25, 1)[0] == 32  # Zen 3
    assert flop_per_cycle({"sse", "sse2"}, "GenuineIntel", 6, 15)[0] == 8


CPUINFO = "\n\n".join(
    f"processor\t: {i}\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\n"
    f"physical id\t: 0\ncore id\t\t: {i // 2}\ncpu MHz\t\t: 2000.000\n"
    "flags\t\t: sse sse2 avx avx2 fma"
    for i in range(4)  # 2 cores with 2 SMT threads each
)


def test_cpu_fp32_peak_counts_cores_not_threads(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3})
    peak = cpu_fp32_peak(CPUINFO, max_khz="")
    assert (peak.cores, peak.mhz, peak.flop_per_cycle) == (2, 2000.0, 32)
    assert peak.flops == 2 * 2e9 * 32
    assert cpu_fp32_peak(CPUINFO, max_khz="3500000\n").mhz == 3500.0


def test_markdown_shows_the_share_of_the_fp32_peak():
    row = {"network": "net", "batch": 16, "jaxconv": 1000.0, "jaxconv_per_step": 500.0}
    row |= {"flax_nnx_conv": 100.0, "flax_nnx_conv_per_step": 400.0, "step_flop_per_image": 2e6}
    header, _, line = markdown([row], peak_flops=1e10).splitlines()
    assert header.endswith("| jaxconv, share of FP32 peak |")
    assert line.endswith("| 2.50 | 20.0% |")  # 1000 images/s × 2 MFLOP = 2 GFLOP/s of 10


TRAIN_ROW = {
    "network": "net",
    "batch": 16,
    "step_flop_per_image": 2e6,
    "jaxconv": 1000.0,
    "jaxconv_per_step": 500.0,
    "flax_nnx_conv": 100.0,
    "flax_nnx_conv_per_step": 400.0,
}
TRAIN_RESULT = {
    "command": "python -m train.bench --no-torch --repeats 5",
    "date": "2026-11-26",
    "machine": "cpu AMD EPYC, 2 cores, jax 0.10.2",
    "torch": "torch rows skipped",
    "repeats": 5,
    "timing": "alternating",
    "rows": [TRAIN_ROW],
    "fp32_peak": {"cores": 2, "mhz": 2500.0, "flop_per_cycle": 2, "isa": "scalar", "flops": 1e10},
}


def test_markdown_block_captions_the_table_with_command_date_machine_and_peak():
    caption, blank, *table = bench.markdown_block(TRAIN_RESULT).splitlines()
    assert caption == (
        "`python -m train.bench --no-torch --repeats 5`, 2026-11-26, cpu AMD EPYC, 2 cores, "
        "jax 0.10.2, torch rows skipped: images/s of whole training steps, median of 5 "
        "alternating rounds; FP32 peak 10.0 GFLOP/s = 2 cores × 2500 MHz × 2 FLOP/cycle (scalar)."
    )
    assert blank == "" and table == markdown([TRAIN_ROW], peak_flops=1e10).splitlines()


def test_markdown_block_says_how_a_sequential_run_was_timed_and_shows_no_peak_off_a_cpu():
    result = {k: v for k, v in TRAIN_RESULT.items() if k != "fp32_peak"} | {"timing": "sequential"}
    caption = bench.markdown_block(result).splitlines()[0]
    assert caption.endswith("median of 5 repeats, each implementation's in a row.")


def test_markdown_block_adds_the_time_to_accuracy_table():
    runs = {
        "cold": {"seconds": 38.54, "test_accuracy": 0.9915, "epochs": 2, "train_seconds": 24.06},
        "warm": {"seconds": 34.2, "test_accuracy": 0.9915, "epochs": 2, "train_seconds": 23.9},
    }
    lines = bench.markdown_block(TRAIN_RESULT | {"time_to_accuracy": runs}).splitlines()
    assert lines[-6].startswith("Time to accuracy, `python -m train.fixed` (default config), 2026-")
    assert lines[-2:] == [
        "| cold | 38.5 | 99.15% | 2 | 24.1 |",
        "| warm | 34.2 | 99.15% | 2 | 23.9 |",
    ]


def test_markdown_block_refuses_a_result_without_its_command():
    result = {k: v for k, v in TRAIN_RESULT.items() if k != "command"}
    with pytest.raises(ValueError, match=r"needs \['command'\]"):
        bench.markdown_block(result)


def test_markdown_of_a_run_is_what_its_json_renders_to(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        throughput, "network_rows", lambda batches, repeats, with_torch: [TRAIN_ROW]
    )
    saved = tmp_path / "run.json"
    argv = ["--no-torch", "--no-time-to-accuracy", "--repeats", "2", "--markdown"]
    bench.main(argv + ["--json", str(saved)])
    printed = capsys.readouterr().out
    result = json.loads(saved.read_text())
    assert result["command"] == "python -m train.bench --no-torch --no-time-to-accuracy --repeats 2"
    assert (result["repeats"], result["timing"]) == (2, "alternating")
    bench.main(["--from-json", str(saved)])
    assert capsys.readouterr().out == printed == bench.markdown_block(result) + "\n"
