import numpy as np
import pytest

from jaxconv import output_size


@pytest.mark.parametrize(
    "size, kernel, stride, padding, expected",
    [
        (227, 11, 4, 0, 55),  # Q2's AlexNet example
        (1024, 5, 2, 1, 511),  # Q10, 1024x768
        (768, 5, 2, 1, 383),
        (1920, 5, 2, 1, 959),  # Q10, 1920x1080
        (1080, 5, 2, 1, 539),
        (28, 3, 1, 1, 28),  # the MNIST layers keep their size
        (7, 3, 2, 0, 3),
        (5, 7, 1, 1, 1),  # kernel larger than the input, but not than the padded input
    ],
)
def test_output_size_worked_numbers(size, kernel, stride, padding, expected):
    assert output_size(size, kernel, stride, padding) == expected


def test_output_size_accepts_numpy_integers():
    assert output_size(np.int64(28), np.int32(3), stride=np.int8(1), padding=1) == 28


@pytest.mark.parametrize(
    "args, message",
    [
        ((28, 3, 0, 1), "stride must be >= 1, got 0"),
        ((28, 3, -2, 1), "stride must be >= 1, got -2"),
        ((28, 3, 1, -1), "padding must be >= 0, got -1"),
        ((28, 0, 1, 1), "kernel must be >= 1, got 0"),
        ((4, 7, 1, 1), "kernel 7 is larger than the padded input 4 \\+ 2\\*1 = 6"),
        ((-1, 1, 1, 0), "size must be >= 0, got -1"),
        ((28.0, 3, 1, 1), "size must be an integer, got 28.0"),
        ((28, 3, 1.5, 1), "stride must be an integer, got 1.5"),
        ((28, "3", 1, 1), "kernel must be an integer, got '3'"),
        ((28, 3, True, 1), "stride must be an integer, got True"),
    ],
)
def test_output_size_rejects_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        output_size(*args)
