"""Layer-by-layer tables of output shapes, parameters and multiply-adds.

Conventions: a multiply-add (MAC) is one multiplication plus one addition; FLOPs count
both, so FLOPs = 2 x MACs. torchvision's "GFLOPS" column is in fact GMACs, while
``torch.utils.flop_counter`` counts FLOPs. Only convolutions and linear layers are
counted (the usual convention): pooling, activations and normalization add comparatively
little arithmetic.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["LayerInfo", "ModelSummary", "summarize", "count_parameters"]


@dataclass(frozen=True)
class LayerInfo:
    name: str
    kind: str
    output_shape: tuple[int, ...]  # per example, without the batch dimension
    params: int
    macs: int  # per example


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``model`` (all, or only those with ``requires_grad``)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(trainable_only, bool):  # "no" is truthy: it would count trainable ones only
        raise TypeError(f"trainable_only must be True or False, got {trainable_only!r}")
    if any(isinstance(p, nn.parameter.UninitializedParameter) for p in model.parameters()):
        raise ValueError("model has lazy parameters that have no size yet; run one forward pass "
                         "(or summarize(model, input_shape)) before counting them")
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _macs(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    if isinstance(module, nn.modules.conv._ConvNd):
        kernel = 1
        for k in module.kernel_size:
            kernel *= k
        if module.transposed:
            # every input element is scattered into (C_out / groups) * prod(kernel) outputs
            return inp[0].numel() * (module.out_channels // module.groups) * kernel
        # every output element is a dot product of (C_in / groups) * prod(kernel) terms
        return out[0].numel() * (module.in_channels // module.groups) * kernel
    if isinstance(module, nn.Linear):
        return out[0].numel() * module.in_features
    return 0


@dataclass(frozen=True)
class ModelSummary:
    layers: list[LayerInfo]
    input_shape: tuple[int, ...]
    total_params: int

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def total_flops(self) -> int:
        return 2 * self.total_macs

    def __str__(self) -> str:
        head = ("layer", "type", "output shape", "params", "MACs")
        rows = [(l.name, l.kind, "x".join(map(str, l.output_shape)), f"{l.params:,}", f"{l.macs:,}")
                for l in self.layers]
        foot = ("total", "", "", f"{self.total_params:,}", f"{self.total_macs:,}")
        widths = [max(len(r[i]) for r in [head, foot, *rows]) for i in range(5)]

        def fmt(r):
            return "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

        rule = "-" * len(fmt(head))
        lines = [f"input {'x'.join(map(str, self.input_shape))} (per example)", fmt(head), rule,
                 *map(fmt, rows), rule, fmt(foot),
                 f"{self.total_macs / 1e6:.3f} M multiply-adds (MACs) = {self.total_flops / 1e6:.3f} "
                 "M FLOPs per example"]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)


def summarize(model: nn.Module, input_shape: tuple[int, ...], device=None) -> ModelSummary:
    """Run one example of ``input_shape`` (C, H, W) through ``model`` and tabulate its leaves.

    Each row is a leaf module (one without children) in call order; parameters of a module
    called twice are counted once in the total.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(input_shape, str) or not hasattr(input_shape, "__iter__"):
        raise TypeError(f"input_shape must be a tuple of ints per example, e.g. (1, 28, 28); "
                        f"got {input_shape!r}")
    input_shape = tuple(input_shape)
    if not input_shape or any(not isinstance(s, int) or isinstance(s, bool) or s <= 0 for s in input_shape):
        raise ValueError(f"input_shape must be positive ints per example, e.g. (1, 28, 28); got {input_shape}")
    if device is None:
        p = next(model.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
    try:  # a bad device is not to be reported below as a bad input shape
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        kind = TypeError if isinstance(err, TypeError) else ValueError
        raise kind(f"device must be a torch.device or a string such as 'cpu' or 'cuda', "
                   f"got {device!r}") from None
    x = torch.zeros(1, *input_shape, device=device)  # a device error is not a shape error
    rows: list[LayerInfo] = []
    names = {m: n for n, m in model.named_modules()}

    def hook(module, inputs, output):
        if isinstance(output, torch.Tensor):
            params = sum(p.numel() for p in module.parameters(recurse=False))
            rows.append(LayerInfo(names[module], type(module).__name__, tuple(output.shape[1:]),
                                  params, _macs(module, inputs[0], output)))

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    was_training = model.training
    try:
        model.eval()  # batch norm needs eval mode for a batch of one
        with torch.no_grad():
            model(x)
    except RuntimeError as err:
        raise ValueError(f"the model cannot take inputs of shape {input_shape}: {err}") from err
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return ModelSummary(rows, input_shape, count_parameters(model))
