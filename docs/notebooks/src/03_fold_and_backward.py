# %% [markdown]
# # 3. fold and the backward (Q4, Q5)
#
# unfold copies each pixel into every patch that covers it. The gradient of a copy is the
# **sum** of the gradients of all its copies: that sum is `fold`, unfold's *adjoint*
# (`<unfold(x), p> = <x, fold(p)>`), not its inverse. Guide: chapter 3.

# %%
# SET-UP CELL (docs/notebooks/src/_setup_cell.py, put here by build.py)

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import jaxconv
from jaxconv import exercises, explorer

# %% [markdown]
# `fold(unfold(ones))` is not ones but the number of patches over each pixel (second panel).
# With a 2×2 kernel and stride 3 some pixels are read by no patch at all, and the third panel
# shows where output pixel (1, 1)'s gradient goes back to, tap by tap:

# %%
print(explorer.panels(4, 3, stride=1, padding=1)["overlap_counts"])
explorer.draw(explorer.panels(7, 2, stride=3, padding=1), show=("unfold", "overlaps", "taps"))
plt.show()

# %% [markdown]
# **Exercise 4.** Write `fold(patches, input_shape, kernel_size, stride, padding)`: add every
# entry of `patches` `(N, Ho, Wo, kh·kw·C)` back onto the pixel of `(N, H, W, C)` it was copied
# from, with the forward's stride and padding; what came from the padding is dropped.


# %%
def fold(patches, input_shape, kernel_size, stride, padding):
    n, h, w, c = input_shape
    kh, kw = kernel_size
    _, ho, wo, _ = patches.shape
    # BEGIN SOLUTION
    xp = np.zeros((n, h + 2 * padding, w + 2 * padding, c))
    taps = np.asarray(patches).reshape(n, ho, wo, kh, kw, c)  # (N, Ho, Wo, kh, kw, C)
    for y in range(ho):
        for x in range(wo):
            xp[:, y * stride : y * stride + kh, x * stride : x * stride + kw] += taps[:, y, x]
    return xp[:, padding : padding + h, padding : padding + w]  # the padding is not an input
    # END SOLUTION
    # BEGIN STUB
    # x = np.zeros(input_shape)
    # # your code here
    # return x
    # END STUB


# %%
exercises.check_fold(fold)

# %% [markdown]
# Your fold is unfold's adjoint: both sides of `<unfold(x), p> = <x, fold(p)>` agree.

# %%
rng = np.random.default_rng(0)
x = rng.standard_normal((2, 7, 5, 3), dtype=np.float32)
u = np.asarray(jaxconv.unfold(jnp.asarray(x), (3, 2), stride=2, padding=1))
p = rng.standard_normal(u.shape, dtype=np.float32)
print(np.vdot(u, p), np.vdot(x, fold(p, x.shape, (3, 2), 2, 1)))

# %% [markdown]
# ## The backward
#
# With `U = unfold(x)` `(M, K)`, the kernel as `W` `(K, C_out)` and `g' = dL/dY'` `(M, C_out)`:
#
# * `Y'[m, o] = Σ_k U[m, k] W[k, o]`, so `dW = Uᵀ g'`: `[K, M] [M, C_out] -> [K, C_out]`;
# * `dU = g' Wᵀ`: `[M, C_out] [C_out, K] -> [M, K]`;
# * `dX = fold(dU)`, with the forward's own stride and padding.
#
# **Exercise 5.** Write `conv_backward(x, w, g, stride, padding) -> (dx, dw)` for
# `y = conv(x, w, stride, padding)` and `g = dL/dy` `(N, Ho, Wo, C_out)`. Use
# `jaxconv.unfold` or your own, and your `fold`.


# %%
def conv_backward(x, w, g, stride, padding):
    kh, kw, c_in, c_out = w.shape
    # BEGIN SOLUTION
    u = np.asarray(jaxconv.unfold(jnp.asarray(x), (kh, kw), stride, padding))  # (N, Ho, Wo, K)
    g2 = np.asarray(g).reshape(-1, c_out)  # g': (M, C_out)
    dw = (u.reshape(-1, kh * kw * c_in).T @ g2).reshape(w.shape)  # Uᵀ g': (K, C_out)
    du = (g2 @ w.reshape(-1, c_out).T).reshape(u.shape)  # g' Wᵀ: (M, K)
    return fold(du, x.shape, (kh, kw), stride, padding), dw
    # END SOLUTION
    # BEGIN STUB
    # dx, dw = np.zeros(x.shape), np.zeros(w.shape)
    # # your code here
    # return dx, dw
    # END STUB


# %%
exercises.check_conv_backward(conv_backward)

# %% [markdown]
# The same numbers as `jax.grad` of jaxconv's convolution, whose backward is these three lines:

# %%
x, w = (
    rng.standard_normal((2, 7, 6, 3), dtype=np.float32),
    rng.standard_normal((3, 2, 3, 4), dtype=np.float32),
)
g = rng.standard_normal(jaxconv.conv2d(jnp.asarray(x), w, 2, 1).shape, dtype=np.float32)
dx_jax, dw_jax = jax.grad(lambda x, w: jnp.vdot(jaxconv.conv2d(x, w, 2, 1), g), argnums=(0, 1))(
    jnp.asarray(x), jnp.asarray(w)
)
dx, dw = conv_backward(x, w, g, 2, 1)
print(float(np.abs(dx - dx_jax).max()), float(np.abs(dw - dw_jax).max()))

# %% [markdown]
# Next: `04_report_mistakes.ipynb`, what the student report's backward computes instead.
