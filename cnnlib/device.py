"""Choosing where tensors live, and making runs repeatable."""
from __future__ import annotations

import os
import platform
import random

import numpy as np
import torch

__all__ = ["get_device", "seed_everything", "device_name"]

_KINDS = ("cuda", "mps", "cpu")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def get_device(name: str | torch.device | None = None) -> torch.device:
    """Return the device to compute on.

    Args:
        name: ``None`` or ``"auto"`` picks CUDA, then Apple MPS, then CPU. Otherwise one
            of ``"cuda"``, ``"cuda:N"``, ``"mps"``, ``"cpu"`` (or a ``torch.device``); asking
            for a device this machine lacks raises instead of silently using another.
    """
    if name is None or name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"unknown device {name!r}: use 'auto', 'cuda', 'cuda:N', 'mps' or 'cpu'"
        ) from err
    if device.type not in _KINDS:
        raise ValueError(f"unsupported device type {device.type!r}: use one of {_KINDS}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                "device 'cuda' was requested but torch sees no CUDA GPU; "
                "use get_device() to fall back to what this machine has"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RuntimeError(
                f"device {name!r} requested but only {torch.cuda.device_count()} CUDA GPU(s) exist"
            )
    if device.type == "mps" and not _mps_available():
        raise RuntimeError("device 'mps' was requested but Apple MPS is not available here")
    return device


def device_name(device: torch.device | str | None = None) -> str:
    """A human-readable name of the hardware behind ``device`` (for stating where a run ran)."""
    device = get_device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return f"Apple MPS ({platform.machine()})"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"CPU {cpu}, {torch.get_num_threads()} threads ({os.cpu_count()} cores visible)"


def seed_everything(seed: int) -> int:
    """Seed Python, NumPy and PyTorch (all devices) so that a run can be repeated."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an int in [0, 2**32), got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed
