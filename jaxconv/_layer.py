"""Flax NNX layers: Conv2D (the assignment's layer), Conv (a drop-in for nnx.Conv) and
ConvTranspose."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from flax.nnx.nn import dtypes

from jaxconv._conv import conv2d
from jaxconv._general import conv_general_dilated
from jaxconv._shapes import IntOrPair, pair
from jaxconv._transpose import conv_transpose

# The same defaults as flax.nnx.Conv, so the two layers initialise identically.
default_kernel_init = nnx.initializers.lecun_normal()
default_bias_init = nnx.initializers.zeros_init()


def _kernel_and_bias(
    rngs, kernel_shape, out_features, use_bias, param_dtype, kernel_init, bias_init
):
    """The kernel, then the bias (or None), drawn from ``rngs.params()`` in nnx.Conv's order."""
    kernel = nnx.Param(kernel_init(rngs.params(), kernel_shape, param_dtype))
    bias = (
        nnx.Param(bias_init(rngs.params(), (out_features,), param_dtype))
        if use_bias
        else nnx.data(None)
    )
    return kernel, bias


def _add_bias(y: jax.Array, bias) -> jax.Array:
    return (
        y if bias is None else y + bias.reshape((1,) * (y.ndim - 1) + (-1,))
    )  # bias: (1, ..., 1, C_out)


class Conv2D(nnx.Module):
    """2-D convolution layer, interchangeable with ``flax.nnx.Conv`` parameter for parameter.

    Parameters are ``kernel`` ``(kh, kw, in_features, out_features)`` (HWIO) and
    ``bias`` ``(out_features,)``, drawn from ``rngs.params()`` in the same order
    and with the same initialisers as ``nnx.Conv`` (LeCun normal, zeros). The
    defaults follow the assignment's skeleton: 3×3, stride 1, padding 1.

    **Arguments:**
      in_features, out_features: input and output channels.
      kernel_size, stride, padding: an int or an ``(h, w)`` pair each.
      use_bias: add a learned bias per output channel.
      dtype: the computation dtype (None: promote input and parameters).
      param_dtype: the dtype of the parameters.
      precision: passed to the matrix products.
      rngs: an ``nnx.Rngs`` with a ``params`` stream.

    Call on ``(N, H, W, in_features)``; returns ``(N, H_out, W_out, out_features)``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: IntOrPair = 3,
        stride: IntOrPair = 1,
        padding: IntOrPair = 1,
        use_bias: bool = True,
        *,
        dtype=None,
        param_dtype=jnp.float32,
        precision=None,
        kernel_init=default_kernel_init,
        bias_init=default_bias_init,
        rngs: nnx.Rngs,
    ):
        self.kernel_size = pair("kernel_size", kernel_size)
        self.stride = pair("stride", stride)
        self.padding = pair("padding", padding)
        kernel_shape = (*self.kernel_size, in_features, out_features)
        self.kernel, self.bias = _kernel_and_bias(
            rngs, kernel_shape, out_features, use_bias, param_dtype, kernel_init, bias_init
        )
        self.in_features = in_features
        self.out_features = out_features
        self.use_bias = use_bias
        self.dtype = dtype
        self.precision = precision

    def __call__(self, x: jax.Array) -> jax.Array:
        bias = self.bias[...] if self.bias is not None else None
        x, kernel, bias = dtypes.promote_dtype((x, self.kernel[...], bias), dtype=self.dtype)
        y = conv2d(
            x, kernel, self.stride, self.padding, precision=self.precision
        )  # (N, H_out, W_out, C_out)
        return _add_bias(y, bias)


class Conv(nnx.Conv):
    """``flax.nnx.Conv`` computed by jaxconv: a drop-in with the same arguments, parameters and
    outputs.

    Every constructor argument is ``nnx.Conv``'s (``kernel_size``, ``strides``,
    ``padding`` as an int, pairs, ``'SAME'``, ``'VALID'``, ``'CIRCULAR'``,
    ``'REFLECT'`` or ``'CAUSAL'``, ``input_dilation``, ``kernel_dilation``,
    ``feature_group_count``, ``use_bias``, ``mask``, dtypes, initialisers,
    ``rngs``), and so are the parameters (``kernel`` ``(*k, in // groups, out)``,
    ``bias``), drawn in the same order from the same initialisers. The one
    difference: the convolution is :func:`jaxconv.conv_general_dilated`, with its
    hand-derived backward, instead of ``lax.conv_general_dilated``. Padding
    modes are nnx.Conv's own code (it pads the input, then convolves 'VALID').
    """

    def __init__(self, in_features: int, out_features: int, kernel_size, strides=1, **kwargs):
        kwargs.setdefault("conv_general_dilated", conv_general_dilated)
        super().__init__(in_features, out_features, kernel_size, strides, **kwargs)


class ConvTranspose(nnx.Module):
    """Transposed convolution layer (decoders, U-Nets, GANs): :func:`jaxconv.conv_transpose` plus
    a bias.

    Upsamples ``(N, *spatial, in_features)`` to ``(N, *spatial_out, out_features)`` with
    ``spatial_out = (size − 1)·strides − 2·padding + kernel_dilation·(k − 1) + output_padding + 1``.

    The ``kernel`` parameter is the forward convolution's, ``(*k, out_features // groups,
    in_features)``: the layer is the input gradient of a convolution from ``out_features`` to
    ``in_features`` channels. Mapping to the other libraries (docs/guide.md shows each):

    * ``nnx.ConvTranspose(in, out, k, strides, padding=P, kernel_dilation=d,
      transpose_kernel=True)`` has the same kernel shape and initialiser; its padding pairs are
      those of the zero-insertion view,
      ``P = (d·(k − 1) − padding, d·(k − 1) − padding + output_padding)`` per axis. It has no
      groups.
    * ``torch.nn.ConvTranspose{1,2,3}d(in, out, k, stride, padding, output_padding, groups,
      dilation=d)``: the same arguments; its weight ``(in, out // groups, *k)`` is this
      kernel with its axes moved, ``kernel = weight.permute(2, ..., 1, 0)``.

    **Arguments:** in_features, out_features; kernel_size, strides, padding (ints or
    ``(low, high)`` pairs), output_padding (``< strides``), kernel_dilation: an int or one per
    spatial axis; feature_group_count; use_bias; dtype, param_dtype, precision, kernel_init,
    bias_init as in ``nnx.ConvTranspose``; rngs.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size,
        strides=1,
        *,
        padding=0,
        output_padding=0,
        kernel_dilation=1,
        feature_group_count: int = 1,
        use_bias: bool = True,
        dtype=None,
        param_dtype=jnp.float32,
        precision=None,
        kernel_init=default_kernel_init,
        bias_init=default_bias_init,
        rngs: nnx.Rngs,
    ):
        kernel_size = (kernel_size,) if isinstance(kernel_size, int) else tuple(kernel_size)
        if out_features % feature_group_count or in_features % feature_group_count:
            raise ValueError(
                f"in_features {in_features} and out_features {out_features} must both split into "
                f"{feature_group_count} groups"
            )
        kernel_shape = (*kernel_size, out_features // feature_group_count, in_features)
        self.kernel, self.bias = _kernel_and_bias(
            rngs, kernel_shape, out_features, use_bias, param_dtype, kernel_init, bias_init
        )
        self.kernel_size, self.strides, self.padding = kernel_size, strides, padding
        self.output_padding, self.kernel_dilation, self.feature_group_count = (
            output_padding,
            kernel_dilation,
            feature_group_count,
        )
        self.in_features, self.out_features, self.use_bias = in_features, out_features, use_bias
        self.dtype, self.precision = dtype, precision

    def __call__(self, y: jax.Array) -> jax.Array:
        bias = self.bias[...] if self.bias is not None else None
        y, kernel, bias = dtypes.promote_dtype((y, self.kernel[...], bias), dtype=self.dtype)
        # (N, *spatial_out, out_features)
        z = conv_transpose(
            y, kernel, self.strides, self.padding, self.output_padding, self.kernel_dilation,
            self.feature_group_count,
            precision=self.precision,
        )  # fmt: skip
        return _add_bias(z, bias)
