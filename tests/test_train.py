"""The one training loop: Trainer and TrainConfig (cnnlib.train)."""
import math
import re
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnnlib
from cnnlib import TrainConfig, Trainer, train as train_mod
from cnnlib.data import TensorLoader, stratified_subset

HISTORY_KEYS = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"}


def quiet(**kwargs):
    return TrainConfig(progress=False, **kwargs)


# -- learning on real data -------------------------------------------------------------
@pytest.mark.slow
def test_modern_lenet_learns_fashion_mnist(fashion):
    """Two epochs over all 60,000 images: > 85% on the 10,000 held-out test images.

    About 14 s on 2 CPU cores; it reached 88.3-89.1% with seeds 0-2. A linear classifier
    gets about 84% on Fashion-MNIST, so 85% needs the convolutional features to work, and a
    broken loop (no optimizer step, labels out of step with images) falls far below it.
    """
    cnnlib.seed_everything(0)
    train, test = cnnlib.fashion_mnist_loaders(256, data=fashion, device="cpu", seed=0)
    assert len(test.labels) == 10_000
    trainer = Trainer(cnnlib.create_model("lenet_modern"),
                      quiet(epochs=2, optimizer="sgd", lr=0.1, momentum=0.9), device="cpu")
    history = trainer.fit(train, test)
    result = trainer.evaluate(test)
    assert result["accuracy"] > 0.85, result
    assert history["val_acc"][-1] == result["accuracy"]
    assert history["train_loss"][1] < history["train_loss"][0]


# -- checkpoints: an interrupted run resumes bit for bit ---------------------------------
class NoisyNet(nn.Module):
    """BN and dropout (torch RNG) plus input noise drawn from Python's and NumPy's RNGs,
    so that a resumed run matches only if every generator is restored."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                      nn.MaxPool2d(4))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(4 * 7 * 7, 10))

    def forward(self, x):
        if self.training:
            noise = torch.from_numpy(np.random.standard_normal(x.shape[1:])).float()
            x = x + 0.05 * random.random() * noise
        return self.head(self.features(x))


@pytest.fixture(scope="module")
def small_real(fashion):
    tr = stratified_subset(fashion.train.labels, 384, seed=1)
    te = stratified_subset(fashion.test.labels, 200, seed=1)
    return (fashion.train.images[tr], fashion.train.labels[tr],
            fashion.test.images[te], fashion.test.labels[te])


def _noisy_run(data, tmp_path=None, stop_at=None, epochs=3, sabotage=None):
    """Train NoisyNet for ``epochs``; with ``stop_at``, save there and resume in a fresh trainer."""
    x_tr, y_tr, x_te, y_te = data

    def build(seed):
        cnnlib.seed_everything(seed)
        model = NoisyNet()
        loader = TensorLoader(x_tr, y_tr, batch_size=64, shuffle=True, seed=7, device="cpu")
        val = TensorLoader(x_te, y_te, batch_size=100, device="cpu")
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
        trainer = Trainer(model, quiet(epochs=epochs), optimizer=optimizer, scheduler=scheduler,
                          device="cpu")
        return trainer, loader, val

    trainer, loader, val = build(0)
    if stop_at is None:
        trainer.fit(loader, val)
        return trainer
    trainer.fit(loader, val, epochs=stop_at)
    path = tmp_path / "run.pt"
    trainer.save(path)
    # A new process: other seeds, a freshly initialised model, a loader at its first epoch.
    trainer, loader, val = build(12345)
    trainer.load(path)
    if sabotage is not None:
        sabotage(loader)
    trainer.fit(loader, val)
    return trainer


@pytest.fixture(scope="module")
def uninterrupted(small_real):
    return _noisy_run(small_real)


def _same_weights(a, b):
    sa, sb = a.model.state_dict(), b.model.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _same_history(a, b):
    """Equal histories, float for float (NaN equals NaN), except the wall-clock seconds."""
    keys = set(a) - {"seconds"}
    return set(a) == set(b) and all(np.array_equal(a[k], b[k], equal_nan=True) for k in keys)


@pytest.mark.parametrize("stop_at", [1, 2])
def test_resumed_run_is_bitwise_identical(small_real, uninterrupted, tmp_path, stop_at):
    resumed = _noisy_run(small_real, tmp_path, stop_at)
    assert (resumed.epoch, resumed.step) == (uninterrupted.epoch, uninterrupted.step) == (3, 18)
    assert _same_weights(resumed, uninterrupted)
    assert _same_history(resumed.history, uninterrupted.history)
    assert resumed.optimizer.param_groups[0]["lr"] == uninterrupted.optimizer.param_groups[0]["lr"] == 3e-3 / 8
    for a, b in zip(resumed.optimizer.state.values(), uninterrupted.optimizer.state.values()):
        assert torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])


def _reseed(which):
    def sabotage(loader):
        if which == "loader":  # the trainer hands the saved state over at the next fit
            loader.load_state_dict = lambda state: None
        else:
            {"torch": torch.manual_seed, "python": random.seed, "numpy": np.random.seed}[which](99)
    return sabotage


@pytest.mark.parametrize("which", ["torch", "python", "numpy", "loader"])
def test_resume_comparison_detects_each_missing_rng_state(small_real, uninterrupted, tmp_path, which):
    # The bitwise test above is only worth something if losing any one generator's state
    # after the load breaks it: re-seed exactly one and the run must diverge.
    resumed = _noisy_run(small_real, tmp_path, stop_at=1, sabotage=_reseed(which))
    assert not _same_weights(resumed, uninterrupted)


def test_checkpoint_is_a_weights_only_file_with_model_args_and_config(tmp_path, make_loader):
    model = cnnlib.create_model("lenet", num_classes=4, input_size=12)
    trainer = Trainer(model, quiet(epochs=1, lr=0.05, grad_clip=1.0))
    trainer.fit(make_loader(16, shape=(1, 12, 12)))
    trainer.save(tmp_path / "ckpt.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]  # no .tmp left behind
    ckpt = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert ckpt["format"] == train_mod.CHECKPOINT_FORMAT
    assert ckpt["model_args"] == {"name": "lenet", "num_classes": 4, "input_size": 12}
    assert ckpt["config"]["lr"] == 0.05 and ckpt["config"]["grad_clip"] == 1.0
    assert ckpt["epoch"] == 1 and ckpt["step"] == 2
    assert ckpt["history"]["epoch"] == [1]
    assert {"torch", "python", "numpy"} <= set(ckpt["rng"]) and ckpt["train_loader"] is not None


def test_from_checkpoint_rebuilds_a_registered_model_and_resumes(small_real, tmp_path):
    x_tr, y_tr, x_te, y_te = small_real

    def start():
        cnnlib.seed_everything(3)
        model = cnnlib.create_model("lenet_modern", num_classes=10, batch_norm=True)
        loader = TensorLoader(x_tr[:128], y_tr[:128], batch_size=32, shuffle=True, seed=1, device="cpu")
        return Trainer(model, quiet(epochs=2, optimizer="adamw", lr=1e-3, weight_decay=0.01)), loader

    reference, loader = start()
    reference.fit(loader)
    first, loader = start()
    first.fit(loader, epochs=1)
    first.save(tmp_path / "ckpt.pt")
    cnnlib.seed_everything(777)
    rebuilt = Trainer.from_checkpoint(tmp_path / "ckpt.pt", device="cpu")
    assert isinstance(rebuilt.model, cnnlib.models.LeNet)
    assert rebuilt.model.model_args == first.model.model_args
    assert rebuilt.config == first.config
    assert isinstance(rebuilt.optimizer, torch.optim.AdamW)
    assert (rebuilt.epoch, rebuilt.step) == (1, 4)
    assert _same_weights(rebuilt, first)
    rebuilt.fit(TensorLoader(x_tr[:128], y_tr[:128], batch_size=32, shuffle=True, seed=1, device="cpu"))
    assert _same_weights(rebuilt, reference)
    assert _same_history(rebuilt.history, reference.history)


def test_from_checkpoint_needs_a_registered_model(tmp_path, tiny_cnn, make_loader):
    trainer = Trainer(tiny_cnn(), quiet(epochs=1))
    trainer.fit(make_loader())
    trainer.save(tmp_path / "ckpt.pt")
    with pytest.raises(ValueError, match="records no registered model"):
        Trainer.from_checkpoint(tmp_path / "ckpt.pt")
    Trainer(tiny_cnn(seed=1), quiet(epochs=1)).load(tmp_path / "ckpt.pt")  # the manual way works


def test_load_rejects_foreign_files_and_missing_schedulers(tmp_path, tiny_cnn, make_loader):
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a cnnlib checkpoint"):
        Trainer(tiny_cnn(), quiet()).load(tmp_path / "other.pt")
    model = tiny_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer = Trainer(model, quiet(epochs=1), optimizer=opt,
                      scheduler=torch.optim.lr_scheduler.StepLR(opt, 1))
    trainer.fit(make_loader())
    trainer.save(tmp_path / "ckpt.pt")
    with pytest.raises(ValueError, match="no scheduler"):
        Trainer(tiny_cnn(), quiet()).load(tmp_path / "ckpt.pt")


# -- NaN guard -------------------------------------------------------------------------
class NaNAt:
    """Cross-entropy that returns ``value`` on its ``at``-th call (1-based)."""

    def __init__(self, at, value=float("nan")):
        self.at, self.value, self.calls = at, value, 0

    def __call__(self, logits, labels):
        self.calls += 1
        loss = F.cross_entropy(logits, labels)
        return loss * self.value if self.calls == self.at else loss


@pytest.mark.parametrize("check_every", [1, 3, 4, 50])
@pytest.mark.parametrize("epoch, step", [(1, 1), (2, 7), (2, 10), (3, 4)])
def test_nan_loss_names_the_exact_epoch_and_step(tiny_cnn, make_loader, check_every, epoch, step):
    loader = make_loader(80, batch_size=8)  # 10 steps per epoch
    loss_fn = NaNAt((epoch - 1) * 10 + step)
    trainer = Trainer(tiny_cnn(), quiet(epochs=5, check_every=check_every), loss_fn=loss_fn)
    with pytest.raises(FloatingPointError, match=rf"loss became nan at epoch {epoch}, step {step} of that epoch"):
        trainer.fit(loader)
    assert trainer.epoch == epoch - 1 and len(trainer.history["epoch"]) == epoch - 1


def test_infinite_loss_is_caught_too(tiny_cnn, make_loader):
    trainer = Trainer(tiny_cnn(), quiet(epochs=2), loss_fn=NaNAt(3, float("inf")))
    with pytest.raises(FloatingPointError, match="loss became inf at epoch 1, step 3 of"):
        trainer.fit(make_loader(80, batch_size=8))


def test_a_huge_learning_rate_is_stopped_at_the_first_bad_step(tiny_cnn, make_loader):
    losses = []  # the oracle: every step's loss, read in a hook
    # divergence_factor=None: this test is about the NaN guard alone.
    trainer = Trainer(tiny_cnn(), quiet(epochs=3, lr=1e30, divergence_factor=None),
                      hooks={"on_step_end": lambda t, step, loss: losses.append(loss.item())})
    with pytest.raises(FloatingPointError) as err:
        trainer.fit(make_loader(80, batch_size=8))
    # The hooks saw every loss before the bad one (check_every=50 checks in bulk).
    first_bad = next(i for i, v in enumerate(losses) if not math.isfinite(v)) + 1
    assert first_bad > 1  # the first loss is computed before any update
    assert f"at epoch 1, step {first_bad} of that epoch" in str(err.value)
    assert "grad_clip" in str(err.value)  # says what to do


# -- hooks -----------------------------------------------------------------------------
def test_unknown_or_uncallable_hooks_raise(tiny_cnn):
    with pytest.raises(ValueError, match="unknown hook 'on_batch_end'.*on_step_end"):
        Trainer(tiny_cnn(), quiet(), hooks={"on_batch_end": print})
    trainer = Trainer(tiny_cnn(), quiet())
    with pytest.raises(ValueError, match="unknown hook"):
        trainer.add_hook("after_step", print)
    with pytest.raises(TypeError, match="must be callable"):
        trainer.add_hook("on_step_end", 42)


def test_hooks_are_called_in_order_with_their_arguments(tiny_cnn, make_loader):
    calls = []

    def record(name):
        return lambda trainer, *args: calls.append((name, *args))

    hooks = {name: record(name) for name in train_mod.HOOK_NAMES}
    hooks["on_step_end"] = [record("on_step_end"), lambda t, step, loss: calls.append(("second", step))]
    trainer = Trainer(tiny_cnn(), quiet(epochs=3), hooks=hooks)
    trainer.fit(make_loader(32, batch_size=8))  # 4 steps per epoch
    names = [c[0] for c in calls]
    assert names.count("on_fit_start") == names.count("on_fit_end") == 1
    assert names.count("on_epoch_start") == names.count("on_epoch_end") == 3
    assert names.count("after_backward") == names.count("on_step_end") == names.count("second") == 12
    assert names[0] == "on_fit_start" and names[-1] == "on_fit_end"
    assert [c[1] for c in calls if c[0] == "on_epoch_start"] == [1, 2, 3]
    assert [c[1] for c in calls if c[0] == "on_epoch_end"] == [1, 2, 3]
    assert [c[1] for c in calls if c[0] == "after_backward"] == list(range(12))  # steps taken before
    assert [c[1] for c in calls if c[0] == "on_step_end"] == list(range(1, 13))  # steps taken after
    assert [c[1] for c in calls if c[0] == "second"] == list(range(1, 13))
    epoch_metrics = [c[2] for c in calls if c[0] == "on_epoch_end"]
    assert all({"epoch", "train_loss", "train_acc", "seconds"} <= set(m) for m in epoch_metrics)
    # one epoch: start, then (after_backward, step_end, second) x 4, then end
    first_epoch = names[1:names.index("on_epoch_end") + 1]
    assert first_epoch == ["on_epoch_start"] + ["after_backward", "on_step_end", "second"] * 4 + ["on_epoch_end"]


def test_stop_training_in_on_epoch_end_stops_early(tiny_cnn, make_loader):
    def stop_after_two(trainer, epoch, metrics):
        if epoch == 2:
            trainer.stop_training = True

    trainer = Trainer(tiny_cnn(), quiet(epochs=10), hooks={"on_epoch_end": stop_after_two})
    history = trainer.fit(make_loader(32, batch_size=8))
    assert trainer.epoch == 2 and history["epoch"] == [1, 2] and trainer.step == 8
    history = trainer.fit(make_loader(32, batch_size=8), epochs=4)  # a new fit goes on
    assert history["epoch"] == [1, 2, 3, 4]


def test_after_backward_sees_gradients_before_the_step(tiny_cnn, make_loader):
    seen = []

    def check(trainer, step):
        params = list(trainer.model.parameters())
        assert all(p.grad is not None for p in params)
        seen.append([p.detach().clone() for p in params])

    trainer = Trainer(tiny_cnn(), quiet(epochs=1), hooks={"after_backward": check})
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.fit(make_loader(8, batch_size=8))
    assert all(torch.equal(a, b) for a, b in zip(seen[0], before))  # not yet updated


# -- evaluate / predict ----------------------------------------------------------------
def test_predict_and_evaluate_agree(tiny_cnn, make_loader):
    trainer = Trainer(tiny_cnn(num_classes=4), quiet(epochs=4, lr=0.1, momentum=0.9))
    train = make_loader(64, batch_size=8, shuffle=True)
    test = make_loader(30, batch_size=8, data_seed=1)
    trainer.fit(train)
    trainer.model.train()
    logits, labels = trainer.predict(test)
    assert trainer.model.training  # predict runs in eval mode, then gives the mode back
    assert logits.shape == (30, 4) and logits.dtype == torch.float32 and labels.shape == (30,)
    assert torch.equal(labels, test.labels)  # loader order
    result = trainer.evaluate(test)
    assert result["accuracy"] == (logits.argmax(1) == labels).sum().item() / 30
    assert result["loss"] == pytest.approx(F.cross_entropy(logits, labels).item(), rel=1e-5)
    assert result["accuracy"] > 0.5  # it learned something (chance is 0.25)
    # Direct forward as a second oracle.
    with torch.no_grad():
        direct = trainer.model(test.images)
    torch.testing.assert_close(logits, direct)


def test_evaluate_does_not_change_weights_or_bn_statistics(make_loader):
    model = cnnlib.create_model("lenet_modern", num_classes=4, input_size=12)
    trainer = Trainer(model, quiet())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer.evaluate(make_loader(16, shape=(1, 12, 12)))
    trainer.predict(make_loader(16, shape=(1, 12, 12)))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


# -- configuration ---------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    (dict(epochs=0), "epochs"), (dict(epochs=2.5), "epochs"), (dict(epochs=-1), "epochs"),
    (dict(lr=0), "lr"), (dict(lr=-0.1), "lr"), (dict(lr=float("inf")), "lr"),
    (dict(lr=float("nan")), "lr"), (dict(lr="0.1"), "lr"),
    (dict(optimizer="rmsprop"), "optimizer"), (dict(amp="fp32"), "amp"),
    (dict(momentum=-0.5), "momentum"), (dict(weight_decay=-1e-4), "weight_decay"),
    (dict(grad_clip=0), "grad_clip"), (dict(grad_clip=-1.0), "grad_clip"),
    (dict(check_every=0), "check_every"), (dict(check_every=2.0), "check_every"),
    (dict(check_every=True), "check_every"),
    (dict(channels_last="yes"), "channels_last"), (dict(channels_last=1), "channels_last"),
    (dict(lr=True), "lr"), (dict(momentum="0.9"), "momentum"), (dict(momentum=None), "momentum"),
    (dict(momentum=float("nan")), "momentum"), (dict(momentum=float("inf")), "momentum"),
    (dict(momentum=1.0), "momentum"), (dict(momentum=True), "momentum"),
    (dict(weight_decay=None), "weight_decay"), (dict(weight_decay="0"), "weight_decay"),
    (dict(weight_decay=float("nan")), "weight_decay"), (dict(weight_decay=float("inf")), "weight_decay"),
    (dict(grad_clip=float("nan")), "grad_clip"), (dict(grad_clip=float("inf")), "grad_clip"),
    (dict(grad_clip="1"), "grad_clip"), (dict(optimizer=["sgd"]), "optimizer"),
    (dict(divergence_factor=1.0), "divergence_factor"), (dict(divergence_factor=float("nan")), "divergence_factor"),
    (dict(divergence_factor="10"), "divergence_factor"),
])
def test_train_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match) as err:
        TrainConfig(**kwargs)
    assert repr(next(iter(kwargs.values()))) in str(err.value)  # the message names the value


@pytest.mark.parametrize("name, cls", [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam),
                                       ("adamw", torch.optim.AdamW)])
def test_optimizer_is_built_from_the_config(tiny_cnn, name, cls):
    trainer = Trainer(tiny_cnn(), quiet(optimizer=name, lr=0.02, weight_decay=0.001))
    assert type(trainer.optimizer) is cls
    group = trainer.optimizer.param_groups[0]
    assert group["lr"] == 0.02 and group["weight_decay"] == 0.001
    assert len(group["params"]) == len(list(trainer.model.parameters()))


def test_amp_on_cpu(tiny_cnn, make_loader):
    # Every trainer here is on the CPU, so this runs the same on a GPU machine.
    with pytest.raises(ValueError, match="amp='fp16' needs a CUDA device"):
        Trainer(tiny_cnn(), quiet(amp="fp16"), device="cpu")
    assert Trainer(tiny_cnn(), quiet(amp="auto"), device="cpu").amp_dtype is None
    assert Trainer(tiny_cnn(), quiet(amp="off"), device="cpu").amp_dtype is None
    trainer = Trainer(tiny_cnn(), quiet(amp="bf16", epochs=1), device="cpu")
    assert trainer.amp_dtype is torch.bfloat16 and trainer.scaler is None
    trainer.fit(make_loader())
    logits, _ = trainer.predict(make_loader())
    assert logits.dtype == torch.float32  # bf16 compute, float32 results


def test_trainer_rejects_bad_arguments(tiny_cnn, make_loader):
    with pytest.raises(TypeError, match="torch.nn.Module"):
        Trainer(lambda x: x)
    with pytest.raises(TypeError, match="TrainConfig"):
        Trainer(tiny_cnn(), {"epochs": 1})
    trainer = Trainer(tiny_cnn(), quiet())
    with pytest.raises(ValueError, match="epochs"):
        trainer.fit(make_loader(), epochs=0)
    with pytest.raises(ValueError, match="no batches"):
        trainer.fit(make_loader(4, batch_size=8, drop_last=True))


def test_grad_clip_bounds_the_update(tiny_cnn, make_loader):
    # Plain SGD with lr 1: the update is minus the (clipped) gradient, so its norm is the clip.
    trainer = Trainer(tiny_cnn(), quiet(epochs=1, lr=1.0, grad_clip=1e-3))
    norms = []
    trainer.add_hook("after_backward", lambda t, step: norms.append(
        torch.cat([p.grad.flatten() for p in t.model.parameters()]).norm().item()))
    before = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
    trainer.fit(make_loader(8, batch_size=8))
    after = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
    assert norms[0] > 1e-2  # clipping is active
    assert (after - before).norm().item() == pytest.approx(1e-3, rel=1e-3)


def test_scheduler_steps_once_per_epoch(tiny_cnn, make_loader):
    model = tiny_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    trainer = Trainer(model, quiet(epochs=3), optimizer=opt, scheduler=sched)
    trainer.fit(make_loader(32, batch_size=8))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**3)


# -- history ---------------------------------------------------------------------------
def test_history_keys_lengths_and_values(tiny_cnn, make_loader):
    step_losses = []
    trainer = Trainer(tiny_cnn(), quiet(epochs=3, lr=0.5),
                      hooks={"on_step_end": lambda t, s, loss: step_losses.append(loss.item())})
    train = make_loader(36, batch_size=8, shuffle=True)  # batches of 8, 8, 8, 8, 4
    val = make_loader(20, batch_size=8, data_seed=1)
    history = trainer.fit(train, val)
    assert history is trainer.history and set(history) == HISTORY_KEYS
    assert all(len(v) == 3 for v in history.values())
    assert history["epoch"] == [1, 2, 3]
    assert all(s > 0 for s in history["seconds"])
    # train_loss: the mean over examples of each step's loss (the last batch weighs 4/36).
    weights = [8, 8, 8, 8, 4]
    for epoch in range(3):
        losses = step_losses[5 * epoch:5 * epoch + 5]
        expected = sum(w * l for w, l in zip(weights, losses)) / 36
        assert history["train_loss"][epoch] == pytest.approx(expected, rel=1e-6)
    assert all(0 <= a <= 1 and a * 36 == round(a * 36) for a in history["train_acc"])
    # The last val metrics are those of the final model.
    final = trainer.evaluate(val)
    assert history["val_acc"][-1] == final["accuracy"]
    assert history["val_loss"][-1] == pytest.approx(final["loss"], rel=1e-6)


def test_history_without_validation_has_nan_val_metrics(tiny_cnn, make_loader):
    history = Trainer(tiny_cnn(), quiet(epochs=2)).fit(make_loader())
    assert set(history) == HISTORY_KEYS
    assert all(math.isnan(v) for v in history["val_loss"] + history["val_acc"])
    assert all(math.isfinite(v) for v in history["train_loss"])


def test_fit_continues_to_the_total_number_of_epochs(tiny_cnn, make_loader):
    trainer = Trainer(tiny_cnn(), quiet(epochs=2))
    trainer.fit(make_loader())
    trainer.fit(make_loader())  # already done: nothing to do
    assert trainer.epoch == 2 and trainer.history["epoch"] == [1, 2]
    trainer.fit(make_loader(), epochs=3)
    assert trainer.history["epoch"] == [1, 2, 3] and trainer.step == 15


def test_progress_output_names_the_epoch_and_metrics(tiny_cnn, make_loader, capsys):
    Trainer(tiny_cnn(), TrainConfig(epochs=2, progress=True)).fit(make_loader(), make_loader())
    lines = [l for l in capsys.readouterr().out.splitlines() if "train loss" in l]
    assert len(lines) == 2
    for epoch, line in enumerate(lines, start=1):
        assert re.search(rf"epoch\s+{epoch}/2\b", line) and "val loss" in line


def test_channels_last_trains_the_same_net_up_to_rounding(make_loader):
    # Same arithmetic in another memory order: the weights may differ in the last bits only.
    def run(channels_last):
        torch.manual_seed(0)
        model = cnnlib.create_model("lenet_modern", input_size=28)
        loader = cnnlib.TensorLoader(torch.rand(64, 28, 28), torch.arange(64) % 10,
                                     batch_size=16, shuffle=True, seed=0, device="cpu")
        trainer = Trainer(model, quiet(epochs=2, lr=0.05, channels_last=channels_last))
        trainer.fit(loader)
        return trainer
    plain, nhwc = run(False), run(True)
    conv = nhwc.model.features[4].weight  # conv2: 6 input channels, so the order shows
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert not plain.model.features[4].weight.is_contiguous(memory_format=torch.channels_last)
    for a, b in zip(plain.model.parameters(), nhwc.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("capability, expected", [((7, 5), torch.float16),  # T4: emulated bf16
                                                  ((8, 0), torch.bfloat16), ((9, 0), torch.bfloat16)])
def test_auto_amp_on_cuda_uses_bf16_only_where_the_gpu_has_it(monkeypatch, capability, expected):
    # Decided from the compute capability alone: is_bf16_supported(including_emulation=...)
    # needs torch 2.4, and on older torch the keyword crashed every CUDA Trainer.
    def old_is_bf16_supported():  # torch 2.1's signature; must not be needed at all
        raise AssertionError("is_bf16_supported was called")

    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", old_is_bf16_supported)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    trainer = Trainer.__new__(Trainer)
    trainer.config, trainer.device = TrainConfig(amp="auto"), torch.device("cuda")
    assert trainer._resolve_amp() == expected


def test_grad_scaler_falls_back_where_torch_amp_has_none(monkeypatch):
    # torch.amp.GradScaler exists from torch 2.3; before, only torch.cuda.amp.GradScaler.
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both warn that CUDA is missing on a CPU machine
        assert type(train_mod._grad_scaler()) is torch.amp.GradScaler
        monkeypatch.delattr(torch.amp, "GradScaler")
        assert isinstance(train_mod._grad_scaler(), torch.cuda.amp.GradScaler)
