"""Per-layer gradient norms over training of a deep ``plain_cnn``: sigmoid, ReLU with He
init, ReLU with batch norm, and ReLU with batch norm and residual connections, over
several seeds (the chapter on vanishing and exploding gradients).

Every variant has 15 convolutions (three stages of five 3x3 convolutions, 8, 16 and 32
channels, 2x2 max pooling between stages) and one linear layer after global average
pooling. What differs:

- ``sigmoid``: sigmoid after every convolution, Xavier/Glorot uniform init with gain 1
  (PyTorch's gain for sigmoid; Glorot & Bengio, 2010, derived the scheme for symmetric
  units with slope 1 at 0, such as tanh, and found the logistic sigmoid unsuited to deep
  networks), convolutions with bias;
- ``relu``: ReLU and Kaiming/He normal init (He et al., 2015): two changes from ``sigmoid``;
- ``relu_bn``: as ``relu``, with batch norm after every convolution (which then has no
  bias: batch norm's mean would cancel it);
- ``relu_bn_residual``: as ``relu_bn`` (the very same modules and initial weights), with an
  identity shortcut around each pair of convolutions after the first of a stage (two
  ResNet basic blocks per stage, He et al., 2016): ``relu(x + bn(conv(relu(bn(conv(x))))))``;
- ``relu_bn_shallow``: as ``relu_bn`` with one convolution per stage (3 in all), for the
  question whether the deep plain net trains as well as a shallow one (the degradation
  problem of He et al., 2016).

Each run trains with SGD (momentum 0.9) on a stratified subset of the training images that
the validation split leaves, logs the L2 norm of every convolution's and the linear layer's
weight gradient every 5 steps (LOG_EVERY) with ``cnnlib.hooks.GradNormLogger`` (before any clipping;
none is used here), and reads the validation split after every epoch. The test split is
not used. The seed sets the initial weights, the training subset and the shuffling; the
validation split is the same for every run (val_seed=0).

Usage: python experiments/gradient_flow.py [--seeds 0 1 2] [--epochs 2]
       [--train-size 10000] [--quick] [--out experiments/results/gradient_flow.json]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from torch import nn

import cnnlib
from cnnlib.experiments import ExperimentParser, run_experiment
from cnnlib.hooks import GradNormLogger
from cnnlib.models.plain import PlainCNN

HERE = Path(__file__).resolve().parent
VAL_SIZE = 2_000
BATCH_SIZE = 64
LR = 0.02
MOMENTUM = 0.9
LOG_EVERY = 5  # steps between gradient-norm records (the file stays small)
WIDTHS = (8, 16, 32)
DEEP, SHALLOW = 5, 1  # convolutions per stage
VARIANTS = {
    "sigmoid": dict(activation="sigmoid", init="xavier", batch_norm=False, residual=False,
                    convs_per_stage=DEEP),
    "relu": dict(activation="relu", init="kaiming", batch_norm=False, residual=False,
                 convs_per_stage=DEEP),
    "relu_bn": dict(activation="relu", init="kaiming", batch_norm=True, residual=False,
                    convs_per_stage=DEEP),
    "relu_bn_residual": dict(activation="relu", init="kaiming", batch_norm=True, residual=True,
                             convs_per_stage=DEEP),
    "relu_bn_shallow": dict(activation="relu", init="kaiming", batch_norm=True, residual=False,
                            convs_per_stage=SHALLOW),
}
RECIPE = (f"SGD lr {LR}, momentum {MOMENTUM}, batch {BATCH_SIZE}, no weight decay, no "
          f"clipping, no augmentation, not tuned; plain_cnn widths {WIDTHS}, 3x3 convolutions, "
          "2x2 max pooling between stages, global-average-pooling head; gradient norms of every "
          f"convolution and linear weight logged every {LOG_EVERY} steps, before the update")


class ResidualPlain(nn.Module):
    """A :class:`PlainCNN`'s own layers with identity shortcuts: in each stage the first
    convolution changes the channels as before, and every following pair of convolutions
    becomes a basic block, ``y = act(x + norm(conv(act(norm(conv(x))))))`` (He et al., 2016,
    https://arxiv.org/abs/1512.03385). The parameters are the plain model's, shared, so a
    seed gives both the same weights and only the shortcuts differ."""

    def __init__(self, plain: PlainCNN):
        super().__init__()
        layers = list(plain.features)
        units, i = [], 0  # units: (conv, norm or None, act) triples, and pooling layers
        while i < len(layers):
            if isinstance(layers[i], nn.Conv2d):
                has_norm = isinstance(layers[i + 1], nn.BatchNorm2d)
                unit = layers[i:i + 3] if has_norm else [layers[i], None, layers[i + 1]]
                units.append(tuple(unit))
                i += 3 if has_norm else 2
            else:
                units.append(layers[i])
                i += 1
        self.plan: list[tuple[str, int]] = []  # ("plain", k), ("block", k) or ("pool", k)
        self.layers = nn.ModuleList()
        stage_start = True
        pending: list = []
        for unit in units:
            if not isinstance(unit, tuple):  # pooling ends a stage
                if pending:
                    raise ValueError("each stage needs an odd number of convolutions: one, "
                                     "then pairs for the residual blocks")
                self.plan.append(("pool", len(self.layers)))
                self.layers.append(unit)
                stage_start = True
                continue
            seq = nn.Sequential(*[m for m in unit if m is not None])
            if stage_start:
                self.plan.append(("plain", len(self.layers)))
                self.layers.append(seq)
                stage_start = False
            else:
                pending.append(unit)
                if len(pending) == 2:
                    (c1, n1, a1), (c2, n2, a2) = pending
                    first = nn.Sequential(*[m for m in (c1, n1, a1) if m is not None])
                    second = nn.Sequential(*[m for m in (c2, n2) if m is not None])
                    self.plan.append(("block", len(self.layers)))
                    self.layers.append(nn.ModuleList([first, second, a2]))
                    pending = []
        if pending:
            raise ValueError("each stage needs an odd number of convolutions: one, then pairs "
                             "for the residual blocks")
        self.classifier = plain.classifier

    def forward(self, x):
        for kind, k in self.plan:
            if kind == "block":
                first, second, act = self.layers[k]
                x = act(x + second(first(x)))
            else:
                x = self.layers[k](x)
        return self.classifier(x)


def make_model(variant: str, seed: int) -> nn.Module:
    """The seeded model of ``variant`` (a key of VARIANTS)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {tuple(VARIANTS)}, got {variant!r}")
    spec = VARIANTS[variant]
    cnnlib.seed_everything(seed)
    model = cnnlib.create_model("plain_cnn", widths=WIDTHS, activation=spec["activation"],
                                init=spec["init"], batch_norm=spec["batch_norm"],
                                convs_per_stage=spec["convs_per_stage"])
    return ResidualPlain(model) if spec["residual"] else model


def weight_layers(model: nn.Module) -> list[str]:
    """Names of the convolution and linear weights, input side first."""
    return [f"{name}.weight" for name, m in model.named_modules()
            if isinstance(m, (nn.Conv2d, nn.Linear))]


def parse_args(argv=None) -> argparse.Namespace:
    p = ExperimentParser("gradient_flow", __doc__, results_dir=HERE / "results", epochs=2,
                         train_size=10_000,
                         quick={"seeds": [0, 1], "epochs": 1, "train_size": 256})
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    return p.parse_args(argv)


def run(variant: str, seed: int, epochs: int, train_size: int, data, device, *,
        verbose: bool = True) -> tuple[dict, cnnlib.Trainer]:
    """Train one variant on one seed: the row the results file holds for it, and the
    trainer. The chapter calls this too."""
    train, val = cnnlib.fashion_mnist_loaders(BATCH_SIZE, val_size=VAL_SIZE, train_size=train_size,
                                              data=data, device=device, seed=seed)[:2]
    model = make_model(variant, seed)
    logger = GradNormLogger(every=LOG_EVERY)
    config = cnnlib.TrainConfig(epochs=epochs, lr=LR, momentum=MOMENTUM, progress=False)
    trainer = cnnlib.Trainer(model, config, device=device, hooks=logger.hooks())
    start = time.perf_counter()
    history = trainer.fit(train, val)
    seconds = time.perf_counter() - start
    names = weight_layers(model)
    row = {"variant": variant, "seed": seed, **VARIANTS[variant], "widths": list(WIDTHS),
           "optimizer": "sgd", "lr": LR, "momentum": MOMENTUM, "batch_size": BATCH_SIZE,
           "epochs": epochs, "train_examples": train.num_examples, "val_examples": VAL_SIZE,
           "params": sum(p.numel() for p in model.parameters()), "layers": names,
           "steps": logger.steps, "grad_norms": [logger.norms[n] for n in names],
           "history": {k: history[k] for k in ("train_loss", "train_acc", "val_loss", "val_acc")},
           "val_acc": history["val_acc"][-1], "seconds": seconds}
    if verbose:
        g = row["grad_norms"]
        print(f"  {variant:17s} seed {seed}: val acc {row['val_acc']:.4f}  train loss "
              f"{history['train_loss'][-1]:.3f}  |grad| layer 1 / layer {len(g)} at step 0: "
              f"{g[0][0] / g[-1][0]:.1e}  {seconds:.0f} s", flush=True)
    return row, trainer


def main(argv=None) -> int:
    args = parse_args(argv)

    def sweep(data, device):
        rows = [run(variant, seed, args.epochs, args.train_size, data, device)[0]
                for seed in args.seeds for variant in args.variants]
        return rows, RECIPE + ". The test split is not used."

    run_experiment("gradient_flow", args, sweep, script=__file__, argv=argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
