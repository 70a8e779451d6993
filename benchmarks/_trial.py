"""One benchmark trial, run inside a fresh Jupyter kernel by ``lenet_d2l_vs_cnnlib.py``.

It runs in a kernel rather than in the driver because d2l's ``train_ch6`` draws its live
plot with ``IPython.display``: only in a kernel does each redraw render an SVG and send it
to the front end, which is part of what the d2l recipe costs as shipped.

Each trial writes its result as JSON to the path it is given. Timed region, for both: the
one training call (``d2l.train_ch6`` / ``Trainer.fit``), which includes the per-epoch test
evaluation. Data loading setup and model construction are excluded for both; the final
test accuracy is measured again after the timed call.
"""
from __future__ import annotations

import json
import random
import time

import numpy as np
import torch

import _bench_data


def _seed(seed: int) -> None:
    # The same seeding for both implementations (what cnnlib.seed_everything does), written
    # out so that the d2l trial does not import cnnlib at all.
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def d2l_trial(*, seed: int, epochs: int, lr: float, batch_size: int) -> dict:
    """d2l's LeNet recipe as shipped; reads the data from ``../data`` (the kernel's cwd)."""
    from d2l import torch as d2l

    _seed(seed)
    train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)
    model = d2l.LeNet(lr=lr)
    # d2l's LeNet is built from lazy layers; one forward materializes them (d2l's own
    # apply_init does this in the book). Without it, train_ch6's Xavier init, which matches
    # nn.Conv2d / nn.Linear by exact type, would skip every layer.
    model.apply_init([torch.zeros(1, 1, 28, 28)])
    net = model.net  # the nn.Sequential: the `net` that train_ch6 is written for
    device = d2l.try_gpu()

    start = time.perf_counter()
    d2l.train_ch6(net, train_iter, test_iter, epochs, lr, device)
    seconds = time.perf_counter() - start

    return {
        "impl": "d2l",
        "seconds": seconds,
        "test_acc": d2l.evaluate_accuracy_gpu(net, test_iter),
        "train_loss": None,  # train_ch6 only prints it; the driver reads it from the output
        "device": str(device),
        "num_parameters": sum(p.numel() for p in net.parameters()),
        "train_examples": len(train_iter.dataset),
        "train_digest": _bench_data.digest(train_iter.dataset.data, train_iter.dataset.targets),
        "test_digest": _bench_data.digest(test_iter.dataset.data, test_iter.dataset.targets),
    }


def cnnlib_trial(*, seed: int, epochs: int, lr: float, batch_size: int, train_size: int | None,
                 source: str, data_root: str, channels_last: bool = True) -> dict:
    """The same recipe through cnnlib: registry LeNet, tensor loaders, ``Trainer.fit``."""
    import cnnlib

    _seed(seed)
    data = _bench_data.benchmark_split(train_size, source=source, root=data_root)
    train, test = cnnlib.fashion_mnist_loaders(batch_size, data=data, seed=seed)
    config = cnnlib.TrainConfig(epochs=epochs, lr=lr, optimizer="sgd", progress=False,
                                channels_last=channels_last)
    trainer = cnnlib.Trainer(cnnlib.create_model("lenet"), config)

    start = time.perf_counter()
    history = trainer.fit(train, test)
    seconds = time.perf_counter() - start

    return {
        "impl": "cnnlib",
        "seconds": seconds,
        "test_acc": trainer.evaluate(test)["accuracy"],
        "train_loss": history["train_loss"][-1],
        "val_acc_per_epoch": history["val_acc"],
        "device": str(trainer.device),
        "amp": str(trainer.amp_dtype) if trainer.amp_dtype else "off",
        "channels_last": channels_last,
        "num_parameters": sum(p.numel() for p in trainer.model.parameters()),
        "train_examples": len(data.train),
        "train_digest": _bench_data.digest(data.train.images, data.train.labels),
        "test_digest": _bench_data.digest(data.test.images, data.test.labels),
    }


def main(*, impl: str, out: str, **kwargs) -> None:
    if impl == "d2l":
        result = d2l_trial(seed=kwargs["seed"], epochs=kwargs["epochs"], lr=kwargs["lr"],
                           batch_size=kwargs["batch_size"])
    elif impl == "cnnlib":
        result = cnnlib_trial(**kwargs)
    else:
        raise ValueError(f"unknown implementation {impl!r}")
    result.update(seed=kwargs["seed"], epochs=kwargs["epochs"], torch_threads=torch.get_num_threads())
    with open(out, "w") as f:
        json.dump(result, f)
