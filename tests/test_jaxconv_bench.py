"""python -m jaxconv.bench: every row kind runs, checks jaxconv against XLA, and prints its
table."""

import math

import numpy as np
import pytest

from jaxconv import bench
from jaxconv.bench import ND_ROWS, TRANSPOSE_ROWS, Row, bench_row, markdown_table


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
