"""Run profiles: one knob that sizes every notebook and example.

``CNNLIB_PROFILE`` selects how much work a run does:

- ``smoke``: a few batches, to check that the code runs (CI, nbval).
- ``cpu``: real but small runs that fit a laptop CPU (subsets, small inputs); the book's
  stored outputs come from this profile.
- ``gpu``: the full-size runs, for Colab or any CUDA machine.

Without the variable, the profile is ``gpu`` when CUDA is available, else ``cpu``.
"""
from __future__ import annotations

import os
import platform
import sys
from typing import TypeVar

import torch

from .device import device_name, get_device

__all__ = ["PROFILES", "ENV_VAR", "current_profile", "choose", "describe_run"]

PROFILES = ("smoke", "cpu", "gpu")
ENV_VAR = "CNNLIB_PROFILE"

T = TypeVar("T")


def current_profile() -> str:
    """The active profile: ``$CNNLIB_PROFILE`` if set, else ``gpu`` with CUDA, else ``cpu``."""
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if not value:
        return "gpu" if torch.cuda.is_available() else "cpu"
    if value not in PROFILES:
        raise ValueError(
            f"{ENV_VAR}={os.environ[ENV_VAR]!r} is not a profile; use one of {', '.join(PROFILES)}"
        )
    return value


def choose(*, smoke: T, cpu: T, gpu: T, profile: str | None = None) -> T:
    """Return the value given for the active profile (or for ``profile``)."""
    profile = current_profile() if profile is None else profile
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}")
    return {"smoke": smoke, "cpu": cpu, "gpu": gpu}[profile]


def describe_run(device: torch.device | str | None = None) -> str:
    """Two lines naming the profile, device and versions that produce a page's outputs."""
    from . import __version__

    device = get_device(device)
    return (
        f"profile={current_profile()} | device={device}: {device_name(device)}\n"
        f"torch {torch.__version__} | cnnlib {__version__} | "
        f"Python {platform.python_version()} on {sys.platform}"
    )
