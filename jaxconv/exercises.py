"""Checks for the learner's own NumPy answers to the assignment (docs/notebooks/).

Each ``check_*`` calls the learner's function on a few small cases, simplest first (stride 1 and
padding 0 with a square kernel, then a non-square one with several images and channels, then
padding, then stride, then both), compares with
jaxconv's loop oracles (:mod:`jaxconv.reference`) and returns ``None`` when every case is right.
Otherwise it raises an ``AssertionError`` that names the first failing case, the first wrong
pixel, the value and the expected one, and the likely mistake when the answer equals a known
wrong one: PyTorch's (c, i, j) patch order, a fold with stride 1 and padding 0, folding U instead
of dU, an averaging fold, a flipped kernel, a forgotten stride or padding, no floor, no +1.
The message ends with the call that gives the failing case's arrays, to rerun it by hand::

    data = exercises.case("fold", 3)    # the inputs, by argument name, then "expected"
    got = fold(*list(data.values())[:-1])
    np.argwhere(got != data["expected"])

Conventions (jaxconv's, 2-D): images ``(N, H, W, C)``, kernels ``(kh, kw, C_in, C_out)``,
``stride`` and ``padding`` ints, ``kernel_size`` a pair ``(kh, kw)``, patch vectors ordered
(i, j, c) (the order of ``kernel.reshape(-1, C_out)``)::

    check_output_size(fn)    fn(n, k, stride, padding) -> int
    check_conv_loops(fn)     fn(x, w, stride, padding) -> y        (N, Ho, Wo, C_out)
    check_unfold(fn)         fn(x, kernel_size, stride, padding)   -> (N, Ho, Wo, kh·kw·C)
    check_fold(fn)           fn(patches, input_shape, kernel_size, stride, padding) -> (N, H, W, C)
    check_conv_backward(fn)  fn(x, w, g, stride, padding) -> (dx, dw)

The test data are small integers, so a right answer in float32 is exact and the numbers in a
message are easy to recompute by hand.
"""

from __future__ import annotations

import contextlib
import numbers
from typing import Callable, NamedTuple

import numpy as np

from jaxconv import reference

__all__ = [
    "case",
    "check_conv_backward",
    "check_conv_loops",
    "check_fold",
    "check_output_size",
    "check_unfold",
]

_TOLERANCE = dict(rtol=1e-4, atol=1e-4)


class _Case(NamedTuple):
    """One convolution: x ``(N, H, W, C_in)``, a ``kh × kw`` kernel to ``c_out`` channels."""

    x_shape: tuple[int, int, int, int]
    kernel_size: tuple[int, int]
    stride: int
    padding: int
    c_out: int

    def __str__(self) -> str:
        kh, kw = self.kernel_size
        return (
            f"with x of shape {self.x_shape}, a {kh}x{kw} kernel, stride {self.stride} and "
            f"padding {self.padding}"
        )


# simplest first, so the first failing case says which ingredient is missing
_CASES = (
    _Case((1, 4, 4, 1), (2, 2), 1, 0, 1),
    _Case((2, 5, 6, 2), (3, 2), 1, 0, 3),
    _Case((2, 5, 6, 2), (3, 2), 1, 1, 3),
    _Case((1, 7, 6, 3), (3, 3), 2, 0, 2),
    _Case((2, 7, 8, 2), (2, 3), 2, 1, 2),
    _Case((1, 9, 7, 2), (3, 2), 3, 2, 1),
)

# (n, k, stride, padding), where a missing floor, padding or stride each changes the answer
_SIZE_CASES = ((5, 3, 1, 0), (5, 3, 1, 1), (7, 3, 2, 0), (8, 3, 2, 1), (28, 5, 1, 2), (9, 2, 3, 2))


def _integers(rng: np.random.Generator, shape, low: int = -3, high: int = 3) -> np.ndarray:
    return rng.integers(low, high + 1, size=shape).astype(np.float32)


def _data(case: _Case, seed: int) -> dict:
    """x, the kernel w and an output gradient g of the case's shapes, small integers."""
    rng = np.random.default_rng(seed)
    kh, kw = case.kernel_size
    x = _integers(rng, case.x_shape)
    w = _integers(rng, (kh, kw, case.x_shape[-1], case.c_out), -2, 2)
    y_shape = reference.conv2d(x, w, case.stride, case.padding).shape
    return {"x": x, "w": w, "g": _integers(rng, y_shape, -2, 2)}


_CHECKED_BY_CASE = ("conv_loops", "unfold", "fold", "conv_backward")


def case(check: str, number: int) -> dict:
    """The arrays of case ``number`` (1, 2, ...) of ``check_<check>``, the case a failing
    check's message names: the inputs under the names of the learner's function's arguments
    (in their order), then ``expected`` (for ``"conv_backward"`` the pair ``(dx, dw)``)."""
    if check not in _CHECKED_BY_CASE:
        raise ValueError(f"no check_{check} has cases; pick one of {', '.join(_CHECKED_BY_CASE)}")
    if not 1 <= number <= len(_CASES):
        raise ValueError(f"check_{check} has cases 1 to {len(_CASES)}, not {number}")
    seed, conv = number - 1, _CASES[number - 1]
    k, s, p = conv.kernel_size, conv.stride, conv.padding
    if check == "fold":
        grid = reference.unfold(np.zeros(conv.x_shape), k, s, p).shape  # (N, Ho, Wo, K)
        patches = _integers(np.random.default_rng(100 + seed), grid)
        expected = reference.fold(patches, conv.x_shape, k, s, p)
        return dict(
            patches=patches,
            input_shape=conv.x_shape,
            kernel_size=k,
            stride=s,
            padding=p,
            expected=expected,
        )
    x, w, g = _data(conv, seed).values()
    if check == "conv_loops":
        return dict(x=x, w=w, stride=s, padding=p, expected=reference.conv2d(x, w, s, p))
    if check == "unfold":
        return dict(x=x, kernel_size=k, stride=s, padding=p, expected=reference.unfold(x, k, s, p))
    expected = (
        reference.conv2d_input_grad(x.shape, w, g, s, p),
        reference.conv2d_weight_grad(x, w.shape, g, s, p),
    )
    return dict(x=x, w=w, g=g, stride=s, padding=p, expected=expected)


@contextlib.contextmanager
def _reproducible(check: str, number: int):
    """A failure in case ``number`` ends with how to get the case's arrays."""
    try:
        yield
    except AssertionError as err:
        raise AssertionError(
            f"{err}\nexercises.case({check!r}, {number}) gives this case's arrays"
        ) from err.__cause__


def _new_ingredient(case: _Case) -> str:
    """What this case is the first to need, when the cases before it did without."""
    earlier = _CASES[: _CASES.index(case)] if case in _CASES else ()
    kh, kw = case.kernel_size
    if kh != kw and not any(c.kernel_size[0] != c.kernel_size[1] for c in earlier):
        return (
            f" (the first case with a non-square kernel, {kh}x{kw}: kh = w.shape[0] counts rows, "
            "kw = w.shape[1] columns)"
        )
    if case.stride > 1 and not any(c.stride > 1 for c in earlier):
        return (
            f" (the first case with a stride: does window (oy, ox) start at row oy*{case.stride}?)"
        )
    return ""


def _right_on_padded_input(case: _Case, run: Callable, expected: np.ndarray, what: str) -> str:
    """The padding hint, only when ``run()`` (the learner's function given x padded by hand and
    padding 0) is right: the shapes then match an unpadded input."""
    if not case.padding:
        return ""
    try:
        right = _matches(np.asarray(run(), np.float64), expected)
    except Exception:
        return ""
    if not right:
        return ""
    return (
        f" (is x padded by {case.padding} on each side? Given x padded by hand and padding 0, "
        f"your {what} is right)"
    )


class _Hint(str):
    """A hint, and the same hint in brackets to end a sentence (empty when there is none)."""

    def in_brackets(self) -> str:
        return f" ({self})" if self else ""


def _fold_geometry_hint(case: _Case, what: str) -> _Hint:
    """Where the stride or the padding matters, why a fold may raise or return an image of the
    wrong size: a fold of another geometry expects another grid of patches."""
    if (case.stride, case.padding) == (1, 0):
        return _Hint("")
    if what == "fold":
        return _Hint("does your fold use the stride and padding it is given?")
    return _Hint("is fold given the forward's stride and padding?")


def _call(fn: Callable, case: _Case, what: str, *args, diagnose: Callable[[], str] = lambda: ""):
    """``fn(*args)``; an exception becomes the learner's AssertionError, with ``diagnose()``'s
    hint (or the ingredient this case is the first to need)."""
    try:
        return fn(*args)
    except Exception as err:
        hint = diagnose() or _new_ingredient(case)
        raise AssertionError(
            f"{case}, your {what} raised {type(err).__name__}: {err}{hint}"
        ) from err


def _as_array(value, case: _Case, what: str) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise AssertionError(
            f"{case}, your {what} returned {type(value).__name__}, not an array"
        ) from err


def _first_difference(got: np.ndarray, expected: np.ndarray) -> tuple[tuple[int, ...], str]:
    wrong = ~np.isclose(got, expected, **_TOLERANCE)
    index = tuple(int(i) for i in np.argwhere(wrong)[0])
    return index, f"{got[index] + 0.0:g}, expected {expected[index] + 0.0:g}"


def _matches(got: np.ndarray, candidate: np.ndarray) -> bool:
    return candidate.shape == got.shape and np.allclose(got, candidate, **_TOLERANCE)


def _compare(
    got,
    expected: np.ndarray,
    case: _Case,
    what: str,
    mistakes=(),
    shapes=(),
    where: str = "pixel",
    other_shape: str | None = None,
) -> None:
    """Raise the learner's AssertionError if ``got`` is not ``expected``.

    ``mistakes``: (wrong answer, what it means) pairs, tried in order when the values differ;
    ``shapes``: (wrong shape, what it means) pairs, tried when the shape differs, then
    ``other_shape``; ``where``: what an index names (``pixel``, ``entry (n, oy, ox, k)``).
    """
    got = _as_array(got, case, what)
    if got.shape != expected.shape:
        if expected.ndim == 4:  # an image (N, H, W, C), or what the patches make of one
            n, h, w, c = expected.shape
            shapes = [
                *shapes,
                (
                    (n, c, h, w),
                    "that is channels-first (N, C, H, W), PyTorch's layout; jaxconv's is "
                    "channels-last (N, H, W, C)",
                ),
            ]
        hint = next((h for shape, h in shapes if tuple(shape) == got.shape), other_shape)
        raise AssertionError(
            f"{case}, your {what} has shape {got.shape}, expected {expected.shape}"
            + (f": {hint}" if hint else "")
        )
    if np.allclose(got, expected, **_TOLERANCE):
        return
    index, values = _first_difference(got, expected)
    hint = next((h for candidate, h in mistakes if _matches(got, candidate)), None)
    at = f"pixel {index}" if where == "pixel" else f"{where} = {index}"
    raise AssertionError(
        f"{case}, your {what} differs at {at}: {values}" + (f". {hint}" if hint else "")
    )


def _output_shape(case: _Case, stride: int, padding: int) -> tuple[int, int, int, int]:
    n, h, w, _ = case.x_shape
    kh, kw = case.kernel_size
    return (n, (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1, 0)


def _forgotten_shapes(case: _Case, channels: int) -> list[tuple[tuple[int, ...], str]]:
    """The output shapes of a forgotten stride, padding or both, of swapped kh and kw and of an
    output size without its +1, with what they mean."""
    shapes = []
    for stride, padding, what in (
        (1, case.padding, "the stride"),
        (case.stride, 0, "the padding"),
        (1, 0, "the stride and the padding"),
    ):
        if (stride, padding) != (case.stride, case.padding):
            shape = (*_output_shape(case, stride, padding)[:3], channels)
            shapes.append((shape, f"that is the shape without {what}; did you forget {what}?"))
    n, h, w, _ = case.x_shape
    (kh, kw), s, p = case.kernel_size, case.stride, case.padding
    if kh != kw:
        swapped = (n, (h + 2 * p - kw) // s + 1, (w + 2 * p - kh) // s + 1, channels)
        shapes.append(
            (swapped, "that is the shape with kh and kw swapped: kh = w.shape[0] counts rows")
        )
    short = (n, (h + 2 * p - kh) // s, (w + 2 * p - kw) // s, channels)
    shapes.append(
        (
            short,
            "that is one row and one column short: the output size is "
            "(H + 2*padding - kh) // stride + 1; is the +1 missing?",
        )
    )
    return shapes


def _padded(case: _Case) -> list[tuple[tuple[int, ...], str]]:
    """The shapes of a fold that did not crop the padded frame, or cropped it with ``p:-p``."""
    n, h, w, c = case.x_shape
    p = case.padding
    return [
        ((n, h + 2 * p, w + 2 * p, c), "that is the padded frame: crop the padding off"),
        ((n, 0, 0, c), "an empty image: with padding 0, [p:-p] is [0:0]; crop with [p:p + H]"),
    ]


def _scatter_fold(
    patches,
    input_shape,
    kernel_size,
    stride: int,
    padding: int,
    whole_patches: bool = False,
    assign: bool = False,
) -> np.ndarray:
    """Fold with the given stride and padding whatever the patches' grid: the fold of a learner
    who ignores the forward's geometry. Entries landing outside the input are dropped, or, with
    ``whole_patches``, every patch that does not fit entirely (a loop adding whole slices);
    ``assign``: each entry overwrites the pixel instead of adding to it."""
    n, h, w, c = input_shape
    kh, kw = kernel_size
    taps = np.asarray(patches, np.float64).reshape(*patches.shape[:3], kh, kw, c)
    framed = np.zeros((n, h + 2 * padding, w + 2 * padding, c))
    for y, x in np.ndindex(*taps.shape[1:3]):
        for i, j in np.ndindex(kh, kw):
            row, col = y * stride + i, x * stride + j
            inside = row < framed.shape[1] and col < framed.shape[2]
            if whole_patches:
                inside = (y * stride + kh <= framed.shape[1]) and (
                    x * stride + kw <= framed.shape[2]
                )
            if inside and assign:
                framed[:, row, col] = taps[:, y, x, i, j]
            elif inside:
                framed[:, row, col] += taps[:, y, x, i, j]
    return framed[:, padding : padding + h, padding : padding + w]  # the padding is cropped


def _fold_mistakes(patches, case: _Case, what: str) -> list[tuple[np.ndarray, str]]:
    """The wrong folds of ``patches`` (the report's, an averaging one), with what they mean."""
    shape, k, s, p = case.x_shape, case.kernel_size, case.stride, case.padding
    folded = reference.fold(patches, shape, k, s, p)
    counts = reference.fold(reference.unfold(np.ones(shape), k, s, p), shape, k, s, p)
    averaged = np.where(counts > 0, folded / np.maximum(counts, 1), 0.0)
    # a single forgotten ingredient first: where the forward's stride is 1, the report's
    # stride-1, padding-0 fold is just a fold without the padding
    geometries = (
        (1, p, f"Your {what} equals a fold with stride 1: patch (oy, ox) starts at row oy*{s}"),
        (
            s,
            0,
            f"Your {what} equals a fold without the padding: tap (i, j) of patch (oy, ox) lands "
            f"on row oy*{s} + i - {p} (and is dropped when that is outside the image)",
        ),
        (
            1,
            0,
            f"Your {what} equals a fold with stride 1 and padding 0 (the student report's): fold "
            f"with the forward's own stride {s} and padding {p}",
        ),
    )
    mistakes = [
        (_scatter_fold(patches, shape, k, stride, padding, whole), hint)
        for stride, padding, hint in geometries
        if (stride, padding) != (s, p)
        for whole in (False, True)
    ]
    mistakes += [
        (
            _scatter_fold(patches, shape, k, s, p, assign=True),
            f"Where patches overlap, your {what} keeps only the last entry: add them (+=), do "
            "not assign",
        ),
        (
            averaged,
            f"Your {what} averages the overlapping entries (an inverse of unfold); the adjoint "
            "sums them: do not divide by the number of patches covering a pixel",
        ),
    ]
    return mistakes


# ---------------------------------------------------------------------------
# The checks


def check_output_size(fn: Callable) -> None:
    """Check ``fn(n, k, stride, padding) -> int``: the output length along one axis (Q2)."""
    not_int = None
    for n, k, s, p in _SIZE_CASES:
        call = f"output_size({n}, {k}, stride={s}, padding={p})"
        try:
            got = fn(n, k, s, p)
        except Exception as err:
            raise AssertionError(f"your {call} raised {type(err).__name__}: {err}") from err
        expected = reference.conv2d(np.zeros((1, n, 1, 1)), np.zeros((k, 1, 1, 1)), s, p).shape[1]
        if not isinstance(got, numbers.Real) or isinstance(got, bool):
            raise AssertionError(f"your {call} returned {got!r}; return an int")
        if got == expected:
            if not isinstance(got, numbers.Integral) and not_int is None:
                not_int = f"your {call} returned {got!r}, expected {expected}"
            continue
        exact = (n + 2 * p - k) / s + 1
        hints = (
            (exact, "the window positions that do not fit whole are dropped: take the floor"),
            (np.ceil(exact), "that rounds up; a window that does not fit whole is dropped: floor"),
            ((n - k) // s + 1, "that is the size without the padding"),
            ((n + p - k) // s + 1, "the padding is added on both sides: 2 * padding"),
            (n + 2 * p - k + 1, "that is the size with stride 1; every stride-th position counts"),
            ((n + 2 * p - k) // s, "the +1 is missing: the first window sits at position 0"),
        )
        hint = next((h for value, h in hints if got == value), None)
        raise AssertionError(
            f"your {call} returned {got!r}, expected {expected}" + (f": {hint}" if hint else "")
        )
    if not_int is not None:  # every value right, but not an int
        raise AssertionError(
            f"{not_int}: an output size is a whole number; return an int (// is floor division)"
        )


def check_conv_loops(fn: Callable) -> None:
    """Check ``fn(x, w, stride, padding) -> y``: the convolution's forward as loops (Q1).

    x ``(N, H, W, C_in)``, w ``(kh, kw, C_in, C_out)``, y ``(N, Ho, Wo, C_out)``; a
    cross-correlation (the kernel is not flipped), as in every deep-learning library.
    """
    for number, conv in enumerate(_CASES, 1):
        x, w, s, p, expected = case("conv_loops", number).values()
        ho, wo = expected.shape[1:3]
        mistakes = [
            (
                reference.conv2d(x, w[::-1, ::-1], s, p),
                "Your kernel is flipped (the convolution of signal processing): deep-learning "
                "convolutions multiply x[oy*s + i, ox*s + j] by w[i, j], not by w[kh-1-i, kw-1-j]",
            ),
            (
                reference.conv2d(x, w, 1, p)[:, :ho, :wo],
                f"These are the stride-1 outputs: output pixel (oy, ox) starts at row oy*{s}",
            ),
        ]
        with _reproducible("conv_loops", number):
            got = _call(
                fn,
                conv,
                "convolution",
                x,
                w,
                s,
                p,
                diagnose=lambda: _right_on_padded_input(
                    conv, lambda: fn(_pad(x, p), w, s, 0), expected, "convolution"
                ),
            )
            shapes = _forgotten_shapes(conv, expected.shape[-1])
            _compare(got, expected, conv, "output", mistakes, shapes)


def _pad(x: np.ndarray, padding: int) -> np.ndarray:
    """x ``(N, H, W, C)`` with ``padding`` zeros on each side of H and W."""
    return np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))


def _reorder(patches: np.ndarray, case: _Case, to_pytorch: bool = True) -> np.ndarray:
    """Patch vectors reordered from jaxconv's (i, j, c) to PyTorch's (c, i, j), or back."""
    kh, kw = case.kernel_size
    c = case.x_shape[-1]
    if to_pytorch:
        taps = patches.reshape(*patches.shape[:3], kh, kw, c)  # (N, Ho, Wo, kh, kw, C)
        return taps.transpose(0, 1, 2, 5, 3, 4).reshape(patches.shape)  # (N, Ho, Wo, C·kh·kw)
    taps = patches.reshape(*patches.shape[:3], c, kh, kw)  # (N, Ho, Wo, C, kh, kw)
    return taps.transpose(0, 1, 2, 4, 5, 3).reshape(patches.shape)  # (N, Ho, Wo, kh·kw·C)


def check_unfold(fn: Callable) -> None:
    """Check ``fn(x, kernel_size, stride, padding) -> patches`` (Q3).

    patches ``(N, Ho, Wo, kh·kw·C)``, entry ``[n, oy, ox, (i·kw + j)·C + c]`` being
    ``x_padded[n, oy·stride + i, ox·stride + j, c]``.
    """
    for number, conv in enumerate(_CASES, 1):
        x, k, s, p, expected = case("unfold", number).values()
        ho, wo = expected.shape[1:3]
        mistakes = [
            (
                _reorder(expected, conv),
                "Your patch entries are in PyTorch's (c, i, j) order; jaxconv's are (i, j, c): "
                "entry (i*kw + j)*C + c, the order of w.reshape(-1, C_out)",
            ),
            (
                reference.unfold(x, k, 1, p)[:, :ho, :wo],
                f"These are the stride-1 patches: patch (oy, ox) starts at row oy*{s}",
            ),
        ]
        n, _, _, size = expected.shape
        torch_layout = (
            (n, size, ho * wo),
            "that is PyTorch's F.unfold layout (N, C*kh*kw, L); jaxconv's patches are "
            "(N, Ho, Wo, kh*kw*C), one patch vector per output pixel",
        )
        with _reproducible("unfold", number):
            got = _call(
                fn,
                conv,
                "unfold",
                x,
                k,
                s,
                p,
                diagnose=lambda: _right_on_padded_input(
                    conv, lambda: fn(_pad(x, p), k, s, 0), expected, "unfold"
                ),
            )
            shapes = [*_forgotten_shapes(conv, size), torch_layout]
            _compare(got, expected, conv, "unfold", mistakes, shapes, "entry (n, oy, ox, k)")


def check_fold(fn: Callable) -> None:
    """Check ``fn(patches, input_shape, kernel_size, stride, padding) -> (N, H, W, C)``.

    fold is unfold's adjoint: every patch entry is added back onto the pixel it was copied
    from (overlaps summed, entries that came from the padding dropped).
    """
    for number, conv in enumerate(_CASES, 1):
        patches, shape, k, s, p, expected = case("fold", number).values()
        mistakes = [
            *_fold_mistakes(patches, conv, "fold"),
            (
                reference.fold(_reorder(patches, conv, to_pytorch=False), shape, k, s, p),
                "Your fold reads the patch entries in PyTorch's (c, i, j) order; jaxconv's are "
                "(i, j, c): entry (i*kw + j)*C + c, the order of w.reshape(-1, C_out)",
            ),
        ]
        geometry = _fold_geometry_hint(conv, "fold")
        with _reproducible("fold", number):
            got = _call(fn, conv, "fold", patches, shape, k, s, p, diagnose=geometry.in_brackets)
            _compare(got, expected, conv, "fold", mistakes, _padded(conv), other_shape=geometry)


def check_conv_backward(fn: Callable) -> None:
    """Check ``fn(x, w, g, stride, padding) -> (dx, dw)``: the gradients of a loss L given
    ``g = dL/dy`` for ``y = conv(x, w, stride, padding)`` (Q4, Q5)."""
    for number, conv in enumerate(_CASES, 1):
        x, w, g, s, p, (expected_dx, expected_dw) = case("conv_backward", number).values()
        with _reproducible("conv_backward", number):
            _check_conv_backward_case(fn, conv, x, w, g, expected_dx, expected_dw)


def _check_conv_backward_case(fn, conv: _Case, x, w, g, expected_dx, expected_dw) -> None:
    k, s, p = conv.kernel_size, conv.stride, conv.padding
    geometry = _fold_geometry_hint(conv, "backward")
    got = _call(fn, conv, "backward", x, w, g, s, p, diagnose=geometry.in_brackets)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise AssertionError(
            f"{conv}, your backward returned {type(got).__name__}; return the pair (dx, dw)"
        )
    dx, dw = got
    c_out = w.shape[-1]
    u = reference.unfold(x, k, s, p)  # the forward's patches U: (N, Ho, Wo, K)
    g_flat = g.reshape(-1, c_out)  # g': (M, C_out)
    u_flat = u.reshape(g_flat.shape[0], -1)  # U: (M, K)
    du = (g_flat @ w.reshape(-1, c_out).T).reshape(u.shape)  # g' Wᵀ: (N, Ho, Wo, K)
    du_torch = (g_flat @ w.reshape(c_out, -1)).reshape(u.shape)  # g' (C_out, K): scrambled
    report = (
        "Your dx is the student report's: it folds the forward patches U instead of "
        f"dU = g Wᵀ, and with stride 1 and padding 0 instead of the forward's {s} and {p}"
    )
    dx_mistakes = [
        (
            reference.fold(u, x.shape, k, s, p),
            "Your dx folds the forward patches U; the input gradient folds dU = g Wᵀ",
        ),
        *((_scatter_fold(u, x.shape, k, 1, 0, whole), report) for whole in (False, True)),
        (
            reference.conv2d_input_grad(x.shape, w[::-1, ::-1], g, s, p),
            "Your dx uses the flipped kernel: fold(g Wᵀ) uses W as it is (a flip appears only "
            "when dx is written as a stride-1 convolution of the zero-inserted g)",
        ),
        (
            reference.fold(du_torch, x.shape, k, s, p),
            "Your dx flattens the kernel PyTorch-style, w.reshape(C_out, K); the kernel "
            "(kh, kw, C_in, C_out) flattens to (kh*kw*C_in, C_out): W = w.reshape(-1, C_out), "
            "dU = g' Wᵀ",
        ),
        *_fold_mistakes(du, conv, "dx"),
    ]
    dw_mistakes = [
        (
            (g_flat.T @ u_flat).reshape(w.shape),
            "Your dw is g'ᵀ U, shape (C_out, K), reshaped to the kernel's shape, which "
            "scrambles it: dw = Uᵀ g', shape (K, C_out), then reshape",
        ),
        (
            expected_dw[::-1, ::-1],
            "Your dw is flipped: dw[i, j] pairs g with the inputs that tap (i, j) read",
        ),
        (
            reference.conv2d_weight_grad(x[:1], w.shape, g[:1], s, p),
            "Your dw uses only the first image: sum over the whole batch",
        ),
    ]
    n, h, wd, c = x.shape
    dropped = ((h + 2 * p - k[0]) % s, (wd + 2 * p - k[1]) % s)  # rows the floor drops
    short = (
        (n, h - dropped[0], wd - dropped[1], c),
        "the last rows or columns, which no window reached (the forward's floor dropped "
        "them), are missing: a transposed convolution gives them back with output_padding",
    )
    shapes = [*_padded(conv), short]
    _compare(dx, expected_dx, conv, "dx", dx_mistakes, shapes, other_shape=geometry)
    _compare(dw, expected_dw, conv, "dw", dw_mistakes, where="entry (i, j, c_in, c_out)")
