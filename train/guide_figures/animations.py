"""The guide's animations (GIFs): the forward, the input gradient as fold, the weight gradient,
dilation and the transposed convolution, frame by frame from jaxconv's own arrays.

Each ``*_frames`` function returns the numbers every frame shows (tests/test_guide_figures.py
checks them); each ``draw_*`` writes ``anim_<name>.gif`` with matplotlib's Pillow writer.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import animation
from matplotlib import patches as mpatches

import jaxconv
from train.guide_figures.draw import conv, conv_transpose, fold, show_grid, unfold

DPI = 80
MS_PER_FRAME = 900

# The geometry of the forward and both gradients: a 5x5 input, kernel 3, stride 2, padding 1
SIZE, K, S, P = 5, 3, 2, 1
OUT = jaxconv.output_size(SIZE, K, S, P)  # 3
FRAME = SIZE + 2 * P  # the padded frame, 7


def small_ints(shape, seed, low=-2, high=3) -> np.ndarray:
    """Integers a reader can add in their head, as float32."""
    return np.random.default_rng(seed).integers(low, high, shape).astype(np.float32)


def _write(fig, draw_frame, count: int, out: Path, name: str) -> Path:
    path = out / f"anim_{name}.gif"
    movie = animation.FuncAnimation(fig, draw_frame, frames=count, interval=MS_PER_FRAME)
    movie.save(path, writer=animation.PillowWriter(fps=1000 / MS_PER_FRAME), dpi=DPI)
    plt.close(fig)
    return path


def _outline(ax, row, col, size=K, step=1, color="red"):
    """A box around the cells a window covers; with taps ``step`` > 1 apart, one box per tap."""
    if step == 1:
        corners, side = [(row, col)], size
    else:
        corners = [(row + i * step, col + j * step) for i in range(size) for j in range(size)]
        side = 1
    for r, c in corners:
        ax.add_patch(
            mpatches.Rectangle((c - 0.5, r - 0.5), side, side, fill=False, ec=color, lw=2.5)
        )


# ---------------------------------------------------------------------------
# The forward: the window slides over the padded input with stride 2


def forward_frames() -> dict:
    x = small_ints((1, SIZE, SIZE, 1), 0, 0, 4)  # (N, H, W, C_in)
    kernel = small_ints((K, K, 1, 1), 1)  # (kh, kw, C_in, C_out)
    patches = np.asarray(unfold(x, K, S, P)).reshape(OUT * OUT, K, K)  # one patch per frame
    y = np.asarray(conv(x, kernel, S, P, 1, 1))[0, :, :, 0]  # (OUT, OUT)
    frames = []
    for m, patch in enumerate(patches):
        row, col = divmod(m, OUT)
        frames.append(
            {
                "pixel": (row, col),
                "corner": (row * S, col * S),  # top-left of the window in the padded frame
                "patch": patch,
                "value": float(np.sum(patch * kernel[:, :, 0, 0])),
            }
        )
    return {"x": x[0, :, :, 0], "kernel": kernel[:, :, 0, 0], "y": y, "frames": frames}


def _show_padded_input(ax, x: np.ndarray, title: str, corner: tuple[int, int]) -> None:
    """x (SIZE, SIZE) on its zero padding (white; the input grey), the window at ``corner``
    outlined."""
    shade = np.pad(np.ones((SIZE, SIZE)), P) * 0.3
    show_grid(ax, shade, title, np.pad(x, P), "Greys", 0, 1)  # (7, 7)
    _outline(ax, *corner)


def draw_forward(out: Path) -> dict:
    r = forward_frames()
    fig, axes = plt.subplots(1, 3, figsize=(8, 3), gridspec_kw={"width_ratios": [7, 3, 3]})

    def draw_frame(f):
        frame = r["frames"][f]
        for ax in axes:
            ax.clear()
        _show_padded_input(
            axes[0], r["x"], f"x {SIZE}×{SIZE}, padding {P} (zeros)", frame["corner"]
        )
        show_grid(axes[1], r["kernel"], "kernel 3×3", cmap="RdBu", vmin=-4, vmax=4)
        done = np.full((OUT, OUT), np.nan)
        text = np.full((OUT, OUT), "", dtype=object)
        for g in r["frames"][: f + 1]:
            done[g["pixel"]] = g["value"]
            text[g["pixel"]] = f"{g['value']:g}"
        show_grid(
            axes[2],
            np.nan_to_num(done),
            f"y, stride {S}: pixel {frame['pixel']}",
            text,
            "Greens",
            -10,
            20,
        )
        _outline(axes[2], *frame["pixel"], size=1)
        fig.suptitle(f"y{frame['pixel']} = Σ patch ⊙ kernel = {frame['value']:g}", fontsize=10)

    fig.subplots_adjust(top=0.78)
    _write(fig, draw_frame, len(r["frames"]), out, "forward")
    return r


# ---------------------------------------------------------------------------
# The input gradient: dX = fold(dU), one tap at a time


def input_grad_frames() -> dict:
    g = small_ints((1, OUT, OUT, 1), 2, -1, 3)  # dL/dY
    kernel = small_ints((K, K, 1, 1), 1)  # the forward's kernel
    du = (g.reshape(OUT * OUT, 1) @ kernel.reshape(K * K, 1).T).reshape(1, OUT, OUT, K * K)  # g' Wᵀ
    frame_shape = (1, FRAME, FRAME, 1)  # fold into the padded frame: padding 0
    total = np.zeros((FRAME, FRAME), np.float32)
    frames = []
    for t in range(K * K):
        one_tap = np.zeros_like(du)
        one_tap[..., t] = du[..., t]  # dU of tap t only
        placed = np.asarray(fold(one_tap, frame_shape, K, S, 0))[0, :, :, 0]  # (7, 7)
        total = total + placed
        frames.append({"tap": divmod(t, K), "placed": placed, "total": total.copy()})
    dx = np.asarray(fold(du, (1, SIZE, SIZE, 1), K, S, P))[0, :, :, 0]  # the ring cropped
    truth = np.asarray(jaxconv.reference.conv2d_input_grad((1, SIZE, SIZE, 1), kernel, g, S, P))[
        0, :, :, 0
    ]
    return {
        "g": g[0, :, :, 0],
        "kernel": kernel[:, :, 0, 0],
        "frames": frames,
        "dx": dx,
        "loops": truth,
    }


def _animate_fold(out: Path, name: str, r: dict, left: str, left_title: str, draw_step, kept):
    """A fold built up frame by frame: ``r[left]`` and the kernel on the left, the padded frame
    on the right, ``draw_step(fig, axes, frame)`` for each of ``r["frames"]``, then one last frame
    with the kept inside (``kept``: its label and title)."""
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.3), gridspec_kw={"width_ratios": [3, 3, 7]})
    count = len(r["frames"])

    def draw_frame(f):
        for ax in axes:
            ax.clear()
        show_grid(axes[0], r[left], left_title, cmap="RdBu", vmin=-4, vmax=4)
        show_grid(axes[1], r["kernel"], "kernel", cmap="RdBu", vmin=-4, vmax=4)
        if f < count:
            draw_step(fig, axes, r["frames"][f])
        else:
            show_grid(axes[2], r["frames"][-1]["total"], kept[0], cmap="RdBu", vmin=-12, vmax=12)
            axes[2].add_patch(
                mpatches.Rectangle((P - 0.5, P - 0.5), SIZE, SIZE, fill=False, ec="C2", lw=3)
            )
            fig.suptitle(kept[1], fontsize=10)

    fig.subplots_adjust(top=0.78)
    _write(fig, draw_frame, count + 1, out, name)


def draw_input_grad(out: Path) -> dict:
    r = input_grad_frames()

    def draw_tap(fig, axes, frame):
        i, j = frame["tap"]
        axes[1].add_patch(mpatches.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="C1", lw=3))
        show_grid(
            axes[2],
            frame["total"],
            f"padded frame {FRAME}×{FRAME}: + tap ({i}, {j})",
            cmap="RdBu",
            vmin=-12,
            vmax=12,
        )
        for row in range(OUT):  # where this tap's s-apart gradients land
            for col in range(OUT):
                _outline(axes[2], row * S + i, col * S + j, size=1, color="C1")
        fig.suptitle(
            f"tap ({i}, {j}): g[y, x]·W[{i}, {j}] lands on ({S}y + {i}, {S}x + {j})", fontsize=10
        )

    kept = (
        f"kept: dX {SIZE}×{SIZE} (green)",
        "dX = fold(dU): the padding ring outside the green box is dropped",
    )
    _animate_fold(out, "input_grad", r, "g", "g = dL/dY (3×3)", draw_tap, kept)
    return r


# ---------------------------------------------------------------------------
# The weight gradient: dW = Uᵀ g' accumulates one output pixel at a time


def weight_grad_frames() -> dict:
    x = small_ints((1, SIZE, SIZE, 1), 0, 0, 4)
    g = small_ints((1, OUT, OUT, 1), 2, -1, 3)
    patches = np.asarray(unfold(x, K, S, P)).reshape(OUT * OUT, K * K)  # U: (M, K)
    total = np.zeros(K * K, np.float32)
    frames = []
    for m in range(OUT * OUT):
        total = total + g.ravel()[m] * patches[m]  # row m of Uᵀ g'
        frames.append(
            {"pixel": divmod(m, OUT), "g": float(g.ravel()[m]), "total": total.reshape(K, K).copy()}
        )
    dw = np.asarray(jaxconv.conv_weight_grad(x, (K, K, 1, 1), g, S, P))[:, :, 0, 0]
    return {"x": x[0, :, :, 0], "g": g[0, :, :, 0], "frames": frames, "dw": dw}


def draw_weight_grad(out: Path) -> dict:
    r = weight_grad_frames()
    fig, axes = plt.subplots(1, 3, figsize=(8, 3), gridspec_kw={"width_ratios": [7, 3, 3]})

    def draw_frame(f):
        frame = r["frames"][f]
        row, col = frame["pixel"]
        for ax in axes:
            ax.clear()
        _show_padded_input(axes[0], r["x"], f"x {SIZE}×{SIZE}, padding {P}", (row * S, col * S))
        show_grid(axes[1], r["g"], "g = dL/dY", cmap="RdBu", vmin=-4, vmax=4)
        _outline(axes[1], row, col, size=1)
        show_grid(axes[2], frame["total"], "dW so far", cmap="RdBu", vmin=-20, vmax=20)
        fig.suptitle(
            f"dW += g{frame['pixel']} · patch{frame['pixel']} = {frame['g']:g} · patch", fontsize=10
        )

    fig.subplots_adjust(top=0.78)
    _write(fig, draw_frame, len(r["frames"]), out, "weight_grad")
    return r


# ---------------------------------------------------------------------------
# Dilation: a 3-tap kernel with dilation 2 reads every other pixel of a 5x5 reach


def dilation_frames() -> dict:
    size, k, d = 7, 3, 2
    x = (np.arange(size * size, dtype=np.float32) + 1).reshape(1, size, size, 1)  # labels
    kernel = np.ones((k, k, 1, 1), np.float32)
    o = jaxconv.output_size(size, k, 1, 0, d)  # 3
    patches = np.asarray(unfold(x, k, 1, 0, d)).reshape(o * o, k * k)  # the pixels read
    y = np.asarray(conv(x, kernel, 1, 0, d, 1))[0, :, :, 0]
    frames = [{"pixel": divmod(m, o), "read": patches[m]} for m in range(o * o)]
    return {"x": x[0, :, :, 0], "y": y, "dilation": d, "frames": frames}


def draw_dilation(out: Path) -> dict:
    r = dilation_frames()
    d, o = r["dilation"], r["y"].shape[0]
    fig, axes = plt.subplots(1, 2, figsize=(6.5, 3.2), gridspec_kw={"width_ratios": [7, 3]})

    def draw_frame(f):
        frame = r["frames"][f]
        row, col = frame["pixel"]
        for ax in axes:
            ax.clear()
        show_grid(
            axes[0],
            r["x"],
            f"x 7×7 (labels), kernel 3, dilation {d}",
            cmap="Greys",
            vmin=0,
            vmax=200,
        )
        _outline(axes[0], row, col, step=d)
        done = np.zeros((o, o))
        for g in r["frames"][: f + 1]:
            done[g["pixel"]] = r["y"][g["pixel"]]
        show_grid(axes[1], done, "y (kernel of ones)", vmin=0, vmax=400, cmap="Greens")
        _outline(axes[1], row, col, size=1)
        read = ", ".join(str(int(v)) for v in frame["read"])
        fig.suptitle(f"y{frame['pixel']} sums pixels {read}", fontsize=9)

    fig.subplots_adjust(top=0.78)
    _write(fig, draw_frame, len(r["frames"]), out, "dilation")
    return r


# ---------------------------------------------------------------------------
# The transposed convolution: each pixel of y adds y·kernel into its window (scatter-add)


def transposed_frames() -> dict:
    y = small_ints((1, OUT, OUT, 1), 2, -1, 3)
    kernel = small_ints((K, K, 1, 1), 1)
    total = np.zeros((FRAME, FRAME), np.float32)
    frames = []
    for m in range(OUT * OUT):
        row, col = divmod(m, OUT)
        total[row * S : row * S + K, col * S : col * S + K] += (
            y[0, row, col, 0] * kernel[:, :, 0, 0]
        )
        frames.append(
            {"pixel": (row, col), "value": float(y[0, row, col, 0]), "total": total.copy()}
        )
    z = np.asarray(conv_transpose(y, kernel, S, P, 0, 1, 1))[0, :, :, 0]  # (5, 5)
    return {"y": y[0, :, :, 0], "kernel": kernel[:, :, 0, 0], "frames": frames, "z": z}


def draw_transposed(out: Path) -> dict:
    r = transposed_frames()

    def draw_pixel(fig, axes, frame):
        row, col = frame["pixel"]
        _outline(axes[0], row, col, size=1)
        show_grid(
            axes[2],
            frame["total"],
            f"{FRAME}×{FRAME} frame, stride {S}",
            cmap="RdBu",
            vmin=-12,
            vmax=12,
        )
        _outline(axes[2], row * S, col * S)
        fig.suptitle(
            f"+= y{frame['pixel']} · kernel = {frame['value']:g} · kernel at "
            f"({S}·{row}, {S}·{col})",
            fontsize=10,
        )

    kept = (
        f"kept: output {SIZE}×{SIZE} (green)",
        f"conv_transpose(y, kernel, stride {S}, padding {P}): the ring dropped",
    )
    _animate_fold(out, "transposed", r, "y", "y (3×3)", draw_pixel, kept)
    return r


ANIMATIONS = {
    "anim_forward": draw_forward,
    "anim_input_grad": draw_input_grad,
    "anim_weight_grad": draw_weight_grad,
    "anim_dilation": draw_dilation,
    "anim_transposed": draw_transposed,
}
