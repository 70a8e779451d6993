"""cnnlib.scratch's batch normalization against torch.nn.BatchNorm1d/2d, forward and backward.

Oracles: torch's modules step for step in both modes (outputs, gradients, running estimates,
num_batches_tracked), the momentum convention and the unbiased running variance written out
by hand, ``torch.autograd.gradcheck`` in float64 for the input, the scale and the shift, and
torch's own refusals (one value per channel in training).
"""
import random

import pytest
import torch
from torch import nn

from cnnlib.scratch import BatchNormFunction, ScratchBatchNorm1d, ScratchBatchNorm2d, batch_norm

F64 = torch.float64
PAIRS = {"1d": (ScratchBatchNorm1d, nn.BatchNorm1d), "2d": (ScratchBatchNorm2d, nn.BatchNorm2d)}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: a second thread only waits
    yield
    torch.set_num_threads(threads)


def _random_shape(kind, rng):
    n, c = rng.randint(2, 6), rng.randint(1, 5)
    if kind == "2d":
        return (n, c, rng.randint(1, 5), rng.randint(1, 5))
    return (n, c) if rng.random() < 0.5 else (n, c, rng.randint(1, 6))


def _twins(kind, c, seed, **kwargs):
    """A scratch layer and its torch twin with the same random scale and shift."""
    scratch_cls, torch_cls = PAIRS[kind]
    ours, theirs = scratch_cls(c, **kwargs).to(F64), torch_cls(c, **kwargs).to(F64)
    if ours.weight is not None:
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            ours.weight.copy_(torch.randn(c, generator=g, dtype=F64))
            ours.bias.copy_(torch.randn(c, generator=g, dtype=F64))
            theirs.weight.copy_(ours.weight)
            theirs.bias.copy_(ours.bias)
    return ours, theirs


def _step(ours, theirs, x, upstream):
    """One forward and backward through both; returns the two (output, input gradient)."""
    results = []
    for layer in (ours, theirs):
        xi = x.clone().requires_grad_(True)
        out = layer(xi)
        out.backward(upstream)
        results.append((out.detach(), xi.grad))
    return results


def _assert_same_state(ours, theirs):
    for name, value in theirs.state_dict().items():
        mine = ours.state_dict()[name]
        if value.dtype == torch.long:
            assert torch.equal(mine, value), name
        else:
            torch.testing.assert_close(mine, value, rtol=1e-12, atol=1e-12, msg=name)


@pytest.mark.parametrize("kind", ["1d", "2d"])
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("kwargs", [{}, {"momentum": 0.3}, {"momentum": None},
                                    {"affine": False}, {"track_running_stats": False}],
                         ids=["default", "momentum0.3", "cumulative", "no_affine", "untracked"])
def test_follows_torch_over_several_steps_in_both_modes(kind, seed, kwargs):
    rng = random.Random(seed)
    shape = _random_shape(kind, rng)
    ours, theirs = _twins(kind, shape[1], seed, **kwargs)
    g = torch.Generator().manual_seed(100 + seed)
    for step in range(4):
        x = torch.randn(shape, generator=g, dtype=F64) * rng.uniform(0.5, 3) + rng.uniform(-2, 2)
        upstream = torch.randn(shape, generator=g, dtype=F64)
        (out, gx), (out_t, gx_t) = _step(ours, theirs, x, upstream)
        torch.testing.assert_close(out, out_t, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(gx, gx_t, rtol=1e-10, atol=1e-10)
        if ours.weight is not None:
            torch.testing.assert_close(ours.weight.grad, theirs.weight.grad, rtol=1e-10, atol=1e-10)
            torch.testing.assert_close(ours.bias.grad, theirs.bias.grad, rtol=1e-10, atol=1e-10)
            ours.zero_grad()
            theirs.zero_grad()
        _assert_same_state(ours, theirs)
        if step == 2:  # the last step in evaluation mode, where the running estimates count
            ours.eval()
            theirs.eval()
    assert not ours.training
    if ours.track_running_stats:
        assert ours.num_batches_tracked.item() == 3  # the evaluation step counts nothing


def test_the_momentum_convention_and_the_unbiased_running_variance():
    bn = ScratchBatchNorm2d(3, momentum=0.25).to(F64)
    x = torch.randn(4, 3, 2, 5, generator=torch.Generator().manual_seed(0), dtype=F64) * 2 + 1
    values = x.transpose(0, 1).reshape(3, -1)  # (C, M): M = 4 * 2 * 5 values per channel
    before_mean, before_var = bn.running_mean.clone(), bn.running_var.clone()
    bn(x)
    # running = (1 - momentum) * running + momentum * batch: a small step towards the batch
    expected_mean = 0.75 * before_mean + 0.25 * values.mean(dim=1)
    expected_var = 0.75 * before_var + 0.25 * values.var(dim=1, unbiased=True)
    torch.testing.assert_close(bn.running_mean, expected_mean, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(bn.running_var, expected_var, rtol=1e-14, atol=1e-14)
    biased = 0.75 * before_var + 0.25 * values.var(dim=1, unbiased=False)
    assert (bn.running_var - biased).abs().min() > 1e-3  # not the biased variance
    # momentum=None: the plain average of all batches so far
    cumulative = ScratchBatchNorm1d(3, momentum=None).to(F64)
    batches = [torch.randn(5, 3, generator=torch.Generator().manual_seed(s), dtype=F64)
               for s in range(3)]
    for b in batches:
        cumulative(b)
    torch.testing.assert_close(cumulative.running_mean,
                               torch.stack([b.mean(dim=0) for b in batches]).mean(dim=0))


def test_the_batch_is_normalized_with_its_biased_variance():
    x = torch.randn(6, 2, 3, 3, generator=torch.Generator().manual_seed(1), dtype=F64) * 5 + 3
    out = ScratchBatchNorm2d(2, eps=0.0).to(F64)(x)
    per_channel = out.transpose(0, 1).reshape(2, -1)
    torch.testing.assert_close(per_channel.mean(dim=1), torch.zeros(2, dtype=F64), atol=1e-12, rtol=0)
    torch.testing.assert_close(per_channel.var(dim=1, unbiased=False), torch.ones(2, dtype=F64))


def test_eval_mode_uses_the_running_estimates():
    bn = ScratchBatchNorm2d(2, eps=1e-5).to(F64)
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([1.0, -2.0]))
        bn.running_var.copy_(torch.tensor([4.0, 0.25]))
        bn.weight.copy_(torch.tensor([2.0, 3.0]))
        bn.bias.copy_(torch.tensor([0.5, -1.0]))
    bn.eval()
    x = torch.randn(3, 2, 2, 2, generator=torch.Generator().manual_seed(2), dtype=F64)
    view = (1, 2, 1, 1)
    expected = ((x - bn.running_mean.view(view)) / torch.sqrt(bn.running_var.view(view) + 1e-5)
                * bn.weight.view(view) + bn.bias.view(view))
    torch.testing.assert_close(bn(x), expected, rtol=1e-14, atol=1e-14)
    # each example's output is its own: it does not depend on the rest of the batch
    torch.testing.assert_close(bn(x[:1]), expected[:1], rtol=1e-14, atol=1e-14)
    assert bn.num_batches_tracked.item() == 0
    assert torch.equal(bn.running_mean, torch.tensor([1.0, -2.0], dtype=F64))  # not updated


def test_state_dicts_interchange_with_torch():
    ours, theirs = _twins("2d", 4, 0)
    theirs(torch.randn(3, 4, 2, 2, dtype=F64))
    ours.load_state_dict(theirs.state_dict())
    _assert_same_state(ours, theirs)
    assert set(ours.state_dict()) == set(theirs.state_dict())


@pytest.mark.parametrize("shape", [(5, 3), (4, 2, 3), (3, 2, 3, 2)])
def test_gradcheck_input_weight_bias(shape):
    g = torch.Generator().manual_seed(len(shape))
    x = torch.randn(shape, generator=g, dtype=F64, requires_grad=True)
    w = torch.randn(shape[1], generator=g, dtype=F64, requires_grad=True)
    b = torch.randn(shape[1], generator=g, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, w, b: batch_norm(x, None, None, w, b, training=True), (x, w, b))
    assert torch.autograd.gradcheck(lambda x: batch_norm(x, None, None, training=True), (x,))
    # and the hand-written backward, not autograd's, is the one that ran
    out = batch_norm(x, None, None, w, b, training=True)
    assert "BatchNormFunction" in type(out.grad_fn).__name__


def test_backward_is_the_compact_formula_against_torch_autograd():
    x = torch.randn(8, 3, 2, 2, generator=torch.Generator().manual_seed(3), dtype=F64)
    w = torch.rand(3, dtype=F64) + 0.5
    upstream = torch.randn_like(x)
    grads = []
    for fn in (lambda x, w: BatchNormFunction.apply(x, w, torch.zeros(3, dtype=F64), 1e-5)[0],
               lambda x, w: nn.functional.batch_norm(x, None, None, w, None, True, 0.1, 1e-5)):
        xi, wi = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
        fn(xi, wi).backward(upstream)
        grads.append((xi.grad, wi.grad))
    torch.testing.assert_close(grads[0][0], grads[1][0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grads[0][1], grads[1][1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layer, x, match", [
    (ScratchBatchNorm2d(3), torch.zeros(2, 3, 4), "4-D input"),
    (ScratchBatchNorm2d(3), torch.zeros(2, 3, 4, 4, 1), "4-D input"),
    (ScratchBatchNorm1d(3), torch.zeros(2, 3, 4, 4), r"\(N, C\) or \(N, C, L\)"),
    (ScratchBatchNorm1d(3), torch.zeros(3), r"\(N, C\) or \(N, C, L\)"),
    (ScratchBatchNorm2d(3), torch.zeros(2, 4, 5, 5), "expects 3 channels.*got 4"),
    (ScratchBatchNorm1d(8), torch.zeros(2, 6), "expects 8 channels.*got 6"),
    (ScratchBatchNorm1d(3), torch.zeros(1, 3), "more than 1 value per channel"),
    (ScratchBatchNorm2d(3), torch.zeros(1, 3, 1, 1), "more than 1 value per channel"),
    (ScratchBatchNorm2d(3, track_running_stats=False), torch.zeros(1, 3, 1, 1),
     "more than 1 value per channel"),
])
def test_bad_inputs_are_refused(layer, x, match):
    with pytest.raises(ValueError, match=match):
        layer(x)
    if layer.track_running_stats:
        assert layer.num_batches_tracked.item() == 0  # a refused batch is not counted


def test_torch_refuses_the_same_single_value_batches():
    for scratch_cls, torch_cls in PAIRS.values():
        shape = (1, 3) if torch_cls is nn.BatchNorm1d else (1, 3, 1, 1)
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            torch_cls(3)(torch.zeros(shape))
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            scratch_cls(3)(torch.zeros(shape))
        # in evaluation one example is fine: the running estimates normalize it
        assert scratch_cls(3).eval()(torch.ones(shape)).shape == shape
    # one example with several positions has several values per channel: allowed
    assert ScratchBatchNorm2d(3)(torch.randn(1, 3, 2, 2)).shape == (1, 3, 2, 2)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"training": "yes"}, TypeError, "training must be True or False"),
    ({"momentum": 1.5, "training": True}, ValueError, "momentum"),
    ({"eps": -1e-5}, ValueError, "eps"),
    ({"weight": torch.ones(4), "bias": torch.zeros(4)}, ValueError, r"weight must have shape \(3,\)"),
    ({"weight": torch.ones(3)}, ValueError, "both weight and bias"),
])
def test_the_functional_checks_its_arguments(kwargs, error, match):
    args = {"running_mean": torch.zeros(3), "running_var": torch.ones(3), **kwargs}
    with pytest.raises(error, match=match):
        batch_norm(torch.zeros(2, 3), **args)


def test_evaluation_needs_running_estimates_and_the_module_checks_its_arguments():
    with pytest.raises(ValueError, match="running estimates"):
        batch_norm(torch.zeros(2, 3), None, None, training=False)
    with pytest.raises(ValueError, match="at least 2 axes"):
        batch_norm(torch.zeros(3), None, None, training=True)
    with pytest.raises(ValueError, match="momentum"):
        ScratchBatchNorm2d(3, momentum=-0.1)
    with pytest.raises(TypeError, match="affine"):
        ScratchBatchNorm2d(3, affine="no")
    with pytest.raises(TypeError, match="num_features"):
        ScratchBatchNorm2d(3.0)


def test_tracking_turned_off_after_construction_behaves_as_in_torch():
    # torch then leaves the running estimates alone in training but still uses them in eval.
    ours, theirs = _twins("2d", 3, 4)
    g = torch.Generator().manual_seed(5)
    first = torch.randn(4, 3, 2, 2, generator=g, dtype=F64) * 2 + 1
    ours(first)
    theirs(first)
    ours.track_running_stats = theirs.track_running_stats = False
    for mode in ("train", "eval"):
        getattr(ours, mode)()
        getattr(theirs, mode)()
        x = torch.randn(4, 3, 2, 2, generator=g, dtype=F64) * 3 - 1
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-12, atol=1e-12)
        _assert_same_state(ours, theirs)
    assert ours.num_batches_tracked.item() == 1


def test_a_second_derivative_is_refused_not_silently_wrong():
    # The backward pass uses x_hat saved without its graph; differentiating it again would
    # miss the terms through x_hat, so it must raise (torch's batch norm allows it).
    g = torch.Generator().manual_seed(6)
    x = torch.randn(5, 3, generator=g, dtype=F64, requires_grad=True)
    w = torch.randn(3, generator=g, dtype=F64, requires_grad=True)
    out = batch_norm(x, None, None, w, torch.zeros(3, dtype=F64), training=True)
    (grad_x,) = torch.autograd.grad((out ** 3).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice"):
        grad_x.sum().backward()
