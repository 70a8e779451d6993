"""experiments/regularization.py (the dropout and regularization chapter's sweep): the
augmentation, the switchable dropout layer, the variants' models and optimizers, the
arguments, a --quick run that writes every run, and the committed results file against the
script (its defaults, recipe and fields)."""
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnnlib
from cnnlib.experiments import load_results

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))
import regularization as exp  # noqa: E402

RESULTS = ROOT / "experiments" / "results" / "regularization.json"


def _crop_and_flip_one_by_one(x, generator, pad):
    """The augmentation written image by image: the oracle for the batched version."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    out = torch.empty_like(x)
    for i in range(n):
        crop = padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
        out[i] = crop.flip(-1) if flip[i] else crop
    return out, dy, dx, flip


@pytest.mark.parametrize("pad", [1, 2, 3])
def test_augment_matches_the_image_by_image_version(pad):
    x = torch.rand(40, 2, 9, 7)  # not square, two channels
    ours = exp.augment(x, torch.Generator().manual_seed(3), pad=pad)
    theirs, *_ = _crop_and_flip_one_by_one(x, torch.Generator().manual_seed(3), pad)
    assert torch.equal(ours, theirs)


def test_augment_shifts_by_at_most_pad_and_flips_about_half():
    x = torch.zeros(400, 1, 12, 12)
    x[:, 0, 5, 3] = 1.0  # one bright pixel, away from the border
    out = exp.augment(x, torch.Generator().manual_seed(0), pad=2)
    _, dy, dx, flip = _crop_and_flip_one_by_one(x, torch.Generator().manual_seed(0), 2)
    where = out.flatten(1).argmax(dim=1)
    rows, cols = where // 12, where % 12
    assert torch.equal(out.flatten(1).sum(dim=1), torch.ones(400))  # nothing lost or added
    assert torch.equal(rows, 5 + 2 - dy)  # the crop's top row dy moves the content up by dy - 2
    unflipped = 3 + 2 - dx
    assert torch.equal(cols, torch.where(flip, 11 - unflipped, unflipped))
    assert set((rows - 5).tolist()) == {-2, -1, 0, 1, 2}
    assert 0.4 < flip.float().mean() < 0.6


def test_augmented_loader_keeps_the_batches_and_labels():
    images = torch.randint(0, 256, (30, 1, 8, 8), dtype=torch.uint8)
    labels = torch.arange(30) % 10
    base = cnnlib.TensorLoader(images, labels, batch_size=8, shuffle=True, seed=1, device="cpu")
    plain = list(cnnlib.TensorLoader(images, labels, batch_size=8, shuffle=True, seed=1,
                                     device="cpu"))
    loader = exp.AugmentedLoader(base, seed=5)
    assert len(loader) == 4 and loader.num_examples == 30
    state = loader.state_dict()
    first = list(loader)
    gen = torch.Generator().manual_seed(5)
    for (xa, ya), (xp, yp) in zip(first, plain):
        assert torch.equal(ya, yp)  # the same batches in the same order
        assert torch.equal(xa, exp.augment(xp, gen))
    loader.load_state_dict(state)  # the same epoch again, augmentations included
    assert all(torch.equal(a[0], b[0]) for a, b in zip(list(loader), first))


def test_dropout_bug_changes_evaluation_only():
    x = torch.randn(64, 50)
    good, bad = exp.Dropout(0.5), exp.Dropout(0.5, buggy=True)
    torch.manual_seed(0)
    a = good(x)
    torch.manual_seed(0)
    assert torch.equal(a, bad(x))  # training: the same mask from the same random state
    torch.manual_seed(0)
    assert torch.equal(a, nn.Dropout(0.5)(x))
    good.eval()
    bad.eval()
    assert torch.equal(good(x), x)
    out = bad(x)
    assert not torch.equal(out, x) and 0.4 < (out == 0).float().mean() < 0.6


def test_variants_start_from_the_same_weights():
    params = {v: list(exp.make_model(v, 3).parameters()) for v in exp.VARIANTS}
    for v in exp.VARIANTS:
        assert len(params[v]) == len(params["none"])  # dropout adds no parameter
        assert all(torch.equal(a, b) for a, b in zip(params[v], params["none"]))
    model = exp.make_model("dropout", 3)
    drops = [m for m in model.modules() if isinstance(m, exp.Dropout)]
    assert len(drops) == 1 and drops[0].p == exp.DROPOUT_P and not drops[0].buggy
    kinds = [type(m) for m in model.classifier]
    assert kinds[-3:] == [nn.ReLU, exp.Dropout, nn.Linear]  # after the hidden ReLU
    assert not any(isinstance(m, (exp.Dropout, nn.Dropout)) for m in exp.make_model("none", 3).modules())
    with pytest.raises(ValueError, match="variant"):
        exp.make_model("l1", 0)


def test_each_variant_changes_its_one_setting():
    configs = {v: exp.make_config(v, 2) for v in exp.VARIANTS}
    assert {v: (c.optimizer, c.weight_decay) for v, c in configs.items()} == {
        "none": ("adam", 0.0), "dropout": ("adam", 0.0), "adam_l2": ("adam", exp.WD_L2),
        "adamw": ("adamw", exp.WD_ADAMW), "augment": ("adam", 0.0)}
    assert {(c.lr, c.epochs, c.momentum) for c in configs.values()} == {(exp.LR, 2, 0.0)}


def test_dropout_left_on_switches_back():
    model = exp.make_model("dropout", 0)
    images = torch.randint(0, 256, (40, 1, 28, 28), dtype=torch.uint8)
    loader = cnnlib.TensorLoader(images, torch.arange(40) % 10, batch_size=20, device="cpu")
    trainer = cnnlib.Trainer(model, exp.make_config("dropout", 1), device="cpu")
    accs = exp.dropout_left_on(trainer, loader, repeats=2)
    assert len(accs) == 2 and all(0 <= a <= 1 for a in accs)
    assert not any(m.buggy for m in model.modules() if isinstance(m, exp.Dropout))
    plain = cnnlib.Trainer(exp.make_model("none", 0), exp.make_config("none", 1), device="cpu")
    with pytest.raises(ValueError, match="no Dropout"):
        exp.dropout_left_on(plain, loader)


def test_arguments():
    args = exp.parse_args(["--quick"])
    assert (args.seeds, args.epochs, args.train_size) == ([0, 1], 1, 500)
    # the checks every script shares: tests/test_experiments.py


@pytest.mark.slow
def test_quick_run_writes_every_run(quick_run):
    record = quick_run("regularization")
    assert [(r["variant"], r["seed"]) for r in record["rows"]] == [
        (v, s) for s in (0, 1) for v in exp.VARIANTS]
    assert len({r["params"] for r in record["rows"]}) == 1
    for row in record["rows"]:
        assert row["train_examples"] == 500 and row["val_examples"] == exp.VAL_SIZE
        assert len(row["history"]["val_acc"]) == row["epochs"] == 1
        assert row["val_acc"] == row["history"]["val_acc"][-1]
        assert 0 <= row["train_eval_acc"] <= 1
        assert ("val_acc_dropout_left_on" in row) == (row["variant"] == "dropout")
    committed = load_results(RESULTS)["rows"]
    for row in record["rows"]:
        same = next(r for r in committed if r["variant"] == row["variant"])
        assert set(row) == set(same)
        assert set(row["history"]) == set(same["history"])


def test_the_committed_results_are_what_the_script_writes():
    """The chapter reads experiments/results/regularization.json: it must come from this
    script with its default arguments and its recipe."""
    record = load_results(RESULTS)
    args = exp.parse_args([])
    assert record["command"].endswith("experiments/regularization.py")  # no arguments
    assert exp.RECIPE in record["notes"]
    assert [(r["variant"], r["seed"]) for r in record["rows"]] == [
        (v, s) for s in args.seeds for v in args.variants]
    for row in record["rows"]:
        config = exp.make_config(row["variant"], args.epochs)
        assert (row["epochs"], row["train_examples"], row["val_examples"]) == (
            args.epochs, args.train_size, exp.VAL_SIZE)
        assert (row["optimizer"], row["weight_decay"]) == (config.optimizer, config.weight_decay)
        assert (row["lr"], row["batch_size"]) == (exp.LR, exp.BATCH_SIZE)
        assert row["model"] == "plain_cnn" and row["model_args"] == exp.MODEL_ARGS
        assert row["dropout"] == (exp.DROPOUT_P if row["variant"] == "dropout" else 0.0)
        assert row["augment"] == (row["variant"] == "augment")
        assert len(row["history"]["val_acc"]) == row["epochs"]
        assert row["val_acc"] == row["history"]["val_acc"][-1]
        if row["variant"] == "dropout":
            assert len(row["val_acc_dropout_left_on"]) == exp.BUG_REPEATS
