"""The notebooks' explorer: one convolution's geometry as the numbers jaxconv computes, and a
thin ipywidgets layer of sliders that redraws them.

``panels(...)`` returns the arrays; ``draw(panels(...))`` draws them with matplotlib (``show``
picks some of the four: ``draw(p, show=("unfold", "overlaps", "taps"))``);
``explore()`` puts sliders (input size, kernel, stride, padding, dilation, groups, transposed) in
front of ``draw``. Square images and kernels, one channel, so every number is a pixel label:

* the unfold grid: row m of U is output pixel m's patch of the labelled image (pixel (a, b) holds
  ``a·size + b + 1``; 0 is padding), ``jaxconv.unfold``;
* fold's overlap counts: how many patches cover each pixel, ``fold(unfold(ones))``;
* the input gradient's taps: where the gradient of the middle output pixel lands, each pixel
  holding the number (1 .. k·k) of the kernel tap that sends it there (0: none),
  ``jaxconv.conv_input_grad`` of a one-hot g with a kernel whose tap t holds t + 1;
* the kernel as a ``(k·k·C_in, C_out)`` matrix with ``C_in = C_out = 2·groups``: which weights
  exist (block-diagonal per group), read off ``jaxconv.conv`` applied to one-hot patches.

With ``transposed=True`` the size is that of the transposed convolution's input y, and the
panels are those of the forward convolution whose output y is: its input, of size
``(size − 1)·stride − 2·padding + dilation·(k − 1) + 1``, is what ``jaxconv.conv_transpose``
returns, and the taps are where ``conv_transpose`` sends y's middle pixel.

matplotlib and ipywidgets are imported only when drawing (``pip install 'jaxconv[docs]'``).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

import jaxconv

_MISSING = "the explorer draws with {0}, which is missing: pip install 'jaxconv[docs]'"


def _labelled_image(size: int) -> jnp.ndarray:
    """A ``(1, size, size, 1)`` image whose pixel (a, b) holds ``a·size + b + 1``."""
    return jnp.arange(1, size * size + 1, dtype=jnp.float32).reshape(1, size, size, 1)


def _tap_kernel(kernel: int) -> jnp.ndarray:
    """A ``(k, k, 1, 1)`` kernel whose tap t (row-major) holds t + 1."""
    return jnp.arange(1, kernel * kernel + 1, dtype=jnp.float32).reshape(kernel, kernel, 1, 1)


def transposed_input_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """The size a transposed convolution returns from ``size`` rows (output_padding 0)."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + 1


def kernel_matrix(kernel: int, groups: int) -> np.ndarray:
    """Which entries of the ``(k·k·C_in, C_out)`` kernel matrix a grouped convolution uses,
    ``C_in = C_out = 2·groups``, read off ``jaxconv.conv``: row r is the convolution of the
    one-hot patch e_r with an all-ones kernel, nonzero exactly where the weight exists."""
    channels = 2 * groups
    rows = kernel * kernel * channels
    one_hot = jnp.eye(rows, dtype=jnp.float32).reshape(
        rows, kernel, kernel, channels
    )  # (K, k, k, C)
    ones = jnp.ones((kernel, kernel, channels // groups, channels), jnp.float32)
    y = jaxconv.conv(one_hot, ones, groups=groups)  # (K, 1, 1, C_out)
    return np.asarray(y.reshape(rows, channels)) != 0  # (K, C_out)


def panels(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    groups: int = 1,
    transposed: bool = False,
) -> dict:
    """The numbers the explorer draws, for a ``size × size`` input (or, with ``transposed``, y).

    **Returns:** a dict with ``input_size`` (of the forward convolution), ``output_size``,
    ``unfold_labels`` ``(output_size², k²)`` ints, ``overlap_counts`` and ``gradient_taps``
    ``(input_size, input_size)`` ints, ``kernel_matrix`` ``(k²·2G, 2G)`` bools, ``position``
    (the output pixel whose gradient taps are shown) and the arguments. A geometry that does
    not fit is jaxconv's ValueError.
    """
    geometry = dict(stride=stride, padding=padding, dilation=dilation)
    if transposed:
        input_size = transposed_input_size(size, kernel, stride, padding, dilation)
        if input_size < 1:
            raise ValueError(
                f"the transposed convolution of {size} rows gives ({size} - 1)*{stride} - "
                f"2*{padding} + {dilation}*({kernel} - 1) + 1 = {input_size} rows; it must be >= 1"
            )
    else:
        input_size = size
    image = _labelled_image(input_size)
    patches = jaxconv.unfold(image, kernel, **geometry)  # (1, O, O, k·k)
    output_size = patches.shape[1]
    ones = jnp.ones((1, input_size, input_size, 1), jnp.float32)
    position = (output_size // 2, output_size // 2)
    one_hot = jnp.zeros((1, output_size, output_size, 1), jnp.float32).at[(0, *position, 0)].set(1)
    if transposed:
        # conv_transpose is the input gradient: ones of y's shape send each tap once
        y_ones = jnp.ones((1, size, size, 1), jnp.float32)
        counts = jaxconv.conv_transpose(y_ones, jnp.ones((kernel, kernel, 1, 1)), **geometry)
        taps = jaxconv.conv_transpose(one_hot, _tap_kernel(kernel), **geometry)
    else:
        counts = jaxconv.fold(
            jaxconv.unfold(ones, kernel, **geometry), ones.shape, kernel, **geometry
        )
        taps = jaxconv.conv_input_grad(ones.shape, _tap_kernel(kernel), one_hot, **geometry)
    return {
        "size": size,
        "kernel": kernel,
        **geometry,
        "groups": groups,
        "transposed": transposed,
        "input_size": input_size,
        "output_size": output_size,
        "unfold_labels": np.rint(np.asarray(patches)).astype(int).reshape(-1, kernel * kernel),
        "overlap_counts": np.rint(np.asarray(counts)[0, :, :, 0]).astype(int),
        "gradient_taps": np.rint(np.asarray(taps)[0, :, :, 0]).astype(int),
        "position": position,
        "kernel_matrix": kernel_matrix(kernel, groups),
    }


def _grid(ax, values, title: str, text=None, cmap: str = "Blues") -> None:
    """A matrix as coloured cells (light enough to read), with ``text`` written in when given
    and there are few enough cells."""
    values = np.asarray(values, float)
    ax.imshow(values, cmap=cmap, vmin=0, vmax=max(values.max(), 1) * 1.8, aspect="auto")
    if text is not None and values.size <= 400:
        for (i, j), v in np.ndenumerate(text):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)


PANELS = ("unfold", "overlaps", "taps", "weights")
_WIDTHS = {"unfold": 1.2, "overlaps": 1, "taps": 1, "weights": 0.8}


def _sizes(p: dict) -> str:
    """The two sizes of the overlap panel, in the direction the figure is read: the forward
    convolution's input and output, or, transposed, y and what conv_transpose returns."""
    n_in, n_out = p["input_size"], p["output_size"]
    if p["transposed"]:
        return f"y {n_out}×{n_out}, output {n_in}×{n_in}"
    return f"input {n_in}×{n_in}, output {n_out}×{n_out}"


def draw(p: dict, show: tuple[str, ...] = PANELS):
    """The panels of ``panels(...)`` named in ``show`` (of :data:`PANELS`, drawn in that
    order) in one matplotlib figure, which is returned."""
    unknown = [name for name in show if name not in PANELS]
    if unknown or not show:
        raise ValueError(f"show names panels among {', '.join(PANELS)}, not {show!r}")
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError(_MISSING.format("matplotlib")) from err
    shown = [name for name in PANELS if name in show]
    fig, axes = plt.subplots(
        1,
        len(shown),
        figsize=(3.5 * len(shown), 3.6),
        gridspec_kw={"width_ratios": [_WIDTHS[name] for name in shown]},
        squeeze=False,
    )
    axis = dict(zip(shown, axes[0]))
    labels, counts, taps = p["unfold_labels"], p["overlap_counts"], p["gradient_taps"]
    source = "conv_transpose: y" if p["transposed"] else "the gradient of output"
    if "unfold" in axis:
        _grid(
            axis["unfold"],
            labels > 0,
            f"unfold: {labels.shape[0]} patches × {labels.shape[1]} taps\n"
            "(pixel labels, · = padding)",
            np.where(labels == 0, "·", labels.astype(str)),
        )
    if "overlaps" in axis:
        _grid(
            axis["overlaps"],
            counts,
            f"fold(unfold(ones)): patches over each pixel\n{_sizes(p)}",
            counts,
            "Greens",
        )
    if "taps" in axis:
        _grid(
            axis["taps"],
            taps > 0,
            f"{source} pixel {p['position']}:\nwhich tap lands where (0: none)",
            taps,
            "Oranges",
        )
    if "weights" in axis:
        c = 2 * p["groups"]
        _grid(
            axis["weights"],
            p["kernel_matrix"],
            f"weights that exist, groups {p['groups']}:\n(k·k·{c}) × {c} kernel matrix",
            None,
            "Purples",
        )
    kind = "transposed convolution of y: " if p["transposed"] else ""
    fig.suptitle(
        f"{kind}size {p['size']}, kernel {p['kernel']}, stride {p['stride']}, padding "
        f"{p['padding']}, dilation {p['dilation']}",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def explore():
    """Sliders for every argument of :func:`panels`; each change redraws :func:`draw`."""
    try:
        import ipywidgets as widgets
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError(_MISSING.format("ipywidgets and matplotlib")) from err

    def show(**arguments):
        try:
            fig = draw(panels(**arguments))
        except ValueError as err:  # a kernel that does not fit, in jaxconv's words
            print(err)
            return
        plt.show(fig)

    return widgets.interact(
        show,
        size=widgets.IntSlider(5, 1, 9, description="input size"),
        kernel=widgets.IntSlider(3, 1, 5),
        stride=widgets.IntSlider(1, 1, 3),
        padding=widgets.IntSlider(1, 0, 3),
        dilation=widgets.IntSlider(1, 1, 3),
        groups=widgets.IntSlider(1, 1, 4),
        transposed=widgets.Checkbox(False),
    )
