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
import sys
import time
from pathlib import Path


import cnnlib
from cnnlib.experiments import ExperimentParser, rounded, run_experiment

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
    p = ExperimentParser("lenet_seeds", __doc__, results_dir=HERE / "results", seeds=[0, 1, 2, 3, 4],
                         epochs=10, train_size=None,
                         quick={"seeds": [0, 1], "epochs": 1, "train_size": 1_000})
    p.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS))
    return p.parse_args(argv)


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
            "history": rounded(history),
            "val_acc": history["val_acc"][-1], "test_acc": final["accuracy"],
            "test_loss": round(final["loss"], 6)}


def main(argv=None) -> int:
    args = parse_args(argv)

    def sweep(data, device):
        rows = [run(variant, seed, args, data, device)
                for seed in args.seeds for variant in args.variants]
        notes = (f"Fashion-MNIST, {data.source} source ({data.test_split_note}); validation: "
                 f"{VAL_SIZE} training images, stratified, val_seed=0; batch {BATCH_SIZE}; SGD "
                 "without momentum. " + "; ".join(f"{k}: {v[3]}" for k, v in VARIANTS.items()
                                                    if k in args.variants))
        return rows, notes

    run_experiment("lenet_seeds", args, sweep, script=__file__, argv=argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
