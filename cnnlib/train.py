"""The one training loop of the course: :class:`Trainer`.

Chapters never paste a loop of their own (the LeNet chapter writes one by hand once, to
explain it, and asserts that it matches this one).
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, fields
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn
from tqdm.std import tqdm  # plain-text bar: renders in stored notebook outputs, offline

from .device import get_device, tune_cpu_allocator

__all__ = ["TrainConfig", "Trainer", "HOOK_NAMES", "CHECKPOINT_FORMAT"]

HOOK_NAMES = ("on_fit_start", "on_epoch_start", "after_backward", "on_step_end",
              "on_epoch_end", "on_fit_end")
CHECKPOINT_FORMAT = 1
_OPTIMIZERS = ("sgd", "adam", "adamw")
_AMP = ("auto", "off", "bf16", "fp16")


@dataclass
class TrainConfig:
    """Everything that defines a training run besides the model and the data.

    Args:
        epochs: total number of epochs; ``fit`` trains until this many are done (so a
            resumed run continues where it stopped).
        lr: learning rate.
        optimizer: ``"sgd"``, ``"adam"`` or ``"adamw"`` (ignored when an optimizer is given).
        momentum: SGD momentum.
        weight_decay: L2 penalty (decoupled for AdamW).
        amp: mixed precision: ``"auto"`` (bf16 on CUDA GPUs that support it, else fp16 with
            a gradient scaler; off on CPU and MPS), ``"off"``, ``"bf16"`` or ``"fp16"``.
        grad_clip: clip the global gradient norm to this value (``None``: no clipping).
        check_every: steps between bulk checks of the loss for NaN/inf (a host sync).
        progress: show a progress bar.
        channels_last: store the model's weights and the image batches in channels-last
            (NHWC) memory order. Same arithmetic, different kernels, so results can differ
            from NCHW in the last bits of floating point. On CPUs, oneDNN's convolutions
            then skip a reorder of every tensor on every call: the classic LeNet trains
            1.15-1.3x faster on the course's 2-core CI machine
            (``benchmarks/lenet_memory_format.py``). Off by default, so that a model trains
            bit for bit as a plain PyTorch loop over the same data would train it.
        tune_allocator: on the CPU, call :func:`cnnlib.device.tune_cpu_allocator` (Linux
            with glibc only; process-wide). It changes no result, only how much time
            ``malloc`` spends getting fresh pages from the OS.
    """

    epochs: int = 10
    lr: float = 0.1
    optimizer: str = "sgd"
    momentum: float = 0.0
    weight_decay: float = 0.0
    amp: str = "auto"
    grad_clip: float | None = None
    check_every: int = 50
    progress: bool = True
    channels_last: bool = False
    tune_allocator: bool = True

    def __post_init__(self):
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs must be a positive int, got {self.epochs!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        if self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; use one of {_OPTIMIZERS}")
        if self.amp not in _AMP:
            raise ValueError(f"unknown amp mode {self.amp!r}; use one of {_AMP}")
        if self.momentum < 0 or self.weight_decay < 0:
            raise ValueError("momentum and weight_decay must be >= 0")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError(f"grad_clip must be positive or None, got {self.grad_clip!r}")
        if (isinstance(self.check_every, bool) or not isinstance(self.check_every, int)
                or self.check_every < 1):
            raise ValueError(f"check_every must be a positive int, got {self.check_every!r}")
        for name in ("channels_last", "tune_allocator", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")


def _make_optimizer(params: Iterable, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _rng_state() -> dict:
    np_state = np.random.get_state(legacy=False)
    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        # Plain ints, so that the checkpoint loads with torch.load(weights_only=True).
        "numpy": {"key": np_state["state"]["key"].tolist(), "pos": int(np_state["state"]["pos"]),
                  "has_gauss": int(np_state["has_gauss"]), "gauss": float(np_state["gauss"])},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state({"bit_generator": "MT19937",
                         "state": {"key": np.array(n["key"], dtype=np.uint32), "pos": n["pos"]},
                         "has_gauss": n["has_gauss"], "gauss": n["gauss"]})
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Trainer:
    """Trains a classifier: ``fit``, ``evaluate``, ``predict``, ``save``, ``load``.

    Args:
        model: the network (moved to ``device``).
        config: a :class:`TrainConfig` (default values if omitted).
        optimizer: an optimizer over ``model``'s parameters (default: built from ``config``).
        loss_fn: loss on (logits, labels); default cross-entropy.
        scheduler: optional LR scheduler, stepped once per epoch.
        device: see :func:`cnnlib.get_device`.
        hooks: ``{hook name: callable or list of callables}``; names in ``HOOK_NAMES``.
            Each hook gets the trainer first, then: ``on_epoch_start(epoch)`` (1-based),
            ``after_backward(step)`` with ``step`` the number of optimizer steps taken before
            this one (0-based; gradients are unscaled and ready), ``on_step_end(step, loss)``
            with ``step`` the number of steps taken including this one (loss is a device
            tensor: calling ``.item()`` there syncs every step), ``on_epoch_end(epoch,
            metrics)``. A hook may set ``trainer.stop_training = True``.
    """

    def __init__(self, model: nn.Module, config: TrainConfig | None = None, *,
                 optimizer: torch.optim.Optimizer | None = None,
                 loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                 scheduler=None, device: torch.device | str | None = None,
                 hooks: dict[str, Callable | list[Callable]] | None = None):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.config = config if config is not None else TrainConfig()
        if not isinstance(self.config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(self.config).__name__}")
        self.device = get_device(device)
        if self.device.type == "cpu" and self.config.tune_allocator:
            tune_cpu_allocator()
        self.model = model.to(self.device)
        if self.config.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = optimizer or _make_optimizer(self.model.parameters(), self.config)
        self.loss_fn = loss_fn or nn.CrossEntropyLoss()
        self.scheduler = scheduler
        self.amp_dtype = self._resolve_amp()
        use_scaler = self.amp_dtype == torch.float16 and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if use_scaler else None
        self.hooks: dict[str, list[Callable]] = {name: [] for name in HOOK_NAMES}
        for name, fns in (hooks or {}).items():
            for fn in fns if isinstance(fns, (list, tuple)) else [fns]:
                self.add_hook(name, fn)
        self.epoch = 0  # epochs completed
        self.step = 0  # optimizer steps taken
        self.history: dict[str, list[float]] = {k: [] for k in
                                                ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds")}
        self.stop_training = False
        self._pending_loader_state: dict | None = None
        self._last_train_loader = None

    # -- setup -------------------------------------------------------------------------
    def _resolve_amp(self) -> torch.dtype | None:
        mode, kind = self.config.amp, self.device.type
        if mode == "off" or (mode == "auto" and kind != "cuda"):
            return None
        if mode == "auto":
            # Native bf16 only: on a T4 (Colab's free GPU) bf16 is merely emulated, and slow.
            native = torch.cuda.is_bf16_supported(including_emulation=False)
            return torch.bfloat16 if native else torch.float16
        if mode == "fp16" and kind != "cuda":
            raise ValueError("amp='fp16' needs a CUDA device; use 'bf16' or 'off' on "
                             f"{kind}")
        return torch.bfloat16 if mode == "bf16" else torch.float16

    def add_hook(self, name: str, fn: Callable) -> None:
        if name not in HOOK_NAMES:
            raise ValueError(f"unknown hook {name!r}; hooks are {', '.join(HOOK_NAMES)}")
        if not callable(fn):
            raise TypeError(f"hook {name!r} must be callable, got {type(fn).__name__}")
        self.hooks[name].append(fn)

    def _call(self, name: str, *args) -> None:
        for fn in self.hooks[name]:
            fn(self, *args)

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.channels_last and x.ndim == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    # -- training ----------------------------------------------------------------------
    def fit(self, train_loader, val_loader=None, *, epochs: int | None = None) -> dict[str, list[float]]:
        """Train until ``epochs`` (default ``config.epochs``) epochs are done in total.

        Evaluates on ``val_loader`` after each epoch if given. Returns the history:
        ``{"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"}`` lists.
        """
        total = self.config.epochs if epochs is None else epochs
        if not isinstance(total, int) or total < 1:
            raise ValueError(f"epochs must be a positive int, got {total!r}")
        if len(train_loader) == 0:
            raise ValueError("train_loader yields no batches")
        if self._pending_loader_state is not None:
            if not hasattr(train_loader, "load_state_dict"):
                raise TypeError("the checkpoint holds a loader state but train_loader has no load_state_dict")
            train_loader.load_state_dict(self._pending_loader_state)
            self._pending_loader_state = None
        self._last_train_loader = train_loader
        self.stop_training = False
        self._call("on_fit_start")
        bar = tqdm(total=(total - self.epoch) * len(train_loader), file=sys.stdout, ncols=78,
                   mininterval=0.5, disable=not self.config.progress, unit="batch")
        try:
            while self.epoch < total and not self.stop_training:
                metrics = self._train_epoch(train_loader, bar, total)
                if val_loader is not None:
                    val = self.evaluate(val_loader)
                    metrics["val_loss"], metrics["val_acc"] = val["loss"], val["accuracy"]
                self.epoch += 1
                if self.scheduler is not None:
                    self.scheduler.step()
                for key in self.history:
                    self.history[key].append(metrics.get(key, float("nan")))
                if self.config.progress:
                    bar.write(self._epoch_line(metrics, total))
                self._call("on_epoch_end", self.epoch, metrics)
        finally:
            bar.close()
        self._call("on_fit_end")
        return self.history

    def _train_epoch(self, loader, bar, total: int) -> dict[str, float]:
        self.model.train()
        self._call("on_epoch_start", self.epoch + 1)
        start = time.perf_counter()
        # Sums stay on the device: reading them every step would stall a GPU every step.
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        seen = 0
        pending: list[torch.Tensor] = []
        first_step = self.step
        for i, (x, y) in enumerate(loader):
            with self._autocast():
                logits = self.model(self._inputs(x))
                loss = self.loss_fn(logits, y)
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.unscale_(self.optimizer)
            else:
                loss.backward()
            self._call("after_backward", self.step)
            if self.config.grad_clip is not None:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            if self.scaler is not None:
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            loss = loss.detach()
            pending.append(loss)
            loss_sum += loss.float() * len(y)
            correct += (logits.detach().argmax(dim=1) == y).sum()
            seen += len(y)
            self.step += 1
            self._call("on_step_end", self.step, loss)
            if len(pending) >= self.config.check_every:
                self._check_finite(pending, self.step - len(pending) - first_step)
                pending = []
            bar.update(1)
        self._check_finite(pending, self.step - len(pending) - first_step)
        if seen == 0:
            raise ValueError("train_loader yielded no batches")
        return {"epoch": self.epoch + 1, "train_loss": loss_sum.item() / seen,
                "train_acc": correct.item() / seen, "seconds": time.perf_counter() - start}

    def _check_finite(self, losses: list[torch.Tensor], offset: int) -> None:
        if not losses:
            return
        stacked = torch.stack(losses)
        finite = torch.isfinite(stacked)
        if bool(finite.all()):
            return
        i = int((~finite).nonzero()[0])
        raise FloatingPointError(
            f"loss became {stacked[i].item()} at epoch {self.epoch + 1}, step {offset + i + 1} of "
            f"that epoch: training stopped. Lower the learning rate, clip gradients "
            f"(TrainConfig.grad_clip) or check the inputs for NaN/inf."
        )

    def _epoch_line(self, m: dict, total: int) -> str:
        width = len(str(total))
        line = (f"epoch {m['epoch']:>{width}}/{total}  train loss {m['train_loss']:.4f} "
                f"acc {m['train_acc']:.4f}")
        if "val_loss" in m:
            line += f" | val loss {m['val_loss']:.4f} acc {m['val_acc']:.4f}"
        return line + f" | {m['seconds']:.1f} s"

    # -- evaluation --------------------------------------------------------------------
    @torch.inference_mode()
    def predict(self, loader) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and labels for every example of ``loader``, on the CPU, in loader order."""
        self.model.eval()
        logits, labels = [], []
        for x, y in loader:
            with self._autocast():
                out = self.model(self._inputs(x))
            logits.append(out.float())
            labels.append(y)
        return torch.cat(logits).cpu(), torch.cat(labels).cpu()

    @torch.inference_mode()
    def evaluate(self, loader) -> dict[str, float]:
        """Mean loss and accuracy over ``loader`` (model in eval mode)."""
        self.model.eval()
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        seen = 0
        for x, y in loader:
            with self._autocast():
                out = self.model(self._inputs(x))
                loss = self.loss_fn(out, y)
            loss_sum += loss.float() * len(y)
            correct += (out.argmax(dim=1) == y).sum()
            seen += len(y)
        if seen == 0:
            raise ValueError("cannot evaluate on a loader that yields no batches")
        return {"loss": loss_sum.item() / seen, "accuracy": correct.item() / seen}

    # -- checkpoints -------------------------------------------------------------------
    def state_dict(self) -> dict:
        loader = self._last_train_loader
        return {
            "format": CHECKPOINT_FORMAT,
            "model_args": getattr(self.model, "model_args", None),
            "config": asdict(self.config),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "epoch": self.epoch,
            "step": self.step,
            "history": self.history,
            "rng": _rng_state(),
            "train_loader": loader.state_dict() if hasattr(loader, "state_dict") else None,
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write a checkpoint that lets :meth:`load` resume this run exactly."""
        path = os.fspath(path)
        tmp = path + ".tmp"
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)  # never leave a half-written checkpoint behind

    def load(self, path: str | os.PathLike) -> "Trainer":
        """Restore model, optimizer, scheduler, epoch, history and RNG states from ``path``.

        The train loader's shuffling state is applied at the next :meth:`fit`.
        """
        ckpt = torch.load(path, map_location=self.device, weights_only=True)
        if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path} is not a cnnlib checkpoint (format {CHECKPOINT_FORMAT})")
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt["scheduler"] is not None:
            if self.scheduler is None:
                raise ValueError("the checkpoint has a scheduler state but this trainer has no scheduler")
            self.scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt["scaler"] is not None and self.scaler is not None:
            self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch, self.step, self.history = ckpt["epoch"], ckpt["step"], ckpt["history"]
        _set_rng_state(ckpt["rng"])
        self._pending_loader_state = ckpt["train_loader"]
        return self

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, *, device=None, **kwargs) -> "Trainer":
        """Rebuild model (from the registry) and config recorded in a checkpoint, then load it."""
        from .models import create_model

        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        args = dict(ckpt.get("model_args") or {})
        if "name" not in args:
            raise ValueError(f"{path} records no registered model; build the model yourself and "
                             "call Trainer(model, config).load(path)")
        name = args.pop("name")
        config = TrainConfig(**{f.name: ckpt["config"][f.name] for f in fields(TrainConfig)})
        trainer = cls(create_model(name, **args), config, device=device, **kwargs)
        return trainer.load(path)
