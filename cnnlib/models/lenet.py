"""LeNet (LeCun et al., 1998, http://yann.lecun.com/exdb/publis/pdf/lecun-98.pdf).

One class covers the classic teaching form (sigmoid, average pooling; as taught by d2l)
and a modern form (ReLU, max pooling, optional batch norm): the variants differ only in
the layer types passed in. The 1998 LeNet-5 itself differed further: a scaled tanh
activation, subsampling layers with a trainable weight and bias, sparse connections from
S2 to C3, and Euclidean RBF output units instead of a linear layer + softmax.
"""
from __future__ import annotations

from functools import partial
from typing import Callable

from torch import nn

from .._checks import check_int
from ..init import init_weights
from ..shapes import conv_output_size, pool_output_size
from ._registry import register_model
from .layers import Flatten, Sigmoid

__all__ = ["LeNet", "lenet", "lenet_modern"]

_INITS = ("xavier", "kaiming")


def _check_int(name: str, value) -> None:
    # A float would fail deep inside torch ("empty(): argument 'size'...") and a bool would
    # silently build a one-class or one-channel net.
    check_int(name, value)


def _check_layer(name: str, layer) -> None:
    # nn.ReLU() (a module) instead of nn.ReLU (what builds one) would fail later with
    # "forward() missing 1 required positional argument".
    if isinstance(layer, nn.Module) or not callable(layer):
        raise TypeError(f"{name} must build a module (a class or factory such as nn.ReLU), got "
                        f"{layer!r}; pass the class, not an instance")


class LeNet(nn.Module):
    """Two 5x5 conv layers (6 and 16 channels) then three fully connected layers (120, 84).

    Args:
        num_classes: output logits.
        in_channels: image channels.
        input_size: square input side; the first conv pads by 2 so that 28x28 Fashion-MNIST
            images see the same geometry as the 32x32 inputs of the original.
        act_layer: builds an activation module (classic: sigmoid, modern: ReLU; both run in
            place, which computes the same values with less memory traffic; see
            :mod:`cnnlib.models.layers`). Any module type works, e.g. ``nn.Tanh``.
        pool_layer: 2x2 pooling type (``nn.AvgPool2d`` classic, ``nn.MaxPool2d`` modern).
        norm_layer: optional normalization after each conv (e.g. ``nn.BatchNorm2d``) and
            after each hidden linear layer (its 1-D counterpart is derived by name).
        init: the weight initialization, stated rather than guessed from the layer types:
            ``"xavier"`` (Glorot & Bengio, 2010; for sigmoid/tanh units) or ``"kaiming"``
            (He et al., 2015; for ReLU units). Biases start at zero either way.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 28,
                 act_layer: Callable[[], nn.Module] = partial(Sigmoid, inplace=True),
                 pool_layer: Callable[..., nn.Module] = nn.AvgPool2d,
                 norm_layer: Callable[[int], nn.Module] | None = None, init: str = "xavier"):
        super().__init__()
        if init not in _INITS:
            raise ValueError(f"init must be one of {_INITS}, got {init!r}")
        self.init = init
        for name, value in (("num_classes", num_classes), ("in_channels", in_channels),
                            ("input_size", input_size)):
            _check_int(name, value)
        for name, value in (("num_classes", num_classes), ("in_channels", in_channels)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        _check_layer("act_layer", act_layer)
        _check_layer("pool_layer", pool_layer)
        if norm_layer is not None:
            _check_layer("norm_layer", norm_layer)
        try:  # conv1 (5x5, padding 2), pool1 (2x2), conv2 (5x5), pool2 (2x2)
            side = pool_output_size(conv_output_size(
                pool_output_size(conv_output_size(input_size, 5, padding=2), 2), 5), 2)
        except ValueError as err:
            raise ValueError(f"input_size={input_size} is too small for LeNet (needs >= 12): "
                             f"{err}") from None
        norm1d = _norm1d_for(norm_layer)
        bias = norm_layer is None  # a bias right before batch norm is cancelled by its mean

        def conv_block(c_in: int, c_out: int, padding: int) -> list[nn.Module]:
            layers = [nn.Conv2d(c_in, c_out, kernel_size=5, padding=padding, bias=bias)]
            if norm_layer is not None:
                layers.append(norm_layer(c_out))
            return layers + [act_layer(), pool_layer(kernel_size=2, stride=2)]

        def fc_block(n_in: int, n_out: int) -> list[nn.Module]:
            layers = [nn.Linear(n_in, n_out, bias=bias)]
            if norm1d is not None:
                layers.append(norm1d(n_out))
            return layers + [act_layer()]

        self.features = nn.Sequential(*conv_block(in_channels, 6, 2), *conv_block(6, 16, 0))
        self.classifier = nn.Sequential(
            Flatten(),  # nn.Flatten, but fast with channels-last inputs (see .layers)
            *fc_block(16 * side * side, 120),
            *fc_block(120, 84),
            nn.Linear(84, num_classes),
        )
        self.init_weights()

    def init_weights(self) -> None:
        # Xavier/Glorot uniform with gain 1 (Glorot & Bengio, 2010) keeps activation
        # variance roughly constant through sigmoid-like units (d2l's LeNet uses it too).
        # He/Kaiming uniform with ReLU's gain (He et al., 2015,
        # https://arxiv.org/abs/1502.01852) accounts for ReLU zeroing half its inputs.
        activation = "relu" if self.init == "kaiming" else "linear"
        init_weights(self, self.init, activation, distribution="uniform")

    def forward(self, x):
        return self.classifier(self.features(x))


def _norm1d_for(norm_layer):
    if norm_layer is None:
        return None
    if norm_layer is nn.BatchNorm2d:
        return nn.BatchNorm1d
    raise ValueError(f"LeNet knows the 1-D counterpart of nn.BatchNorm2d only, got {norm_layer}")


@register_model()
def lenet(*, num_classes: int = 10, in_channels: int = 1, input_size: int = 28,
          init: str = "xavier") -> LeNet:
    """Classic teaching LeNet: sigmoid activations, average pooling, Xavier init (61,706
    parameters)."""
    return LeNet(num_classes, in_channels, input_size, act_layer=partial(Sigmoid, inplace=True),
                 pool_layer=nn.AvgPool2d, init=init)


@register_model()
def lenet_modern(*, num_classes: int = 10, in_channels: int = 1, input_size: int = 28,
                 batch_norm: bool = True, init: str = "kaiming") -> LeNet:
    """LeNet with ReLU, max pooling, Kaiming init and (by default) batch normalization, which
    drops the biases of the layers it follows (61,932 parameters with it, 61,706 without)."""
    if not isinstance(batch_norm, bool):  # "no" is truthy: it would add batch norm
        raise TypeError(f"batch_norm must be True or False, got {batch_norm!r}")
    return LeNet(num_classes, in_channels, input_size, act_layer=partial(nn.ReLU, inplace=True),
                 pool_layer=nn.MaxPool2d,
                 norm_layer=nn.BatchNorm2d if batch_norm else None, init=init)
