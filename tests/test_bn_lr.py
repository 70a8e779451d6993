"""experiments/bn_lr.py (the batch-norm chapter's learning-rate sweep): what counts as stable,
the arguments, the two variants, a --quick run that writes every run, and the committed
results file against the script (its defaults, recipe and fields)."""
import sys
from pathlib import Path

import pytest
from torch import nn

from cnnlib.experiments import load_results

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))
import bn_lr as exp  # noqa: E402

RESULTS = ROOT / "experiments" / "results" / "bn_lr.json"


def _row(variant, lr, seed, val_acc=None, diverged=False):
    return {"variant": variant, "lr": lr, "seed": seed, "diverged": diverged, "val_acc": val_acc}


def test_largest_stable_lr_needs_every_seed():
    rows = [_row("bn", 0.1, s, 0.8) for s in range(3)]
    rows += [_row("bn", 1.0, 0, 0.8), _row("bn", 1.0, 1, 0.8), _row("bn", 1.0, 2, 0.8, diverged=True)]
    # (a diverged run counts as unstable whatever accuracy it had reached before)
    rows += [_row("bn", 0.5, s, 0.75) for s in range(3)]
    rows += [_row("bn", 2.0, s, 0.69) for s in range(3)]  # below the threshold
    rows += [_row("no_bn", 0.2, s, 0.9) for s in range(3)]
    assert exp.largest_stable_lr(rows, "bn") == 0.5
    assert exp.largest_stable_lr(rows, "bn", threshold=0.6) == 2.0
    assert exp.largest_stable_lr(rows, "no_bn") == 0.2
    assert exp.largest_stable_lr(rows, "no_bn", threshold=0.95) is None
    assert exp.largest_stable_lr([], "bn") is None
    assert exp.is_stable([_row("bn", 0.1, 0, exp.VAL_THRESHOLD)])  # the threshold itself counts
    assert not exp.is_stable([])


def test_the_variants_differ_in_batch_norm_only():
    bn = exp.make_trainer("bn", 0, 0.1, 1, "cpu")
    plain = exp.make_trainer("no_bn", 0, 0.1, 1, "cpu")
    assert any(isinstance(m, nn.BatchNorm2d) for m in bn.model.modules())
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in plain.model.modules())
    opt = bn.optimizer.param_groups[0]
    assert type(bn.optimizer).__name__ == "SGD" and opt["momentum"] == 0 and opt["lr"] == 0.1
    assert opt["weight_decay"] == 0
    with pytest.raises(ValueError, match="variant"):
        exp.make_trainer("gn", 0, 0.1, 1, "cpu")


def test_arguments():
    args = exp.parse_args(["--quick"])
    assert (args.seeds, args.lrs, args.epochs, args.train_size) == ([0, 1], [0.1, 10.0], 1, 1_000)
    assert exp.parse_args([]).lrs == list(exp.LRS)
    for bad in (["--lrs", "0"], ["--lrs", "-0.1"], ["--lrs", "nan"], ["--variants", "ln"]):
        with pytest.raises(SystemExit):  # the shared checks: tests/test_experiments.py
            exp.parse_args(bad)


@pytest.mark.slow
def test_quick_run_writes_every_run(quick_run):
    record = quick_run("bn_lr")
    assert [(r["seed"], r["variant"], r["lr"]) for r in record["rows"]] == [
        (s, v, lr) for s in (0, 1) for v in exp.VARIANTS for lr in (0.1, 10.0)]
    for row in record["rows"]:
        assert row["train_examples"] == 1_000 and row["val_examples"] == exp.VAL_SIZE
        if row["diverged"]:
            assert row["val_acc"] is None and "loss" in row["stopped"]
        else:
            assert len(row["history"]["val_acc"]) == row["epochs"] == 1
            assert row["val_acc"] == row["history"]["val_acc"][-1]
    # Without batch norm, lr 10 trips the guard on every seed within a few steps.
    assert all(r["diverged"] for r in record["rows"] if r["variant"] == "no_bn" and r["lr"] == 10)
    committed = load_results(RESULTS)["rows"][0]
    for row in record["rows"]:
        assert set(row) == set(committed)
        assert set(row["history"]) == set(committed["history"])


def test_the_committed_results_are_what_the_script_writes():
    """The chapter reads experiments/results/bn_lr.json: it must come from this script with
    its default arguments and its recipe."""
    record = load_results(RESULTS)
    args = exp.parse_args([])
    assert record["command"].endswith("experiments/bn_lr.py")  # no arguments
    assert exp.RECIPE in record["notes"] and f">= {exp.VAL_THRESHOLD}" in record["notes"]
    assert [(r["seed"], r["variant"], r["lr"]) for r in record["rows"]] == [
        (s, v, lr) for s in args.seeds for v in args.variants for lr in args.lrs]
    for row in record["rows"]:
        assert (row["epochs"], row["train_examples"], row["val_examples"]) == (
            args.epochs, args.train_size, exp.VAL_SIZE)
        assert (row["optimizer"], row["momentum"], row["batch_size"]) == ("sgd", 0.0, exp.BATCH_SIZE)
        assert row["model"] == "lenet_modern"
        assert row["model_args"] == {"batch_norm": row["variant"] == "bn"}
        if row["diverged"]:
            assert row["val_acc"] is None and row["stopped"]
        else:
            assert len(row["history"]["val_acc"]) == row["epochs"]
            assert row["val_acc"] == row["history"]["val_acc"][-1] and row["stopped"] is None
