"""Drop-in variants of two ``torch.nn`` layers that compute the same values, faster.

* :class:`Sigmoid` takes ``inplace=True``, as ``nn.ReLU`` does. Writing the result over its
  input saves allocating and filling a second activation-sized tensor, and the values are
  the same bit for bit. It is safe wherever nothing else needs the input after the
  activation: after a convolution, a linear layer or batch norm, none of whose backward
  passes read their own output. Autograd checks this: an in-place write over a tensor that
  a backward pass still needs raises an error rather than computing a wrong gradient.
* :class:`Flatten` hands its gradient back in the memory order its input had. PyTorch's
  flatten of a channels-last tensor returns the gradient in the default (NCHW) order, and
  the CPU backward of ``avg_pool2d`` is about 7x slower when its gradient and its input
  differ in memory order (0.56 ms instead of 0.08 ms for LeNet's second pooling layer,
  256 images, on the course's 2-core CI machine).

Together they make a channels-last epoch of the classic LeNet on that machine about 10%
faster (``benchmarks/lenet_layers.py``: 3.35 s and 3.04 s, medians of 5 interleaved epochs)
while computing the same numbers.

One consequence of in-place activations, the same as for torchvision's
``ReLU(inplace=True)``: a forward hook on the layer *before* the activation sees its output
before the activation runs, but a reference it keeps is overwritten; clone it if you keep it.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["Sigmoid", "Flatten"]


class Sigmoid(nn.Sigmoid):
    """``nn.Sigmoid`` with an ``inplace`` option (default off, as in ``nn.ReLU``)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        if not isinstance(inplace, bool):
            raise TypeError(f"inplace must be True or False, got {inplace!r}")
        self.inplace = inplace

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid_(x) if self.inplace else torch.sigmoid(x)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class _FlattenKeepingGradFormat(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.shape = x.shape
        return x.flatten(1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad.reshape(ctx.shape).contiguous(memory_format=torch.channels_last)


class Flatten(nn.Flatten):
    """``nn.Flatten`` whose gradient keeps the channels-last order of a 4-D input.

    The forward values are those of ``nn.Flatten`` (a copy in C, H, W order); only the
    memory order of the gradient it passes back differs. Any other input, or other
    ``start_dim`` / ``end_dim``, goes through ``nn.Flatten`` unchanged.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (x.ndim == 4 and x.requires_grad and torch.is_grad_enabled()
                and (self.start_dim, self.end_dim) in ((1, -1), (1, 3))
                and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()):
            return _FlattenKeepingGradFormat.apply(x)
        return super().forward(x)
