"""One network, ten activations: a same-budget comparison on Fashion-MNIST (the activations chapter).

Every run trains the registered ``plain_cnn`` (three 3x3 convolutions, max pooling, global
average pooling, no batch norm) with the same initialization, optimizer, learning rate,
epochs, batch size and training images; only the activation differs. The seed sets the
initial weights, the training subset and the shuffling, and is shared by all activations,
so that seed s of every activation starts from the same draw. Each run reads the validation
split (5,000 training images held out, the same for every run, val_seed=0) after every
epoch; the test split is not read: nothing here is final.

The budget is small on purpose (a 10,000-image training subset, 5 epochs, one learning rate
for all), so that 3 seeds of all ten activations run in minutes on a 2-core CPU. The
optimizer is Adam with its default learning rate, 1e-3, fixed before the runs: a first
trial with SGD and momentum 0.9 (learning rates 0.05 and 0.01, on a six-convolution version
of the network, seed 99, which is not reported) left ReLU or sigmoid at chance after 3
epochs, so one SGD rate would have decided the ranking; a tuned rate per activation does not
fit the budget. The initialization is Kaiming (He et al., 2015) for every activation,
although it is derived for ReLU: keeping it fixed is the point (one factor at a time). The
seeds run in the outer loop, so that a change of load on a shared machine spreads over all
activations; the epoch times (training only, no evaluation) are comparable within one run
of this script.

Usage: python experiments/activations_compare.py [--seeds 0 1 2] [--epochs 5] [--quick]
       [--activations relu gelu ...] [--out experiments/results/activations_compare.json]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cnnlib
from cnnlib.experiments import ExperimentParser, rounded, run_experiment

HERE = Path(__file__).resolve().parent
VAL_SIZE = 5_000
BATCH_SIZE = 256
TRAIN_SIZE = 10_000
# In the order of the chapter: the two squashing functions, then ReLU and its relatives.
ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "gelu_tanh", "silu",
               "relu6", "hardswish")
# The network: everything but the activation, written out (the record keeps it too).
MODEL_ARGS = {"widths": [16, 32, 64], "convs_per_stage": 1, "downsample": "max",
              "batch_norm": False, "head": "gap", "init": "kaiming"}
# One optimizer for every activation, fixed before any run (not tuned on these runs).
OPTIMIZER = {"optimizer": "adam", "lr": 1e-3}


def parse_args(argv=None) -> argparse.Namespace:
    p = ExperimentParser("activations_compare", __doc__, results_dir=HERE / "results",
                         epochs=5, train_size=TRAIN_SIZE,
                         quick={"seeds": [0, 1], "epochs": 1, "train_size": 512,
                                "activations": ["sigmoid", "relu"]})
    p.add_argument("--activations", nargs="+", choices=ACTIVATIONS, default=list(ACTIVATIONS))
    return p.parse_args(argv)


def run(activation: str, seed: int, *, epochs: int, train_size: int, data, device):
    """Train plain_cnn with ``activation`` from seed ``seed``.

    Returns the row of the results file, and the trainer (whose model the chapter looks
    inside)."""
    train, val, _ = cnnlib.fashion_mnist_loaders(
        BATCH_SIZE, val_size=VAL_SIZE, train_size=train_size, data=data, device=device,
        seed=seed)
    cnnlib.seed_everything(seed)
    model = cnnlib.create_model("plain_cnn", activation=activation, **MODEL_ARGS)
    config = cnnlib.TrainConfig(epochs=epochs, progress=False, **OPTIMIZER)
    trainer = cnnlib.Trainer(model, config, device=device)
    start = time.perf_counter()
    history = trainer.fit(train, val)
    seconds = time.perf_counter() - start
    row = {"activation": activation, "seed": seed, "model": "plain_cnn",
           "model_args": {"activation": activation, **MODEL_ARGS}, **OPTIMIZER,
           "epochs": epochs, "batch_size": BATCH_SIZE,
           "train_examples": train.num_examples, "val_examples": len(val.labels),
           "params": cnnlib.count_parameters(model), "seconds": round(seconds, 1),
           "history": rounded(history),
           "val_acc": round(history["val_acc"][-1], 6),
           "val_loss": round(history["val_loss"][-1], 6)}
    return row, trainer


def main(argv=None) -> int:
    args = parse_args(argv)

    def sweep(data, device):
        rows = []
        for seed in args.seeds:
            for activation in args.activations:
                row, _ = run(activation, seed, epochs=args.epochs, train_size=args.train_size,
                             data=data, device=device)
                print(f"  {activation:10s} seed {seed}: val acc {100 * row['val_acc']:.1f}%  "
                      f"{row['seconds']:.0f} s", flush=True)
                rows.append(row)
        notes = (f"Fashion-MNIST, {data.source} source; training subset of "
                 f"{args.train_size:,} images (stratified, drawn with the run's seed); "
                 f"validation: {VAL_SIZE:,} training images, stratified, val_seed=0; batch "
                 f"{BATCH_SIZE}; {OPTIMIZER}, no weight decay; plain_cnn {MODEL_ARGS}; only the "
                 "activation differs. Epoch seconds are training time only (no evaluation).")
        return rows, notes

    run_experiment("activations_compare", args, sweep, script=__file__, argv=argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
