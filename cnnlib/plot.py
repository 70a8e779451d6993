"""Figures used across the book: training curves, image grids, confusion matrices,
architecture diagrams, and what a network computes (filters, feature maps, heat maps).

Every function returns the matplotlib Figure and gives it a title and labelled axes.
"""
from __future__ import annotations

import math
import numbers
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .metrics import _as_tensor, _check_class_names, _check_counts, _check_int

__all__ = ["plot_history", "show_images", "plot_confusion_matrix", "plot_architecture",
           "animation_html", "plot_filters", "plot_feature_maps", "plot_heatmaps"]

_CURVES = ("train_loss", "train_acc", "val_loss", "val_acc")  # each one value per epoch


def _is_history(obj) -> bool:
    return isinstance(obj, Mapping) and "train_loss" in obj


def _check_history(label: str, h: Mapping) -> None:
    # Named here, so that a bad history is not reported as matplotlib's "x and y must have
    # same first dimension" or a bare KeyError.
    which = f"history {label!r}" if label else "the history"
    missing = [k for k in ("epoch", *_CURVES) if k not in h]
    if missing:
        raise ValueError(f"{which} lacks {missing}; pass the dict returned by Trainer.fit, which has "
                         f"'epoch', {', '.join(map(repr, _CURVES))} (NaN for epochs without validation)")
    for key in ("epoch", *_CURVES):
        try:
            values = np.asarray(h[key])
        except (TypeError, ValueError):  # ragged, or a tensor on a GPU
            values = np.asarray(None)
        if values.ndim != 1 or values.dtype.kind not in "biuf":
            raise ValueError(f"{which}: {key!r} must be a list of numbers (NaN for a missing value), "
                             f"got {h[key]!r}")
        if len(values) != len(h["epoch"]):
            raise ValueError(f"{which}: {key!r} has {len(values)} values for {len(h['epoch'])} epochs; "
                             "every curve needs one value per epoch")


def _check_positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number > 0, got {value!r} ({type(value).__name__})")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")


def _check_strings(name: str, values, n: int) -> None:
    # A str is a sequence too: "cat" would label three images 'c', 'a' and 't'.
    if isinstance(values, str) or not hasattr(values, "__len__"):
        raise TypeError(f"{name} must be a list with one entry per image, got {values!r}")
    if len(values) != n:
        raise ValueError(f"got {len(values)} {name} for {n} images")


def plot_history(histories, title: str = "Training curves"):
    """Loss (left) and accuracy (right) per epoch for one history or ``{label: history}``.

    A history is the dict returned by :meth:`cnnlib.train.Trainer.fit`.
    """
    if _is_history(histories):
        histories = {"": histories}
    if not isinstance(histories, Mapping) or not histories or not all(map(_is_history, histories.values())):
        raise TypeError("pass a history from Trainer.fit or a dict {label: history}")
    for label, h in histories.items():
        _check_history(label, h)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, (label, h) in enumerate(histories.items()):
        color = f"C{i}"
        prefix = f"{label} " if label else ""
        epochs = h["epoch"]
        ax_loss.plot(epochs, h["train_loss"], "-", color=color, label=f"{prefix}train")
        ax_acc.plot(epochs, [100 * a for a in h["train_acc"]], "-", color=color,
                    label=f"{prefix}train")
        if not all(np.isnan(h["val_loss"])):
            # val_*: whatever loader fit() evaluated on (the validation split, as it should be)
            ax_loss.plot(epochs, h["val_loss"], "--", color=color, label=f"{prefix}val")
            ax_acc.plot(epochs, [100 * a for a in h["val_acc"]], "--", color=color,
                        label=f"{prefix}val")
    ax_loss.set(title="Cross-entropy loss", xlabel="epoch", ylabel="loss")
    ax_acc.set(title="Accuracy", xlabel="epoch", ylabel="accuracy (%)")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_images(images, labels: Sequence[str] | None = None, *, ncols: int = 8,
                title: str = "Images", scale: float = 1.3, colors: Sequence[str] | None = None):
    """A grid of grayscale or RGB images ((N, H, W), (N, 1, H, W) or (N, 3, H, W)).

    ``labels`` are printed above each image, in ``colors`` if given (e.g. red for mistakes).
    """
    images = _as_tensor("images", images).detach().cpu()
    _check_int("ncols", ncols, 1)
    _check_positive("scale", scale)
    if images.ndim == 4 and images.shape[1] not in (1, 3) and images.shape[-1] not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, got shape {tuple(images.shape)}")
    if images.ndim == 4 and images.shape[1] in (1, 3):
        images = images.permute(0, 2, 3, 1)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4) or len(images) == 0:
        raise ValueError(f"expected a non-empty batch of images, got shape {tuple(images.shape)}")
    if labels is not None:
        _check_strings("labels", labels, len(images))
    if colors is not None:
        if labels is None:
            raise ValueError("colors are the colors of the labels: pass labels too")
        _check_strings("colors", colors, len(images))
    n = len(images)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    # Room above each row for its titles, so that two-line titles do not cover the row above.
    lines = max((label.count("\n") + 1 for label in labels), default=0) if labels is not None else 0
    fig, axes = plt.subplots(nrows, ncols, squeeze=False,
                             figsize=(scale * ncols, nrows * (scale + 0.2 * lines) + 0.6))
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i].float().numpy(), cmap="gray" if images.ndim == 3 else None)
        if labels is not None:
            ax.set_title(labels[i], fontsize=8, color=colors[i] if colors else "black")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(cm, class_names: Sequence[str], title: str = "Confusion matrix",
                          normalize: bool = True):
    """Heat map of a confusion matrix (rows: true class, columns: predicted class).

    With ``normalize`` each row is divided by its total, so the diagonal is per-class recall;
    the cells show whole percents (empty: none, <1: under one percent). The colour scale covers the off-diagonal cells (the
    mistakes), the diagonal is drawn grey with bold numbers.
    """
    cm = _as_tensor("cm", cm)
    _check_class_names(class_names)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] != len(class_names):
        raise ValueError(f"cm must be square with one row per class name, got {tuple(cm.shape)} "
                         f"for {len(class_names)} names")
    if not len(class_names):
        raise ValueError("cm is empty (0 classes): there is nothing to plot")
    _check_counts(cm)
    if not isinstance(normalize, bool):  # "no" is truthy: it would normalize
        raise TypeError(f"normalize must be True or False, got {normalize!r}")
    cm = cm.double()
    values = cm / cm.sum(dim=1, keepdim=True).clamp(min=1) if normalize else cm
    n = len(class_names)
    diagonal = torch.eye(n, dtype=torch.bool)
    # The colours show the mistakes: their scale ends at the largest off-diagonal cell, and
    # the diagonal (correct predictions), which would otherwise take the whole scale, is
    # drawn grey on top with its number in bold.
    top = float(values.masked_fill(diagonal, 0).max()) or 1.0
    fig, ax = plt.subplots(figsize=(7.5, 6.4))
    im = ax.imshow(values.numpy(), cmap="Reds", vmin=0, vmax=top)
    ax.imshow(np.ma.masked_where(~diagonal.numpy(), np.ones((n, n))), cmap="Greys", vmin=0,
              vmax=5)
    ax.set(xticks=range(n), yticks=range(n),
           xlabel="predicted class", ylabel="true class", title=title)
    ax.set_xticklabels(class_names, rotation=45, ha="right", fontsize=9)
    ax.set_yticklabels(class_names, fontsize=9)
    for i in range(n):
        for j in range(n):
            v = float(values[i, j])
            if normalize:
                text = "" if v == 0 else "<1" if 100 * v < 1 else f"{100 * v:.0f}"
            else:
                text = f"{int(v)}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8.5,
                    fontweight="bold" if i == j else "normal",
                    color="white" if i != j and v > top / 2 else "black")
    fig.colorbar(im, ax=ax, label=("percent of the true class, off the diagonal" if normalize
                                   else "count, off the diagonal"),
                 format=(lambda x, _: f"{100 * x:.0f}") if normalize else None)
    fig.tight_layout()
    return fig


# --- architecture diagrams ------------------------------------------------------------

# Layers that keep the shape and do no multiply-adds are written under the arrow of the
# layer before them ("conv 5x5 + sigmoid") instead of getting a box of their own.
_SHORT_NAMES = {"ReLU": "ReLU", "Sigmoid": "sigmoid", "Tanh": "tanh", "GELU": "GELU",
                "SiLU": "SiLU", "LeakyReLU": "leaky ReLU", "ELU": "ELU", "ReLU6": "ReLU6",
                "Hardswish": "h-swish", "BatchNorm1d": "BN", "BatchNorm2d": "BN",
                "Dropout": "dropout", "LocalResponseNorm": "LRN"}


def _pair_text(value) -> str:
    value = value if isinstance(value, tuple) else (value, value)
    return f"{value[0]}" if len(set(value)) == 1 else "x".join(map(str, value))


def _operation(module, output_shape) -> str:
    """A short name for what ``module`` does, e.g. 'conv 5x5, pad 2' or 'max pool 2x2, /2'."""
    from torch import nn

    if isinstance(module, nn.Conv2d):
        k = module.kernel_size
        text = f"conv {k[0]}x{k[1]}"
        extras = []
        if module.stride != (1, 1):
            extras.append(f"stride {_pair_text(module.stride)}")
        if isinstance(module.padding, str):
            extras.append(f"pad {module.padding}")
        elif module.padding != (0, 0):
            extras.append(f"pad {_pair_text(module.padding)}")
        if module.groups != 1:
            extras.append("depthwise" if module.groups == module.in_channels else
                          f"groups {module.groups}")
        return ", ".join([text, *extras])
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        kind = "max" if isinstance(module, nn.MaxPool2d) else "avg"
        k, s = _pair_text(module.kernel_size), _pair_text(module.stride)
        return f"{kind} pool {k}x{k}, stride {s}"
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        kind = "avg" if isinstance(module, nn.AdaptiveAvgPool2d) else "max"
        if tuple(output_shape[-2:]) == (1, 1):
            return f"global {kind} pool"
        return f"adaptive {kind} pool"
    if isinstance(module, nn.Linear):
        return "dense"
    if isinstance(module, nn.Flatten) or type(module).__name__ == "Flatten":
        return "flatten"
    return type(module).__name__


def _stages(model, summary):
    # [(operation text, output shape)], one per layer that changes the shape or computes.
    stages = [("input", tuple(summary.input_shape))]
    for layer in summary.layers:
        module = model.get_submodule(layer.name)
        shape = tuple(layer.output_shape)
        folds = layer.macs == 0 and shape == stages[-1][1] and len(stages) > 1 and \
            not layer.kind.endswith(("Pool2d", "Flatten"))
        if folds:
            op, prev_shape = stages[-1]
            stages[-1] = (f"{op} + {_SHORT_NAMES.get(layer.kind, layer.kind)}", prev_shape)
        else:
            stages.append((_operation(module, shape), shape))
    return stages


def plot_architecture(model, input_shape, title: str | None = None, *, scale: float = 1.0):
    """A left-to-right diagram of ``model``: one block per feature map or vector it computes.

    Feature maps ``(C, H, W)`` are drawn as stacks of sheets (height proportional to H,
    more sheets for more channels) labelled ``C @ HxW``; vectors as bars labelled with their
    length. The arrow into each block names the layer that made it, with the activation and
    normalization that follow it (``conv 5x5, pad 2 + sigmoid``). Shapes come from running
    one example through the model (:func:`cnnlib.inspect.summarize`), so the picture cannot
    disagree with the code.

    Args:
        model: any ``nn.Module`` whose leaf layers run in a chain.
        input_shape: one example's shape, e.g. ``(1, 28, 28)``.
        title: the figure's title (default: the model's class name).
        scale: enlarges (> 1) or shrinks the figure.
    """
    from matplotlib.patches import FancyArrowPatch, Rectangle
    from torch import nn

    from .inspect import summarize

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    _check_positive("scale", scale)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str, got {title!r}")
    summary = summarize(model, input_shape)
    stages = _stages(model, summary)
    if len(stages) > 40:
        raise ValueError(f"{type(model).__name__} has {len(stages) - 1} stages; a diagram of more "
                         "than 40 is unreadable: draw a part of it (e.g. model.features)")
    maps = [s for _, s in stages if len(s) == 3]
    vectors = [s[0] for _, s in stages if len(s) == 1]
    max_side = max((s[1] for s in maps), default=1)
    max_channels = max((s[0] for s in maps), default=1)
    max_len = max(vectors, default=1)

    step, height = 2.2, 1.6  # centre-to-centre distance; the tallest block's height
    fig, ax = plt.subplots(figsize=(scale * (1.15 * len(stages) + 0.4), scale * 2.6))
    blocks = []  # (x, half width, patches to draw, label)
    for i, (op, shape) in enumerate(stages):
        x = i * step
        if len(shape) == 3:
            c, h, w = shape
            box_h = max(0.2, height * h / max_side)
            box_w = max(0.2, box_h * w / h)
            sheets = 1 + round(5 * math.log(c) / math.log(max_channels)) if max_channels > 1 else 1
            offset = 0.06
            for j in reversed(range(sheets)):
                ax.add_patch(Rectangle((x - box_w / 2 - offset * (sheets - 1) / 2 + offset * j,
                                        -box_h / 2 + offset * j), box_w, box_h,
                                       facecolor=plt.cm.Blues(0.2 + 0.08 * j), edgecolor="0.2",
                                       linewidth=0.8))
            half = box_w / 2 + offset * (sheets - 1) / 2
            label = f"{c} @ {h}x{w}"
        elif len(shape) == 1:
            box_h = max(0.2, height * math.sqrt(shape[0] / max_len))
            ax.add_patch(Rectangle((x - 0.07, -box_h / 2), 0.14, box_h,
                                   facecolor=plt.cm.Oranges(0.45), edgecolor="0.2", linewidth=0.8))
            half = 0.07
            label = f"{shape[0]:,}"
        else:
            raise ValueError(f"cannot draw an output of shape {shape} (after '{op}'); "
                             "plot_architecture draws (C, H, W) maps and vectors")
        ax.text(x, -height / 2 - 0.25, label, ha="center", va="top", fontsize=9)
        if i > 0:
            prev_x, prev_half = blocks[-1]
            ax.add_patch(FancyArrowPatch((prev_x + prev_half + 0.08, 0), (x - half - 0.08, 0),
                                         arrowstyle="-|>", mutation_scale=10, color="0.3"))
            # Alternate the heights of the labels so that long neighbours do not collide.
            ax.text((prev_x + x) / 2, height / 2 + (0.2 if i % 2 else 0.85),
                    op.replace(" + ", "\n+ "), ha="center", va="bottom", fontsize=8, color="0.15")
        blocks.append((x, half))
    ax.set_xlim(-step / 2, (len(stages) - 1) * step + step / 2)
    ax.set_ylim(-height / 2 - 0.7, height / 2 + 1.7)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title if title is not None else type(model).__name__)
    fig.tight_layout()
    return fig


# --- animations that play on the static website --------------------------------------

# Text for the player's buttons, by the Font Awesome icon that matplotlib gives each one.
_BUTTON_LABELS = {"minus": "&minus;", "fast-backward": "|&lt;", "step-backward": "&lt;",
                  "play fa-flip-horizontal": "&#9664;", "pause": "||", "play": "&#9654;",
                  "step-forward": "&gt;", "fast-forward": "&gt;|", "plus": "+"}


def animation_html(anim, anim_id: str, default_mode: str = "loop") -> str:
    """A matplotlib animation as a self-contained HTML player that works offline.

    ``anim.to_jshtml()`` embeds every frame as a PNG, but three things stop it from being
    stored in a notebook that a static website shows: its elements are named after a
    random ``uuid4`` (so re-running the notebook changes the stored output), its buttons
    draw their icons with Font Awesome linked from a CDN (blank buttons offline), and each
    frame's base64 text is split into lines. This fixes all three: the id is ``anim_id``,
    the buttons are labelled with plain characters, and each frame is one line.

    Args:
        anim: a ``matplotlib.animation.Animation`` (e.g. a ``FuncAnimation``); keep its
            frames few and its figure small, since all of them are embedded.
        anim_id: the player's fixed element id: letters, digits and underscores, unique
            on the page.
        default_mode: ``"loop"``, ``"once"`` or ``"reflect"``, as in ``to_jshtml``.
    """
    import re

    from matplotlib.animation import Animation

    if not isinstance(anim, Animation):
        raise TypeError(f"anim must be a matplotlib Animation such as a FuncAnimation, got "
                        f"{type(anim).__name__}")
    if not isinstance(anim_id, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", anim_id):
        raise ValueError(f"anim_id must be letters, digits and underscores, starting with a "
                         f"letter, such as 'conv_stride'; got {anim_id!r}")
    if default_mode not in ("loop", "once", "reflect"):
        raise ValueError(f"default_mode must be 'loop', 'once' or 'reflect', got {default_mode!r}")
    html = anim.to_jshtml(default_mode=default_mode)
    found = set(re.findall(r'_anim_img([0-9a-f]{32})"', html))
    if len(found) != 1:
        raise RuntimeError("this matplotlib's to_jshtml output has no single random element id "
                           "to replace; cnnlib.plot.animation_html needs updating for it")
    random_id = found.pop()
    html = html.replace(random_id, anim_id)
    html = re.sub(r'<link rel="stylesheet"\s+href="https?://[^"]*">\s*', "", html)
    html = re.sub(r'<i class="fa fa-([^"]+)"></i>',
                  lambda icon: _BUTTON_LABELS.get(icon.group(1), icon.group(1)), html)
    html = html.replace("\\\n", "")
    if re.search(r'(src|href)="(https?:)?//', html) or "fa fa-" in html:
        raise RuntimeError("the player still loads something from the network; "
                           "cnnlib.plot.animation_html needs updating for this matplotlib")
    return html


# --- inside a trained network ------------------------------------------------------------


def _grid(n: int, ncols: int, scale: float, extra_height: float = 0.6):
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    # constrained layout keeps the titles and the shared colour bar apart
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, layout="constrained",
                             figsize=(scale * ncols + 0.9, nrows * (scale + 0.25) + extra_height))
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, axes


def plot_filters(weights, *, title: str = "First-layer filters", ncols: int = 8,
                 scale: float = 1.0):
    """The filters of a convolution as small images, one per output channel.

    Args:
        weights: a convolution's weight ``(C_out, C_in, K_h, K_w)`` with ``C_in`` 1 or 3, an
            ``nn.Conv2d``, or a model (its first convolution, by
            :func:`cnnlib.inspect.conv_layer_names`).
        title: the figure's title.
        ncols: filters per row.
        scale: size of one filter's panel, in inches.

    One-channel filters share one diverging colour scale centred on 0 (red positive, blue
    negative), with a colour bar, so that the filters can be compared with each other.
    Three-channel filters are drawn as RGB images, all scaled by one common factor to [0, 1]
    (0.5: weight 0).
    """
    from torch import nn

    from .inspect import conv_layer_names

    if isinstance(weights, nn.Module) and not isinstance(weights, nn.Conv2d):
        names = conv_layer_names(weights)
        if not names:
            raise ValueError(f"{type(weights).__name__} has no convolution layer")
        weights = weights.get_submodule(names[0])
    if isinstance(weights, nn.Conv2d):
        weights = weights.weight
    w = _as_tensor("weights", weights).detach().float().cpu()
    _check_int("ncols", ncols, 1)
    _check_positive("scale", scale)
    if w.ndim != 4 or w.shape[1] not in (1, 3) or 0 in w.shape:
        raise ValueError(f"weights must be (C_out, C_in, K_h, K_w) with C_in 1 or 3 (a first "
                         f"layer), got shape {tuple(w.shape)}")
    n = w.shape[0]
    fig, axes = _grid(n, ncols, scale)
    top = float(w.abs().max()) or 1.0
    for i in range(n):
        ax = axes.flat[i]
        if w.shape[1] == 1:
            im = ax.imshow(w[i, 0].numpy(), cmap="RdBu_r", vmin=-top, vmax=top)
        else:
            ax.imshow((0.5 + 0.5 * w[i].permute(1, 2, 0) / top).clamp(0, 1).numpy())
        ax.set_title(f"filter {i}", fontsize=8)
    if w.shape[1] == 1:
        fig.colorbar(im, ax=axes.ravel().tolist(), label="weight", shrink=0.8)
    fig.suptitle(f"{title}\n({n} filters of {w.shape[2]}x{w.shape[3]} pixels)")
    return fig


def plot_feature_maps(maps, *, index: int = 0, channels: int = 8, title: str = "Feature maps",
                      scale: float = 1.2):
    """The first ``channels`` maps of one image at each layer: one row per layer.

    Args:
        maps: ``{layer name: (N, C, H, W) tensor}``, as returned by
            :func:`cnnlib.inspect.feature_maps`.
        index: which image of the batch.
        channels: maps per layer (the first ones).
        title: the figure's title.
        scale: size of one map's panel, in inches.

    Each row has its own colour scale (the layers' values differ in size), shown by its
    colour bar; within a row the maps are comparable.
    """
    if not isinstance(maps, Mapping) or not maps:
        raise TypeError("maps must be a non-empty dict {layer name: (N, C, H, W) tensor}, as "
                        "returned by cnnlib.inspect.feature_maps")
    _check_int("index", index, 0)
    _check_int("channels", channels, 1)
    _check_positive("scale", scale)
    tensors = {}
    for name, t in maps.items():
        t = _as_tensor(f"maps[{name!r}]", t).detach().float().cpu()
        if t.ndim != 4:
            raise ValueError(f"maps[{name!r}] must be (N, C, H, W), got shape {tuple(t.shape)}")
        if index >= t.shape[0]:
            raise ValueError(f"index {index} is out of range: maps[{name!r}] holds {t.shape[0]} images")
        tensors[name] = t[index, :channels]
    ncols = max(len(t) for t in tensors.values())
    fig, axes = plt.subplots(len(tensors), ncols, squeeze=False, layout="constrained",
                             figsize=(scale * ncols + 1.2, len(tensors) * (scale + 0.35) + 0.7))
    for row, (name, t) in zip(axes, tensors.items()):
        low, high = float(t.min()), float(t.max())
        for c, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(t):
                ax.axis("off")
                continue
            im = ax.imshow(t[c].numpy(), cmap="viridis", vmin=low, vmax=high)
            ax.set_title(f"channel {c}", fontsize=8)
        row[0].set_ylabel(f"{name}\n{t.shape[1]}x{t.shape[2]}", fontsize=8)
        fig.colorbar(im, ax=list(row), label="activation", shrink=0.9, pad=0.01)
    fig.suptitle(title)
    return fig


def plot_heatmaps(images, maps, labels: Sequence[str] | None = None, *,
                  title: str = "Heat maps", ncols: int = 6, alpha: float = 0.55,
                  scale: float = 1.6, colors: Sequence[str] | None = None):
    """Grayscale images with a heat map (saliency, Grad-CAM) drawn over each.

    Args:
        images: ``(N, 1, H, W)`` or ``(N, H, W)``.
        maps: ``(N, H, W)``, non-negative, e.g. from :func:`cnnlib.inspect.saliency` or
            :func:`cnnlib.inspect.grad_cam`.
        labels: a title per image (e.g. true and predicted class), in ``colors`` if given.
        title: the figure's title.
        ncols: images per row.
        alpha: opacity of the heat map.
        scale: size of one panel, in inches.

    Each map is divided by its own maximum, so the colour bar reads "fraction of this
    image's largest value": the maps show where, not how much compared with other images.
    """
    images = _as_tensor("images", images).detach().float().cpu()
    maps = _as_tensor("maps", maps).detach().float().cpu()
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"images must be (N, 1, H, W) or (N, H, W), got shape {tuple(images.shape)}")
    if maps.shape != images.shape:
        raise ValueError(f"maps must be (N, H, W) like the images {tuple(images.shape)}, got "
                         f"{tuple(maps.shape)}")
    if not torch.isfinite(maps).all() or (maps < 0).any():
        raise ValueError("maps must be finite and non-negative (saliency and Grad-CAM are)")
    _check_int("ncols", ncols, 1)
    _check_positive("scale", scale)
    if not (isinstance(alpha, numbers.Real) and 0 <= alpha <= 1):
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    n = len(images)
    if labels is not None:
        _check_strings("labels", labels, n)
    if colors is not None:
        if labels is None:
            raise ValueError("colors are the colors of the labels: pass labels too")
        _check_strings("colors", colors, n)
    lines = max((label.count("\n") + 1 for label in labels), default=0) if labels is not None else 0
    fig, axes = _grid(n, ncols, scale, extra_height=0.6 + 0.2 * lines * -(-n // min(ncols, n)))
    top = maps.flatten(1).amax(1).clamp(min=1e-12)
    for i in range(n):
        ax = axes.flat[i]
        ax.imshow(images[i].numpy(), cmap="gray")
        im = ax.imshow((maps[i] / top[i]).numpy(), cmap="jet", alpha=alpha, vmin=0, vmax=1)
        if labels is not None:
            ax.set_title(labels[i], fontsize=8, color=colors[i] if colors else "black")
    fig.colorbar(im, ax=axes.ravel().tolist(), label="fraction of the image's maximum",
                 shrink=0.8)
    fig.suptitle(title)
    return fig
