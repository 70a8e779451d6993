"""Ready-made :class:`~cnnlib.train.Trainer` hooks."""
from __future__ import annotations

import math
import numbers

import torch

from ._checks import check_int

__all__ = ["GradNormLogger", "EarlyStopping"]


def _check_count(name: str, value) -> None:
    # every=2.5 or patience=nan would run without an error and log or stop at the wrong time.
    check_int(name, value, 1)


class GradNormLogger:
    """Records the L2 norm of each parameter's gradient, every ``every`` steps.

    Norms are kept on the device and read once per epoch, so logging costs no per-step sync.
    After training, ``norms[name]`` is a list of floats, ``steps`` the matching steps.

    Usage: ``Trainer(model, cfg, hooks=GradNormLogger().hooks())``.
    """

    def __init__(self, every: int = 1, weights_only: bool = True):
        _check_count("every", every)
        if not isinstance(weights_only, bool):  # "no" is truthy: it would log weights only
            raise TypeError(f"weights_only must be True or False, got {weights_only!r}")
        self.every, self.weights_only = every, weights_only
        self.norms: dict[str, list[float]] = {}
        self.steps: list[int] = []
        self._buffer: list[torch.Tensor] = []
        self._names: list[str] | None = None

    def hooks(self) -> dict:
        return {"after_backward": self.after_backward, "on_epoch_end": self.flush}

    def after_backward(self, trainer, step: int) -> None:
        if step % self.every:
            return
        named = [(n, p) for n, p in trainer.model.named_parameters()
                 if p.grad is not None and (not self.weights_only or n.endswith("weight"))]
        if self._names is None:
            self._names = [n for n, _ in named]
            self.norms = {n: [] for n in self._names}
        self._buffer.append(torch.stack([p.grad.detach().float().norm() for _, p in named]))
        self.steps.append(step)

    def flush(self, trainer=None, *args) -> None:
        if not self._buffer:
            return
        values = torch.stack(self._buffer).cpu().tolist()  # one sync for the whole epoch
        for row in values:
            for name, v in zip(self._names, row):
                self.norms[name].append(v)
        self._buffer = []


class EarlyStopping:
    """Stops ``fit`` when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    def __init__(self, monitor: str = "val_loss", patience: int = 3, min_delta: float = 0.0):
        _check_count("patience", patience)
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a metric name such as 'val_loss' or 'val_acc', got "
                            f"{monitor!r} ({type(monitor).__name__})")
        # A negative min_delta counts a worse epoch as progress; NaN or inf never sees one.
        if isinstance(min_delta, bool) or not isinstance(min_delta, numbers.Real):
            raise TypeError(f"min_delta must be a number >= 0, got {min_delta!r} ({type(min_delta).__name__})")
        if not math.isfinite(min_delta) or min_delta < 0:
            raise ValueError(f"min_delta must be a finite number >= 0 (the smallest change that counts "
                             f"as an improvement), got {min_delta}")
        if not monitor.endswith(("loss", "acc")):
            raise ValueError(f"monitor must be a loss or an accuracy key, got {monitor!r}")
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.mode = "min" if monitor.endswith("loss") else "max"
        self.best = math.inf if self.mode == "min" else -math.inf
        self.bad_epochs = 0

    def hooks(self) -> dict:
        return {"on_epoch_end": self.on_epoch_end}

    def on_epoch_end(self, trainer, epoch: int, metrics: dict) -> None:
        if self.monitor not in metrics:
            raise KeyError(f"EarlyStopping monitors {self.monitor!r} but the epoch metrics are "
                           f"{sorted(metrics)}; pass a val_loader to fit() to get val_* metrics")
        value = metrics[self.monitor]
        better = value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta
        if better:
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs >= self.patience:
                trainer.stop_training = True
