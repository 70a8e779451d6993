"""Fixtures shared by the unit tests."""
import matplotlib

matplotlib.use("Agg")  # before anything imports pyplot: tests never open windows

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import cnnlib
from cnnlib.experiments import load_results

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def fashion():
    """Fashion-MNIST from the default cache (``make test`` fetches it first), loaded once."""
    return cnnlib.load_fashion_mnist()


def _make_loader(n=40, *, batch_size=8, num_classes=4, shape=(1, 8, 8), shuffle=False, seed=0,
                 data_seed=0, **kwargs):
    g = torch.Generator().manual_seed(data_seed)
    labels = torch.arange(n) % num_classes
    images = torch.rand(n, *shape, generator=g) * 0.5 + labels.view(-1, 1, 1, 1) / (2 * num_classes)
    return cnnlib.TensorLoader(images, labels, batch_size=batch_size, shuffle=shuffle, seed=seed,
                               device="cpu", **kwargs)


def _tiny_cnn(num_classes=4, in_channels=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(in_channels, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, num_classes),
    )
    with torch.no_grad():  # own generator: building a net must not consume the global RNG
        for p in net.parameters():
            p.copy_(torch.rand(p.shape, generator=g).sub_(0.5).mul_(0.5))
    return net


@pytest.fixture
def make_loader():
    """Factory of small synthetic, learnable loaders (the class sets the mean brightness)
    over (N, 1, 8, 8) float images, on the CPU."""
    return _make_loader


@pytest.fixture
def tiny_cnn():
    """Factory of a seeded conv -> relu -> pool -> linear net for (1, 8, 8) inputs."""
    return _tiny_cnn


@pytest.fixture
def quick_run(tmp_path):
    """Runs ``experiments/<name>.py --quick`` in a subprocess, as a user would, and returns
    the results record it wrote (checked readable, and naming ``--quick`` in its command)."""

    def run(name: str) -> dict:
        out = tmp_path / f"{name}.json"
        proc = subprocess.run([sys.executable, str(ROOT / "experiments" / f"{name}.py"), "--quick",
                               "--out", str(out)], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        record = load_results(out)
        assert record["experiment"] == name and "--quick" in record["command"]
        return record

    return run
