"""The largest learning rate LeNet tolerates with and without batch normalization (the batch
normalization chapter).

The two variants are the registered ``lenet_modern`` with ``batch_norm=True`` and
``batch_norm=False`` and every other argument at its default (ReLU, max pooling, Kaiming
init). They differ in batch norm after each convolution and each hidden dense layer, and in
the biases of those four layers, which the batch-norm variant drops (batch norm subtracts
the mean, which cancels any constant, and adds its own shift).

Each run trains one variant at one learning rate of a grid from 0.01 to 10 with plain SGD
(no momentum, no weight decay), batches of 64, for a few epochs on a stratified subset of
the training images that the validation split leaves, and reads the validation split after
every epoch. The Trainer's divergence guard is on, at its default: a training loss that is
NaN or inf, or more than 100 times the run's first loss, stops the run (checked every 50
steps and at the end of each epoch). Such a run is recorded as diverged, with the guard's
message. The test split is not read: nothing here is a final result.

A learning rate is *stable* for a variant when every seed's run finishes without the guard
firing and reaches a final validation accuracy of at least ``VAL_THRESHOLD``;
:func:`largest_stable_lr` returns the largest such rate of the grid. The seed sets the
initial weights, the training subset and the shuffling; the validation split is the same for
every run (val_seed=0).

Usage: python experiments/bn_lr.py [--seeds 0 1 2] [--epochs 2] [--train-size 10000]
       [--lrs 0.01 ... 10] [--quick] [--out experiments/results/bn_lr.json]
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import cnnlib
from cnnlib.experiments import ExperimentParser, rounded, run_experiment

HERE = Path(__file__).resolve().parent
VARIANTS = ("bn", "no_bn")
LRS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
VAL_SIZE = 5_000
BATCH_SIZE = 64
VAL_THRESHOLD = 0.70  # fixed before the sweep: far above chance (0.10), below what both
# variants reach at lr 0.1 in one epoch in a pilot run (seed 0)
RECIPE = (f"lenet_modern (ReLU, max pooling, Kaiming init) with batch_norm=True or False; "
          f"plain SGD (no momentum, no weight decay), batch {BATCH_SIZE}, constant learning "
          "rate, no augmentation; the Trainer's divergence guard at its default (loss NaN/inf "
          "or above 100 times the first loss, checked every 50 steps)")


def parse_args(argv=None) -> argparse.Namespace:
    p = ExperimentParser("bn_lr", __doc__, results_dir=HERE / "results", epochs=2,
                         train_size=10_000, quick={"seeds": [0, 1], "lrs": [0.1, 10.0],
                                                   "epochs": 1, "train_size": 1_000})
    p.add_argument("--lrs", type=float, nargs="+", default=list(LRS))
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    args = p.parse_args(argv)
    if not all(math.isfinite(lr) and lr > 0 for lr in args.lrs):
        p.error(f"--lrs must be positive numbers, got {args.lrs}")
    return args


def make_loaders(seed: int, train_size: int | None, data, device):
    """(train, val) loaders: a seeded stratified training subset and the fixed validation
    split of VAL_SIZE images (val_seed=0); the test split is not used."""
    train, val, _ = cnnlib.fashion_mnist_loaders(BATCH_SIZE, val_size=VAL_SIZE,
                                                 train_size=train_size, data=data,
                                                 device=device, seed=seed)
    return train, val


def make_trainer(variant: str, seed: int, lr: float, epochs: int, device) -> cnnlib.Trainer:
    """A seeded lenet_modern with or without batch norm, and a Trainer with this recipe."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    cnnlib.seed_everything(seed)
    model = cnnlib.create_model("lenet_modern", batch_norm=variant == "bn")
    config = cnnlib.TrainConfig(epochs=epochs, lr=lr, optimizer="sgd", momentum=0.0,
                                progress=False)
    return cnnlib.Trainer(model, config, device=device)


def run(variant: str, seed: int, lr: float, epochs: int, train_size: int | None, data, device,
        *, verbose: bool = True) -> dict:
    """Train one variant at one learning rate on one seed; the row the results file holds
    for it. The chapter calls this too."""
    train, val = make_loaders(seed, train_size, data, device)
    trainer = make_trainer(variant, seed, lr, epochs, device)
    start = time.perf_counter()
    stopped = None
    try:
        trainer.fit(train, val)
    except FloatingPointError as err:  # the divergence guard (or a non-finite val loss)
        stopped = str(err).splitlines()[0]
    seconds = time.perf_counter() - start
    history = trainer.history
    val_acc = history["val_acc"][-1] if stopped is None else None
    if verbose:
        result = f"val acc {val_acc:.4f}" if stopped is None else f"diverged: {stopped[:70]}"
        print(f"  {variant:5s} seed {seed} lr {lr:<5g}: {result}  {seconds:.1f} s", flush=True)
    return {"variant": variant, "seed": seed, "lr": lr, "model": "lenet_modern",
            "model_args": {"batch_norm": variant == "bn"}, "optimizer": "sgd", "momentum": 0.0,
            "batch_size": BATCH_SIZE, "epochs": epochs, "train_examples": train.num_examples,
            "val_examples": len(val.labels), "params": cnnlib.count_parameters(trainer.model),
            "diverged": stopped is not None, "stopped": stopped,
            "steps": trainer.step, "seconds": round(seconds, 2),
            "history": rounded(history),
            "val_acc": val_acc}


def is_stable(rows: list[dict], threshold: float = VAL_THRESHOLD) -> bool:
    """Every run finished without the guard firing and reached ``threshold`` validation
    accuracy at its last epoch (an empty list is not stable)."""
    return bool(rows) and all(not r["diverged"] and r["val_acc"] >= threshold for r in rows)


def largest_stable_lr(rows: list[dict], variant: str,
                      threshold: float = VAL_THRESHOLD) -> float | None:
    """The largest learning rate at which :func:`is_stable` holds for ``variant``'s runs
    (all seeds at that rate); ``None`` if there is none."""
    by_lr: dict[float, list[dict]] = {}
    for r in rows:
        if r["variant"] == variant:
            by_lr.setdefault(r["lr"], []).append(r)
    stable = [lr for lr, runs in by_lr.items() if is_stable(runs, threshold)]
    return max(stable) if stable else None


def main(argv=None) -> int:
    args = parse_args(argv)

    def sweep(data, device):
        rows = [run(variant, seed, lr, args.epochs, args.train_size, data, device)
                for seed in args.seeds for variant in args.variants for lr in args.lrs]
        for variant in args.variants:
            print(f"largest stable lr, {variant}: {largest_stable_lr(rows, variant)}")
        notes = (f"Fashion-MNIST, {data.source} source; training subset of {args.train_size} "
                 f"images (stratified, seeded), validation: {VAL_SIZE} training images, "
                 f"stratified, val_seed=0; the test split is not read. {RECIPE}. Stable: every "
                 f"seed finishes without the guard firing and reaches validation accuracy >= "
                 f"{VAL_THRESHOLD} after its last epoch.")
        return rows, notes

    run_experiment("bn_lr", args, sweep, script=__file__, argv=argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
