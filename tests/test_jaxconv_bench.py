"""python -m jaxconv.bench: every row kind runs, checks jaxconv against XLA, and prints its
table."""

import argparse
import json
import math

import numpy as np
import pytest

from jaxconv import bench
from jaxconv.bench import ND_ROWS, TRANSPOSE_ROWS, Row, bench_row, markdown_table, time_alternating


@pytest.mark.slow
def test_bench_rows_time_jaxconv_xla_and_nnx_and_the_table_shows_them():
    rows = [
        bench_row(Row("tiny grouped", (2, 6, 6, 4), (3, 3, 2, 4), groups=2), rounds=2),
        bench_row(
            Row("tiny transposed", (2, 4, 4, 4), (4, 4, 2, 4), stride=2), rounds=2, transposed=True
        ),
    ]
    assert all(math.isfinite(r["ratio_fwd_bwd"]) and r["ratio_fwd_bwd"] > 0 for r in rows)
    assert "nnx_fwd_bwd" in rows[1] and "nnx_fwd_bwd" not in rows[0]
    table = markdown_table(rows).splitlines()
    assert "nnx fwd+bwd (ms)" in table[0] and table[2].count("|") == table[3].count("|") == table[
        0
    ].count("|")


def test_time_alternating_alternates_the_steps_after_their_warm_up():
    calls = []
    steps = {name: (lambda name=name: calls.append(name)) for name in ("a", "b")}
    seconds = time_alternating(steps, (), rounds=3, warmup=2)
    assert calls == ["a", "a", "b", "b"] + ["a", "b"] * 3
    assert set(seconds) == {"a", "b"} and all(s >= 0 for s in seconds.values())


def test_the_issue_rows_are_there():
    names = [row.name for row in ND_ROWS + TRANSPOSE_ROWS]
    assert (
        len(names) == 11
        and any("depthwise" in n for n in names)
        and any("3-D 8^3" in n for n in names)
    )


def test_accelerator_tolerance_accepts_tf32_products_and_cpu_stays_tight():
    # the bench aborted on an H100: both sides' default-precision products round inputs to TF32
    # (10 mantissa bits), so they differ by ~1e-3 while a CPU's float32 agree to ~1e-6
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((64, 144)).astype(np.float32), 0.1 * rng.standard_normal((144, 32))
    w = w.astype(np.float32)

    def tf32(a):  # keep 10 of float32's 23 mantissa bits
        return (a.view(np.uint32) & np.uint32(0xFFFFE000)).view(np.float32)

    exact, reduced = x @ w, tf32(x) @ tf32(w)
    tol = bench.agreement_tolerance("gpu")
    np.testing.assert_allclose(reduced, exact, rtol=tol, atol=tol)
    assert np.abs(reduced - exact).max() > bench.agreement_tolerance("cpu")


ROW = {
    "batch": 16,
    "layer": "28x28x1->16",
    "jaxconv_fwd": 0.35,
    "xla_fwd": 0.94,
    "jaxconv_fwd_bwd": 0.725,
    "xla_fwd_bwd": 1.875,
    "ratio_fwd": 0.35 / 0.94,
    "ratio_fwd_bwd": 0.725 / 1.875,
}
RESULT = {
    "command": "python -m jaxconv.bench --rounds 100",
    "date": "2026-11-25",
    "machine": "cpu AMD EPYC, 2 cores, jax 0.10.2",
    "rounds": 100,
    "rows": [ROW],
}


def test_markdown_block_captions_the_table_with_its_command_date_and_machine():
    caption, blank, *table = bench.markdown_block(RESULT).splitlines()
    assert caption.startswith(
        "`python -m jaxconv.bench --rounds 100`, 2026-11-25, cpu AMD EPYC, 2 cores, jax 0.10.2: "
    )
    assert caption.endswith(
        "median of 100 alternating rounds; ratio = jaxconv / XLA, below 1.0 jaxconv is faster."
    )
    assert blank == ""
    assert table[-1] == "| 16 | 28x28x1->16 | 0.350 | 0.940 | 0.37 | 0.725 | 1.875 | 0.39 |"


def test_markdown_block_refuses_a_result_without_its_date():
    result = {key: value for key, value in RESULT.items() if key != "date"}
    with pytest.raises(ValueError, match=r"needs \['date'\]"):
        bench.markdown_block(result)


def test_command_names_what_was_measured():
    args = argparse.Namespace(batch=[16, 128], only="nd", rounds=400)
    assert bench.command(args) == "python -m jaxconv.bench --only nd --rounds 400"
    args = argparse.Namespace(batch=[32], only=None, rounds=200)
    assert bench.command(args) == "python -m jaxconv.bench --batch 32 --rounds 200"


def test_markdown_of_a_run_is_what_its_json_renders_to(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench, "bench_row", lambda row, rounds, transposed=False: ROW)
    saved = tmp_path / "run.json"
    bench.main(["--only", "nd", "--rounds", "3", "--markdown", "--json", str(saved)])
    printed = capsys.readouterr().out
    result = json.loads(saved.read_text())
    assert result["command"] == "python -m jaxconv.bench --only nd --rounds 3"
    assert len(result["rows"]) == len(ND_ROWS) and len(result["date"]) == len("2026-11-25")
    bench.main(["--from-json", str(saved)])
    assert capsys.readouterr().out == printed == bench.markdown_block(result) + "\n"
