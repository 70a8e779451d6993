"""experiments/gradient_flow.py (the chapter on vanishing and exploding gradients): the
residual wrapper, the variants, the arguments, a --quick run that writes every run, and the
committed results file against the script (its defaults, recipe and fields)."""
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import cnnlib
from cnnlib.experiments import load_results

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))
import gradient_flow as exp  # noqa: E402

RESULTS = ROOT / "experiments" / "results" / "gradient_flow.json"


def test_residual_variant_has_the_plain_variants_weights():
    plain, residual = exp.make_model("relu_bn", 3), exp.make_model("relu_bn_residual", 3)
    a, b = list(plain.parameters()), list(residual.parameters())
    assert len(a) == len(b) and all(torch.equal(p, q) for p, q in zip(a, b))
    x = torch.rand(4, 1, 28, 28)
    plain.eval(), residual.eval()
    with torch.no_grad():
        assert not torch.allclose(plain(x), residual(x))  # the shortcuts change the function
    blocks = [k for kind, k in residual.plan if kind == "block"]
    assert len(blocks) == 2 * 3  # two basic blocks in each of the three stages


def test_a_block_whose_last_bn_is_zero_is_the_identity():
    """With the second batch norm's scale and shift at 0, a block computes relu(x + 0) = x
    (x >= 0 after a ReLU), so the network equals the one without its blocks."""
    torch.manual_seed(0)
    model = exp.make_model("relu_bn_residual", 0).eval()
    for kind, k in model.plan:
        if kind == "block":
            bn = model.layers[k][1][-1]
            assert isinstance(bn, nn.BatchNorm2d)
            with torch.no_grad():
                bn.weight.zero_()
                bn.bias.zero_()
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        out = x
        for kind, k in model.plan:
            if kind != "block":
                out = model.layers[k](out)
        skipped = model.classifier(out)
        torch.testing.assert_close(model(x), skipped)


def test_residual_forward_against_a_hand_written_one():
    """ResNet's basic blocks written out by hand over the plain model's own layers."""
    plain, residual = exp.make_model("relu_bn", 2).eval(), exp.make_model("relu_bn_residual", 2).eval()
    f = plain.features  # per stage: 5 x (conv, bn, relu), then a max pool (not after the last)
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        out = x
        for stage in range(3):
            base = 16 * stage
            out = f[base + 2](f[base + 1](f[base](out)))
            for block in range(2):
                u1 = base + 3 * (1 + 2 * block)
                u2 = u1 + 3
                y = f[u1 + 2](f[u1 + 1](f[u1](out)))
                out = torch.relu(out + f[u2 + 1](f[u2](y)))
            if stage < 2:
                assert isinstance(f[base + 15], nn.MaxPool2d)
                out = f[base + 15](out)
        torch.testing.assert_close(residual(x), plain.classifier(out))


def test_variants_differ_as_documented():
    nets = {v: exp.make_model(v, 0) for v in exp.VARIANTS}
    convs = {v: sum(isinstance(m, nn.Conv2d) for m in n.modules()) for v, n in nets.items()}
    assert convs == {"sigmoid": 15, "relu": 15, "relu_bn": 15, "relu_bn_residual": 15,
                     "relu_bn_shallow": 3}
    assert any(isinstance(m, nn.Sigmoid) for m in nets["sigmoid"].modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in nets["relu"].modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in nets["relu_bn"].modules()) == 15
    assert len(exp.weight_layers(nets["relu_bn"])) == 16  # 15 convolutions and the linear layer
    assert exp.weight_layers(nets["relu"])[0] == "features.0.weight"
    with pytest.raises(ValueError, match="variant"):
        exp.make_model("tanh", 0)


def test_residual_needs_pairs_after_the_first_convolution():
    cnnlib.seed_everything(0)
    plain = cnnlib.create_model("plain_cnn", convs_per_stage=4, batch_norm=True)
    with pytest.raises(ValueError, match="odd number"):
        exp.ResidualPlain(plain)


def test_arguments():
    args = exp.parse_args(["--quick"])
    assert (args.seeds, args.epochs, args.train_size) == ([0, 1], 1, 256)
    # the checks every script shares: tests/test_experiments.py


@pytest.mark.slow
def test_quick_run_writes_every_run(quick_run):
    record = quick_run("gradient_flow")
    assert [(r["variant"], r["seed"]) for r in record["rows"]] == [
        (v, s) for s in (0, 1) for v in exp.VARIANTS]
    for row in record["rows"]:
        assert row["train_examples"] == 256 and row["val_examples"] == exp.VAL_SIZE
        assert len(row["grad_norms"]) == len(row["layers"])
        assert all(len(g) == len(row["steps"]) for g in row["grad_norms"])
        assert row["steps"] == list(range(0, 4, exp.LOG_EVERY))  # 4 steps of 64 images
    committed = load_results(RESULTS)["rows"][0]
    for row in record["rows"]:
        assert set(row) == set(committed) and set(row["history"]) == set(committed["history"])


def test_the_committed_results_are_what_the_script_writes():
    """The chapter reads experiments/results/gradient_flow.json: it must come from this
    script with its default arguments and its recipe."""
    record = load_results(RESULTS)
    args = exp.parse_args([])
    assert record["command"].endswith("experiments/gradient_flow.py")  # no arguments
    assert exp.RECIPE in record["notes"]
    assert [(r["variant"], r["seed"]) for r in record["rows"]] == [
        (v, s) for s in args.seeds for v in args.variants]
    for row in record["rows"]:
        spec = exp.VARIANTS[row["variant"]]
        assert all(row[k] == v for k, v in spec.items())
        assert (row["epochs"], row["train_examples"], row["val_examples"]) == (
            args.epochs, args.train_size, exp.VAL_SIZE)
        assert (row["optimizer"], row["lr"], row["momentum"], row["batch_size"]) == (
            "sgd", exp.LR, exp.MOMENTUM, exp.BATCH_SIZE)
        assert row["widths"] == list(exp.WIDTHS)
        assert len(row["history"]["val_acc"]) == row["epochs"]
        assert row["val_acc"] == row["history"]["val_acc"][-1]
        steps_per_epoch = -(-row["train_examples"] // row["batch_size"])
        assert row["steps"] == list(range(0, steps_per_epoch * row["epochs"], exp.LOG_EVERY))
        assert len(row["grad_norms"]) == len(row["layers"])
        assert all(len(g) == len(row["steps"]) for g in row["grad_norms"])
