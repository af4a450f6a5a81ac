"""``swap_convolutions``: every ``nnx.Conv`` and ``nnx.ConvTranspose`` of a model computes with
jaxconv from then on, its parameters untouched.

* ``nnx.Conv`` already takes its convolution as an argument: the swap sets the
  layer's ``conv_general_dilated`` to :func:`jaxconv.conv_general_dilated`, and
  the layer's own code keeps doing everything else (padding modes, masks, dtype
  promotion, batch axes).
* ``nnx.ConvTranspose`` calls ``lax.conv_transpose`` by name: the swap changes the
  layer's class to ``JaxconvConvTranspose``, a subclass whose ``__call__`` is
  ``nnx.ConvTranspose.__call__`` (flax 0.12.8 to 0.12.12, the same code) with
  :func:`jaxconv.conv_transpose_general` in its place.

Neither changes a Variable: the same arrays under the same names, so optimizer
states, checkpoints and shardings made before the swap fit after it. A static
attribute or the class changes, so ``nnx.jit`` traces the model once more.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx
from flax.nnx.nn.linear import canonicalize_padding
from jax import lax

from jaxconv._general import conv_general_dilated
from jaxconv._lax_transpose import conv_transpose_general


class JaxconvConvTranspose(nnx.ConvTranspose):
    """``nnx.ConvTranspose`` with :func:`jaxconv.conv_transpose_general` for
    ``lax.conv_transpose``; made by :func:`swap_convolutions`, never constructed directly."""

    def __call__(self, inputs):
        # nnx.ConvTranspose.__call__, step for step
        rank = len(self.kernel_size)

        def broadcast(value) -> tuple[int, ...]:
            value = 1 if value is None else value
            return (value,) * rank if isinstance(value, int) else tuple(value)

        batch_shape = inputs.shape[: inputs.ndim - (rank + 1)]
        if len(batch_shape) != 1:  # one leading batch axis: (N, *spatial, C)
            inputs = jnp.reshape(inputs, (-1, *inputs.shape[len(batch_shape) :]))
        strides, kernel_dilation = broadcast(self.strides), broadcast(self.kernel_dilation)
        if self.mask is not None and self.mask.shape != self.kernel_shape:
            raise ValueError(
                "Mask needs to have the same shape as weights. "
                f"Shapes are: {self.mask.shape}, {self.kernel_shape}"
            )
        kernel = self.kernel[...]
        if self.mask is not None:
            kernel *= self.mask
        padding = canonicalize_padding(self.padding, rank)
        if padding == "CIRCULAR":
            padding = "VALID"
        bias = self.bias[...] if self.bias is not None else None
        inputs, kernel, bias = self.promote_dtype((inputs, kernel, bias), dtype=self.dtype)
        y = conv_transpose_general(
            inputs,
            kernel,
            strides,
            padding,
            rhs_dilation=kernel_dilation,
            transpose_kernel=self.transpose_kernel,
            precision=self.precision,
            preferred_element_type=self.preferred_element_type,
        )  # (N, *spatial_out, out_features)
        if self.padding == "CIRCULAR":
            y = _wrap_periodically(y, inputs.shape[1:-1], strides, self.transpose_kernel)
        if self.use_bias:
            y += jnp.reshape(bias, (1,) * (y.ndim - 1) + (-1,))  # (1, ..., 1, C_out)
        if len(batch_shape) != 1:
            y = jnp.reshape(y, (*batch_shape, *y.shape[1:]))
        return y


def _wrap_periodically(y, input_size, strides, transpose_kernel: bool):
    """nnx.ConvTranspose's 'CIRCULAR' padding: per axis, pad y to a whole number of periods
    ``size·stride`` (the odd row high with ``transpose_kernel``, low without) and sum the
    periods."""
    periods = [size * s for size, s in zip(input_size, strides)]
    diffs = [-(y_size - period) % (2 * period) for y_size, period in zip(y.shape[1:-1], periods)]
    if transpose_kernel:
        pads = [(diff // 2, (diff + 1) // 2) for diff in diffs]
    else:
        pads = [((diff + 1) // 2, diff // 2) for diff in diffs]
    y = jnp.pad(y, [(0, 0), *pads, (0, 0)])
    for axis in range(1, y.ndim - 1):
        y = y.reshape(*y.shape[:axis], -1, periods[axis - 1], *y.shape[axis + 1 :])
        y = y.sum(axis=axis)  # the periods of this axis, added up
    return y


def _why_not(module) -> str | None:
    """Why jaxconv cannot compute this layer as the stock one does, or None when it can."""
    for name in ("dtype", "param_dtype"):
        dtype = getattr(module, name)
        if dtype is not None and not jnp.issubdtype(dtype, jnp.floating):
            return (
                f"its {name} is {jnp.dtype(dtype).name}; swap_convolutions serves real "
                "floating-point layers only"
            )
    if isinstance(module, nnx.Conv):
        own = module.conv_general_dilated
        if own is not lax.conv_general_dilated and own is not conv_general_dilated:
            return (
                f"it already computes with its own conv_general_dilated ({own!r}), which the "
                "swap would replace"
            )
    elif type(module) not in (nnx.ConvTranspose, JaxconvConvTranspose):
        return (
            f"it is a {type(module).__qualname__}, a subclass of nnx.ConvTranspose whose own code "
            "the swap would replace"
        )
    return None


def swap_convolutions(model, layers=(nnx.Conv, nnx.ConvTranspose)):
    """Make every ``nnx.Conv`` and ``nnx.ConvTranspose`` in ``model`` compute with jaxconv.

    The layers keep their parameters (the same arrays, the same state tree and
    names) and behave as the stock layers do, every padding mode, mask,
    dilation, group count and ``transpose_kernel`` included, with jaxconv's
    unfold/fold forward and derived backward. Layers already on jaxconv are
    left as they are, so a second call changes nothing. On a CPU the depthwise,
    grouped, transposed and 3-D layers gain most; large dense layers can run
    slower than XLA's (docs/bench/swap_bench-cpu-2core.md), which
    ``layers=(nnx.ConvTranspose,)`` leaves stock.

    **Arguments:**
      model: an NNX module (or any NNX graph: lists and dicts of modules too).
      layers: the layer classes to swap, ``nnx.Conv``, ``nnx.ConvTranspose`` or both
        (the default); ``(nnx.ConvTranspose,)`` leaves the ``nnx.Conv`` layers stock.

    **Returns:** ``model``, changed in place.

    Raises ValueError, naming the layer's path and the reason, for a layer
    jaxconv cannot compute (a non-floating dtype, a custom
    ``conv_general_dilated``, a subclass of ``nnx.ConvTranspose``), before any
    layer is changed.
    """
    layers = tuple(layers)
    if not layers or not all(cls in (nnx.Conv, nnx.ConvTranspose) for cls in layers):
        raise ValueError(
            f"swap_convolutions swaps nnx.Conv and nnx.ConvTranspose layers; got layers={layers!r}"
        )
    chosen = [(path, node) for path, node in nnx.iter_graph(model) if isinstance(node, layers)]
    for path, layer in chosen:
        reason = _why_not(layer)
        if reason is not None:
            where = "/".join(str(p) for p in path) or "the model itself"
            raise ValueError(
                f"swap_convolutions: cannot swap {type(layer).__name__} at {where}: {reason}"
            )
    for _, layer in chosen:
        if isinstance(layer, nnx.Conv):
            layer.conv_general_dilated = conv_general_dilated
        else:
            layer.__class__ = JaxconvConvTranspose
    return model
