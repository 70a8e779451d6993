"""Max pooling, average pooling or a strided convolution to halve the maps, over several seeds
(the pooling chapter).

The three variants are the registered ``plain_cnn`` with ``downsample="max"``, ``"avg"`` or
``"stride"`` and every other argument at its default: three stages of one 3x3 convolution
(16, 32, 64 channels, ReLU, Kaiming init, no batch norm), global average pooling and one
linear layer. They have exactly the same parameters; only how the maps are halved between
stages differs (2x2 max pooling, 2x2 average pooling, or stride 2 in the next stage's
convolution).

Each run trains on a stratified subset of the training images that the validation split
leaves (a subset, to fit a 2-core CPU), reads the validation split after every epoch (the
curves and the comparison), the test split once, at the end, and then counts how often the
predicted class of validation images changes when they are shifted by 1, 2 or 3 pixels.
The seed sets the initial weights, the training subset and the shuffling; the validation
split is the same for every run (val_seed=0). Within each seed the variants take turns at
going first, so the training times per epoch of the three are measured in one process,
under the same conditions.

Usage: python experiments/pooling_downsample.py [--seeds 0 1 2 3 4] [--epochs 5]
       [--train-size 10000] [--quick] [--out experiments/results/pooling_downsample.json]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


import cnnlib
from cnnlib._checks import check_int
from cnnlib.experiments import ExperimentParser, rounded, run_experiment
from cnnlib.images import shift_images

HERE = Path(__file__).resolve().parent
VARIANTS = ("max", "avg", "stride")
VAL_SIZE = 5_000
BATCH_SIZE = 64  # chosen over 256 in a pilot (max variant, seed 0): 4x the steps per epoch
LR = 1e-3  # Adam's default step size (Kingma & Ba, 2015), not tuned here
SHIFTS = (1, 2, 3)  # pixels
DIRECTIONS = ((0, 1), (0, -1), (1, 0), (-1, 0))  # (dy, dx): right, left, down, up
SHIFT_IMAGES = 1_000  # validation images for the shift test
RECIPE = (f"Adam lr {LR}, batch {BATCH_SIZE} (chosen over 256 after a pilot run of the max "
          "variant, seed 0, on the validation split), no weight decay, no augmentation; plain_cnn "
          "defaults: widths (16, 32, 64), one 3x3 conv per stage, ReLU, Kaiming init, no batch "
          "norm, global-average-pooling head")


def parse_args(argv=None) -> argparse.Namespace:
    p = ExperimentParser("pooling_downsample", __doc__, results_dir=HERE / "results",
                         seeds=[0, 1, 2, 3, 4], epochs=5, train_size=10_000,
                         quick={"seeds": [0, 1], "epochs": 1, "train_size": 1_000})
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    return p.parse_args(argv)


def make_loaders(seed: int, train_size: int | None, data, device, test_size: int | None = None):
    """(train, val, test) loaders: a seeded stratified training subset, the fixed validation
    split of VAL_SIZE images (val_seed=0) and the test split."""
    return cnnlib.fashion_mnist_loaders(BATCH_SIZE, val_size=VAL_SIZE, train_size=train_size,
                                        test_size=test_size, data=data, device=device, seed=seed)


def make_trainer(variant: str, seed: int, epochs: int, device) -> cnnlib.Trainer:
    """A seeded plain_cnn with the given downsampling, and the Trainer with this recipe."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    cnnlib.seed_everything(seed)
    model = cnnlib.create_model("plain_cnn", downsample=variant)
    config = cnnlib.TrainConfig(epochs=epochs, lr=LR, optimizer="adam", progress=False)
    return cnnlib.Trainer(model, config, device=device)


def shift_test(trainer: cnnlib.Trainer, loader, n_images: int = SHIFT_IMAGES,
               shifts=SHIFTS, directions=DIRECTIONS) -> dict:
    """How the predictions of ``trainer.model`` on the first ``n_images`` of ``loader`` react
    when the images are shifted by whole pixels (``cnnlib.images.shift_images``, background
    fill, no wrap-around).

    For each shift k: ``flip_rate[k]``, the fraction of (image, direction) pairs whose
    predicted class differs from the prediction on the unshifted image, and ``acc[k]``, the
    accuracy on the shifted images; both averaged over ``directions`` ((dy, dx) unit steps,
    multiplied by k). ``acc_unshifted`` is the accuracy on the same images unshifted.
    """
    if not hasattr(loader, "images") or not hasattr(loader, "labels"):
        raise TypeError(f"loader must be a cnnlib.TensorLoader (it needs .images and .labels), "
                        f"got {type(loader).__name__}")
    check_int("n_images", n_images, 1)
    n = min(n_images, len(loader.labels))
    shifts = tuple(shifts)
    for k in shifts:
        check_int("each shift", k, 1)
    if not directions or any(len(d) != 2 or (abs(d[0]), abs(d[1])) not in ((0, 1), (1, 0), (1, 1))
                             for d in directions):
        raise ValueError(f"directions must be (dy, dx) unit steps such as (0, 1), got {directions!r}")
    images, labels = loader.images[:n], loader.labels[:n]

    def predict(x):
        batch = cnnlib.TensorLoader(x, labels, batch_size=1_000, device=loader.device)
        return trainer.predict(batch)[0].argmax(dim=1)

    base = predict(images)
    result = {"images": n, "shifts": list(shifts), "directions": [list(d) for d in directions],
              "acc_unshifted": (base == labels.cpu()).float().mean().item(),
              "flip_rate": [], "acc": []}
    for k in shifts:
        flips, correct = 0, 0
        for dy, dx in directions:
            pred = predict(shift_images(images, k * dy, k * dx))
            flips += (pred != base).sum().item()
            correct += (pred == labels.cpu()).sum().item()
        result["flip_rate"].append(flips / (n * len(directions)))
        result["acc"].append(correct / (n * len(directions)))
    return result


def run(variant: str, seed: int, epochs: int, train_size: int | None, data, device, *,
        test_size: int | None = None, shift_test_images: int = SHIFT_IMAGES,
        verbose: bool = True) -> dict:
    """Train one variant on one seed; the row the results file holds for it. The chapter
    calls this too (with smaller sizes in its smoke profile)."""
    train, val, test = make_loaders(seed, train_size, data, device, test_size)
    trainer = make_trainer(variant, seed, epochs, device)
    start = time.perf_counter()
    history = trainer.fit(train, val)
    seconds = time.perf_counter() - start
    final = trainer.evaluate(test)  # the one look at the test split
    shifted = shift_test(trainer, val, shift_test_images)
    if verbose:
        print(f"  {variant:6s} seed {seed}: val acc {history['val_acc'][-1]:.4f}  test acc "
              f"{final['accuracy']:.4f}  flips (1, 2, 3 px) "
              f"{' '.join(f'{r:.3f}' for r in shifted['flip_rate'])}  {seconds:.0f} s", flush=True)
    return {"variant": variant, "seed": seed, "model": "plain_cnn",
            "model_args": {"downsample": variant}, "optimizer": "adam", "lr": LR,
            "batch_size": BATCH_SIZE, "epochs": epochs, "train_examples": train.num_examples,
            "val_examples": len(val.labels), "test_examples": len(test.labels),
            "params": cnnlib.count_parameters(trainer.model), "seconds": round(seconds, 1),
            "history": rounded(history),
            "val_acc": history["val_acc"][-1], "test_acc": final["accuracy"],
            "test_loss": round(final["loss"], 6), "shift": shifted}


def turns(seed_index: int, variants) -> list[str]:
    """The variants in the order they run for the i-th seed: each goes first in turn."""
    variants = list(variants)
    k = seed_index % len(variants)
    return variants[k:] + variants[:k]


def main(argv=None) -> int:
    args = parse_args(argv)

    def sweep(data, device):
        rows = [run(variant, seed, args.epochs, args.train_size, data, device)
                for i, seed in enumerate(args.seeds) for variant in turns(i, args.variants)]
        notes = (f"Fashion-MNIST, {data.source} source ({data.test_split_note}); training "
                 f"subset of {args.train_size} images (stratified, seeded), validation: "
                 f"{VAL_SIZE} training images, stratified, val_seed=0. {RECIPE}. Shift test: "
                 f"the first {SHIFT_IMAGES} validation images shifted by "
                 f"{', '.join(map(str, SHIFTS))} pixels right, left, down and up (background "
                 "fill); flip_rate is the fraction of shifted images whose predicted class "
                 "changes.")
        return rows, notes

    run_experiment("pooling_downsample", args, sweep, script=__file__, argv=argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
