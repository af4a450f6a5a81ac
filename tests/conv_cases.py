"""Convolution geometries for the sweeps: a hypothesis strategy plus named edge cases."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st


class ConvCase(NamedTuple):
    n: int
    h: int
    w: int
    c_in: int
    c_out: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]

    @property
    def x_shape(self):
        return (self.n, self.h, self.w, self.c_in)

    @property
    def kernel_shape(self):
        return (*self.kernel, self.c_in, self.c_out)

    def arrays(self, seed=0, dtype=np.float64):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=self.x_shape).astype(dtype)
        k = rng.normal(size=self.kernel_shape).astype(dtype)
        return x, k


@st.composite
def conv_cases(draw, max_size=9, max_channels=3):
    """Strides 1-4 and padding 0-3 per axis independently, kernels 1-5 (often
    rectangular, sometimes smaller than the padding), any input size the padded
    kernel fits, so most sizes are not divisible by the stride."""
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    sh, sw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    h = draw(st.integers(max(1, kh - 2 * ph), max_size))
    w = draw(st.integers(max(1, kw - 2 * pw), max_size))
    n = draw(st.integers(1, 2))
    c_in, c_out = draw(st.integers(1, max_channels)), draw(st.integers(1, max_channels))
    return ConvCase(n, h, w, c_in, c_out, (kh, kw), (sh, sw), (ph, pw))


# The shape that aborts the process when lax.conv_general_dilated is differentiated
# (jax 0.10.2, CPU). Our own VJP must handle it.
TRAP = ConvCase(n=1, h=14, w=7, c_in=1, c_out=5, kernel=(2, 5), stride=(2, 3), padding=(1, 3))

EDGE_CASES = [
    TRAP,
    ConvCase(1, 5, 5, 2, 3, (3, 3), (1, 1), (1, 1)),  # "same" 3x3
    ConvCase(1, 7, 9, 3, 2, (1, 1), (3, 2), (0, 0)),  # 1x1 kernel, strided
    ConvCase(2, 4, 3, 1, 2, (2, 2), (4, 4), (3, 3)),  # padding >= kernel, stride > kernel
    ConvCase(1, 8, 5, 2, 1, (5, 2), (2, 1), (0, 2)),  # rectangular, size not divisible by stride
    ConvCase(1, 1, 1, 2, 3, (3, 3), (1, 1), (1, 1)),  # a single pixel
]


# Deterministic sweeps (the same examples on every CI run). The x64 fixture is a
# context that stays on for all examples, so sharing it between them is intended.
SWEEP = settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
