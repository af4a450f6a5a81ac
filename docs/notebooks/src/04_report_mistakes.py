# %% [markdown]
# # 4. The student report's backward, numerically
#
# The report beside the assignment derives `dU = g' Wᵀ` and then, in its Q6 code, writes
# `u_grad_deflat = uflat.reshape(b, p, k)` and `torch.nn.Fold(..., padding=0, stride=1)`: it
# folds the **forward patches U** instead of dU, and with **stride 1 and padding 0** whatever
# the forward used. With stride 2 and padding 1 on a 5×5 image the two grids happen to match,
# so the code runs without a shape error. Guide: chapter 4.

# %%
# SET-UP CELL (docs/notebooks/src/_setup_cell.py, put here by build.py)

# %%
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import jaxconv
from jaxconv import exercises

# %% [markdown]
# The report's backward in NumPy, with jaxconv's `unfold` and `fold`, and its error against
# the loops of `jaxconv.reference` (channel 0 of dx):


# %%
def report_backward(x, w, g, stride, padding):
    kh, kw, c_in, c_out = w.shape
    u = jaxconv.unfold(jnp.asarray(x), (kh, kw), stride, padding)  # the forward's U
    dw = (u.reshape(-1, kh * kw * c_in).T @ g.reshape(-1, c_out)).reshape(w.shape)  # right
    return jaxconv.fold(u, x.shape, (kh, kw), stride=1, padding=0), dw  # fold(U), stride 1


rng = np.random.default_rng(0)
x, w = (
    rng.standard_normal((1, 5, 5, 2), dtype=np.float32),
    rng.standard_normal((3, 3, 2, 3), dtype=np.float32),
)
g = rng.standard_normal((1, 3, 3, 3), dtype=np.float32)
truth = jaxconv.reference.conv2d_input_grad(x.shape, w, g, stride=2, padding=1)
report = np.asarray(report_backward(x, w, g, 2, 1)[0])
fig, axes = plt.subplots(1, 3, figsize=(8, 2.6))
for ax, image, title in zip(
    axes, (truth, report, report - truth), ("true dx", "the report's dx", "its error")
):
    ax.imshow(image[0, :, :, 0], cmap="RdBu", vmin=-4, vmax=4)
    ax.set_title(title)
    ax.axis("off")
plt.show()

# %% [markdown]
# The check says the same, naming the first case it fails and the mistake it recognises:

# %%
try:
    exercises.check_conv_backward(report_backward)
except AssertionError as err:
    print(err)

# %% [markdown]
# **Exercise 6.** Fix the report's backward: fold `dU = g' Wᵀ`, with the forward's own stride
# and padding. The function below starts as the report's.


# %%
def fixed_backward(x, w, g, stride, padding):
    kh, kw, c_in, c_out = w.shape
    u = jaxconv.unfold(jnp.asarray(x), (kh, kw), stride, padding)  # (N, Ho, Wo, K)
    dw = (u.reshape(-1, kh * kw * c_in).T @ g.reshape(-1, c_out)).reshape(w.shape)
    # BEGIN SOLUTION
    du = (g.reshape(-1, c_out) @ w.reshape(-1, c_out).T).reshape(u.shape)  # g' Wᵀ: (M, K)
    return jaxconv.fold(du, x.shape, (kh, kw), stride, padding), dw
    # END SOLUTION
    # BEGIN STUB
    # return jaxconv.fold(u, x.shape, (kh, kw), stride=1, padding=0), dw  # your code here
    # END STUB


# %%
exercises.check_conv_backward(fixed_backward)

# %% [markdown]
# Each mistake alone is wrong too: folding dU with stride 1 and padding 0, or folding U with
# the right geometry. The largest error of each, on the case above:

# %%
du = (g.reshape(-1, 3) @ w.reshape(-1, 3).T).reshape(1, 3, 3, 18)
u = jaxconv.unfold(jnp.asarray(x), 3, 2, 1)
for name, dx in {
    "fold(U), stride 1, padding 0 (the report)": jaxconv.fold(u, x.shape, 3, 1, 0),
    "fold(dU), stride 1, padding 0": jaxconv.fold(du, x.shape, 3, 1, 0),
    "fold(U), stride 2, padding 1": jaxconv.fold(u, x.shape, 3, 2, 1),
    "fold(dU), stride 2, padding 1 (right)": fixed_backward(x, w, g, 2, 1)[0],
}.items():
    print(f"{name:45s} {float(np.abs(np.asarray(dx) - truth).max()):.2g}")

# %% [markdown]
# Next: `05_dilation_padding_groups.ipynb`.
