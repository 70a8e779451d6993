"""Output sizes and receptive fields of convolution and pooling layers, by arithmetic.

The size functions follow PyTorch's own rules exactly, including the ones it applies only
when the layer first runs: each raises ``ValueError`` where PyTorch would refuse the layer
or the input, so a notebook can ask "does this fit?" without building anything. They work
on one dimension: a caller applies them to the height and to the width separately (a
layer with ``kernel_size=(3, 5)`` is two calls).

Reference: Dumoulin & Visin, "A guide to convolution arithmetic for deep learning" (2016),
https://arxiv.org/abs/1603.07285; for receptive fields, Araujo, Norris & Sim, "Computing
receptive fields of convolutional neural networks", Distill (2019),
https://distill.pub/2019/computing-receptive-fields/.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass

from torch import nn

from ._checks import check_int

__all__ = ["conv_output_size", "pool_output_size", "conv_transpose_output_size",
           "ReceptiveField", "receptive_field"]


def _int(name: str, value, minimum: int) -> int:
    check_int(name, value, minimum)
    return operator.index(value)  # a plain int, also from NumPy or 0-d tensor integers


def _dilated(kernel_size: int, dilation: int) -> int:
    # A dilated kernel spans D(K-1)+1 input positions; only K of them are read.
    return dilation * (kernel_size - 1) + 1


def _check_pool_padding(kernel_size: int, padding: int) -> None:
    # PyTorch's rule uses the raw kernel size, not the dilated one: kernel_size=3,
    # dilation=3 spans 7 positions, yet padding=2 is refused.
    if padding > kernel_size // 2:
        raise ValueError(f"pooling padding must be at most half the kernel size (kernel_size // 2 = "
                         f"{kernel_size // 2}, whatever the dilation), got padding={padding} with "
                         f"kernel_size={kernel_size}")


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1) -> int:
    """Output length of a convolution (``nn.Conv1d`` / ``nn.Conv2d``) along one dimension.

    ``floor((W + 2P - D(K-1) - 1) / S) + 1`` for input length W, kernel size K, stride S,
    padding P (on each side) and dilation D. For a 2-D layer, call it once for the height
    and once for the width.

    Args:
        size: input length W (>= 1).
        kernel_size: K (>= 1).
        stride: S (>= 1).
        padding: P (>= 0), added on both sides, as ``padding=P`` does in PyTorch (the
            padding mode, zeros or reflect, does not change the size).
        dilation: D (>= 1); the kernel then spans D(K-1)+1 input positions.

    Raises:
        TypeError: an argument is not an int (bools and floats such as ``2.0`` included).
        ValueError: an argument is out of range, or the dilated kernel is longer than the
            padded input (PyTorch refuses that when the layer runs).
    """
    size = _int("size", size, 1)
    kernel_size = _int("kernel_size", kernel_size, 1)
    stride = _int("stride", stride, 1)
    padding = _int("padding", padding, 0)
    dilation = _int("dilation", dilation, 1)
    span = _dilated(kernel_size, dilation)
    if size + 2 * padding < span:
        raise ValueError(f"the kernel does not fit: padded input size W + 2P = {size} + 2*{padding} = "
                         f"{size + 2 * padding} is smaller than the dilated kernel size D(K-1)+1 = "
                         f"{dilation}*({kernel_size}-1)+1 = {span}")
    return (size + 2 * padding - span) // stride + 1


def pool_output_size(size: int, kernel_size: int, stride: int | None = None, padding: int = 0,
                     dilation: int = 1, ceil_mode: bool = False) -> int:
    """Output length of max pooling (``nn.MaxPool1d`` / ``nn.MaxPool2d``) along one dimension.

    ``floor((W + 2P - D(K-1) - 1) / S) + 1``, or with ``ceil_mode=True`` the same with
    ``ceil`` instead of ``floor``, and then one rule more: the last window must start inside
    the input or the left padding, so if ``(out - 1) * S >= W + P`` the output is one
    shorter (a window lying wholly in the right padding would have nothing to pool). In
    ceil mode the last window may run past the right padding; it pools what it covers.
    For a 2-D layer, call it once for the height and once for the width.

    Average pooling (``nn.AvgPool1d`` / ``nn.AvgPool2d``) has no dilation; its size is this
    function with ``dilation=1``, with the same ceil-mode rule and the same padding limit.
    Its ``count_include_pad`` and ``divisor_override`` change what is averaged, not the size.

    Args:
        size: input length W (>= 1).
        kernel_size: K (>= 1).
        stride: S (>= 1); ``None`` means ``kernel_size``, as in PyTorch.
        padding: P (>= 0) on both sides; PyTorch allows at most ``kernel_size // 2``, of the
            raw kernel size even when the dilated kernel is longer.
        dilation: D (>= 1).
        ceil_mode: round the division up instead of down (True or False).

    Raises:
        TypeError: an argument is not an int (bools and floats included) or ``ceil_mode``
            is not a bool.
        ValueError: an argument is out of range, the padding is more than half the kernel,
            or the output would be empty (PyTorch refuses these when the layer runs).
    """
    size = _int("size", size, 1)
    kernel_size = _int("kernel_size", kernel_size, 1)
    stride = kernel_size if stride is None else _int("stride", stride, 1)
    padding = _int("padding", padding, 0)
    dilation = _int("dilation", dilation, 1)
    if not isinstance(ceil_mode, bool):
        raise TypeError(f"ceil_mode must be True or False, got {ceil_mode!r}")
    _check_pool_padding(kernel_size, padding)
    span = _dilated(kernel_size, dilation)
    room = size + 2 * padding - span  # negative when even the first window does not fit
    out = (room + (stride - 1 if ceil_mode else 0)) // stride + 1  # // floors, as PyTorch's div_rtn
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    if out < 1:
        raise ValueError(f"the output would be empty: padded input size W + 2P = {size} + 2*{padding} = "
                         f"{size + 2 * padding} is smaller than the dilated kernel size D(K-1)+1 = "
                         f"{dilation}*({kernel_size}-1)+1 = {span} (stride {stride}, "
                         f"ceil_mode={ceil_mode}, output size {out})")
    return out


def conv_transpose_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """Output length of a transposed convolution (``nn.ConvTranspose1d/2d``), one dimension.

    ``(W - 1) S - 2P + D(K-1) + output_padding + 1``: the input length that a convolution
    with the same K, S, P, D maps back to W. Several input lengths give the same W when
    S > 1; ``output_padding`` picks one of them, so it must be smaller than the stride or
    than the dilation (PyTorch's rule: one of the two is enough). For a 2-D layer, call it
    once for the height and once for the width.

    Args:
        size: input length W (>= 1).
        kernel_size: K (>= 1).
        stride: S (>= 1).
        padding: P (>= 0); it removes P positions from each end of the output.
        output_padding: added to one end of the output (>= 0, and < stride or < dilation).
        dilation: D (>= 1).

    Raises:
        TypeError: an argument is not an int (bools and floats included).
        ValueError: an argument is out of range, ``output_padding`` is neither smaller than
            the stride nor than the dilation, or the output would be empty (PyTorch refuses
            these when the layer runs).
    """
    size = _int("size", size, 1)
    kernel_size = _int("kernel_size", kernel_size, 1)
    stride = _int("stride", stride, 1)
    padding = _int("padding", padding, 0)
    output_padding = _int("output_padding", output_padding, 0)
    dilation = _int("dilation", dilation, 1)
    if output_padding >= stride and output_padding >= dilation:
        raise ValueError(f"output_padding must be smaller than the stride or than the dilation, got "
                         f"output_padding={output_padding} with stride={stride} and dilation={dilation}")
    out = (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1
    if out < 1:
        raise ValueError(f"the output would be empty: (W-1)S - 2P + D(K-1) + output_padding + 1 = "
                         f"({size}-1)*{stride} - 2*{padding} + {dilation}*({kernel_size}-1) + "
                         f"{output_padding} + 1 = {out}")
    return out


# -- receptive fields ------------------------------------------------------------------------
@dataclass(frozen=True)
class ReceptiveField:
    """Where the units of a feature map look in the input, along one dimension.

    Input pixel ``i`` (0-based) sits at coordinate ``i``. Output unit ``u`` then looks at the
    input coordinates ``start + u * jump - (size - 1) / 2`` to ``start + u * jump +
    (size - 1) / 2``; parts of that window outside ``0 .. W-1`` are padding.

    Attributes:
        size: the window's length in input pixels, first to last (with dilation the window
            has holes; ``size`` is its extent).
        jump: the distance, in input pixels, between the windows of neighbouring output
            units (the product of the strides).
        start: the input coordinate of the centre of output unit 0's window: negative
            when padding puts that centre left of pixel 0, and a half-integer (``0.5``) when
            the window has an even length and its centre falls between two pixels.
    """

    size: int
    jump: int
    start: float

    def window(self, unit: int) -> tuple[float, float]:
        """The first and last input coordinate that output unit ``unit`` (0-based) looks at.

        Coordinates below 0 or past the input's last pixel are padding. For a chain of
        ordinary layers both ends are whole pixels, even where ``start`` is a half-integer.
        """
        check_int("unit", unit, minimum=0)
        centre = self.start + unit * self.jump
        half = (self.size - 1) / 2
        return centre - half, centre + half


# Layers that compute each output pixel from the same pixel of their input. BatchNorm counts:
# in eval mode it is a per-channel affine map; in train mode its batch statistics tie every
# pixel to all others, which receptive-field arithmetic, by the usual convention, leaves out.
# Layers that pool statistics over the image (LayerNorm, GroupNorm, InstanceNorm) do not.
_POINTWISE = (
    nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout,
    nn.BatchNorm1d, nn.BatchNorm2d, nn.LocalResponseNorm,  # LRN mixes channels, not pixels
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU,
    nn.SiLU, nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardsigmoid, nn.Hardswish,
    nn.Softplus, nn.Softsign, nn.Tanhshrink, nn.Threshold, nn.LogSigmoid, nn.Hardshrink,
    nn.Softshrink,
)
_WINDOWED = (nn.Conv1d, nn.Conv2d, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)


def _flatten(layers, prefix: str = ""):
    """(name, layer) pairs of a chain, nested ``nn.Sequential``s opened in place."""
    if isinstance(layers, (nn.Sequential, nn.ModuleList)):
        items = list(layers.named_children())
    elif isinstance(layers, (list, tuple)):
        items = [(str(i), layer) for i, layer in enumerate(layers)]
    else:
        raise TypeError(f"layers must be an nn.Sequential or a list of layers, got "
                        f"{type(layers).__name__}")
    for name, layer in items:
        if isinstance(layer, (nn.Sequential, nn.ModuleList, list, tuple)):
            yield from _flatten(layer, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", layer


def _one(attr: str, value) -> int:
    """One number for all dimensions: receptive_field handles square layers only."""
    values = (value,) if isinstance(value, int) else tuple(value)
    if len(set(values)) != 1:
        raise ValueError(f"its {attr}={value!r} differs between dimensions; receptive_field "
                         f"handles square layers only (the same {attr} in every dimension)")
    return values[0]


def _window(layer) -> tuple[int, int, int, int]:
    """(kernel_size, stride, left padding, dilation) of a conv or pooling layer."""
    kernel = _one("kernel_size", layer.kernel_size)
    stride = _one("stride", layer.stride)
    dilation = _one("dilation", getattr(layer, "dilation", 1))  # AvgPool has none
    padding = layer.padding
    if padding == "valid":
        padding = 0
    elif padding == "same":
        # PyTorch pads D(K-1) in total, the odd one on the right: the left side gets half,
        # rounded down, and only the left side moves the windows.
        padding = dilation * (kernel - 1) // 2
    else:
        padding = _one("padding", padding)
    for name, value, minimum in (("kernel_size", kernel, 1), ("stride", stride, 1),
                                 ("padding", padding, 0), ("dilation", dilation, 1)):
        _int(name, value, minimum)
    if not isinstance(layer, (nn.Conv1d, nn.Conv2d)):
        _check_pool_padding(kernel, padding)
    return kernel, stride, padding, dilation


def receptive_field(layers) -> ReceptiveField:
    """Receptive field size, jump and start of a chain of convolution and pooling layers.

    Layer by layer, with ``r, j, s`` the size, jump and start so far (``1, 1, 0`` for the
    input itself) and a layer of kernel K, stride S, left padding P and dilation D::

        r <- r + D(K-1) j        j <- j S        s <- s + (D(K-1)/2 - P) j

    See :class:`ReceptiveField` for what the three numbers mean. Every layer must treat its
    dimensions alike (a square kernel, the same stride, padding and dilation along H and W),
    so that one size describes both; the result is then the same for the height and the
    width. A chain with a ``(3, 5)`` kernel is refused rather than half answered.

    Padding and ``ceil_mode`` decide how many output units there are, not where each looks:
    the first and last units' windows can hang over the border (into padding), and then fewer
    real pixels reach them. ``padding="same"`` and ``"valid"`` are understood.

    Args:
        layers: an ``nn.Sequential`` or a list of layers (nested ``nn.Sequential``s are
            opened), in the order they run: ``nn.Conv1d/2d``, ``nn.MaxPool1d/2d``,
            ``nn.AvgPool1d/2d``, and layers that work pixel by pixel and leave the field
            alone: activations (``nn.ReLU``, ``nn.Sigmoid``, ...), ``nn.BatchNorm1d/2d``,
            ``nn.Dropout``, ``nn.LocalResponseNorm``, ``nn.Identity``. An empty chain is the
            identity: ``ReceptiveField(1, 1, 0.0)``.

    Raises:
        TypeError: ``layers`` is not a chain, or a layer is of another kind (``nn.Linear``,
            ``nn.Flatten``, a transposed convolution, ...; the message names it).
        ValueError: a layer is not square, or has settings PyTorch would refuse to run
            (e.g. pooling padding over half the kernel).
    """
    size, jump, twice_start = 1, 1, 0  # 2 * start: a whole number, so the sum stays exact
    for name, layer in _flatten(layers):
        if not isinstance(layer, nn.Module):
            raise TypeError(f"layer {name} is not an nn.Module: {layer!r} ({type(layer).__name__})")
        if isinstance(layer, _POINTWISE):
            continue
        if not isinstance(layer, _WINDOWED):
            raise TypeError(f"layer {name} ({layer!r}) is not a convolution, a pooling layer or an "
                            f"elementwise layer, so it has no receptive field to compute; pass the "
                            f"convolutional part of the model only")
        try:
            kernel, stride, padding, dilation = _window(layer)
        except (TypeError, ValueError) as err:
            raise type(err)(f"layer {name} ({layer!r}): {err}") from None
        span = dilation * (kernel - 1)
        size += span * jump
        twice_start += (span - 2 * padding) * jump
        jump *= stride
    return ReceptiveField(size=size, jump=jump, start=twice_start / 2)
