"""cnnlib.scratch: hand-written layers against torch.nn.functional, forward and backward.

Three oracles for each backward pass: ``torch.autograd.gradcheck`` (float64, default
tolerances), a centred finite difference held to CS231n's bar (largest relative error below
1e-7), and torch's own gradients where finite differences cannot look (ties in max pooling,
ReLU at exactly 0). Then a small CNN of scratch layers has to follow its torch.nn twin for
20 SGD steps to float64 rounding, which a slightly wrong backward pass cannot do.
"""
import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlib.scratch import (
    ScratchAvgPool2d, ScratchConv2d, ScratchLinear, ScratchMaxPool2d, ScratchReLU, avg_pool2d,
    col2im, conv2d_im2col, conv2d_loop, im2col, linear, max_pool2d, relu,
)

F64 = torch.float64
CONVS = {"loop": conv2d_loop, "im2col": conv2d_im2col}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # These tensors are tiny: a second thread saves nothing, and on a busy 2-core machine each
    # matmul waited ~8 ms for it (2 us with one thread), which made this file 10x slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _randn(*shape, seed):
    return torch.randn(*shape, generator=_gen(seed), dtype=F64)


# ---------------------------------------------------------------------------------------------
# Configurations
# ---------------------------------------------------------------------------------------------

def _fits(size, kernel, padding, dilation):
    return all(d * (k - 1) + 1 <= s + 2 * p for s, k, p, d in zip(size, kernel, padding, dilation))


def _random_conv_configs(count=24, seed=0):
    rng = random.Random(seed)
    configs = []
    while len(configs) < count:
        groups = rng.choice([1, 1, 2, 3])
        c = dict(n=rng.randint(1, 2), c_in=groups * rng.randint(1, 2),
                 c_out=groups * rng.randint(1, 3), size=(rng.randint(3, 8), rng.randint(3, 8)),
                 kernel=(rng.randint(1, 4), rng.randint(1, 4)),
                 stride=(rng.randint(1, 3), rng.randint(1, 3)),
                 padding=(rng.randint(0, 2), rng.randint(0, 2)),
                 dilation=(rng.randint(1, 2), rng.randint(1, 2)), groups=groups,
                 bias=rng.random() < 0.7)
        if _fits(c["size"], c["kernel"], c["padding"], c["dilation"]):
            configs.append(c)
    return configs


def _conv(n, c_in, c_out, size, kernel, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
          groups=1, bias=True):
    return dict(n=n, c_in=c_in, c_out=c_out, size=size, kernel=kernel, stride=stride,
                padding=padding, dilation=dilation, groups=groups, bias=bias)


EDGE_CONV_CONFIGS = [
    _conv(2, 3, 4, (5, 5), (1, 1)),                                    # 1x1 kernel
    _conv(1, 2, 3, (4, 5), (6, 7), padding=(1, 1)),                    # kernel = padded input
    _conv(2, 4, 4, (6, 6), (3, 3), padding=(1, 1), groups=4),          # depthwise
    _conv(1, 2, 2, (7, 7), (2, 2), stride=(3, 3)),                     # stride > kernel: gaps
    _conv(2, 4, 6, (7, 8), (3, 2), (2, 1), (2, 1), (2, 3), 2, False),  # all four at once
]
CONV_CONFIGS = _random_conv_configs() + EDGE_CONV_CONFIGS

# Small enough for gradcheck and finite differences (one forward per perturbed number).
GRAD_CONV_CONFIGS = [
    _conv(2, 2, 3, (5, 4), (3, 2)),
    _conv(1, 2, 2, (6, 5), (2, 3), stride=(2, 1), padding=(1, 2)),
    _conv(1, 2, 2, (6, 6), (2, 2), dilation=(2, 3), bias=False),
    _conv(2, 4, 2, (4, 4), (3, 3), padding=(1, 1), groups=2),
    _conv(1, 4, 6, (7, 6), (3, 2), (2, 1), (1, 1), (2, 2), 2),
    _conv(1, 2, 2, (7, 7), (2, 2), stride=(3, 3)),
]

# (shape, kernel, stride, padding, dilation): dilation is used by max pooling only.
POOL_CONFIGS = [
    ((2, 3, 6, 6), (2, 2), None, (0, 0), (1, 1)),
    ((1, 2, 7, 5), (3, 3), (1, 1), (1, 1), (1, 1)),     # overlapping windows
    ((2, 1, 7, 8), (3, 2), (2, 1), (1, 0), (1, 1)),
    ((1, 2, 9, 9), (3, 3), (2, 2), (1, 0), (2, 2)),
    ((1, 3, 5, 7), (2, 3), (3, 2), (1, 1), (2, 1)),
    ((2, 2, 4, 4), (4, 4), None, (2, 2), (1, 1)),
    ((1, 1, 8, 8), (2, 2), (3, 3), (0, 0), (1, 1)),     # stride > kernel: gaps
    ((1, 2, 5, 5), (5, 5), (1, 1), (0, 0), (1, 1)),     # one window
]
GRAD_POOL_CONFIGS = POOL_CONFIGS[1:6]


def _conv_id(c):
    return (f"n{c['n']}-c{c['c_in']}to{c['c_out']}-{c['size'][0]}x{c['size'][1]}-"
            f"k{c['kernel'][0]}x{c['kernel'][1]}-s{c['stride'][0]}{c['stride'][1]}-"
            f"p{c['padding'][0]}{c['padding'][1]}-d{c['dilation'][0]}{c['dilation'][1]}-"
            f"g{c['groups']}" + ("" if c["bias"] else "-nobias"))


def _pool_id(p):
    shape, k, s, pad, d = p
    return f"{shape[2]}x{shape[3]}-k{k}-s{s}-p{pad}-d{d}".replace(" ", "")


def _conv_tensors(c, seed):
    x = _randn(c["n"], c["c_in"], *c["size"], seed=seed)
    w = _randn(c["c_out"], c["c_in"] // c["groups"], *c["kernel"], seed=seed + 1)
    b = _randn(c["c_out"], seed=seed + 2) if c["bias"] else None
    return x, w, b


def _conv_kwargs(c):
    return dict(stride=c["stride"], padding=c["padding"], dilation=c["dilation"],
                groups=c["groups"])


def test_the_random_configurations_cover_every_convolution_argument():
    # Guards the generator: a change that stopped drawing, say, groups would leave the
    # forward tests below silently testing less.
    configs = _random_conv_configs()
    for key in ("stride", "padding", "dilation"):
        assert any(c[key][0] != c[key][1] for c in configs), key
        assert any(max(c[key]) > (1 if key != "padding" else 0) for c in configs), key
    assert any(c["groups"] > 1 for c in configs) and not all(c["bias"] for c in configs)


# ---------------------------------------------------------------------------------------------
# Forward against torch.nn.functional
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("c", CONV_CONFIGS, ids=_conv_id)
@pytest.mark.parametrize("method", CONVS)
def test_conv2d_forward_matches_torch(method, c):
    x, w, b = _conv_tensors(c, seed=len(_conv_id(c)))
    expected = F.conv2d(x, w, b, **_conv_kwargs(c))
    out = CONVS[method](x, w, b, **_conv_kwargs(c))
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("c", EDGE_CONV_CONFIGS[:1] + GRAD_CONV_CONFIGS, ids=_conv_id)
def test_im2col_and_col2im_are_unfold_and_fold(c):
    x, _, _ = _conv_tensors(c, seed=3)
    kw = dict(kernel_size=c["kernel"], stride=c["stride"], padding=c["padding"],
              dilation=c["dilation"])
    cols = im2col(x, **kw)
    assert torch.equal(cols, F.unfold(x, **kw))  # a pure rearrangement: bit for bit
    y = _randn(*cols.shape, seed=4)
    torch.testing.assert_close(col2im(y, c["size"], **kw), F.fold(y, c["size"], **kw),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("p", POOL_CONFIGS, ids=_pool_id)
def test_pooling_forward_matches_torch(p):
    shape, k, s, pad, d = p
    x = _randn(*shape, seed=5)
    assert torch.equal(max_pool2d(x, k, s, pad, d),
                       F.max_pool2d(x, k, s, pad, dilation=d))
    for include in (True, False):
        torch.testing.assert_close(
            avg_pool2d(x, k, s, pad, count_include_pad=include),
            F.avg_pool2d(x, k, s, pad, count_include_pad=include), rtol=1e-12, atol=1e-12)


def test_relu_and_linear_forward_match_torch():
    x = _randn(3, 4, 5, seed=6)
    x[0, 0, :3] = 0.0
    assert torch.equal(relu(x), F.relu(x))
    w, b = _randn(7, 5, seed=7), _randn(7, seed=8)
    for inp in (x, x[0, 0], x[0]):  # (*, in_features): 3-D, 1-D, 2-D
        torch.testing.assert_close(linear(inp, w, b), F.linear(inp, w, b), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(linear(inp, w), F.linear(inp, w), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Backward: gradcheck and CS231n's finite-difference bar
# ---------------------------------------------------------------------------------------------

def _max_relative_error(fn, inputs, h=1e-3, seed=0):
    """Largest |a - n| / max(|a|, |n|, 1e-8) over every input number, CS231n-style.

    ``a`` is the analytic gradient of ``sum(fn(*inputs) * probe)`` (a random probe, so that
    every output's gradient path is weighted differently) and ``n`` the centred difference
    ``sum((fn(x + h) - fn(x - h)) * probe) / 2h``. Differencing the outputs before summing
    keeps the rounding error to the outputs that the number touches.

    The step is large for a finite difference on purpose: every layer here is linear in each
    single input number between kinks, so a centred difference has no truncation error and a
    larger step only shrinks the rounding error (eps * |out| / h). Callers keep every input
    farther than h from a kink.
    """
    inputs = [t.detach().clone().requires_grad_(True) for t in inputs]
    out = fn(*inputs)
    probe = torch.randn(out.shape, generator=_gen(seed), dtype=F64)
    (out * probe).sum().backward()
    worst = 0.0
    with torch.no_grad():
        for t in inputs:
            flat, grad = t.view(-1), t.grad.view(-1)
            for i in range(flat.numel()):
                old = flat[i].item()
                flat[i] = old + h
                plus = fn(*inputs)
                flat[i] = old - h
                minus = fn(*inputs)
                flat[i] = old
                numeric = ((plus - minus) * probe).sum().item() / (2 * h)
                analytic = grad[i].item()
                error = abs(analytic - numeric) / max(abs(analytic), abs(numeric), 1e-8)
                worst = max(worst, error)
    return worst


def _away_from_kinks(*shape, seed):
    """Values |x| >= 0.1, so that x +- h (h = 1e-3) never crosses ReLU's kink at 0."""
    x = _randn(*shape, seed=seed)
    return torch.where(x >= 0, x + 0.1, x - 0.1)


def _without_ties(*shape, seed):
    """Distinct values 1/n apart (a shuffled ramp), n <= 200 here: at least 5e-3 apart.

    Moving one value by h = 1e-3 then changes no window's maximum (which needs a gap under
    2h), so max pooling stays linear in it and the centred difference is exact.
    """
    n = torch.Size(shape).numel()
    return (torch.randperm(n, generator=_gen(seed)).to(F64) / n - 0.5).reshape(shape)


def _conv_inputs(c, seed):
    return [t.requires_grad_(True) for t in _conv_tensors(c, seed) if t is not None]


def _conv_fn(method, c):
    conv = CONVS[method]
    if c["bias"]:
        return lambda x, w, b: conv(x, w, b, **_conv_kwargs(c))
    return lambda x, w: conv(x, w, None, **_conv_kwargs(c))


@pytest.mark.parametrize("c", GRAD_CONV_CONFIGS, ids=_conv_id)
@pytest.mark.parametrize("method", CONVS)
def test_conv2d_backward_gradcheck_and_finite_differences(method, c):
    inputs = _conv_inputs(c, seed=10)
    fn = _conv_fn(method, c)
    assert torch.autograd.gradcheck(fn, inputs)
    assert _max_relative_error(fn, inputs) < 1e-7


@pytest.mark.parametrize("p", GRAD_POOL_CONFIGS, ids=_pool_id)
def test_max_pool2d_backward_gradcheck_and_finite_differences(p):
    shape, k, s, pad, d = p
    x = _without_ties(*shape, seed=11).requires_grad_(True)
    fn = lambda x: max_pool2d(x, k, s, pad, d)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert _max_relative_error(fn, [x]) < 1e-7


@pytest.mark.parametrize("p", GRAD_POOL_CONFIGS, ids=_pool_id)
@pytest.mark.parametrize("include", [True, False], ids=["count_pad", "skip_pad"])
def test_avg_pool2d_backward_gradcheck_and_finite_differences(p, include):
    shape, k, s, pad, _ = p
    x = _randn(*shape, seed=12).requires_grad_(True)
    fn = lambda x: avg_pool2d(x, k, s, pad, count_include_pad=include)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert _max_relative_error(fn, [x]) < 1e-7


def test_relu_backward_gradcheck_and_finite_differences():
    x = _away_from_kinks(2, 3, 4, 4, seed=13).requires_grad_(True)
    assert torch.autograd.gradcheck(relu, (x,))
    assert _max_relative_error(relu, [x]) < 1e-7


@pytest.mark.parametrize("bias", [True, False])
def test_linear_backward_gradcheck_and_finite_differences(bias):
    x = _randn(2, 3, 5, seed=14).requires_grad_(True)  # leading dims (2, 3)
    w = _randn(4, 5, seed=15).requires_grad_(True)
    inputs = [x, w] + ([_randn(4, seed=16).requires_grad_(True)] if bias else [])
    assert torch.autograd.gradcheck(linear, inputs)
    assert _max_relative_error(linear, inputs) < 1e-7


def _grads(fn, x, probe):
    x = x.detach().clone().requires_grad_(True)
    (fn(x) * probe).sum().backward()
    return x.grad


@pytest.mark.parametrize("p", POOL_CONFIGS, ids=_pool_id)
def test_max_pool2d_routes_a_tie_to_the_same_element_as_torch(p):
    # Finite differences cannot judge a tie (the max is not differentiable there), so torch's
    # own choice is the oracle: integer values from {0, 1, 2} tie in almost every window.
    # (Not bit for bit: a pixel that wins several overlapping windows sums their gradients in
    # another order than torch does; a misrouted gradient is off by O(1).)
    shape, k, s, pad, d = p
    x = torch.randint(0, 3, shape, generator=_gen(17)).to(F64)
    out = F.max_pool2d(x, k, s, pad, dilation=d)
    probe = _randn(*out.shape, seed=18)
    torch.testing.assert_close(
        _grads(lambda t: max_pool2d(t, k, s, pad, d), x, probe),
        _grads(lambda t: F.max_pool2d(t, k, s, pad, dilation=d), x, probe), rtol=1e-12, atol=1e-12)


def test_max_pool2d_gives_a_tied_window_gradient_to_its_first_element_only():
    x = torch.ones(1, 1, 2, 2, dtype=F64, requires_grad=True)
    max_pool2d(x, 2).sum().backward()
    assert x.grad.flatten().tolist() == [1.0, 0.0, 0.0, 0.0]


def test_relu_gradient_at_zero_and_on_each_side_is_torchs():
    x = torch.tensor([-2.0, -1e-300, 0.0, -0.0, 1e-300, 3.0], dtype=F64)
    probe = _randn(6, seed=19)
    got = _grads(relu, x, probe)
    assert torch.equal(got, _grads(F.relu, x, probe))
    assert torch.equal(got, torch.tensor([0, 0, 0, 0, 1, 1], dtype=F64) * probe)


# ---------------------------------------------------------------------------------------------
# A scratch CNN follows its torch.nn twin
# ---------------------------------------------------------------------------------------------

def _scratch_cnn(method):
    return nn.Sequential(
        ScratchConv2d(1, 4, 3, padding=1, method=method), ScratchReLU(), ScratchMaxPool2d(2),
        ScratchConv2d(4, 6, 3, padding=2, dilation=2, groups=2, method=method), ScratchReLU(),
        ScratchAvgPool2d(2), nn.Flatten(), ScratchLinear(6 * 2 * 2, 3),
    )


def _torch_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2), nn.ReLU(),
        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(6 * 2 * 2, 3),
    )


@pytest.mark.parametrize("method", CONVS)
def test_a_scratch_cnn_trains_step_for_step_like_its_torch_twin(method):
    torch.manual_seed(0)
    scratch = _scratch_cnn(method).to(F64)
    torch.manual_seed(0)
    twin = _torch_cnn().to(F64)
    # Initialised like torch's layers: the same seed gives the same numbers, under the same
    # names, so either model's state_dict loads into the other.
    ours, theirs = scratch.state_dict(), twin.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    twin.load_state_dict(ours)

    losses = {}
    for name, net in (("scratch", scratch), ("torch", twin)):
        g = _gen(20)  # the same batches for both
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        losses[name] = []
        for _ in range(20):
            y = torch.randint(0, 3, (8,), generator=g)
            # the class sets the brightness, so that there is something to learn
            x = torch.randn(8, 1, 8, 8, generator=g, dtype=F64) + y.view(8, 1, 1, 1)
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses[name].append(loss.item())
    assert losses["scratch"][-1] < 0.9 * losses["scratch"][0]  # it does learn
    torch.testing.assert_close(losses["scratch"], losses["torch"], rtol=1e-10, atol=0)
    for (k, a), b in zip(scratch.state_dict().items(), twin.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12, msg=k)


def test_modules_match_their_torch_counterparts_on_float32():
    torch.manual_seed(1)
    ours = [ScratchConv2d(4, 6, (3, 2), stride=2, padding=1, dilation=(1, 2), groups=2),
            ScratchConv2d(4, 6, 3, bias=False, method="loop"), ScratchLinear(5, 3),
            ScratchLinear(5, 3, bias=False)]
    torch.manual_seed(1)
    theirs = [nn.Conv2d(4, 6, (3, 2), stride=2, padding=1, dilation=(1, 2), groups=2),
              nn.Conv2d(4, 6, 3, bias=False), nn.Linear(5, 3), nn.Linear(5, 3, bias=False)]
    for a, b in zip(ours, theirs):
        assert a.state_dict().keys() == b.state_dict().keys()
        assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
        x = torch.randn(2, 4, 7, 5) if isinstance(a, ScratchConv2d) else torch.randn(2, 5)
        torch.testing.assert_close(a(x), b(x))
    x = torch.randn(2, 3, 6, 6)
    for a, b in ((ScratchMaxPool2d(3, 2, 1), nn.MaxPool2d(3, 2, 1)),
                 (ScratchAvgPool2d(2, padding=1, count_include_pad=False),
                  nn.AvgPool2d(2, padding=1, count_include_pad=False)),
                 (ScratchReLU(), nn.ReLU())):
        torch.testing.assert_close(a(x), b(x))


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", CONVS)
def test_conv2d_bad_shapes_raise_naming_the_numbers(method):
    conv = CONVS[method]
    w = torch.randn(6, 3, 3, 3)
    with pytest.raises(ValueError, match=r"4-D input \(N, C, H, W\), got a 3-D tensor of shape "
                                         r"\(3, 8, 8\)"):
        conv(torch.randn(3, 8, 8), w)
    with pytest.raises(ValueError, match=r"expects 3 input channels .*got 4 "
                                         r"\(input shape \(1, 4, 8, 8\)\)"):
        conv(torch.randn(1, 4, 8, 8), w)
    with pytest.raises(ValueError, match=r"groups=4 must divide both the input channels \(6\) "
                                         r"and the output channels \(6\)"):
        conv(torch.randn(1, 6, 8, 8), torch.randn(6, 1, 3, 3), groups=4)
    with pytest.raises(ValueError, match=r"kernel 7x7 is larger than the padded input 6x6 "
                                         r"\(input 4x4, padding 1x1\)"):
        conv(torch.randn(1, 3, 4, 4), torch.randn(2, 3, 7, 7), padding=1)
    with pytest.raises(ValueError, match=r"kernel 3x3 \(spanning 5x5 with dilation 2x2\) is "
                                         r"larger than the padded input 4x4"):
        conv(torch.randn(1, 3, 4, 4), w, dilation=2)
    with pytest.raises(ValueError, match=r"bias must have shape \(6,\), got \(5,\)"):
        conv(torch.randn(1, 3, 8, 8), w, torch.randn(5))
    with pytest.raises(ValueError, match="stride must be >= 1, got 0"):
        conv(torch.randn(1, 3, 8, 8), w, stride=0)
    with pytest.raises(TypeError, match="padding must be an int or a pair of ints"):
        conv(torch.randn(1, 3, 8, 8), w, padding="same")


def test_pooling_bad_shapes_raise_naming_the_numbers():
    for pool in (max_pool2d, avg_pool2d):
        with pytest.raises(ValueError, match=r"got a 2-D tensor of shape \(8, 8\)"):
            pool(torch.randn(8, 8), 2)
        with pytest.raises(ValueError, match=r"kernel 5x5 is larger than the padded input 4x4"):
            pool(torch.randn(1, 1, 4, 4), 5)
        with pytest.raises(ValueError, match=r"padding 2x2 must be at most half the kernel 3x3"):
            pool(torch.randn(1, 1, 8, 8), 3, padding=2)


def test_linear_and_module_bad_arguments_raise_naming_the_numbers():
    with pytest.raises(ValueError, match=r"expects 5 input features, got 4 \(input shape \(2, 4\)\)"):
        linear(torch.randn(2, 4), torch.randn(3, 5))
    with pytest.raises(ValueError, match=r"expects 5 input features, got 4"):
        ScratchLinear(5, 3)(torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"expects 3 input channels .*got 1"):
        ScratchConv2d(3, 4, 3)(torch.randn(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"groups=2 must divide in_channels \(3\)"):
        ScratchConv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="method must be 'im2col' or 'loop', got 'fft'"):
        ScratchConv2d(3, 4, 3, method="fft")
    with pytest.raises(TypeError, match="kernel_size must be an int"):
        ScratchMaxPool2d(2.5)
