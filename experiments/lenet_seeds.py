"""Classic against modern LeNet on Fashion-MNIST over several seeds (the LeNet chapter).

Each run trains on the 55,000 training images that the validation split leaves, reads the
validation split after every epoch (the curves and any choice made from them), and the test
split once, at the end. The seed sets the initial weights and the shuffling; the
validation split is the same for every run (val_seed=0).

The two recipes differ in more than one factor, all listed in VARIANTS: activation,
pooling, batch normalization (which also drops the biases before it), initialization and
learning rate.

Usage: python experiments/lenet_seeds.py [--seeds 0 1 2 3 4] [--epochs 10] [--quick]
       [--out experiments/results/lenet_seeds.json]
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import torch

import cnnlib
from cnnlib.experiments import save_results

HERE = Path(__file__).resolve().parent
VAL_SIZE = 5_000
BATCH_SIZE = 256
# name -> (registry name, model arguments, SGD learning rate, what differs, for the record)
VARIANTS = {
    "classic": ("lenet", {}, 0.9,
                "sigmoid, average pooling, Xavier init, biases, no batch norm, lr 0.9"),
    "modern": ("lenet_modern", {}, 0.1,
               "ReLU, max pooling, Kaiming init, batch norm (no biases before it), lr 0.1"),
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--train-size", type=int, default=None,
                   help="a stratified subset of the training images (default: all 55,000)")
    p.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS))
    p.add_argument("--quick", action="store_true",
                   help="seeds 0 1, 1 epoch, 1,000 training images: checks that the code runs")
    p.add_argument("--out", type=Path, default=HERE / "results" / "lenet_seeds.json")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs, args.train_size = [0, 1], 1, 1_000
    return args


def run(variant: str, seed: int, args, data, device) -> dict:
    registry_name, model_args, lr, _ = VARIANTS[variant]
    train, val, test = cnnlib.fashion_mnist_loaders(
        BATCH_SIZE, val_size=VAL_SIZE, train_size=args.train_size, data=data, device=device,
        seed=seed)
    cnnlib.seed_everything(seed)
    model = cnnlib.create_model(registry_name, **model_args)
    trainer = cnnlib.Trainer(model, cnnlib.TrainConfig(epochs=args.epochs, lr=lr, progress=False),
                             device=device)
    start = time.perf_counter()
    history = trainer.fit(train, val)
    seconds = time.perf_counter() - start
    final = trainer.evaluate(test)  # the one look at the test split
    print(f"  {variant:8s} seed {seed}: val acc {history['val_acc'][-1]:.4f}  test acc "
          f"{final['accuracy']:.4f}  {seconds:.0f} s", flush=True)
    return {"variant": variant, "seed": seed, "model": registry_name, "model_args": model_args,
            "lr": lr, "epochs": args.epochs, "train_examples": train.num_examples,
            "val_examples": len(val.labels), "test_examples": len(test.labels),
            "params": cnnlib.count_parameters(model), "seconds": round(seconds, 1),
            "history": {k: [round(v, 6) for v in vals] for k, vals in history.items()},
            "val_acc": history["val_acc"][-1], "test_acc": final["accuracy"],
            "test_loss": round(final["loss"], 6)}


def main(argv=None) -> int:
    args = parse_args(argv)
    device = cnnlib.get_device()
    data = cnnlib.load_fashion_mnist()
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    print(cnnlib.describe_run(device), flush=True)
    rows = [run(variant, seed, args, data, device) for seed in args.seeds for variant in args.variants]
    notes = (f"Fashion-MNIST, {data.source} source ({data.test_split_note}); validation: "
             f"{VAL_SIZE} training images, stratified, val_seed=0; batch {BATCH_SIZE}; SGD "
             "without momentum. " + "; ".join(f"{k}: {v[3]}" for k, v in VARIANTS.items()
                                                if k in args.variants))
    save_results(args.out, "lenet_seeds", rows, started=started, seconds=time.perf_counter() - t0,
                 device=device, argv=[str(Path(sys.argv[0]))] + (argv if argv is not None else sys.argv[1:]),
                 notes=notes)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
