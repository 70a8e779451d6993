"""The one training loop of the course: :class:`Trainer`.

Chapters never paste a loop of their own (the LeNet chapter writes one by hand once, to
explain it, and asserts that it matches this one).

A run fails safe: a loss that turns NaN or inf, or grows far beyond its first value, stops
training with the epoch and step where it happened; a checkpoint is written atomically,
never holds non-finite weights, carries a digest of its contents that :meth:`Trainer.load`
verifies, and a load that does not fit the trainer changes nothing.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import math
import os
import random
import sys
import time
import warnings
from dataclasses import asdict, dataclass, fields
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn
from tqdm.std import tqdm  # plain-text bar: renders in stored notebook outputs, offline

from .device import get_device, tune_cpu_allocator

__all__ = ["TrainConfig", "Trainer", "CheckpointError", "HOOK_NAMES", "CHECKPOINT_FORMAT"]

HOOK_NAMES = ("on_fit_start", "on_epoch_start", "after_backward", "on_step_end",
              "on_epoch_end", "on_fit_end")
# 2: a sha256 digest of the contents, the optimizer's and scheduler's types, the position
# inside an epoch and the run's first loss (format 1 had none of these).
CHECKPOINT_FORMAT = 2
_OPTIMIZERS = ("sgd", "adam", "adamw")
_AMP = ("auto", "off", "bf16", "fp16")


class CheckpointError(ValueError):
    """A checkpoint cannot be written, read or applied; the message names the file and why."""


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class TrainConfig:
    """Everything that defines a training run besides the model and the data.

    Args:
        epochs: total number of epochs; ``fit`` trains until this many are done (so a
            resumed run continues where it stopped).
        lr: learning rate.
        optimizer: ``"sgd"``, ``"adam"`` or ``"adamw"`` (ignored when an optimizer is given).
        momentum: SGD momentum, in [0, 1).
        weight_decay: L2 penalty (decoupled for AdamW), >= 0.
        amp: mixed precision: ``"auto"`` (bf16 on CUDA GPUs that support it, else fp16 with
            a gradient scaler; off on CPU and MPS), ``"off"``, ``"bf16"`` or ``"fp16"``.
        grad_clip: clip the global gradient norm to this value (``None``: no clipping).
        check_every: steps between bulk checks of the loss for NaN/inf and divergence (a
            host sync).
        divergence_factor: stop training with an error when a training loss exceeds this
            many times the run's first loss (the loss of its first step, before any
            update): a run at far too high a learning rate can keep finite losses of 1e7
            for epochs without ever reaching NaN. ``None`` turns the check off, for
            chapters that show divergence on purpose.
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
    divergence_factor: float | None = 100.0
    progress: bool = True
    channels_last: bool = False
    tune_allocator: bool = True

    def __post_init__(self):
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs must be a positive int, got {self.epochs!r}")
        if not (_is_number(self.lr) and self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        if not isinstance(self.optimizer, str) or self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; use one of {_OPTIMIZERS}")
        if not isinstance(self.amp, str) or self.amp not in _AMP:
            raise ValueError(f"unknown amp mode {self.amp!r}; use one of {_AMP}")
        if not (_is_number(self.momentum) and 0 <= self.momentum < 1):
            raise ValueError(f"momentum must be a number in [0, 1), got {self.momentum!r}")
        if not (_is_number(self.weight_decay) and 0 <= self.weight_decay < math.inf):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if self.grad_clip is not None and not (_is_number(self.grad_clip) and self.grad_clip > 0
                                               and math.isfinite(self.grad_clip)):
            raise ValueError(f"grad_clip must be a positive finite number or None, got {self.grad_clip!r}")
        if (isinstance(self.check_every, bool) or not isinstance(self.check_every, int)
                or self.check_every < 1):
            raise ValueError(f"check_every must be a positive int, got {self.check_every!r}")
        if self.divergence_factor is not None and not (
                _is_number(self.divergence_factor) and 1 < self.divergence_factor < math.inf):
            raise ValueError("divergence_factor must be a finite number > 1 or None, got "
                             f"{self.divergence_factor!r}")
        for name in ("channels_last", "tune_allocator", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")


def _make_optimizer(params: Iterable, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _grad_scaler():
    # torch.amp.GradScaler exists from torch 2.3; torch.cuda.amp.GradScaler before that.
    scaler = getattr(torch.amp, "GradScaler", None)
    return scaler("cuda") if scaler is not None else torch.cuda.amp.GradScaler()


def _native_bf16(device: torch.device) -> bool:
    """Whether the GPU computes bf16 in hardware (NVIDIA: compute capability 8.0, Ampere, or
    later). A T4 (Colab's free GPU, 7.5) only emulates it, slowly. Asked this way rather than
    through ``is_bf16_supported(including_emulation=False)``, which needs torch 2.4."""
    if torch.version.hip:
        return torch.cuda.is_bf16_supported()
    return torch.cuda.get_device_capability(device)[0] >= 8


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


# -- checkpoint files --------------------------------------------------------------------
_CHECKPOINT_KEYS = ("format", "model_args", "config", "model", "optimizer", "optimizer_type",
                    "scheduler", "scheduler_type", "scaler", "epoch", "step", "position",
                    "first_loss", "history", "rng", "train_loader", "digest")


def _digest(obj) -> str:
    """sha256 over a checkpoint's contents: every tensor's dtype, shape and bytes, and every
    other value's type and repr, walked in a fixed order."""
    h = hashlib.sha256()

    def walk(o):
        if isinstance(o, torch.Tensor):
            t = o.detach().cpu().contiguous().reshape(-1)
            h.update(f"T{t.dtype}{tuple(o.shape)}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes())
        elif isinstance(o, dict):
            h.update(b"{")
            for key in sorted(o, key=repr):
                h.update(repr(key).encode())
                walk(o[key])
            h.update(b"}")
        elif isinstance(o, (list, tuple)):  # torch.load may return either
            h.update(b"[")
            for v in o:
                walk(v)
            h.update(b"]")
        else:
            h.update(f"{type(o).__name__}:{o!r};".encode())

    walk(obj)
    return h.hexdigest()


def _read_checkpoint(path: str | os.PathLike) -> dict:
    """Read and verify a checkpoint file; every failure names the file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint file at {path}")
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"{path} is empty (0 bytes), not a checkpoint: a copy or a save was "
                              "cut short. Use an earlier checkpoint.")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many kinds for a damaged file
        reason = f"{type(err).__name__}: {err}".strip().splitlines()[0][:300]
        raise CheckpointError(f"{path} cannot be read as a checkpoint ({reason}): it is truncated, "
                              "damaged, or not a file written by Trainer.save.") from err
    if not isinstance(ckpt, dict) or "format" not in ckpt:
        raise CheckpointError(f"{path} is not a cnnlib checkpoint (it holds a "
                              f"{type(ckpt).__name__} without a 'format' entry).")
    if ckpt["format"] != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is a checkpoint of format {ckpt['format']!r}; this cnnlib "
                              f"reads format {CHECKPOINT_FORMAT}. Load it with the cnnlib version "
                              "that wrote it, or train again.")
    missing = [k for k in _CHECKPOINT_KEYS if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path} lacks the checkpoint entries {missing}.")
    digest = _digest({k: v for k, v in ckpt.items() if k != "digest"})
    if digest != ckpt["digest"]:
        raise CheckpointError(f"{path} is corrupted: its contents do not match the sha256 digest "
                              f"stored when it was saved ({digest[:12]}... against "
                              f"{str(ckpt['digest'])[:12]}...). Use an earlier checkpoint.")
    return ckpt


def _same_setting(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_setting(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return torch.equal(torch.as_tensor(a).cpu(), torch.as_tensor(b).cpu())
    return a == b or (a != a and b != b)  # NaN equals NaN here


def _describe_model(args) -> str:
    if not args:
        return "an unregistered model"
    args = dict(args)
    name = args.pop("name", "model")
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in args.items())})"


class Trainer:
    """Trains a classifier: ``fit``, ``evaluate``, ``predict``, ``save``, ``load``.

    Args:
        model: the network (moved to ``device``). It must return logits of shape
            (N, num_classes); labels must be integer class indices in [0, num_classes).
        config: a :class:`TrainConfig` (default values if omitted).
        optimizer: an optimizer over ``model``'s parameters (default: built from ``config``).
        loss_fn: loss on (logits, labels); default cross-entropy.
        scheduler: optional LR scheduler, stepped once per epoch.
        device: see :func:`cnnlib.device.get_device`.
        hooks: ``{hook name: callable or list of callables}``; names in ``HOOK_NAMES``.
            Each hook gets the trainer first, then: ``on_epoch_start(epoch)`` (1-based),
            ``after_backward(step)`` with ``step`` the number of optimizer steps taken before
            this one (0-based; gradients are unscaled and ready), ``on_step_end(step, loss)``
            with ``step`` the number of steps taken including this one (loss is a device
            tensor: calling ``.item()`` there syncs every step), ``on_epoch_end(epoch,
            metrics)``. A hook may set ``trainer.stop_training = True``. With
            ``check_every=1`` the loss given to ``on_step_end`` has passed the NaN and
            divergence checks. A hook may call :meth:`save` anywhere but in
            ``after_backward`` (the middle of a step).

    Bad input fails early with a message that names it: images that are not float
    tensors, label tensors that are not 1-D integer class indices, labels outside the
    model's classes (checked on the first batch of every ``fit``, ``evaluate`` and
    ``predict``, over the whole loader when it has a ``labels`` tensor), 3-D batches for a
    convolutional model, and loaders that yield nothing.
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
        self.config.__post_init__()  # a config changed after it was built is checked again
        if optimizer is not None:
            if not isinstance(optimizer, torch.optim.Optimizer):
                raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
            own = {id(p) for p in model.parameters()}
            if any(id(p) not in own for g in optimizer.param_groups for p in g["params"]):
                raise ValueError("the optimizer updates tensors that are not parameters of this "
                                 "model: build it from model.parameters() of the model you pass")
        if loss_fn is not None and not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
        if scheduler is not None and not all(hasattr(scheduler, m) for m in
                                             ("step", "state_dict", "load_state_dict")):
            raise TypeError(f"scheduler must be a torch LR scheduler, got {type(scheduler).__name__}")
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
        self.scaler = _grad_scaler() if use_scaler else None
        self.hooks: dict[str, list[Callable]] = {name: [] for name in HOOK_NAMES}
        for name, fns in (hooks or {}).items():
            for fn in fns if isinstance(fns, (list, tuple)) else [fns]:
                self.add_hook(name, fn)
        self.epoch = 0  # epochs completed
        self.step = 0  # optimizer steps taken
        self.history: dict[str, list[float]] = {k: [] for k in
                                                ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds")}
        self.stop_training = False
        self._first_loss: float | None = None  # the reference of the divergence check
        self._last_train_loader = None
        # Where a run stands inside an epoch, so that a checkpoint taken there resumes at
        # the next batch: the loader's state when the epoch began, the batches done, the
        # epoch's running sums. _batch_in_epoch is None between epochs.
        self._batch_in_epoch: int | None = None
        self._epoch_loader_state: dict | None = None
        self._sums: dict | None = None
        self._epoch_first_step = 0
        self._resumed_from: tuple = (None, None)
        self._in_step = False
        self._pending: list[torch.Tensor] = []  # losses not yet checked for NaN/divergence
        self._pending_from = 0  # batch index (in the epoch) of the first of them
        # Set by load() or by an interrupted fit(); applied by the next fit().
        self._pending_loader_state: dict | None = None
        self._resume_position: dict | None = None
        self._unsaveable: str | None = None  # why no exact checkpoint can be taken now

    # -- setup -------------------------------------------------------------------------
    def _resolve_amp(self) -> torch.dtype | None:
        mode, kind = self.config.amp, self.device.type
        if mode == "off" or (mode == "auto" and kind != "cuda"):
            return None
        if mode == "auto":
            return torch.bfloat16 if _native_bf16(self.device) else torch.float16
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

    # -- input checks ------------------------------------------------------------------
    def _check_batch(self, x, y, name: str) -> None:
        """What a batch must be, checked once per fit/evaluate/predict on its first batch."""
        if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
            raise TypeError(f"{name} must yield (images, labels) pairs of tensors, got "
                            f"({type(x).__name__}, {type(y).__name__})")
        if not x.is_floating_point():
            raise TypeError(f"{name} yields images of dtype {x.dtype}; the model needs floating-"
                            "point inputs: scale uint8 images to [0, 1] floats (cnnlib.TensorLoader "
                            "does this)")
        if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
            raise TypeError(f"{name} yields labels of dtype {y.dtype}; labels must be integer "
                            "class indices (torch.long)")
        if y.ndim != 1 or len(y) != len(x):
            raise ValueError(f"{name} yields labels of shape {tuple(y.shape)} for images of shape "
                             f"{tuple(x.shape)}: expected one integer label per image, shape ({len(x)},)")
        if x.ndim != 4 and any(isinstance(m, nn.Conv2d) for m in self.model.modules()):
            raise ValueError(f"{name} yields images of shape {tuple(x.shape)}, but the model's 2-D "
                             "convolutions need batches of shape (N, C, H, W); for (N, H, W) "
                             "grayscale images add the channel axis with x.unsqueeze(1)")

    def _check_targets(self, loader, y: torch.Tensor, logits: torch.Tensor, name: str) -> None:
        """Labels must index the model's outputs: checked before the loss, which would fail
        with "Target 8 is out of bounds" (CPU) or a device-side assert (CUDA)."""
        if logits.ndim != 2:
            raise ValueError(f"the model returns outputs of shape {tuple(logits.shape)}; Trainer "
                             "needs logits of shape (N, num_classes)")
        classes = logits.shape[1]
        labels = getattr(loader, "labels", None)
        every = isinstance(labels, torch.Tensor) and labels.ndim == 1 and len(labels) > 0
        source = labels if every else y
        lo, hi = int(source.min()), int(source.max())
        if lo < 0 or hi >= classes:
            which = "labels" if every else "first batch has labels"
            raise ValueError(f"{name}'s {which} from {lo} to {hi}, but the model outputs {classes} "
                             f"class scores, so labels must lie in [0, {classes - 1}]: build the "
                             f"model with num_classes={max(hi + 1, classes)} or fix the labels")

    def _loss(self, logits, y, name: str) -> torch.Tensor:
        try:
            return self.loss_fn(logits, y)
        except (IndexError, RuntimeError) as err:
            # A later batch than the checked one can hold a bad label: say so if it does.
            try:
                self._check_targets(None, y, logits.detach(), name)
            except ValueError as bad:
                raise bad from err
            raise

    @contextlib.contextmanager
    def _eval_mode(self):
        """Eval mode for a while, then every module's own mode back (a hook may have frozen
        some batch-norm layers; an evaluate() from a hook must not end training mode)."""
        modes = [(m, m.training) for m in self.model.modules()]
        self.model.eval()
        try:
            yield
        finally:
            for m, training in modes:
                m.training = training

    def _probe_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The model's logits for two examples, computed in eval mode without gradients, so
        that labels can be checked before the first training step changes anything (batch
        norm statistics, weights)."""
        with self._eval_mode(), torch.no_grad(), self._autocast():
            return self.model(x[:2])

    # -- training ----------------------------------------------------------------------
    def fit(self, train_loader, val_loader=None, *, epochs: int | None = None) -> dict[str, list[float]]:
        """Train until ``epochs`` (default ``config.epochs``) epochs are done in total.

        Evaluates on ``val_loader`` after each epoch if given. Returns the history:
        ``{"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"}`` lists.

        After :meth:`load` of a checkpoint taken inside an epoch, or after a fit that
        stopped with an exception (a NaN, a ``KeyboardInterrupt``) once it had taken a step
        of the epoch, training goes on at the next batch, as if it had never stopped; this
        needs a train loader with ``state_dict``/``load_state_dict`` (such as
        :class:`cnnlib.data.TensorLoader`), the same one or one built the same way. With another
        loader an interrupted epoch starts over. A resumed epoch does not call
        ``on_epoch_start`` again.

        Raises:
            FloatingPointError: a training loss became NaN/inf or grew beyond
                ``config.divergence_factor`` times the run's first loss, or a validation
                loss is not finite; the message names the epoch and step.
        """
        self.config.__post_init__()  # a config changed after it was built is checked again
        total = self.config.epochs if epochs is None else epochs
        if isinstance(total, bool) or not isinstance(total, int) or total < 1:
            raise ValueError(f"epochs must be a positive int, got {total!r}")
        for name, loader in (("train_loader", train_loader), ("val_loader", val_loader)):
            if loader is not None and not hasattr(loader, "__len__"):
                raise TypeError(f"{name} must be a loader with a length (such as cnnlib.TensorLoader "
                                f"or torch.utils.data.DataLoader), got {type(loader).__name__}")
        if len(train_loader) == 0:
            raise ValueError("train_loader yields no batches")
        self._check_resumable(train_loader)
        position = self._resume_position
        skip = position["batch"] if position else 0
        self._last_train_loader = train_loader
        self.stop_training = False
        self._call("on_fit_start")
        bar = tqdm(total=max((total - self.epoch) * len(train_loader) - skip, 0), file=sys.stdout,
                   ncols=78, mininterval=0.5, disable=not self.config.progress, unit="batch")
        try:
            while self.epoch < total and not self.stop_training:
                metrics = self._train_epoch(train_loader, bar, total)
                if val_loader is not None:
                    try:
                        val = self.evaluate(val_loader)
                    except FloatingPointError as err:
                        raise FloatingPointError(f"after training epoch {self.epoch + 1}, on "
                                                 f"val_loader: {err}") from None
                    metrics["val_loss"], metrics["val_acc"] = val["loss"], val["accuracy"]
                # The epoch is done: from here on a checkpoint is one between epochs.
                self._batch_in_epoch, self._sums, self._unsaveable = None, None, None
                self.epoch += 1
                for key in self.history:
                    self.history[key].append(metrics.get(key, float("nan")))
                if self.scheduler is not None:
                    self.scheduler.step()
                if self.config.progress:
                    bar.write(self._epoch_line(metrics, total))
                self._call("on_epoch_end", self.epoch, metrics)
        except BaseException:
            self._keep_position()
            raise
        finally:
            bar.close()
        self._call("on_fit_end")
        return self.history

    def _check_resumable(self, loader) -> None:
        """Refuse, before changing anything, a loader that cannot go on where the run stopped."""
        if self._pending_loader_state is not None and not hasattr(loader, "load_state_dict"):
            raise TypeError("this run goes on from a checkpoint or an interrupted fit that recorded "
                            "the train loader's shuffling state, but train_loader "
                            f"({type(loader).__name__}) has no load_state_dict(): pass the kind of "
                            "loader the run was trained with, such as cnnlib.TensorLoader")
        position = self._resume_position
        if position is None:
            return
        here = (len(loader), getattr(loader, "num_examples", None))
        there = (position["batches"], position["examples"])
        if here != there:
            raise ValueError(f"the run stopped after batch {position['batch']} of an epoch of "
                             f"{there[0]} batches ({there[1]} examples), but this train_loader has "
                             f"{here[0]} batches ({here[1]} examples): resume with a loader built "
                             "like the one the run was trained with (same data, batch size, "
                             "drop_last)")

    def _keep_position(self) -> None:
        """After an exception inside an epoch: remember where it stood, so that the next fit
        (or a checkpoint taken now) goes on at the batch after the last completed step. An
        epoch that took no step yet leaves things as they were before this fit."""
        if self._batch_in_epoch is None:
            return
        try:
            if self.step == self._epoch_first_step:  # nothing trained in this epoch
                self._resume_position, self._pending_loader_state = self._resumed_from
            elif self._epoch_loader_state is None:
                self._unsaveable = (
                    f"the last fit stopped inside epoch {self.epoch + 1}, and its train loader has "
                    "no state_dict() to rewind it to the same batch, so no exact checkpoint can "
                    "be taken: the next fit() trains this epoch from its start")
            else:
                if self._in_step:
                    self._unsaveable = (
                        f"the last fit stopped in the middle of a training step (epoch "
                        f"{self.epoch + 1}, after {self._batch_in_epoch} batches), so the weights "
                        "may hold half an update. Load the last checkpoint; fit() would train on "
                        "from the interrupted batch")
                self._resume_position = self._position()
                self._pending_loader_state = self._epoch_loader_state
        finally:
            self._batch_in_epoch, self._sums, self._in_step = None, None, False

    def _position(self) -> dict:
        s = self._sums
        pending = [loss.float().cpu() for loss in self._pending]
        return {"batch": self._batch_in_epoch, "batches": s["batches"], "examples": s["examples"],
                "loss_sum": s["loss_sum"].detach().cpu().clone(),
                "correct": s["correct"].detach().cpu().clone(), "seen": s["seen"],
                "seconds": s["seconds"] + time.perf_counter() - s["start"],
                # Losses of steps already taken but not yet checked for NaN or divergence.
                "pending": torch.stack(pending) if pending else torch.zeros(0),
                "pending_from": self._pending_from}

    def _train_epoch(self, loader, bar, total: int) -> dict[str, float]:
        self.model.train()
        position, loader_state = self._resume_position, self._pending_loader_state
        self._resumed_from = (position, loader_state)  # given back if no step gets taken
        self._resume_position = self._pending_loader_state = None
        if loader_state is not None:
            loader.load_state_dict(loader_state)
        self._epoch_loader_state = loader.state_dict() if hasattr(loader, "state_dict") else None
        self._epoch_first_step = self.step
        sums = {"batches": len(loader), "examples": getattr(loader, "num_examples", None),
                "start": time.perf_counter()}
        if position is None:
            skip = 0
            # Sums stay on the device: reading them every step would stall a GPU every step.
            sums.update(loss_sum=torch.zeros((), device=self.device),
                        correct=torch.zeros((), device=self.device, dtype=torch.long),
                        seen=0, seconds=0.0)
            self._pending, self._pending_from = [], 0
        else:
            skip = int(position["batch"])
            sums.update(loss_sum=position["loss_sum"].to(self.device).clone(),
                        correct=position["correct"].to(self.device).clone(),
                        seen=int(position["seen"]), seconds=float(position["seconds"]))
            self._pending = list(position["pending"].to(self.device).unbind())
            self._pending_from = int(position["pending_from"])
        self._sums = sums
        self._batch_in_epoch = skip
        if position is None:
            self._call("on_epoch_start", self.epoch + 1)
        checked = False
        for i, (x, y) in enumerate(loader):
            if i < skip:
                continue  # trained before the checkpoint or interruption this run goes on from
            x = self._inputs(x)
            if not checked:
                self._check_batch(x, y, "train_loader")
                self._check_targets(loader, y, self._probe_logits(x), "train_loader")
                checked = True
            self._in_step = True
            with self._autocast():
                logits = self.model(x)
                loss = self._loss(logits, y, "train_loader")
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
            self._pending.append(loss)
            sums["loss_sum"] += loss.float() * len(y)
            sums["correct"] += (logits.detach().argmax(dim=1) == y).sum()
            sums["seen"] += len(y)
            self.step += 1
            self._batch_in_epoch = i + 1
            self._in_step = False
            self._unsaveable = None
            # Check before the hooks, so that a hook that saves never saves a diverged run.
            if len(self._pending) >= self.config.check_every:
                self._check_losses()
            self._call("on_step_end", self.step, loss)
            bar.update(1)
        self._check_losses()
        if sums["seen"] == 0:
            raise ValueError("train_loader yielded no batches")
        return {"epoch": self.epoch + 1, "train_loss": sums["loss_sum"].item() / sums["seen"],
                "train_acc": sums["correct"].item() / sums["seen"],
                "seconds": sums["seconds"] + time.perf_counter() - sums["start"]}

    def _check_losses(self) -> None:
        """Raise if a pending loss is NaN/inf, or past the divergence limit (one host sync)."""
        losses, first = self._pending, self._pending_from
        self._pending, self._pending_from = [], first + len(losses)
        if not losses:
            return
        values = torch.stack(losses).float().cpu()
        finite = torch.isfinite(values)
        where = f"at epoch {self.epoch + 1}, step {{}} of that epoch"
        if not bool(finite.all()):
            i = int((~finite).nonzero()[0])
            raise FloatingPointError(
                f"loss became {values[i].item()} {where.format(first + i + 1)}: training stopped. "
                "Lower the learning rate, clip gradients (TrainConfig.grad_clip) or check the "
                "inputs for NaN/inf."
            )
        if self._first_loss is None:
            self._first_loss = values[0].item()  # the loss before the run's first update
        factor = self.config.divergence_factor
        if factor is None or self._first_loss <= 0:
            return
        over = values > factor * self._first_loss
        if bool(over.any()):
            i = int(over.nonzero()[0])
            raise FloatingPointError(
                f"loss reached {values[i].item():.4g} {where.format(first + i + 1)}, more than "
                f"{factor:g} times the run's first loss ({self._first_loss:.4g}): training "
                "diverged and stopped. Lower the learning rate or clip gradients "
                "(TrainConfig.grad_clip); TrainConfig(divergence_factor=None) turns this check off."
            )

    def _epoch_line(self, m: dict, total: int) -> str:
        width = len(str(total))
        line = (f"epoch {m['epoch']:>{width}}/{total}  train loss {m['train_loss']:.4f} "
                f"acc {100 * m['train_acc']:.1f}%")
        if "val_loss" in m:
            line += f" | val loss {m['val_loss']:.4f} acc {100 * m['val_acc']:.1f}%"
        return line + f" | {m['seconds']:.1f} s"

    # -- evaluation --------------------------------------------------------------------
    def _eval_batches(self, loader, name: str):
        """(logits, labels) of every batch, inputs checked on the first; call in _eval_mode."""
        if not hasattr(loader, "__iter__"):
            raise TypeError(f"{name} must be an iterable of (images, labels) batches, got "
                            f"{type(loader).__name__}")
        for i, (x, y) in enumerate(loader):
            x = self._inputs(x)
            if i == 0:
                self._check_batch(x, y, name)
            with self._autocast():
                out = self.model(x)
            if i == 0:
                self._check_targets(loader, y, out, name)
            yield out, y

    @torch.inference_mode()
    def predict(self, loader) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and labels for every example of ``loader``, on the CPU, in loader order.

        The model runs in eval mode; each module's mode is restored afterwards."""
        logits, labels = [], []
        with self._eval_mode():
            for out, y in self._eval_batches(loader, "the loader"):
                logits.append(out.float())
                labels.append(y)
        if not logits:
            raise ValueError("cannot predict on a loader that yields no batches")
        return torch.cat(logits).cpu(), torch.cat(labels).cpu()

    @torch.inference_mode()
    def evaluate(self, loader) -> dict[str, float]:
        """Mean loss and accuracy over ``loader``.

        The model runs in eval mode; each module's mode is restored afterwards.

        Raises:
            FloatingPointError: the loss is NaN or inf (the first such batch is named).
        """
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        seen = 0
        losses = []
        with self._eval_mode():
            for out, y in self._eval_batches(loader, "the loader"):
                with self._autocast():
                    loss = self._loss(out, y, "the loader")
                losses.append(loss.float())
                loss_sum += loss.float() * len(y)
                correct += (out.argmax(dim=1) == y).sum()
                seen += len(y)
        if seen == 0:
            raise ValueError("cannot evaluate on a loader that yields no batches")
        result = {"loss": loss_sum.item() / seen, "accuracy": correct.item() / seen}
        if not math.isfinite(result["loss"]):
            values = torch.stack(losses).cpu()
            bad = (~torch.isfinite(values)).nonzero()
            if len(bad):
                i = int(bad[0])
                what = f"evaluation loss is {values[i].item()} on batch {i + 1} of {len(losses)}"
            else:  # every batch finite, their weighted sum is not
                what = (f"evaluation loss overflows: the batch losses (up to "
                        f"{values.max().item():.4g}) sum to {result['loss'] * seen}")
            raise FloatingPointError(
                f"{what}: the model's outputs on these inputs are not finite or far too large. "
                "Check the inputs for NaN/inf, and the weights and batch-norm statistics for "
                "overflow."
            )
        return result

    # -- checkpoints -------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything :meth:`load` needs to resume this run exactly (see :meth:`save`)."""
        if self._in_step:
            raise CheckpointError("a checkpoint cannot be taken in the middle of a training step "
                                  "(from an after_backward hook): the gradients are not applied "
                                  "yet. Save from on_step_end, on_epoch_end or after fit().")
        if self._unsaveable:
            raise CheckpointError(self._unsaveable)
        loader = self._last_train_loader
        if self._batch_in_epoch is not None:  # a hook inside an epoch
            if self._epoch_loader_state is None:
                raise CheckpointError(
                    f"a checkpoint in the middle of an epoch needs a train loader that can be "
                    f"rewound to the same batch (state_dict/load_state_dict, as cnnlib.TensorLoader "
                    f"has); {type(loader).__name__} cannot. Save between epochs (on_epoch_end).")
            self._check_losses()  # no unchecked loss goes into a checkpoint
            position, loader_state = self._position(), self._epoch_loader_state
        elif self._pending_loader_state is not None or self._resume_position is not None:
            position, loader_state = self._resume_position, self._pending_loader_state
        else:
            position = None
            loader_state = loader.state_dict() if hasattr(loader, "state_dict") else None
        return {
            "format": CHECKPOINT_FORMAT,
            "model_args": getattr(self.model, "model_args", None),
            "config": asdict(self.config),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "optimizer_type": type(self.optimizer).__name__,
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scheduler_type": type(self.scheduler).__name__ if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "epoch": self.epoch,
            "step": self.step,
            "position": position,
            "first_loss": self._first_loss,
            "history": self.history,
            "rng": _rng_state(),
            "train_loader": loader_state,
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write a checkpoint that lets :meth:`load` resume this run exactly.

        Works between epochs and, from an ``on_step_end`` hook, in the middle of one (the
        resumed run goes on at the next batch; this needs a train loader with
        ``state_dict``, as :class:`cnnlib.data.TensorLoader` has). The file is written to
        ``path + ".tmp"`` and then renamed over ``path``, so a killed save never damages an
        existing checkpoint; a ``.tmp`` left by one is reported and replaced.

        The checkpoint holds the trainer's own state: model, optimizer, scheduler, scaler,
        counters, history, RNGs, the train loader's shuffling state. Hooks keep their own
        (an ``EarlyStopping``'s best value, a ``GradNormLogger``'s norms): a resumed run
        starts them afresh.

        Raises:
            FloatingPointError: the weights or optimizer state hold NaN or inf; ``path`` is
                left untouched, so the last good checkpoint survives a diverged run.
            CheckpointError: called in the middle of a step, or mid-epoch with a loader
                that cannot be rewound.
        """
        path = os.fspath(path)
        ckpt = self.state_dict()
        bad = [f"model.{k}" for k, v in ckpt["model"].items()
               if v.is_floating_point() and not bool(torch.isfinite(v).all())]
        bad += [f"optimizer state of parameter {i} ({k})"
                for i, s in ckpt["optimizer"]["state"].items() for k, v in s.items()
                if isinstance(v, torch.Tensor) and v.is_floating_point()
                and not bool(torch.isfinite(v).all())]
        if bad:
            listed = ", ".join(bad[:4]) + (f" and {len(bad) - 4} more" if len(bad) > 4 else "")
            raise FloatingPointError(
                f"refusing to save {path}: {listed} hold NaN or inf, so training has diverged. "
                "The file was not written; an earlier checkpoint there is kept as it was.")
        ckpt["digest"] = _digest(ckpt)
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"cannot save {path}: the folder {folder} does not exist")
        tmp = path + ".tmp"
        if os.path.exists(tmp):
            warnings.warn(f"{tmp} was left by an earlier save that did not finish; it is replaced "
                          f"now ({path} itself was never touched by that save)", stacklevel=2)
        try:
            with open(tmp, "wb") as f:
                torch.save(ckpt, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)  # atomic: readers see the old file or the new one
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise

    def load(self, path: str | os.PathLike) -> "Trainer":
        """Restore model, optimizer, scheduler, scaler, epoch, step, history, the position in
        an epoch and the RNG states from ``path``; the train loader's shuffling state is
        applied at the next :meth:`fit`.

        The checkpoint's optimizer and scheduler states win over the trainer's own,
        hyperparameters included (lr, momentum, weight decay, betas, a StepLR's gamma: an
        exact resume needs them), and a ``UserWarning`` lists those that differ; to train on
        with other values, change ``trainer.optimizer.param_groups`` after loading. The
        trainer's :class:`TrainConfig` governs everything else (epochs, grad_clip, amp, ...).

        The file is verified first (its digest, then that it fits this model, optimizer and
        scheduler); a load that fails raises :class:`CheckpointError` naming the file
        (``FileNotFoundError`` if there is none) and changes nothing.
        """
        path = os.fspath(path)
        self._apply(_read_checkpoint(path), path)
        return self

    def _apply(self, ckpt: dict, path: str) -> None:
        self._check_fits(ckpt, path)
        changed = self._optimizer_changes(ckpt["optimizer"]) + self._scheduler_changes(ckpt["scheduler"])
        before = {
            "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "scheduler": copy.deepcopy(self.scheduler.state_dict()) if self.scheduler else None,
            "scaler": copy.deepcopy(self.scaler.state_dict()) if self.scaler else None,
            "rng": _rng_state(),
        }
        try:
            self.model.load_state_dict(ckpt["model"])
            self.optimizer.load_state_dict(ckpt["optimizer"])
            if ckpt["scheduler"] is not None:
                self.scheduler.load_state_dict(ckpt["scheduler"])
            if ckpt["scaler"] is not None and self.scaler is not None:
                self.scaler.load_state_dict(ckpt["scaler"])
            _set_rng_state(ckpt["rng"])
        except Exception as err:
            self.model.load_state_dict(before["model"])
            self.optimizer.load_state_dict(before["optimizer"])
            if self.scheduler is not None:
                self.scheduler.load_state_dict(before["scheduler"])
            if self.scaler is not None:
                self.scaler.load_state_dict(before["scaler"])
            _set_rng_state(before["rng"])
            raise CheckpointError(f"{path} does not fit this trainer ({type(err).__name__}: "
                                  f"{err}); nothing was changed") from err
        self.epoch, self.step = int(ckpt["epoch"]), int(ckpt["step"])
        self.history = ckpt["history"]
        self._first_loss = ckpt["first_loss"]
        self._resume_position = ckpt["position"]
        self._pending_loader_state = ckpt["train_loader"]
        self._batch_in_epoch, self._sums, self._unsaveable = None, None, None
        self._pending, self._pending_from = [], 0
        if changed:
            warnings.warn(f"{path}: the checkpoint's optimizer and scheduler settings replace "
                          "this trainer's: "
                          f"{'; '.join(changed)}. Change trainer.optimizer.param_groups after "
                          "load() to train on with other values.", stacklevel=3)

    def _check_fits(self, ckpt: dict, path: str) -> None:
        """Refuse a checkpoint of another model, optimizer or scheduler, before touching anything."""
        mine, saved = self.model.state_dict(), ckpt["model"]
        problems = [f"missing {k}" for k in mine if k not in saved]
        problems += [f"unexpected {k}" for k in saved if k not in mine]
        problems += [f"{k}: {tuple(saved[k].shape)} in the file, {tuple(v.shape)} here"
                     for k, v in mine.items() if k in saved and saved[k].shape != v.shape]
        if problems:
            listed = "; ".join(problems[:4]) + (f"; and {len(problems) - 4} more" if len(problems) > 4 else "")
            raise CheckpointError(
                f"{path} holds the weights of another model ({listed}). It was saved from "
                f"{_describe_model(ckpt['model_args'])}; this trainer has "
                f"{_describe_model(getattr(self.model, 'model_args', None))}. Build the same model, "
                "or let Trainer.from_checkpoint(path) rebuild it. Nothing was changed.")
        kind = type(self.optimizer).__name__
        if ckpt["optimizer_type"] != kind:
            raise CheckpointError(f"{path} was saved with a {ckpt['optimizer_type']} optimizer; this "
                                  f"trainer uses {kind}. Build the trainer with the same optimizer "
                                  "(TrainConfig.optimizer, or the optimizer= you trained with) and "
                                  "call load(). Nothing was changed.")
        if ckpt["scheduler"] is not None and self.scheduler is None:
            raise CheckpointError(f"{path} has a scheduler state ({ckpt['scheduler_type']}) but this "
                                  "trainer has no scheduler: build it with one (from_checkpoint "
                                  "takes scheduler=lambda optimizer: ...). Nothing was changed.")
        if ckpt["scheduler"] is None and self.scheduler is not None:
            raise CheckpointError(f"{path} was trained without a scheduler but this trainer has one "
                                  f"({type(self.scheduler).__name__}), which would start over. "
                                  "Nothing was changed.")
        if self.scheduler is not None and ckpt["scheduler_type"] != type(self.scheduler).__name__:
            raise CheckpointError(f"{path} has a {ckpt['scheduler_type']} scheduler state; this "
                                  f"trainer's scheduler is a {type(self.scheduler).__name__}. "
                                  "Nothing was changed.")

    def _optimizer_changes(self, saved_state: dict) -> list[str]:
        """The optimizer hyperparameters that loading ``saved_state`` would change."""
        changes = []
        groups = list(zip(self.optimizer.param_groups, saved_state.get("param_groups", [])))
        for i, (mine, saved) in enumerate(groups):
            keys = sorted(set(mine) | set(saved), key=str)
            keys = [k for k in keys if k not in ("params", "param_names")]
            if "initial_lr" in mine and "initial_lr" in saved:
                keys.remove("lr")  # a scheduler moves lr; compare the lr it started from
            for k in keys:
                if not _same_setting(saved.get(k), mine.get(k)):
                    group = f" (group {i})" if len(groups) > 1 else ""
                    changes.append(f"{k} {saved.get(k)!r} instead of {mine.get(k)!r}{group}")
        return changes

    # Entries of a scheduler's state that record its progress, not its settings.
    _SCHEDULER_PROGRESS = ("last_epoch", "_step_count", "_last_lr", "_get_lr_called_within_step",
                           "_is_initial", "base_lrs", "verbose")

    def _scheduler_changes(self, saved: dict | None) -> list[str]:
        """The scheduler settings (a StepLR's step_size, gamma, ...) that loading would change."""
        if saved is None or self.scheduler is None:
            return []
        mine = self.scheduler.state_dict()
        return [f"scheduler {k} {saved.get(k)!r} instead of {mine.get(k)!r}"
                for k in sorted(set(mine) | set(saved), key=str)
                if k not in self._SCHEDULER_PROGRESS
                and isinstance(mine.get(k), (int, float, str, bool, list, tuple, type(None)))
                and not _same_setting(saved.get(k), mine.get(k))]

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, *, device=None, config: TrainConfig | None = None,
                        scheduler: Callable | None = None, **kwargs) -> "Trainer":
        """Rebuild the model (from the registry) and the trainer recorded in a checkpoint, then
        load it.

        Args:
            path: a checkpoint written by :meth:`save` from a registered model.
            device: see :func:`cnnlib.device.get_device`.
            config: a :class:`TrainConfig` to use instead of the recorded one (e.g.
                ``amp="off"`` to open a GPU run's fp16 checkpoint on a CPU).
            scheduler: for a run trained with a scheduler, a function that builds it from
                the optimizer, e.g. ``lambda opt: StepLR(opt, step_size=1)``.
            **kwargs: passed to :class:`Trainer` (``loss_fn``, ``hooks``). A run whose
                optimizer was not built from its TrainConfig cannot be rebuilt: build that
                trainer yourself and call :meth:`load`.
        """
        from .models import create_model

        path = os.fspath(path)
        ckpt = _read_checkpoint(path)
        args = dict(ckpt.get("model_args") or {})
        if "name" not in args:
            raise ValueError(f"{path} records no registered model; build the model yourself and "
                             "call Trainer(model, config).load(path)")
        name = args.pop("name")
        if config is None:
            config = TrainConfig(**{f.name: ckpt["config"][f.name] for f in fields(TrainConfig)
                                    if f.name in ckpt["config"]})
        trainer = cls(create_model(name, **args), config, device=device, **kwargs)
        if scheduler is not None:
            trainer.scheduler = scheduler(trainer.optimizer)
        trainer._apply(ckpt, path)
        return trainer
