"""Classification metrics computed from logits or predicted labels."""
from __future__ import annotations


import torch

from ._checks import check_int

__all__ = ["confusion_matrix", "most_confused"]


def _as_tensor(name: str, value) -> torch.Tensor:
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{name} must be a tensor, an array or a list of numbers, got "
                        f"{type(value).__name__} ({err})") from None


def _check_int(name: str, value, minimum: int) -> None:
    check_int(name, value, minimum)


def _check_counts(cm: torch.Tensor) -> None:
    """A confusion matrix holds counts: finite, non-negative whole numbers.

    A normalized matrix (fractions) would otherwise be truncated to zero counts or
    normalized a second time, and a negative or NaN entry would be drawn as if it were data.
    """
    if cm.is_complex():
        raise TypeError(f"cm must hold counts, got dtype {cm.dtype}")
    values = cm.double()
    problem = ("NaN or infinite" if not torch.isfinite(values).all() else
               "negative" if (values < 0).any() else
               "fractional" if (values != values.round()).any() else None)
    if problem:
        raise ValueError(f"cm must hold counts (whole numbers >= 0), but some entries are {problem}; "
                         "pass the matrix of counts from confusion_matrix(), not a normalized one")


def _check_class_names(class_names, num_classes: int | None = None) -> None:
    # A str is a sequence too: "cat" would name three classes 'c', 'a' and 't'.
    if isinstance(class_names, str) or not hasattr(class_names, "__len__"):
        raise TypeError(f"class_names must be a list of names, one per class, got {class_names!r}")
    if num_classes is not None and len(class_names) != num_classes:
        raise ValueError(f"class_names has {len(class_names)} names for a {num_classes}x{num_classes} "
                         f"confusion matrix; pass one name per class")


def confusion_matrix(preds: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``cm[i, j]`` = number of examples of true class ``i`` predicted as ``j``.

    ``preds`` may be predicted labels (N,) or logits (N, num_classes).
    """
    _check_int("num_classes", num_classes, 1)
    preds, labels = _as_tensor("preds", preds), _as_tensor("labels", labels)
    if preds.ndim == 2:
        if preds.shape[1] != num_classes:
            raise ValueError(f"preds are logits for {preds.shape[1]} classes (shape {tuple(preds.shape)}), "
                             f"but num_classes={num_classes}; pass logits of shape (N, num_classes)")
        if preds.is_floating_point() and torch.isnan(preds).any():  # argmax would pick the NaN
            raise ValueError("preds (logits) contain NaN, so no prediction can be read from them; "
                             "check the model for divergence")
        preds = preds.argmax(dim=1)
    if preds.shape != labels.shape or preds.ndim != 1:
        raise ValueError(f"preds and labels must be matching 1-D tensors, got {tuple(preds.shape)} "
                         f"and {tuple(labels.shape)}")
    for name, t in (("preds", preds), ("labels", labels)):
        if t.numel() and (t.is_floating_point() or t.is_complex()):  # .long() would truncate 1.7 to 1
            raise TypeError(f"{name} must hold integer class indices, got dtype {t.dtype}; convert "
                            f"them with .long(), or pass logits of shape (N, num_classes) as preds")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes or preds.min() < 0
                        or preds.max() >= num_classes):
        raise ValueError(f"labels and predictions must lie in [0, {num_classes}), got labels in "
                         f"[{int(labels.min())}, {int(labels.max())}] and predictions in "
                         f"[{int(preds.min())}, {int(preds.max())}]")
    flat = labels.long() * num_classes + preds.long()
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def most_confused(cm: torch.Tensor, class_names=None, k: int = 5) -> list[tuple[str, str, int]]:
    """The ``k`` largest off-diagonal entries as (true class, predicted class, count)."""
    cm = _as_tensor("cm", cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be a square (C, C) confusion matrix, got shape {tuple(cm.shape)}")
    if cm.dtype == torch.bool:
        raise TypeError("cm must hold counts, got a bool tensor")
    _check_counts(cm)
    _check_int("k", k, 0)
    if class_names is not None:
        _check_class_names(class_names, cm.shape[0])
    off = cm.clone()
    off.fill_diagonal_(0)
    values, flat = off.flatten().topk(min(k, off.numel()))
    names = class_names if class_names is not None else [str(i) for i in range(cm.shape[0])]
    n = cm.shape[0]
    return [(names[int(i) // n], names[int(i) % n], int(v)) for v, i in zip(values, flat) if v > 0]
