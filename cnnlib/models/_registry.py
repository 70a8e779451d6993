"""One registry of model builders: ``create_model(name, ...)`` and ``list_models()``."""
from __future__ import annotations

import inspect
from typing import Callable

from torch import nn

__all__ = ["register_model", "create_model", "list_models", "get_model_builder"]

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str | None = None) -> Callable:
    """Decorator that registers a builder under ``name`` (default: the function's name).

    A builder takes keyword-only arguments, including ``num_classes`` and ``in_channels``.
    """

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        key = name or fn.__name__
        if key in _BUILDERS:
            raise ValueError(f"a model named {key!r} is already registered")
        params = inspect.signature(fn).parameters.values()
        if any(p.kind is not p.KEYWORD_ONLY for p in params):
            raise TypeError(f"builder {key!r} must take keyword-only arguments")
        _BUILDERS[key] = fn
        return fn

    return wrap


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(_BUILDERS)


def get_model_builder(name: str) -> Callable[..., nn.Module]:
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; registered models: {', '.join(list_models())}")
    return _BUILDERS[name]


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model, e.g. ``create_model("lenet", num_classes=10, in_channels=1)``.

    The model remembers how it was built in ``model.model_args`` (name and arguments), which
    checkpoints record so that a run can be rebuilt.
    """
    builder = get_model_builder(name)
    accepted = inspect.signature(builder).parameters
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(f"model {name!r} got unknown argument(s) {unknown}; it accepts {sorted(accepted)}")
    model = builder(**kwargs)
    model.model_args = {"name": name, **kwargs}
    return model
