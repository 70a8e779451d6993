"""cnnlib: the small PyTorch library behind the open course on convolutional neural networks."""
from .data import TensorLoader, fashion_mnist_loaders, load_fashion_mnist
from .device import device_name, get_device, seed_everything, tune_cpu_allocator
from .inspect import count_parameters, summarize
from .models import create_model, list_models
from .profile import choose, current_profile, describe_run
from .train import TrainConfig, Trainer

__version__ = "0.1.0"

__all__ = [
    "TensorLoader", "fashion_mnist_loaders", "load_fashion_mnist",
    "device_name", "get_device", "seed_everything", "tune_cpu_allocator",
    "count_parameters", "summarize",
    "create_model", "list_models",
    "choose", "current_profile", "describe_run",
    "TrainConfig", "Trainer",
]
