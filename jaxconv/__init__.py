"""jaxconv: a 2-D convolution from lax patches + einsum, with hand-derived gradients.

Public API::

    output_size(size, kernel, stride=1, padding=0) -> int
    unfold(x, kernel_size, stride=1, padding=0)           # (N,H,W,C) -> (N,Ho,Wo,kh*kw*C)
    fold(patches, input_shape, kernel_size, stride=1, padding=0)   # adjoint of unfold
    conv2d(x, kernel, stride=1, padding=0)                 # NHWC x HWIO -> NHWC, custom_vjp
    conv2d_weight_grad, conv2d_input_grad                  # the derived backward, by name
    global_max_pool(x, mask=None), global_mean_pool(x, mask=None)   # (N,H,W,C) -> (N,C)
    max_pool(x, window=2), max_pool_mask(mask, window=2)
    Conv2D                                                 # Flax NNX layer
    reference                                              # NumPy loop oracles (slow)
"""

from jaxconv import reference
from jaxconv._conv import (
    conv,
    conv1d,
    conv2d,
    conv2d_input_grad,
    conv2d_weight_grad,
    conv3d,
    conv_input_grad,
    conv_weight_grad,
)
from jaxconv._general import conv_general_dilated
from jaxconv._layer import Conv, Conv2D, ConvTranspose
from jaxconv._patches import fold, unfold
from jaxconv._pool import global_max_pool, global_mean_pool, max_pool, max_pool_mask
from jaxconv._shapes import output_size
from jaxconv._transpose import conv_transpose

__all__ = [
    "Conv",
    "Conv2D",
    "ConvTranspose",
    "conv",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_general_dilated",
    "conv_input_grad",
    "conv_transpose",
    "conv_weight_grad",
    "conv2d_input_grad",
    "conv2d_weight_grad",
    "fold",
    "global_max_pool",
    "global_mean_pool",
    "max_pool",
    "max_pool_mask",
    "output_size",
    "reference",
    "unfold",
]
