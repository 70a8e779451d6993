"""Devices, seeding and run profiles (cnnlib.device, cnnlib.profile)."""
import platform
import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import cnnlib
from cnnlib import device as device_mod
from cnnlib.profile import ENV_VAR, PROFILES, choose, current_profile, describe_run


# -- get_device ------------------------------------------------------------------------
def _expected_auto():
    if torch.cuda.is_available():
        return "cuda"
    if device_mod._mps_available():
        return "mps"
    return "cpu"


@pytest.mark.parametrize("name", [None, "auto"])
def test_auto_picks_the_best_available_device(name):
    assert cnnlib.get_device(name).type == _expected_auto()


def test_auto_is_cpu_without_accelerators(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device_mod, "_mps_available", lambda: False)
    assert cnnlib.get_device() == torch.device("cpu")


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


@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_missing_cuda_raises_instead_of_falling_back(name):
    if torch.cuda.is_available():  # the other branch is what this test is about (CI has no GPU)
        assert cnnlib.get_device(name).type == "cuda"
        return
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        cnnlib.get_device(name)


def test_cuda_index_beyond_the_gpu_count_raises(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(RuntimeError, match=r"'cuda:3'.*only 1 CUDA GPU"):
        cnnlib.get_device("cuda:3")


def test_missing_mps_raises(monkeypatch):
    monkeypatch.setattr(device_mod, "_mps_available", lambda: False)
    with pytest.raises(RuntimeError, match="MPS is not available"):
        cnnlib.get_device("mps")


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
_GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# Allocates, touches and frees two 40 MB tensors per "step" and prints the page faults
# per step. Runs in fresh processes: the setting is process-wide and cannot be undone
# inside the test session. glibc always serves blocks above 32 MB with fresh mmap pages
# unless told otherwise, so the untuned run shows what the tuning removes.
_FAULTS_PER_STEP = textwrap.dedent("""
    import resource, sys, torch, cnnlib
    if sys.argv[1] == "tuned":
        assert cnnlib.tune_cpu_allocator() is True
    def step():
        a = torch.ones(10_000_000); b = a * 2; del a, b
    for _ in range(3):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        step()
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
""")


@pytest.mark.skipif(not _GLIBC, reason="tune_cpu_allocator acts on Linux with glibc only")
def test_tuned_allocator_reuses_freed_pages_instead_of_faulting_in_new_ones():
    def faults(mode):
        return float(subprocess.run([sys.executable, "-c", _FAULTS_PER_STEP, mode], check=True,
                                    capture_output=True, text=True).stdout)
    pages_per_step = 2 * 40_000_000 / 4096  # about 19,500
    assert faults("untuned") > 0.5 * pages_per_step
    assert faults("tuned") < 0.1 * pages_per_step


def test_tune_cpu_allocator_is_a_noop_without_glibc(monkeypatch):
    monkeypatch.setattr(device_mod, "_tuned_allocator", None)
    monkeypatch.setattr(platform, "libc_ver", lambda *a, **k: ("", ""))
    assert cnnlib.tune_cpu_allocator() is False


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


@pytest.mark.parametrize("value", ["", "  "])
def test_default_profile_depends_on_cuda(monkeypatch, value):
    monkeypatch.setenv(ENV_VAR, value)
    assert current_profile() == ("gpu" if torch.cuda.is_available() else "cpu")
    monkeypatch.delenv(ENV_VAR)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert current_profile() == "gpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert current_profile() == "cpu"


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
