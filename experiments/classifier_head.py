"""Dense head against global-average-pooling head, and softmax before the loss (the
classifier-head chapter), on a subset of Fashion-MNIST over several seeds.

Every run trains cnnlib's plain CNN (three stages of 3x3 convolutions with 16, 32 and 64
channels, batch norm, ReLU, 2x2 max pooling) on a stratified subset of the training images
and reads the validation split after every epoch. The test split is not read: the page
compares variants, and compares them on the validation split only. The seed sets the
initial weights, the training subset and the shuffling; the validation split is the same
for every run (val_seed=0).

The variants, listed in VARIANTS, differ from "dense" in one factor each:
- "gap": the head. Global average pooling and one linear layer (64 -> 10) instead of
  flatten, a hidden layer of 128 ReLU units and an output layer (3136 -> 128 -> 10).
- "dense_softmax": the loss input. The dense model is wrapped as
  nn.Sequential(model, nn.Softmax(dim=1)) and trained with the same nn.CrossEntropyLoss, so
  the loss gets probabilities instead of logits (a common bug). For a given seed it starts
  from the very same weights as "dense" and sees the same batches.

Besides Trainer's history, each row records the mean norm of the parameter gradient in
each epoch and, for "dense_softmax", the cross-entropy of the probabilities the model
outputs on the validation split (Trainer's val_loss for that variant is the loss it
minimizes, which applies a second softmax).

Usage: python experiments/classifier_head.py [--seeds 0 1 2] [--epochs 10]
       [--train-size 10000] [--variants dense gap dense_softmax] [--quick]
       [--out experiments/results/classifier_head.json]
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

import cnnlib
from cnnlib.experiments import ExperimentParser, rounded, run_experiment
from cnnlib.hooks import GradNormLogger

HERE = Path(__file__).resolve().parent
VAL_SIZE = 5_000
BATCH_SIZE = 256
# The optimizer settings of the AlexNet paper (SGD, momentum 0.9, learning rate 0.01),
# without its weight decay; chosen in advance, not tuned for either head.
LR, MOMENTUM = 0.01, 0.9
# name -> (model arguments, softmax appended to the model's output, what differs from "dense")
VARIANTS = {
    "dense": ({"head": "dense", "batch_norm": True}, False,
              "flatten, Linear(3136, 128), ReLU, Linear(128, 10): the reference"),
    "gap": ({"head": "gap", "batch_norm": True}, False,
            "global average pooling, Linear(64, 10): only the head differs"),
    "dense_softmax": ({"head": "dense", "batch_norm": True}, True,
                      "the dense model followed by nn.Softmax(dim=1), so that "
                      "nn.CrossEntropyLoss gets probabilities: only the loss input differs"),
}


def parse_args(argv=None) -> argparse.Namespace:
    p = ExperimentParser("classifier_head", __doc__, results_dir=HERE / "results", epochs=10,
                         train_size=10_000,
                         quick={"seeds": [0, 1], "epochs": 1, "train_size": 1_000})
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    return p.parse_args(argv)


def build(variant: str) -> nn.Module:
    """The variant's model, initialized from the global RNG (seed it first)."""
    model_args, softmax, _ = VARIANTS[variant]
    model = cnnlib.create_model("plain_cnn", **model_args)
    return nn.Sequential(model, nn.Softmax(dim=1)) if softmax else model


def output_nll(outputs: torch.Tensor, labels: torch.Tensor, softmax: bool) -> float:
    """Mean cross-entropy of the probabilities a model gives the true classes.

    ``outputs`` are logits, or probabilities when the model ends in a softmax. A
    probability that underflowed to 0 counts as the smallest positive normal float32,
    ``torch.finfo(torch.float32).tiny`` (its loss is then about 87.3 instead of
    infinite)."""
    if not softmax:
        return nn.functional.cross_entropy(outputs, labels).item()
    p_true = outputs.gather(1, labels[:, None]).clamp_min(torch.finfo(torch.float32).tiny)
    return -p_true.log().mean().item()


def run(variant: str, seed: int, *, epochs: int, train_size: int | None, data, device,
        val_size: int = VAL_SIZE, progress: bool = False) -> tuple[dict, cnnlib.Trainer]:
    """Train one variant from one seed; returns its results row and the trainer.

    ``val_size`` below VAL_SIZE only makes a quick check quicker (the chapter's smoke run).
    """
    _, softmax, _ = VARIANTS[variant]
    train, val = cnnlib.fashion_mnist_loaders(
        BATCH_SIZE, val_size=val_size, train_size=train_size, test_size=10, data=data,
        device=device, seed=seed)[:2]
    cnnlib.seed_everything(seed)
    model = build(variant)
    grad_log = GradNormLogger(weights_only=False)  # every parameter's norm, every step
    val_nll = []

    def on_epoch_end(trainer, epoch, metrics):
        if softmax:
            outputs, labels = trainer.predict(val)
            val_nll.append(output_nll(outputs, labels, softmax=True))

    config = cnnlib.TrainConfig(epochs=epochs, lr=LR, momentum=MOMENTUM, progress=progress)
    trainer = cnnlib.Trainer(model, config, device=device,
                             hooks={"after_backward": grad_log.after_backward,
                                    "on_epoch_end": [grad_log.flush, on_epoch_end]})
    start = time.perf_counter()
    history = trainer.fit(train, val)
    seconds = time.perf_counter() - start
    # The norm of the whole gradient at each step, from the norms of its parts; then its
    # mean over the steps of each epoch.
    per_step = [math.sqrt(sum(norms[i] ** 2 for norms in grad_log.norms.values()))
                for i in range(len(grad_log.steps))]
    grad_norms = [statistics.fmean(v for step, v in zip(grad_log.steps, per_step)
                                   if step // len(train) == e) for e in range(epochs)]
    head = model[0].classifier if softmax else model.classifier
    row = {"variant": variant, "seed": seed, "model": "plain_cnn",
           "model_args": VARIANTS[variant][0], "softmax_in_model": softmax, "lr": LR,
           "momentum": MOMENTUM, "epochs": epochs, "train_examples": train.num_examples,
           "val_examples": len(val.labels), "params": cnnlib.count_parameters(model),
           "head_params": cnnlib.count_parameters(head), "seconds": round(seconds, 1),
           "history": rounded(history),
           "grad_norm": [round(v, 6) for v in grad_norms],
           "val_acc": history["val_acc"][-1]}
    if softmax:
        row["val_nll"] = [round(v, 6) for v in val_nll]
    return row, trainer


def main(argv=None) -> int:
    args = parse_args(argv)

    def sweep(data, device):
        rows = []
        for seed in args.seeds:
            for variant in args.variants:
                row, _ = run(variant, seed, epochs=args.epochs, train_size=args.train_size,
                             data=data, device=device)
                print(f"  {variant:13s} seed {seed}: val acc {row['val_acc']:.4f}  "
                      f"{row['seconds']:.0f} s", flush=True)
                rows.append(row)
        notes = (f"Fashion-MNIST, {data.source} source; a stratified training subset of "
                 f"{rows[0]['train_examples']:,} images (seeded by each run's seed); "
                 f"validation: {VAL_SIZE:,} training images, stratified, val_seed=0; the test "
                 f"split is not read. Batch {BATCH_SIZE}, SGD lr {LR}, momentum {MOMENTUM}, no "
                 "weight decay, no learning-rate schedule. "
                 + "; ".join(f"{k}: {v[2]}" for k, v in VARIANTS.items() if k in args.variants))
        return rows, notes

    run_experiment("classifier_head", args, sweep, script=__file__, argv=argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
