"""Looking inside a network: layer-by-layer tables of output shapes, parameters and
multiply-adds, and what a trained network computes (feature maps, the images that excite a
channel, saliency maps and Grad-CAM).

Everything here works on any ``nn.Module`` by module names (``model.named_modules()``)
and forward hooks, never by the attributes of one architecture.

Conventions: a multiply-add (MAC) is one multiplication plus one addition; FLOPs count
both, so FLOPs = 2 x MACs. torchvision's "GFLOPS" column is in fact GMACs, while
``torch.utils.flop_counter`` counts FLOPs. Only convolutions and linear layers are
counted (the usual convention): pooling, activations and normalization add comparatively
little arithmetic.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_int

__all__ = ["LayerInfo", "ModelSummary", "summarize", "count_parameters", "conv_layer_names",
           "feature_maps", "TopActivations", "top_activating", "saliency", "grad_cam",
           "grad_cam_layer", "rank_correlation"]


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


# --- what a trained network computes ----------------------------------------------------


def _check_model(model) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")


def conv_layer_names(model: nn.Module) -> list[str]:
    """Names of the convolution layers of ``model`` (``nn.Conv1d/2d/3d`` and transposed), in
    the order in which ``model.named_modules()`` lists them (for the course's
    sequential models, the order of the forward pass)."""
    _check_model(model)
    return [name for name, m in model.named_modules() if isinstance(m, nn.modules.conv._ConvNd)]


def _layers(model: nn.Module, layers) -> dict[str, nn.Module]:
    modules = dict(model.named_modules())
    if isinstance(layers, str):
        layers = [layers]
    if isinstance(layers, (bytes, dict)) or not isinstance(layers, Sequence) or not layers:
        raise TypeError(f"layers must be a layer name or a non-empty list of names, got {layers!r}")
    unknown = [name for name in layers if not isinstance(name, str) or name not in modules or not name]
    if unknown:
        valid = [name for name in modules if name]
        raise ValueError(f"{type(model).__name__} has no layer {unknown[0]!r}; its layers are: "
                         f"{', '.join(valid)} (conv layers: {', '.join(conv_layer_names(model))})")
    if len(set(layers)) != len(layers):
        raise ValueError(f"layers names a layer twice: {list(layers)}")
    return {name: modules[name] for name in layers}


def _check_images(model: nn.Module, x) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a tensor of images (N, C, H, W), got {type(x).__name__}")
    if x.ndim != 4 or 0 in x.shape:
        raise ValueError(f"x must be a non-empty batch of images (N, C, H, W), got shape "
                         f"{tuple(x.shape)}; for one image of shape (C, H, W) pass x[None]")
    if not x.is_floating_point():
        raise TypeError(f"x must hold floating-point pixels, got dtype {x.dtype}; "
                        "scale uint8 images to [0, 1] first (x.float() / 255)")
    param = next(model.parameters(), None)
    if param is not None and param.device != x.device:  # else a bare "Expected all tensors..."
        raise ValueError(f"x is on {x.device} but the model's weights are on {param.device}: "
                         "move one of them (x.to(device))")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if convs and x.shape[1] != convs[0].in_channels:
        raise ValueError(f"x has {x.shape[1]} channels but the model's first convolution takes "
                         f"{convs[0].in_channels}: shape {tuple(x.shape)}")


@contextlib.contextmanager
def _eval_mode(model: nn.Module):
    # Each module's own flag is restored, so a model that was partly in eval mode (a frozen
    # batch norm in a training model) comes back exactly as it was.
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


@contextlib.contextmanager
def _capture(modules: dict[str, nn.Module], keep_graph: bool = False):
    """Record each module's output during the forward passes inside the block.

    Without ``keep_graph`` a detached copy is stored: an in-place activation after a
    convolution (``nn.ReLU(inplace=True)``) would otherwise overwrite the convolution's
    stored output. With ``keep_graph`` the output itself is stored, in the autograd graph,
    and a copy goes on down the network, for the same reason.
    """
    outputs: dict[str, torch.Tensor] = {}

    def make_hook(name):
        def hook(module, inputs, output):
            if not isinstance(output, torch.Tensor):
                raise TypeError(f"layer {name!r} ({type(module).__name__}) returns "
                                f"{type(output).__name__}, not a tensor: choose another layer")
            if name in outputs:
                raise ValueError(f"layer {name!r} runs more than once in one forward pass (a "
                                 "module used twice), so its output is ambiguous: choose another")
            if keep_graph:
                outputs[name] = output
                return output.clone()
            outputs[name] = output.detach().clone()
        return hook

    handles = [m.register_forward_hook(make_hook(name)) for name, m in modules.items()]
    try:
        yield outputs
    finally:
        for h in handles:
            h.remove()


def _forward(model, x):
    try:
        return model(x)
    except RuntimeError as err:  # e.g. a size mismatch deep inside
        raise ValueError(f"the model cannot take inputs of shape {tuple(x.shape)}: {err}") from err


def feature_maps(model: nn.Module, x: torch.Tensor, layers: str | Sequence[str] | None = None
                 ) -> dict[str, torch.Tensor]:
    """The outputs of named layers of ``model`` for the images ``x``.

    The model runs once in eval mode without gradients, with forward hooks on the layers;
    the hooks are removed and every module's train/eval mode restored afterwards, also when
    the forward pass fails.

    Args:
        model: any ``nn.Module``.
        x: images ``(N, C, H, W)``, floating point, on the model's device.
        layers: a name or a list of names from ``model.named_modules()`` (e.g.
            ``"features.0"``); default: every convolution (:func:`conv_layer_names`).

    Returns:
        ``{name: output}`` in the order of ``layers``, each output a tensor detached from
        the graph (``(N, C_l, H_l, W_l)`` for a convolution).
    """
    _check_model(model)
    if layers is None:
        layers = conv_layer_names(model)
        if not layers:
            raise ValueError(f"{type(model).__name__} has no convolution layer; name the layers")
    modules = _layers(model, layers)
    _check_images(model, x)
    with _eval_mode(model), torch.no_grad(), _capture(modules) as outputs:
        _forward(model, x)
    missing = [name for name in modules if name not in outputs]
    if missing:
        raise ValueError(f"layers {missing} did not run in the forward pass")
    return {name: outputs[name] for name in modules}


@dataclass(frozen=True)
class TopActivations:
    """The dataset images that excite one channel most: their positions in the loader's
    order (``indices``, int64) and the channel's activation on each (``values``), largest
    first."""

    indices: torch.Tensor  # (k,)
    values: torch.Tensor  # (k,)


def top_activating(model: nn.Module, loader, layer: str, channel: int, k: int = 9, *,
                   reduce: str = "mean") -> TopActivations:
    """The ``k`` images of ``loader`` on which channel ``channel`` of ``layer`` is largest.

    Each image gets one number: the **mean** of the channel's map over all positions
    (``reduce="mean"``, the default: how much of the image excites it) or the **maximum**
    (``reduce="max"``: the single strongest spot, as Zeiler and Fergus (2014) picked the
    images they projected back). The model runs in eval mode without gradients.

    Args:
        model: any ``nn.Module``.
        loader: yields ``(images, labels)`` batches in a fixed order (not shuffled), so that
            an index means the same image every time; e.g. a validation ``TensorLoader``.
        layer: a module name from ``model.named_modules()``.
        channel: a channel of that layer's output, ``0 <= channel < C``.
        k: how many images, ``1 <= k <=`` the number of images.
        reduce: ``"mean"`` or ``"max"`` over the map's positions.
    """
    _check_model(model)
    check_int("channel", channel, 0)
    check_int("k", k, 1)
    if reduce not in ("mean", "max"):
        raise ValueError(f"reduce must be 'mean' or 'max', got {reduce!r}")
    if getattr(loader, "shuffle", False):
        raise ValueError("the loader shuffles, so an index would not name one image: pass a "
                         "loader with shuffle=False (a validation or test loader)")
    if not isinstance(layer, str):
        raise TypeError(f"layer must be one layer name, got {layer!r}")
    scores = []
    for batch in loader:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        out = feature_maps(model, x, layer)[layer]
        if out.ndim < 2:
            raise ValueError(f"layer {layer!r} has no channels: its output has shape {tuple(out.shape)}")
        if channel >= out.shape[1]:
            raise ValueError(f"channel {channel} is out of range: layer {layer!r} has "
                             f"{out.shape[1]} channels (0 to {out.shape[1] - 1})")
        maps = out[:, channel].flatten(1)  # (N, positions)
        scores.append(maps.mean(1) if reduce == "mean" else maps.amax(1))
    if not scores:
        raise ValueError("the loader yielded no batch")
    scores = torch.cat(scores)
    if k > len(scores):
        raise ValueError(f"k={k} but the loader holds only {len(scores)} images")
    values, indices = scores.topk(k)
    return TopActivations(indices.cpu(), values.cpu())


def _targets(target, logits: torch.Tensor) -> torch.Tensor:
    n, classes = logits.shape
    if target is None:
        return logits.argmax(1)
    if isinstance(target, bool) or not isinstance(target, (int, torch.Tensor)) and not (
            isinstance(target, Sequence) and not isinstance(target, str)):
        raise TypeError(f"target must be None, a class index or one index per image, got {target!r}")
    t = torch.as_tensor(target, device=logits.device)
    if t.is_floating_point() or t.dtype == torch.bool:
        raise TypeError(f"target must hold integer class indices, got dtype {t.dtype}")
    t = t.long().expand(n) if t.ndim == 0 else t.long()
    if t.shape != (n,):
        raise ValueError(f"target must be one class index or {n} of them (one per image), got "
                         f"shape {tuple(t.shape)}")
    if (t < 0).any() or (t >= classes).any():
        raise ValueError(f"target must lie in [0, {classes - 1}] (the model has {classes} "
                         f"classes), got {t.tolist()}")
    return t


def _class_scores(model, x, target, modules=None):
    # The logits' entries for the target classes, in eval mode, with gradients on.
    with torch.enable_grad(), _capture(modules or {}, keep_graph=True) as outputs:
        logits = _forward(model, x)
    if logits.ndim != 2:
        raise ValueError(f"the model must output class scores (N, classes), got shape "
                         f"{tuple(logits.shape)}")
    t = _targets(target, logits.detach())
    return logits.gather(1, t[:, None])[:, 0], t, outputs


def saliency(model: nn.Module, x: torch.Tensor, target=None) -> torch.Tensor:
    """Saliency maps of Simonyan, Vedaldi and Zisserman (2014,
    https://arxiv.org/abs/1312.6034): how much each pixel moves the class score.

    The gradient of the score of class ``target`` (the logit, before the softmax) with
    respect to the input image; each pixel's saliency is the largest absolute value of
    that gradient over the colour channels. The model runs in eval mode; its parameters'
    ``.grad`` are left untouched.

    Args:
        model: any classifier returning logits ``(N, classes)``.
        x: images ``(N, C, H, W)``.
        target: a class index, one per image (list or tensor), or None for the predicted class.

    Returns:
        ``(N, H, W)``, non-negative.
    """
    _check_model(model)
    _check_images(model, x)
    x = x.detach().clone().requires_grad_(True)
    with _eval_mode(model):
        scores, _, _ = _class_scores(model, x, target)
        # Each image's score depends on that image only (eval mode), so the gradient of
        # the sum holds each image's own gradient.
        (grad,) = torch.autograd.grad(scores.sum(), x)
    return grad.abs().amax(dim=1)


def grad_cam_layer(model: nn.Module, x: torch.Tensor) -> str:
    """The layer whose maps :func:`grad_cam` reads by default.

    Selvaraju et al. (2017) weight "the feature maps of the last convolutional layer"; in
    their networks (VGG-16's ``relu5_3``) and in the course's, those are read after the
    activation that follows the convolution, not before it. The rule, found by one forward
    pass (eval mode, no gradients) with hooks on every leaf module: start at the last
    convolution to run, then follow the modules that run after it while their output is
    still ``(N, C, h, w)`` with that convolution's ``h x w`` (batch norm, ReLU, dropout);
    the last of them is the layer. A pooling, flattening or linear layer ends the walk. For
    ``plain_cnn`` it is the ReLU after the last convolution (``"features.7"``); for a model
    whose activation is a function call rather than a module, the convolution (or its
    normalization) itself: name the layer then.

    Args:
        model: any ``nn.Module`` with a convolution.
        x: images ``(N, C, H, W)`` that the model takes (one is enough).
    """
    _check_model(model)
    _check_images(model, x)
    leaves = {name: m for name, m in model.named_modules()
              if name and next(iter(m.children()), None) is None}
    order: list[tuple[str, tuple]] = []  # (name, output shape) in the order they run

    def make_hook(name):
        def hook(module, inputs, output):
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else ()
            order.append((name, shape))
        return hook

    handles = [m.register_forward_hook(make_hook(name)) for name, m in leaves.items()]
    try:
        with _eval_mode(model), torch.no_grad():
            _forward(model, x[:1])
    finally:
        for h in handles:
            h.remove()
    conv_runs = [i for i, (name, _) in enumerate(order)
                 if isinstance(leaves[name], nn.modules.conv._ConvNd)]
    if not conv_runs:
        raise ValueError(f"{type(model).__name__} runs no convolution; name the layer")
    start = conv_runs[-1]
    name, shape = order[start]
    if len(shape) != 4:
        raise ValueError(f"the last convolution {name!r} outputs shape {shape}, not maps "
                         "(N, C, h, w); name the layer")
    chosen = name
    for next_name, next_shape in order[start + 1:]:
        if len(next_shape) != 4 or next_shape[-2:] != shape[-2:]:
            break
        chosen = next_name
    return chosen


def grad_cam(model: nn.Module, x: torch.Tensor, target=None, layer: str | None = None, *,
             upsample: bool = True) -> torch.Tensor:
    """Grad-CAM maps of Selvaraju et al. (2017, https://arxiv.org/abs/1610.02391).

    With ``A`` the output of ``layer`` (``C`` maps of ``h x w``) and ``y`` the score of class
    ``target`` (the logit, before the softmax), each map gets the weight
    ``alpha_k = mean over positions of dy/dA_k``, and the map is
    ``ReLU(sum_k alpha_k A_k)``, bilinearly resized to the input's ``H x W``.

    Args:
        model: any classifier returning logits ``(N, classes)``.
        x: images ``(N, C, H, W)``.
        target: a class index, one per image, or None for the predicted class.
        layer: a module name with a ``(N, C, h, w)`` output; default: the maps of the last
            convolutional layer as Selvaraju et al. use them, i.e. after the layers that act
            on them position by position (normalization, activation): the last module run
            after the last convolution whose output keeps that convolution's ``h x w``
            (:func:`grad_cam_layer`), e.g. the ReLU after it. Name the convolution itself
            for its maps before the activation.
        upsample: resize to ``H x W`` (else return the ``h x w`` maps).

    Returns:
        ``(N, H, W)`` (or ``(N, h, w)``), non-negative. The model runs in eval mode; its
        parameters' ``.grad`` are left untouched.
    """
    _check_model(model)
    if layer is None:
        layer = grad_cam_layer(model, x)
    if not isinstance(layer, str):
        raise TypeError(f"layer must be one layer name, got {layer!r}")
    modules = _layers(model, layer)
    _check_images(model, x)
    with _eval_mode(model):
        scores, _, outputs = _class_scores(model, x.detach(), target, modules)
        if layer not in outputs:
            raise ValueError(f"layer {layer!r} did not run in the forward pass")
        a = outputs[layer]
        if a.ndim != 4:
            raise ValueError(f"Grad-CAM needs maps (N, C, h, w) from the layer, but {layer!r} "
                             f"outputs shape {tuple(a.shape)}")
        if not a.requires_grad:
            raise ValueError(f"the class score does not depend on layer {layer!r} through autograd")
        (grad,) = torch.autograd.grad(scores.sum(), a)
    alpha = grad.mean(dim=(2, 3), keepdim=True)  # (N, C, 1, 1)
    cam = F.relu((alpha * a.detach()).sum(dim=1))  # (N, h, w)
    if upsample and cam.shape[-2:] != x.shape[-2:]:
        cam = F.interpolate(cam[:, None], size=x.shape[-2:], mode="bilinear",
                            align_corners=False)[:, 0]
    return cam.clamp(min=0)  # the interpolation of non-negative values stays >= 0, up to rounding


def _ranks(v: torch.Tensor) -> torch.Tensor:
    # Tied values share their mean rank (Grad-CAM maps have many exact zeros).
    _, inverse, counts = torch.unique(v, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    return ((ends - counts.double() + ends - 1) / 2)[inverse]


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman's rank correlation between ``a[i]`` and ``b[i]`` for each ``i``.

    Each example (all dimensions but the first) is flattened; tied values get their mean
    rank. 1: the same order of importance, 0: unrelated, -1: reversed. An example whose
    map is constant has no ranking: NaN. Adebayo et al. (2018) compare saliency maps of a
    trained and a randomized network this way.

    Returns:
        ``(N,)`` float64.
    """
    for name, t in (("a", a), ("b", b)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a tensor, got {type(t).__name__}")
    if a.shape != b.shape or a.ndim < 2 or a[0].numel() < 2:
        raise ValueError(f"a and b must have the same shape (N, ...) with at least 2 values per "
                         f"example, got {tuple(a.shape)} and {tuple(b.shape)}")
    a, b = a.detach().flatten(1).cpu(), b.detach().flatten(1).cpu()
    out = []
    for u, v in zip(a, b):
        ru, rv = _ranks(u), _ranks(v)
        ru, rv = ru - ru.mean(), rv - rv.mean()
        denom = ru.norm() * rv.norm()
        out.append(ru @ rv / denom if denom > 0 else torch.tensor(float("nan"), dtype=torch.float64))
    return torch.stack(out)
