"""experiments/classifier_head.py: its helpers against PyTorch, and a quick run of the script."""
import importlib.util
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlib.experiments import load_results

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "experiments" / "classifier_head.py"


@pytest.fixture(scope="module")
def experiment():
    spec = importlib.util.spec_from_file_location("classifier_head_experiment", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_output_nll_is_the_cross_entropy_of_the_probabilities(experiment):
    g = torch.Generator().manual_seed(0)
    logits = 4 * torch.randn(64, 10, generator=g)
    labels = torch.randint(0, 10, (64,), generator=g)
    expected = F.cross_entropy(logits, labels).item()
    assert experiment.output_nll(logits, labels, softmax=False) == pytest.approx(expected, rel=1e-6)
    probs = torch.softmax(logits, dim=1)  # what a model ending in a softmax outputs
    assert experiment.output_nll(probs, labels, softmax=True) == pytest.approx(expected, rel=1e-4)
    # Not what Trainer's loss gives for such a model: that one applies a second softmax,
    # which keeps it between log(1 + 9/e) and log(e + 9).
    double = F.cross_entropy(probs, labels).item()
    assert abs(double - expected) > 0.1
    assert math.log(1 + 9 / math.e) < double < math.log(math.e + 9)
    # A probability that underflowed to 0 gives a large finite loss, not inf.
    zero = torch.tensor([[1.0, 0.0]])
    assert experiment.output_nll(zero, torch.tensor([1]), softmax=True) == pytest.approx(
        -torch.log(torch.tensor(torch.finfo(torch.float32).tiny)).item())


def test_variants_differ_from_dense_in_one_factor(experiment):
    models = {}
    for variant in experiment.VARIANTS:
        torch.manual_seed(0)
        models[variant] = experiment.build(variant)
    dense, gap, wrapped = models["dense"], models["gap"], models["dense_softmax"]
    assert isinstance(wrapped, nn.Sequential) and isinstance(wrapped[1], nn.Softmax)
    assert wrapped[1].dim == 1
    # The same seed gives the softmax variant the very same weights as the dense one.
    assert all(torch.equal(a, b) for a, b in zip(dense.state_dict().values(),
                                                 wrapped[0].state_dict().values()))
    x = torch.rand(3, 1, 28, 28)
    dense.eval(), wrapped.eval()
    torch.testing.assert_close(wrapped(x), torch.softmax(dense(x), dim=1))
    # gap and dense share the trunk's architecture; only the heads differ.
    assert [tuple(p.shape) for p in gap.features.parameters()] == \
        [tuple(p.shape) for p in dense.features.parameters()]
    assert isinstance(gap.classifier[0], nn.AdaptiveAvgPool2d)


def test_committed_results_are_what_the_script_writes_by_default(experiment):
    """The chapter reads experiments/results/classifier_head.json: a change to the script's
    defaults, variants or settings without a re-run must show here."""
    args = experiment.parse_args([])
    record = load_results(ROOT / "experiments" / "results" / "classifier_head.json")
    assert record["command"].split() == ["python", "experiments/classifier_head.py"]
    assert [(r["variant"], r["seed"]) for r in record["rows"]] == [
        (v, s) for s in args.seeds for v in args.variants]
    for row in record["rows"]:
        model_args, softmax, description = experiment.VARIANTS[row["variant"]]
        assert row["model_args"] == model_args and row["softmax_in_model"] == softmax
        assert (row["lr"], row["momentum"]) == (experiment.LR, experiment.MOMENTUM)
        assert row["train_examples"] == args.train_size
        assert row["val_examples"] == experiment.VAL_SIZE
        assert row["epochs"] == args.epochs == len(row["grad_norm"])
        assert all(len(v) == args.epochs for v in row["history"].values())
        assert row["val_acc"] == row["history"]["val_acc"][-1]
        assert ("val_nll" in row) == softmax
        assert len(row.get("val_nll", row["grad_norm"])) == args.epochs
        torch.manual_seed(0)
        model = experiment.build(row["variant"])
        head = model[0].classifier if softmax else model.classifier
        assert row["params"] == sum(p.numel() for p in model.parameters())
        assert row["head_params"] == sum(p.numel() for p in head.parameters())
        assert description in record["notes"]
    assert (f"Batch {experiment.BATCH_SIZE}, SGD lr {experiment.LR}, momentum "
            f"{experiment.MOMENTUM}") in record["notes"]


@pytest.mark.slow
def test_quick_run_writes_every_run(quick_run):
    record = quick_run("classifier_head")
    assert [(r["variant"], r["seed"]) for r in record["rows"]] == [
        (v, s) for s in (0, 1) for v in ("dense", "gap", "dense_softmax")]
    for row in record["rows"]:
        assert row["train_examples"] == 1_000 and row["val_examples"] == 5_000
        assert len(row["history"]["val_acc"]) == len(row["grad_norm"]) == row["epochs"] == 1
        assert row["val_acc"] == row["history"]["val_acc"][-1]
        assert ("val_nll" in row) == row["softmax_in_model"] == (row["variant"] == "dense_softmax")
