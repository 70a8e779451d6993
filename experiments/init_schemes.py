"""A deep plain CNN trained from four weight initializations, over several seeds (the
initialization chapter).

The network is the registered ``plain_cnn`` with five 3x3 convolutions per stage (15 in
all; 16, 32 and 64 channels, ReLU, max pooling between stages, no batch norm, a global
average pooling head). After it is built, ``cnnlib.init.init_weights`` draws its weights
again with one of four schemes, every bias 0:

- ``normal``: N(0, 0.01^2) for every layer, AlexNet's weights (Krizhevsky et al., 2012;
  the paper's biases of 1 in some layers are left out here, to change one factor only);
- ``xavier``: Glorot & Bengio (2010), std sqrt(2 / (fan_in + fan_out)), gain 1 (normal);
- ``kaiming_fan_in``: He et al. (2015), std sqrt(2 / fan_in), ReLU's gain (normal);
- ``kaiming_fan_out``: std sqrt(2 / fan_out): what a function named "fan_in" computes if it
  divides by out_channels * k * k, as a seed document's code does.

Each run trains with SGD, momentum 0.9, learning rate 0.01 and batches of 128 (AlexNet's
optimizer settings, not tuned here) on a stratified subset of the training images that the
validation split leaves, reads the validation split after every epoch, records the
gradient norm of every layer's weights at the first step, and reads the test split once, at
the end. The seed sets the initial weights, the training subset and the shuffling; within a
seed every scheme sees the same subset in the same order, so the runs differ in the
initial weights only. A run whose loss turns NaN or explodes is stopped by the Trainer and
recorded with its error.

Usage: python experiments/init_schemes.py [--seeds 0 1 2] [--epochs 4]
       [--train-size 10000] [--quick] [--out experiments/results/init_schemes.json]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cnnlib
from cnnlib.experiments import ExperimentParser, rounded, run_experiment
from cnnlib.hooks import GradNormLogger
from cnnlib.init import init_weights

HERE = Path(__file__).resolve().parent
# Each scheme as the keyword arguments of cnnlib.init.init_weights.
SCHEMES = {
    "normal": {"scheme": "normal", "std": 0.01},
    "xavier": {"scheme": "xavier", "activation": "linear"},
    "kaiming_fan_in": {"scheme": "kaiming", "activation": "relu", "mode": "fan_in"},
    "kaiming_fan_out": {"scheme": "kaiming", "activation": "relu", "mode": "fan_out"},
}
MODEL_ARGS = {"convs_per_stage": 5, "activation": "relu"}  # every other argument: default
VAL_SIZE = 5_000
BATCH_SIZE = 128
LR = 0.01
MOMENTUM = 0.9
RECIPE = (f"SGD lr {LR}, momentum {MOMENTUM}, batch {BATCH_SIZE} (AlexNet's settings, not "
          "tuned), no weight decay, no augmentation; plain_cnn with convs_per_stage=5 (15 "
          "convolutions), ReLU, no batch norm, global-average-pooling head; weights drawn "
          "again by cnnlib.init.init_weights (normal distribution), every bias 0")


def parse_args(argv=None) -> argparse.Namespace:
    p = ExperimentParser("init_schemes", __doc__, results_dir=HERE / "results", epochs=4,
                         train_size=10_000, quick={"seeds": [0], "epochs": 1, "train_size": 500})
    p.add_argument("--schemes", nargs="+", choices=list(SCHEMES), default=list(SCHEMES))
    return p.parse_args(argv)


def make_model(scheme: str, seed: int):
    """plain_cnn with MODEL_ARGS, its weights drawn again with ``scheme`` after seeding."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {tuple(SCHEMES)}, got {scheme!r}")
    cnnlib.seed_everything(seed)
    model = cnnlib.create_model("plain_cnn", **MODEL_ARGS)
    return init_weights(model, **SCHEMES[scheme])


def run(scheme: str, seed: int, epochs: int, train_size: int | None, data, device, *,
        test_size: int | None = None, verbose: bool = True, evaluate_test: bool = True) -> dict:
    """Train one scheme on one seed; the row the results file holds for it. The chapter
    calls this too (with fewer images in its smoke profile, and evaluate_test=False so that
    it does not look at the test split again: test_acc and test_loss are then None)."""
    train, val, test = cnnlib.fashion_mnist_loaders(
        BATCH_SIZE, val_size=VAL_SIZE, train_size=train_size, test_size=test_size, data=data,
        device=device, seed=seed)
    model = make_model(scheme, seed)
    config = cnnlib.TrainConfig(epochs=epochs, lr=LR, momentum=MOMENTUM, optimizer="sgd",
                                progress=False)
    grads = GradNormLogger(every=10**9)  # step 0 only: the gradients at initialization
    trainer = cnnlib.Trainer(model, config, device=device, hooks=grads.hooks())
    start = time.perf_counter()
    error = None
    try:
        history = trainer.fit(train, val)
    except FloatingPointError as err:  # recorded, not hidden
        history, error = trainer.history, str(err)
    seconds = time.perf_counter() - start
    grads.flush()
    # the one look at the test split
    final = trainer.evaluate(test) if error is None and evaluate_test else None
    row = {"scheme": scheme, "seed": seed, "model": "plain_cnn", "model_args": dict(MODEL_ARGS),
           "init": SCHEMES[scheme], "optimizer": "sgd", "lr": LR, "momentum": MOMENTUM,
           "batch_size": BATCH_SIZE, "epochs": epochs, "train_examples": train.num_examples,
           "val_examples": len(val.labels), "test_examples": len(test.labels),
           "seconds": round(seconds, 1), "error": error,
           "grad_norms_step0": {name: v[0] for name, v in grads.norms.items()},
           "history": rounded(history),
           "val_acc": history["val_acc"][-1] if history.get("val_acc") else None,
           "test_acc": final["accuracy"] if final else None,
           "test_loss": round(final["loss"], 6) if final else None}
    if verbose:
        accs = " ".join(f"{100 * a:.1f}" for a in row["history"].get("val_acc", []))
        print(f"  {scheme:16s} seed {seed}: val acc per epoch {accs}  test "
              f"{'-' if final is None else round(100 * final['accuracy'], 1)}  {seconds:.0f} s"
              + (f"  ({error})" if error else ""), flush=True)
    return row


def main(argv=None) -> int:
    args = parse_args(argv)

    def sweep(data, device):
        rows = [run(scheme, seed, args.epochs, args.train_size, data, device)
                for seed in args.seeds for scheme in args.schemes]
        notes = (f"Fashion-MNIST, {data.source} source ({data.test_split_note}); training "
                 f"subset of {args.train_size} images (stratified, seeded), validation: "
                 f"{VAL_SIZE} training images, stratified, val_seed=0. {RECIPE}. "
                 "grad_norms_step0: the L2 norm of each weight's gradient at the first step, "
                 "before any update.")
        return rows, notes

    run_experiment("init_schemes", args, sweep, script=__file__, argv=argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
