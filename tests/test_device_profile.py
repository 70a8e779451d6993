"""Devices, seeding and run profiles (cnnlib.device, cnnlib.profile)."""
import ctypes
import platform
import random
import sys

import numpy as np
import pytest
import torch

import cnnlib
from cnnlib import device as device_mod
from cnnlib.profile import ENV_VAR, PROFILES, choose, current_profile, describe_run


# -- get_device ------------------------------------------------------------------------
def _machine(monkeypatch, *, cuda: bool, mps: bool, gpus: int = 1):
    """Pretend this machine has (or lacks) CUDA GPUs and Apple MPS."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus if cuda else 0)
    monkeypatch.setattr(device_mod, "_mps_available", lambda: mps)


# The documented preference, written out per machine: CUDA, then MPS, then the CPU.
@pytest.mark.parametrize("cuda, mps, expected", [
    (True, True, "cuda"),
    (True, False, "cuda"),
    (False, True, "mps"),
    (False, False, "cpu"),
])
@pytest.mark.parametrize("name", [None, "auto"])
def test_auto_picks_the_best_available_device(monkeypatch, name, cuda, mps, expected):
    _machine(monkeypatch, cuda=cuda, mps=mps)
    assert cnnlib.get_device(name) == torch.device(expected)


@pytest.mark.parametrize("name", ["cpu", torch.device("cpu")])
def test_cpu_is_always_available(name):
    assert cnnlib.get_device(name) == torch.device("cpu")


@pytest.mark.parametrize("name", ["gpu", "tpu", "cuda:x", "CPU", ""])
def test_unknown_device_names_raise_value_error_listing_valid_names(name):
    with pytest.raises(ValueError, match=f"unknown device {name!r}") as err:
        cnnlib.get_device(name)
    for valid in ("'auto'", "'cuda'", "'mps'", "'cpu'"):
        assert valid in str(err.value)


@pytest.mark.parametrize("name", ["meta", "xla"])
def test_device_types_torch_knows_but_cnnlib_does_not_support_raise(name):
    with pytest.raises(ValueError, match=f"unsupported device type {name!r}"):
        cnnlib.get_device(name)


# Availability is monkeypatched, so that both branches run on every machine, with or
# without a GPU (get_device only builds a torch.device; it allocates nothing on it).
@pytest.mark.parametrize("mps", [False, True])
@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_missing_cuda_raises_instead_of_falling_back(monkeypatch, name, mps):
    _machine(monkeypatch, cuda=False, mps=mps)
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        cnnlib.get_device(name)


@pytest.mark.parametrize("name, expected", [("cuda", "cuda"), ("cuda:0", "cuda:0"),
                                            ("cuda:1", "cuda:1"), (torch.device("cuda", 1), "cuda:1")])
def test_available_cuda_is_used_as_asked(monkeypatch, name, expected):
    _machine(monkeypatch, cuda=True, mps=False, gpus=2)
    assert cnnlib.get_device(name) == torch.device(expected)


def test_cuda_index_beyond_the_gpu_count_raises(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(RuntimeError, match=r"'cuda:3'.*only 1 CUDA GPU"):
        cnnlib.get_device("cuda:3")


def test_missing_mps_raises(monkeypatch):
    _machine(monkeypatch, cuda=True, mps=False)
    with pytest.raises(RuntimeError, match="MPS is not available"):
        cnnlib.get_device("mps")


def test_available_mps_is_used_as_asked(monkeypatch):
    _machine(monkeypatch, cuda=True, mps=True)
    assert cnnlib.get_device("mps") == torch.device("mps")


def test_device_name_describes_the_cpu():
    name = cnnlib.device_name("cpu")
    assert name.startswith("CPU ") and f"{torch.get_num_threads()} threads" in name


# -- seed_everything -------------------------------------------------------------------
def _draw():
    return (random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist(),
            torch.randint(0, 1000, (4,)).tolist())


def test_seed_everything_makes_python_numpy_and_torch_repeat():
    assert cnnlib.seed_everything(123) == 123
    first = _draw()
    cnnlib.seed_everything(123)
    assert _draw() == first
    cnnlib.seed_everything(124)
    other = _draw()
    for a, b in zip(first, other):  # each generator is seeded, not just one of them
        assert a != b


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "1", True, None])
def test_seed_everything_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match="seed must be an int"):
        cnnlib.seed_everything(seed)


def test_seed_everything_accepts_the_extremes():
    cnnlib.seed_everything(0)
    cnnlib.seed_everything(2**32 - 1)


# -- tune_cpu_allocator ------------------------------------------------------------------
# What the tuning does to page faults is measured by benchmarks/allocator_page_faults.py:
# a count of page faults depends on the machine's load and is no test. Here: that it asks
# glibc for the documented settings. mallopt(3) parameter numbers, from glibc's <malloc.h>
# (written out here, not taken from cnnlib): M_TRIM_THRESHOLD -1, M_MMAP_THRESHOLD -3.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


class _FakeLibc:
    """Stands in for ctypes.CDLL(None): records mallopt calls, returns ``result`` (1: ok)."""

    def __init__(self, result=1):
        self.calls = []
        libc = self

        def mallopt(param, value):
            libc.calls.append((param, value))
            return result

        self.mallopt = mallopt


@pytest.fixture
def fake_glibc(monkeypatch):
    """A Linux/glibc process whose allocator was never tuned, with a fake libc."""
    libc = _FakeLibc()
    monkeypatch.setattr(device_mod, "_tuned_allocator", None)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(platform, "libc_ver", lambda *a, **k: ("glibc", "2.36"))
    monkeypatch.setattr(device_mod.ctypes, "CDLL", lambda name, *a, **k: libc)
    return libc


def test_tune_cpu_allocator_sets_both_glibc_thresholds(fake_glibc):
    assert cnnlib.tune_cpu_allocator() is True
    # Defaults: blocks of 64 MiB and more get their own mmap; keep up to 256 MiB of freed
    # memory at the heap's top.
    assert fake_glibc.calls == [(M_MMAP_THRESHOLD, 64 * 2**20), (M_TRIM_THRESHOLD, 256 * 2**20)]
    assert fake_glibc.mallopt.argtypes == [ctypes.c_int, ctypes.c_int]
    assert fake_glibc.mallopt.restype is ctypes.c_int


def test_tune_cpu_allocator_passes_the_thresholds_given_and_tunes_once(fake_glibc):
    assert cnnlib.tune_cpu_allocator(mmap_threshold=1 << 20, trim_threshold=3 << 20) is True
    assert fake_glibc.calls == [(M_MMAP_THRESHOLD, 1 << 20), (M_TRIM_THRESHOLD, 3 << 20)]
    # The same thresholds again: already in force, nothing to call.
    assert cnnlib.tune_cpu_allocator(mmap_threshold=1 << 20, trim_threshold=3 << 20) is True
    assert len(fake_glibc.calls) == 2
    # Other thresholds are set anew.
    assert cnnlib.tune_cpu_allocator() is True
    assert fake_glibc.calls[2:] == [(M_MMAP_THRESHOLD, 64 << 20), (M_TRIM_THRESHOLD, 256 << 20)]


def test_tune_cpu_allocator_reports_a_refused_setting(fake_glibc, monkeypatch):
    refusing = _FakeLibc(result=0)  # mallopt returns 0 on error
    monkeypatch.setattr(device_mod.ctypes, "CDLL", lambda name, *a, **k: refusing)
    assert cnnlib.tune_cpu_allocator() is False
    assert refusing.calls[0] == (M_MMAP_THRESHOLD, 64 << 20)
    # Not recorded as tuned: the next call tries again.
    assert cnnlib.tune_cpu_allocator() is False
    assert len(refusing.calls) == 2


def test_tune_cpu_allocator_without_a_loadable_libc_is_a_noop(fake_glibc, monkeypatch):
    def no_libc(name, *a, **k):
        raise OSError("no libc")

    monkeypatch.setattr(device_mod.ctypes, "CDLL", no_libc)
    assert cnnlib.tune_cpu_allocator() is False


def test_tune_cpu_allocator_is_a_noop_outside_linux(fake_glibc, monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert cnnlib.tune_cpu_allocator() is False
    assert fake_glibc.calls == []


def test_tune_cpu_allocator_is_a_noop_without_glibc(fake_glibc, monkeypatch):
    monkeypatch.setattr(platform, "libc_ver", lambda *a, **k: ("", ""))
    assert cnnlib.tune_cpu_allocator() is False
    assert fake_glibc.calls == []


@pytest.mark.parametrize("kwargs", [dict(mmap_threshold=0), dict(trim_threshold=-1),
                                    dict(mmap_threshold=2**31), dict(trim_threshold=1.5),
                                    dict(mmap_threshold=True)])
def test_tune_cpu_allocator_rejects_bad_thresholds(kwargs):
    with pytest.raises(ValueError, match="threshold must be a positive number of bytes"):
        cnnlib.tune_cpu_allocator(**kwargs)


@pytest.mark.parametrize("tune, expected_calls", [(True, 1), (False, 0)])
def test_trainer_tunes_the_allocator_on_the_cpu_unless_told_not_to(monkeypatch, tune,
                                                                   expected_calls):
    from cnnlib import train as train_mod
    calls = []
    monkeypatch.setattr(train_mod, "tune_cpu_allocator", lambda: calls.append(1) or True)
    cnnlib.Trainer(torch.nn.Linear(2, 2), cnnlib.TrainConfig(progress=False, tune_allocator=tune),
                   device="cpu")
    assert len(calls) == expected_calls



# -- profiles --------------------------------------------------------------------------
@pytest.mark.parametrize("value, expected", [("smoke", "smoke"), ("cpu", "cpu"), ("gpu", "gpu"),
                                             (" CPU ", "cpu"), ("Smoke", "smoke")])
def test_env_var_selects_the_profile(monkeypatch, value, expected):
    monkeypatch.setenv(ENV_VAR, value)
    assert current_profile() == expected


@pytest.mark.parametrize("cuda, expected", [(True, "gpu"), (False, "cpu")])
@pytest.mark.parametrize("value", [None, "", "  "])
def test_default_profile_depends_on_cuda(monkeypatch, value, cuda, expected):
    if value is None:
        monkeypatch.delenv(ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(ENV_VAR, value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert current_profile() == expected


@pytest.mark.parametrize("value", ["fast", "tpu", "smoke,cpu"])
def test_bad_profile_names_the_valid_ones(monkeypatch, value):
    monkeypatch.setenv(ENV_VAR, value)
    with pytest.raises(ValueError) as err:
        current_profile()
    message = str(err.value)
    assert ENV_VAR in message and repr(value) in message
    assert all(p in message for p in PROFILES)


@pytest.mark.parametrize("profile", PROFILES)
def test_choose_picks_the_value_of_the_active_profile(monkeypatch, profile):
    monkeypatch.setenv(ENV_VAR, profile)
    values = {"smoke": 1, "cpu": [2], "gpu": "three"}
    assert choose(**values) == values[profile]
    # An explicit profile wins over the environment.
    for other in PROFILES:
        assert choose(**values, profile=other) == values[other]


def test_choose_rejects_unknown_profiles_and_positional_values(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "cpu")
    with pytest.raises(ValueError, match="unknown profile 'laptop'.*smoke, cpu, gpu"):
        choose(smoke=1, cpu=2, gpu=3, profile="laptop")
    with pytest.raises(TypeError):
        choose(1, 2, 3)
    with pytest.raises(TypeError):  # every profile needs a value
        choose(smoke=1, cpu=2)
    monkeypatch.setenv(ENV_VAR, "bogus")
    with pytest.raises(ValueError, match="bogus"):
        choose(smoke=1, cpu=2, gpu=3)


@pytest.mark.parametrize("profile", PROFILES)
def test_describe_run_names_profile_device_and_torch(monkeypatch, profile):
    monkeypatch.setenv(ENV_VAR, profile)
    text = describe_run("cpu")
    assert f"profile={profile}" in text
    assert "device=cpu" in text and cnnlib.device_name("cpu") in text
    assert f"torch {torch.__version__}" in text
