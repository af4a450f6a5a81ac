"""The convolution and its two gradients as three JAX primitives, closed under transposition.

Unlike a ``custom_vjp`` (reverse mode only: JAX refuses ``jax.jvp``,
``jax.jacfwd`` and ``jax.linearize`` through one), these have forward mode too.
All three maps of ``_conv`` are bilinear, so each one is a primitive whose JVP is
the product rule and whose transposes are the other two maps
(``jax.interpreters.ad.defbilinear``: the same API that lax's own convolution
uses, present in every supported JAX version)::

    conv_p         (X, W) -> Y  = unfold(X) W        (N, *S, C_in), (*k, C, C_out) -> (N, *O, C_out)
    input_grad_p   (G, W) -> Z  = fold(G Wᵀ)         (N, *O, C_out), (*k, C, C_out) -> (N, *S, C_in)
    weight_grad_p  (X, G) -> dW = unfold(X)ᵀ G       (N, *S, C_in), (N, *O, C_out) -> (*k, C, C_out)

with U = unfold(X) : (M, K), per group when groups > 1 (``_conv``'s docstring).

Forward mode. Each map B is bilinear, B(a + da, b + db) = B(a, b) + B(da, b)
+ B(a, db) + B(da, db), so its JVP drops the second-order term::

    dY  = conv(dX, W) + conv(X, dW)          [M, K] [K, C_out] + [M, K] [K, C_out] -> [M, C_out]
    dZ  = fold(dG Wᵀ) + fold(G dWᵀ)          two input gradients
    ddW = unfold(dX)ᵀ G + unfold(X)ᵀ dG      two weight gradients

so a tangent costs two of the forward's own products, and no transposition.

Reverse mode: each transpose is one of the three maps (``_conv``'s and
``_transpose``'s docstrings derive the first two rows; the third from
<dW̄, Uᵀ G> = <U, G dW̄ᵀ> = <U dW̄, G>)::

    conv_p:         X̄ = fold(Ȳ Wᵀ)  = input_grad_p(Ȳ, W)     W̄ = Uᵀ Ȳ = weight_grad_p(X, Ȳ)
    input_grad_p:   Ḡ = unfold(Z̄) W = conv_p(Z̄, W)           W̄ = unfold(Z̄)ᵀ G = weight_grad_p(Z̄, G)
    weight_grad_p:  X̄ = fold(G W̄ᵀ)  = input_grad_p(G, W̄)     Ḡ = U W̄ = conv_p(X, W̄)

Every derivative of every order is therefore again one of the three
hand-derived maps: JAX never transposes unfold, and jvp-of-grad, grad-of-jvp
and ``jax.hessian`` compose these rules. Complex numbers follow JAX's
convention with no extra work: a transpose is the plain (unconjugated) linear
adjoint, which the rows above are, and ``jax.grad`` of a real loss conjugates
on its own. Batching (vmap) folds the mapped axis into the images or into the
groups, so a batched convolution is again one of the three.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from jaxconv import _products

conv_p = Primitive("jaxconv_conv")
input_grad_p = Primitive("jaxconv_conv_input_grad")
weight_grad_p = Primitive("jaxconv_conv_weight_grad")


# ---------------------------------------------------------------------------
# Evaluation: the products of _products, jitted when called eagerly and
# inlined into the caller's computation under jit.


def _conv_impl(x, kernel, *, geometry, groups, precision, tile_batch=True):
    return _products.forward(x, kernel, geometry, groups, precision, tile_batch)


def _input_grad_impl(g, kernel, *, geometry, groups, precision, tile_batch=True):
    return _products.input_grad(kernel, g, geometry, groups, precision, tile_batch)


def _weight_grad_impl(x, g, *, geometry, groups, precision, tile_batch=True):
    kernel_shape = (*geometry.kernel_size, x.shape[-1] // groups, g.shape[-1])
    return _products.weight_grad(x, kernel_shape, g, geometry, groups, precision, tile_batch)


_STATIC = ("geometry", "groups", "precision")
for _prim, _impl in (
    (conv_p, _conv_impl),
    (input_grad_p, _input_grad_impl),
    (weight_grad_p, _weight_grad_impl),
):
    # an eager call binds the primitive under jit, so that the lowering below (the platform's)
    # computes it
    _prim.def_impl(jax.jit(_prim.bind, static_argnames=_STATIC))
    # The batch tiles keep a CPU's caches (_batch_tiles; docs/performance.md, "Patch-matrix
    # tiles"); a GPU or TPU computes the whole batch in one product.
    _whole_batch = functools.partial(_impl, tile_batch=False)
    mlir.register_lowering(_prim, mlir.lower_fun(_whole_batch, multiple_results=False))
    mlir.register_lowering(_prim, mlir.lower_fun(_impl, multiple_results=False), platform="cpu")


def _check_dtypes(a, b):
    assert a.dtype == b.dtype, (a.dtype, b.dtype)  # the public functions cast to one dtype


@conv_p.def_abstract_eval
def _conv_shape(x, kernel, *, geometry, groups, precision):
    _check_dtypes(x, kernel)
    return jax.core.ShapedArray((x.shape[0], *geometry.output_size, kernel.shape[-1]), x.dtype)


@input_grad_p.def_abstract_eval
def _input_grad_shape(g, kernel, *, geometry, groups, precision):
    _check_dtypes(g, kernel)
    c_in = kernel.shape[-2] * groups
    return jax.core.ShapedArray((g.shape[0], *geometry.input_size, c_in), g.dtype)


@weight_grad_p.def_abstract_eval
def _weight_grad_shape(x, g, *, geometry, groups, precision):
    _check_dtypes(x, g)
    kernel_shape = (*geometry.kernel_size, x.shape[-1] // groups, g.shape[-1])
    return jax.core.ShapedArray(kernel_shape, x.dtype)


# ---------------------------------------------------------------------------
# Differentiation: the JVP is the product rule (defbilinear), the transposes
# the table in the docstring. In each rule the undefined operand is the one
# being transposed for; ``ct`` is the output cotangent.


def _conv_transpose_x(ct, x, kernel, **params):
    return input_grad_p.bind(ct, kernel, **params)  # X̄ = fold(Ȳ Wᵀ)


def _conv_transpose_kernel(ct, x, kernel, **params):
    return weight_grad_p.bind(x, ct, **params)  # W̄ = unfold(X)ᵀ Ȳ


def _input_grad_transpose_g(ct, g, kernel, **params):
    return conv_p.bind(ct, kernel, **params)  # Ḡ = unfold(Z̄) W


def _input_grad_transpose_kernel(ct, g, kernel, **params):
    return weight_grad_p.bind(ct, g, **params)  # W̄ = unfold(Z̄)ᵀ G


def _weight_grad_transpose_x(ct, x, g, **params):
    return input_grad_p.bind(g, ct, **params)  # X̄ = fold(G W̄ᵀ)


def _weight_grad_transpose_g(ct, x, g, **params):
    return conv_p.bind(x, ct, **params)  # Ḡ = unfold(X) W̄


ad.defbilinear(conv_p, _conv_transpose_x, _conv_transpose_kernel)
ad.defbilinear(input_grad_p, _input_grad_transpose_g, _input_grad_transpose_kernel)
ad.defbilinear(weight_grad_p, _weight_grad_transpose_x, _weight_grad_transpose_g)


# ---------------------------------------------------------------------------
# Batching. A mapped axis of size B on the images only (operand 0 of conv_p and
# input_grad_p) joins the batch axis N. Otherwise both operands carry it, and it
# joins the channels as B times as many groups: activations
# (B, N, *, C) -> (N, *, B·C), kernels (B, *k, C, C_out) -> (*k, C, B·C_out),
# the group index b·G + g, so block b of the result is convolution b.


def _to_front(a, axis, size):
    return jnp.broadcast_to(a, (size, *a.shape)) if axis is None else jnp.moveaxis(a, axis, 0)


def _channels_by_group(a):
    """(B, ..., C) -> (..., B·C): the mapped axis into the channels, before them."""
    return jnp.moveaxis(a, 0, -2).reshape(*a.shape[1:-1], a.shape[0] * a.shape[-1])  # (..., B·C)


def _batch_rule(prim, operand_kinds, args, dims, *, geometry, groups, precision):
    (a, b), (a_dim, b_dim) = args, dims
    size = a.shape[a_dim] if a_dim is not None else b.shape[b_dim]
    params = dict(geometry=geometry, precision=precision)
    if b_dim is None and operand_kinds[1] == "kernel":
        a = jnp.moveaxis(a, a_dim, 0)  # (B, N, ...)
        n = a.shape[1]
        out = prim.bind(a.reshape(size * n, *a.shape[2:]), b, groups=groups, **params)  # (B·N, ...)
        return out.reshape(size, n, *out.shape[1:]), 0  # (B, N, ...)
    a, b = (
        _channels_by_group(_to_front(a, a_dim, size)),
        _channels_by_group(_to_front(b, b_dim, size)),
    )
    out = prim.bind(a, b, groups=groups * size, **params)  # (..., B·C_out)
    c_out = out.shape[-1] // size
    return out.reshape(*out.shape[:-1], size, c_out), out.ndim - 1  # (..., B, C_out)


batching.primitive_batchers[conv_p] = functools.partial(_batch_rule, conv_p, ("image", "kernel"))
batching.primitive_batchers[input_grad_p] = functools.partial(
    _batch_rule, input_grad_p, ("image", "kernel")
)
batching.primitive_batchers[weight_grad_p] = functools.partial(
    _batch_rule, weight_grad_p, ("image", "image")
)
