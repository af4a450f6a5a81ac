"""Slow, obviously-correct oracles: the nested loops of Q1 and Q3 in plain NumPy.

These are what the fast functions are tested against, so they are written to
read like the pseudo-code of the assignment, one scalar at a time, in float64.
Never use them for real work: they run a Python loop per multiply-add.

Layouts are those of the fast code: images NHWC, kernels HWIO, patches
``(N, H_out, W_out, kh·kw·C)`` ordered (i, j, c).
"""

from __future__ import annotations

import numpy as np

from jaxconv._shapes import conv_output_hw, pair


def _geometry(input_shape, kernel_hw, stride, padding):
    kernel_hw, stride, padding = pair("kernel_size", kernel_hw), pair("stride", stride), pair("padding", padding)
    out_hw = conv_output_hw(input_shape[1:3], kernel_hw, stride, padding)
    return kernel_hw, stride, padding, out_hw


def pad(x, padding):
    """Q3, part one: a zero border of ``padding`` pixels around every image."""
    ph, pw = pair("padding", padding)
    n, h, w, c = x.shape
    padded = np.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=np.float64)
    padded[:, ph : ph + h, pw : pw + w, :] = x
    return padded


def conv2d(x, kernel, stride=1, padding=0):
    """Q1: for every output pixel and output channel, a dot product of patch and kernel."""
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    kh, kw, c_in, c_out = kernel.shape
    _, (sh, sw), _, (ho, wo) = _geometry(x.shape, (kh, kw), stride, padding)
    xp = pad(x, padding)
    n = x.shape[0]
    y = np.zeros((n, ho, wo, c_out))
    for b in range(n):
        for oy in range(ho):
            for ox in range(wo):
                for o in range(c_out):
                    total = 0.0
                    for i in range(kh):
                        for j in range(kw):
                            for c in range(c_in):
                                total += xp[b, oy * sh + i, ox * sw + j, c] * kernel[i, j, c, o]
                    y[b, oy, ox, o] = total
    return y


def unfold(x, kernel_size, stride=1, padding=0):
    """Q3, part two: copy every patch of the padded input into one row vector."""
    x = np.asarray(x, np.float64)
    (kh, kw), (sh, sw), _, (ho, wo) = _geometry(x.shape, kernel_size, stride, padding)
    xp = pad(x, padding)
    n, _, _, c_in = x.shape
    patches = np.zeros((n, ho, wo, kh * kw * c_in))
    for b in range(n):
        for oy in range(ho):
            for ox in range(wo):
                for i in range(kh):
                    for j in range(kw):
                        for c in range(c_in):
                            patches[b, oy, ox, (i * kw + j) * c_in + c] = xp[b, oy * sh + i, ox * sw + j, c]
    return patches


def fold(patches, input_shape, kernel_size, stride=1, padding=0):
    """The adjoint of unfold: add every patch entry back onto the pixel it was copied from."""
    patches = np.asarray(patches, np.float64)
    (kh, kw), (sh, sw), (ph, pw), (ho, wo) = _geometry(input_shape, kernel_size, stride, padding)
    n, h, w, c_in = input_shape
    xp = np.zeros((n, h + 2 * ph, w + 2 * pw, c_in))
    for b in range(n):
        for oy in range(ho):
            for ox in range(wo):
                for i in range(kh):
                    for j in range(kw):
                        for c in range(c_in):
                            xp[b, oy * sh + i, ox * sw + j, c] += patches[b, oy, ox, (i * kw + j) * c_in + c]
    return xp[:, ph : ph + h, pw : pw + w, :]  # what landed in the padding is dropped


def conv2d_weight_grad(x, kernel_shape, g, stride=1, padding=0):
    """Q4 in scalars: dW[i, j, c, o] = sum over batch and output pixels of x_padded · g."""
    x, g = np.asarray(x, np.float64), np.asarray(g, np.float64)
    kh, kw, c_in, c_out = kernel_shape
    _, (sh, sw), _, (ho, wo) = _geometry(x.shape, (kh, kw), stride, padding)
    xp = pad(x, padding)
    dw = np.zeros(kernel_shape)
    for i in range(kh):
        for j in range(kw):
            for c in range(c_in):
                for o in range(c_out):
                    for b in range(x.shape[0]):
                        for oy in range(ho):
                            for ox in range(wo):
                                dw[i, j, c, o] += xp[b, oy * sh + i, ox * sw + j, c] * g[b, oy, ox, o]
    return dw


def conv2d_input_grad(input_shape, kernel, g, stride=1, padding=0):
    """Q5 in scalars: each output pixel sends g · kernel back to every input pixel of its patch."""
    kernel, g = np.asarray(kernel, np.float64), np.asarray(g, np.float64)
    kh, kw, c_in, c_out = kernel.shape
    _, (sh, sw), (ph, pw), (ho, wo) = _geometry(input_shape, (kh, kw), stride, padding)
    n, h, w, _ = input_shape
    dxp = np.zeros((n, h + 2 * ph, w + 2 * pw, c_in))
    for b in range(n):
        for oy in range(ho):
            for ox in range(wo):
                for o in range(c_out):
                    for i in range(kh):
                        for j in range(kw):
                            for c in range(c_in):
                                dxp[b, oy * sh + i, ox * sw + j, c] += kernel[i, j, c, o] * g[b, oy, ox, o]
    return dxp[:, ph : ph + h, pw : pw + w, :]
