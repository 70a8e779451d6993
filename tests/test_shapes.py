"""Output sizes and receptive fields by arithmetic (cnnlib.shapes).

Oracles:
- sizes: the real torch layer. Build it, run zeros through it and read the output size;
  where torch refuses (when building the layer or when running it), the function must raise
  ValueError. A few hundred random settings per layer type, seeded, with rare out-of-range
  values mixed in, plus the edges listed in each test.
- receptive fields: the input pixels that reach one output unit. Through convolutions and
  average pooling, those with a nonzero gradient (input of ones, constant positive weights:
  every path adds, none cancels). Max pooling sends the gradient to one pixel per window
  only, so there the oracle is the pixels that turn the unit into NaN when they are NaN
  (a NaN anywhere in a window wins the max); on chains without max pooling both oracles run.
  Size and start come from one unit's pixels, jump from its neighbour's.
"""
import math
import random
from dataclasses import FrozenInstanceError

import numpy as np
import pytest
import torch
from torch import nn

import cnnlib
from cnnlib.shapes import (ReceptiveField, conv_output_size, conv_transpose_output_size,
                           pool_output_size, receptive_field)

N_CASES = 300  # random settings per 1-D layer type; half as many for 2-D layers (two dims each)


def _torch_size(make, ndim, size):
    """Output size of the layer ``make()`` builds, on zeros of spatial size ``size``, or
    None where torch refuses the layer or the input."""
    try:
        layer = make()
        with torch.no_grad():
            return tuple(layer(torch.zeros((1, 1) + size)).shape[2:])
    except (RuntimeError, ValueError):
        return None


def _ours(fn, dims, **shared):
    """``fn`` per dimension, or None where it raises ValueError for any of them."""
    try:
        return tuple(fn(**dim, **shared) for dim in dims)
    except ValueError:
        return None


def _sometimes(rng, usual, rare, p=0.05):
    # Draw both each time so that the stream of random numbers does not depend on the branch.
    pick = rng.choice(rare)
    return pick if rng.random() < p else usual


def _dim(rng, transposed=False, pool=False):
    """One dimension's settings: mostly valid, now and then zero or negative."""
    kernel_size = _sometimes(rng, rng.randint(1, 6), [0, -1])
    if pool:  # pooling allows padding up to kernel_size // 2: mostly within that, often over
        half = max(kernel_size, 0) // 2
        padding = _sometimes(rng, rng.randint(0, half), [-1, half + 1, half + 2], p=0.15)
    else:
        padding = _sometimes(rng, rng.randint(0, 4), [-1])
    dim = dict(size=_sometimes(rng, rng.randint(1, 12), [0]),
               kernel_size=kernel_size,
               stride=_sometimes(rng, rng.randint(1, 4), [0, -1]),
               padding=padding,
               dilation=_sometimes(rng, rng.randint(1, 3), [0, -1]))
    if transposed:
        dim["output_padding"] = _sometimes(rng, rng.randint(0, 3), [-1])
    return dim


def _compare(cases, ours, theirs):
    """Run every case both ways; return the (case, ours, torch) triples, failing on a mismatch."""
    results = [(case, ours(case), theirs(case)) for case in cases]
    mismatches = [r for r in results if r[1] != r[2]]
    assert not mismatches, (f"{len(mismatches)} mismatches with torch, e.g. (case, ours, torch): "
                            f"{mismatches[:5]}")
    refused = sum(r[2] is None for r in results)
    # Both sides of the rules are exercised: many valid settings and many refused ones.
    assert refused >= len(cases) // 10 and len(cases) - refused >= len(cases) // 5, (refused, len(cases))
    return results


# -- convolution ---------------------------------------------------------------------------
def _conv_cases(rng, n, ndim):
    cases = [[_dim(rng) for _ in range(ndim)] for _ in range(n)]
    # The kernel exactly as long as the padded input (fits, one output), and one longer.
    cases += [[dict(size=3, kernel_size=3, stride=2, padding=1, dilation=2)] * ndim,
              [dict(size=3, kernel_size=4, stride=1, padding=1, dilation=2)] * ndim]
    return cases


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")  # kernel_size=0
@pytest.mark.parametrize("ndim", [1, 2])
def test_conv_output_size_matches_torch(ndim):
    conv = {1: nn.Conv1d, 2: nn.Conv2d}[ndim]

    def theirs(dims):
        args = {key: tuple(d[key] for d in dims) for key in ("kernel_size", "stride", "padding", "dilation")}
        return _torch_size(lambda: conv(1, 1, **args), ndim, tuple(d["size"] for d in dims))

    rng = random.Random(1000 + ndim)
    _compare(_conv_cases(rng, N_CASES // ndim, ndim), lambda dims: _ours(conv_output_size, dims), theirs)


# -- pooling -------------------------------------------------------------------------------
def _pool_cases(rng, n, ndim, dilation=True):
    cases = []
    for _ in range(n):
        dims = [_dim(rng, pool=True) for _ in range(ndim)]
        stride_none = rng.random() < 0.2  # the default: stride = kernel_size
        for d in dims:
            if not dilation:
                d.pop("dilation")
            if stride_none:
                d["stride"] = None
        cases.append((dims, rng.random() < 0.5))
    edges = [  # (size, kernel_size, stride, padding, dilation), ceil_mode
        # ceil mode: naive ceil gives 4, but the 4th window would start at 3 * 2 = 6, past
        # the input and the left padding (W + P = 6), so there are 3
        ((5, 2, 2, 1, 1), True),
        ((6, 2, 2, 1, 1), True),  # here W + P = 7: the 4th window is kept
        # ceil mode: the window is longer than the input (3 > 2), and still one output
        ((2, 3, 3, 0, 1), True),
        ((2, 3, 3, 0, 1), False),  # floor mode: none
        # padding 2 is within half the dilated kernel (7) but over kernel_size // 2 = 1: refused
        ((20, 3, 1, 2, 3), False),
        ((3, 5, 1, 2, 1), False),  # padding == 5 // 2: allowed
    ]
    for values, ceil_mode in edges:
        dim = dict(zip(("size", "kernel_size", "stride", "padding", "dilation"), values))
        if not dilation:
            dim.pop("dilation")
        cases.append(([dim] * ndim, ceil_mode))
    return cases


def _naive_ceil(dim):
    """Ceil mode without its last-window rule."""
    stride = dim["stride"] or dim["kernel_size"]
    return math.ceil((dim["size"] + 2 * dim["padding"] - _dilated(dim)) / stride) + 1


@pytest.mark.parametrize("ndim", [1, 2])
def test_max_pool_output_size_matches_torch(ndim):
    pool = {1: nn.MaxPool1d, 2: nn.MaxPool2d}[ndim]

    def theirs(case):
        dims, ceil_mode = case
        args = {key: tuple(d[key] for d in dims) for key in ("kernel_size", "padding", "dilation")}
        stride = None if dims[0]["stride"] is None else tuple(d["stride"] for d in dims)
        if ndim == 1:  # MaxPool1d wants ints: its 1-D kernel unpacks them itself
            args = {key: value[0] for key, value in args.items()}
            stride = stride if stride is None else stride[0]
        return _torch_size(lambda: pool(**args, stride=stride, ceil_mode=ceil_mode), ndim,
                           tuple(d["size"] for d in dims))

    cases = _pool_cases(random.Random(2000 + ndim), N_CASES // ndim, ndim)
    results = _compare(cases, lambda case: _ours(pool_output_size, case[0], ceil_mode=case[1]), theirs)
    # The rules that are easy to get wrong came up, not only in the hand-picked edges:
    # the ceil-mode rule took a window off, and padding over kernel_size // 2 (yet within
    # half the dilated kernel) was refused.
    fired = [dims for (dims, ceil_mode), _, out in results if ceil_mode and out is not None
             and any(o == _naive_ceil(d) - 1 for o, d in zip(out, dims))]
    raw_rule = [dims for (dims, _), _, out in results if out is None and all(map(_in_range, dims))
                and any(d["kernel_size"] // 2 < d["padding"] <= _dilated(d) // 2 for d in dims)]
    assert len(fired) >= 5 and len(raw_rule) >= 3, (len(fired), len(raw_rule))


def _in_range(dim):
    return (dim["size"] >= 1 and dim["kernel_size"] >= 1 and (dim["stride"] or 1) >= 1
            and dim["padding"] >= 0 and dim.get("dilation", 1) >= 1)


def _dilated(dim):
    return dim.get("dilation", 1) * (dim["kernel_size"] - 1) + 1


@pytest.mark.parametrize("ndim", [1, 2])
def test_avg_pool_output_size_is_pool_output_size_without_dilation(ndim):
    pool = {1: nn.AvgPool1d, 2: nn.AvgPool2d}[ndim]
    rng = random.Random(3000 + ndim)
    cases = [(dims, ceil_mode, rng.random() < 0.5)  # count_include_pad changes values, not sizes
             for dims, ceil_mode in _pool_cases(rng, N_CASES // (2 * ndim), ndim, dilation=False)]

    def theirs(case):
        dims, ceil_mode, count_include_pad = case
        args = {key: tuple(d[key] for d in dims) for key in ("kernel_size", "padding")}
        stride = None if dims[0]["stride"] is None else tuple(d["stride"] for d in dims)
        return _torch_size(lambda: pool(**args, stride=stride, ceil_mode=ceil_mode,
                                        count_include_pad=count_include_pad),
                           ndim, tuple(d["size"] for d in dims))

    _compare(cases, lambda case: _ours(pool_output_size, case[0], ceil_mode=case[1]), theirs)


# -- transposed convolution ----------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")  # kernel_size=0
@pytest.mark.parametrize("ndim", [1, 2])
def test_conv_transpose_output_size_matches_torch(ndim):
    conv = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d}[ndim]
    rng = random.Random(4000 + ndim)
    cases = [[_dim(rng, transposed=True) for _ in range(ndim)] for _ in range(N_CASES // ndim)]
    # output_padding >= stride but < dilation: allowed; >= both: refused.
    cases += [[dict(size=5, kernel_size=3, stride=2, padding=0, output_padding=2, dilation=3)] * ndim,
              [dict(size=5, kernel_size=3, stride=2, padding=0, output_padding=2, dilation=2)] * ndim,
              [dict(size=1, kernel_size=3, stride=1, padding=1, output_padding=0, dilation=1)] * ndim,
              [dict(size=1, kernel_size=3, stride=1, padding=2, output_padding=0, dilation=1)] * ndim]

    def theirs(dims):
        keys = ("kernel_size", "stride", "padding", "output_padding", "dilation")
        args = {key: tuple(d[key] for d in dims) for key in keys}
        return _torch_size(lambda: conv(1, 1, **args), ndim, tuple(d["size"] for d in dims))

    results = _compare(cases, lambda dims: _ours(conv_transpose_output_size, dims), theirs)
    usable = [d for dims, _, _ in results for d in dims if min(d.values()) >= 0 and d["size"] > 0
             and d["kernel_size"] > 0 and d["stride"] > 0 and d["dilation"] > 0]
    saved_by_dilation = [d for d in usable if d["stride"] <= d["output_padding"] < d["dilation"]]
    refused_by_both = [d for d in usable if d["output_padding"] >= max(d["stride"], d["dilation"])]
    assert len(saved_by_dilation) >= 5 and len(refused_by_both) >= 5, (len(saved_by_dilation),
                                                                       len(refused_by_both))


# -- sizes worked by hand ------------------------------------------------------------------
def test_sizes_worked_by_hand():
    assert conv_output_size(28, 5, padding=2) == 28  # LeNet's first layer keeps 28x28
    assert conv_output_size(224, 11, stride=4, padding=2) == 55  # AlexNet: (224+4-11)//4+1
    assert conv_output_size(7, 3, dilation=3) == 1  # the dilated kernel spans 7
    assert pool_output_size(28, 2) == 14  # stride defaults to the kernel size
    assert pool_output_size(5, 2, stride=2) == 2 and pool_output_size(5, 2, stride=2, ceil_mode=True) == 3
    assert pool_output_size(5, 2, stride=2, padding=1, ceil_mode=True) == 3  # not 4: see the rule
    assert conv_transpose_output_size(14, 2, stride=2) == 28  # undoes a 2x2 pooling's halving
    assert conv_transpose_output_size(7, 3, stride=2, padding=1, output_padding=1) == 14
    out = conv_output_size(np.int64(9), torch.tensor(3))  # NumPy and 0-d tensor integers count
    assert out == 7 and type(out) is int


def test_errors_name_the_numbers():
    with pytest.raises(ValueError, match=r"3 \+ 2\*0 = 3 .* 2\*\(3-1\)\+1 = 5"):
        conv_output_size(3, 3, dilation=2)
    with pytest.raises(ValueError, match=r"padding=2 with kernel_size=3"):
        pool_output_size(20, 3, padding=2, dilation=3)
    with pytest.raises(ValueError, match=r"output_padding=2 with stride=2 and dilation=1"):
        conv_transpose_output_size(5, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"= -1$"):
        conv_transpose_output_size(1, 1, padding=1)
    with pytest.raises(ValueError, match="stride must be >= 1, got 0"):
        pool_output_size(5, 2, stride=0)


SIZE_FUNCTIONS = {
    conv_output_size: dict(size=9, kernel_size=3, stride=1, padding=0, dilation=1),
    pool_output_size: dict(size=9, kernel_size=3, stride=1, padding=0, dilation=1),
    conv_transpose_output_size: dict(size=9, kernel_size=3, stride=1, padding=0, output_padding=0,
                                     dilation=1),
}


NON_INTEGERS = [True, 3.0, "3", None, [3]]  # bool is an int subclass; 3.0 is whole, still refused


@pytest.mark.parametrize("fn, arg, bad", [
    (fn, arg, bad) for fn, args in SIZE_FUNCTIONS.items() for arg in args for bad in NON_INTEGERS
    if not (fn is pool_output_size and arg == "stride" and bad is None)  # pooling's default
], ids=lambda x: getattr(x, "__name__", repr(x)))
def test_size_functions_refuse_non_integers(fn, arg, bad):
    with pytest.raises(TypeError, match=f"{arg} must be an int"):
        fn(**dict(SIZE_FUNCTIONS[fn], **{arg: bad}))


@pytest.mark.parametrize("bad", [1, 0, "yes", None])
def test_ceil_mode_must_be_a_bool(bad):
    with pytest.raises(TypeError, match="ceil_mode"):
        pool_output_size(9, 2, ceil_mode=bad)


# -- receptive fields: oracles -------------------------------------------------------------
def _prepare(net):
    """Constant positive weights and zero biases, eval mode, float64; returns the layers."""
    net = nn.Sequential(*net) if isinstance(net, list) else net
    net = net.double().eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d)):
                m.weight.fill_(1.0 / m.weight[0].numel())
                if m.bias is not None:
                    m.bias.zero_()
    return net


def _by_gradient(net, x_shape, unit, axis):
    """Coordinates along ``axis`` of the input pixels with a nonzero gradient from ``unit``."""
    x = torch.ones(x_shape, dtype=torch.float64, requires_grad=True)
    net(x)[(0, 0) + unit].backward()
    reached = x.grad[0].abs().sum(0) != 0  # over channels: (L,) or (H, W)
    return sorted(set(reached.nonzero(as_tuple=True)[axis].tolist()))


def _by_nan(net, x_shape, unit, axis):
    """Coordinates i along ``axis`` such that a NaN in row (or column) i of the input turns
    ``unit`` into NaN: example i of the batch carries the NaN in its row i. A window is a
    product of a set of rows and a set of columns, so rows and columns can be probed apart."""
    n = x_shape[2 + axis]
    x = torch.ones((n,) + tuple(x_shape[1:]), dtype=torch.float64)
    for i in range(n):
        x[i].select(1 + axis, i).fill_(float("nan"))
    with torch.no_grad():
        y = net(x)[(slice(None), 0) + unit]
    return torch.isnan(y).nonzero().flatten().tolist()


def _observe(net, in_channels, ndim, oracle, n):
    """(size, jump, start) per axis, read off the pixels reaching two neighbouring middle units."""
    x_shape = (1, in_channels) + (n,) * ndim
    with torch.no_grad():
        out_len = net(torch.zeros(x_shape, dtype=torch.float64)).shape[-1]
    assert out_len >= 2, f"input {n} too small for the test: {out_len} output units"
    u = (out_len - 1) // 2
    found = []
    for axis in range(ndim):
        here = oracle(net, x_shape, (u,) * ndim, axis)
        there = oracle(net, x_shape, tuple(u + (a == axis) for a in range(ndim)), axis)
        # A window clipped by the border would give too small a field: the test's input must
        # be large enough that the middle units see only real pixels.
        assert min(here + there) > 0 and max(here + there) < n - 1, (here, there, n)
        centre = (min(here) + max(here)) / 2
        jump = (min(there) + max(there)) / 2 - centre
        found.append((ReceptiveField(size=max(here) - min(here) + 1, jump=jump, start=centre - u * jump),
                      u, (min(here), max(here))))
    return found


def _input_size(layers):
    """An input side that keeps the middle output units' windows away from the border: twice
    a bound on the window (each layer's dilated kernel and both paddings, in input pixels),
    plus room for a few units. The bound is cruder than the formula under test, and
    :func:`_observe` checks that the windows it reads are not clipped."""
    extent, jump = 1, 1
    for m in layers:
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)):
            k, s = np.max(m.kernel_size), np.max(m.stride)
            d = np.max(getattr(m, "dilation", 1))
            p = k if isinstance(m.padding, str) else np.max(m.padding)
            extent, jump = extent + (d * (k - 1) + 2 * p) * jump, jump * s
    return int(2 * extent + 2 * jump + 8)


def _has_max_pool(net):
    return any(isinstance(m, (nn.MaxPool1d, nn.MaxPool2d)) for m in net.modules())


def _check_with_oracles(layers, in_channels, ndim):
    net = _prepare(layers)
    expected = receptive_field(layers)
    n = _input_size(net.modules())
    oracles = [_by_nan] if _has_max_pool(net) else [_by_gradient, _by_nan]
    for oracle in oracles:
        for found, unit, window in _observe(net, in_channels, ndim, oracle, n):
            assert found == expected, (oracle.__name__, found, expected, layers)
            # ReceptiveField.window: the first and last pixel that reach this unit
            assert expected.window(unit) == window, (oracle.__name__, unit, window, expected)
    return expected


def _random_chain(rng, channels=2):
    """1-D conv / max pool / avg pool layers with elementwise layers in between."""
    layers = []
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["conv", "conv", "max", "avg"])
        k, s, d = rng.randint(1, 4), rng.randint(1, 2), rng.randint(1, 2)
        p = rng.randint(0, k // 2)
        if kind == "conv":
            p = rng.choice([p, k, "same"]) if s == 1 else rng.choice([p, k])
            layers.append(nn.Conv1d(channels, channels, k, stride=s, padding=p, dilation=d))
        elif kind == "max":
            layers.append(nn.MaxPool1d(k, stride=s, padding=p, dilation=d, ceil_mode=rng.random() < 0.5))
        else:
            layers.append(nn.AvgPool1d(k, stride=s, padding=p, ceil_mode=rng.random() < 0.5,
                                       count_include_pad=rng.random() < 0.5))
        layers += rng.choice([[], [nn.ReLU()], [nn.BatchNorm1d(channels)], [nn.Sigmoid()]])
    return layers


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # speed, not values
def test_receptive_field_of_random_1d_chains_matches_the_oracles():
    rng = random.Random(5000)
    chains = [_random_chain(rng) for _ in range(30)]
    fields = [_check_with_oracles(chain, 2, 1) for chain in chains]
    # The draws cover what moves the numbers: half-pixel and negative starts, strides, max pooling.
    assert any(f.start < 0 for f in fields) and any(f.start % 1 for f in fields)
    assert any(f.jump >= 4 for f in fields) and sum(_has_max_pool(nn.Sequential(*c)) for c in chains) >= 5


CHAINS_2D = {
    "vgg block": lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(),
                                       nn.Conv2d(2, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)),
    "strided, dilated, even": lambda: [nn.Conv2d(1, 2, 4, stride=2, padding=1), nn.BatchNorm2d(2),
                                       nn.ReLU(), nn.Conv2d(2, 2, 3, dilation=2, padding=2),
                                       nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True)],
    "same padding, even kernel": lambda: [nn.Conv2d(1, 1, 4, padding="same"), nn.Conv2d(1, 1, 2, stride=2)],
    "max pool with dilation": lambda: [nn.Conv2d(1, 1, 3), nn.MaxPool2d(3, stride=2, padding=1, dilation=2)],
    "lenet": lambda: cnnlib.create_model("lenet").features,
    "lenet_modern": lambda: cnnlib.create_model("lenet_modern").features,
}


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("name", CHAINS_2D)
def test_receptive_field_of_2d_chains_matches_the_oracles(name):
    layers = CHAINS_2D[name]()
    _check_with_oracles(layers, 1, 2)


# -- receptive fields: worked by hand and API ----------------------------------------------
def test_receptive_fields_worked_by_hand():
    conv3 = lambda: nn.Conv2d(1, 1, 3, padding=1)  # noqa: E731
    assert receptive_field([]) == ReceptiveField(1, 1, 0.0)
    assert receptive_field([conv3(), conv3()]) == ReceptiveField(5, 1, 0.0)  # two 3x3 see 5x5
    assert receptive_field([conv3(), conv3(), conv3()]) == ReceptiveField(7, 1, 0.0)  # three: 7x7
    assert receptive_field([nn.Conv1d(1, 1, 2)]) == ReceptiveField(2, 1, 0.5)  # between pixels 0, 1
    assert receptive_field([nn.Conv1d(1, 1, 3, padding=2)]) == ReceptiveField(3, 1, -1.0)
    # LeNet: conv 5 pad 2 (5, 1, 0), pool 2 (6, 2, 0.5), conv 5 (14, 2, 4.5), pool 2 (16, 4, 5.5)
    assert receptive_field(cnnlib.create_model("lenet").features) == ReceptiveField(16, 4, 5.5)


def test_elementwise_layers_and_nesting_leave_the_field_alone():
    conv = nn.Conv2d(1, 1, 3, stride=2)
    pool = nn.MaxPool2d(2)
    plain = receptive_field([conv, pool])
    assert plain == ReceptiveField(5, 4, 2.0)  # conv (3, 2, 1.0), pool: 3 + 1*2, 1.0 + 0.5*2
    assert receptive_field(nn.Sequential(conv, nn.BatchNorm2d(1), nn.ReLU(), nn.Dropout(), pool)) == plain
    assert receptive_field([nn.Sequential(conv, nn.Sequential(nn.GELU(), nn.Identity())), pool]) == plain
    assert receptive_field(nn.Sequential(conv, nn.LocalResponseNorm(2), pool)) == plain


def test_receptive_field_is_a_frozen_dataclass():
    field = receptive_field([nn.Conv2d(1, 1, 3)])
    assert (field.size, field.jump, field.start) == (3, 1, 1.0)
    assert type(field.size) is int and type(field.jump) is int and type(field.start) is float
    with pytest.raises(FrozenInstanceError):
        field.size = 5


@pytest.mark.parametrize("layers, match", [
    (nn.Sequential(nn.Conv2d(1, 1, 3), nn.Flatten(), nn.Linear(4, 2)), r"layer 1 \(Flatten"),
    ([nn.Conv2d(1, 1, 3), nn.Sequential(nn.ReLU(), nn.Linear(4, 2))], r"layer 1\.1 \(Linear"),
    ([nn.ConvTranspose2d(1, 1, 3)], r"layer 0 \(ConvTranspose2d"),
    ([nn.Conv2d(1, 1, 3), nn.GroupNorm(1, 1)], r"layer 1 \(GroupNorm"),
    ([nn.Conv2d(1, 1, 3), "relu"], r"layer 1 is not an nn.Module: 'relu'"),
    (nn.Conv2d(1, 1, 3), r"nn.Sequential or a list of layers, got Conv2d"),
    ("conv", r"nn.Sequential or a list of layers, got str"),
], ids=["flatten", "nested linear", "transposed", "groupnorm", "string layer", "bare layer", "string"])
def test_receptive_field_refuses_other_layers(layers, match):
    with pytest.raises(TypeError, match=match):
        receptive_field(layers)


@pytest.mark.parametrize("layer, match", [
    (nn.Conv2d(1, 1, (3, 5)), r"kernel_size=\(3, 5\)"),
    (nn.Conv2d(1, 1, 3, stride=(1, 2)), r"stride=\(1, 2\)"),
    (nn.Conv2d(1, 1, 3, padding=(0, 1)), r"padding=\(0, 1\)"),
    (nn.MaxPool2d(3, dilation=(1, 2)), r"dilation=\(1, 2\)"),
    (nn.MaxPool2d(2, padding=2), r"padding=2 with kernel_size=2"),  # torch refuses it when run
    (nn.Conv2d(1, 1, 3, padding=-1), r"padding must be >= 0, got -1"),
], ids=["kernel", "stride", "padding", "dilation", "pool padding", "negative padding"])
def test_receptive_field_refuses_layers_it_cannot_describe(layer, match):
    with pytest.raises(ValueError, match=r"layer 1 \(.*" + match):
        receptive_field([nn.ReLU(), layer])


def test_window_names_the_unit_and_refuses_bad_units():
    field = ReceptiveField(size=5, jump=2, start=0.0)  # a 5-wide conv with padding 2, stride 2
    assert field.window(0) == (-2.0, 2.0) and field.window(3) == (4.0, 8.0)
    assert ReceptiveField(size=2, jump=2, start=0.5).window(1) == (2.0, 3.0)  # 2x2 pooling
    with pytest.raises(ValueError, match="unit must be >= 0"):
        field.window(-1)
    with pytest.raises(TypeError, match="unit must be an int"):
        field.window(1.0)
