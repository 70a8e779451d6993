"""The activations chapter's experiments: the silent-channel counter, and both scripts' quick runs."""
import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn

import cnnlib

ROOT = Path(__file__).resolve().parent.parent


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dead = _load("activations_dead_relu")


def _silent_by_hand(model, images):
    """The oracle: run model.features layer by layer and look at each activation's output."""
    counts, x = [], images
    with torch.no_grad():
        for layer in model.features:
            x = layer(x)
            if isinstance(layer, (nn.ReLU, nn.LeakyReLU)):
                counts.append(int((x.amax(dim=(0, 2, 3)) <= 0).sum()))
    return counts


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_silent_channels_counts_what_each_layer_outputs(activation):
    torch.manual_seed(0)
    model = cnnlib.create_model("plain_cnn", activation=activation, widths=(4, 6),
                                convs_per_stage=2)
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        convs[0].bias[1] = -1e3  # channel 1 of layer 1 never fires
        convs[2].bias[[0, 3, 5]] = -1e3  # three channels of layer 3
    images = torch.rand(37, 1, 28, 28)
    model.train()
    counts = dead.silent_channels(model, images, batch_size=10)  # 4 batches, the last short
    assert counts == _silent_by_hand(model.eval(), images)
    assert counts[0] == 1 and counts[2] == 3
    # A channel that fires on one image at one position is not silent, whichever batch
    # that image is in.
    with torch.no_grad():
        convs[0].bias[1] = 0.0
        convs[0].weight[1] = 0.0
        convs[0].weight[1, 0, 1, 1] = 1.0  # this channel now copies the input pixel
    one = torch.zeros(1, 1, 28, 28)
    one[0, 0, 13, 17] = 1.0
    mixed = torch.cat([one, torch.zeros(5, 1, 28, 28)])
    for batch_size in (1, 2, 6):
        assert dead.silent_channels(model, mixed, batch_size=batch_size) == \
            _silent_by_hand(model, mixed)
    assert dead.silent_channels(model, mixed)[0] < dead.silent_channels(model, mixed * 0)[0]


def test_silent_channels_gives_every_module_its_mode_back():
    model = cnnlib.create_model("plain_cnn", activation="relu", widths=(4, 4), batch_norm=True)
    model.train()
    model.features[1].eval()  # a frozen batch norm stays frozen, the other one trains
    before = {name: m.training for name, m in model.named_modules()}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    dead.silent_channels(model, torch.rand(3, 1, 28, 28))
    assert {name: m.training for name, m in model.named_modules()} == before
    # Counting looks and touches nothing: batch norm's running statistics are unchanged
    # (they would move if the counting forward pass ran in training mode).
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert not [m for m in model.modules() if m._forward_hooks]  # the hooks are gone


def test_silent_channels_names_bad_input():
    model = cnnlib.create_model("plain_cnn", activation="relu", widths=(4,))
    with pytest.raises(TypeError, match="features"):
        dead.silent_channels(nn.Linear(2, 2), torch.rand(1, 1, 28, 28))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        dead.silent_channels(model, torch.rand(1, 28, 28))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        dead.silent_channels(model, torch.rand(0, 1, 28, 28))
    with pytest.raises(ValueError, match="holds no ReLU or LeakyReLU"):
        dead.silent_channels(cnnlib.create_model("plain_cnn", activation="gelu", widths=(4,)),
                             torch.rand(1, 1, 28, 28))


@pytest.mark.slow
def test_activations_compare_quick_run_writes_every_run(quick_run):
    record = quick_run("activations_compare")
    assert [(r["activation"], r["seed"]) for r in record["rows"]] == [
        ("sigmoid", 0), ("relu", 0), ("sigmoid", 1), ("relu", 1)]
    for row in record["rows"]:
        assert row["train_examples"] == 512 and row["val_examples"] == 5_000
        assert row["model_args"]["activation"] == row["activation"]
        assert len(row["history"]["val_acc"]) == row["epochs"] == 1
        assert 0 <= row["val_acc"] <= 1 and row["val_acc"] == row["history"]["val_acc"][-1]


@pytest.mark.slow
def test_activations_dead_relu_quick_run_writes_every_run(quick_run):
    record = quick_run("activations_dead_relu")
    assert [(r["activation"], r["lr"]) for r in record["rows"]] == [
        ("relu", 1e-3), ("leaky_relu", 1e-3), ("relu", 1e-2), ("leaky_relu", 1e-2)]
    for row in record["rows"]:
        assert row["probe_images"] == 1_000 and row["train_examples"] == 512
        assert row["channels"] == [16] * 3 + [32] * 3 + [64] * 3
        assert len(row["silent"]) == row["epochs"] + 1 == 2  # at init, after the epoch
        assert all(0 <= s <= c for counts in row["silent"]
                   for s, c in zip(counts, row["channels"]))
