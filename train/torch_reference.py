"""PyTorch peers for train.bench: the Q8 network with nn.Conv2d, and with the unfold/fold
autograd Function the assignment asks for (Q6), written as the assignment's skeleton; and its
eager training.

PyTorch is not a dependency of this project: ``pip install torch`` beside it to
include these rows in the benchmark. Layouts are PyTorch's: NCHW images,
kernels (C_out, C_in, kh, kw).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


class Conv2DFunc(torch.autograd.Function):
    """Q6: convolution as unfold + matmul, with the backward worked out by hand.

    U = unfold(X): (b, k, p) with k = C_in·kh·kw and p = H_out·W_out;
    Y' = W U: (c_out, k) (b, k, p) -> (b, c_out, p); Y = Y'.reshape(b, c_out, H_out, W_out).
    Backward with G = dL/dY' (b, c_out, p): dW = sum_b G Uᵀ, dU = Wᵀ G, dX = fold(dU).
    """

    @staticmethod
    def forward(ctx, input_batch, kernel, stride=1, padding=1):
        b, c_in, h, w = input_batch.shape
        c_out, _, kh, kw = kernel.shape
        h_out = (h + 2 * padding - kh) // stride + 1
        w_out = (w + 2 * padding - kw) // stride + 1
        u = F.unfold(input_batch, (kh, kw), padding=padding, stride=stride)  # (b, k, p)
        weights = kernel.reshape(c_out, -1)  # (c_out, k)
        ctx.save_for_backward(u, weights)
        ctx.geometry = (h, w, kh, kw, stride, padding, kernel.shape)
        return (weights @ u).reshape(b, c_out, h_out, w_out)  # (b, c_out, p) -> NCHW

    @staticmethod
    def backward(ctx, grad_output):
        u, weights = ctx.saved_tensors
        h, w, kh, kw, stride, padding, kernel_shape = ctx.geometry
        b, c_out = grad_output.shape[:2]
        g = grad_output.reshape(b, c_out, -1)  # (b, c_out, p)
        # (b, c_out, p) (b, k, p) -> (c_out, k), summed over batch and pixels
        # -> (c_out, c_in, kh, kw)
        kernel_grad = torch.einsum("bop,bkp->ok", g, u).reshape(kernel_shape)
        u_grad = weights.t() @ g  # (k, c_out) (b, c_out, p) -> (b, k, p)
        input_grad = F.fold(
            u_grad, (h, w), (kh, kw), padding=padding, stride=stride
        )  # the adjoint of unfold
        return input_grad, kernel_grad, None, None


class UnfoldConv2d(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, padding=1):
        super().__init__()
        self.stride, self.padding = stride, padding
        self.kernel = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        nn.init.kaiming_uniform_(self.kernel, a=5**0.5)  # nn.Conv2d's initialisation

    def forward(self, x):
        return (
            Conv2DFunc.apply(x, self.kernel, self.stride, self.padding)
            + self.bias[None, :, None, None]
        )


def q8_network(
    conv: str = "nn", channels=(16, 32, 64), input_size: int = 28, global_pool: bool = False
) -> nn.Module:
    """The Q8 network (or, with ``global_pool``, Q14's with global max pooling) in PyTorch."""
    make = nn.Conv2d if conv == "nn" else UnfoldConv2d
    layers, c_in, side = [], 1, input_size
    for c_out in channels:
        layers += [make(c_in, c_out, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2)]
        c_in, side = c_out, side // 2
    if global_pool:
        layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(c_in, 10)]
    else:
        layers += [nn.Flatten(), nn.Linear(c_in * side * side, 10)]
    return nn.Sequential(*layers)


def training_round(
    conv: str, batch: int, side: int, steps: int, global_pool: bool = False, channels=(16, 32, 64)
) -> Callable[[], None]:
    """``steps`` eager training steps (Adam) per call of the network (``conv``: "nn" for
    nn.Conv2d, "unfold" for the unfold/fold Function) on random batches of random images."""
    torch.manual_seed(0)
    model = q8_network(conv, channels=channels, input_size=side, global_pool=global_pool)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    n = 4096
    data, labels = torch.rand(n, 1, side, side), torch.randint(0, 10, (n,))

    def run():
        for _ in range(steps):
            index = torch.randint(0, n, (batch,))
            loss = F.cross_entropy(model(data[index]), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    return run
