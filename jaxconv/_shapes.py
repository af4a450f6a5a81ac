"""Shape arithmetic and argument checks shared by every convolution function.

All checks run on static Python integers, so a bad call fails at trace time
with a ValueError that names the numbers, never deep inside XLA.
"""

from __future__ import annotations

import numbers
from typing import Sequence, Union

IntOrPair = Union[int, Sequence[int]]


def _check_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    return int(value)


def output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Length of a convolution's output along one spatial axis (Q2).

    ``floor((size + 2·padding − kernel) / stride) + 1``: the padded input offers
    ``size + 2·padding − kernel + 1`` kernel positions, of which every
    ``stride``-th is taken.

    **Arguments:**
      size: input length (>= 0).
      kernel: kernel length (>= 1, at most ``size + 2·padding``).
      stride: step between kernel positions (>= 1).
      padding: zeros added on each side (>= 0).

    **Returns:** the output length, an ``int`` >= 1.

    >>> output_size(227, 11, stride=4, padding=0)
    55
    """
    size = _check_int("size", size)
    kernel = _check_int("kernel", kernel)
    stride = _check_int("stride", stride)
    padding = _check_int("padding", padding)
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    if kernel < 1:
        raise ValueError(f"kernel must be >= 1, got {kernel}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    padded = size + 2 * padding
    if kernel > padded:
        raise ValueError(f"kernel {kernel} is larger than the padded input {size} + 2*{padding} = {padded}")
    return (padded - kernel) // stride + 1


def pair(name: str, value: IntOrPair) -> tuple[int, int]:
    """An int or an (h, w) pair as a tuple of two Python ints."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or an (h, w) pair, got {value!r}")
        return (_check_int(name, value[0]), _check_int(name, value[1]))
    value = _check_int(name, value)
    return (value, value)


def check_nhwc(name: str, shape: Sequence[int]) -> None:
    if len(shape) != 4:
        raise ValueError(
            f"{name} must be NHWC (batch, height, width, channels), a rank-4 array; got shape {tuple(shape)} of rank {len(shape)}"
        )


def conv_output_hw(
    input_hw: Sequence[int], kernel_hw: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int]
) -> tuple[int, int]:
    """(H_out, W_out), with the axis named in any error."""
    out = []
    for axis, size, k, s, p in zip(("height", "width"), input_hw, kernel_hw, stride, padding):
        try:
            out.append(output_size(size, k, s, p))
        except ValueError as err:
            raise ValueError(f"along the {axis}: {err}") from None
    return out[0], out[1]
