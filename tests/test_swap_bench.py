"""train.swap_bench and train.swap_models: the networks, their training steps, the tables."""

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxconv
from train import swap_bench
from train.swap_bench import dense_row, markdown, network_row
from train.swap_models import specs

# compiling the three larger networks twice takes 10-20 s on a 2-core CPU
SPECS = [
    pytest.param(s, marks=() if s.name.startswith("TCN") else pytest.mark.slow, id=s.name)
    for s in specs(batch_scale=0.05)
]


@pytest.mark.parametrize("spec", SPECS)
def test_each_network_gives_the_same_loss_stock_and_swapped(spec):
    x, y = spec.batch()
    stock = spec.make(nnx.Rngs(0))
    swapped = jaxconv.swap_convolutions(spec.make(nnx.Rngs(0)))
    assert any(
        isinstance(node, (nnx.Conv, nnx.ConvTranspose)) for _, node in nnx.iter_graph(swapped)
    )
    loss = nnx.jit(spec.loss)
    stock_loss, swapped_loss = loss(stock, x, y), loss(swapped, x, y)
    assert jnp.isfinite(stock_loss)
    np.testing.assert_allclose(float(swapped_loss), float(stock_loss), rtol=1e-5)


@pytest.mark.slow
def test_network_row_trains_both_and_reports_equal_first_losses():
    tcn = next(s for s in specs(batch_scale=0.125) if s.name.startswith("TCN"))
    row = network_row(tcn, rounds=1)
    assert row["batch"] == 2 and row["parameters"] > 0
    assert row["first_loss_jaxconv"] == pytest.approx(row["first_loss_stock"], rel=1e-5)
    assert row["speedup"] == pytest.approx(row["stock_s"] / row["jaxconv_s"])


def test_markdown_shows_both_first_losses_and_the_ratio_of_the_medians():
    row = {
        "network": "net",
        "batch": 8,
        "parameters": 1234,
        "first_loss_stock": 1.5,
        "first_loss_jaxconv": 1.5,
        "stock_s": 2.0,
        "jaxconv_s": 0.25,
        "speedup": 8.0,
    }
    fold = {"shape": "up", "input_dilated_s": 0.0011, "conv_transpose_s": 0.001, "ratio": 1.1}
    result = {"machine": "cpu X", "date": "2026-01-01", "networks": [row]}
    result |= {"input_dilation": [fold], "unet_dense_layers": []}
    table = markdown(result)
    assert "| net | 8 | 1,234 | 1.500000 | 1.500000 | 2.000 | 0.250 | 8.0× | - |" in table
    row |= {"transposed_only_s": 0.5}
    table = markdown(result)
    assert "| 2.000 | 0.250 | 8.0× | 0.500 (4.0×) |" in table
    assert "| up | 1.10 | 1.00 | 1.10 |" in table
    assert "cpu X, 2026-01-01" in table


def test_dense_row_times_both_convolutions_and_the_table_shows_it():
    row = dense_row((1, 6, 6, 2), (3, 3, 2, 3), rounds=1)
    assert row["xla_s"] > 0 and row["jaxconv_s"] > 0
    assert row["ratio"] == pytest.approx(row["jaxconv_s"] / row["xla_s"])
    row |= {"xla_s": 0.002, "jaxconv_s": 0.003, "ratio": 1.5}
    result = {"machine": "cpu X", "date": "2026-01-01", "networks": [], "input_dilation": []}
    table = markdown(result | {"unet_dense_layers": [row]})
    assert "| 1×6×6×2 | 3×3×2×3 | 2.00 | 3.00 | 1.50 |" in table


def test_from_json_prints_the_saved_runs_tables_as_docs_show_them(capsys):
    saved = Path(__file__).parent.parent / "docs/bench/swap_bench-cpu-2core.json"
    swap_bench.main(["--from-json", str(saved)])
    printed = capsys.readouterr().out
    shown = (saved.parent / "swap_bench-cpu-2core.md").read_text()
    tables = [line for line in printed.splitlines() if line.startswith("|")]
    assert tables and all(line in shown for line in tables)
