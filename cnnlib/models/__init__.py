"""Model registry. Importing this package registers every model family."""
from ._registry import create_model, get_model_builder, list_models, register_model
from . import lenet, plain  # noqa: F401  (registers their builders)
from .layers import Flatten, Sigmoid
from .lenet import LeNet
from .plain import PlainCNN

__all__ = ["create_model", "get_model_builder", "list_models", "register_model", "LeNet", "PlainCNN",
           "Flatten", "Sigmoid"]
