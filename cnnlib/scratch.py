"""Layers written by hand: convolution, pooling, ReLU, a dense layer and dropout, forward and backward.

Each layer is a ``torch.autograd.Function`` whose ``forward`` and ``backward`` are spelled out
with plain tensor arithmetic (no ``torch.nn.functional`` call), so the gradients a model
trains with are the ones written here, and a thin ``nn.Module`` wrapper holds its parameters,
initialised exactly as its ``torch.nn`` counterpart does, so a model can swap one for the other:

* :func:`conv2d_loop` (``ScratchConv2d(..., method="loop")``): one Python step per output
  pixel, slow, for reading; stride, padding, dilation, groups, bias or none.
* :func:`conv2d_im2col` (:class:`ScratchConv2d`, the default): the same arguments, as one
  matrix product per group over :func:`im2col` columns.
* :func:`max_pool2d` (:class:`ScratchMaxPool2d`): kernel, stride, padding, dilation.
* :func:`avg_pool2d` (:class:`ScratchAvgPool2d`): kernel, stride, padding, ``count_include_pad``.
* :func:`relu` (:class:`ScratchReLU`): any shape.
* :func:`linear` (:class:`ScratchLinear`): input ``(*, in_features)``, bias or none.
* :func:`dropout` (:class:`ScratchDropout`): inverted dropout, any shape; the same mask as
  ``F.dropout`` on the CPU for the same random state.
* :func:`batch_norm` (:class:`ScratchBatchNorm1d`, :class:`ScratchBatchNorm2d`): per-channel
  batch statistics in training, running estimates in evaluation, PyTorch's momentum.

Not supported (``torch`` has them): unbatched 3-D inputs, ``padding="same"``, padding modes
other than zeros, ``ceil_mode``, ``divisor_override``, ``return_indices``; pooling padding is
limited to half the kernel, as in ``torch``. Max pooling routes a tie's gradient to the first
maximum in the window (row by row), which is what ``torch`` does on the CPU.

:func:`im2col` and :func:`col2im` are the same operations as ``F.unfold`` and ``F.fold``.
Every function here is checked against ``torch.nn.functional`` in ``tests/test_scratch*.py``.

References: Chellapilla, Puri & Simard, "High Performance Convolutional Neural Networks for
Document Processing" (2006), https://inria.hal.science/inria-00112631 (im2col);
CS231n, "Convolutional Networks", https://cs231n.github.io/convolutional-networks/
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from ._checks import check_int, is_int
from .shapes import conv_output_size

__all__ = [
    "im2col", "col2im",
    "conv2d_loop", "conv2d_im2col", "max_pool2d", "avg_pool2d", "relu", "linear",
    "Conv2dLoopFunction", "Conv2dIm2colFunction", "MaxPool2dFunction", "AvgPool2dFunction",
    "ReLUFunction", "LinearFunction", "dropout", "DropoutFunction",
    "ScratchConv2d", "ScratchMaxPool2d", "ScratchAvgPool2d", "ScratchReLU", "ScratchLinear",
    "ScratchDropout", "BatchNormFunction", "batch_norm", "ScratchBatchNorm1d",
    "ScratchBatchNorm2d",
]


# ---------------------------------------------------------------------------------------------
# Argument checks and geometry
# ---------------------------------------------------------------------------------------------

def _pair(name: str, value, minimum: int) -> tuple[int, int]:
    """``3`` -> ``(3, 3)``; ``(3, 5)`` stays; anything else is an error naming ``name``."""
    if is_int(value):
        value = (value, value)
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    for v in value:
        check_int(name, v, minimum)
    return int(value[0]), int(value[1])


def _check_4d(x: torch.Tensor, layer: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{layer} expects a tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{layer} expects a 4-D input (N, C, H, W), "
                         f"got a {x.dim()}-D tensor of shape {tuple(x.shape)}")


def _output_size(layer, size, kernel, stride, padding, dilation) -> tuple[int, int]:
    """``(H_out, W_out)``, or a ValueError when the (dilated) kernel overhangs the padded input.

    Along one axis: ``out = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1``.
    """
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    padded = tuple(s + 2 * p for s, p in zip(size, padding))
    if span[0] > padded[0] or span[1] > padded[1]:
        spans = (f" (spanning {span[0]}x{span[1]} with dilation {dilation[0]}x{dilation[1]})"
                 if span != kernel else "")
        raise ValueError(
            f"{layer}: kernel {kernel[0]}x{kernel[1]}{spans} is larger than the padded input "
            f"{padded[0]}x{padded[1]} (input {size[0]}x{size[1]}, "
            f"padding {padding[0]}x{padding[1]})")
    return tuple(conv_output_size(s, k, st, p, d)
                 for s, k, st, p, d in zip(size, kernel, stride, padding, dilation))


def _pad(x: torch.Tensor, padding: tuple[int, int], value: float = 0.0) -> torch.Tensor:
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    n, c, h, w = x.shape
    out = x.new_full((n, c, h + 2 * ph, w + 2 * pw), value)  # (N, C, H + 2ph, W + 2pw)
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def _conv_args(x, weight, bias, stride, padding, dilation, groups, layer):
    """Checks a convolution's arguments; returns them normalised, with ``(H_out, W_out)``."""
    _check_4d(x, layer)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4:
        shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ValueError(f"{layer} expects a 4-D weight (C_out, C_in / groups, kH, kW), got {shape}")
    stride = _pair("stride", stride, 1)
    padding = _pair("padding", padding, 0)
    dilation = _pair("dilation", dilation, 1)
    check_int("groups", groups, 1)
    c_in, c_out, c_in_per_group = x.shape[1], weight.shape[0], weight.shape[1]
    if c_in % groups or c_out % groups:
        raise ValueError(f"{layer}: groups={groups} must divide both the input channels ({c_in}) "
                         f"and the output channels ({c_out})")
    if c_in_per_group * groups != c_in:
        raise ValueError(
            f"{layer}: the weight {tuple(weight.shape)} expects {c_in_per_group * groups} input "
            f"channels ({c_in_per_group} per group x {groups} groups), got {c_in} "
            f"(input shape {tuple(x.shape)})")
    if bias is not None and tuple(bias.shape) != (c_out,):
        raise ValueError(f"{layer}: bias must have shape ({c_out},), got {tuple(bias.shape)}")
    out_size = _output_size(layer, tuple(x.shape[2:]), tuple(weight.shape[2:]),
                            stride, padding, dilation)
    return stride, padding, dilation, groups, out_size


def _pool_args(x, kernel_size, stride, padding, dilation, layer):
    _check_4d(x, layer)
    kernel = _pair("kernel_size", kernel_size, 1)
    stride = kernel if stride is None else _pair("stride", stride, 1)
    padding = _pair("padding", padding, 0)
    dilation = _pair("dilation", dilation, 1)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        # torch's rule too: it keeps every window overlapping the real input.
        raise ValueError(f"{layer}: padding {padding[0]}x{padding[1]} must be at most half the "
                         f"kernel {kernel[0]}x{kernel[1]}")
    out_size = _output_size(layer, tuple(x.shape[2:]), kernel, stride, padding, dilation)
    return kernel, stride, padding, dilation, out_size


# ---------------------------------------------------------------------------------------------
# im2col and its adjoint
# ---------------------------------------------------------------------------------------------

def _window_slices(offset: tuple[int, int], stride, out_size):
    """The strided slices that pick, for every output pixel, the input at one kernel offset."""
    (oh, ow), (sh, sw), (h_out, w_out) = offset, stride, out_size
    return slice(oh, oh + sh * (h_out - 1) + 1, sh), slice(ow, ow + sw * (w_out - 1) + 1, sw)


def im2col(x: torch.Tensor, kernel_size, stride=1, padding=0, dilation=1) -> torch.Tensor:
    """Every receptive field of ``x`` as a column: the same as ``F.unfold``.

    Args:
        x: input ``(N, C, H, W)``.
        kernel_size, stride, padding, dilation: an int or an ``(h, w)`` pair each.

    Returns:
        ``(N, C * kH * kW, H_out * W_out)``; rows run over channels, then kernel rows, then
        kernel columns, so a weight ``(C_out, C, kH, kW)`` reshaped to ``(C_out, C * kH * kW)``
        multiplies it directly.
    """
    _check_4d(x, "im2col")
    kernel = _pair("kernel_size", kernel_size, 1)
    stride, padding = _pair("stride", stride, 1), _pair("padding", padding, 0)
    dilation = _pair("dilation", dilation, 1)
    out_size = _output_size("im2col", tuple(x.shape[2:]), kernel, stride, padding, dilation)
    return _im2col(_pad(x, padding), kernel, stride, dilation, out_size)


def _im2col(x_pad, kernel, stride, dilation, out_size):
    # One strided slice per kernel offset (kH * kW of them), rather than one slice per output
    # pixel: the same columns, with far fewer Python steps.
    n, c = x_pad.shape[:2]
    (kh, kw), (dh, dw) = kernel, dilation
    patches = [x_pad[(slice(None), slice(None)) + _window_slices((i * dh, j * dw), stride, out_size)]
               for i in range(kh) for j in range(kw)]  # kH * kW of (N, C, H_out, W_out)
    cols = torch.stack(patches, dim=2)  # (N, C, kH * kW, H_out, W_out)
    return cols.reshape(n, c * kh * kw, out_size[0] * out_size[1])  # (N, C * kH * kW, L)


def col2im(cols: torch.Tensor, output_size, kernel_size, stride=1, padding=0,
           dilation=1) -> torch.Tensor:
    """The adjoint of :func:`im2col`: adds each column back where it came from (``F.fold``).

    An input pixel that lies in several receptive fields receives the sum of its copies,
    which is exactly the gradient of :func:`im2col`.

    Args:
        cols: ``(N, C * kH * kW, H_out * W_out)``.
        output_size: ``(H, W)`` of the image the columns came from.
        kernel_size, stride, padding, dilation: as given to :func:`im2col`.

    Returns:
        ``(N, C, H, W)``.
    """
    size = _pair("output_size", output_size, 1)
    kernel = _pair("kernel_size", kernel_size, 1)
    stride, padding = _pair("stride", stride, 1), _pair("padding", padding, 0)
    dilation = _pair("dilation", dilation, 1)
    out_size = _output_size("col2im", size, kernel, stride, padding, dilation)
    if cols.dim() != 3 or cols.shape[1] % (kernel[0] * kernel[1]) \
            or cols.shape[2] != out_size[0] * out_size[1]:
        raise ValueError(
            f"col2im expects columns (N, C * {kernel[0]} * {kernel[1]}, {out_size[0]} * "
            f"{out_size[1]}) for a {size[0]}x{size[1]} image, got {tuple(cols.shape)}")
    return _col2im(cols, size, kernel, stride, padding, dilation, out_size)


def _col2im(cols, size, kernel, stride, padding, dilation, out_size):
    n = cols.shape[0]
    (kh, kw), (dh, dw), (ph, pw) = kernel, dilation, padding
    c = cols.shape[1] // (kh * kw)
    cols = cols.reshape(n, c, kh, kw, out_size[0], out_size[1])  # (N, C, kH, kW, H_out, W_out)
    x_pad = cols.new_zeros(n, c, size[0] + 2 * ph, size[1] + 2 * pw)  # (N, C, H + 2ph, W + 2pw)
    for i in range(kh):
        for j in range(kw):
            rows, columns = _window_slices((i * dh, j * dw), stride, out_size)
            x_pad[:, :, rows, columns] += cols[:, :, i, j]  # overlapping windows add up
    return x_pad[:, :, ph:ph + size[0], pw:pw + size[1]]  # (N, C, H, W)


# ---------------------------------------------------------------------------------------------
# Convolution, two ways
# ---------------------------------------------------------------------------------------------
# Shapes: x (N, C_in, H, W); weight (C_out, C_in / G, kH, kW); G = groups. Group g sees input
# channels g * C_in/G ... and produces output channels g * C_out/G ..., with its own weights.

class Conv2dLoopFunction(torch.autograd.Function):
    """Cross-correlation by its definition: one dot product per output pixel.

    The loop runs over output pixels; batch, channels and the kernel window are vectorised
    (a fully scalar loop would take minutes for one small batch). Supports stride, padding,
    dilation and groups.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups, out_size):
        n, c_in = x.shape[:2]
        c_out, cg_in, kh, kw = weight.shape
        (sh, sw), (dh, dw), (h_out, w_out) = stride, dilation, out_size
        x_pad = _pad(x, padding)  # (N, C_in, H + 2ph, W + 2pw)
        w = weight.reshape(groups, c_out // groups, cg_in, kh, kw)  # (G, C_out/G, C_in/G, kH, kW)
        out = x.new_empty(n, c_out, h_out, w_out)  # (N, C_out, H_out, W_out)
        for i in range(h_out):
            for j in range(w_out):
                window = x_pad[:, :, i * sh:i * sh + dh * (kh - 1) + 1:dh,
                               j * sw:j * sw + dw * (kw - 1) + 1:dw]  # (N, C_in, kH, kW)
                window = window.reshape(n, groups, cg_in, kh, kw)  # (N, G, C_in/G, kH, kW)
                out[:, :, i, j] = torch.einsum("ngcuv,gocuv->ngo", window, w).reshape(n, c_out)
        if bias is not None:
            out += bias.view(1, c_out, 1, 1)
        ctx.save_for_backward(x, weight)
        ctx.conf = (bias is not None, stride, padding, dilation, groups, out_size)
        return out

    @staticmethod
    def backward(ctx, grad_out):  # grad_out: (N, C_out, H_out, W_out)
        x, weight = ctx.saved_tensors
        has_bias, stride, padding, dilation, groups, (h_out, w_out) = ctx.conf
        n, c_in, h, w_in = x.shape
        c_out, cg_in, kh, kw = weight.shape
        (sh, sw), (dh, dw), (ph, pw) = stride, dilation, padding
        x_pad = _pad(x, padding)
        w = weight.reshape(groups, c_out // groups, cg_in, kh, kw)  # (G, C_out/G, C_in/G, kH, kW)
        grad_x_pad = torch.zeros_like(x_pad)  # (N, C_in, H + 2ph, W + 2pw)
        grad_w = torch.zeros_like(w)  # (G, C_out/G, C_in/G, kH, kW)
        for i in range(h_out):
            for j in range(w_out):
                rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)
                columns = slice(j * sw, j * sw + dw * (kw - 1) + 1, dw)
                window = x_pad[:, :, rows, columns].reshape(n, groups, cg_in, kh, kw)
                g = grad_out[:, :, i, j].reshape(n, groups, c_out // groups)  # (N, G, C_out/G)
                # out[n, o, i, j] = sum(window * w[o]): each factor's gradient is the other one.
                grad_w += torch.einsum("ngo,ngcuv->gocuv", g, window)
                grad_x_pad[:, :, rows, columns] += torch.einsum(
                    "ngo,gocuv->ngcuv", g, w).reshape(n, c_in, kh, kw)
        grad_x = grad_x_pad[:, :, ph:ph + h, pw:pw + w_in]  # (N, C_in, H, W)
        grad_b = grad_out.sum(dim=(0, 2, 3)) if has_bias else None  # (C_out,)
        return grad_x, grad_w.reshape(weight.shape), grad_b, None, None, None, None, None


class Conv2dIm2colFunction(torch.autograd.Function):
    """Convolution as a matrix product: weights ``(C_out, C_in*kH*kW)`` times im2col columns.

    Backward is two more matrix products and :func:`col2im`, the adjoint of :func:`im2col`.
    Supports stride, padding, dilation and groups (one product per group).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups, out_size):
        n = x.shape[0]
        c_out, cg_in, kh, kw = weight.shape
        cols = _im2col(_pad(x, padding), (kh, kw), stride, dilation, out_size)  # (N, C_in*kH*kW, L)
        cols = cols.reshape(n, groups, cg_in * kh * kw, -1)  # (N, G, K, L), K = C_in/G * kH * kW
        w = weight.reshape(groups, c_out // groups, cg_in * kh * kw)  # (G, C_out/G, K)
        out = torch.einsum("gok,ngkl->ngol", w, cols)  # (N, G, C_out/G, L)
        out = out.reshape(n, c_out, *out_size)  # (N, C_out, H_out, W_out)
        if bias is not None:
            out = out + bias.view(1, c_out, 1, 1)
        ctx.save_for_backward(x, weight)
        ctx.conf = (bias is not None, stride, padding, dilation, groups, out_size)
        return out

    @staticmethod
    def backward(ctx, grad_out):  # grad_out: (N, C_out, H_out, W_out)
        x, weight = ctx.saved_tensors
        has_bias, stride, padding, dilation, groups, out_size = ctx.conf
        n = x.shape[0]
        c_out, cg_in, kh, kw = weight.shape
        g = grad_out.reshape(n, groups, c_out // groups, -1)  # (N, G, C_out/G, L)
        w = weight.reshape(groups, c_out // groups, cg_in * kh * kw)  # (G, C_out/G, K)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_cols = torch.einsum("gok,ngol->ngkl", w, g)  # (N, G, K, L)
            grad_x = _col2im(grad_cols.reshape(n, groups * cg_in * kh * kw, -1),
                             tuple(x.shape[2:]), (kh, kw), stride, padding, dilation, out_size)
        if ctx.needs_input_grad[1]:
            # Recomputing the columns costs one im2col; saving them would cost kH*kW x memory.
            cols = _im2col(_pad(x, padding), (kh, kw), stride, dilation, out_size)
            cols = cols.reshape(n, groups, cg_in * kh * kw, -1)  # (N, G, K, L)
            grad_w = torch.einsum("ngol,ngkl->gok", g, cols).reshape(weight.shape)
        if has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_out.sum(dim=(0, 2, 3))  # (C_out,)
        return grad_x, grad_w, grad_b, None, None, None, None, None


def conv2d_loop(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) by :class:`Conv2dLoopFunction`; as ``F.conv2d``.

    Args:
        x: ``(N, C_in, H, W)``.
        weight: ``(C_out, C_in / groups, kH, kW)``.
        bias: ``(C_out,)`` or ``None``.
        stride, padding, dilation: an int or an ``(h, w)`` pair each; zero padding.
        groups: splits the channels into independent convolutions.

    Returns:
        ``(N, C_out, H_out, W_out)``.
    """
    conf = _conv_args(x, weight, bias, stride, padding, dilation, groups, "conv2d_loop")
    return Conv2dLoopFunction.apply(x, weight, bias, *conf)


def conv2d_im2col(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution by :class:`Conv2dIm2colFunction`; arguments as :func:`conv2d_loop`."""
    conf = _conv_args(x, weight, bias, stride, padding, dilation, groups, "conv2d_im2col")
    return Conv2dIm2colFunction.apply(x, weight, bias, *conf)


# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------

class MaxPool2dFunction(torch.autograd.Function):
    """Max over each window; the gradient goes to the one input that was the maximum."""

    @staticmethod
    def forward(ctx, x, kernel, stride, padding, dilation, out_size):
        n, c = x.shape[:2]
        # -inf padding can never win a window, and torch's padding rule leaves a real pixel in each.
        cols = _im2col(_pad(x, padding, float("-inf")), kernel, stride, dilation, out_size)
        cols = cols.reshape(n, c, kernel[0] * kernel[1], -1)  # (N, C, kH * kW, L)
        # argmax returns the first maximum: on a tie, the gradient goes to the first in
        # row-by-row order, as in torch's CPU kernel.
        idx = cols.argmax(dim=2, keepdim=True)  # (N, C, 1, L)
        out = cols.gather(2, idx).reshape(n, c, *out_size)  # (N, C, H_out, W_out)
        ctx.save_for_backward(idx)
        ctx.conf = (tuple(x.shape), kernel, stride, padding, dilation, out_size)
        return out

    @staticmethod
    def backward(ctx, grad_out):  # grad_out: (N, C, H_out, W_out)
        (idx,) = ctx.saved_tensors
        (n, c, h, w), kernel, stride, padding, dilation, out_size = ctx.conf
        grad_cols = grad_out.new_zeros(n, c, kernel[0] * kernel[1], out_size[0] * out_size[1])
        grad_cols.scatter_(2, idx, grad_out.reshape(n, c, 1, -1))  # (N, C, kH * kW, L)
        # A pixel that is the maximum of several overlapping windows collects each one's share.
        grad_x = _col2im(grad_cols.reshape(n, -1, out_size[0] * out_size[1]), (h, w), kernel,
                         stride, padding, dilation, out_size)  # (N, C, H, W)
        return grad_x, None, None, None, None, None


class AvgPool2dFunction(torch.autograd.Function):
    """Mean over each window; each input in it receives ``1 / divisor`` of the window's gradient."""

    @staticmethod
    def forward(ctx, x, kernel, stride, padding, count_include_pad, out_size):
        n, c, h, w = x.shape
        dilation = (1, 1)
        cols = _im2col(_pad(x, padding), kernel, stride, dilation, out_size)
        cols = cols.reshape(n, c, kernel[0] * kernel[1], -1)  # (N, C, kH * kW, L)
        if count_include_pad:
            divisor = cols.new_full((out_size[0] * out_size[1],), kernel[0] * kernel[1])
        else:  # count only the real pixels in each window: pool a map of ones
            ones = _pad(x.new_ones(1, 1, h, w), padding)
            divisor = _im2col(ones, kernel, stride, dilation, out_size).sum(dim=1)[0]  # (L,)
        out = (cols.sum(dim=2) / divisor).reshape(n, c, *out_size)  # (N, C, H_out, W_out)
        ctx.save_for_backward(divisor)
        ctx.conf = (tuple(x.shape), kernel, stride, padding, out_size)
        return out

    @staticmethod
    def backward(ctx, grad_out):  # grad_out: (N, C, H_out, W_out)
        (divisor,) = ctx.saved_tensors
        (n, c, h, w), kernel, stride, padding, out_size = ctx.conf
        k = kernel[0] * kernel[1]
        share = grad_out.reshape(n, c, 1, -1) / divisor  # (N, C, 1, L)
        grad_cols = share.expand(n, c, k, out_size[0] * out_size[1])  # (N, C, kH * kW, L)
        grad_x = _col2im(grad_cols.reshape(n, c * k, -1), (h, w), kernel, stride, padding,
                         (1, 1), out_size)  # (N, C, H, W)
        return grad_x, None, None, None, None, None


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1):
    """Max pooling by :class:`MaxPool2dFunction`; as ``F.max_pool2d`` (no ``ceil_mode``).

    Args:
        x: ``(N, C, H, W)``.
        kernel_size: an int or an ``(h, w)`` pair.
        stride: defaults to ``kernel_size``.
        padding: implicit ``-inf`` padding, at most half the kernel.
        dilation: spacing between the pixels a window looks at.
    """
    kernel, stride, padding, dilation, out_size = _pool_args(
        x, kernel_size, stride, padding, dilation, "max_pool2d")
    return MaxPool2dFunction.apply(x, kernel, stride, padding, dilation, out_size)


def avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad=True):
    """Average pooling by :class:`AvgPool2dFunction`; as ``F.avg_pool2d`` (no ``ceil_mode``).

    Args:
        x: ``(N, C, H, W)``.
        kernel_size: an int or an ``(h, w)`` pair.
        stride: defaults to ``kernel_size``.
        padding: implicit zero padding, at most half the kernel.
        count_include_pad: divide by the whole window (True) or by its real pixels only.
    """
    if not isinstance(count_include_pad, bool):
        raise TypeError(f"count_include_pad must be True or False, got {count_include_pad!r}")
    kernel, stride, padding, _, out_size = _pool_args(
        x, kernel_size, stride, padding, 1, "avg_pool2d")
    return AvgPool2dFunction.apply(x, kernel, stride, padding, count_include_pad, out_size)


# ---------------------------------------------------------------------------------------------
# ReLU and the dense layer
# ---------------------------------------------------------------------------------------------

class ReLUFunction(torch.autograd.Function):
    """``max(x, 0)``; the gradient passes where ``x > 0`` (at exactly 0 it is 0, as in torch)."""

    @staticmethod
    def forward(ctx, x):
        passes = x > 0  # (same shape as x), bool: all backward needs
        ctx.save_for_backward(passes)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_out):
        (passes,) = ctx.saved_tensors
        return grad_out * passes


class LinearFunction(torch.autograd.Function):
    """``y = x W^T + b`` over the last dimension of ``x``."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        out = x @ weight.t()  # (*, out_features)
        if bias is not None:
            out = out + bias
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return out

    @staticmethod
    def backward(ctx, grad_out):  # grad_out: (*, out_features)
        x, weight = ctx.saved_tensors
        g = grad_out.reshape(-1, weight.shape[0])  # (M, out_features), M = all leading dims
        grad_x = grad_out @ weight  # (*, in_features)
        grad_w = g.t() @ x.reshape(-1, weight.shape[1])  # (out_features, in_features)
        grad_b = g.sum(dim=0) if ctx.has_bias else None  # (out_features,)
        return grad_x, grad_w, grad_b


def relu(x: torch.Tensor) -> torch.Tensor:
    """ReLU by :class:`ReLUFunction`; as ``F.relu`` (not in place)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"relu expects a tensor, got {type(x).__name__}")
    return ReLUFunction.apply(x)


def linear(x, weight, bias=None):
    """Dense layer by :class:`LinearFunction`; as ``F.linear``.

    Args:
        x: ``(*, in_features)``, at least 1-D.
        weight: ``(out_features, in_features)``.
        bias: ``(out_features,)`` or ``None``.
    """
    if not isinstance(x, torch.Tensor) or x.dim() < 1:
        raise ValueError(f"linear expects an input (*, in_features), got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    if weight.dim() != 2:
        raise ValueError(f"linear expects a 2-D weight (out_features, in_features), "
                         f"got {tuple(weight.shape)}")
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: the weight {tuple(weight.shape)} expects {weight.shape[1]} "
                         f"input features, got {x.shape[-1]} (input shape {tuple(x.shape)})")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), "
                         f"got {tuple(bias.shape)}")
    return LinearFunction.apply(x, weight, bias)


# ---------------------------------------------------------------------------------------------
# Dropout
# ---------------------------------------------------------------------------------------------

class DropoutFunction(torch.autograd.Function):
    """``x * mask / (1 - p)`` for a given 0/1 ``mask``; the gradient goes through the same mask
    and scale (a dropped unit gets no gradient)."""

    @staticmethod
    def forward(ctx, x, mask, p):
        scaled = mask / (1 - p)  # (same shape as x): 0 or 1/(1-p); torch multiplies the same way
        ctx.save_for_backward(scaled)
        return x * scaled

    @staticmethod
    def backward(ctx, grad_out):
        (scaled,) = ctx.saved_tensors
        return grad_out * scaled, None, None


def dropout(x: torch.Tensor, p: float = 0.5, training: bool = True) -> torch.Tensor:
    """Inverted dropout by :class:`DropoutFunction`; as ``F.dropout``.

    In training, every element is zeroed independently with probability ``p`` and the
    survivors are multiplied by ``1 / (1 - p)``, so the expected output equals the input and
    nothing needs rescaling at evaluation. With ``training=False`` the input is returned as it
    is. The mask is drawn as ``F.dropout`` draws it on the CPU (``bernoulli_(1 - p)``), so the
    same random state gives the same output.

    Args:
        x: any shape.
        p: probability of zeroing an element, ``0 <= p <= 1`` (``p = 1`` zeroes everything).
        training: drop (``True``) or pass the input through (``False``). Pass the module's
            ``self.training`` here: leaving it at its default keeps dropout on at evaluation.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"dropout expects a tensor, got {type(x).__name__}")
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ValueError(f"dropout: p is the probability of zeroing an element and must lie in "
                         f"[0, 1], got {p!r}")
    if not isinstance(training, bool):  # "no" is truthy: dropout would stay on
        raise TypeError(f"dropout: training must be True or False, got {training!r}")
    if not training or p == 0:
        return x
    if p == 1:
        return x * torch.zeros_like(x)  # keeps the graph: every gradient is 0
    mask = torch.empty_like(x).bernoulli_(1 - p)  # (same shape as x): 1 keeps, 0 drops
    return DropoutFunction.apply(x, mask, float(p))


# ---------------------------------------------------------------------------------------------
# Modules: parameters initialised as in torch.nn, so a model can swap one for the other
# ---------------------------------------------------------------------------------------------

def _init_like_torch(weight: torch.Tensor, bias: torch.Tensor | None, fan_in: int) -> None:
    # torch.nn.Conv2d / nn.Linear's reset_parameters, in the same order (so the same seed gives
    # the same numbers): kaiming_uniform_ with a = sqrt(5) makes the weight
    # U(-1/sqrt(fan_in), 1/sqrt(fan_in)), LeCun's old default, and the bias is drawn from the
    # same range.
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        nn.init.uniform_(bias, -bound, bound)


class ScratchConv2d(nn.Module):
    """A drop-in ``nn.Conv2d`` (zero padding) computed by this module's hand-written passes.

    Args:
        in_channels, out_channels: channel counts; both divisible by ``groups``.
        kernel_size, stride, padding, dilation: an int or an ``(h, w)`` pair each.
        groups: independent channel groups (``groups == in_channels``: depthwise).
        bias: learn an additive bias per output channel.
        method: ``"im2col"`` (:func:`conv2d_im2col`) or ``"loop"`` (:func:`conv2d_loop`).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, method: str = "im2col"):
        super().__init__()
        check_int("in_channels", in_channels, 1)
        check_int("out_channels", out_channels, 1)
        check_int("groups", groups, 1)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels ({in_channels}) and "
                             f"out_channels ({out_channels})")
        if method not in ("im2col", "loop"):
            raise ValueError(f"method must be 'im2col' or 'loop', got {method!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair("kernel_size", kernel_size, 1)
        self.stride = _pair("stride", stride, 1)
        self.padding = _pair("padding", padding, 0)
        self.dilation = _pair("dilation", dilation, 1)
        self.groups, self.method = groups, method
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups,
                                               *self.kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        fan_in = in_channels // groups * self.kernel_size[0] * self.kernel_size[1]
        _init_like_torch(self.weight, self.bias, fan_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = conv2d_im2col if self.method == "im2col" else conv2d_loop
        return conv(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                    self.groups)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
                f"groups={self.groups}, bias={self.bias is not None}, method={self.method!r}")


class ScratchMaxPool2d(nn.Module):
    """A drop-in ``nn.MaxPool2d`` (no ``ceil_mode``); arguments as :func:`max_pool2d`."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1):
        super().__init__()
        self.kernel_size = _pair("kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else _pair("stride", stride, 1)
        self.padding = _pair("padding", padding, 0)
        self.dilation = _pair("dilation", dilation, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}")


class ScratchAvgPool2d(nn.Module):
    """A drop-in ``nn.AvgPool2d`` (no ``ceil_mode``); arguments as :func:`avg_pool2d`."""

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad: bool = True):
        super().__init__()
        self.kernel_size = _pair("kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else _pair("stride", stride, 1)
        self.padding = _pair("padding", padding, 0)
        self.count_include_pad = count_include_pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.count_include_pad)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"count_include_pad={self.count_include_pad}")


class ScratchReLU(nn.Module):
    """A drop-in ``nn.ReLU`` (not in place) computed by :func:`relu`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return relu(x)


class ScratchDropout(nn.Module):
    """A drop-in ``nn.Dropout`` computed by :func:`dropout`; on in ``train()`` mode, off in
    ``eval()`` mode (it reads ``self.training``).

    Args:
        p: probability of zeroing an element, ``0 <= p <= 1``.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"ScratchDropout: p is the probability of zeroing an element and "
                             f"must lie in [0, 1], got {p!r}")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class ScratchLinear(nn.Module):
    """A drop-in ``nn.Linear`` computed by :func:`linear`.

    Args:
        in_features, out_features: sizes of each input and output sample.
        bias: learn an additive bias.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        check_int("in_features", in_features, 1)
        check_int("out_features", out_features, 1)
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        _init_like_torch(self.weight, self.bias, in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


# ---------------------------------------------------------------------------------------------
# Batch normalization
# ---------------------------------------------------------------------------------------------
# Shapes: x (N, C, *) with * empty (dense features) or spatial (L; H, W). Statistics are taken
# per channel c over every axis but the channel axis: M = N * prod(*) values per channel.


def _channel_view(t: torch.Tensor, ndim: int) -> torch.Tensor:
    """A per-channel vector ``(C,)`` as ``(1, C, 1, ...)``, to broadcast against ``ndim`` axes."""
    return t.reshape((1, -1) + (1,) * (ndim - 2))


class BatchNormFunction(torch.autograd.Function):
    """Batch normalization with the batch's own statistics (training mode), per channel.

    Forward: ``x_hat = (x - mean) / sqrt(var + eps)`` with the mean and the *biased* variance
    (divided by ``M``) over the ``M`` values of each channel, then ``y = gamma * x_hat + beta``.
    It also returns the mean and the biased variance (not differentiable), for the running
    estimates.

    Backward, with ``g`` the upstream gradient and sums over the ``M`` values of a channel:
    ``dbeta = sum(g)``, ``dgamma = sum(g * x_hat)`` and the compact form
    ``dx = gamma / (M * sqrt(var + eps)) * (M * g - dbeta - x_hat * dgamma)``: the mean and
    the variance depend on every input, which takes out of ``g`` its mean and its
    component along ``x_hat``. First derivatives only: differentiating the backward pass
    again raises an error (``torch``'s own batch norm supports it).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        dims = (0,) + tuple(range(2, x.dim()))  # every axis but the channel axis
        mean = x.mean(dim=dims)  # (C,)
        centred = x - _channel_view(mean, x.dim())  # (N, C, *)
        var = (centred * centred).mean(dim=dims)  # (C,), biased: divided by M
        inv_std = 1.0 / torch.sqrt(var + eps)  # (C,)
        x_hat = centred * _channel_view(inv_std, x.dim())  # (N, C, *)
        out = x_hat
        if weight is not None:
            out = out * _channel_view(weight, x.dim()) + _channel_view(bias, x.dim())
        ctx.save_for_backward(x_hat, inv_std, weight)
        ctx.mark_non_differentiable(mean, var)
        return out, mean, var

    @staticmethod
    @once_differentiable  # x_hat is saved without its graph: a second derivative would be wrong
    def backward(ctx, grad_out, _grad_mean, _grad_var):  # grad_out: (N, C, *)
        x_hat, inv_std, weight = ctx.saved_tensors
        nd = grad_out.dim()
        dims = (0,) + tuple(range(2, nd))
        m = grad_out.numel() // grad_out.shape[1]  # M: values per channel
        grad_beta = grad_out.sum(dim=dims)  # (C,)
        grad_gamma = (grad_out * x_hat).sum(dim=dims)  # (C,)
        scale = inv_std if weight is None else weight * inv_std  # (C,)
        grad_x = _channel_view(scale / m, nd) * (
            m * grad_out - _channel_view(grad_beta, nd)
            - x_hat * _channel_view(grad_gamma, nd))  # (N, C, *)
        if weight is None:
            return grad_x, None, None, None
        return grad_x, grad_gamma, grad_beta, None


def _check_channel_vector(name: str, t, channels: int, layer: str) -> None:
    if t is not None and (not isinstance(t, torch.Tensor) or tuple(t.shape) != (channels,)):
        shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        raise ValueError(f"{layer}: {name} must have shape ({channels},), one value per "
                         f"channel, got {shape}")


def batch_norm(x: torch.Tensor, running_mean: torch.Tensor | None,
               running_var: torch.Tensor | None, weight: torch.Tensor | None = None,
               bias: torch.Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> torch.Tensor:
    """Batch normalization per channel (axis 1); as ``F.batch_norm``.

    In training (``training=True``) each channel is normalized with the mean and biased
    variance of its values in this batch (:class:`BatchNormFunction`), and the running
    estimates, when given, are updated in place with PyTorch's momentum convention:
    ``running = (1 - momentum) * running + momentum * batch``, where the batch variance put
    into ``running_var`` is the *unbiased* one (divided by ``M - 1``). In evaluation the
    running estimates normalize instead, an affine map per channel that does not depend on
    the rest of the batch (its gradient is left to autograd).

    Args:
        x: ``(N, C, *)``: ``(N, C)``, ``(N, C, L)``, ``(N, C, H, W)``, ...
        running_mean, running_var: ``(C,)`` buffers, or ``None`` (training only: no
            running estimates kept).
        weight, bias: the scale gamma and the shift beta, ``(C,)`` each, or both ``None``.
        training: use and update batch statistics (``True``) or use the running ones.
        momentum: the weight of the new batch in the running estimates, in ``[0, 1]``
            (Keras' ``momentum`` is ``1 -`` this one).
        eps: added to the variance before the square root, ``>= 0``.

    Raises:
        ValueError: an input with fewer than 2 axes, a vector of the wrong shape, only one
            value per channel in training (no variance to estimate), or evaluation without
            running estimates.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"batch_norm expects a tensor, got {type(x).__name__}")
    if x.dim() < 2:
        raise ValueError(f"batch_norm expects an input (N, C, *) with at least 2 axes, got a "
                         f"{x.dim()}-D tensor of shape {tuple(x.shape)}")
    if not isinstance(training, bool):  # "no" is truthy: it would use batch statistics
        raise TypeError(f"batch_norm: training must be True or False, got {training!r}")
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) \
            or not 0 <= momentum <= 1:
        raise ValueError(f"batch_norm: momentum is the weight of the new batch in the running "
                         f"estimates and must lie in [0, 1], got {momentum!r}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
        raise ValueError(f"batch_norm: eps must be a number >= 0, got {eps!r}")
    c = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        _check_channel_vector(name, t, c, "batch_norm")
    if (weight is None) != (bias is None):
        raise ValueError("batch_norm: give both weight and bias, or neither")
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: give both running_mean and running_var, or neither")
    if not training:
        if running_mean is None:
            raise ValueError("batch_norm: evaluation (training=False) normalizes with the "
                             "running estimates, but running_mean and running_var are None")
        shape = x.dim()
        inv_std = torch.rsqrt(running_var + eps)  # (C,)
        out = (x - _channel_view(running_mean, shape)) * _channel_view(inv_std, shape)
        if weight is not None:
            out = out * _channel_view(weight, shape) + _channel_view(bias, shape)
        return out  # (N, C, *)
    m = x.numel() // c if c else 0  # values per channel
    if m <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got an input of shape {tuple(x.shape)}: the batch variance of a "
                         "single value is 0. Use a larger batch, or eval() mode.")
    out, mean, var = BatchNormFunction.apply(x, weight, bias, float(eps))
    if running_mean is not None:
        with torch.no_grad():
            unbiased = var * (m / (m - 1))  # the running estimate of the variance is unbiased
            running_mean.mul_(1 - momentum).add_(mean.to(running_mean.dtype), alpha=momentum)
            running_var.mul_(1 - momentum).add_(unbiased.to(running_var.dtype), alpha=momentum)
    return out


class _ScratchBatchNorm(nn.Module):
    """The shared body of :class:`ScratchBatchNorm1d` and :class:`ScratchBatchNorm2d`."""

    _shapes: tuple[int, ...] = ()  # the accepted numbers of axes
    _described = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        check_int("num_features", num_features, 1)
        if momentum is not None and (isinstance(momentum, bool) or not isinstance(
                momentum, (int, float)) or not 0 <= momentum <= 1):
            raise ValueError(f"momentum must lie in [0, 1] or be None, got {momentum!r}")
        for name, flag in (("affine", affine), ("track_running_stats", track_running_stats)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, got {flag!r}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        # The names and initial values of torch.nn.BatchNorm*d, so state dicts interchange.
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layer = type(self).__name__
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{layer} expects a tensor, got {type(x).__name__}")
        if x.dim() not in self._shapes:
            raise ValueError(f"{layer} expects {self._described}, got a {x.dim()}-D tensor of "
                             f"shape {tuple(x.shape)}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{layer}({self.num_features}) expects {self.num_features} "
                             f"channels (axis 1), got {x.shape[1]} (input shape "
                             f"{tuple(x.shape)})")
        # Train mode, or no running estimates to use: batch statistics (as torch does).
        use_batch = self.training or self.running_mean is None
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            if x.numel() // x.shape[1] <= 1:  # refused before anything is counted
                raise ValueError(f"{layer}: expected more than 1 value per channel when "
                                 f"training, got an input of shape {tuple(x.shape)}. Use a "
                                 "larger batch, or eval() mode.")
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # a plain average of all batches so far
                factor = 1.0 / float(self.num_batches_tracked)
        # Evaluation reads the running estimates; training updates them only if tracked.
        keep = not self.training or self.track_running_stats
        return batch_norm(x, self.running_mean if keep else None,
                          self.running_var if keep else None, self.weight, self.bias,
                          use_batch, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class ScratchBatchNorm1d(_ScratchBatchNorm):
    """A drop-in ``nn.BatchNorm1d`` computed by :func:`batch_norm`: one mean and variance per
    feature, over the batch (and the length ``L`` of ``(N, C, L)`` inputs).

    Batch statistics in ``train()`` mode, running estimates in ``eval()`` mode (it reads
    ``self.training``). The parameters ``weight`` (ones) and ``bias`` (zeros) and the buffers
    ``running_mean``, ``running_var`` and ``num_batches_tracked`` carry torch's names and
    initial values, so a state dict loads into either.

    Args:
        num_features: ``C``, the features (channels) of the input ``(N, C)`` or ``(N, C, L)``.
        eps: added to the variance before the square root.
        momentum: the weight of each new batch in the running estimates (PyTorch's
            convention); ``None``: a plain average over all batches seen.
        affine: learn a scale and a shift per feature.
        track_running_stats: keep running estimates; without them, evaluation also uses
            batch statistics.
    """

    _shapes = (2, 3)
    _described = "an input (N, C) or (N, C, L)"


class ScratchBatchNorm2d(_ScratchBatchNorm):
    """A drop-in ``nn.BatchNorm2d`` computed by :func:`batch_norm`: one mean and variance per
    channel, over the batch and all positions ``(N, H, W)``.

    Modes, parameters and buffers as :class:`ScratchBatchNorm1d`.

    Args:
        num_features: ``C``, the channels of the input ``(N, C, H, W)``.
        eps, momentum, affine, track_running_stats: as :class:`ScratchBatchNorm1d`.
    """

    _shapes = (4,)
    _described = "a 4-D input (N, C, H, W)"
