"""Layer tables, parameter and multiply-add counts (cnnlib.inspect).

Oracles: torchinfo for shapes and parameters, torch.utils.flop_counter for arithmetic
(it counts FLOPs = 2 x MACs for convolutions and matrix products, as cnnlib does).
"""
import re

import pytest
import torch
import torchinfo
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import cnnlib
from cnnlib import count_parameters, create_model, list_models, summarize


def _flop_counter_macs(model, input_shape):
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, *input_shape))
    total = counter.get_total_flops()
    assert total % 2 == 0
    return total // 2


class _Shared(nn.Module):
    """One linear layer called twice: its parameters count once, its MACs twice."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.head = nn.Linear(8, 3, bias=False)

    def forward(self, x):
        return self.head(self.fc(torch.relu(self.fc(x.flatten(1)))))


# (name, model factory, per-example input shape)
EXTRA = [
    ("grouped conv", lambda: nn.Sequential(nn.Conv2d(4, 8, 3, groups=2), nn.ReLU(),
                                           nn.Conv2d(8, 8, 3, groups=8, padding=1)), (4, 9, 9)),
    ("stride and dilation", lambda: nn.Sequential(nn.Conv2d(3, 5, (3, 5), stride=2, dilation=2, padding=1),
                                                  nn.BatchNorm2d(5), nn.MaxPool2d(2)), (3, 21, 17)),
    ("conv1d and linear", lambda: nn.Sequential(nn.Conv1d(2, 4, 3, bias=False), nn.Flatten(),
                                                nn.Linear(4 * 8, 6), nn.Linear(6, 2)), (2, 10)),
    ("linear on a sequence", lambda: nn.Sequential(nn.Linear(5, 7), nn.GELU()), (4, 5)),
    ("shared layer", _Shared, (2, 2, 2)),
]


def _cases():
    cases = [pytest.param(lambda n=name: create_model(n), (1, 28, 28), id=name) for name in list_models()]
    cases += [pytest.param(lambda n=name: create_model(n, in_channels=3, input_size=32), (3, 32, 32),
                           id=f"{name}-rgb32") for name in list_models()]
    cases += [pytest.param(factory, shape, id=label) for label, factory, shape in EXTRA]
    return cases


@pytest.mark.parametrize("factory, shape", _cases())
def test_total_macs_match_torch_flop_counter(factory, shape):
    torch.manual_seed(0)
    model = factory()
    summary = summarize(model, shape)
    assert summary.total_macs == _flop_counter_macs(model, shape) > 0
    assert summary.total_flops == 2 * summary.total_macs


@pytest.mark.parametrize("factory, shape", _cases())
def test_total_params_match_torchinfo(factory, shape):
    model = factory()
    summary = summarize(model, shape)
    info = torchinfo.summary(model, input_size=(1, *shape), verbose=0, device="cpu")
    assert summary.total_params == count_parameters(model) == info.total_params
    assert summary.input_shape == shape


@pytest.mark.parametrize("factory, shape", _cases())
def test_layer_output_shapes_match_a_real_forward(factory, shape):
    model = factory()
    summary = summarize(model, shape)
    # Independent record: every leaf's output shape during a forward of a batch of 3.
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o, name=n: seen.append((name, tuple(o.shape[1:]))))
             for n, m in model.named_modules() if not list(m.children())]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(3, *shape))
    for h in hooks:
        h.remove()
    assert [(l.name, l.output_shape) for l in summary.layers] == seen
    # Per-layer parameters add up to the total unless a layer is called more than once.
    if len({l.name for l in summary.layers}) == len(summary.layers):
        assert sum(l.params for l in summary.layers) == summary.total_params


def test_lenet_layer_shapes_against_torchinfo():
    model = create_model("lenet")
    summary = summarize(model, (1, 28, 28))
    info = torchinfo.summary(model, input_size=(1, 1, 28, 28), verbose=0, device="cpu")
    leaves = [tuple(l.output_size[1:]) for l in info.summary_list if l.is_leaf_layer]
    assert [l.output_shape for l in summary.layers] == leaves
    assert [l.output_shape for l in summary.layers][:6] == [
        (6, 28, 28), (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 10, 10), (16, 5, 5)]
    # Hand count for the first conv: 6 x 28 x 28 outputs, each a 1 x 5 x 5 dot product.
    assert summary.layers[0].macs == 6 * 28 * 28 * 25
    assert summary.layers[0].params == 6 * 25 + 6


def test_transposed_conv_macs_match_torch_flop_counter():
    model = nn.ConvTranspose2d(4, 6, 3, stride=2)
    assert summarize(model, (4, 8, 8)).total_macs == _flop_counter_macs(model, (4, 8, 8))


def test_printed_table_names_macs_flops_and_totals():
    summary = summarize(create_model("lenet"), (1, 28, 28))
    text = str(summary)
    assert repr(summary) == text
    assert "MACs" in text and "FLOPs" in text
    assert "61,706" in text  # total parameters
    assert f"{summary.total_macs:,}" in text
    assert f"{summary.total_macs / 1e6:.3f} M multiply-adds" in text
    assert text.splitlines()[0] == "input 1x28x28 (per example)"
    for layer in summary.layers:
        assert layer.name in text


_TOTALS = re.compile(r"^(?P<macs>[\d.]+) M multiply-adds \(MACs\) = (?P<flops>[\d.]+) M FLOPs per example$")


def _printed_totals(text):
    """(MACs column of the "total" row, M MACs and M FLOPs of the closing line)."""
    lines = text.splitlines()
    match = _TOTALS.match(lines[-1])
    assert match, f"unexpected closing line: {lines[-1]!r}"
    total_row = lines[-2].split()
    assert total_row[0] == "total"
    return int(total_row[-1].replace(",", "")), float(match["macs"]), float(match["flops"])


def test_printed_totals_against_a_hand_count():
    # One linear layer 1000 -> 500 without bias: 500 outputs, 1000 multiply-adds each.
    model = nn.Linear(1000, 500, bias=False)
    text = str(summarize(model, (1000,)))
    assert text.splitlines()[-1] == "0.500 M multiply-adds (MACs) = 1.000 M FLOPs per example"
    assert _printed_totals(text) == (500_000, 0.5, 1.0)


@pytest.mark.parametrize("factory, shape", [
    pytest.param(lambda: create_model("lenet"), (1, 28, 28), id="lenet"),
    pytest.param(lambda: nn.Sequential(nn.Conv2d(3, 16, 3), nn.Flatten(), nn.Linear(16 * 30 * 30, 7)),
                 (3, 32, 32), id="conv-linear"),
])
def test_printed_macs_and_flops_match_torch_flop_counter(factory, shape):
    # torch.utils.flop_counter counts FLOPs (2 per multiply-add), independently of cnnlib.
    model = factory()
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, *shape))
    flops = counter.get_total_flops()
    macs, printed_macs, printed_flops = _printed_totals(str(summarize(model, shape)))
    assert 2 * macs == flops
    assert printed_macs == round(flops / 2 / 1e6, 3)
    assert printed_flops == round(flops / 1e6, 3)
    assert printed_flops != printed_macs


def test_summarize_restores_the_mode_and_removes_its_hooks():
    model = create_model("lenet_modern")
    model.train()
    running_mean = model.features[1].running_mean.clone()
    summarize(model, (1, 28, 28))
    assert model.training and all(m.training for m in model.modules())
    assert all(not m._forward_hooks for m in model.modules())
    assert torch.equal(model.features[1].running_mean, running_mean)  # ran in eval mode
    model.eval()
    summarize(model, (1, 28, 28))
    assert not model.training


@pytest.mark.parametrize("shape", [(), (1, 0, 28), (1, -28, 28), (1, 28.0, 28), (3, 28, 28), (1, 8, 8)])
def test_bad_input_shapes_raise_value_error(shape):
    with pytest.raises(ValueError):
        summarize(create_model("lenet"), shape)


def test_summarize_rejects_non_modules():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        summarize(lambda x: x, (1, 28, 28))


def test_count_trainable_parameters_only():
    model = create_model("lenet")
    for p in model.features.parameters():
        p.requires_grad_(False)
    frozen = sum(p.numel() for p in model.features.parameters())
    assert count_parameters(model) == 61_706
    assert count_parameters(model, trainable_only=True) == 61_706 - frozen
    assert cnnlib.count_parameters is count_parameters
