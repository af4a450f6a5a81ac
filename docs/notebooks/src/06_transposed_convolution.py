# %% [markdown]
# # 6. The transposed convolution is the input gradient
#
# A convolution maps x `(N, H, W, C_in)` to y `(N, Ho, Wo, C_out)`; its input gradient maps
# anything of y's shape back to x's shape: `fold(y Wᵀ)`. Applied to a feature map instead of a
# gradient, that map is the *transposed convolution* that decoders and GANs upsample with.
# Guide: chapter 6.

# %%
# SET-UP CELL (docs/notebooks/src/_setup_cell.py, put here by build.py)

# %%
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import jaxconv
from jaxconv import exercises, explorer

# %% [markdown]
# `jaxconv.conv_transpose(y, w, stride, padding)` and the input gradient of the convolution
# with the same kernel are the same numbers:

# %%
rng = np.random.default_rng(0)
y = rng.standard_normal((1, 4, 4, 8), dtype=np.float32)
w = rng.standard_normal((3, 3, 2, 8), dtype=np.float32)  # the forward's (kh, kw, C_in, C_out)
up = jaxconv.conv_transpose(y, w, stride=2, padding=1)  # (1, 7, 7, 2)
grad = jaxconv.conv_input_grad(up.shape, w, y, stride=2, padding=1)
print(up.shape, float(jnp.abs(up - grad).max()))

# %% [markdown]
# Its output size is the forward's input size, `(n − 1)·s − 2p + d·(k − 1) + 1`, plus an
# `output_padding` (less than the stride): the forward's floor maps several input sizes to the
# same output size. With k = 3, s = 2, p = 1, inputs of 13 and 14 rows both give 7 outputs:

# %%
print([jaxconv.output_size(n, 3, 2, 1) for n in (13, 14)])
print(
    [
        jaxconv.conv_transpose(jnp.ones((1, 7, 7, 1)), jnp.ones((3, 3, 1, 1)), 2, 1, op).shape[1]
        for op in (0, 1)
    ]
)

# %% [markdown]
# The explorer in transposed mode: y is 3×3, the output 5×5. Where y's middle pixel lands (third
# panel) is one kernel's worth of taps; the overlap counts show why a stride-2 transposed
# convolution with a 3×3 kernel makes a checkerboard.

# %%
explorer.draw(explorer.panels(3, 3, stride=2, padding=1, transposed=True))
plt.show()

# %% [markdown]
# With the kernel `[¼, ¾, ¾, ¼]` along each axis, stride 2 and padding 1 it is bilinear 2×
# upsampling:

# %%
taps = np.array([0.25, 0.75, 0.75, 0.25], np.float32)
bilinear = np.outer(taps, taps).reshape(4, 4, 1, 1)
small = np.zeros((1, 8, 8, 1), np.float32)
small[0, 2:6, 2:6, 0] = 1.0
small[0, 3:5, 3:5, 0] = 0.0
large = jaxconv.conv_transpose(small, bilinear, stride=2, padding=1)  # (1, 16, 16, 1)
fig, axes = plt.subplots(1, 2, figsize=(5, 2.5))
for ax, image, title in zip(axes, (small, large), ("8×8", "conv_transpose: 16×16")):
    ax.imshow(np.asarray(image)[0, :, :, 0], cmap="gray")
    ax.set_title(title)
    ax.axis("off")
plt.show()

# %% [markdown]
# **Exercise 8.** Write the backward of notebook 3 again, with `dx` as a transposed convolution
# of g: `jaxconv.conv_transpose(g, w, stride, padding, output_padding)`. Choose the
# `output_padding` per axis that gives back x's height and width (a pair `(op_h, op_w)`);
# `dw` as before, `Uᵀ g'`.


# %%
def backward_by_transpose(x, w, g, stride, padding):
    kh, kw, c_in, c_out = w.shape
    _, h, width, _ = x.shape
    u = jaxconv.unfold(jnp.asarray(x), (kh, kw), stride, padding)  # (N, Ho, Wo, K)
    dw = (u.reshape(-1, kh * kw * c_in).T @ g.reshape(-1, c_out)).reshape(w.shape)  # Uᵀ g'
    # BEGIN SOLUTION
    # the rows the forward's floor dropped
    output_padding = ((h + 2 * padding - kh) % stride, (width + 2 * padding - kw) % stride)
    dx = jaxconv.conv_transpose(g, w, stride, padding, output_padding)
    # END SOLUTION
    # BEGIN STUB
    # dx = jaxconv.conv_transpose(g, w, stride, padding)  # your code here: the right size
    # END STUB
    return dx, dw


# %%
exercises.check_conv_backward(backward_by_transpose)

# %% [markdown]
# That is the whole course of the guide's chapters 1-6. The guide goes on with what the
# trained networks learned (chapter 7) and a training loop in 25 lines (chapter 8).
#
# Next: notebook 07, `07_backward_as_convolution.ipynb`: unfold as a matrix, fold as its
# transpose, and the backward as two convolutions.
