"""NCHW versus channels-last: one LeNet training epoch through ``Trainer``, interleaved.

The main benchmark (``lenet_d2l_vs_cnnlib.py``) trains cnnlib with
``TrainConfig(channels_last=True)``. This script isolates that one choice: two trainers
on the same data, seed and recipe (d2l's sigmoid LeNet, lr 0.9, batch 256), alternating
one epoch each so that drifting machine load hits both alike. It prints the seconds per
epoch of each round, their medians and the ratio, and checks that both nets still learn
the same thing (test accuracy after the last round; the two differ only by rounding, which
at lr 0.9 can grow into a visible difference).

    .venv/bin/python benchmarks/lenet_memory_format.py [--rounds 5] [--train-size N]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

import cnnlib


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5, help="epochs per memory order (interleaved)")
    p.add_argument("--train-size", type=int, default=None, help="stratified training subset")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds must be >= 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    print(f"hardware: {cnnlib.device_name()}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    data = cnnlib.load_fashion_mnist()
    trainers, loaders = {}, {}
    for name, channels_last in (("NCHW", False), ("channels-last", True)):
        # Each trainer gets its own loaders from the same seed: a shared loader would hand
        # the two nets different shuffles.
        loaders[name] = cnnlib.fashion_mnist_loaders(256, data=data, train_size=args.train_size,
                                                     seed=0)
        torch.manual_seed(0)
        config = cnnlib.TrainConfig(epochs=args.rounds, lr=0.9, progress=False,
                                    channels_last=channels_last)
        trainers[name] = cnnlib.Trainer(cnnlib.create_model("lenet"), config)
    seconds = {name: [] for name in trainers}
    for round_ in range(1, args.rounds + 1):
        for name, trainer in trainers.items():
            start = time.perf_counter()
            trainer.fit(*loaders[name], epochs=round_)  # one more epoch, with its test evaluation
            seconds[name].append(time.perf_counter() - start)
        print(f"round {round_}: " + ", ".join(f"{n} {s[-1]:.2f} s" for n, s in seconds.items()))
    medians = {name: statistics.median(s) for name, s in seconds.items()}
    for name, trainer in trainers.items():
        print(f"{name:>13}: median {medians[name]:.2f} s per epoch (incl. test evaluation), "
              f"test acc after {args.rounds} epochs {trainer.history['val_acc'][-1]:.4f}")
    print(f"ratio NCHW / channels-last: {medians['NCHW'] / medians['channels-last']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
