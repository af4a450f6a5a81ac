# %% [markdown]
# # 5. Dilation, padding and groups
#
# All of the geometry lives in unfold (and so, as its adjoint, in fold): dilation spreads the
# kernel's taps, padding adds zeros, stride skips window positions. The matrix products never
# change, and `dX = fold(dU)` holds for all of them. Groups change only the products. Guide:
# chapter 5.

# %%
# SET-UP CELL (docs/notebooks/src/_setup_cell.py, put here by build.py)

# %%
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import jaxconv
from jaxconv import explorer

# %% [markdown]
# Tap `t` of output position `o` reads padded row `o·stride + t·dilation`. A 3×3 kernel with
# dilation 2, stride 2 and padding 1 on 7×7: the patches skip every other pixel, some pixels
# are read by no patch (count 0) and get no gradient, and output pixel (1, 1)'s gradient goes
# back to rows and columns 1, 3, 5:

# %%
explorer.draw(explorer.panels(7, 3, stride=2, padding=1, dilation=2))
plt.show()

# %% [markdown]
# `'SAME'` padding (lax's meaning) keeps `ceil(n / stride)` outputs; with an even kernel the odd
# extra row of padding goes at the end. A 4-tap kernel on 7 rows pads 1 before and 2 after:

# %%
rows = jnp.arange(1.0, 8.0).reshape(1, 7, 1)  # (N, L, C), rows labelled 1..7
print(jaxconv.unfold(rows, 4, padding="SAME")[0].astype(int))  # 0: the padding

# %% [markdown]
# ## Groups
#
# With G groups, input and output channels split into G blocks and output block g sees only
# input block g: as one matrix the kernel is block-diagonal. Here the weights that exist for
# a 2×2 kernel, 4 channels in and out, 2 groups, read off `jaxconv.conv` (rows are (tap,
# channel), so the block pattern repeats once per tap):

# %%
weights = explorer.kernel_matrix(2, 2)  # (k·k·C_in, C_out) = (16, 4)
plt.figure(figsize=(2, 4))
plt.imshow(weights, cmap="Purples")
plt.xticks(range(weights.shape[1]))
plt.yticks(range(0, weights.shape[0], 4))
plt.xlabel("output channel")
plt.ylabel("(tap, input channel)")
plt.show()

# %% [markdown]
# **Exercise 7.** Write a grouped convolution as G ordinary ones: `w` has shape
# `(kh, kw, C_in // G, C_out)`; group g convolves input channels `g·C_in/G ...` with output
# channels `g·C_out/G ...`. Use `jaxconv.conv2d(x, w, stride, padding)` for each group and
# `np.concatenate` the results along the channels.


# %%
def check_grouped_conv(fn):
    """Your grouped_conv against jaxconv.conv(..., groups=G) on two cases."""
    rng = np.random.default_rng(0)
    for groups, c_in, c_out in ((2, 4, 6), (3, 3, 3)):
        x = rng.standard_normal((2, 6, 5, c_in), dtype=np.float32)
        w = rng.standard_normal((3, 2, c_in // groups, c_out), dtype=np.float32)
        expected = np.asarray(jaxconv.conv(x, w, 2, 1, groups=groups))
        case = f"with {groups} groups, {c_in} channels in and {c_out} out"
        try:
            got = np.asarray(fn(x, w, groups, 2, 1))
        except Exception as err:
            raise AssertionError(f"{case}, your grouped_conv raised {err!r}") from err
        assert got.shape == expected.shape, (
            f"{case}, your output has shape {got.shape}, expected {expected.shape}"
        )
        wrong = np.argwhere(~np.isclose(got, expected, rtol=1e-4, atol=1e-4))
        if len(wrong):
            index = tuple(int(i) for i in wrong[0])
            raise AssertionError(
                f"{case}, your output differs at pixel {index}: {got[index]:.4g}, expected "
                f"{expected[index]:.4g}"
            )


# %%
def grouped_conv(x, w, groups, stride, padding):
    # BEGIN SOLUTION
    step_in, step_out = x.shape[-1] // groups, w.shape[-1] // groups  # channels per group
    outputs = [
        jaxconv.conv2d(
            x[..., g * step_in : (g + 1) * step_in],
            w[..., g * step_out : (g + 1) * step_out],
            stride,
            padding,
        )
        for g in range(groups)
    ]
    return np.concatenate(outputs, axis=-1)  # (N, Ho, Wo, C_out)
    # END SOLUTION
    # BEGIN STUB
    # return jaxconv.conv2d(x, w, stride, padding)  # your code here: one conv per group
    # END STUB


# %%
check_grouped_conv(grouped_conv)

# %% [markdown]
# ## The explorer
#
# Move the sliders: the unfold grid, fold's overlap counts, where output pixel (middle)'s
# gradient lands and the grouped kernel, all computed by jaxconv. Tick `transposed` to see the
# convolution whose *output* has the chosen size (notebook 6). (The sliders need a live
# kernel; on a rendered page only the figure drawn when the notebook ran is shown.)

# %%
sliders = explorer.explore()

# %% [markdown]
# Next: `06_transposed_convolution.ipynb`.
