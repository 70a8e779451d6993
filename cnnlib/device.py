"""Choosing where tensors live, and making runs repeatable."""
from __future__ import annotations

import ctypes
import os
import platform
import random
import sys

import numpy as np
import torch

__all__ = ["get_device", "seed_everything", "device_name", "tune_cpu_allocator"]

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
    threads, cores = torch.get_num_threads(), os.cpu_count()
    return (f"CPU {cpu}, {threads} thread{'s' if threads != 1 else ''} "
            f"({cores} core{'s' if cores != 1 else ''} visible)")


def seed_everything(seed: int) -> int:
    """Seed Python, NumPy and PyTorch (all devices) so that a run can be repeated."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an int in [0, 2**32), got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed


# mallopt(3) parameter numbers, from glibc's <malloc.h>.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_tuned_allocator: tuple[int, int] | None = None


def tune_cpu_allocator(mmap_threshold: int = 64 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Keep freed memory in the process instead of handing it back to the OS every step.

    A training step on the CPU allocates activations and gradients of a few MB each and
    frees them again. glibc's ``malloc`` serves large blocks with fresh ``mmap`` pages and
    returns them on ``free`` (its threshold adapts, but only up to a point), and gives back
    free memory at the top of the heap beyond a second threshold. Every fresh page is
    zeroed by the kernel on first touch: on the course's 2-core CI machine the classic LeNet
    (channels-last) took 1,500-2,900 page faults per step of 256 images and 3.2-4.4 s per
    epoch; with both thresholds fixed by this function, 10-30 faults per step and 2.6-2.9 s
    per epoch (3-epoch runs; same results, bit for bit). PyTorch's CPU allocator is
    ``malloc``, so this is the knob.

    The setting is process-wide and stays in force; the cost is that the process keeps up to
    ``trim_threshold`` bytes of freed memory for reuse. :class:`cnnlib.train.Trainer` calls this on
    the CPU unless ``TrainConfig(tune_allocator=False)``.

    Args:
        mmap_threshold: blocks at least this large (bytes) get their own ``mmap``.
        trim_threshold: free memory beyond this (bytes) at the heap's top goes back to the OS.

    Returns:
        ``True`` if the thresholds are in force; ``False`` where there is nothing to tune
        (not Linux with glibc: macOS, Windows, musl), which is not an error.
    """
    global _tuned_allocator
    for name, value in (("mmap_threshold", mmap_threshold), ("trim_threshold", trim_threshold)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
            raise ValueError(f"{name} must be a positive number of bytes below 2**31, got {value!r}")
    if _tuned_allocator == (mmap_threshold, trim_threshold):
        return True
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success, 0 on error.
    if not (mallopt(_M_MMAP_THRESHOLD, mmap_threshold) and mallopt(_M_TRIM_THRESHOLD, trim_threshold)):
        return False
    _tuned_allocator = (mmap_threshold, trim_threshold)
    return True
