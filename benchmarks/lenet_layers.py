"""torch.nn's Sigmoid and Flatten versus cnnlib's drop-in layers, in channels-last training.

cnnlib's classic LeNet runs its sigmoids in place and flattens with
``cnnlib.models.Flatten``, which hands the gradient back in channels-last order (see
``cnnlib/models/layers.py``). This script measures what that buys, in two parts:

1. The kernel behind the Flatten change: ``avg_pool2d``'s CPU backward for LeNet's second
   pooling layer (256 x 16 x 10 x 10, channels-last), given its gradient in channels-last
   order or, as ``nn.Flatten`` passes it, in NCHW order. Medians of 7 repeats of 50 calls.
2. Whole epochs: two ``Trainer`` runs, channels-last, same seed, data and recipe (d2l's
   sigmoid LeNet, lr 0.9, batch 256), one with ``nn.Sigmoid`` + ``nn.Flatten``, one with
   cnnlib's layers, alternating one epoch each. Both must end with the same weights, bit
   for bit: the layers change speed, not arithmetic.

    .venv/bin/python benchmarks/lenet_layers.py [--rounds 5] [--train-size N]
"""
from __future__ import annotations

import statistics
import sys
import time

import torch
from torch import nn

import cnnlib
from cnnlib.models import LeNet

from _interleaved import parse_args, race


def _median_us(fn, calls: int = 50, repeats: int = 7) -> float:
    for _ in range(5):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(times)


def pool_backward_by_gradient_format() -> None:
    cl = torch.channels_last
    torch.manual_seed(0)
    x = torch.rand(256, 16, 10, 10).contiguous(memory_format=cl)
    grads = {"channels-last": torch.randn(256, 16, 5, 5).contiguous(memory_format=cl),
             "NCHW": torch.randn(256, 16, 5, 5)}
    us = {}
    for name, g in grads.items():
        us[name] = _median_us(lambda: torch.ops.aten.avg_pool2d_backward(
            g, x, [2, 2], [2, 2], [0, 0], False, True, None))
        print(f"avg_pool2d backward, input channels-last, gradient {name:>13}: {us[name]:6.0f} us")
    print(f"ratio: {us['NCHW'] / us['channels-last']:.1f}x")


def torch_nn_lenet() -> LeNet:
    model = LeNet(act_layer=nn.Sigmoid)
    model.classifier[0] = nn.Flatten()
    return model


def main(argv=None) -> int:
    args = parse_args(__doc__.split("\n\n")[0], argv)
    cnnlib.tune_cpu_allocator()  # what Trainer does on the CPU, here before the kernel timing
    pool_backward_by_gradient_format()
    trainers, medians = race(
        {"torch.nn layers": (torch_nn_lenet, True),
         "cnnlib layers": (lambda: cnnlib.create_model("lenet"), True)},
        rounds=args.rounds, train_size=args.train_size)
    old, new = trainers.values()
    same = all(torch.equal(p, q) for p, q in zip(old.model.parameters(), new.model.parameters()))
    print(f"same weights bit for bit: {same}")
    print(f"ratio torch.nn / cnnlib layers: "
          f"{medians['torch.nn layers'] / medians['cnnlib layers']:.2f}x")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
