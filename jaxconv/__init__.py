"""jaxconv: convolutions of any rank from lax patches (unfold/fold) and one matrix product,
each a JAX primitive whose derivatives are derived by hand (docs/guide.md derives them).

Public API (channels last: x ``(N, *spatial, C_in)``, kernel ``(*k, C_in // groups, C_out)``)::

    output_size(size, kernel, stride=1, padding=0, dilation=1) -> int
    unfold(x, kernel_size, stride=1, padding=0, dilation=1)    # (N,*S,C) -> (N,*O,T*C), T=prod(k)
    fold(patches, input_shape, kernel_size, stride=1, padding=0, dilation=1)  # unfold's adjoint
    conv(x, kernel, stride=1, padding=0, dilation=1, groups=1)  # any rank; conv1d/2d/3d check it
    conv_weight_grad, conv_input_grad, conv2d_*_grad            # the derived backward, by name
    conv_transpose(y, kernel, stride, padding, output_padding, dilation, groups)  # fold(y Wᵀ)
    conv_general_dilated(lhs, rhs, window_strides, padding, ...)  # lax's signature, for Flax
    conv_transpose_general(lhs, rhs, strides, padding, ...)     # lax.conv_transpose's signature
    Conv, ConvTranspose, Conv2D                                 # Flax NNX layers
    swap_convolutions(model)        # every nnx.Conv / nnx.ConvTranspose of a model on jaxconv
    global_max_pool, global_mean_pool, max_pool, max_pool_mask  # pooling with masks
    reference                                                   # NumPy loop oracles (slow)

Padding is an int, one ``(low, high)`` pair per axis, 'SAME', 'SAME_LOWER' or 'VALID'.
"""

from jaxconv import exercises, reference
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
from jaxconv._lax_transpose import conv_transpose_general
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
    "conv_transpose_general",
    "conv_weight_grad",
    "exercises",
    "conv2d_input_grad",
    "conv2d_weight_grad",
    "fold",
    "global_max_pool",
    "global_mean_pool",
    "max_pool",
    "max_pool_mask",
    "output_size",
    "reference",
    "swap_convolutions",
    "unfold",
]

# The Flax NNX layers and swap_convolutions need Flax (`pip install 'jaxconv[flax]'`); the
# convolutions do not, so these names are imported when first used.
_NEEDS_FLAX = {
    "Conv": "jaxconv._layer",
    "Conv2D": "jaxconv._layer",
    "ConvTranspose": "jaxconv._layer",
    "swap_convolutions": "jaxconv._swap",
}


def __getattr__(name):
    if name not in _NEEDS_FLAX:
        raise AttributeError(f"module 'jaxconv' has no attribute {name!r}")
    import importlib

    try:
        module = importlib.import_module(_NEEDS_FLAX[name])
    except ModuleNotFoundError as error:
        if error.name != "flax" and not (error.name or "").startswith("flax."):
            raise
        raise ImportError(
            f"jaxconv.{name} is a Flax layer and Flax is not installed: pip install 'jaxconv[flax]'"
        ) from None
    return getattr(module, name)


def __dir__():
    return sorted(__all__)
