# %% [markdown]
# # 2. unfold: the convolution as one matrix product (Q3)
#
# `unfold` copies every patch of the padded image into one row of a matrix U: one row per
# output pixel, one column per kernel entry `(i, j, c)`. The whole convolution is then one
# matrix product with the kernel reshaped to `(kh·kw·C_in, C_out)`. Guide: chapter 2.

# %%
# SET-UP CELL (docs/notebooks/src/_setup_cell.py, put here by build.py)

# %%
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import jaxconv
from jaxconv import exercises, explorer

# %% [markdown]
# A 4×4 image whose pixels hold their labels 1-16, unfolded by jaxconv with a 3×3 kernel and
# padding 1 (the first panel; the others come in notebooks 3 and 5). Row 0 is output pixel
# (0, 0): five of its nine taps fall in the padding (·).

# %%
panels = explorer.panels(4, 3, stride=1, padding=1)
print(panels["unfold_labels"][:3])
explorer.draw(panels)
plt.show()

# %% [markdown]
# **Exercise 3.** Write `unfold(x, kernel_size, stride, padding)` for x `(N, H, W, C)`,
# returning `(N, Ho, Wo, kh·kw·C)`. Entry `(i·kw + j)·C + c` of patch `(oy, ox)` is
# `x_padded[n, oy·stride + i, ox·stride + j, c]`: the order `(i, j, c)` of
# `w.reshape(-1, C_out)`. (PyTorch's `F.unfold` orders them `(c, i, j)`: the check knows.)


# %%
def unfold(x, kernel_size, stride, padding):
    n, h, w, c = x.shape
    kh, kw = kernel_size
    ho, wo = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    # BEGIN SOLUTION
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    patches = np.zeros((n, ho, wo, kh * kw * c))
    for oy in range(ho):
        for ox in range(wo):
            patch = xp[:, oy * stride : oy * stride + kh, ox * stride : ox * stride + kw]
            patches[:, oy, ox] = patch.reshape(n, kh * kw * c)  # (N, kh, kw, C) -> (N, kh·kw·C)
    return patches
    # END SOLUTION
    # BEGIN STUB
    # patches = np.zeros((n, ho, wo, kh * kw * c))
    # # your code here
    # return patches
    # END STUB


# %%
exercises.check_unfold(unfold)

# %% [markdown]
# The convolution is now `Y' = U W`: `[M, K] [K, C_out] -> [M, C_out]` with `M = N·Ho·Wo` and
# `K = kh·kw·C_in`, then a reshape. Against jaxconv:

# %%
rng = np.random.default_rng(0)
x, w = (
    rng.standard_normal((2, 6, 6, 3), dtype=np.float32),
    rng.standard_normal((3, 3, 3, 8), dtype=np.float32),
)
u = unfold(x, (3, 3), stride=2, padding=1)  # (2, 3, 3, 27)
y = (u.reshape(-1, 27) @ w.reshape(27, 8)).reshape(2, 3, 3, 8)  # U W, back to (N, Ho, Wo, C_out)
print(u.shape, y.shape)
print("largest difference:", float(np.abs(y - jaxconv.conv2d(jnp.asarray(x), w, 2, 1)).max()))

# %% [markdown]
# What the check says to a patch vector in PyTorch's `(c, i, j)` order (it multiplies the wrong
# weights: the product still has the right shape):


# %%
def unfold_pytorch_order(x, kernel_size, stride, padding):
    patches = np.asarray(jaxconv.unfold(jnp.asarray(x), kernel_size, stride, padding))
    n, ho, wo, _ = patches.shape
    kh, kw = kernel_size
    taps = patches.reshape(n, ho, wo, kh, kw, -1)  # (N, Ho, Wo, kh, kw, C)
    return taps.transpose(0, 1, 2, 5, 3, 4).reshape(n, ho, wo, -1)  # (c, i, j) order


try:
    exercises.check_unfold(unfold_pytorch_order)
except AssertionError as err:
    print(err)

# %% [markdown]
# Next: `03_fold_and_backward.ipynb`, unfold's adjoint and the gradients.
