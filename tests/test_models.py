"""The model registry and every registered model (cnnlib.models).

Registry-driven: a model is tested here the moment it is registered.
"""
import inspect
import math

import pytest
import torch
from torch import nn

import cnnlib
from cnnlib.models import (Flatten, LeNet, Sigmoid, _registry, create_model, get_model_builder,
                           list_models, register_model)

MODELS = list_models()


def test_registry_holds_the_lenets_sorted():
    assert {"lenet", "lenet_modern"} <= set(MODELS)
    assert MODELS == sorted(MODELS)
    assert cnnlib.list_models() == MODELS


@pytest.mark.parametrize("name", MODELS)
def test_builders_take_keyword_only_num_classes_and_in_channels(name):
    params = inspect.signature(get_model_builder(name)).parameters
    assert {"num_classes", "in_channels"} <= set(params)
    assert all(p.kind is p.KEYWORD_ONLY for p in params.values())


@pytest.mark.parametrize("num_classes", [10, 3])
@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize("name", MODELS)
def test_forward_backward_on_tiny_inputs(name, num_classes, in_channels):
    torch.manual_seed(0)
    model = create_model(name, num_classes=num_classes, in_channels=in_channels)
    model.train()
    x = torch.randn(4, in_channels, 28, 28)
    out = model(x)
    assert out.shape == (4, num_classes)
    assert torch.isfinite(out).all()
    nn.functional.cross_entropy(out, torch.arange(4) % num_classes).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{pname} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{pname} has a non-finite gradient"
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())
    model.eval()
    with torch.no_grad():
        single = model(x[:1])  # eval mode works on a batch of one (batch norm included)
    assert single.shape == (1, num_classes) and torch.isfinite(single).all()


@pytest.mark.parametrize("name", MODELS)
def test_model_args_are_recorded(name):
    model = create_model(name, num_classes=7)
    assert model.model_args == {"name": name, "num_classes": 7}
    args = dict(model.model_args)
    rebuilt = create_model(args.pop("name"), **args)
    assert [p.shape for p in rebuilt.parameters()] == [p.shape for p in model.parameters()]


def test_model_args_record_every_argument():
    model = create_model("lenet_modern", num_classes=3, in_channels=2, batch_norm=False)
    assert model.model_args == {"name": "lenet_modern", "num_classes": 3, "in_channels": 2,
                                "batch_norm": False}


def test_unknown_model_names_list_the_registered_ones():
    with pytest.raises(ValueError, match="unknown model 'resnet1000'") as err:
        create_model("resnet1000")
    for name in MODELS:
        assert name in str(err.value)


def test_unknown_arguments_are_rejected_with_the_accepted_ones():
    with pytest.raises(TypeError, match=r"unknown argument\(s\) \['dropout'\].*num_classes"):
        create_model("lenet", num_classes=10, dropout=0.5)


@pytest.fixture
def scratch_registry(monkeypatch):
    """Register into a copy, so that test builders never leak into other tests."""
    monkeypatch.setattr(_registry, "_BUILDERS", dict(_registry._BUILDERS))


def test_registering_a_duplicate_name_raises(scratch_registry):
    original = get_model_builder("lenet")

    with pytest.raises(ValueError, match="'lenet' is already registered"):
        @register_model("lenet")
        def impostor(*, num_classes=10, in_channels=1):
            return nn.Linear(1, num_classes)

    assert get_model_builder("lenet") is original


def test_a_new_builder_is_registered_under_its_name(scratch_registry):
    @register_model()
    def tiny_linear(*, num_classes: int = 10, in_channels: int = 1):
        return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 4, num_classes))

    assert "tiny_linear" in list_models()
    model = create_model("tiny_linear", num_classes=2)
    assert model(torch.zeros(1, 1, 2, 2)).shape == (1, 2)
    with pytest.raises(ValueError, match="already registered"):
        register_model()(tiny_linear)


def test_builders_must_be_keyword_only(scratch_registry):
    with pytest.raises(TypeError, match="keyword-only"):
        @register_model("positional")
        def positional(num_classes=10, in_channels=1):
            return nn.Linear(1, 1)
    assert "positional" not in list_models()


# -- LeNet -----------------------------------------------------------------------------
def d2l_lenet():
    """d2l's LeNet (sec. 7.6), written out layer by layer: the oracle for cnnlib's classic LeNet."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, 10),
    )


def test_classic_lenet_is_d2l_lenet():
    ours, ref = create_model("lenet"), d2l_lenet()
    assert cnnlib.count_parameters(ours) == cnnlib.count_parameters(ref) == 61_706
    ours_sd, ref_sd = ours.state_dict(), ref.state_dict()
    assert [t.shape for t in ours_sd.values()] == [t.shape for t in ref_sd.values()]
    ref.load_state_dict(dict(zip(ref_sd, ours_sd.values())))
    x = torch.randn(5, 1, 28, 28)
    assert torch.equal(ours(x), ref(x))
    # Same layer types in the same order (cnnlib's in-place Sigmoid and its Flatten
    # subclass torch's).
    leaves = [m for m in ours.modules() if not list(m.children())]
    assert len(leaves) == len(ref)
    assert all(isinstance(m, type(r)) for m, r in zip(leaves, ref))


@pytest.mark.parametrize("channels_last", [False, True])
def test_classic_lenet_trains_exactly_like_d2l_lenet(channels_last):
    # In-place activations and the gradient-format-keeping Flatten change speed only: the
    # same weights get the same gradients, bit for bit, in either memory order.
    torch.manual_seed(0)
    ours, ref = create_model("lenet"), d2l_lenet()
    ref.load_state_dict(dict(zip(ref.state_dict(), ours.state_dict().values())))
    x, y = torch.randn(32, 1, 28, 28), torch.randint(0, 10, (32,))
    if channels_last:
        ours, ref = (m.to(memory_format=torch.channels_last) for m in (ours, ref))
        x = x.contiguous(memory_format=torch.channels_last)
    for model in (ours, ref):
        nn.functional.cross_entropy(model(x), y).backward()
    for p, q in zip(ours.parameters(), ref.parameters()):
        assert torch.equal(p.grad, q.grad)


# The in-place layers are the point of cnnlib's LeNets (see cnnlib.models.layers), and
# isinstance cannot see them: cnnlib's Sigmoid and Flatten subclass torch's, and an
# out-of-place nn.ReLU is still an nn.ReLU. So these check exact types and the flag.
@pytest.mark.parametrize("name, act_type, kwargs", [
    ("lenet", Sigmoid, {}),
    ("lenet_modern", nn.ReLU, {}),
    ("lenet_modern", nn.ReLU, {"batch_norm": False}),
])
def test_lenets_use_in_place_activations_and_cnnlibs_flatten(name, act_type, kwargs):
    model = create_model(name, **kwargs)
    acts = [m for m in model.modules() if isinstance(m, (nn.Sigmoid, nn.ReLU))]
    assert [type(m) for m in acts] == [act_type] * 4
    assert all(m.inplace is True for m in acts)
    flattens = [m for m in model.modules() if isinstance(m, nn.Flatten)]
    assert [type(m) for m in flattens] == [Flatten]
    # The in-place write really happens: the layer returns its input tensor.
    x = torch.randn(2, 3)
    assert acts[0](x).data_ptr() == x.data_ptr()


def test_modern_lenet_uses_relu_maxpool_and_batch_norm():
    model = create_model("lenet_modern")
    kinds = {type(m) for m in model.modules()}
    assert {nn.ReLU, nn.MaxPool2d, nn.BatchNorm2d, nn.BatchNorm1d} <= kinds
    assert not kinds & {nn.Sigmoid, nn.AvgPool2d}
    # A bias right before batch norm is cancelled by it, so it is left out.
    hidden = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))][:-1]
    assert all(m.bias is None for m in hidden)
    assert model.classifier[-1].bias is not None
    bn_params = 2 * (6 + 16 + 120 + 84)
    weights = 6 * 25 + 16 * 6 * 25 + 400 * 120 + 120 * 84 + 84 * 10
    assert cnnlib.count_parameters(model) == weights + bn_params + 10


def test_modern_lenet_without_batch_norm():
    model = create_model("lenet_modern", batch_norm=False)
    kinds = {type(m) for m in model.modules()}
    assert nn.BatchNorm2d not in kinds and nn.BatchNorm1d not in kinds
    assert {nn.ReLU, nn.MaxPool2d} <= kinds
    assert all(m.bias is not None for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    assert cnnlib.count_parameters(model) == 61_706  # same shapes as the classic one


def _fans(m):
    w = m.weight
    receptive = w[0, 0].numel() if w.ndim > 2 else 1
    return w.shape[1] * receptive, w.shape[0] * receptive


@pytest.mark.parametrize("name, kwargs, rule", [
    ("lenet", {}, "xavier"), ("lenet_modern", {}, "kaiming"),
    # The scheme is an argument, so one factor can change at a time.
    ("lenet", {"init": "kaiming"}, "kaiming"), ("lenet_modern", {"init": "xavier"}, "xavier"),
    ("lenet_modern", {"batch_norm": False, "init": "xavier"}, "xavier"),
])
def test_init_matches_the_cited_rule(name, kwargs, rule):
    # Uniform init: |w| <= bound, and with thousands of draws the largest is close to it.
    torch.manual_seed(0)
    model = create_model(name, **kwargs)
    assert model.init == rule
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in, fan_out = _fans(m)
            bound = math.sqrt(6 / (fan_in + fan_out)) if rule == "xavier" else math.sqrt(6 / fan_in)
            w = m.weight.detach().abs()
            assert float(w.max()) <= bound * (1 + 1e-6)
            if w.numel() >= 2000:
                assert float(w.max()) > 0.95 * bound
            if m.bias is not None:
                assert torch.count_nonzero(m.bias) == 0


# The smallest input side each model accepts with its default arguments. A new model must
# be added here: the tests below then check that it works there and refuses one pixel less.
SMALLEST_INPUT = {"lenet": 12, "lenet_modern": 12, "plain_cnn": 4}


def test_every_model_states_its_smallest_input():
    assert sorted(SMALLEST_INPUT) == MODELS


@pytest.mark.parametrize("name", MODELS)
def test_other_input_sizes(name):
    model = create_model(name, input_size=32, in_channels=3)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    side = SMALLEST_INPUT[name]
    small = create_model(name, input_size=side)
    assert small(torch.randn(2, 1, side, side)).shape == (2, 10)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("less", [1, 3, None])
def test_too_small_inputs_raise(name, less):
    size = 0 if less is None else SMALLEST_INPUT[name] - less
    with pytest.raises(ValueError, match=f"input_size={size} is too small"):
        create_model(name, input_size=size)


@pytest.mark.parametrize("kwargs", [dict(num_classes=0), dict(in_channels=0)])
def test_lenet_rejects_empty_layers(kwargs):
    with pytest.raises(ValueError, match="must be >= 1"):
        LeNet(**kwargs)


def test_lenet_swaps_layer_types():
    model = LeNet(act_layer=nn.Tanh, pool_layer=nn.MaxPool2d)
    kinds = [type(m) for m in model.modules()]
    assert kinds.count(nn.Tanh) == 4 and kinds.count(nn.MaxPool2d) == 2 and nn.Sigmoid not in kinds
    with pytest.raises(ValueError, match="1-D counterpart"):
        LeNet(norm_layer=nn.GroupNorm)


@pytest.mark.parametrize("batch_norm", [True, False])
def test_modern_lenet_in_place_relus_give_the_same_gradients(batch_norm):
    # Its ReLUs run in place after conv / linear / batch norm, whose backward passes do not
    # read their own outputs; autograd would raise if one did.
    torch.manual_seed(0)
    ours = create_model("lenet_modern", batch_norm=batch_norm)
    assert all(m.inplace for m in ours.modules() if isinstance(m, nn.ReLU))
    ref = create_model("lenet_modern", batch_norm=batch_norm)
    ref.load_state_dict(ours.state_dict())
    for name, m in list(ref.named_modules()):
        if isinstance(m, nn.ReLU):
            parent, _, child = name.rpartition(".")
            setattr(ref.get_submodule(parent), child, nn.ReLU())
    assert not any(m.inplace for m in ref.modules() if isinstance(m, nn.ReLU))
    x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    for model in (ours, ref):
        nn.functional.cross_entropy(model(x), y).backward()
    for p, q in zip(ours.parameters(), ref.parameters()):
        assert torch.equal(p.grad, q.grad)


def test_init_is_stated_not_guessed_from_the_activation():
    # Before, only an nn.ReLU instance gave Kaiming: GELU or LeakyReLU silently got Xavier.
    for act in (nn.GELU, nn.LeakyReLU, nn.SiLU, nn.ReLU):
        assert LeNet(act_layer=act).init == "xavier"  # the class default, whatever the activation
        assert LeNet(act_layer=act, init="kaiming").init == "kaiming"
    with pytest.raises(ValueError, match=r"init must be one of \('xavier', 'kaiming'\), got 'he'"):
        create_model("lenet", init="he")


# --- plain_cnn: one network whose parts are arguments -----------------------------------

@pytest.mark.parametrize("downsample", ["max", "avg", "stride"])
@pytest.mark.parametrize("head", ["gap", "dense"])
def test_plain_cnn_downsampling_changes_no_parameter(downsample, head):
    model = create_model("plain_cnn", downsample=downsample, head=head)
    ref = create_model("plain_cnn", downsample="max", head=head)
    assert [p.shape for p in model.parameters()] == [p.shape for p in ref.parameters()]
    kinds = [type(m) for m in model.features]
    strides = [m.stride[0] for m in model.features if isinstance(m, nn.Conv2d)]
    pools = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}
    if downsample == "stride":
        assert strides == [1, 2, 2] and not {nn.MaxPool2d, nn.AvgPool2d} & set(kinds)
    else:
        assert strides == [1, 1, 1] and kinds.count(pools[downsample]) == 2
    assert model.final_size == 7
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    two = create_model("plain_cnn", downsample=downsample, head=head, convs_per_stage=2)
    strides = [m.stride[0] for m in two.features if isinstance(m, nn.Conv2d)]
    assert strides == ([1, 1, 2, 1, 2, 1] if downsample == "stride" else [1] * 6)


def test_plain_cnn_counts_and_depth():
    # 3x3 convs 1->16->32->64 with biases, then a linear 64->10 after global average pooling.
    gap = create_model("plain_cnn")
    assert cnnlib.count_parameters(gap) == (9 * 16 + 16) + (9 * 16 * 32 + 32) + (9 * 32 * 64 + 64) + (64 * 10 + 10)
    dense = create_model("plain_cnn", head="dense", hidden=100)
    convs = cnnlib.count_parameters(dense.features)
    assert cnnlib.count_parameters(dense) - convs == (64 * 7 * 7 * 100 + 100) + (100 * 10 + 10)
    deep = create_model("plain_cnn", widths=[8, 8], convs_per_stage=5, batch_norm=True)
    convs = [m for m in deep.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 10 and all(m.bias is None for m in convs)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in deep.modules()) == 10


@pytest.mark.parametrize("activation, kind", [
    ("relu", nn.ReLU), ("gelu", nn.GELU), ("silu", nn.SiLU), ("tanh", nn.Tanh),
    ("hardswish", nn.Hardswish), ("gelu_tanh", nn.GELU)])
def test_plain_cnn_activation_by_name(activation, kind):
    model = create_model("plain_cnn", activation=activation, head="dense")
    acts = [m for m in model.modules() if isinstance(m, kind)]
    assert len(acts) == 4  # after each of 3 convs and the dense hidden layer
    if activation == "gelu_tanh":
        assert all(m.approximate == "tanh" for m in acts)


@pytest.mark.parametrize("init", ["kaiming", "xavier"])
def test_plain_cnn_init_follows_the_stated_scheme(init):
    torch.manual_seed(0)
    model = create_model("plain_cnn", widths=[64, 64], init=init)
    conv = model.features[3]  # 64 -> 64, 3x3: 36,864 weights
    fan_in, fan_out = _fans(conv)
    want = math.sqrt(2 / fan_in) if init == "kaiming" else math.sqrt(2 / (fan_in + fan_out))
    assert abs(float(conv.weight.detach().std()) / want - 1) < 0.02
    assert torch.count_nonzero(conv.bias) == 0


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(activation="swish"), ValueError, "activation must be one of"),
    (dict(activation=nn.ReLU), ValueError, "activation must be one of"),
    (dict(downsample="pool"), ValueError, "downsample must be one of"),
    (dict(head="mlp"), ValueError, "head must be one of"),
    (dict(init="he"), ValueError, "init must be one of"),
    (dict(widths=16), TypeError, "widths must be a sequence"),
    (dict(widths=[]), TypeError, "widths must be a non-empty sequence"),
    (dict(widths=[16, 0]), ValueError, "each of widths must be >= 1, got 0"),
    (dict(widths=[16.0]), TypeError, "each of widths must be an int"),
    (dict(convs_per_stage=0), ValueError, "convs_per_stage must be >= 1, got 0"),
    (dict(batch_norm="yes"), TypeError, "batch_norm must be True or False"),
])
def test_plain_cnn_bad_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        create_model("plain_cnn", **kwargs)
