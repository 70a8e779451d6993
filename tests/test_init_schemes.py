"""experiments/init_schemes.py (the initialization chapter's sweep): each scheme draws the
weights its formula prescribes, the arguments, a --quick run that writes every run, and the
committed results file against the script (its defaults, recipe and fields)."""
import math
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from cnnlib.experiments import load_results

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))
import init_schemes as exp  # noqa: E402

RESULTS = ROOT / "experiments" / "results" / "init_schemes.json"


def _convs(model):
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


@pytest.mark.parametrize("scheme", list(exp.SCHEMES))
def test_each_scheme_draws_the_spread_of_its_formula(scheme):
    model = exp.make_model(scheme, 0)
    convs = _convs(model)
    assert len(convs) == 3 * exp.MODEL_ARGS["convs_per_stage"] == 15
    for conv in convs:
        fan_in = conv.in_channels * 9
        fan_out = conv.out_channels * 9
        want = {"normal": 0.01, "xavier": math.sqrt(2 / (fan_in + fan_out)),
                "kaiming_fan_in": math.sqrt(2 / fan_in),
                "kaiming_fan_out": math.sqrt(2 / fan_out)}[scheme]
        # 16 * 1 * 9 = 144 weights in the first layer: a loose bound there, tight elsewhere
        tolerance = 0.25 if conv.in_channels == 1 else 0.06
        assert conv.weight.std().item() == pytest.approx(want, rel=tolerance)
        assert torch.all(conv.bias == 0)


def test_a_seed_gives_the_same_network_and_schemes_differ():
    a, b = exp.make_model("kaiming_fan_in", 3), exp.make_model("kaiming_fan_in", 3)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    c = exp.make_model("kaiming_fan_out", 3)
    # the first layer: 1 -> 16 channels, so fan_in (9) and fan_out (144) differ
    assert not torch.equal(_convs(a)[0].weight, _convs(c)[0].weight)
    with pytest.raises(ValueError, match="scheme"):
        exp.make_model("lecun", 0)


def test_arguments():
    args = exp.parse_args(["--quick"])
    assert (args.seeds, args.epochs, args.train_size) == ([0], 1, 500)
    assert exp.parse_args([]).seeds == [0, 1, 2]
    with pytest.raises(SystemExit):  # the shared checks: tests/test_experiments.py
        exp.parse_args(["--schemes", "lecun"])


@pytest.mark.slow
def test_quick_run_writes_every_run(quick_run):
    record = quick_run("init_schemes")
    assert [(r["scheme"], r["seed"]) for r in record["rows"]] == [
        (s, 0) for s in exp.SCHEMES]
    for row in record["rows"]:
        assert row["train_examples"] == 500 and row["val_examples"] == exp.VAL_SIZE
        assert len(row["history"]["val_acc"]) == row["epochs"] == 1
        assert len(row["grad_norms_step0"]) == 16  # 15 convolutions and the linear layer
    grads = {r["scheme"]: r["grad_norms_step0"]["features.0.weight"] for r in record["rows"]}
    assert grads["normal"] < 1e-6 * grads["kaiming_fan_in"]  # the vanished signal
    if RESULTS.is_file():  # the committed rows carry exactly the fields these rows carry
        committed = load_results(RESULTS)["rows"][0]
        for row in record["rows"]:
            assert set(row) == set(committed)
            assert set(row["history"]) == set(committed["history"])


def test_the_committed_results_are_what_the_script_writes():
    """The chapter reads experiments/results/init_schemes.json: it must come from this script
    with its default arguments and its recipe."""
    record = load_results(RESULTS)
    args = exp.parse_args([])
    assert record["command"].endswith("experiments/init_schemes.py")  # no arguments
    assert exp.RECIPE in record["notes"]
    assert [(r["scheme"], r["seed"]) for r in record["rows"]] == [
        (s, seed) for seed in args.seeds for s in args.schemes]
    for row in record["rows"]:
        assert (row["epochs"], row["train_examples"], row["val_examples"]) == (
            args.epochs, args.train_size, exp.VAL_SIZE)
        assert (row["optimizer"], row["lr"], row["momentum"], row["batch_size"]) == (
            "sgd", exp.LR, exp.MOMENTUM, exp.BATCH_SIZE)
        assert row["model"] == "plain_cnn" and row["model_args"] == exp.MODEL_ARGS
        assert row["init"] == exp.SCHEMES[row["scheme"]]
        assert len(row["history"]["val_acc"]) == row["epochs"] or row["error"]


@pytest.mark.slow
def test_the_chapters_rerun_does_not_look_at_the_test_split(fashion, monkeypatch):
    """The chapter re-runs one run with evaluate_test=False: same training, no test numbers,
    and the test loader is never evaluated (the test split is looked at once, by the sweep)."""
    kwargs = dict(epochs=1, train_size=200, test_size=100, data=fashion, device="cpu",
                  verbose=False)
    with_test = exp.run("kaiming_fan_in", 0, **kwargs)
    evaluated = []
    real_evaluate = exp.cnnlib.Trainer.evaluate
    monkeypatch.setattr(exp.cnnlib.Trainer, "evaluate",
                        lambda self, loader, *a, **k: evaluated.append(len(loader.labels))
                        or real_evaluate(self, loader, *a, **k))
    without = exp.run("kaiming_fan_in", 0, evaluate_test=False, **kwargs)
    assert with_test["test_acc"] is not None and with_test["test_loss"] is not None
    assert without["test_acc"] is None and without["test_loss"] is None
    assert 100 not in evaluated  # the 100-image test loader was never evaluated
    for key in ("train_loss", "val_loss", "val_acc"):  # the same training (times aside)
        assert without["history"][key] == with_test["history"][key]
