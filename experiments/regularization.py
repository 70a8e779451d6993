"""No regularization, dropout, L2 with Adam, AdamW, and data augmentation on a small training
set, over several seeds (the chapter on dropout and regularization).

Every variant trains the same network from the same initial weights on the same batches: the
registered ``plain_cnn`` with a dense head (three stages of one 3x3 convolution, 16, 32 and
64 channels, ReLU, Kaiming init, no batch norm, max pooling; then flatten, a hidden linear
layer of HIDDEN units, ReLU and the output layer), trained with Adam for EPOCHS epochs on a
stratified subset of TRAIN_SIZE images, small enough that the network overfits it. Each
variant changes one thing against ``none``:

- ``dropout``: a dropout layer (p = DROPOUT_P) on the hidden layer's outputs, between its
  ReLU and the output layer (no parameters: the weights are the very same);
- ``adam_l2``: Adam's ``weight_decay=WD_L2``, an L2 penalty added to the gradient, which
  Adam then divides by its running gradient scale;
- ``adamw``: AdamW with ``weight_decay=WD_ADAMW``, the decay decoupled from the gradient
  (every step multiplies each weight by 1 - lr * WD_ADAMW). A different coefficient from
  ``adam_l2``: the same number means a different strength in the two (see the chapter);
- ``augment``: every training batch is augmented on the fly: a random crop of 28x28 from the
  image padded by CROP_PAD pixels of background (a shift of up to CROP_PAD pixels each way)
  and a horizontal flip with probability 1/2, drawn by a generator of its own, so that the
  batches and the dropout-free forward passes are otherwise those of ``none``.

Weight decay acts on every parameter, biases included (TrainConfig has one group). The
validation split (VAL_SIZE images, val_seed=0, the same for every run) is read after every
epoch; the test split is not read. For the dropout runs the script also evaluates the
trained network with dropout left on at evaluation, the bug of a ``forward`` that calls
``F.dropout(x, p)`` without ``training=self.training``: the same weights, only the
evaluation differs (the training is bit for bit the same, see ``Dropout``).

Usage: python experiments/regularization.py [--seeds 0 1 2] [--epochs 15]
       [--train-size 4000] [--quick] [--out experiments/results/regularization.json]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import cnnlib
from cnnlib.experiments import ExperimentParser, rounded, run_experiment

HERE = Path(__file__).resolve().parent
VARIANTS = ("none", "dropout", "adam_l2", "adamw", "augment")
VAL_SIZE = 5_000
BATCH_SIZE = 64
LR = 1e-3  # Adam's default step size (Kingma & Ba, 2015), not tuned here
HIDDEN = 512
DROPOUT_P = 0.5  # as in AlexNet's fully connected layers (Krizhevsky et al., 2012)
WD_L2 = 1e-3
WD_ADAMW = 0.1
CROP_PAD = 2  # pixels
BUG_REPEATS = 3  # evaluations of the validation split with dropout left on
MODEL_ARGS = {"head": "dense", "hidden": HIDDEN}
RECIPE = (f"plain_cnn(head='dense', hidden={HIDDEN}), other arguments at their defaults; Adam "
          f"lr {LR}, batch {BATCH_SIZE}, no learning-rate schedule. none: nothing else; dropout: "
          f"dropout p={DROPOUT_P} on the hidden layer's outputs; adam_l2: Adam weight_decay="
          f"{WD_L2} (L2 in the gradient); adamw: AdamW weight_decay={WD_ADAMW} (decoupled); "
          f"augment: random 28x28 crop of the image padded by {CROP_PAD} px and horizontal flip "
          "(p=0.5) of every training batch. Weight decay on every parameter, biases included")


def parse_args(argv=None) -> argparse.Namespace:
    p = ExperimentParser("regularization", __doc__, results_dir=HERE / "results", epochs=15,
                         train_size=4_000,
                         quick={"seeds": [0, 1], "epochs": 1, "train_size": 500})
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    return p.parse_args(argv)


class Dropout(nn.Module):
    """Inverted dropout that can be switched to the seeds' bug.

    ``buggy=False`` is ``nn.Dropout``: ``F.dropout(x, p, self.training)``. ``buggy=True`` is
    ``F.dropout(x, p)``, whose ``training`` argument defaults to True whatever mode the
    module is in, so the units are still dropped at evaluation. In training mode the two
    draw the same mask from the same random state, so a network trains bit for bit the same
    either way, and flipping ``buggy`` after training changes the evaluation only.
    """

    def __init__(self, p: float, buggy: bool = False):
        super().__init__()
        self.p, self.buggy = p, buggy

    def forward(self, x):
        if self.buggy:
            return F.dropout(x, self.p)  # the bug: training=True by default
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, buggy={self.buggy}"


def make_model(variant: str, seed: int) -> nn.Module:
    """The seeded plain_cnn with a dense head; for ``dropout``, a Dropout after the hidden
    ReLU. The initial weights are the same for every variant of a seed."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    cnnlib.seed_everything(seed)
    model = cnnlib.create_model("plain_cnn", **MODEL_ARGS)
    if variant == "dropout":
        flatten, hidden, act, out = model.classifier  # Flatten, Linear, ReLU, Linear
        model.classifier = nn.Sequential(flatten, hidden, act, Dropout(DROPOUT_P), out)
    return model


def make_config(variant: str, epochs: int) -> cnnlib.TrainConfig:
    optimizer = "adamw" if variant == "adamw" else "adam"
    weight_decay = {"adam_l2": WD_L2, "adamw": WD_ADAMW}.get(variant, 0.0)
    return cnnlib.TrainConfig(epochs=epochs, lr=LR, optimizer=optimizer,
                              weight_decay=weight_decay, progress=False)


def augment(x: torch.Tensor, generator: torch.Generator, pad: int = CROP_PAD) -> torch.Tensor:
    """A random crop of each image padded by ``pad`` pixels of 0 (the background), i.e. a
    shift by up to ``pad`` pixels in each direction, then a horizontal flip with
    probability 1/2. ``x``: (N, C, H, W); the draws come from ``generator`` (on the CPU)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))  # (N, C, H + 2 pad, W + 2 pad)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    rows = dy[:, None] + torch.arange(h, device=x.device)  # (N, H)
    cols = dx[:, None] + torch.arange(w, device=x.device)  # (N, W)
    cols = torch.where(flip[:, None], cols.flip(1), cols)  # reading columns backwards flips
    index = torch.arange(n, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[index, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


class AugmentedLoader:
    """Wraps a ``cnnlib.TensorLoader``: the same batches, each passed through ``augment``."""

    def __init__(self, loader, seed: int, pad: int = CROP_PAD):
        self.loader, self.pad = loader, pad
        self.generator = torch.Generator().manual_seed(seed)
        self.labels, self.device = loader.labels, loader.device

    def __len__(self) -> int:
        return len(self.loader)

    @property
    def num_examples(self) -> int:
        return self.loader.num_examples

    def __iter__(self):
        for x, y in self.loader:
            yield augment(x, self.generator, self.pad), y

    def state_dict(self) -> dict:
        return {"loader": self.loader.state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.loader.load_state_dict(state["loader"])
        self.generator.set_state(state["generator"])


def dropout_left_on(trainer: cnnlib.Trainer, loader, repeats: int = BUG_REPEATS) -> list[float]:
    """Validation accuracies of the trained network evaluated with its Dropout layers switched
    to the bug (dropout on at evaluation), ``repeats`` times (each draws new masks); the
    layers are switched back afterwards."""
    layers = [m for m in trainer.model.modules() if isinstance(m, Dropout)]
    if not layers:
        raise ValueError("the model has no Dropout layer to leave on")
    for m in layers:
        m.buggy = True
    try:
        return [trainer.evaluate(loader)["accuracy"] for _ in range(repeats)]
    finally:
        for m in layers:
            m.buggy = False


def run(variant: str, seed: int, epochs: int, train_size: int | None, data, device, *,
        verbose: bool = True) -> dict:
    """Train one variant on one seed; the row the results file holds for it. The chapter
    calls this too (with smaller sizes in its smoke profile)."""
    train, val, _ = cnnlib.fashion_mnist_loaders(BATCH_SIZE, val_size=VAL_SIZE,
                                                 train_size=train_size, test_size=10,
                                                 data=data, device=device, seed=seed)
    if variant == "augment":
        train = AugmentedLoader(train, seed)
    model = make_model(variant, seed)
    trainer = cnnlib.Trainer(model, make_config(variant, epochs), device=device)
    start = time.perf_counter()
    history = trainer.fit(train, val)
    seconds = time.perf_counter() - start
    plain_train = trainer.evaluate(train.loader if variant == "augment" else train)
    row = {"variant": variant, "seed": seed, "model": "plain_cnn", "model_args": MODEL_ARGS,
           "optimizer": trainer.config.optimizer, "lr": LR,
           "weight_decay": trainer.config.weight_decay,
           "dropout": DROPOUT_P if variant == "dropout" else 0.0,
           "augment": variant == "augment", "batch_size": BATCH_SIZE, "epochs": epochs,
           "train_examples": train.num_examples, "val_examples": len(val.labels),
           "params": cnnlib.count_parameters(trainer.model), "seconds": round(seconds, 1),
           "history": rounded(history),
           "val_acc": history["val_acc"][-1],
           # accuracy on the (unaugmented) training images in evaluation mode, at the end
           "train_eval_acc": plain_train["accuracy"],
           "weight_norm": round(torch.cat([p.detach().flatten() for p in
                                           trainer.model.parameters()]).norm().item(), 6)}
    if variant == "dropout":
        row["val_acc_dropout_left_on"] = dropout_left_on(trainer, val)
    if verbose:
        extra = (f"  dropout left on: {row['val_acc_dropout_left_on']}"
                 if variant == "dropout" else "")
        print(f"  {variant:8s} seed {seed}: val acc {row['val_acc']:.4f}  train acc (eval) "
              f"{row['train_eval_acc']:.4f}  {seconds:.0f} s{extra}", flush=True)
    return row


def main(argv=None) -> int:
    args = parse_args(argv)

    def sweep(data, device):
        rows = [run(variant, seed, args.epochs, args.train_size, data, device)
                for seed in args.seeds for variant in args.variants]
        notes = (f"Fashion-MNIST, {data.source} source; training subset of {args.train_size} "
                 f"images (stratified, seeded by the run's seed), validation: {VAL_SIZE} "
                 f"training images, stratified, val_seed=0; the test split is not read. "
                 f"{RECIPE}. val_acc_dropout_left_on: the dropout runs' validation accuracy "
                 f"with dropout left on at evaluation, {BUG_REPEATS} evaluations.")
        return rows, notes

    run_experiment("regularization", args, sweep, script=__file__, argv=argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
