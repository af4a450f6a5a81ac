"""jaxconv.exercises: each check accepts a right answer and rejects each listed mistake with the
learner's message (which case, which pixel, the likely mistake)."""

import re

import jax.numpy as jnp
import numpy as np
import pytest

import jaxconv
from jaxconv import exercises

# ---------------------------------------------------------------------------
# A learner's answers in NumPy, with switches for the mistakes the checks must recognise


def output_size(n, k, stride, padding):
    return (n + 2 * padding - k) // stride + 1


def pad(x, padding):
    return np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))


def conv_loops(x, w, stride, padding, flip=False, use_stride=True, use_padding=True):
    x = np.asarray(x)
    w = w[::-1, ::-1] if flip else w
    padding = padding if use_padding else 0
    kh, kw, _, c_out = w.shape
    n, h, wid, _ = x.shape
    ho, wo = output_size(h, kh, stride, padding), output_size(wid, kw, stride, padding)
    step = stride if use_stride else 1
    xp = pad(x, padding)
    y = np.zeros((n, ho, wo, c_out))
    for b in range(n):
        for i in range(ho):
            for j in range(wo):
                window = xp[b, i * step : i * step + kh, j * step : j * step + kw]  # (kh, kw, C)
                y[b, i, j] = np.einsum("hwc,hwco->o", window, w)
    return y


def unfold(x, kernel_size, stride, padding, order="ijc", use_stride=True, use_padding=True):
    x = np.asarray(x)
    kh, kw = kernel_size
    padding = padding if use_padding else 0
    n, h, w, c = x.shape
    ho, wo = output_size(h, kh, stride, padding), output_size(w, kw, stride, padding)
    step = stride if use_stride else 1
    xp = pad(x, padding)
    patches = np.zeros((n, ho, wo, kh, kw, c))
    for i in range(ho):
        for j in range(wo):
            patches[:, i, j] = xp[:, i * step : i * step + kh, j * step : j * step + kw]
    if order == "cij":
        patches = patches.transpose(0, 1, 2, 5, 3, 4)  # (N, Ho, Wo, C, kh, kw)
    return patches.reshape(n, ho, wo, -1)


def fold(patches, input_shape, kernel_size, stride, padding, average=False, order="ijc"):
    n, h, w, c = input_shape
    kh, kw = kernel_size
    if order == "cij":
        taps = np.asarray(patches).reshape(*patches.shape[:3], c, kh, kw)  # (N, Ho, Wo, C, kh, kw)
        taps = taps.transpose(0, 1, 2, 4, 5, 3)  # (N, Ho, Wo, kh, kw, C)
    else:
        taps = np.asarray(patches).reshape(*patches.shape[:3], kh, kw, c)
    xp = np.zeros((n, h + 2 * padding, w + 2 * padding, c))
    counts = np.zeros_like(xp)
    for i in range(taps.shape[1]):
        for j in range(taps.shape[2]):
            rows = slice(i * stride, i * stride + kh)
            cols = slice(j * stride, j * stride + kw)
            if rows.stop <= xp.shape[1] and cols.stop <= xp.shape[2]:
                xp[:, rows, cols] += taps[:, i, j]
                counts[:, rows, cols] += 1
    if average:
        xp = xp / np.maximum(counts, 1)
    return xp[:, padding : padding + h, padding : padding + w]


def conv_backward(
    x, w, g, stride, padding, fold_u=False, report_fold=False, flip=False, torch_w=False
):
    kh, kw, c_in, c_out = w.shape
    u = unfold(x, (kh, kw), stride, padding)  # (N, Ho, Wo, K)
    dw = (u.reshape(-1, kh * kw * c_in).T @ np.asarray(g).reshape(-1, c_out)).reshape(w.shape)
    w_used = w[::-1, ::-1] if flip else w
    w_flat = w_used.reshape(c_out, -1).T if torch_w else w_used.reshape(-1, c_out)  # (K, C_out)
    du = (np.asarray(g).reshape(-1, c_out) @ w_flat.T).reshape(u.shape)
    folded = u if fold_u else du
    s, p = (1, 0) if report_fold else (stride, padding)
    return fold(folded, x.shape, (kh, kw), s, p), dw


# ---------------------------------------------------------------------------
# Right answers pass, in NumPy and in JAX


def test_right_answers_pass():
    exercises.check_output_size(output_size)
    exercises.check_conv_loops(conv_loops)
    exercises.check_unfold(unfold)
    exercises.check_fold(fold)
    exercises.check_conv_backward(conv_backward)


@pytest.mark.slow  # eager jaxconv: every small op compiles on its own
def test_jaxconv_itself_passes_in_float32():
    exercises.check_output_size(jaxconv.output_size)
    exercises.check_conv_loops(lambda x, w, s, p: jaxconv.conv2d(jnp.asarray(x), w, s, p))
    exercises.check_unfold(lambda x, k, s, p: jaxconv.unfold(jnp.asarray(x), k, s, p))
    exercises.check_fold(lambda u, shape, k, s, p: jaxconv.fold(jnp.asarray(u), shape, k, s, p))
    exercises.check_conv_backward(
        lambda x, w, g, s, p: (
            jaxconv.conv2d_input_grad(x.shape, w, g, s, p),
            jaxconv.conv2d_weight_grad(x, w.shape, g, s, p),
        )
    )


def test_all_names_the_checks_and_case():
    assert set(exercises.__all__) == {
        "case",
        "check_output_size",
        "check_conv_loops",
        "check_unfold",
        "check_fold",
        "check_conv_backward",
    }


# ---------------------------------------------------------------------------
# Each mistake is rejected, naming the first failing case and the likely mistake


def rejects(check, fn, *patterns):
    with pytest.raises(AssertionError) as info:
        check(fn)
    message = str(info.value)
    for pattern in patterns:
        assert re.search(pattern, message), message
    return message


@pytest.mark.parametrize(
    "wrong, pattern",
    [
        (lambda n, k, s, p: (n + 2 * p - k) / s + 1, r"returned 4\.5, expected 4: .*floor"),
        (
            lambda n, k, s, p: -(-(n + 2 * p - k) // s) + 1,
            r"\(8, 3, stride=2, padding=1\) returned 5, expected 4: .*rounds up",
        ),
        (lambda n, k, s, p: (n - k) // s + 1, r"padding=1\) returned 3, expected 5: .*without"),
        (lambda n, k, s, p: (n + p - k) // s + 1, r"returned 4, expected 5: .*both sides"),
        (lambda n, k, s, p: n + 2 * p - k + 1, r"stride=2.*returned 5, expected 3: .*stride 1"),
        (lambda n, k, s, p: float((n + 2 * p - k) // s + 1), r"returned 3\.0.*return an int"),
        (lambda n, k, s, p: (n + 2 * p - k) // s, r"returned 2, expected 3: the \+1 is missing"),
    ],
)
def test_output_size_mistakes(wrong, pattern):
    rejects(exercises.check_output_size, wrong, pattern)


def test_output_size_names_the_call():
    message = rejects(exercises.check_output_size, lambda n, k, s, p: 0)
    assert message == "your output_size(5, 3, stride=1, padding=0) returned 0, expected 3"


def test_conv_loops_flipped_kernel():
    rejects(
        exercises.check_conv_loops,
        lambda x, w, s, p: conv_loops(x, w, s, p, flip=True),
        r"^with x of shape \(1, 4, 4, 1\), a 2x2 kernel, stride 1 and padding 0, your output "
        r"differs at pixel \(0, \d, \d, 0\): -?\d+, expected -?\d+\. Your kernel is flipped",
    )


def test_conv_loops_forgotten_padding():
    rejects(
        exercises.check_conv_loops,
        lambda x, w, s, p: conv_loops(x, w, s, p, use_padding=False),
        r"stride 1 and padding 1, your output has shape \(2, 3, 5, 3\), expected \(2, 5, 7, 3\): "
        r"that is the shape without the padding",
    )


def test_conv_loops_forgotten_stride():
    rejects(
        exercises.check_conv_loops,
        lambda x, w, s, p: conv_loops(x, w, s, p, use_stride=False),
        r"stride 2 and padding 0, your output differs at pixel .*stride-1 outputs",
    )


def test_conv_loops_stride_forgotten_in_the_shape():
    def no_stride(x, w, s, p):
        return conv_loops(x, w, 1, p)

    rejects(exercises.check_conv_loops, no_stride, r"shape without the stride; did you forget")


def test_conv_loops_error_is_reported_as_the_case():
    def broken(x, w, s, p):
        raise IndexError("index 5 is out of bounds")

    rejects(
        exercises.check_conv_loops,
        broken,
        r"^with x of shape \(1, 4, 4, 1\).*your convolution raised IndexError: index 5",
    )


def test_unfold_pytorch_order():
    rejects(
        exercises.check_unfold,
        lambda x, k, s, p: unfold(x, k, s, p, order="cij"),
        r"3x2 kernel, stride 1 and padding 0, your unfold differs at entry \(n, oy, ox, k\) = "
        r"\(\d, \d, \d, \d\): .*PyTorch's \(c, i, j\) order; jaxconv's are \(i, j, c\)",
    )


def test_unfold_forgotten_stride_and_padding():
    rejects(
        exercises.check_unfold,
        lambda x, k, s, p: unfold(x, k, s, p, use_stride=False),
        r"stride 2 .*stride-1 patches",
    )
    rejects(
        exercises.check_unfold,
        lambda x, k, s, p: unfold(x, k, s, p, use_padding=False),
        r"padding 1, your unfold has shape .*without the padding",
    )


def test_fold_reports_stride_1_padding_0():
    # the first case with padding has stride 1: there the report's fold lacks only the padding
    rejects(
        exercises.check_fold,
        lambda u, shape, k, s, p: fold(u, shape, k, 1, 0),
        r"^with x of shape \(2, 5, 6, 2\), a 3x2 kernel, stride 1 and padding 1, your fold differs "
        r"at pixel \(\d, \d, \d, \d\): -?\d+, expected -?\d+\. Your fold equals a fold without the "
        r"padding",
    )


def test_fold_report_named_where_stride_and_padding_both_matter():
    def report_fold_when_both(u, shape, k, s, p):
        return fold(u, shape, k, 1, 0) if (s, p) == (2, 1) else fold(u, shape, k, s, p)

    rejects(
        exercises.check_fold,
        report_fold_when_both,
        r"stride 2 and padding 1, your fold .*stride 1 and padding 0 \(the student report's\): "
        r"fold with the forward's own stride 2 and padding 1",
    )


def test_fold_forgotten_stride_or_padding():
    rejects(
        exercises.check_fold, lambda u, sh, k, s, p: fold(u, sh, k, 1, p), r"stride 2 .*stride 1"
    )
    rejects(
        exercises.check_fold, lambda u, sh, k, s, p: fold(u, sh, k, s, 0), r"without the padding"
    )


def test_fold_averaging():
    rejects(
        exercises.check_fold,
        lambda u, shape, k, s, p: fold(u, shape, k, s, p, average=True),
        r"stride 1 and padding 0, your fold differs .*averages the overlapping entries",
    )


def test_backward_report():
    rejects(
        exercises.check_conv_backward,
        lambda x, w, g, s, p: conv_backward(x, w, g, s, p, fold_u=True, report_fold=True),
        r"^with x of shape \(1, 4, 4, 1\), a 2x2 kernel, stride 1 and padding 0, your dx differs "
        r"at pixel .*Your dx folds the forward patches U; the input gradient folds dU",
    )


def test_backward_report_fold_of_du():
    rejects(
        exercises.check_conv_backward,
        lambda x, w, g, s, p: conv_backward(x, w, g, s, p, report_fold=True),
        r"padding 1, your dx differs .*Your dx equals a fold without the padding",
    )


def test_backward_report_named_where_stride_and_padding_both_matter():
    def report_when_both(x, w, g, s, p):
        report = (s, p) == (2, 1)
        return conv_backward(x, w, g, s, p, fold_u=report, report_fold=report)

    rejects(
        exercises.check_conv_backward,
        report_when_both,
        r"stride 2 and padding 1, your dx differs .*student report's: it folds the forward patches "
        r"U instead of dU = g Wᵀ, and with stride 1 and padding 0 instead of the forward's 2 and 1",
    )


def test_backward_flipped_kernel():
    rejects(
        exercises.check_conv_backward,
        lambda x, w, g, s, p: conv_backward(x, w, g, s, p, flip=True),
        r"your dx differs .*flipped kernel",
    )


def test_backward_flipped_or_single_image_dw():
    def flipped_dw(x, w, g, s, p):
        dx, dw = conv_backward(x, w, g, s, p)
        return dx, dw[::-1, ::-1]

    def first_image_dw(x, w, g, s, p):
        dx, _ = conv_backward(x, w, g, s, p)
        return dx, conv_backward(x[:1], w, g[:1], s, p)[1]

    rejects(exercises.check_conv_backward, flipped_dw, r"your dw differs .*dw is flipped")
    rejects(exercises.check_conv_backward, first_image_dw, r"shape \(2, .*only the first image")


def test_backward_must_return_a_pair():
    rejects(
        exercises.check_conv_backward,
        lambda x, w, g, s, p: conv_backward(x, w, g, s, p)[0],
        r"your backward returned ndarray; return the pair \(dx, dw\)",
    )


def test_import_pulls_in_no_plotting_or_training_code():
    import subprocess
    import sys

    code = (
        "import sys; from jaxconv import exercises; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'train')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------
# Mistakes a learner made when trying the notebooks cold


def test_channels_first_output():
    def nchw(x, w, s, p):
        return conv_loops(x, w, s, p).transpose(0, 3, 1, 2)  # (N, C, H, W)

    rejects(
        exercises.check_conv_loops, nchw, r"shape \(1, 1, 3, 3\), expected \(1, 3, 3, 1\): .*chan"
    )


def test_unpadded_loops_that_crash_are_pointed_at_the_padding():
    def unpadded(x, w, s, p):
        n, h, wid, _ = x.shape
        kh, kw, _, c_out = w.shape
        y = np.zeros((n, output_size(h, kh, s, p), output_size(wid, kw, s, p), c_out))
        for i in range(y.shape[1]):
            for j in range(y.shape[2]):
                window = x[:, i * s : i * s + kh, j * s : j * s + kw]  # (N, kh, kw, C): no pad
                y[:, i, j] = np.einsum("nhwc,hwco->no", window, w)
        return y

    rejects(
        exercises.check_conv_loops,
        unpadded,
        r"padding 1, your convolution raised ValueError: .*is x padded by 1 on each side\? Given x "
        r"padded by hand and padding 0, your convolution is right\)",
    )


def test_unfold_in_f_unfold_layout():
    def f_unfold(x, k, s, p):
        u = unfold(x, k, s, p, order="cij")  # (N, Ho, Wo, C·kh·kw)
        return u.reshape(u.shape[0], -1, u.shape[-1]).transpose(0, 2, 1)  # (N, C·kh·kw, L)

    rejects(exercises.check_unfold, f_unfold, r"shape \(1, 4, 9\), .*PyTorch's F\.unfold layout")


def test_fold_that_does_not_crop_or_crops_with_negative_slices():
    def uncropped(u, shape, k, s, p):
        n, h, w, c = shape
        return np.pad(fold(u, shape, k, s, p), ((0, 0), (p, p), (p, p), (0, 0)))

    def negative_slices(u, shape, k, s, p):
        return uncropped(u, shape, k, s, p)[:, p:-p, p:-p]

    rejects(exercises.check_fold, uncropped, r"shape \(2, 7, 8, 2\), .*the padded frame: crop")
    rejects(exercises.check_fold, negative_slices, r"shape \(1, 0, 0, 1\), .*\[p:-p\] is \[0:0\]")


def test_fold_that_assigns_instead_of_adding():
    def assigning(u, shape, k, s, p):
        n, h, w, c = shape
        kh, kw = k
        xp = np.zeros((n, h + 2 * p, w + 2 * p, c))
        taps = u.reshape(*u.shape[:3], kh, kw, c)
        for i in range(u.shape[1]):
            for j in range(u.shape[2]):
                xp[:, i * s : i * s + kh, j * s : j * s + kw] = taps[:, i, j]
        return xp[:, p : p + h, p : p + w]

    rejects(exercises.check_fold, assigning, r"keeps only the last entry: add them")


def test_backward_with_dw_from_the_transposed_product():
    def transposed_dw(x, w, g, s, p):
        dx, _ = conv_backward(x, w, g, s, p)
        u = unfold(x, w.shape[:2], s, p).reshape(-1, np.prod(w.shape[:3]))  # U: (M, K)
        return dx, (g.reshape(-1, w.shape[-1]).T @ u).reshape(w.shape)  # g'ᵀ U: (C_out, K)

    rejects(exercises.check_conv_backward, transposed_dw, r"your dw differs .*g'ᵀ U, shape \(C_out")


def test_backward_by_transposed_convolution_without_output_padding():
    def no_output_padding(x, w, g, s, p):
        dx = jaxconv.conv_transpose(jnp.asarray(g), jnp.asarray(w), s, p)  # the floor's rows lost
        return dx, conv_backward(x, w, g, s, p)[1]

    rejects(
        exercises.check_conv_backward,
        no_output_padding,
        r"stride 2 and padding 0, your dx has shape \(1, 7, 5, 3\), expected \(1, 7, 6, 3\): the "
        r"last rows or columns, .*output_padding",
    )


# ---------------------------------------------------------------------------
# Hints that point where the mistake is, and the failing case's arrays


def test_non_square_kernel_comes_before_padding():
    def swapped(x, w, s, p):  # kh and kw swapped, so the windows are kw x kh
        return conv_loops(x, w.transpose(1, 0, 2, 3), s, p)

    message = rejects(
        exercises.check_conv_loops,
        swapped,
        r"^with x of shape \(2, 5, 6, 2\), a 3x2 kernel, stride 1 and padding 0, your output has "
        r"shape \(2, 4, 4, 3\), expected \(2, 3, 5, 3\): .*kh and kw swapped",
    )
    assert "padded" not in message


def test_padding_hint_only_when_right_on_a_padded_input():
    def crashes_on_padding(x, w, s, p):
        if p:
            raise IndexError("index 6 is out of bounds")
        return conv_loops(x, w, s, p)

    def crashes_on_padding_in_unfold(x, k, s, p):
        if p:
            raise IndexError("index 6 is out of bounds")
        return unfold(x, k, s, p)

    rejects(exercises.check_conv_loops, crashes_on_padding, r"is x padded by 1 on each side\?")
    rejects(exercises.check_unfold, crashes_on_padding_in_unfold, r"padded by 1 .*your unfold is")


def test_padding_hint_not_given_when_the_padded_input_does_not_help():
    def crashes_when_padded_and_otherwise_wrong(x, w, s, p):
        if p:
            raise IndexError("index 6 is out of bounds")
        return conv_loops(x, w, s, p) + (x.shape[1] == 7)  # wrong where x was padded by 1

    message = rejects(
        exercises.check_conv_loops,
        crashes_when_padded_and_otherwise_wrong,
        r"padding 1, your convolution raised IndexError: index 6 is out of bounds\n",
    )
    assert "padded" not in message


def test_backward_half_fix_with_jaxconvs_fold_of_stride_1_padding_0():
    def half_fix(x, w, g, s, p):  # the report's fold of dU, with jaxconv.fold
        c_out = w.shape[-1]
        du = (g.reshape(-1, c_out) @ w.reshape(-1, c_out).T).reshape(*g.shape[:3], -1)
        dx = jaxconv.fold(jnp.asarray(du), x.shape, w.shape[:2], stride=1, padding=0)
        return dx, conv_backward(x, w, g, s, p)[1]

    message = rejects(
        exercises.check_conv_backward,
        half_fix,
        r"padding 1, your backward raised ValueError: .*\(is fold given the forward's stride and "
        r"padding\?\)\nexercises\.case\('conv_backward', 3\) gives this case's arrays$",
    )
    assert "padded" not in message


def test_fold_of_another_geometry_that_raises():
    def stride_1_padding_0(u, shape, k, s, p):
        return jaxconv.fold(jnp.asarray(u), shape, k, stride=1, padding=0)

    rejects(
        exercises.check_fold,
        stride_1_padding_0,
        r"padding 1, your fold raised ValueError: .*does your fold use the stride and padding it "
        r"is given\?",
    )


def test_backward_dx_of_the_wrong_shape_asks_for_the_forwards_geometry():
    def wrong_shape(x, w, g, s, p):
        dx, dw = conv_backward(x, w, g, s, p)
        return (dx[:, 1:] if p else dx), dw

    rejects(
        exercises.check_conv_backward,
        wrong_shape,
        r"padding 1, your dx has shape \(2, 4, 6, 2\), expected \(2, 5, 6, 2\): is fold given the "
        r"forward's stride and padding\?",
    )


def test_fold_in_pytorch_order():
    rejects(
        exercises.check_fold,
        lambda u, shape, k, s, p: fold(u, shape, k, s, p, order="cij"),
        r"3x2 kernel, stride 1 and padding 0, your fold differs .*PyTorch's \(c, i, j\) order",
    )


def test_backward_with_a_pytorch_style_kernel_matrix():
    rejects(
        exercises.check_conv_backward,
        lambda x, w, g, s, p: conv_backward(x, w, g, s, p, torch_w=True),
        r"^with x of shape \(2, 5, 6, 2\), a 3x2 kernel, stride 1 and padding 0, your dx differs "
        r".*PyTorch-style, w\.reshape\(C_out, K\); the kernel \(kh, kw, C_in, C_out\) flattens to "
        r"\(kh\*kw\*C_in, C_out\)",
    )


def test_output_shape_without_the_plus_one():
    def no_plus_one(x, w, s, p):
        return conv_loops(x, w, s, p)[:, :-1, :-1]

    rejects(exercises.check_conv_loops, no_plus_one, r"shape \(1, 2, 2, 1\), .*the \+1 missing")


def test_every_failure_names_the_call_that_gives_its_arrays():
    message = rejects(
        exercises.check_fold,
        lambda u, shape, k, s, p: fold(u, shape, k, s, p, average=True),
        r"\nexercises\.case\('fold', 1\) gives this case's arrays$",
    )
    assert message.count("\n") == 1


@pytest.mark.parametrize(
    "check, right",
    [
        ("conv_loops", conv_loops),
        ("unfold", unfold),
        ("fold", fold),
        ("conv_backward", conv_backward),
    ],
)
def test_case_gives_the_inputs_by_argument_name_and_the_expected_output(check, right):
    for number in (1, 5):
        data = exercises.case(check, number)
        *inputs, expected = data.values()
        got = right(*inputs)
        pairs = zip(got, expected) if check == "conv_backward" else [(got, expected)]
        for got_part, expected_part in pairs:
            np.testing.assert_array_equal(got_part, expected_part)
    assert list(exercises.case("fold", 2)) == [
        "patches",
        "input_shape",
        "kernel_size",
        "stride",
        "padding",
        "expected",
    ]


def test_case_refuses_unknown_checks_and_numbers():
    with pytest.raises(ValueError, match="pick one of conv_loops, unfold, fold, conv_backward"):
        exercises.case("output_size", 1)
    with pytest.raises(ValueError, match="cases 1 to 6, not 0"):
        exercises.case("fold", 0)
