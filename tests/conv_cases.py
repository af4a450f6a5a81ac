"""Convolution geometries for the sweeps: a hypothesis strategy plus named edge cases."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from jax import lax
from jax.test_util import check_grads


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
# (jax 0.10.2, 0.11.2 and 0.12.0.1 on the CPU: an XLA check fails). Our own VJP must handle it.
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
SWEEP = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


class NdCase(NamedTuple):
    """A convolution of any rank: x ``(N, *spatial, C_in)``, kernel ``(*k, C_in // groups, C_out)``,
    padding in any of the forms jaxconv.conv takes."""

    x_shape: tuple
    kernel_shape: tuple
    stride: tuple
    padding: object  # int, per-axis ints, (low, high) pairs or a string
    dilation: tuple
    groups: int

    @property
    def rank(self):
        return len(self.x_shape) - 2

    @property
    def padding_pairs(self):
        """(low, high) per axis, resolved by lax's own helper (independent of the code under
        test)."""
        if isinstance(self.padding, str):
            reach = [d * (k - 1) + 1 for k, d in zip(self.kernel_shape[:-2], self.dilation)]
            return tuple(
                tuple(p)
                for p in lax.padtype_to_pads(self.x_shape[1:-1], reach, self.stride, self.padding)
            )
        if isinstance(self.padding, int):
            return ((self.padding, self.padding),) * self.rank
        return tuple(p if isinstance(p, tuple) else (p, p) for p in self.padding)

    def args(self):
        return (self.stride, self.padding, self.dilation, self.groups)

    def reference_args(self):
        return dict(
            stride=self.stride,
            padding=self.padding_pairs,
            dilation=self.dilation,
            groups=self.groups,
        )

    def arrays(self, seed=0, dtype=np.float64):
        rng = np.random.default_rng(seed)
        return rng.normal(size=self.x_shape).astype(dtype), rng.normal(
            size=self.kernel_shape
        ).astype(dtype)

    def lax_forward(self, x, kernel):
        """lax.conv_general_dilated, forward only (differentiating it can abort the process)."""
        return lax.conv_general_dilated(
            x, kernel, self.stride, self.padding_pairs, rhs_dilation=self.dilation,
            dimension_numbers=CHANNELS_LAST[self.rank], feature_group_count=self.groups,
        )  # fmt: skip


CHANNELS_LAST = {
    1: ("NWC", "WIO", "NWC"),
    2: ("NHWC", "HWIO", "NHWC"),
    3: ("NDHWC", "DHWIO", "NDHWC"),
}


@st.composite
def nd_conv_cases(draw, ranks=(1, 2, 3)):
    """Ranks 1-3; strides and dilations 1-3 per axis; dense, grouped and depthwise (multiplier
    1-2) channels; padding as an int, per axis, (low, high) pairs, 'SAME', 'SAME_LOWER' or
    'VALID'; input sizes from the smallest the dilated kernel fits, mostly not divisible by the
    stride."""
    d = draw(st.sampled_from(ranks))
    max_size = {1: 9, 2: 6, 3: 4}[d]
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(d))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(d))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(d))
    kind = draw(st.sampled_from(["dense", "grouped", "depthwise"]))
    if kind == "dense":
        groups, c_in, c_out = 1, draw(st.integers(1, 3)), draw(st.integers(1, 3))
    elif kind == "grouped":
        groups = draw(st.integers(2, 3))
        c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    else:
        groups = c_in = draw(st.integers(2, 4))
        c_out = c_in * draw(st.integers(1, 2))
    form = draw(st.sampled_from(["int", "per_axis", "pairs", "SAME", "SAME_LOWER", "VALID"]))
    if form == "int":
        padding = draw(st.integers(0, 2))
        pairs = ((padding, padding),) * d
    elif form == "per_axis":
        padding = tuple(draw(st.integers(0, 2)) for _ in range(d))
        pairs = tuple((p, p) for p in padding)
    elif form == "pairs":
        padding = pairs = tuple(
            (draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(d)
        )
    else:
        padding, pairs = (
            form,
            ((0, 0),) * d,
        )  # the strings pad as needed; 'VALID' needs size >= reach
    sizes = []
    for k, dil, (lo, hi) in zip(kernel, dilation, pairs):
        smallest = 1 if form in ("SAME", "SAME_LOWER") else max(1, dil * (k - 1) + 1 - lo - hi)
        sizes.append(draw(st.integers(smallest, max(smallest, max_size))))
    n = draw(st.integers(1, 2))
    return NdCase(
        (n, *sizes, c_in), (*kernel, c_in // groups, c_out), stride, padding, dilation, groups
    )


ND_EDGE_CASES = [
    NdCase((2, 16, 3), (5, 3, 4), (1,), 2, (1,), 1),  # 1-D, the bench's layer shape in small
    NdCase((1, 14, 7, 1), (2, 5, 1, 5), (2, 3), (1, 3), (1, 1), 1),  # the lax abort trap
    NdCase(
        (1, 5, 4, 6, 2), (3, 2, 3, 2, 4), (2, 1, 2), ((1, 0), (0, 1), (2, 1)), (1, 2, 1), 1
    ),  # 3-D, asymmetric
    NdCase((2, 9, 8, 4), (3, 3, 2, 6), (1, 1), "SAME", (2, 2), 2),  # dilated, grouped, SAME
    NdCase((1, 7, 6, 3), (3, 3, 1, 6), (2, 1), "SAME_LOWER", (1, 1), 3),  # depthwise, multiplier 2
    NdCase((2, 6, 5, 4), (3, 1, 1, 4), (1, 2), ((0, 2), (1, 1)), (2, 1), 4),  # depthwise
    NdCase((1, 3, 3, 2), (3, 3, 2, 2), (1, 1), "VALID", (1, 1), 1),  # one output pixel
]

# The N-d sweeps compile a new shape per example: fewer examples keep them to seconds.
ND_SWEEP = settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def check_second_order_reverse(f, x, k, jit: bool):
    """check_grads of order 2, reverse mode: our VJP and the VJP of our VJP (float64 tolerance)."""
    f = jax.jit(f) if jit else f
    check_grads(f, (jnp.asarray(x), jnp.asarray(k)), order=2, modes=["rev"], atol=1e-5, rtol=1e-5)
