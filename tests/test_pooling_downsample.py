"""experiments/pooling_downsample.py (the pooling chapter's sweep): the shift test, the turn
order, the arguments, a --quick run that writes every run, and the committed results file
against the script (its defaults, recipe and fields)."""
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import cnnlib
from cnnlib.experiments import load_results

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))
import pooling_downsample as exp  # noqa: E402

RESULTS = ROOT / "experiments" / "results" / "pooling_downsample.json"


class _ByColumn(nn.Module):
    """Predicts the column of an image's brightest pixel, divided by ``bins`` (classes 0..9):
    with bins=1 every horizontal shift changes the prediction, with bins=4 only some do."""

    def __init__(self, bins=1):
        super().__init__()
        self.bins = bins
        self.unused = nn.Parameter(torch.zeros(1))  # Trainer's optimizer needs a parameter

    def forward(self, x):
        column = x.flatten(2).argmax(dim=2)[:, 0] % x.shape[-1]  # (N,)
        return nn.functional.one_hot((column // self.bins).clamp(max=9), 10).float()


class _ByMass(nn.Module):
    """Predicts from the total brightness: no shift that keeps the content in view changes it."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        mass = x.sum(dim=(1, 2, 3))
        return torch.stack([mass, -mass], dim=1)


def _loader(images, labels):
    return cnnlib.TensorLoader(images, labels, batch_size=4, device="cpu")


def test_shift_test_counts_changed_predictions():
    images = torch.zeros(3, 1, 12, 12, dtype=torch.uint8)
    for i, col in enumerate((2, 4, 6)):  # one bright pixel per image, away from the border
        images[i, 0, 5, col] = 255
    labels = torch.tensor([2, 4, 6])
    trainer = cnnlib.Trainer(_ByColumn(), cnnlib.TrainConfig(progress=False), device="cpu")
    result = exp.shift_test(trainer, _loader(images, labels), n_images=3, shifts=(1, 2))
    # Right and left move the column (a flip), down and up do not: half of the pairs flip.
    assert result["flip_rate"] == [0.5, 0.5]
    assert result["acc_unshifted"] == 1.0 and result["acc"] == [0.5, 0.5]
    assert result["images"] == 3 and result["shifts"] == [1, 2]

    invariant = cnnlib.Trainer(_ByMass(), cnnlib.TrainConfig(progress=False), device="cpu")
    result = exp.shift_test(invariant, _loader(images, torch.tensor([0, 1, 0])), n_images=2,
                            shifts=(1, 3))
    assert result["flip_rate"] == [0.0, 0.0] and result["images"] == 2


def test_shift_test_shifts_by_k_pixels():
    image = torch.zeros(1, 1, 12, 12, dtype=torch.uint8)
    image[0, 0, 5, 5] = 255  # column 5: class 5 // 4 = 1, the same for columns 4 to 7
    trainer = cnnlib.Trainer(_ByColumn(bins=4), cnnlib.TrainConfig(progress=False), device="cpu")
    result = exp.shift_test(trainer, _loader(image, torch.tensor([1])), shifts=(1, 2, 3))
    # 1 px: columns 6 and 4, no change; 2 px: 7 and 3 (left changes);
    # 3 px: 8 and 2 (both change). Down and up never change the column.
    assert result["flip_rate"] == [0.0, 0.25, 0.5]


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n_images": 0}, ValueError, "n_images"),
    ({"n_images": 2.0}, TypeError, "n_images"),
    ({"shifts": (0,)}, ValueError, "shift"),
    ({"shifts": (1.5,)}, TypeError, "shift"),
    ({"directions": ((0, 2),)}, ValueError, "unit steps"),
    ({"directions": ()}, ValueError, "unit steps"),
])
def test_shift_test_refuses_bad_arguments(kwargs, error, match):
    images = torch.zeros(2, 1, 8, 8, dtype=torch.uint8)
    trainer = cnnlib.Trainer(_ByMass(), cnnlib.TrainConfig(progress=False), device="cpu")
    with pytest.raises(error, match=match):
        exp.shift_test(trainer, _loader(images, torch.tensor([0, 1])), **kwargs)


def test_shift_test_needs_a_tensor_loader():
    trainer = cnnlib.Trainer(_ByMass(), cnnlib.TrainConfig(progress=False), device="cpu")
    with pytest.raises(TypeError, match="TensorLoader"):
        exp.shift_test(trainer, [(torch.zeros(1, 1, 8, 8), torch.tensor([0]))])


def test_each_variant_goes_first_in_turn():
    orders = [exp.turns(i, exp.VARIANTS) for i in range(3)]
    assert [o[0] for o in orders] == list(exp.VARIANTS)
    assert all(sorted(o) == sorted(exp.VARIANTS) for o in orders)
    with pytest.raises(ValueError, match="variant"):
        exp.make_trainer("min", 0, 1, "cpu")


def test_arguments():
    args = exp.parse_args(["--quick"])
    assert (args.seeds, args.epochs, args.train_size) == ([0, 1], 1, 1_000)
    # the checks every script shares: tests/test_experiments.py


@pytest.mark.slow
def test_quick_run_writes_every_run(quick_run):
    record = quick_run("pooling_downsample")
    assert [(r["variant"], r["seed"]) for r in record["rows"]] == [
        ("max", 0), ("avg", 0), ("stride", 0), ("avg", 1), ("stride", 1), ("max", 1)]
    params = {r["params"] for r in record["rows"]}
    assert len(params) == 1  # the three variants have the same parameters
    for row in record["rows"]:
        assert row["train_examples"] == 1_000 and row["val_examples"] == 5_000
        assert len(row["history"]["val_acc"]) == row["epochs"] == 1
        assert row["val_acc"] == row["history"]["val_acc"][-1] and 0 <= row["test_acc"] <= 1
        shift = row["shift"]
        assert shift["shifts"] == [1, 2, 3] and shift["images"] == exp.SHIFT_IMAGES
        assert all(0 <= f <= 1 for f in shift["flip_rate"] + shift["acc"])
    # The committed file's rows carry exactly the fields that this run's rows carry.
    committed = load_results(RESULTS)["rows"][0]
    for row in record["rows"]:
        assert set(row) == set(committed)
        assert set(row["history"]) == set(committed["history"])
        assert set(row["shift"]) == set(committed["shift"])


def test_the_committed_results_are_what_the_script_writes():
    """The chapter reads experiments/results/pooling_downsample.json: it must come from this
    script with its default arguments and its recipe."""
    record = load_results(RESULTS)
    args = exp.parse_args([])
    assert record["command"].endswith("experiments/pooling_downsample.py")  # no arguments
    assert exp.RECIPE in record["notes"]
    assert [(r["variant"], r["seed"]) for r in record["rows"]] == [
        (v, seed) for i, seed in enumerate(args.seeds) for v in exp.turns(i, args.variants)]
    for row in record["rows"]:
        assert (row["epochs"], row["train_examples"], row["val_examples"]) == (
            args.epochs, args.train_size, exp.VAL_SIZE)
        assert (row["optimizer"], row["lr"], row["batch_size"]) == ("adam", exp.LR, exp.BATCH_SIZE)
        assert row["model"] == "plain_cnn" and row["model_args"] == {"downsample": row["variant"]}
        assert len(row["history"]["val_acc"]) == row["epochs"]
        assert row["val_acc"] == row["history"]["val_acc"][-1]
        shift = row["shift"]
        assert shift["images"] == exp.SHIFT_IMAGES and shift["shifts"] == list(exp.SHIFTS)
        assert shift["directions"] == [list(d) for d in exp.DIRECTIONS]
        assert len(shift["flip_rate"]) == len(shift["acc"]) == len(exp.SHIFTS)
