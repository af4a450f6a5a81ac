# %% [markdown]
# # 7. The backward as a convolution, forward mode, and how libraries convolve
#
# Chapter 3 wrote the backward with unfold and fold. Here: the scalar start (unfold as a matrix
# of zeros and ones, fold as its transpose), both gradients as convolutions, forward mode, and
# how real libraries convolve (im2col's memory, Winograd, FFT). Guide: chapters 3 and 10. The
# mathematics is in `jaxconv/lessons.py`; the animations are drawn from jaxconv's own arrays by
# `python -m train.guide_figures`.

# %%
# SET-UP CELL (docs/notebooks/src/_setup_cell.py, put here by build.py)

# %%
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import jaxconv
from jaxconv import lessons

# %% [markdown]
# ## The forward, and the two gradients, as they run
#
# A 5×5 input, padding 1, stride 2, a 3×3 kernel: the window slides over the padded input, one
# dot product per output pixel.
#
# ![the forward](../figures/anim_forward.gif)
#
# The input gradient is fold: tap (i, j) adds `g[oy, ox]·W[i, j]` at `(2oy + i, 2ox + j)` of the
# padded frame, then the padding ring is dropped.
#
# ![the input gradient as fold](../figures/anim_input_grad.gif)
#
# The weight gradient `dW = Uᵀ g'` accumulates one output pixel at a time:
#
# ![the weight gradient](../figures/anim_weight_grad.gif)

# %% [markdown]
# ## The scalar start: unfold is a 0/1 matrix, fold its transpose
#
# One channel, one axis: x of length 5, a 3-tap kernel, stride 2, padding 1, so 3 windows.
# Entry (o, t) of U copies `x[2o + t − 1]` (zero in the padding). So `vec(U) = J x` with a
# matrix J of zeros and ones, shape `(O·k, length) = (9, 5)`.
#
# **Exercise 9.** Build J by hand: row `o·k + t` has a 1 in column `o·stride + t − padding`
# when that column exists.


# %%
def unfold_matrix(length, kernel, stride, padding):
    windows = (length + 2 * padding - kernel) // stride + 1
    # BEGIN SOLUTION
    j = np.zeros((windows * kernel, length))
    for o in range(windows):
        for t in range(kernel):
            column = o * stride + t - padding
            if 0 <= column < length:
                j[o * kernel + t, column] = 1
    return j
    # END SOLUTION
    # BEGIN STUB
    # j = np.zeros((windows * kernel, length))
    # # your code here
    # return j
    # END STUB


# %%
def check_unfold_matrix(unfold_matrix):
    for case in [(5, 3, 2, 1), (7, 2, 3, 0), (6, 4, 1, 2)]:
        expected = lessons.unfold_matrix_1d(*case)  # jax.jacobian of jaxconv.unfold
        try:
            got = np.asarray(unfold_matrix(*case))
        except IndexError as err:
            raise AssertionError(
                f"length, kernel, stride, padding = {case}: your unfold_matrix raised IndexError: "
                f"{err}. A column o·stride + t − padding outside 0 … length − 1 is a tap in the "
                "padding: it reads a zero, so its row of J stays all zeros; skip it"
            ) from err
        assert got.shape == expected.shape, (
            f"length, kernel, stride, padding = {case}: your J should be (windows·kernel, "
            f"length) = {expected.shape}, got {got.shape}"
        )
        wrong = np.argwhere(got != expected)
        if len(wrong):
            row, column = wrong[0]
            o, t = divmod(row, case[1])
            if not expected[row].any():  # a tap in the padding: its row is all zeros
                column_of_tap = o * case[2] + t - case[3]
                hint = (
                    f"Tap {t} of window {o} is in the padding (column {column_of_tap}): a tap in "
                    "the padding has no column; a negative index wraps around in NumPy"
                )
            else:
                hint = (
                    "Window o starts at o·stride − padding; did you forget the stride or the "
                    "padding?"
                )
            raise AssertionError(
                f"length, kernel, stride, padding = {case}: your row {row} (window {o}, tap {t}) "
                f"column {column} is {got[row, column]:g}, expected {expected[row, column]:g}. "
                + hint
            )
    print("J is unfold's Jacobian for every case.")


check_unfold_matrix(unfold_matrix)

# %%
J = unfold_matrix(5, 3, 2, 1)
print(J.astype(int))

# %% [markdown]
# The chain rule, one scalar at a time: `∂L/∂x_a = Σ_(o,t) ∂L/∂U[o,t] · J[(o,t), a]`, so
# `∇x = Jᵀ vec(∇U)`. Jᵀ is fold. Its column sums count the windows over each sample, and JAX
# finds the same map by itself: `jax.linear_transpose` of unfold (linear) *is* fold.

# %%
print("windows over each sample:", J.sum(axis=0))
du = jax.random.normal(jax.random.key(0), (1, 3, 3))  # dU: (N, O, k)
by_jax = lessons.fold_by_linear_transpose(du, (1, 5, 1), 3, 2, 1)
np.testing.assert_allclose(by_jax, jaxconv.fold(du, (1, 5, 1), 3, 2, 1), atol=1e-6)
np.testing.assert_allclose(by_jax.ravel(), J.T @ np.asarray(du).ravel(), atol=1e-6)
print("jax.linear_transpose(unfold) = fold = Jᵀ")

# %% [markdown]
# ## The backward as two convolutions
#
# * `dW[t, c, o] = Σ_(n, p) Xpad[n, p·s + t·d, c] · g[n, p, o]`: a correlation of the padded X
#   with g, where the forward's **stride becomes a dilation** of g.
# * `dX`: a full convolution of g with s − 1 zeros inserted between its entries, with the kernel
#   **flipped** and its channel axes **swapped**. This is the transposed convolution (chapter 6):
#
# ![the transposed convolution](../figures/anim_transposed.gif)

# %%
x = jax.random.normal(jax.random.key(0), (2, 7, 7, 3))  # (N, H, W, C_in)
kernel = jax.random.normal(jax.random.key(1), (3, 3, 3, 4))  # (kh, kw, C_in, C_out)
g = jax.random.normal(jax.random.key(2), (2, 4, 4, 4))  # dL/dY, stride 2, padding 1
dw = lessons.weight_grad_as_correlation(x, g, (3, 3), stride=2, padding=1)
dx = lessons.input_grad_as_convolution(g, kernel, x.shape, stride=2, padding=1)
print(
    "dW error:",
    float(jnp.abs(dw - jaxconv.conv_weight_grad(x, kernel.shape, g, 2, 1)).max()),
    "dX error:",
    float(jnp.abs(dx - jaxconv.conv_input_grad(x.shape, kernel, g, 2, 1)).max()),
)

# %% [markdown]
# Dilation spreads the taps: a 3×3 kernel with dilation 2 reads every other pixel.
#
# ![dilation](../figures/anim_dilation.gif)
#
# ## Forward mode
#
# A convolution is bilinear in (X, W), so its JVP is the product rule.
#
# **Exercise 10.** Return the tangent of `conv(x, kernel)` in the direction `(dx, dkernel)`,
# using `conv(a, b)` (stride 2, padding 1) as many times as you need.


# %%
def conv(a, b):
    return jaxconv.conv(a, b, 2, 1)


def conv_tangent(x, kernel, dx, dkernel):
    # BEGIN SOLUTION
    return conv(dx, kernel) + conv(x, dkernel)
    # END SOLUTION
    # BEGIN STUB
    # return conv(dx, dkernel)  # your code here
    # END STUB


# %%
def check_conv_tangent(conv_tangent):
    keys = jax.random.split(jax.random.key(3), 4)
    x, dx = (jax.random.normal(k, (1, 6, 6, 2)) for k in keys[:2])
    kernel, dkernel = (jax.random.normal(k, (3, 3, 2, 3)) for k in keys[2:])

    def lax_conv(x, kernel):  # lax has forward mode: the oracle
        dimensions = ("NHWC", "HWIO", "NHWC")
        return lax.conv_general_dilated(
            x, kernel, (2, 2), [(1, 1)] * 2, dimension_numbers=dimensions
        )

    _, expected = jax.jvp(lax_conv, (x, kernel), (dx, dkernel))
    error = float(jnp.abs(conv_tangent(x, kernel, dx, dkernel) - expected).max())
    assert error < 1e-3, (
        f"your tangent is off by up to {error:.3g}. Perturb both: "
        "conv(x + ε·dx, kernel + ε·dkernel) = conv(x, kernel) + ε·(…) + ε²·conv(dx, dkernel); "
        "the tangent is the ε term."
    )
    print("conv(dX, W) + conv(X, dW): the JVP.")


check_conv_tangent(conv_tangent)

# %% [markdown]
# A plain `jax.custom_vjp` gives JAX a reverse rule only, which JAX can neither run forwards nor
# transpose, so `jax.jvp` of it stops with a `TypeError`. Forward mode *over* the reverse rule
# works: `jax.jacfwd(jax.grad(f))` differentiates the hand-written backward itself.


# %%
@jax.custom_vjp
def square(x):  # a plain custom_vjp: a reverse rule only
    return x * x


square.defvjp(lambda x: (x * x, x), lambda x, g: (2 * x * g,))
try:
    jax.jvp(square, (3.0,), (1.0,))
except TypeError as err:
    print("jax.jvp:", str(err).splitlines()[0])
print("jax.jacfwd(jax.grad(square))(3.0) =", jax.jacfwd(jax.grad(square))(3.0))

x1 = jax.random.normal(jax.random.key(3), (1, 4, 4, 1))


def loss(k):  # quadratic in the kernel: |U w|², Hessian 2 UᵀU
    return jnp.sum(jaxconv.conv2d(x1, k, 2, 0) ** 2)


hessian = jax.jacfwd(jax.grad(loss))(jnp.ones((2, 2, 1, 1))).reshape(4, 4)
u = jaxconv.unfold(x1, 2, 2, 0).reshape(-1, 4)  # U: (M, K)
np.testing.assert_allclose(hessian, 2 * u.T @ u, rtol=1e-4, atol=1e-4)
print("the Hessian through jaxconv's backward is 2 UᵀU")

# %% [markdown]
# ## How real libraries convolve
#
# **im2col** (jaxconv, the assignment) copies every input value kh·kw times into U; on the MNIST
# network at batch 128, float32:

# %%
for size, channels in [(28, 1), (14, 16), (7, 32)]:
    elements = lessons.unfold_memory(128, size, channels)
    print(
        f"{size}x{size}x{channels}: X {4 * elements['input'] / 1e6:.2f} MB, "
        f"U {4 * elements['patches'] / 1e6:.2f} MB"
    )

# %% [markdown]
# **Implicit GEMM** (cuDNN, CUTLASS) computes the same product but gathers each tile of U into
# on-chip memory as needed, never writing U out. **Winograd F(2×2, 3×3)** turns each 4×4 input
# tile and the kernel into 4×4 transforms and multiplies them elementwise: 16 multiplications
# per 2×2 block of outputs instead of 36.

# %%
images = jax.random.normal(jax.random.key(0), (2, 28, 28))
w = jax.random.normal(jax.random.key(1), (3, 3))
direct = jaxconv.conv(images[..., None], w[..., None, None])[..., 0]  # (2, 26, 26)
print("Winograd error:", float(jnp.abs(lessons.winograd_conv2d(images, w) - direct).max()))
print("multiplications for a 26×26 output:", lessons.multiplications(26, 26))

# %% [markdown]
# **FFT**: a correlation is a pointwise product of Fourier transforms, at a cost that does not
# grow with the kernel.

# %%
signal, taps = (
    jax.random.normal(jax.random.key(0), (16,)),
    jax.random.normal(jax.random.key(1), (3,)),
)
circular = jnp.fft.irfft(jnp.fft.rfft(signal) * jnp.conj(jnp.fft.rfft(taps, 16)), 16)
valid = jaxconv.conv(signal[None, :, None], taps[:, None, None])[0, :, 0]  # (14,)
print("FFT error:", float(jnp.abs(circular[:14] - valid).max()))

# %% [markdown]
# ## PyTorch's patch order
#
# `F.unfold` orders a patch's entries (c, i, j); jaxconv's `unfold` (i, j, c).

# %%
x2 = jnp.arange(1, 19, dtype=jnp.float32).reshape(1, 3, 3, 2)  # (N, H, W, C)
print("jaxconv (i, j, c):", jaxconv.unfold(x2, 2)[0, 0, 0].tolist())
print(
    "PyTorch (c, i, j):", lessons.to_torch_patch_order(jaxconv.unfold(x2, 2), 2)[0, 0, 0].tolist()
)
