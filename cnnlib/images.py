"""Small image operations that several chapters need (shifting images by whole pixels)."""
from __future__ import annotations

import torch

from ._checks import check_int

__all__ = ["shift_images"]


def shift_images(images: torch.Tensor, dy: int, dx: int, fill: float = 0.0) -> torch.Tensor:
    """Shift images by whole pixels: down by ``dy`` and right by ``dx`` (negative: up, left).

    Pixels pushed past the border are lost and the uncovered strip is set to ``fill``
    (Fashion-MNIST's background is 0), so nothing wraps round to the other side, as it
    would with ``torch.roll``.

    Args:
        images: a tensor whose last two dimensions are height and width, e.g. ``(H, W)``,
            ``(C, H, W)`` or ``(N, C, H, W)``; any dtype.
        dy, dx: the shift in pixels; ``|dy| < H`` and ``|dx| < W``.
        fill: the value of the uncovered pixels.
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a tensor, got {type(images).__name__}")
    if images.dim() < 2:
        raise ValueError(f"images must have height and width as their last two dimensions, "
                         f"got shape {tuple(images.shape)}")
    check_int("dy", dy)
    check_int("dx", dx)
    height, width = images.shape[-2:]
    if abs(dy) >= height or abs(dx) >= width:
        raise ValueError(f"a shift of dy={dy}, dx={dx} moves a {height}x{width} image entirely "
                         f"out of view; use |dy| < {height} and |dx| < {width}")
    out = torch.full_like(images, fill)
    # Source rows [max(-dy, 0), H - max(dy, 0)) land on rows [max(dy, 0), H - max(-dy, 0)).
    out[..., max(dy, 0):height - max(-dy, 0), max(dx, 0):width - max(-dx, 0)] = \
        images[..., max(-dy, 0):height - max(dy, 0), max(-dx, 0):width - max(dx, 0)]
    return out
