"""Model registry. Importing this package registers every model family."""
from ._registry import create_model, get_model_builder, list_models, register_model
from . import lenet  # noqa: F401  (registers its builders)
from .layers import Flatten, Sigmoid
from .lenet import LeNet

__all__ = ["create_model", "get_model_builder", "list_models", "register_model", "LeNet",
           "Flatten", "Sigmoid"]
