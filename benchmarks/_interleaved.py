"""Interleaved epochs: several LeNet training runs that differ in one choice, timed in turns.

Shared by ``lenet_memory_format.py`` and ``lenet_layers.py``. Every variant trains d2l's
recipe (sigmoid LeNet, lr 0.9, batch 256) from the same seed on the same data, one epoch
each in turn, so that drifting machine load hits all of them alike.
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch
from torch import nn

import cnnlib


def parse_args(description: str, argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--rounds", type=int, default=5, help="epochs per variant (interleaved)")
    p.add_argument("--train-size", type=int, default=None, help="stratified training subset")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds must be >= 1")
    return args


def race(variants: dict[str, tuple[Callable[[], nn.Module], bool]], *, rounds: int,
         train_size: int | None) -> tuple[dict[str, cnnlib.Trainer], dict[str, float]]:
    """Train each ``name: (build_model, channels_last)`` for ``rounds`` interleaved epochs.

    Prints the seconds of every round, then each variant's median seconds per epoch (with
    its test evaluation) and final test accuracy. Returns the trainers and the medians.
    """
    print(f"hardware: {cnnlib.device_name()}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    data = cnnlib.load_fashion_mnist()
    trainers, loaders = {}, {}
    for name, (build, channels_last) in variants.items():
        # Each trainer gets its own loaders from the same seed: a shared loader would hand
        # the nets different shuffles.
        loaders[name] = cnnlib.fashion_mnist_loaders(256, data=data, train_size=train_size, seed=0)
        torch.manual_seed(0)
        config = cnnlib.TrainConfig(epochs=rounds, lr=0.9, progress=False,
                                    channels_last=channels_last)
        trainers[name] = cnnlib.Trainer(build(), config)
    seconds = {name: [] for name in trainers}
    for round_ in range(1, rounds + 1):
        for name, trainer in trainers.items():
            start = time.perf_counter()
            trainer.fit(*loaders[name], epochs=round_)  # one more epoch, with its test evaluation
            seconds[name].append(time.perf_counter() - start)
        print(f"round {round_}: " + ", ".join(f"{n} {s[-1]:.2f} s" for n, s in seconds.items()))
    medians = {name: statistics.median(s) for name, s in seconds.items()}
    width = max(map(len, trainers))
    for name, trainer in trainers.items():
        print(f"{name:>{width}}: median {medians[name]:.2f} s per epoch (incl. test evaluation), "
              f"test acc after {rounds} epochs {trainer.history['val_acc'][-1]:.4f}")
    return trainers, medians
