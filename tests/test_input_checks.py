"""Bad arguments get an error that names the argument, the value and what is expected.

The models, their registry, cnnlib.inspect and cnnlib.notebook (the hooks, metrics and plots
are checked next to their other tests). Each case here used to give a silent wrong answer or
an error from deep inside torch or Python.
"""
import inspect
import re

import numpy as np
import pytest
import torch
from torch import nn

from cnnlib import count_parameters, create_model, list_models, summarize
from cnnlib.models import LeNet, _registry, get_model_builder, register_model
from cnnlib.notebook import glue

MODELS = list_models()
NAN = float("nan")


def _accepts(name, arg):
    return arg in inspect.signature(get_model_builder(name)).parameters


# -- builders and LeNet ----------------------------------------------------------------
# 2.5 and 10.0 failed inside torch ("empty(): argument 'size'..."), True built a one-class
# or one-channel net, "10" failed comparing str and int.
@pytest.mark.parametrize("value", ["10", 2.5, 10.0, True, None, NAN])
@pytest.mark.parametrize("arg", ["num_classes", "in_channels"])
@pytest.mark.parametrize("name", MODELS)
def test_builders_want_int_sizes(name, arg, value):
    # the message may state the bound too ("an int >= 1")
    pattern = f"{arg} must be an int( >= 1)?, got {re.escape(repr(value))}"
    with pytest.raises(TypeError, match=pattern):
        create_model(name, **{arg: value})


@pytest.mark.parametrize("value", [28.0, 28.5, "28", True, None, (28, 28)])
@pytest.mark.parametrize("name", [n for n in MODELS if _accepts(n, "input_size")])
def test_builders_want_an_int_input_size(name, value):
    with pytest.raises(TypeError, match=re.escape(f"input_size must be an int, got {value!r}")):
        create_model(name, input_size=value)


@pytest.mark.parametrize("kwargs", [dict(num_classes=2.5), dict(in_channels=1.5), dict(input_size=28.0)])
def test_lenet_wants_int_sizes(kwargs):
    (arg, value), = kwargs.items()
    with pytest.raises(TypeError, match=re.escape(f"{arg} must be an int, got {value!r} (float)")):
        LeNet(**kwargs)


@pytest.mark.parametrize("kwargs, message", [(dict(num_classes=-1), "num_classes must be >= 1, got -1"),
                                             (dict(in_channels=0), "in_channels must be >= 1, got 0")])
def test_lenet_names_the_size_that_is_too_small(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LeNet(**kwargs)


def test_lenet_still_takes_numpy_ints():
    model = create_model("lenet", num_classes=np.int64(3), in_channels=np.int64(1), input_size=np.int64(28))
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 3)
    assert count_parameters(model) == count_parameters(create_model("lenet", num_classes=3))


@pytest.mark.parametrize("batch_norm", ["no", "False", 0, 1, None])
def test_lenet_modern_wants_a_bool_batch_norm(batch_norm):
    # "no" and "False" are truthy: they added batch norm, silently.
    with pytest.raises(TypeError, match=re.escape(f"batch_norm must be True or False, got {batch_norm!r}")):
        create_model("lenet_modern", batch_norm=batch_norm)


@pytest.mark.parametrize("kwargs", [dict(act_layer=nn.ReLU()), dict(act_layer=None),
                                    dict(pool_layer=nn.MaxPool2d(2)), dict(pool_layer="max"),
                                    dict(norm_layer=nn.BatchNorm2d(6))])
def test_lenet_wants_layer_types_not_layers(kwargs):
    # nn.ReLU() failed with "ReLU.forward() missing 1 required positional argument".
    (arg, value), = kwargs.items()
    with pytest.raises(TypeError, match=re.escape(f"{arg} must build a module (a class or factory such as "
                                                  f"nn.ReLU), got {value!r}")):
        LeNet(**kwargs)


# -- the registry ----------------------------------------------------------------------
@pytest.fixture
def scratch_registry(monkeypatch):
    """Register into a copy, so that test builders never leak into other tests."""
    monkeypatch.setattr(_registry, "_BUILDERS", dict(_registry._BUILDERS))


@pytest.mark.parametrize("name", [None, 3, ["lenet"]])
def test_model_names_must_be_strings(name):
    # ["lenet"] was "unhashable type: 'list'"
    with pytest.raises(TypeError, match=re.escape(f"the model name must be a str, got {name!r}")):
        create_model(name)
    with pytest.raises(TypeError, match="registered models: lenet"):
        get_model_builder(name)


def test_register_model_needs_its_parentheses(scratch_registry):
    # Without them the builder was replaced by the decorator's inner function, and nothing
    # was registered.
    with pytest.raises(TypeError, match=r"write @register_model\(\) or @register_model\('name'\)"):
        @register_model
        def forgotten(*, num_classes=10, in_channels=1):
            return nn.Linear(1, num_classes)
    assert "forgotten" not in list_models()


def test_register_model_wants_a_str_name_and_a_function(scratch_registry):
    # A name of 3 was registered, and list_models() then failed to sort str and int.
    with pytest.raises(TypeError, match=re.escape("name must be a str or None (the function's name), got 3")):
        register_model(3)
    with pytest.raises(ValueError, match="name must not be empty"):
        register_model("")
    with pytest.raises(TypeError, match=re.escape("register_model() decorates a builder function, got 3")):
        register_model("three")(3)
    assert list_models() == MODELS


def test_create_model_wants_a_builder_that_returns_a_module(scratch_registry):
    @register_model()
    def not_a_model(*, num_classes: int = 10, in_channels: int = 1):
        return num_classes

    # was "'int' object has no attribute 'model_args'"
    with pytest.raises(TypeError, match="builder of model 'not_a_model' returned int, not an nn.Module"):
        create_model("not_a_model")


# -- count_parameters and summarize ----------------------------------------------------
@pytest.mark.parametrize("model", [None, [nn.Parameter(torch.zeros(3))], nn.Linear(2, 2).state_dict(),
                                   nn.Linear])
def test_count_parameters_wants_a_module(model):
    # was "'list' object has no attribute 'parameters'" and the like
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got"):
        count_parameters(model)


@pytest.mark.parametrize("trainable_only", ["no", None, 1])
def test_count_parameters_wants_a_bool_trainable_only(trainable_only):
    message = f"trainable_only must be True or False, got {trainable_only!r}"
    with pytest.raises(TypeError, match=re.escape(message)):
        count_parameters(nn.Linear(2, 2), trainable_only=trainable_only)


def test_count_parameters_of_a_lazy_module_says_what_to_do():
    model = nn.Sequential(nn.Flatten(), nn.LazyLinear(3))
    with pytest.raises(ValueError, match=r"lazy parameters .* run one forward pass"):
        count_parameters(model)
    assert summarize(model, (1, 4, 4)).total_params == count_parameters(model) == 4 * 4 * 3 + 3


@pytest.mark.parametrize("shape", [None, 28, "1,28,28"])
def test_summarize_wants_a_shape_tuple(shape):
    # None and 28 were "'int' object is not iterable"
    with pytest.raises(TypeError, match=re.escape(f"input_shape must be a tuple of ints per example, "
                                                  f"e.g. (1, 28, 28); got {shape!r}")):
        summarize(create_model("lenet"), shape)


def test_summarize_rejects_bools_in_the_shape():
    # (True, 28, 28) was taken as one channel, silently.
    with pytest.raises(ValueError, match=re.escape("input_shape must be positive ints per example")):
        summarize(create_model("lenet"), (True, 28, 28))


@pytest.mark.parametrize("device, error", [("bogus", ValueError), ("cuda:-1", ValueError), (3.5, TypeError)])
def test_summarize_names_a_bad_device(device, error):
    # "bogus" was reported as "the model cannot take inputs of shape (1, 28, 28)".
    with pytest.raises(error, match=re.escape(f"device must be a torch.device or a string such as 'cpu' "
                                              f"or 'cuda', got {device!r}")):
        summarize(create_model("lenet"), (1, 28, 28), device=device)


# -- glue ------------------------------------------------------------------------------
# myst-nb stored any of these without a word; the page's {glue:text} role then could not
# find the value, and on Colab (no myst-nb) the name was never looked at.
@pytest.mark.parametrize("name", [None, 3, b"acc"])
def test_glue_wants_a_str_name(name):
    message = f"name must be a str such as 'classic_params', got {name!r}"
    with pytest.raises(TypeError, match=re.escape(message)):
        glue(name, 0.9, display=False)


@pytest.mark.parametrize("name", ["", "acc:.2f", "doc::acc"])
def test_glue_name_must_be_pastable(name):
    with pytest.raises(ValueError, match=re.escape("name must be a non-empty str without ':'")):
        glue(name, 0.9, display=False)


@pytest.mark.parametrize("display", ["no", None, 0])
def test_glue_wants_a_bool_display(display):
    with pytest.raises(TypeError, match=re.escape(f"display must be True or False, got {display!r}")):
        glue("acc", 0.9, display=display)
