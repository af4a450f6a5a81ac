"""Shape arithmetic and argument checks shared by every convolution function.

All checks run on static Python integers, so a bad call fails at trace time
with a ValueError that names the numbers, never deep inside XLA.

One spatial axis of a convolution, as lax defines it (and every function here
follows)::

    input, size S        zero insertion (input dilation r): S_r = (S - 1)·r + 1
    padding (lo, hi)     P = lo + S_r + hi          (negative lo/hi crop, lax only)
    kernel k, dilation d k_d = d·(k - 1) + 1        (the taps sit d apart)
    stride s             O = floor((P - k_d) / s) + 1

Output position o, kernel tap t reads padded position ``o·s + t·d``.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple, Sequence, Union

IntOrPair = Union[int, Sequence[int]]
Padding = Union[str, int, Sequence[int], Sequence[tuple[int, int]]]

_AXIS_NAMES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}
_PER_AXIS = {1: "a 1-tuple (length,)", 2: "an (h, w) pair", 3: "a (d, h, w) triple"}


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` for integers, without floats."""
    return -(-a // b)


def _check_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    return int(value)


def axis_name(rank: int, axis: int) -> str:
    """'height', 'width', ... for ranks 1-3; 'spatial axis i' beyond."""
    names = _AXIS_NAMES.get(rank)
    return names[axis] if names else f"spatial axis {axis}"


def per_axis(name: str, value: IntOrPair, rank: int) -> tuple[int, ...]:
    """An int, or one int per spatial axis, as a tuple of ``rank`` Python ints."""
    if isinstance(value, (tuple, list)):
        if len(value) != rank:
            form = _PER_AXIS.get(rank, f"a tuple of {rank} ints")
            raise ValueError(
                f"{name} must be an int or {form} (one per spatial axis), got {value!r}"
            )
        return tuple(_check_int(name, v) for v in value)
    return (_check_int(name, value),) * rank


def pair(name: str, value: IntOrPair) -> tuple[int, int]:
    """An int or an (h, w) pair as a tuple of two Python ints."""
    return per_axis(name, value, 2)


def _check_at_least(name: str, values: tuple[int, ...], low: int) -> None:
    for v in values:
        if v < low:
            raise ValueError(f"{name} must be >= {low}, got {v}")


def padding_pairs(
    padding: Padding,
    input_size: Sequence[int],
    kernel_size: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    input_dilation: Sequence[int] | None = None,
    allow_negative: bool = False,
) -> tuple[tuple[int, int], ...]:
    """Any padding form as one ``(low, high)`` pair per spatial axis.

    ``padding`` is an int (every side), one int per axis (both sides of it),
    one ``(low, high)`` pair per axis, or one of lax's strings:

    * ``'VALID'``: no padding.
    * ``'SAME'``: ``O = ceil(S / s)``; the total ``(O - 1)·s + k_d - S`` (when
      positive) is split with the odd extra row at the high end.
    * ``'SAME_LOWER'``: the same total, the odd extra row at the low end.

    As in lax, the strings look at the undilated input size ``S`` (input
    dilation is not taken into account) and the dilated kernel ``k_d``.
    """
    rank = len(input_size)
    if isinstance(padding, str):
        mode = padding.upper()
        if mode == "VALID":
            return ((0, 0),) * rank
        if mode not in ("SAME", "SAME_LOWER"):
            raise ValueError(
                "padding must be 'SAME', 'SAME_LOWER', 'VALID', an int or (low, high) pairs; got "
                f"the string {padding!r}"
            )
        pairs = []
        for size, k, s, d in zip(input_size, kernel_size, stride, dilation):
            total = max((ceil_div(size, s) - 1) * s + d * (k - 1) + 1 - size, 0)
            small, large = total // 2, total - total // 2
            pairs.append((small, large) if mode == "SAME" else (large, small))
        return tuple(pairs)
    if isinstance(padding, (tuple, list)):
        if len(padding) != rank:
            raise ValueError(
                f"padding must be an int, one int or one (low, high) pair per spatial axis ({rank} "
                f"here), or a string; got {padding!r}"
            )
        pairs = []
        for p in padding:
            if isinstance(p, (tuple, list)):
                if len(p) != 2:
                    raise ValueError(
                        f"each padding pair must be (low, high), got {p!r} in {padding!r}"
                    )
                pairs.append((_check_int("padding", p[0]), _check_int("padding", p[1])))
            else:
                p = _check_int("padding", p)
                pairs.append((p, p))
        pairs = tuple(pairs)
    else:
        p = _check_int("padding", padding)
        pairs = ((p, p),) * rank
    if not allow_negative:
        _check_at_least("padding", tuple(v for lo_hi in pairs for v in lo_hi), 0)
    return pairs


def _padded_input_text(size: int, low: int, high: int, input_dilation: int) -> str:
    base = (
        str(size)
        if input_dilation == 1
        else f"{size} (dilated by {input_dilation}: {(size - 1) * input_dilation + 1})"
    )
    if low == high:
        return f"{base} + 2*{low}"
    return f"{base} + {low} + {high}"


def _axis_output_size(
    size: int,
    kernel: int,
    stride: int,
    low: int,
    high: int,
    dilation: int,
    input_dilation: int,
    allow_empty: bool = False,
) -> int:
    dilated_size = (size - 1) * input_dilation + 1 if size > 0 else 0
    padded = low + dilated_size + high
    reach = dilation * (kernel - 1) + 1
    if reach > padded and allow_empty:  # lax's semantics: no output pixels along this axis
        return 0
    if reach > padded:
        what = (
            f"kernel {kernel}"
            if dilation == 1
            else f"dilated kernel {reach} (kernel {kernel}, dilation {dilation})"
        )
        raise ValueError(
            f"{what} is larger than the padded input "
            f"{_padded_input_text(size, low, high, input_dilation)} = {padded}"
        )
    return (padded - reach) // stride + 1


def output_size(
    size: int, kernel: int, stride: int = 1, padding: int | tuple[int, int] = 0, dilation: int = 1
) -> int:
    """Length of a convolution's output along one spatial axis (Q2).

    ``floor((size + low + high − dilation·(kernel − 1) − 1) / stride) + 1``: the
    padded input offers ``size + low + high − k_d + 1`` positions for the
    dilated kernel of reach ``k_d = dilation·(kernel − 1) + 1``, of which every
    ``stride``-th is taken. With ``padding = p`` and ``dilation = 1`` this is the
    assignment's ``floor((size + 2·p − kernel) / stride) + 1``.

    **Arguments:**
      size: input length (>= 0).
      kernel: kernel length (>= 1; its dilated reach at most the padded size).
      stride: step between kernel positions (>= 1).
      padding: zeros added on each side (>= 0), or a ``(low, high)`` pair.
      dilation: distance between kernel taps (>= 1).

    **Returns:** the output length, an ``int`` >= 1.

    >>> output_size(227, 11, stride=4, padding=0)
    55
    """
    size = _check_int("size", size)
    kernel = _check_int("kernel", kernel)
    stride = _check_int("stride", stride)
    dilation = _check_int("dilation", dilation)
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2:
            raise ValueError(f"padding must be an int or a (low, high) pair, got {padding!r}")
        low, high = _check_int("padding", padding[0]), _check_int("padding", padding[1])
    else:
        low = high = _check_int("padding", padding)
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    _check_at_least("kernel", (kernel,), 1)
    _check_at_least("stride", (stride,), 1)
    _check_at_least("padding", (low, high), 0)
    _check_at_least("dilation", (dilation,), 1)
    return _axis_output_size(size, kernel, stride, low, high, dilation, 1)


class ConvGeometry(NamedTuple):
    """Everything static about a convolution's spatial axes, normalised and checked.

    Hashable, so it is a parameter of the convolution primitives. One entry per
    spatial axis in each tuple; ``padding`` holds ``(low, high)`` pairs.
    """

    input_size: tuple[int, ...]
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    dilation: tuple[int, ...]
    input_dilation: tuple[int, ...]
    output_size: tuple[int, ...]

    @property
    def rank(self) -> int:
        return len(self.input_size)

    @property
    def num_taps(self) -> int:
        return math.prod(self.kernel_size)


def conv_geometry(
    input_size: Sequence[int],
    kernel_size: IntOrPair,
    stride: IntOrPair = 1,
    padding: Padding = 0,
    dilation: IntOrPair = 1,
    input_dilation: IntOrPair = 1,
    allow_negative_padding: bool = False,
    allow_empty_output: bool = False,
) -> ConvGeometry:
    """Normalise and check the geometry of a convolution over ``input_size`` (spatial sizes
    only). A kernel that does not fit the padded input is an error, or, with
    ``allow_empty_output`` (lax's semantics), an output of length 0 along that axis."""
    input_size = tuple(int(s) for s in input_size)
    rank = len(input_size)
    kernel_size = per_axis("kernel_size", kernel_size, rank)
    stride = per_axis("stride", stride, rank)
    dilation = per_axis("dilation", dilation, rank)
    input_dilation = per_axis("input dilation", input_dilation, rank)
    _check_at_least("kernel size", kernel_size, 1)
    _check_at_least("stride", stride, 1)
    _check_at_least("dilation", dilation, 1)
    _check_at_least("input dilation", input_dilation, 1)
    pads = padding_pairs(
        padding, input_size, kernel_size, stride, dilation, input_dilation, allow_negative_padding
    )
    out = []
    for axis, (size, k, s, (low, high), d, r) in enumerate(
        zip(input_size, kernel_size, stride, pads, dilation, input_dilation)
    ):
        try:
            out.append(_axis_output_size(size, k, s, low, high, d, r, allow_empty_output))
        except ValueError as err:
            raise ValueError(f"along the {axis_name(rank, axis)}: {err}") from None
    return ConvGeometry(input_size, kernel_size, stride, pads, dilation, input_dilation, tuple(out))


def check_nhwc(name: str, shape: Sequence[int]) -> None:
    if len(shape) != 4:
        raise ValueError(
            f"{name} must be NHWC (batch, height, width, channels), a rank-4 array; got shape "
            f"{tuple(shape)} of rank {len(shape)}"
        )


def check_channels_last(name: str, shape: Sequence[int]) -> int:
    """The number of spatial axes of a ``(N, *spatial, C)`` array (at least one)."""
    if len(shape) < 3:
        raise ValueError(
            f"{name} must be (batch, *spatial, channels) with at least one spatial axis; got shape "
            f"{tuple(shape)} of rank {len(shape)}"
        )
    return len(shape) - 2
