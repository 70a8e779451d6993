"""Weight initialization: one explicit function that every model calls.

The scheme and the activation that follows the layers are arguments: nothing is guessed
from the module types. The variance rules:

- **Kaiming/He** (He et al., 2015, https://arxiv.org/abs/1502.01852):
  ``std = gain / sqrt(fan)``, with ``fan`` the number of inputs of a unit (``fan_in``,
  keeps the forward signal's scale) or of outputs (``fan_out``, keeps the backward one).
- **Xavier/Glorot** (Glorot & Bengio, 2010): ``std = gain * sqrt(2 / (fan_in + fan_out))``,
  a compromise between the two.
- **normal**: a fixed ``N(0, std^2)``, e.g. AlexNet's 0.01 (Krizhevsky et al., 2012).
- **constant**: every weight the same value, which never breaks the symmetry between units.
- **torch**: PyTorch's own defaults, drawn again by each layer's ``reset_parameters()``.

The *gain* makes up for what the activation does to the second moment of its input.
PyTorch's ``torch.nn.init.calculate_gain`` has a table for linear, sigmoid, tanh, ReLU,
leaky ReLU and SELU only. For the others (ELU, GELU, SiLU, ReLU6, hard-swish, ...)
:func:`derived_gain` computes ``1 / sqrt(E[f(z)^2])`` for ``z ~ N(0, 1)``: with
``Var(w) = gain^2 / fan_in``, a layer whose inputs came out of ``f`` applied to unit-variance
pre-activations again produces pre-activations of second moment 1. For ReLU and leaky ReLU
this is exactly PyTorch's value; for tanh (5/3) and sigmoid (1) PyTorch's table holds
rules of thumb instead, and ``gain(name, derived=True)`` gives the derived value. The
second moment 1 is a fixed point layer after layer, but not always a stable one: for GELU,
SiLU and hard-swish a small deviation grows slowly with depth (the map from one layer's
second moment to the next has a slope above 1 there), which the tests measure.
"""
from __future__ import annotations

import math
from functools import partial
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SCHEMES", "TORCH_GAINS", "ACTIVATION_FUNCTIONS", "second_moment", "derived_gain",
           "gain", "weight_std", "init_weights"]

#: The schemes :func:`init_weights` knows.
SCHEMES = ("kaiming", "xavier", "normal", "constant", "torch")
#: The activations whose gain ``torch.nn.init.calculate_gain`` has in its table (besides
#: the names of linear and convolution layers).
TORCH_GAINS = ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "selu")
#: Every activation by the name the models use (``cnnlib.models.plain.ACTIVATIONS``), as a
#: function of a tensor; leaky ReLU's slope is a separate argument wherever it matters.
#:
#: :meta hide-value:
ACTIVATION_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": lambda x: x, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": F.relu,
    "leaky_relu": F.leaky_relu, "selu": F.selu, "elu": F.elu, "gelu": F.gelu,
    "gelu_tanh": partial(F.gelu, approximate="tanh"), "silu": F.silu, "relu6": F.relu6,
    "hardswish": F.hardswish,
}
_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_MODES = ("fan_in", "fan_out")
_DISTRIBUTIONS = ("normal", "uniform")


def _activation(name: str, negative_slope: float) -> Callable[[torch.Tensor], torch.Tensor]:
    if not isinstance(name, str) or name not in ACTIVATION_FUNCTIONS:
        raise ValueError(f"activation must be one of {tuple(ACTIVATION_FUNCTIONS)}, got {name!r}")
    if (isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float))
            or not math.isfinite(negative_slope)):
        raise ValueError(f"negative_slope must be a finite number, got {negative_slope!r}")
    if name == "leaky_relu":
        return partial(F.leaky_relu, negative_slope=float(negative_slope))
    return ACTIVATION_FUNCTIONS[name]


def second_moment(activation: str, negative_slope: float = 0.01) -> float:
    """``E[f(z)^2]`` for ``z ~ N(0, 1)``, ``f`` the named activation.

    Computed by the trapezoid rule on ``[-10, 10]`` with a step of 1e-4 in float64 (the
    Gaussian beyond 10 weighs less than 1e-22; the kinks of ReLU-like functions cost an
    error of order step^2).

    Args:
        activation: a name from :data:`ACTIVATION_FUNCTIONS`, e.g. ``"gelu"``.
        negative_slope: leaky ReLU's slope for negative inputs.
    """
    f = _activation(activation, negative_slope)
    z = torch.linspace(-10.0, 10.0, 200_001, dtype=torch.float64)
    density = torch.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    return float(torch.trapezoid(f(z) ** 2 * density, z))


def derived_gain(activation: str, negative_slope: float = 0.01) -> float:
    """The gain that keeps the second moment of the pre-activations at 1: ``1 / sqrt(E[f(z)^2])``.

    Args:
        activation: a name from :data:`ACTIVATION_FUNCTIONS`.
        negative_slope: leaky ReLU's slope for negative inputs.
    """
    return 1.0 / math.sqrt(second_moment(activation, negative_slope))


def gain(activation: str, negative_slope: float = 0.01, derived: bool = False) -> float:
    """The gain for the named activation.

    PyTorch's value (``torch.nn.init.calculate_gain``) where its table has the activation,
    so that the library's Kaiming and Xavier equal PyTorch's; :func:`derived_gain` for the
    others, or for every activation with ``derived=True``.

    Args:
        activation: a name from :data:`ACTIVATION_FUNCTIONS`.
        negative_slope: leaky ReLU's slope for negative inputs.
        derived: use the derived gain even where PyTorch has one.
    """
    _activation(activation, negative_slope)  # checks both arguments
    if not isinstance(derived, bool):
        raise ValueError(f"derived must be True or False, got {derived!r}")
    if activation in TORCH_GAINS and not derived:
        return nn.init.calculate_gain(activation, negative_slope if activation == "leaky_relu" else None)
    return derived_gain(activation, negative_slope)


def _fans(weight: torch.Tensor) -> tuple[int, int]:
    # (out, in / groups, *kernel) for convolutions, (out, in) for linear layers.
    receptive = math.prod(weight.shape[2:])
    return weight.shape[1] * receptive, weight.shape[0] * receptive


def weight_std(scheme: str, fan_in: int, fan_out: int, gain: float = 1.0,
               mode: str = "fan_in") -> float:
    """The standard deviation of the weights that ``scheme`` prescribes (kaiming or xavier).

    Args:
        scheme: ``"kaiming"`` or ``"xavier"``.
        fan_in: inputs of a unit (``in_channels / groups * kernel area`` for a convolution).
        fan_out: outputs of a unit (``out_channels * kernel area``).
        gain: the activation's gain (:func:`gain`).
        mode: for kaiming, ``"fan_in"`` or ``"fan_out"``.
    """
    for name, fan in (("fan_in", fan_in), ("fan_out", fan_out)):
        if isinstance(fan, bool) or not isinstance(fan, int) or fan < 1:
            raise ValueError(f"{name} must be a positive integer, got {fan!r}")
    if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not gain > 0 or not math.isfinite(gain):
        raise ValueError(f"gain must be a positive finite number, got {gain!r}")
    if scheme == "kaiming":
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        # The same arithmetic as torch.nn.init.kaiming_*_, so that the weights are identical.
        return gain / math.sqrt(fan_in if mode == "fan_in" else fan_out)
    if scheme == "xavier":
        return gain * math.sqrt(2.0 / float(fan_in + fan_out))
    raise ValueError(f"weight_std knows 'kaiming' and 'xavier', got {scheme!r}")


def init_weights(model: nn.Module, scheme: str, activation: str = "relu", *,
                 mode: str = "fan_in", distribution: str = "normal", std: float = 0.01,
                 value: float = 0.0, bias: float = 0.0, negative_slope: float = 0.01,
                 derived: bool = False) -> nn.Module:
    """Initialize every convolution (1-3 d) and linear layer of ``model`` in place.

    Other layers (batch norm, transposed convolutions, ...) keep what they have. Weights are
    drawn in the order of ``model.modules()``, so a seed gives the same model every time.

    Args:
        model: the network.
        scheme: one of :data:`SCHEMES`.
        activation: the activation after the layers, for the gain of ``"kaiming"`` and
            ``"xavier"`` (:func:`gain`); ignored by the other schemes.
        mode: kaiming's ``"fan_in"`` (forward pass) or ``"fan_out"`` (backward pass).
        distribution: ``"normal"`` or ``"uniform"`` (on ``[-sqrt(3) std, sqrt(3) std]``,
            the same standard deviation) for kaiming and xavier.
        std: the standard deviation of ``"normal"``.
        value: every weight's value under ``"constant"``.
        bias: every bias's value (all schemes but ``"torch"``); AlexNet used 1 in some layers.
        negative_slope: leaky ReLU's slope, for its gain.
        derived: use :func:`derived_gain` even where PyTorch has a gain.

    Returns:
        ``model``, for chaining.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {_DISTRIBUTIONS}, got {distribution!r}")
    for name, number in (("std", std), ("value", value), ("bias", bias)):
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
            raise ValueError(f"{name} must be a finite number, got {number!r}")
    if not std > 0:
        raise ValueError(f"std must be positive, got {std!r}")
    g = gain(activation, negative_slope, derived) if scheme in ("kaiming", "xavier") else None
    if scheme == "torch":
        for m in model.modules():
            if isinstance(m, _LAYERS):
                m.reset_parameters()
        return model
    with torch.no_grad():
        for m in model.modules():
            if not isinstance(m, _LAYERS):
                continue
            if scheme == "constant":
                m.weight.fill_(value)
            elif scheme == "normal":
                m.weight.normal_(0.0, std)
            else:
                s = weight_std(scheme, *_fans(m.weight), gain=g, mode=mode)
                if distribution == "normal":
                    m.weight.normal_(0.0, s)
                else:
                    bound = math.sqrt(3.0) * s  # a uniform on [-b, b] has variance b^2 / 3
                    m.weight.uniform_(-bound, bound)
            if m.bias is not None:
                m.bias.fill_(bias)
    return model
