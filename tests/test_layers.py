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


class _RecordGrad(torch.autograd.Function):
    """Identity (a copy in the same memory order) that records the gradient handed to it.

    A leaf's ``.grad`` cannot show the memory order a layer's backward produced: autograd
    accumulates it into a tensor laid out like the leaf. A non-leaf's producer, such as the
    pooling layer before ``Flatten`` in LeNet, receives the gradient exactly as made.
    """

    @staticmethod
    def forward(ctx, x, seen):
        ctx.seen = seen
        return x.clone(memory_format=torch.preserve_format)

    @staticmethod
    def backward(ctx, grad):
        ctx.seen.append(grad)
        return grad, None


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, CL])
def test_flatten_values_and_gradient_format(memory_format):
    x = torch.randn(3, 4, 5, 6).contiguous(memory_format=memory_format).requires_grad_()
    seen = []
    before = _RecordGrad.apply(x, seen)
    assert before.is_contiguous(memory_format=memory_format) and not before.is_leaf
    out = Flatten()(before)
    assert torch.equal(out, nn.Flatten()(x)) and out.shape == (3, 120)
    g = torch.randn(3, 120)
    out.backward(g)
    assert torch.equal(x.grad, g.reshape(3, 4, 5, 6))
    # The layer before Flatten gets its gradient in its output's memory order; nn.Flatten
    # hands back a channels-last input's gradient in NCHW order.
    (grad,) = seen
    assert torch.equal(grad, g.reshape(3, 4, 5, 6))
    assert grad.is_contiguous(memory_format=memory_format)
    if memory_format is CL:
        assert not grad.is_contiguous()


def test_nn_flatten_hands_back_nchw_gradients_which_the_test_above_detects():
    # The premise of Flatten (and of the test above): with torch.nn.Flatten the recorded
    # gradient of a channels-last input is NCHW. If a PyTorch release changes that, Flatten
    # is no longer needed.
    x = torch.randn(3, 4, 5, 6).contiguous(memory_format=CL).requires_grad_()
    seen = []
    nn.Flatten()(_RecordGrad.apply(x, seen)).backward(torch.randn(3, 120))
    assert seen[0].is_contiguous() and not seen[0].is_contiguous(memory_format=CL)
    assert x.grad.is_contiguous(memory_format=CL)  # the leaf's .grad is re-laid out: no use


def test_lenet_pooling_layer_gets_a_channels_last_gradient_from_flatten():
    # In the model, the gradient reaching pool2's output (a non-leaf) must be channels-last.
    from cnnlib.models import create_model

    model = create_model("lenet").to(memory_format=CL)
    seen = []

    def record(module, inputs, out):
        out.register_hook(seen.append)  # returns None: the output itself is left alone

    model.features[-1].register_forward_hook(record)
    x = torch.randn(4, 1, 28, 28).contiguous(memory_format=CL)
    model(x).sum().backward()
    (grad,) = seen
    assert grad.shape == (4, 16, 5, 5)
    assert grad.is_contiguous(memory_format=CL) and not grad.is_contiguous()


def test_flatten_other_dims_and_inputs_behave_like_nn_flatten():
    x = torch.randn(2, 3, 4, 5).contiguous(memory_format=CL)
    for args in [(0, -1), (2, 3), (1, 2)]:
        assert torch.equal(Flatten(*args)(x), nn.Flatten(*args)(x))
    v = torch.randn(2, 3, 4)
    assert torch.equal(Flatten()(v), v.reshape(2, 12))
    with torch.no_grad():
        assert torch.equal(Flatten()(x), x.flatten(1))
