"""Classification metrics computed from logits or predicted labels."""
from __future__ import annotations

import torch

__all__ = ["confusion_matrix", "most_confused"]


def confusion_matrix(preds: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``cm[i, j]`` = number of examples of true class ``i`` predicted as ``j``.

    ``preds`` may be predicted labels (N,) or logits (N, num_classes).
    """
    preds, labels = torch.as_tensor(preds), torch.as_tensor(labels)
    if preds.ndim == 2:
        preds = preds.argmax(dim=1)
    if preds.shape != labels.shape or preds.ndim != 1:
        raise ValueError(f"preds and labels must be matching 1-D tensors, got {tuple(preds.shape)} "
                         f"and {tuple(labels.shape)}")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes or preds.min() < 0
                        or preds.max() >= num_classes):
        raise ValueError(f"labels and predictions must lie in [0, {num_classes})")
    flat = labels.long() * num_classes + preds.long()
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def most_confused(cm: torch.Tensor, class_names=None, k: int = 5) -> list[tuple[str, str, int]]:
    """The ``k`` largest off-diagonal entries as (true class, predicted class, count)."""
    cm = torch.as_tensor(cm)
    off = cm.clone()
    off.fill_diagonal_(0)
    values, flat = off.flatten().topk(min(k, off.numel()))
    names = class_names or [str(i) for i in range(cm.shape[0])]
    n = cm.shape[0]
    return [(names[int(i) // n], names[int(i) % n], int(v)) for v, i in zip(values, flat) if v > 0]
