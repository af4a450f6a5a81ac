# %% [markdown]
# # 1. The nested loops and the output size
#
# A convolution slides a kernel over a zero-padded image and takes a dot product at every
# `stride`-th position. You write it here the slow, obvious way, in NumPy, and a check tells
# you where it is wrong. Layouts are jaxconv's (and Flax's): images `(N, H, W, C)`, kernels
# `(kh, kw, C_in, C_out)`. The guide's chapter 1 (`docs/guide.md`) says the same in prose.
#
# Run the cells in order (Shift+Enter). An exercise is a cell with `# your code here`;
# the cell after it checks your answer and says what is wrong.

# %%
# SET-UP CELL (docs/notebooks/src/_setup_cell.py, put here by build.py)

# %%
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import jaxconv
from jaxconv import exercises

# %% [markdown]
# ## The output size (Q2)
#
# Along one axis, the padded input has `n + 2p` rows and a window of `k` rows starts at every
# `s`-th row that leaves it room. Below, jaxconv's own `unfold` (next notebook) lists the rows
# each window reads, for 7 rows, kernel 3, stride 2, padding 1 (0 is the padding):

# %%
rows = jnp.arange(1.0, 8.0).reshape(1, 7, 1)  # one 1-D signal (N, L, C), rows labelled 1..7
windows = jaxconv.unfold(rows, 3, stride=2, padding=1)[0]  # (outputs, taps)
print(windows.astype(int))
fig, ax = plt.subplots(figsize=(4, 1.6))
ax.imshow(windows > 0, cmap="Blues", vmin=0, vmax=2)
for (o, t), v in np.ndenumerate(np.asarray(windows, int)):
    ax.text(t, o, v if v else "pad", ha="center", va="center")
ax.set(xlabel="tap", ylabel="output", xticks=[], yticks=[])
plt.show()

# %% [markdown]
# Four windows fit; a fifth would start at padded row 8 and need rows 8-10 of a 9-row frame.
# **Exercise 1.** Write the output length for input length `n`, kernel `k`, stride `stride`
# and padding `padding` on each side. It is a whole number: think about the window that does
# not fit.


# %%
def output_size(n, k, stride, padding):
    # BEGIN SOLUTION
    return (n + 2 * padding - k) // stride + 1
    # END SOLUTION
    # BEGIN STUB
    # return 0  # your code here
    # END STUB


# %%
exercises.check_output_size(output_size)

# %% [markdown]
# Q10 of the assignment: a 5×5 kernel, padding 1, stride 2 on 1024×768 and 1920×1080 images.

# %%
print([output_size(n, 5, 2, 1) for n in (768, 1024, 1080, 1920)])

# %% [markdown]
# ## The loops (Q1)
#
# **Exercise 2.** Output pixel `(i, j)` of channel `o` is the sum, over the kernel's rows `a`,
# columns `b` and input channels `c`, of `x_padded[n, i*stride + a, j*stride + b, c] * w[a, b,
# c, o]`. Write it with loops (or loops and `np.sum`). The kernel is not flipped: that is what
# every deep-learning library calls a convolution (a cross-correlation).


# %%
def conv_loops(x, w, stride, padding):
    n, h, width, _ = x.shape
    kh, kw, _, c_out = w.shape
    # BEGIN SOLUTION
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    ho, wo = output_size(h, kh, stride, padding), output_size(width, kw, stride, padding)
    y = np.zeros((n, ho, wo, c_out))
    for b in range(n):
        for i in range(ho):
            for j in range(wo):
                patch = xp[b, i * stride : i * stride + kh, j * stride : j * stride + kw]
                for o in range(c_out):
                    y[b, i, j, o] = np.sum(patch * w[:, :, :, o])
    return y
    # END SOLUTION
    # BEGIN STUB
    # ho, wo = output_size(h, kh, stride, padding), output_size(width, kw, stride, padding)
    # y = np.zeros((n, ho, wo, c_out))
    # # your code here: pad x, then fill y
    # return y
    # END STUB


# %%
exercises.check_conv_loops(conv_loops)

# %% [markdown]
# Your loops and jaxconv's convolution (one matrix product, next notebook) agree. A vertical
# edge detector on a square of ones (colours run from red, negative, through white, zero, to
# blue, positive: the square is light blue):

# %%
square = np.zeros((1, 12, 12, 1))
square[0, 3:9, 3:9, 0] = 1.0
edges = np.array([[1.0, 0.0, -1.0]] * 3).reshape(3, 3, 1, 1)  # (kh, kw, C_in, C_out)
mine = conv_loops(square, edges, stride=1, padding=1)
theirs = jaxconv.conv2d(jnp.asarray(square), jnp.asarray(edges), 1, 1)
print("largest difference:", float(np.abs(mine - theirs).max()))
fig, axes = plt.subplots(1, 2, figsize=(5, 2.5))
for ax, image, title in zip(axes, (square, theirs), ("x", "conv2d(x, edges)")):
    ax.imshow(np.asarray(image)[0, :, :, 0], cmap="RdBu", vmin=-3, vmax=3)
    ax.set_title(title)
    ax.axis("off")
plt.show()

# %% [markdown]
# Q10's other half: an 8-channel image through a kernel made for 3 channels. The report says the
# patches just get thicker; they do, and then they no longer match the kernel's 3·25 weights per
# output channel. jaxconv says so:

# %%
try:
    jaxconv.conv2d(jnp.zeros((1, 32, 32, 8)), jnp.zeros((5, 5, 3, 16)), stride=2, padding=1)
except ValueError as err:
    print(err)

# %% [markdown]
# Next: `02_unfold.ipynb`, the same convolution as one matrix product.
