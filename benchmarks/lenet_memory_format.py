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

import sys

import cnnlib

from _interleaved import parse_args, race


def main(argv=None) -> int:
    args = parse_args(__doc__.split("\n\n")[0], argv)
    def lenet():
        return cnnlib.create_model("lenet")

    _, medians = race({"NCHW": (lenet, False), "channels-last": (lenet, True)},
                      rounds=args.rounds, train_size=args.train_size)
    print(f"ratio NCHW / channels-last: {medians['NCHW'] / medians['channels-last']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
