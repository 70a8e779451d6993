"""Argument checks shared across cnnlib: one rule for what counts as an integer."""
from __future__ import annotations

import operator

__all__ = ["is_int", "check_int"]


def is_int(value) -> bool:
    """An integer that is not a bool: Python, NumPy and 0-d integer tensors count.

    ``bool`` is an ``int`` subclass, so without this rule ``resize=True`` would mean 1x1
    images and ``num_classes=True`` a one-class model; floats are refused even when whole
    (``2.0``), so that ``every=2.5`` cannot be half accepted.
    """
    if isinstance(value, bool):
        return False
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def check_int(name: str, value, minimum: int | None = None) -> None:
    """TypeError unless ``value`` is an int (see :func:`is_int`); ValueError below ``minimum``."""
    bound = f" >= {minimum}" if minimum is not None else ""
    if not is_int(value):
        raise TypeError(f"{name} must be an int{bound}, got {value!r} ({type(value).__name__})")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
