"""cnnlib.models.layers: drop-in layers that must compute exactly what torch.nn's compute."""
import pytest
import torch
from torch import nn

from cnnlib.models import Flatten, Sigmoid

CL = torch.channels_last


def test_sigmoid_matches_torch_out_of_place_and_in_place():
    x = torch.randn(4, 3, 5, 5)
    expected = torch.sigmoid(x)
    out = Sigmoid()(x)
    assert torch.equal(out, expected) and out.data_ptr() != x.data_ptr()
    y = x.clone()
    out = Sigmoid(inplace=True)(y)
    assert torch.equal(out, expected) and out.data_ptr() == y.data_ptr()
    assert torch.equal(y, expected)  # the input itself now holds the result


def test_in_place_sigmoid_gradient_is_sigmoids():
    x = torch.randn(6, 7, requires_grad=True)
    lin = nn.Linear(7, 3)
    Sigmoid(inplace=True)(lin(x)).sum().backward()
    got = [t.grad.clone() for t in (x, lin.weight, lin.bias)]
    for t in (x, lin.weight, lin.bias):
        t.grad = None
    torch.sigmoid(lin(x)).sum().backward()
    assert all(torch.equal(g, t.grad) for g, t in zip(got, (x, lin.weight, lin.bias)))


def test_in_place_sigmoid_where_it_is_unsafe_raises_instead_of_computing_wrong_gradients():
    # exp's backward needs its own output, which an in-place sigmoid would overwrite.
    x = torch.randn(5, requires_grad=True)
    out = Sigmoid(inplace=True)(torch.exp(x))
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_sigmoid_repr_and_bad_argument():
    assert repr(Sigmoid()) == "Sigmoid()"
    assert repr(Sigmoid(inplace=True)) == "Sigmoid(inplace=True)"
    with pytest.raises(TypeError, match="inplace must be True or False"):
        Sigmoid(inplace="yes")


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, CL])
def test_flatten_values_and_gradient_format(memory_format):
    x = torch.randn(3, 4, 5, 6).contiguous(memory_format=memory_format).requires_grad_()
    out = Flatten()(x)
    assert torch.equal(out, nn.Flatten()(x)) and out.shape == (3, 120)
    g = torch.randn(3, 120)
    out.backward(g)
    assert torch.equal(x.grad, g.reshape(3, 4, 5, 6))
    # The gradient comes back in the input's memory order (nn.Flatten's would be NCHW).
    assert x.grad.is_contiguous(memory_format=memory_format)


def test_flatten_other_dims_and_inputs_behave_like_nn_flatten():
    x = torch.randn(2, 3, 4, 5).contiguous(memory_format=CL)
    for args in [(0, -1), (2, 3), (1, 2)]:
        assert torch.equal(Flatten(*args)(x), nn.Flatten(*args)(x))
    v = torch.randn(2, 3, 4)
    assert torch.equal(Flatten()(v), v.reshape(2, 12))
    with torch.no_grad():
        assert torch.equal(Flatten()(x), x.flatten(1))
