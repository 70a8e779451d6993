"""cnnlib.init: the gains against PyTorch's table and against sampling, the weights'
spread against the formulas, and the models' weights against torch.nn.init's own."""
import math

import pytest
import torch
from torch import nn

import cnnlib
from cnnlib import init as cinit

DERIVED_ONLY = ("elu", "gelu", "gelu_tanh", "silu", "relu6", "hardswish")


@pytest.mark.parametrize("name", cinit.TORCH_GAINS)
def test_gain_is_pytorchs_where_pytorch_has_one(name):
    assert cinit.gain(name) == nn.init.calculate_gain(name, 0.01 if name == "leaky_relu" else None)
    assert cinit.gain("leaky_relu", 0.2) == nn.init.calculate_gain("leaky_relu", 0.2)


@pytest.mark.parametrize("name, slope", [("linear", 0.01), ("relu", 0.01), ("leaky_relu", 0.01),
                                         ("leaky_relu", 0.3)])
def test_derived_gain_equals_the_closed_form_where_there_is_one(name, slope):
    # E[relu(z)^2] = 1/2 and E[leaky(z)^2] = (1 + a^2)/2: PyTorch's gains are exactly these.
    expected = {"linear": 1.0, "relu": math.sqrt(2.0),
                "leaky_relu": math.sqrt(2.0 / (1 + slope ** 2))}[name]
    assert cinit.derived_gain(name, slope) == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize("name", DERIVED_ONLY + ("sigmoid", "tanh", "selu"))
def test_second_moment_agrees_with_sampling(name):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4_000_000, generator=g, dtype=torch.float64)
    sampled = (cinit.ACTIVATION_FUNCTIONS[name](z) ** 2).mean().item()
    # 4e6 samples: the standard error of the mean is well under 0.2% for these functions
    assert cinit.second_moment(name) == pytest.approx(sampled, rel=4e-3)
    assert cinit.gain(name, derived=True) == pytest.approx(1 / math.sqrt(sampled), rel=4e-3)


@pytest.mark.parametrize("name", DERIVED_ONLY + ("sigmoid", "tanh"))
def test_the_derived_gain_keeps_the_second_moment_through_a_layer(name):
    """Unit-Gaussian pre-activations, then f, then a layer with Var(w) = gain^2 / fan_in:
    the new pre-activations have second moment 1 (ReLU's gain misses it)."""
    torch.manual_seed(0)
    x = torch.randn(4096, 2048, dtype=torch.float64)
    w = torch.randn(2048, 2048, dtype=torch.float64) / math.sqrt(2048)
    f = cinit.ACTIVATION_FUNCTIONS[name]
    out = f(x) @ w.T
    assert (cinit.gain(name, derived=True) ** 2 * out.pow(2).mean()).item() == pytest.approx(1, rel=0.02)
    if name != "relu6":  # relu6 clips 6 standard deviations out: ReLU's gain is its gain
        assert (cinit.gain("relu") ** 2 * out.pow(2).mean()).item() != pytest.approx(1, rel=0.1)


@pytest.mark.parametrize("name", ("elu", "gelu", "silu", "hardswish"))
def test_over_ten_layers_the_derived_gain_stays_near_one_and_relus_does_not(name):
    """Ten dense layers of width 1024. The fixed point q = 1 of the second moment is
    unstable for GELU, SiLU and hard-swish (the map q -> gain^2 E[f(sqrt(q) z)^2] has a
    slope above 1 there), so random deviations grow slowly with depth; ReLU's gain instead
    shrinks or grows the signal by a constant factor every layer."""
    def last_second_moment(g):
        torch.manual_seed(0)
        x = torch.randn(256, 1024, dtype=torch.float64)
        f = cinit.ACTIVATION_FUNCTIONS[name]
        for _ in range(10):
            w = torch.randn(1024, 1024, dtype=torch.float64) * (g / math.sqrt(1024))
            x = f(x) @ w.T
        return (x ** 2).mean().item()
    assert abs(math.log(last_second_moment(cinit.gain(name)))) < 0.6
    assert abs(math.log(last_second_moment(cinit.gain("relu")))) > 1.5


def test_relu6_gain_is_relus_to_four_digits():
    assert cinit.derived_gain("relu6") == pytest.approx(math.sqrt(2), abs=1e-4)


def _layer_std(layer):
    return layer.weight.detach().double().std().item()


@pytest.mark.parametrize("scheme, mode, distribution", [
    ("kaiming", "fan_in", "normal"), ("kaiming", "fan_out", "normal"),
    ("kaiming", "fan_in", "uniform"), ("kaiming", "fan_out", "uniform"),
    ("xavier", "fan_in", "normal"), ("xavier", "fan_in", "uniform")])
@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
def test_weights_have_the_spread_the_formula_predicts(scheme, mode, distribution, activation):
    torch.manual_seed(0)
    conv = nn.Conv2d(64, 256, 5, groups=2)  # fan_in 32*25 = 800, fan_out 256*25 = 6400
    linear = nn.Linear(3000, 700)
    model = nn.Sequential(conv, linear)
    cinit.init_weights(model, scheme, activation, mode=mode, distribution=distribution, bias=0.5)
    g = cinit.gain(activation)
    for layer, fan_in, fan_out in ((conv, 800, 6400), (linear, 3000, 700)):
        if scheme == "kaiming":
            want = g / math.sqrt(fan_in if mode == "fan_in" else fan_out)
        else:
            want = g * math.sqrt(2 / (fan_in + fan_out))
        assert _layer_std(layer) == pytest.approx(want, rel=0.01)
        assert cinit.weight_std(scheme, fan_in, fan_out, g, mode) == pytest.approx(want, rel=1e-12)
        assert abs(layer.weight.mean().item()) < 0.02 * want
        if distribution == "uniform":
            assert layer.weight.abs().max().item() <= math.sqrt(3) * want * (1 + 1e-6)
        assert torch.all(layer.bias == 0.5)


def test_normal_constant_and_torch_schemes():
    model = nn.Sequential(nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(), nn.Linear(96, 4096),
                          nn.BatchNorm1d(4096))
    torch.manual_seed(0)
    cinit.init_weights(model, "normal", std=0.01, bias=1.0)  # AlexNet's scheme
    assert _layer_std(model[0]) == pytest.approx(0.01, rel=0.02)
    assert torch.all(model[2].bias == 1.0)
    cinit.init_weights(model, "constant", value=0.5)
    assert torch.all(model[0].weight == 0.5) and torch.all(model[2].bias == 0)
    torch.manual_seed(1)
    cinit.init_weights(model, "torch")
    torch.manual_seed(1)
    fresh = nn.Sequential(nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(), nn.Linear(96, 4096))
    assert torch.equal(model[0].weight, fresh[0].weight) and torch.equal(model[2].bias, fresh[2].bias)
    # batch norm keeps its own parameters
    assert torch.all(model[3].weight == 1) and torch.all(model[3].bias == 0)


@pytest.mark.parametrize("scheme, distribution, reference", [
    ("kaiming", "uniform", lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu")),
    ("kaiming", "normal", lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu")),
    ("xavier", "uniform", lambda w: nn.init.xavier_uniform_(w)),
    ("xavier", "normal", lambda w: nn.init.xavier_normal_(w)),
])
def test_same_weights_as_torch_nn_init(scheme, distribution, reference):
    activation = "relu" if scheme == "kaiming" else "linear"
    torch.manual_seed(3)
    ours = cinit.init_weights(nn.Sequential(nn.Conv2d(3, 8, 3), nn.Linear(50, 20)), scheme,
                              activation, distribution=distribution)
    torch.manual_seed(3)
    theirs = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Linear(50, 20))
    for m in theirs:
        reference(m.weight)
        nn.init.zeros_(m.bias)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name, kwargs, scheme, activation, distribution", [
    ("lenet", {}, "xavier", "linear", "uniform"),
    ("lenet_modern", {}, "kaiming", "relu", "uniform"),
    ("plain_cnn", {"activation": "gelu"}, "kaiming", "relu", "normal"),
    ("plain_cnn", {"init": "xavier"}, "xavier", "linear", "uniform"),
])
def test_models_initialize_through_cnnlib_init(name, kwargs, scheme, activation, distribution,
                                               monkeypatch):
    torch.manual_seed(7)
    model = cnnlib.create_model(name, **kwargs)
    # The same construction without the model's own init_weights, then cnnlib.init with the
    # stated scheme: the same draws in the same order give the same weights.
    monkeypatch.setattr(type(model), "init_weights", lambda self: None)
    torch.manual_seed(7)
    reference = cinit.init_weights(cnnlib.create_model(name, **kwargs), scheme, activation,
                                   distribution=distribution)
    for a, b in zip(model.state_dict().values(), reference.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("call, error, match", [
    (lambda: cinit.init_weights("net", "kaiming"), TypeError, "torch.nn.Module"),
    (lambda: cinit.init_weights(nn.Linear(2, 2), "he"), ValueError, "scheme must be one of"),
    (lambda: cinit.init_weights(nn.Linear(2, 2), "kaiming", "swish"), ValueError, "activation must be one of"),
    (lambda: cinit.init_weights(nn.Linear(2, 2), "kaiming", mode="in"), ValueError, "mode"),
    (lambda: cinit.init_weights(nn.Linear(2, 2), "xavier", distribution="gauss"), ValueError, "distribution"),
    (lambda: cinit.init_weights(nn.Linear(2, 2), "normal", std=0), ValueError, "std must be positive"),
    (lambda: cinit.init_weights(nn.Linear(2, 2), "constant", value=float("nan")), ValueError, "value"),
    (lambda: cinit.gain("relu", derived=1), ValueError, "derived"),
    (lambda: cinit.gain("leaky_relu", negative_slope="0.1"), ValueError, "negative_slope"),
    (lambda: cinit.weight_std("kaiming", 0, 3), ValueError, "fan_in"),
    (lambda: cinit.weight_std("normal", 3, 3), ValueError, "kaiming"),
    (lambda: cinit.weight_std("xavier", 3, 3, gain=-1.0), ValueError, "gain"),
])
def test_bad_arguments_are_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
