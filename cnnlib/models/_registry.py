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
    if callable(name):  # @register_model without the parentheses: nothing would be registered
        raise TypeError(f"write @register_model() or @register_model('name'), with parentheses; "
                        f"got register_model({getattr(name, '__name__', name)!r})")
    if name is not None and not isinstance(name, str):  # it would also break list_models()' sort
        raise TypeError(f"name must be a str or None (the function's name), got {name!r}")
    if name == "":
        raise ValueError("name must not be empty; pass None to register under the function's name")

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if not callable(fn):
            raise TypeError(f"register_model() decorates a builder function, got {fn!r}")
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
    if not isinstance(name, str):
        raise TypeError(f"the model name must be a str, got {name!r} ({type(name).__name__}); "
                        f"registered models: {', '.join(list_models())}")
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
    if not isinstance(model, nn.Module):
        raise TypeError(f"builder of model {name!r} returned {type(model).__name__}, not an nn.Module")
    model.model_args = {"name": name, **kwargs}
    return model
