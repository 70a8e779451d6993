"""Trainer fails safe: checkpoints never lose or corrupt a good run, bad input gets a clear
error, and a diverging run is stopped (cnnlib.train)."""
import math
import random
import warnings
import zipfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnnlib
from cnnlib import TrainConfig, Trainer
from cnnlib.hooks import EarlyStopping
from cnnlib.train import CheckpointError


def quiet(**kwargs):
    return TrainConfig(progress=False, **kwargs)


def snapshot(trainer):
    """Everything a failed load must leave as it was."""
    return {
        "model": {k: v.clone() for k, v in trainer.model.state_dict().items()},
        "optimizer": repr(trainer.optimizer.state_dict()),
        "counters": (trainer.epoch, trainer.step, repr(trainer.history)),
        "rng": (torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy()),
        "pending": (trainer._pending_loader_state, trainer._resume_position),
    }


def assert_unchanged(before, trainer):
    after = snapshot(trainer)
    assert before["model"].keys() == after["model"].keys()
    assert all(torch.equal(before["model"][k], after["model"][k]) for k in before["model"])
    assert before["optimizer"] == after["optimizer"]
    assert before["counters"] == after["counters"]
    assert torch.equal(before["rng"][0], after["rng"][0]) and before["rng"][1] == after["rng"][1]
    assert np.array_equal(before["rng"][2], after["rng"][2])
    assert before["pending"] == after["pending"] == (None, None)


def lenet_trainer(tmp_path, make_loader, *, save_as="ckpt.pt", **model_kwargs):
    """A lenet trained for one epoch on 12x12 images and saved; returns the path."""
    args = dict(num_classes=4, input_size=12) | model_kwargs
    name = args.pop("name", "lenet")
    trainer = Trainer(cnnlib.create_model(name, **args), quiet(epochs=1, momentum=0.9))
    side = args["input_size"]
    trainer.fit(make_loader(16, shape=(1, side, side), num_classes=min(args["num_classes"], 4)))
    trainer.save(tmp_path / save_as)
    return tmp_path / save_as


# -- a failed load changes nothing ------------------------------------------------------
@pytest.mark.parametrize("saved, loading, words", [
    (dict(num_classes=10), dict(num_classes=4), ["num_classes=10", "num_classes=4", "classifier"]),
    (dict(name="lenet_modern"), dict(name="lenet"), ["lenet_modern(", "lenet("]),
    (dict(input_size=16), dict(input_size=12), ["input_size=16", "(120, 64)", "(120, 16)"]),
])
def test_loading_another_models_checkpoint_changes_nothing(tmp_path, make_loader, saved, loading, words):
    path = lenet_trainer(tmp_path, make_loader, **saved)
    args = dict(num_classes=4, input_size=12) | loading
    trainer = Trainer(cnnlib.create_model(args.pop("name", "lenet"), **args), quiet(momentum=0.9))
    trainer.fit(make_loader(16, shape=(1, 12, 12)), epochs=1)
    trainer._last_train_loader = None
    before = snapshot(trainer)
    with pytest.raises(CheckpointError) as err:
        trainer.load(path)
    assert str(path) in str(err.value) and "Nothing was changed" in str(err.value)
    for word in words:
        assert word in str(err.value)
    assert_unchanged(before, trainer)


def test_loading_an_sgd_checkpoint_into_an_adam_trainer_changes_nothing(tmp_path, make_loader):
    path = lenet_trainer(tmp_path, make_loader)
    trainer = Trainer(cnnlib.create_model("lenet", num_classes=4, input_size=12), quiet(optimizer="adam"))
    before = snapshot(trainer)
    with pytest.raises(CheckpointError, match="saved with a SGD optimizer; this trainer uses Adam"):
        trainer.load(path)
    assert_unchanged(before, trainer)


def test_a_load_that_fails_half_way_is_rolled_back(tmp_path, make_loader):
    # Same model and optimizer type, but the optimizer holds only some of the parameters:
    # torch refuses the optimizer state after the weights were already copied.
    path = lenet_trainer(tmp_path, make_loader)
    model = cnnlib.create_model("lenet", num_classes=4, input_size=12)
    optimizer = torch.optim.SGD(model.classifier.parameters(), lr=0.1, momentum=0.9)
    trainer = Trainer(model, quiet(), optimizer=optimizer)
    before = snapshot(trainer)
    with pytest.raises(CheckpointError, match=r"does not fit this trainer.*nothing was changed"):
        trainer.load(path)
    assert_unchanged(before, trainer)


def test_scheduler_mismatches_are_refused(tmp_path, make_loader):
    path = lenet_trainer(tmp_path, make_loader)
    model = cnnlib.create_model("lenet", num_classes=4, input_size=12)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    trainer = Trainer(model, quiet(), optimizer=opt, scheduler=torch.optim.lr_scheduler.StepLR(opt, 1))
    with pytest.raises(CheckpointError, match="trained without a scheduler"):
        trainer.load(path)


# -- NaN never reaches a checkpoint -----------------------------------------------------
class NaNAt:
    """Cross-entropy that returns NaN on its ``at``-th call (1-based)."""

    def __init__(self, at):
        self.at, self.calls = at, 0

    def __call__(self, logits, labels):
        self.calls += 1
        loss = F.cross_entropy(logits, labels)
        return loss * float("nan") if self.calls == self.at else loss


@pytest.mark.parametrize("check_every", [1, 50])
def test_a_hook_that_saves_every_step_never_overwrites_the_last_good_checkpoint(
        tmp_path, tiny_cnn, make_loader, check_every):
    path = tmp_path / "latest.pt"
    saved_steps, seen = [], []

    def save_every_step(trainer, step, loss):
        seen.append(loss.item())
        trainer.save(path)
        saved_steps.append(step)

    trainer = Trainer(tiny_cnn(), quiet(epochs=2, check_every=check_every), loss_fn=NaNAt(3),
                      hooks={"on_step_end": save_every_step})
    with pytest.raises(FloatingPointError, match="loss became nan at epoch 1, step 3"):
        trainer.fit(make_loader(40, batch_size=8))
    assert saved_steps == [1, 2]
    if check_every == 1:  # the check runs before the hooks: they never see the NaN
        assert len(seen) == 2 and all(math.isfinite(v) for v in seen)
    good = Trainer(tiny_cnn(), quiet()).load(path)
    assert good.step == 2
    assert all(torch.isfinite(p).all() for p in good.model.parameters())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.pt"]


def test_save_refuses_non_finite_weights_and_keeps_the_old_file(tmp_path, tiny_cnn, make_loader):
    trainer = Trainer(tiny_cnn(), quiet(epochs=1))
    trainer.fit(make_loader())
    trainer.save(tmp_path / "ckpt.pt")
    good = (tmp_path / "ckpt.pt").read_bytes()
    with torch.no_grad():
        trainer.model[4].weight[0, 0] = float("inf")
    with pytest.raises(FloatingPointError, match=r"refusing to save .*ckpt\.pt: model\.4\.weight hold NaN or inf"):
        trainer.save(tmp_path / "ckpt.pt")
    assert (tmp_path / "ckpt.pt").read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]


# -- a checkpoint taken inside an epoch resumes exactly ----------------------------------
class DropoutNet(nn.Module):
    """Batch norm and dropout: a resumed run matches only if every state is restored."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                 nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.3), nn.Linear(64, 4))

    def forward(self, x):
        return self.net(x)


def dropout_run(make_loader, *, hooks=None, seed=0):
    torch.manual_seed(seed)
    model = DropoutNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    trainer = Trainer(model, quiet(epochs=3), optimizer=opt,
                      scheduler=torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5), hooks=hooks)
    loader = make_loader(44, batch_size=8, shuffle=True, seed=3)  # 6 batches, the last of 4
    return trainer, loader, make_loader(20, batch_size=8, data_seed=1)


@pytest.fixture
def uninterrupted(make_loader):
    trainer, loader, val = dropout_run(make_loader)
    trainer.fit(loader, val)
    return trainer


def same_run(a, b):
    sa, sb = a.model.state_dict(), b.model.state_dict()
    keys = set(a.history) - {"seconds"}
    return (all(torch.equal(sa[k], sb[k]) for k in sa) and (a.epoch, a.step) == (b.epoch, b.step)
            and all(np.array_equal(a.history[k], b.history[k]) for k in keys))


@pytest.mark.parametrize("at_step", [1, 8, 12, 17])  # in epochs 1, 2 (mid), 2 (last batch), 3
def test_a_checkpoint_saved_mid_epoch_resumes_bit_for_bit(tmp_path, make_loader, uninterrupted, at_step):
    path = tmp_path / "mid.pt"

    def save_at(trainer, step, loss):
        if step == at_step:
            trainer.save(path)

    first, loader, val = dropout_run(make_loader, hooks={"on_step_end": save_at})
    first.fit(loader, val)
    assert same_run(first, uninterrupted)  # saving changes nothing
    resumed, loader, val = dropout_run(make_loader, seed=99)
    resumed.load(path)
    assert resumed.step == at_step
    resumed.fit(loader, val)
    assert resumed.step == uninterrupted.step == 18
    assert same_run(resumed, uninterrupted)


def test_fit_after_an_interruption_goes_on_at_the_next_batch(tmp_path, make_loader, uninterrupted):
    def interrupt(trainer, step, loss):
        if step == 9:
            raise KeyboardInterrupt

    trainer, loader, val = dropout_run(make_loader, hooks={"on_step_end": interrupt})
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(loader, val)
    trainer.hooks["on_step_end"] = []
    trainer.save(tmp_path / "interrupted.pt")  # a checkpoint right after Ctrl-C is exact too
    trainer.fit(loader, val)
    assert same_run(trainer, uninterrupted)
    resumed, loader, val = dropout_run(make_loader, seed=5)
    resumed.load(tmp_path / "interrupted.pt").fit(loader, val)
    assert same_run(resumed, uninterrupted)


def test_no_checkpoint_in_the_middle_of_a_step(tmp_path, tiny_cnn, make_loader):
    trainer = Trainer(tiny_cnn(), quiet(epochs=1),
                      hooks={"after_backward": lambda t, step: t.save(tmp_path / "x.pt")})
    with pytest.raises(CheckpointError, match="middle of a training step.*on_step_end"):
        trainer.fit(make_loader())
    assert not any(tmp_path.iterdir())


def test_mid_epoch_checkpoint_needs_a_loader_that_can_rewind(tmp_path, tiny_cnn, make_loader):
    batches = list(make_loader())  # a plain list of batches has no state_dict
    trainer = Trainer(tiny_cnn(), quiet(epochs=1),
                      hooks={"on_step_end": lambda t, step, loss: t.save(tmp_path / "x.pt")})
    with pytest.raises(CheckpointError, match="list cannot. Save between epochs"):
        trainer.fit(batches)
    trainer = Trainer(tiny_cnn(), quiet(epochs=1),
                      hooks={"on_epoch_end": lambda t, epoch, m: t.save(tmp_path / "x.pt")})
    trainer.fit(batches)  # between epochs it works
    assert Trainer(tiny_cnn(), quiet()).load(tmp_path / "x.pt").epoch == 1


# -- damaged files are caught, and named ------------------------------------------------
@pytest.fixture
def saved(tmp_path, tiny_cnn, make_loader):
    trainer = Trainer(tiny_cnn(), quiet(epochs=1))
    trainer.fit(make_loader())
    trainer.save(tmp_path / "ckpt.pt")
    return tmp_path / "ckpt.pt"


def test_one_flipped_bit_in_a_tensor_is_detected(saved, tiny_cnn):
    with zipfile.ZipFile(saved) as zf:  # torch.save writes a zip with stored tensor records
        info = next(i for i in zf.infolist() if "/data/" in i.filename and i.file_size >= 64)
    raw = bytearray(saved.read_bytes())
    with open(saved, "rb") as f:  # the record's data starts after its local header
        f.seek(info.header_offset + 26)
        name_len, extra_len = np.frombuffer(f.read(4), dtype="<u2")
    start = info.header_offset + 30 + int(name_len) + int(extra_len)
    raw[start + 5] ^= 0x10
    saved.write_bytes(bytes(raw))
    trainer = Trainer(tiny_cnn(seed=1), quiet())
    before = snapshot(trainer)
    with pytest.raises(CheckpointError, match=rf"{saved}.*corrupted.*digest"):
        trainer.load(saved)
    assert_unchanged(before, trainer)


@pytest.mark.parametrize("damage", ["truncated", "empty", "text", "random bytes", "a list",
                                    "format 1", "missing entry"])
def test_unreadable_or_foreign_files_get_an_error_naming_the_path(saved, tiny_cnn, damage):
    data = saved.read_bytes()
    if damage == "truncated":
        saved.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        saved.write_bytes(b"")
    elif damage == "text":
        saved.write_text("epoch,loss\n1,0.5\n")
    elif damage == "random bytes":
        saved.write_bytes(np.random.default_rng(0).bytes(4096))
    elif damage == "a list":
        torch.save([1, 2, 3], saved)
    elif damage == "format 1":
        torch.save({"format": 1, "model": {}}, saved)
    else:
        ckpt = torch.load(saved, weights_only=True)
        del ckpt["rng"]
        torch.save(ckpt, saved)
    for load in (lambda: Trainer(tiny_cnn(), quiet()).load(saved),
                 lambda: Trainer.from_checkpoint(saved)):
        with pytest.raises(CheckpointError) as err:
            load()
        assert str(saved) in str(err.value)


def test_a_missing_file_is_named(tmp_path, tiny_cnn):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nope.pt")):
        Trainer(tiny_cnn(), quiet()).load(tmp_path / "nope.pt")


# -- which settings win on load -----------------------------------------------------------
def test_the_checkpoints_learning_rate_wins_and_a_warning_says_so(tmp_path, tiny_cnn, make_loader):
    first = Trainer(tiny_cnn(), quiet(epochs=1, lr=0.1))
    first.fit(make_loader())
    first.save(tmp_path / "ckpt.pt")
    trainer = Trainer(tiny_cnn(), quiet(epochs=2, lr=0.001))
    with pytest.warns(UserWarning, match=r"replace this trainer's: lr 0.1 instead of 0.001"):
        trainer.load(tmp_path / "ckpt.pt")
    assert trainer.optimizer.param_groups[0]["lr"] == 0.1


def test_no_warning_when_only_a_scheduler_moved_the_learning_rate(tmp_path, make_loader):
    def build():
        torch.manual_seed(0)
        model = DropoutNet()
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        return Trainer(model, quiet(epochs=2), optimizer=opt,
                       scheduler=torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5))
    first = build()
    first.fit(make_loader(16), epochs=1)
    first.save(tmp_path / "ckpt.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build().load(tmp_path / "ckpt.pt")


# -- temporary files ----------------------------------------------------------------------
def test_a_tmp_file_left_by_a_killed_save_is_reported_and_replaced(tmp_path, tiny_cnn, make_loader):
    trainer = Trainer(tiny_cnn(), quiet(epochs=1))
    trainer.fit(make_loader())
    (tmp_path / "ckpt.pt.tmp").write_bytes(b"half a checkpoint")
    with pytest.warns(UserWarning, match=r"ckpt\.pt\.tmp was left by an earlier save"):
        trainer.save(tmp_path / "ckpt.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]
    assert Trainer(tiny_cnn(), quiet()).load(tmp_path / "ckpt.pt").step == 5


def test_a_save_that_fails_leaves_no_tmp_and_the_old_file(tmp_path, tiny_cnn, make_loader, monkeypatch):
    trainer = Trainer(tiny_cnn(), quiet(epochs=2))
    trainer.fit(make_loader(), epochs=1)
    trainer.save(tmp_path / "ckpt.pt")
    good = (tmp_path / "ckpt.pt").read_bytes()
    trainer.fit(make_loader())

    def disk_full(obj, f):
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        trainer.save(tmp_path / "ckpt.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]
    assert (tmp_path / "ckpt.pt").read_bytes() == good


def test_saving_into_a_missing_folder_names_it(tmp_path, tiny_cnn):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "no" / "such")):
        Trainer(tiny_cnn(), quiet()).save(tmp_path / "no" / "such" / "ckpt.pt")


# -- bad inputs to fit / evaluate / predict -----------------------------------------------
def test_labels_outside_the_models_classes_are_named_before_anything_changes(make_loader):
    model = cnnlib.create_model("lenet_modern", num_classes=3, input_size=12)
    trainer = Trainer(model, quiet(epochs=1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loader = make_loader(16, shape=(1, 12, 12), num_classes=4)  # labels 0..3, 3 classes
    with pytest.raises(ValueError, match=r"train_loader's labels from 0 to 3, but the model outputs 3 "
                                         r"class scores.*num_classes=4"):
        trainer.fit(loader)
    # Batch-norm statistics, weights and counters are untouched.
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert trainer.step == 0
    for call in (trainer.evaluate, trainer.predict):
        with pytest.raises(ValueError, match="labels must lie in \\[0, 2\\]"):
            call(loader)


def test_a_bad_label_in_a_later_batch_is_named_too(tiny_cnn, make_loader):
    batches = list(make_loader(24, batch_size=8))
    x, y = batches[2]
    batches[2] = (x, torch.full_like(y, 9))
    with pytest.raises(ValueError, match="labels from 9 to 9.*4 class scores") as err:
        Trainer(tiny_cnn(), quiet(epochs=1)).fit(batches)
    assert isinstance(err.value.__cause__, IndexError)  # torch's own error stays attached


@pytest.mark.parametrize("batch, error, match", [
    ((torch.rand(8, 8, 8), torch.zeros(8, dtype=torch.long)), ValueError, r"\(8, 8, 8\).*\(N, C, H, W\).*unsqueeze\(1\)"),
    ((torch.randint(0, 255, (8, 1, 8, 8), dtype=torch.uint8), torch.zeros(8, dtype=torch.long)), TypeError, "torch.uint8.*floating"),
    ((torch.rand(8, 1, 8, 8), torch.zeros(8)), TypeError, "labels of dtype torch.float32"),
    ((torch.rand(8, 1, 8, 8), torch.zeros(8, 1, dtype=torch.long)), ValueError, r"labels of shape \(8, 1\)"),
    ((torch.rand(8, 1, 8, 8), torch.zeros(7, dtype=torch.long)), ValueError, r"labels of shape \(7,\)"),
    ((np.zeros((8, 1, 8, 8), np.float32), torch.zeros(8, dtype=torch.long)), TypeError, "pairs of tensors, got \\(ndarray"),
])
def test_bad_batches_get_a_message_that_says_what_is_expected(tiny_cnn, batch, error, match):
    for run in ("fit", "evaluate", "predict"):
        trainer = Trainer(tiny_cnn(), quiet(epochs=1))
        with pytest.raises(error, match=match):
            getattr(trainer, run)([batch])


def test_empty_loaders_are_refused(tiny_cnn):
    trainer = Trainer(tiny_cnn(), quiet())
    for call in (trainer.fit, trainer.evaluate, trainer.predict):
        with pytest.raises(ValueError, match="no batches"):
            call([])


def test_trainer_arguments_are_checked(tiny_cnn):
    model = tiny_cnn()
    with pytest.raises(ValueError, match="not parameters of this model"):
        Trainer(model, quiet(), optimizer=torch.optim.SGD(tiny_cnn().parameters(), lr=0.1))
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer"):
        Trainer(model, quiet(), optimizer="sgd")
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        Trainer(model, quiet(), loss_fn="cross_entropy")
    with pytest.raises(TypeError, match="train_loader must be a loader with a length"):
        Trainer(model, quiet()).fit(iter([]))
    with pytest.raises(ValueError, match="epochs must be a positive int, got True"):
        Trainer(model, quiet()).fit([], epochs=True)


# -- non-finite evaluation, divergence -----------------------------------------------------
def test_a_nan_validation_loss_stops_fit_with_the_epoch_named(tiny_cnn, make_loader):
    stopper = EarlyStopping(patience=1)
    x, y = next(iter(make_loader(16, batch_size=16)))
    x = x.clone()
    x[3, 0, 0, 0] = float("nan")
    trainer = Trainer(tiny_cnn(), quiet(epochs=3), hooks=stopper.hooks())
    with pytest.raises(FloatingPointError, match=r"after training epoch 1, on val_loader: evaluation "
                                                 r"loss is nan on batch 2 of 2"):
        trainer.fit(make_loader(), [next(iter(make_loader(16, batch_size=16))), (x, y)])
    assert trainer.history["val_loss"] == []  # nothing recorded, so EarlyStopping saw nothing
    with pytest.raises(FloatingPointError, match="evaluation loss is nan on batch 1 of 1"):
        trainer.evaluate([(x, y)])


def test_a_diverging_run_is_stopped_where_the_loss_passes_the_limit(make_loader):
    # The case: classic LeNet at lr 1e6 keeps finite losses around 1e7 for epochs.
    losses = []

    def recording_loss(logits, labels):
        loss = F.cross_entropy(logits, labels)
        losses.append(loss.item())
        return loss

    loader = make_loader(64, shape=(1, 28, 28), num_classes=10, batch_size=16)
    torch.manual_seed(0)
    trainer = Trainer(cnnlib.create_model("lenet"), quiet(epochs=3, lr=1e6), loss_fn=recording_loss)
    with pytest.raises(FloatingPointError) as err:
        trainer.fit(loader)
    first_bad = next(i for i, v in enumerate(losses) if v > 100 * losses[0])
    epoch, step = divmod(first_bad, 4)
    assert f"at epoch {epoch + 1}, step {step + 1} of that epoch" in str(err.value)
    assert "diverged" in str(err.value) and "divergence_factor=None" in str(err.value)
    assert all(math.isfinite(v) for v in losses)  # no NaN guard would have fired
    # Switched off, the same run goes on to the end at absurd losses.
    torch.manual_seed(0)
    losses.clear()
    history = Trainer(cnnlib.create_model("lenet"), quiet(epochs=3, lr=1e6, divergence_factor=None),
                      loss_fn=recording_loss).fit(loader)
    assert len(history["epoch"]) == 3 and history["train_loss"][-1] > 100 * losses[0]


def test_an_ordinary_run_is_not_called_divergent(make_loader):
    history = Trainer(cnnlib.create_model("lenet", num_classes=4, input_size=12),
                      quiet(epochs=3, lr=0.9, check_every=1)).fit(make_loader(64, shape=(1, 12, 12)))
    assert len(history["epoch"]) == 3


# -- the edges of resuming (found in review) ----------------------------------------------
def test_a_checkpoint_from_on_epoch_start_resumes_exactly(tmp_path, make_loader, uninterrupted):
    path = tmp_path / "start.pt"

    def save_at_epoch_2(trainer, epoch):
        if epoch == 2:
            trainer.save(path)

    first, loader, val = dropout_run(make_loader, hooks={"on_epoch_start": save_at_epoch_2})
    first.fit(loader, val)
    resumed, loader, val = dropout_run(make_loader, seed=7)
    resumed.load(path).fit(loader, val)
    assert same_run(resumed, uninterrupted)


def test_an_error_in_on_epoch_start_is_the_error_you_see(tiny_cnn, make_loader):
    def fail(trainer, epoch):
        raise ValueError("my hook failed")

    trainer = Trainer(tiny_cnn(), quiet(epochs=1), hooks={"on_epoch_start": fail})
    with pytest.raises(ValueError, match="my hook failed"):
        trainer.fit(make_loader())
    assert (trainer._resume_position, trainer._pending_loader_state) == (None, None)


def test_a_fit_that_fails_before_its_first_step_leaves_no_resume_behind(tiny_cnn, make_loader):
    trainer = Trainer(tiny_cnn(num_classes=2), quiet(epochs=1))
    with pytest.raises(ValueError, match="labels"):
        trainer.fit(make_loader(num_classes=4))  # labels 0..3 for 2 classes
    assert (trainer._resume_position, trainer._pending_loader_state) == (None, None)
    trainer.fit(list(make_loader(num_classes=2)))  # a loader without state_dict is fine now
    assert trainer.step == 5


def test_resuming_with_another_loader_is_refused_and_the_position_kept(tmp_path, make_loader,
                                                                       uninterrupted):
    path = tmp_path / "mid.pt"
    first, loader, val = dropout_run(make_loader, hooks={
        "on_step_end": lambda t, step, loss: t.save(path) if step == 8 else None})
    first.fit(loader, val)
    resumed, loader, val = dropout_run(make_loader, seed=3)
    resumed.load(path)
    other = make_loader(44, batch_size=4, shuffle=True, seed=3)
    with pytest.raises(ValueError, match=r"stopped after batch 2 of an epoch of 6 batches \(44 "
                                         r"examples\), but this train_loader has 11 batches"):
        resumed.fit(other, val)
    resumed.fit(loader, val)  # the right loader still resumes exactly
    assert same_run(resumed, uninterrupted)


def test_a_divergence_before_an_interruption_is_still_reported(tiny_cnn, make_loader):
    class SpikeAt:
        def __init__(self, at):
            self.at, self.calls = at, 0

        def __call__(self, logits, labels):
            self.calls += 1
            loss = F.cross_entropy(logits, labels)
            return loss * 1e6 if self.calls == self.at else loss

    def interrupt(trainer, step, loss):
        if step == 3:
            raise KeyboardInterrupt

    trainer = Trainer(tiny_cnn(), quiet(epochs=2), loss_fn=SpikeAt(2), hooks={"on_step_end": interrupt})
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(make_loader())
    trainer.hooks["on_step_end"] = []
    with pytest.raises(FloatingPointError, match="at epoch 1, step 2 of that epoch.*diverged"):
        trainer.fit(make_loader())


def test_evaluate_in_a_hook_gives_every_module_its_mode_back(tmp_path, make_loader, uninterrupted):
    modes = []

    def look(trainer, step, loss):
        trainer.evaluate(make_loader(20, batch_size=8, data_seed=1))
        modes.append([m.training for m in trainer.model.modules()])

    first, loader, val = dropout_run(make_loader, hooks={"on_step_end": look})
    first.fit(loader, val)
    assert all(all(m) for m in modes)
    assert same_run(first, uninterrupted)  # evaluation changed nothing in training


def test_batch_norm_frozen_in_a_hook_stays_frozen(make_loader):
    def freeze(trainer, epoch):
        trainer.model.net[1].eval()

    trainer, loader, val = dropout_run(make_loader, hooks={"on_epoch_start": freeze})
    stats = trainer.model.net[1].running_mean.clone()
    trainer.fit(loader, val)
    assert torch.equal(trainer.model.net[1].running_mean, stats)


def test_a_scheduler_that_fails_once_does_not_skip_an_epoch(tiny_cnn, make_loader):
    model = tiny_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    calls = []

    def factor(epoch):
        calls.append(epoch)
        if len(calls) == 2:  # the first call is the scheduler's own, at construction
            raise RuntimeError("scheduler hiccup")
        return 1.0

    trainer = Trainer(model, quiet(epochs=3), optimizer=opt,
                      scheduler=torch.optim.lr_scheduler.LambdaLR(opt, factor))
    with pytest.raises(RuntimeError, match="hiccup"):
        trainer.fit(make_loader())
    trainer.fit(make_loader())
    assert trainer.history["epoch"] == [1, 2, 3] and trainer.step == 15


def test_from_checkpoint_takes_a_scheduler_and_a_config(tmp_path, make_loader):
    model = cnnlib.create_model("lenet", num_classes=4, input_size=12)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer = Trainer(model, quiet(epochs=2, lr=0.1), optimizer=opt,
                      scheduler=torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5))
    trainer.fit(make_loader(16, shape=(1, 12, 12)), epochs=1)
    trainer.save(tmp_path / "ckpt.pt")
    with pytest.raises(CheckpointError, match="scheduler=lambda optimizer"):
        Trainer.from_checkpoint(tmp_path / "ckpt.pt")
    rebuilt = Trainer.from_checkpoint(
        tmp_path / "ckpt.pt", config=quiet(epochs=2, lr=0.1, check_every=1),
        scheduler=lambda o: torch.optim.lr_scheduler.StepLR(o, 1, gamma=0.5))
    assert rebuilt.config.check_every == 1 and rebuilt.optimizer.param_groups[0]["lr"] == 0.05


def test_changed_scheduler_settings_are_named_in_the_warning(tmp_path, tiny_cnn, make_loader):
    def build(gamma):
        model = tiny_cnn()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        return Trainer(model, quiet(epochs=2), optimizer=opt,
                       scheduler=torch.optim.lr_scheduler.StepLR(opt, 1, gamma=gamma))
    first = build(0.5)
    first.fit(make_loader(), epochs=1)
    first.save(tmp_path / "ckpt.pt")
    with pytest.warns(UserWarning, match="scheduler gamma 0.5 instead of 0.9"):
        build(0.9).load(tmp_path / "ckpt.pt")


def test_an_overflowing_evaluation_sum_is_reported(tiny_cnn, make_loader):
    def huge(logits, y):  # 1e38 per batch: finite, but 8 examples' worth overflow float32
        loss = F.cross_entropy(logits, y)
        return loss / loss.detach() * 1e38

    trainer = Trainer(tiny_cnn(), quiet(), loss_fn=huge)
    with pytest.raises(FloatingPointError, match="overflows"):
        trainer.evaluate(make_loader(16, batch_size=8))


def test_a_config_changed_after_it_was_built_is_checked_again(tiny_cnn, make_loader):
    config = quiet(epochs=1)
    trainer = Trainer(tiny_cnn(), config)
    config.grad_clip = -1.0
    with pytest.raises(ValueError, match="grad_clip must be a positive finite number or None, got -1.0"):
        trainer.fit(make_loader())
    config.grad_clip = None
    config.amp = "bogus"
    with pytest.raises(ValueError, match="unknown amp mode 'bogus'"):
        Trainer(tiny_cnn(), config)
