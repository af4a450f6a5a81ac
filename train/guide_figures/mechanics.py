"""Chapters 1-4 of docs/guide.md: output size, unfold, fold (the adjoint), the report's backward."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import patches as mpatches

import jaxconv
from train.guide_figures.draw import conv, fold, labelled_image, save, show_grid, unfold

# ---------------------------------------------------------------------------
# Chapter 1: the loops and the output size


def draw_output_windows(out: Path) -> dict:
    """Q2 along one axis: 7 rows, kernel 3, stride 2, padding 1 -> output_size windows."""
    size, k, s, p = 7, 3, 2, 1
    count = jaxconv.output_size(size, k, s, p)
    starts = [o * s for o in range(count)]  # first padded row of window o
    fig, ax = plt.subplots(figsize=(6, 1.8))
    for r in range(size + 2 * p):
        padding = r < p or r >= size + p
        ax.add_patch(
            mpatches.Rectangle((r, 0), 1, 1, fill=True, fc="0.85" if padding else "white", ec="k")
        )
        ax.text(
            r + 0.5, 0.5, "pad" if padding else str(r - p), ha="center", va="center", fontsize=8
        )
    for o, start in enumerate(starts):
        y = -0.4 - 0.35 * o
        ax.plot([start + 0.1, start + k - 0.1], [y, y], lw=4, color=f"C{o}")
        ax.text(start + k + 0.1, y, f"output {o}", va="center", fontsize=8)
    ax.set_xlim(-0.2, size + 2 * p + 2.5)
    ax.set_ylim(-0.5 - 0.35 * count, 1.1)
    ax.axis("off")
    ax.set_title(
        f"size {size}, kernel {k}, stride {s}, padding {p}: "
        f"floor(({size} + 2·{p} − {k}) / {s}) + 1 = {count}"
    )
    save(fig, out, "ch1_output_size")
    return {"count": count, "starts": starts}


# ---------------------------------------------------------------------------
# Chapter 2: unfold, and the convolution as one matrix product


def draw_unfold_grid(out: Path) -> dict:
    """unfold of a labelled 4x4 image (kernel 3, padding 1): which pixels form each patch row."""
    image = labelled_image(4, 4)  # (1, 4, 4, 1)
    patches = unfold(image, 3, 1, 1).reshape(16, 9)  # (M, K) = (16, 9)
    kernel = np.arange(9, dtype=np.float32).reshape(3, 3, 1, 1) / 10  # (3, 3, C_in, C_out)
    product = (np.asarray(patches) @ kernel.reshape(9, 1)).reshape(
        4, 4
    )  # U W: [16, 9] [9, 1] -> [16, 1] -> (4, 4)
    conv_out = conv(image, kernel, 1, 1, 1, 1)[0, :, :, 0]  # (4, 4)
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 5), gridspec_kw={"width_ratios": [1, 1.6]})
    show_grid(left, image[0, :, :, 0], "X: 4×4 image, pixel labels", cmap="Greys", vmin=0, vmax=40)
    labels = np.where(np.asarray(patches) == 0, "·", np.asarray(patches).astype(int).astype(str))
    show_grid(
        right,
        patches > 0,
        "U = unfold(X, 3, padding=1): one row per output pixel\n(· = padding)",
        labels,
        "Greens",
        0,
        3,
    )
    right.set_ylabel("output pixel (y, x)")
    right.set_xlabel("tap (i, j)")
    save(fig, out, "ch2_unfold_grid")
    return {
        "image": np.asarray(image[0, :, :, 0]),
        "patches": np.asarray(patches),
        "product": np.asarray(product),
        "conv": np.asarray(conv_out),
    }


# ---------------------------------------------------------------------------
# Chapter 3: fold is the adjoint, the input gradient as a fold, the graph


def draw_overlap_counts(out: Path) -> dict:
    """fold(unfold(ones)) on a 4x4 image, kernel 3, padding 1: how many patches cover each pixel."""
    ones = np.ones((1, 4, 4, 1), np.float32)
    counts = fold(unfold(ones, 3, 1, 1), ones.shape, 3, 1, 1)[0, :, :, 0]  # (4, 4)
    fig, ax = plt.subplots(figsize=(3, 3))
    show_grid(ax, counts, "fold(unfold(ones)), 4×4, k 3, p 1", vmin=0, vmax=12)
    save(fig, out, "ch3_overlap_counts")
    return {"counts": np.asarray(counts)}


def draw_strided_input_grad(out: Path) -> dict:
    """dX = fold(dU) of a 7x7 convolution, kernel 3, stride 2, padding 1, with g and W all ones:
    each tap lands s - 1 = 1 row apart (the stride's gaps) in the 9x9 padded frame, whose ring
    is cropped."""
    size, k, s, p = 7, 3, 2, 1
    frame_shape = (1, size + 2 * p, size + 2 * p, 1)  # the padded frame, folded into with padding 0
    o = jaxconv.output_size(size, k, s, p)
    taps = {}
    for tap in [(0, 0), (1, 1), (2, 2)]:
        one_tap = np.zeros((1, o, o, k, k, 1), np.float32)
        one_tap[:, :, :, tap[0], tap[1]] = 1.0  # dU of one tap
        taps[tap] = fold(one_tap.reshape(1, o, o, k * k), frame_shape, k, s, 0)[
            0, :, :, 0
        ]  # (9, 9)
    du = np.ones((1, o, o, k * k), np.float32)  # g' Wᵀ with g = 1 and W = 1
    frame = fold(du, frame_shape, k, s, 0)[0, :, :, 0]  # (9, 9)
    dx = fold(du, (1, size, size, 1), k, s, p)[0, :, :, 0]  # (7, 7)
    fig, axes = plt.subplots(1, 5, figsize=(15, 4.2))
    panels = [
        *(f"tap {t}:\nrows {s}·y + {t[0]}, columns {s}·x + {t[1]}" for t in taps),
        f"all {k * k} taps summed\n({size + 2 * p}×{size + 2 * p} padded frame)",
        f"dX = fold(dU):\nthe {size}×{size} inside the red box",
    ]
    for ax, values, title in zip(axes, [*taps.values(), frame, dx], panels):
        show_grid(ax, values, title, vmin=0, vmax=6)
    for ax in axes[:4]:  # the input inside the padded frame: kept; the ring outside: cropped
        ax.add_patch(mpatches.Rectangle((p - 0.5, p - 0.5), size, size, fill=False, ec="red", lw=2))
    fig.suptitle(
        f"x {size}×{size}, kernel {k}×{k}, stride {s}, padding {p}: output {o}×{o}; g and W all "
        f"ones. Red box: the {size}×{size} input, kept; outside it: the padding ring, cropped",
        fontsize=10,
    )
    save(fig, out, "ch3_strided_input_grad")
    return {
        "geometry": {"size": size, "kernel": k, "stride": s, "padding": p, "output": o},
        "taps": {t: np.asarray(v) for t, v in taps.items()},
        "frame": np.asarray(frame),
        "dx": np.asarray(dx),
    }


def draw_computation_graph(out: Path) -> dict:
    """Q4/Q5's graph X -> U -> Y' -> Y -> L with the shapes of a real convolution, and backward."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 5, 3), np.float32)  # (N, H, W, C_in)
    kernel = rng.standard_normal((3, 3, 3, 4), np.float32)  # (kh, kw, C_in, C_out)
    u = np.asarray(unfold(x, 3, 2, 1)).reshape(-1, 27)  # (M, K) = (N·Ho·Wo, kh·kw·C_in)
    y_flat = u @ kernel.reshape(27, 4)  # (M, C_out)
    y = y_flat.reshape(2, 3, 3, 4)  # (N, Ho, Wo, C_out)
    g = np.ones_like(y)  # dL/dY for L = sum(Y)
    dw = u.T @ g.reshape(-1, 4)  # Uᵀ g': [K, M] [M, C_out]
    du = g.reshape(-1, 4) @ kernel.reshape(27, 4).T  # g' Wᵀ: [M, C_out] [C_out, K]
    dx = fold(du.reshape(2, 3, 3, 27), x.shape, 3, 2, 1)  # (N, H, W, C_in)
    shapes = {
        "X": x.shape,
        "U": u.shape,
        "W": (27, 4),
        "Y'": y_flat.shape,
        "Y": y.shape,
        "dW": dw.shape,
        "dU": du.shape,
        "g'": g.reshape(-1, 4).shape,
        "dX": dx.shape,
    }
    fig, ax = plt.subplots(figsize=(10, 4))
    nodes = [("X", "unfold"), ("U", "U W"), ("Y'", "reshape"), ("Y", "sum"), ("L", None)]
    for i, (name, op) in enumerate(nodes):
        shape = shapes.get(name, "()")
        ax.text(
            2.4 * i,
            1,
            f"{name}\n{shape}",
            ha="center",
            va="center",
            bbox={"fc": "w", "ec": "k"},
            fontsize=9,
        )
        if op:
            ax.annotate(
                "", (2.4 * i + 1.55, 1), (2.4 * i + 0.85, 1), arrowprops={"arrowstyle": "->"}
            )
            ax.text(2.4 * i + 1.2, 0.7, op, ha="center", fontsize=8)
    gradient_box = {"fc": "w", "ec": "C3"}
    ax.text(3.6, 2.0, f"W {shapes['W']}", ha="center", va="center", bbox={"fc": "w", "ec": "k"})
    ax.annotate("", (3.6, 1.3), (3.6, 1.75), arrowprops={"arrowstyle": "->"})
    ax.text(  # W's gradient beside W, the only tensor of the top row
        6.0,
        2.0,
        f"dW = Uᵀ g'\n{shapes['dW']}",
        ha="center",
        va="center",
        color="C3",
        fontsize=9,
        bbox=gradient_box,
    )
    ax.annotate("", (4.3, 2.0), (5.2, 2.0), arrowprops={"arrowstyle": "->", "color": "C3"})
    backward = [  # each gradient under its own tensor
        (0, f"dX = fold(dU)\n{shapes['dX']}"),
        (2.4, f"dU = g' Wᵀ\n{shapes['dU']}"),
        (4.8, "g' = dL/dY'\n= reshape(g) " + str(shapes["g'"])),
        (7.2, f"g = dL/dY\n{shapes['Y']}"),
        (9.6, "dL/dL = 1"),
    ]
    for x_pos, label in backward:
        ax.text(
            x_pos, -0.2, label, ha="center", va="center", color="C3", fontsize=9, bbox=gradient_box
        )
    ax.annotate(
        "backward",
        (0.6, -0.85),
        (9.4, -0.85),
        color="C3",
        arrowprops={"arrowstyle": "->", "color": "C3"},
    )
    ax.set_xlim(-1, 10.6)
    ax.set_ylim(-1.1, 2.5)
    ax.axis("off")
    save(fig, out, "ch3_computation_graph")
    return {
        "shapes": shapes,
        "dx": np.asarray(dx),
        "dx_autodiff": np.asarray(input_grad(x, kernel, g)),
    }


@jax.jit
def input_grad(x, kernel, g):
    """dL/dX by jax.grad through jaxconv's custom VJP, for conv2d with stride 2 and padding 1."""
    return jax.grad(lambda x: jnp.vdot(jaxconv.conv2d(x, kernel, 2, 1), g))(x)


# ---------------------------------------------------------------------------
# Chapter 4: the student report's backward, numerically


def report_backward_errors() -> dict:
    """The report's input gradient against the loops' for x (1, 5, 5, 2), kernel 3, s 2, p 1.

    At 5x5 a stride-1, padding-0 fold takes the same 3x3 patch grid as the forward's stride 2,
    padding 1, so the report's code runs without a shape error and returns a wrong number silently.
    """
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 5, 5, 2), np.float32)  # (N, H, W, C_in)
    kernel = rng.standard_normal((3, 3, 2, 3), np.float32)  # (kh, kw, C_in, C_out)
    g = rng.standard_normal((1, 3, 3, 3), np.float32)  # dL/dY
    u = unfold(x, 3, 2, 1)  # (1, 3, 3, 18)
    du = (g.reshape(9, 3) @ kernel.reshape(18, 3).T).reshape(
        1, 3, 3, 18
    )  # g' Wᵀ: [M, C_out] [C_out, K]
    results = {
        "loops": jaxconv.reference.conv2d_input_grad(x.shape, kernel, g, 2, 1),
        "jaxconv": input_grad(x, kernel, g),
        "report: fold(U), stride 1, padding 0": fold(u, x.shape, 3, 1, 0),
        "fold(U), the forward's stride and padding": fold(u, x.shape, 3, 2, 1),
        "fold(dU), stride 1, padding 0": fold(du, x.shape, 3, 1, 0),
    }
    truth = np.asarray(results["loops"])
    errors = {name: float(np.max(np.abs(np.asarray(v) - truth))) for name, v in results.items()}
    return {"gradients": {n: np.asarray(v) for n, v in results.items()}, "errors": errors}


def draw_report_backward(out: Path) -> dict:
    result = report_backward_errors()
    fig, axes = plt.subplots(1, 5, figsize=(15, 3.6))
    for ax, (name, grad) in zip(axes, result["gradients"].items()):
        title = (
            "true dX (the loops)"
            if name == "loops"
            else f"{name}\nmax error {result['errors'][name]:.2g}"
        )
        show_grid(ax, np.round(grad[0, :, :, 0], 1), title, cmap="RdBu", vmin=-6, vmax=6)
    save(fig, out, "ch4_report_backward")
    return result
