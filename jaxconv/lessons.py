"""The guide's chapter 10 and notebook 07 as functions: the backward seen as a convolution,
forward mode, and how real libraries convolve (Winograd, im2col's memory), each checked by
tests/test_lessons.py against jaxconv's own fold form. Not used by the library itself.

Channels last throughout: x ``(N, *S, C_in)``, kernel ``(*k, C_in, C_out)``, g ``(N, *O, C_out)``;
stride, padding and dilation are one int for every spatial axis (dense convolutions only).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxconv._general import conv_general_dilated
from jaxconv._patches import fold, unfold
from jaxconv._shapes import output_size

# ---------------------------------------------------------------------------
# The scalar start: one channel, one axis, unfold and fold as matrices


def unfold_matrix_1d(length: int, kernel: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """unfold's Jacobian for a 1-D, one-channel signal of ``length``: the 0/1 matrix J of shape
    ``(O·k, length)`` with ``unfold(x).ravel() = J x``. Row ``o·k + t`` has its one 1 in column
    ``o·stride + t − padding`` (none when that tap falls in the padding)."""

    def flat_unfold(x):
        return unfold(x.reshape(1, length, 1), kernel, stride, padding).ravel()

    return np.asarray(jax.jacobian(flat_unfold)(jnp.zeros(length)))  # (O·k, length)


def fold_matrix_1d(length: int, kernel: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """fold's Jacobian, ``(length, O·k)``: the transpose of :func:`unfold_matrix_1d`."""
    o = output_size(length, kernel, stride, padding)

    def flat_fold(p):
        return fold(p.reshape(1, o, kernel), (1, length, 1), kernel, stride, padding)

    return np.asarray(jax.jacobian(lambda p: flat_fold(p).ravel())(jnp.zeros(o * kernel)))


def fold_by_linear_transpose(patches, input_shape, kernel_size, stride=1, padding=0):
    """fold computed by JAX itself: ``jax.linear_transpose`` of unfold, applied to ``patches``.
    unfold is linear, so JAX can transpose it without being told how; the result is fold."""
    primal = jax.ShapeDtypeStruct(tuple(input_shape), jnp.asarray(patches).dtype)
    transpose = jax.linear_transpose(lambda x: unfold(x, kernel_size, stride, padding, 1), primal)
    (folded,) = transpose(patches)
    return folded


# ---------------------------------------------------------------------------
# The backward is a convolution too


def _layouts(rank: int) -> tuple[str, str, str]:
    spatial = "HWD"[:rank]
    return f"N{spatial}C", f"{spatial}IO", f"N{spatial}C"


def weight_grad_as_correlation(x, g, kernel_size, stride=1, padding=0, dilation=1):
    """dW as a correlation of the padded X with g, computed by a convolution.

    dW[t, c, o] = Σ_{n, p} Xpad[n, p·s + t·d, c] g[n, p, o]: the output position p now runs
    under the sum and the tap t is the sliding index. So it is a convolution whose "batch" is
    C_in, whose "channels" are N, whose kernel is g ``(*O, N, C_out)`` with **dilation s** (the
    forward's stride) and whose stride is d (the forward's dilation). The padded input may
    leave room for more than k positions (the rows the forward's floor dropped): keep k.

    **Returns:** dW ``(*k, C_in, C_out)``, equal to ``jaxconv.conv_weight_grad``.
    """
    rank = x.ndim - 2
    k = (kernel_size,) * rank if isinstance(kernel_size, int) else tuple(kernel_size)
    x_as_batch = jnp.moveaxis(x, (0, -1), (-1, 0))  # (C_in, *S, N)
    g_as_kernel = jnp.moveaxis(g, 0, -2)  # (*O, N, C_out)
    taps = conv_general_dilated(
        x_as_batch,
        g_as_kernel,
        (dilation,) * rank,
        [(padding, padding)] * rank,
        rhs_dilation=(stride,) * rank,
        dimension_numbers=_layouts(rank),
    )  # (C_in, *k', C_out), k' >= k
    taps = taps[(slice(None), *(slice(0, n) for n in k))]  # (C_in, *k, C_out)
    return jnp.moveaxis(taps, 0, -2)  # (*k, C_in, C_out)


def input_grad_as_convolution(g, kernel, input_shape, stride=1, padding=0, dilation=1):
    """dX as a full convolution of the zero-inserted g with the flipped, channel-swapped kernel.

    dX[n, a, c] = Σ_{p, t: p·s + t·d − pad = a} g[n, p, o] W[t, c, o]. Insert s − 1 zeros between
    the entries of g (input dilation s) so that g's position p sits at p·s; then a reads tap t at
    a + pad − t·d, a correlation with the kernel **flipped** in space, its channel axes
    **swapped** (C_out is now the input), dilation d, padded by d·(k − 1) − pad low and
    whatever makes the output as long as X high (negative: crop).

    **Returns:** dX of ``input_shape``, equal to ``jaxconv.conv_input_grad`` (the fold form).
    """
    rank = g.ndim - 2
    k = kernel.shape[:rank]
    flipped = jnp.swapaxes(kernel[(slice(None, None, -1),) * rank], -1, -2)  # (*k, C_out, C_in)
    pads = []
    for size, out, taps in zip(input_shape[1:-1], g.shape[1:-1], k):
        low = dilation * (taps - 1) - padding
        pads.append((low, size - 1 - (out - 1) * stride + padding))  # output length = size
    return conv_general_dilated(
        g,
        flipped,
        (1,) * rank,
        pads,
        lhs_dilation=(stride,) * rank,
        rhs_dilation=(dilation,) * rank,
        dimension_numbers=_layouts(rank),
    )  # (N, *S, C_in)


# ---------------------------------------------------------------------------
# Forward mode: the convolution is bilinear in (X, W)


def conv_jvp(x, kernel, x_tangent, kernel_tangent, stride=1, padding=0):
    """``(conv(X, W), conv(dX, W) + conv(X, dW))``: the JVP of the bilinear map (X, W) ↦ conv(X, W),
    by the product rule, each term a forward convolution (jaxconv's ``conv_general_dilated``)."""
    rank = x.ndim - 2

    def conv(a, b):
        return conv_general_dilated(
            a, b, (stride,) * rank, [(padding, padding)] * rank, dimension_numbers=_layouts(rank)
        )

    return conv(x, kernel), conv(x_tangent, kernel) + conv(x, kernel_tangent)


# ---------------------------------------------------------------------------
# How real libraries convolve: Winograd F(2x2, 3x3), and im2col's memory

# Lavin & Gray (2016): Y = Aᵀ [(G w Gᵀ) ⊙ (Bᵀ d B)] A for a 4x4 input tile d, a 3x3 kernel w
WINOGRAD_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float32)
WINOGRAD_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float32)
WINOGRAD_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float32)


def winograd_conv2d(x, kernel):
    """A valid, stride-1 3x3 correlation of one-channel images by Winograd's F(2x2, 3x3).

    x ``(N, H, W)`` with H − 2 and W − 2 even, kernel ``(3, 3)``. Each 2x2 block of outputs reads a
    4x4 input tile (tiles overlap by 2: unfold with kernel 4, stride 2); the kernel is
    transformed once to ``G w Gᵀ`` (4x4), each tile to ``Bᵀ d B`` (additions only), and the two
    are multiplied elementwise: 16 multiplications per 2x2 block instead of 4·9 = 36.

    **Returns:** ``(N, H − 2, W − 2)``.
    """
    n, h, w = x.shape
    if kernel.shape != (3, 3) or (h - 2) % 2 or (w - 2) % 2:
        raise ValueError(
            f"F(2x2, 3x3) needs a (3, 3) kernel and an even output; got x {x.shape}, "
            f"kernel {kernel.shape}"
        )
    tiles = unfold(x[..., None], 4, 2).reshape(n, (h - 2) // 2, (w - 2) // 2, 4, 4)  # d
    kernel_t = WINOGRAD_G @ kernel @ WINOGRAD_G.T  # (4, 4)
    tiles_t = jnp.einsum("ab,nyxbc,dc->nyxad", WINOGRAD_BT, tiles, WINOGRAD_BT)  # Bᵀ d B
    blocks = jnp.einsum(
        "ab,nyxbc,dc->nyxad", WINOGRAD_AT, tiles_t * kernel_t[None, None, None], WINOGRAD_AT
    )  # (N, Ty, Tx, 2, 2)
    return blocks.transpose(0, 1, 3, 2, 4).reshape(n, h - 2, w - 2)  # blocks side by side


def multiplications(out_h: int, out_w: int) -> dict:
    """Multiplications of a one-channel 3x3 convolution with an ``out_h × out_w`` output:
    unfold + product (9 per output) against Winograd F(2x2, 3x3) (16 per 2x2 block; the
    kernel's transform is done once and its 0.5 factors can be folded into it)."""
    return {"unfold": 9 * out_h * out_w, "winograd": 16 * (out_h // 2) * (out_w // 2)}


def unfold_memory(batch: int, size: int, channels: int, kernel: int = 3, padding: int = 1):
    """Elements of the input X ``(batch, size, size, channels)`` and of its patch matrix U (im2col),
    the shapes read from ``jax.eval_shape`` of jaxconv.unfold: U holds each pixel kh·kw times."""
    x = jax.ShapeDtypeStruct((batch, size, size, channels), jnp.float32)
    u = jax.eval_shape(lambda x: unfold(x, kernel, 1, padding), x)
    return {"input": int(np.prod(x.shape)), "patches": int(np.prod(u.shape))}


# ---------------------------------------------------------------------------
# Where the assignment's PyTorch meets jaxconv


def to_torch_patch_order(patches, channels: int):
    """jaxconv's patch entries ordered (i, j, c) → PyTorch ``F.unfold``'s (c, i, j).

    patches ``(..., T·C)`` → ``(..., C·T)``; PyTorch's U is this, moved to ``(N, C·T, L)``."""
    taps = patches.shape[-1] // channels
    by_tap = patches.reshape(*patches.shape[:-1], taps, channels)  # (..., T, C)
    return jnp.swapaxes(by_tap, -1, -2).reshape(patches.shape)  # (..., C, T) -> (..., C·T)
