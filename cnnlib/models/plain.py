"""A plain stack of 3x3 convolutions whose every part can be swapped, for experiments.

The building-block chapters change one thing at a time on the same network: the activation
(``act_layer``), how the maps are downsampled (max or average pooling, or a strided
convolution, with the same parameters), the depth, batch normalization, and the classifier
head (global average pooling or dense layers). Variants are arguments, not classes.
"""
from __future__ import annotations

from functools import partial
from typing import Callable, Sequence

from torch import nn

from .._checks import check_int
from ..init import init_weights
from ..shapes import conv_output_size, pool_output_size
from ._registry import register_model
from .layers import Flatten
from .lenet import _check_layer

__all__ = ["PlainCNN", "plain_cnn", "ACTIVATIONS"]

_DOWNSAMPLE = ("max", "avg", "stride")
_HEADS = ("gap", "dense")
_INITS = ("kaiming", "xavier", "torch")
# The registered builder takes an activation by name, so that a run's record (checkpoint,
# results file) stays plain data; the class itself takes any module factory.
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "gelu": nn.GELU,
    "gelu_tanh": partial(nn.GELU, approximate="tanh"), "silu": nn.SiLU, "relu6": nn.ReLU6,
    "hardswish": nn.Hardswish, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
}


class PlainCNN(nn.Module):
    """Stages of 3x3 convolutions (padding 1); the maps are halved between stages.

    Args:
        num_classes: output logits.
        in_channels: image channels.
        widths: channels of each stage, e.g. ``(16, 32, 64)``: three stages.
        convs_per_stage: 3x3 convolutions in each stage (depth = stages x this).
        act_layer: builds the activation after every convolution (and the dense hidden
            layer), e.g. ``nn.ReLU``, ``nn.GELU``, ``nn.Sigmoid``.
        downsample: between stages, ``"max"`` or ``"avg"`` (2x2 pooling, stride 2) or
            ``"stride"`` (the next stage's first convolution has stride 2). The three have
            the same parameters, so a comparison changes only how the maps shrink.
        norm_layer: optional normalization after each convolution (e.g. ``nn.BatchNorm2d``);
            the convolutions then have no bias (batch norm's mean would cancel it).
        head: ``"gap"`` (global average pooling, then one linear layer) or ``"dense"``
            (flatten, a hidden linear layer of ``hidden`` units, then the output layer).
        hidden: units of the dense head's hidden layer.
        input_size: square input side (needed to size the dense head and to check that the
            maps do not vanish).
        init: ``"kaiming"`` (He et al., 2015, for ReLU-like units), ``"xavier"`` (Glorot &
            Bengio, 2010, for sigmoid/tanh) or ``"torch"`` (PyTorch's layer defaults). The
            scheme is stated, never guessed from ``act_layer``.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1,
                 widths: Sequence[int] = (16, 32, 64), convs_per_stage: int = 1,
                 act_layer: Callable[[], nn.Module] = nn.ReLU, downsample: str = "max",
                 norm_layer: Callable[[int], nn.Module] | None = None, head: str = "gap",
                 hidden: int = 128, input_size: int = 28, init: str = "kaiming"):
        super().__init__()
        for name, value in (("num_classes", num_classes), ("in_channels", in_channels),
                            ("convs_per_stage", convs_per_stage), ("hidden", hidden)):
            check_int(name, value, minimum=1)
        check_int("input_size", input_size)
        if input_size < 1:
            raise ValueError(f"input_size={input_size} is too small: images need at least one pixel")
        if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or not widths:
            raise TypeError(f"widths must be a non-empty sequence of channel counts such as "
                            f"(16, 32, 64), got {widths!r}")
        for width in widths:
            check_int("each of widths", width, minimum=1)
        for name, value, allowed in (("downsample", downsample, _DOWNSAMPLE),
                                     ("head", head, _HEADS), ("init", init, _INITS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        _check_layer("act_layer", act_layer)
        if norm_layer is not None:
            _check_layer("norm_layer", norm_layer)
        self.init = init

        layers: list[nn.Module] = []
        side, c_in = input_size, in_channels
        for stage, width in enumerate(widths):
            for i in range(convs_per_stage):
                stride = 2 if (stage > 0 and i == 0 and downsample == "stride") else 1
                if stride == 2 and side < 2:
                    raise ValueError(f"input_size={input_size} is too small for "
                                     f"{len(widths)} stages: the maps are {side}x{side} "
                                     f"before stage {stage + 1}")
                layers.append(nn.Conv2d(c_in, width, 3, stride=stride, padding=1,
                                        bias=norm_layer is None))
                side = conv_output_size(side, 3, stride=stride, padding=1)
                if norm_layer is not None:
                    layers.append(norm_layer(width))
                layers.append(act_layer())
                c_in = width
            if stage < len(widths) - 1 and downsample in ("max", "avg"):
                try:
                    side = pool_output_size(side, 2, 2)
                except ValueError:
                    raise ValueError(f"input_size={input_size} is too small for {len(widths)} "
                                     f"stages: the maps are {side}x{side} before pooling "
                                     f"after stage {stage + 1}") from None
                layers.append(nn.MaxPool2d(2, 2) if downsample == "max" else nn.AvgPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        self.final_size = side  # side of the last feature maps
        if head == "gap":
            self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), Flatten(),
                                            nn.Linear(c_in, num_classes))
        else:
            self.classifier = nn.Sequential(Flatten(), nn.Linear(c_in * side * side, hidden),
                                            act_layer(), nn.Linear(hidden, num_classes))
        self.init_weights()

    def init_weights(self) -> None:
        if self.init == "torch":
            return  # the layers' own reset_parameters() already ran
        # Kaiming normal with ReLU's gain (He et al., 2015, https://arxiv.org/abs/1502.01852)
        # or Xavier uniform with gain 1 (Glorot & Bengio, 2010), whatever act_layer is, so
        # that a comparison of activations changes the activation only.
        if self.init == "kaiming":
            init_weights(self, "kaiming", "relu", distribution="normal")
        else:
            init_weights(self, "xavier", "linear", distribution="uniform")

    def forward(self, x):
        return self.classifier(self.features(x))


@register_model()
def plain_cnn(*, num_classes: int = 10, in_channels: int = 1,
              widths: Sequence[int] = (16, 32, 64), convs_per_stage: int = 1,
              activation: str = "relu", downsample: str = "max", batch_norm: bool = False, head: str = "gap", hidden: int = 128,
              input_size: int = 28, init: str = "kaiming") -> PlainCNN:
    """Plain 3x3-conv network with swappable activation, downsampling, batch norm and head
    (see :class:`PlainCNN`); ``activation`` is a name from ``ACTIVATIONS`` (``"relu"``,
    ``"gelu"``, ``"silu"``, ...)."""
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if not isinstance(batch_norm, bool):
        raise TypeError(f"batch_norm must be True or False, got {batch_norm!r}")
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence):
        raise TypeError(f"widths must be a sequence of channel counts such as (16, 32, 64), "
                        f"got {widths!r}")
    return PlainCNN(num_classes, in_channels, tuple(widths), convs_per_stage,
                    ACTIVATIONS[activation],
                    downsample, nn.BatchNorm2d if batch_norm else None, head, hidden,
                    input_size, init)
