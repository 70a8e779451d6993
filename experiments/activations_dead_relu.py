"""Dead ReLUs: how many channels of a deep plain network never fire, at init and after training.

A channel is *silent* on a sample of images when its activation output is never positive:
not for one image, not at one position. For a ReLU that means its output is exactly zero
everywhere, so no gradient flows back through it for these images: the channel is *dead*.
A Leaky ReLU channel can be silent too, but it still passes back 1% of the gradient.

Each run builds the registered ``plain_cnn`` with nine 3x3 convolutions (three stages of
three, no batch norm, Kaiming init), counts the silent channels of every layer on the first
1,000 images of the validation split (the same images for every run), trains with Adam on a
10,000-image training subset, and counts again after every epoch. The variants differ in
the activation (ReLU or Leaky ReLU, slope 0.01) and the learning rate: Adam's default 1e-3,
the recipe of ``activations_compare.py``, and ten times that. The seed sets the initial
weights, the training subset and the shuffling.

Usage: python experiments/activations_dead_relu.py [--seeds 0 1 2] [--epochs 2] [--quick]
       [--out experiments/results/activations_dead_relu.json]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

import cnnlib
from cnnlib.experiments import ExperimentParser, rounded, run_experiment

HERE = Path(__file__).resolve().parent
VAL_SIZE = 5_000
BATCH_SIZE = 256
TRAIN_SIZE = 10_000
PROBE_SIZE = 1_000  # validation images on which silent channels are counted
ACTIVATIONS = ("relu", "leaky_relu")
LEARNING_RATES = (1e-3, 1e-2)
MODEL_ARGS = {"widths": [16, 32, 64], "convs_per_stage": 3, "downsample": "max",
              "batch_norm": False, "head": "gap", "init": "kaiming"}
ACTIVATION_TYPES = (nn.ReLU, nn.LeakyReLU)  # the modules whose channels are counted


def _activation_layers(model: nn.Module, images) -> list[nn.Module]:
    if not isinstance(model, nn.Module) or not isinstance(getattr(model, "features", None),
                                                          nn.Sequential):
        raise TypeError("model must be a network with a .features Sequential, such as "
                        "create_model('plain_cnn', ...)")
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or len(images) == 0:
        raise ValueError("images must be a non-empty (N, C, H, W) tensor, got "
                         f"{tuple(images.shape) if isinstance(images, torch.Tensor) else images!r}")
    layers = [m for m in model.features if isinstance(m, ACTIVATION_TYPES)]
    if not layers:
        raise ValueError(f"model.features holds no {' or '.join(t.__name__ for t in ACTIVATION_TYPES)}")
    return layers


@torch.no_grad()
def silent_channels(model: nn.Module, images: torch.Tensor, batch_size: int = 500) -> list[int]:
    """For every ReLU or Leaky ReLU of ``model.features``, in order: how many of its channels
    are never positive on ``images`` (N, C, H, W), for no image and at no position.

    The model runs in eval mode; every module gets its mode back afterwards.
    """
    layers = _activation_layers(model, images)
    peaks = [None] * len(layers)  # per layer, (C,): the largest output of each channel

    def keep_peak(i):
        def hook(module, inputs, output):  # output: (N, C, H, W)
            peak = output.amax(dim=(0, 2, 3))
            peaks[i] = peak if peaks[i] is None else torch.maximum(peaks[i], peak)
        return hook

    handles = [m.register_forward_hook(keep_peak(i)) for i, m in enumerate(layers)]
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        device = next(model.parameters()).device
        for start in range(0, len(images), batch_size):
            model(images[start:start + batch_size].to(device))
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.train(mode)
    return [int((peak <= 0).sum()) for peak in peaks]


def probe_images(val_loader) -> torch.Tensor:
    """The first PROBE_SIZE images of the validation split, as the model sees them."""
    x, _ = next(iter(cnnlib.TensorLoader(val_loader.images[:PROBE_SIZE],
                                         val_loader.labels[:PROBE_SIZE],
                                         batch_size=PROBE_SIZE, device=val_loader.device)))
    return x


def run(activation: str, lr: float, seed: int, *, epochs: int, train_size: int, data,
        device) -> dict:
    """Train the deep plain_cnn; count silent channels at init and after every epoch."""
    train, val, _ = cnnlib.fashion_mnist_loaders(
        BATCH_SIZE, val_size=VAL_SIZE, train_size=train_size, data=data, device=device,
        seed=seed)
    probe = probe_images(val)
    cnnlib.seed_everything(seed)
    model = cnnlib.create_model("plain_cnn", activation=activation, **MODEL_ARGS)
    silent = [silent_channels(model.to(device), probe)]
    # Divergence is part of what this experiment looks at: a loss far above the first one
    # must not stop the run (a NaN still does, and is recorded).
    config = cnnlib.TrainConfig(epochs=epochs, optimizer="adam", lr=lr, progress=False,
                                divergence_factor=None)
    trainer = cnnlib.Trainer(model, config, device=device, hooks={
        "on_epoch_end": lambda t, epoch, metrics: silent.append(silent_channels(t.model, probe))})
    start = time.perf_counter()
    error = None
    try:
        history = trainer.fit(train, val)
    except FloatingPointError as err:  # recorded, not hidden
        history, error = trainer.history, str(err)
    seconds = time.perf_counter() - start
    channels = [w for w in MODEL_ARGS["widths"] for _ in range(MODEL_ARGS["convs_per_stage"])]
    return {"activation": activation, "lr": lr, "seed": seed, "model": "plain_cnn",
            "model_args": {"activation": activation, **MODEL_ARGS}, "optimizer": "adam",
            "epochs": epochs, "batch_size": BATCH_SIZE, "train_examples": train.num_examples,
            "val_examples": len(val.labels), "probe_images": len(probe), "channels": channels,
            "silent": silent,  # silent[0]: at init; silent[e]: after epoch e
            "seconds": round(seconds, 1), "error": error,
            "history": rounded(history),
            "val_acc": round(history["val_acc"][-1], 6) if history["val_acc"] else None}


def parse_args(argv=None) -> argparse.Namespace:
    p = ExperimentParser("activations_dead_relu", __doc__, results_dir=HERE / "results",
                         epochs=2, train_size=TRAIN_SIZE,
                         quick={"seeds": [0], "epochs": 1, "train_size": 512})
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)

    def sweep(data, device):
        rows = []
        for seed in args.seeds:
            for lr in LEARNING_RATES:
                for activation in ACTIVATIONS:
                    row = run(activation, lr, seed, epochs=args.epochs,
                              train_size=args.train_size, data=data, device=device)
                    total = sum(row["channels"])
                    print(f"  {activation:10s} lr {lr:g} seed {seed}: silent channels "
                          f"{sum(row['silent'][0])}/{total} at init, {sum(row['silent'][-1])}/"
                          f"{total} at the end; val acc "
                          f"{100 * (row['val_acc'] or 0):.1f}%  {row['seconds']:.0f} s"
                          + (f"  ({row['error']})" if row["error"] else ""), flush=True)
                    rows.append(row)
        notes = (f"Fashion-MNIST, {data.source} source; training subset of "
                 f"{args.train_size:,} images (stratified, drawn with the run's seed); "
                 f"validation: {VAL_SIZE:,} training images, stratified, val_seed=0; silent "
                 f"channels counted on its first {PROBE_SIZE:,} images; batch {BATCH_SIZE}; "
                 f"Adam, no weight decay; plain_cnn {MODEL_ARGS}. A channel is silent when its "
                 "activation output is <= 0 for every probe image and position.")
        return rows, notes

    run_experiment("activations_dead_relu", args, sweep, script=__file__, argv=argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
