"""Chapters 5-6 of docs/guide.md: the taps of dilation and every padding, groups, conv_transpose."""

from __future__ import annotations

from pathlib import Path

import jax
import matplotlib.pyplot as plt
import numpy as np

import jaxconv
from jaxconv._shapes import conv_geometry  # the padding pairs 'SAME' resolves to
from train.guide_figures.draw import (
    conv,
    conv_transpose,
    labelled_image,
    save,
    show_grid,
    unfold,
)

# ---------------------------------------------------------------------------
# Chapter 5: dilation, padding forms, groups


TAP_CASES = {
    "dilation 2 (7×7, k 3)": dict(
        size=(7, 7), kernel=3, stride=1, padding=0, dilation=2, position=(1, 2)
    ),
    "asymmetric padding ((1, 0), (0, 2)) (5×5, k 3)": dict(
        size=(5, 5), kernel=3, stride=1, padding=((1, 0), (0, 2)), dilation=1, position=(0, 4)
    ),
    "'SAME', k 4, stride 1 (7×7)": dict(
        size=(7, 7), kernel=4, stride=1, padding="SAME", dilation=1, position=(0, 0)
    ),
    "'SAME', k 3, stride 2 (6×6)": dict(
        size=(6, 6), kernel=3, stride=2, padding="SAME", dilation=1, position=(2, 2)
    ),
}


def taps_of(size, kernel, stride, padding, dilation, position) -> dict:
    """Where output pixel ``position`` reads: its taps in the padded frame, and unfold's labels."""
    geometry = conv_geometry(size, kernel, stride, padding, dilation)
    (lo_h, _), (lo_w, _) = geometry.padding
    frame = [lo + n + hi for n, (lo, hi) in zip(size, geometry.padding)]
    reads = [
        (
            position[0] * geometry.stride[0] + i * geometry.dilation[0],
            position[1] * geometry.stride[1] + j * geometry.dilation[1],
        )
        for i in range(geometry.kernel_size[0])
        for j in range(geometry.kernel_size[1])
    ]
    patches = unfold(labelled_image(*size), kernel, stride, padding, dilation)  # (1, Ho, Wo, T)
    labels = np.asarray(patches[0, position[0], position[1]]).astype(int)  # 0: a tap in the padding
    return {
        "padding": geometry.padding,
        "frame": frame,
        "output": geometry.output_size,
        "reads": reads,
        "labels": labels,
        "low": (lo_h, lo_w),
    }


def draw_taps(out: Path) -> dict:
    results = {title: taps_of(**case) for title, case in TAP_CASES.items()}
    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 4.2))
    for ax, (title, r) in zip(axes, results.items()):
        (lo_h, lo_w), (fh, fw) = r["low"], r["frame"]
        size = TAP_CASES[title]["size"]
        picture = np.full((fh, fw), 0.25)  # padding
        picture[lo_h : lo_h + size[0], lo_w : lo_w + size[1]] = 0.0
        for row, col in r["reads"]:
            picture[row, col] = 1.0
        text = np.full((fh, fw), "", dtype=object)
        text[lo_h : lo_h + size[0], lo_w : lo_w + size[1]] = (
            np.asarray(labelled_image(*size)[0, :, :, 0]).astype(int).astype(str)
        )
        show_grid(
            ax,
            picture,
            f"{title}\npadding {r['padding']}, output {r['output']}\n"
            f"output pixel {TAP_CASES[title]['position']} reads the dark cells",
            text,
            "Oranges",
            0,
            1.4,
        )
    save(fig, out, "ch5_taps")
    return results


def dense_kernel_matrix(kernel: jax.Array, groups: int) -> np.ndarray:
    """The (T·C_in, C_out) matrix a grouped convolution multiplies each patch by, read off
    jaxconv.conv: row k is the convolution of the one-hot patch e_k (a kernel-sized image has
    one output pixel)."""
    *k, c_per_group, c_out = kernel.shape
    c_in = c_per_group * groups
    one_hots = np.eye(np.prod(k) * c_in, dtype=np.float32).reshape(
        -1, *k, c_in
    )  # (T·C_in, *k, C_in)
    rows = conv(one_hots, kernel, 1, 0, 1, groups)  # (T·C_in, 1, 1, C_out)
    return np.asarray(rows).reshape(-1, c_out)  # (T·C_in, C_out)


def draw_group_kernels(out: Path) -> dict:
    """Dense, grouped (G = 2) and depthwise (G = C_in = 4) kernels as the matrix W of Y' = U W."""
    rng = np.random.default_rng(3)
    cases = {
        "dense: (3, 3, 4, 4)": (rng.standard_normal((3, 3, 4, 4), np.float32), 1),
        "groups 2: (3, 3, 2, 4)": (rng.standard_normal((3, 3, 2, 4), np.float32), 2),
        "depthwise, groups 4: (3, 3, 1, 4)": (rng.standard_normal((3, 3, 1, 4), np.float32), 4),
    }
    matrices = {
        title: dense_kernel_matrix(kernel, groups) for title, (kernel, groups) in cases.items()
    }
    fig, axes = plt.subplots(1, 3, figsize=(7, 6))
    for ax, (title, matrix) in zip(axes, matrices.items()):
        ax.imshow(
            np.abs(matrix) > 0,
            cmap="Greys",
            vmin=0,
            vmax=1.3,
            aspect="auto",
            interpolation="nearest",
        )
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("output channel")
        ax.set_yticks(range(0, 36, 4))
    axes[0].set_ylabel("patch entry (tap, input channel)")
    fig.suptitle(
        "W of Y' = U W read off jaxconv.conv: dark a weight, white an exact zero", fontsize=9
    )
    save(fig, out, "ch5_group_kernels")
    return {"matrices": matrices, "kernels": {t: np.asarray(k) for t, (k, _) in cases.items()}}


# ---------------------------------------------------------------------------
# Chapter 6: the transposed convolution, two views


def transposed_views() -> dict:
    """conv_transpose of a 3x3 map (kernel 3 of ones, stride 2): fold and zero-insertion views."""
    y = labelled_image(3, 3)  # (1, 3, 3, 1)
    kernel = np.ones((3, 3, 1, 1), np.float32)  # the forward conv's (*k, C_in, C_out)
    fold_view = conv_transpose(y, kernel, 2)  # (1, 7, 7, 1)
    inserted = np.zeros((1, 5, 5, 1), np.float32)
    inserted[:, ::2, ::2] = y  # s - 1 = 1 zero between pixels
    padded = np.pad(inserted, ((0, 0), (2, 2), (2, 2), (0, 0)))  # d·(k - 1) - p = 2 on each side
    flipped = np.swapaxes(kernel[::-1, ::-1], 2, 3)  # flipped in space, channel axes swapped
    insertion_view = conv(padded, flipped)  # stride 1: (1, 7, 7, 1)
    lax_view = zero_insertion_conv(y, flipped)
    return {
        "y": np.asarray(y[0, :, :, 0]),
        "fold": np.asarray(fold_view[0, :, :, 0]),
        "padded": np.asarray(padded[0, :, :, 0]),
        "insertion": np.asarray(insertion_view[0, :, :, 0]),
        "lhs_dilation": np.asarray(lax_view[0, :, :, 0]),
    }


@jax.jit
def zero_insertion_conv(y, flipped):
    """The same view by conv_general_dilated: input dilation 2 inserts the zeros, padding 2 pads."""
    dimensions = ("NHWC", "HWIO", "NHWC")
    return jaxconv.conv_general_dilated(
        y, flipped, (1, 1), [(2, 2), (2, 2)], lhs_dilation=(2, 2), dimension_numbers=dimensions
    )


def draw_transposed_views(out: Path) -> dict:
    r = transposed_views()
    fig, axes = plt.subplots(1, 4, figsize=(14, 4), gridspec_kw={"width_ratios": [3, 7, 9, 7]})
    show_grid(axes[0], r["y"], "y (3×3)", cmap="Greys", vmin=0, vmax=30)
    show_grid(
        axes[1],
        r["fold"],
        "fold view: each pixel adds\nits value × kernel (ones) at 2·i",
        vmin=0,
        vmax=45,
    )
    show_grid(
        axes[2],
        r["padded"],
        "zero-insertion view: 1 zero between\npixels, padding 2",
        cmap="Greys",
        vmin=0,
        vmax=30,
    )
    show_grid(
        axes[3],
        r["insertion"],
        "... then a stride-1 convolution\nwith the flipped kernel: the same",
        vmin=0,
        vmax=45,
    )
    save(fig, out, "ch6_transposed_views")
    return r


def bilinear_kernel() -> np.ndarray:
    """The (4, 4, 1, 1) kernel whose transposed convolution (stride 2, padding 1) is bilinear 2x."""
    taps = np.array([0.25, 0.75, 0.75, 0.25], np.float32)
    return np.outer(taps, taps).reshape(4, 4, 1, 1)  # (kh, kw, C_in, C_out)


def draw_upsampled_digit(out: Path, digit: np.ndarray) -> dict:
    """A 28x28 digit upsampled to 56x56 by jaxconv.conv_transpose with the bilinear kernel."""
    image = np.asarray(digit, np.float32).reshape(1, *digit.shape, 1) / 255  # (1, 28, 28, 1)
    up = conv_transpose(image, bilinear_kernel(), 2, 1)  # (1, 56, 56, 1)
    resized = jax.jit(jax.image.resize, static_argnums=(1, 2))(
        image, up.shape, "bilinear"
    )  # (1, 56, 56, 1)
    fig, axes = plt.subplots(1, 2, figsize=(6, 3.2))
    for ax, picture, title in zip(
        axes, [image, up], ["the digit, 28×28", "conv_transpose, stride 2: 56×56"]
    ):
        ax.imshow(np.asarray(picture[0, :, :, 0]), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    save(fig, out, "ch6_upsampled_digit")
    return {
        "digit": np.asarray(image[0, :, :, 0]),
        "upsampled": np.asarray(up[0, :, :, 0]),
        "resized": np.asarray(resized[0, :, :, 0]),
    }


def synthetic_digit() -> np.ndarray:
    """A 28x28 uint8 '7' drawn with two strokes, for runs without MNIST (--quick)."""
    digit = np.zeros((28, 28), np.uint8)
    digit[6:9, 7:21] = 255  # the bar
    for row in range(9, 24):  # the diagonal
        col = 20 - (row - 9) * 2 // 3
        digit[row, col - 1 : col + 2] = 255
    return digit
