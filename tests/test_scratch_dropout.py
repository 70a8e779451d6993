"""cnnlib.scratch.dropout and ScratchDropout against F.dropout and nn.Dropout, in both modes.

The mask is drawn the way F.dropout draws it on the CPU, so with the same random state the two
must agree bit for bit; the backward pass is checked by gradcheck for a fixed mask and against
torch's gradient for a drawn one.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlib.scratch import DropoutFunction, ScratchDropout, dropout

F64 = torch.float64


@pytest.mark.parametrize("p", [0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("shape", [(7,), (16, 33), (4, 3, 9, 10)])
def test_training_mode_matches_torch_bitwise(p, shape):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(123)
    ours = dropout(x, p, training=True)
    torch.manual_seed(123)
    theirs = F.dropout(x, p, training=True)
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_gradient_matches_torch_for_the_same_mask(p):
    x = torch.randn(64, 20, dtype=F64, generator=torch.Generator().manual_seed(2))
    g = torch.randn(64, 20, dtype=F64, generator=torch.Generator().manual_seed(3))
    grads = []
    for fn in (dropout, F.dropout):
        xi = x.clone().requires_grad_()
        torch.manual_seed(7)
        (fn(xi, p, training=True) * g).sum().backward()
        grads.append(xi.grad)
    assert torch.equal(grads[0], grads[1])
    dropped = grads[0] == 0
    assert 0 < dropped.float().mean() < 1  # the mask really drops some and keeps some


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_gradcheck_for_a_fixed_mask(p):
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(5, 6, dtype=F64, generator=gen, requires_grad=True)
    mask = torch.empty(5, 6, dtype=F64).bernoulli_(1 - p, generator=gen)
    assert torch.autograd.gradcheck(lambda t: DropoutFunction.apply(t, mask, p), (x,))


def test_evaluation_mode_is_the_identity():
    x = torch.randn(8, 5)
    assert dropout(x, 0.5, training=False) is x
    layer = ScratchDropout(0.5).eval()
    assert layer(x) is x


def test_zeroing_rate_and_scale():
    # Each element is kept with probability 1 - p and then multiplied by 1 / (1 - p).
    p, n = 0.3, 200_000
    x = torch.ones(n)
    torch.manual_seed(0)
    y = dropout(x, p)
    kept = y != 0
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / (1 - p)))
    rate = 1 - kept.float().mean().item()
    assert abs(rate - p) < 5 * math.sqrt(p * (1 - p) / n)  # binomial standard error
    assert abs(y.mean().item() - 1) < 0.01  # inverted dropout keeps the expectation


def test_module_follows_train_and_eval_like_nn_dropout():
    x = torch.randn(32, 10)
    ours, theirs = ScratchDropout(0.4), nn.Dropout(0.4)
    for mode in ("train", "eval"):
        getattr(ours, mode)()
        getattr(theirs, mode)()
        torch.manual_seed(5)
        a = ours(x)
        torch.manual_seed(5)
        b = theirs(x)
        assert torch.equal(a, b), mode
    assert repr(ours) == "ScratchDropout(p=0.4)"


def test_p_one_zeroes_everything_and_passes_no_gradient():
    x = torch.randn(4, 4, requires_grad=True)
    y = dropout(x, 1.0)
    assert torch.equal(y, torch.zeros(4, 4))
    y.sum().backward()
    assert torch.equal(x.grad, torch.zeros(4, 4))


@pytest.mark.parametrize("p", [-0.1, 1.5, "0.5", True, None])
def test_bad_probability_is_refused(p):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        dropout(torch.ones(3), p)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ScratchDropout(p)


def test_training_flag_must_be_a_bool():
    with pytest.raises(TypeError, match="True or False"):
        dropout(torch.ones(3), 0.5, training="no")
    with pytest.raises(TypeError, match="tensor"):
        dropout([1.0, 2.0], 0.5)
