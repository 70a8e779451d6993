"""Ready-made Trainer hooks: GradNormLogger and EarlyStopping (cnnlib.hooks)."""
import copy
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch.nn.functional as F

from cnnlib import TrainConfig, Trainer
from cnnlib.hooks import EarlyStopping, GradNormLogger


# -- GradNormLogger --------------------------------------------------------------------
def test_one_norm_per_weight_per_step(tiny_cnn, make_loader):
    logger = GradNormLogger()
    trainer = Trainer(tiny_cnn(), TrainConfig(epochs=2, progress=False), hooks=logger.hooks())
    trainer.fit(make_loader(40, batch_size=8))  # 5 steps per epoch
    weights = [n for n, _ in trainer.model.named_parameters() if n.endswith("weight")]
    assert list(logger.norms) == weights == ["0.weight", "4.weight"]
    assert logger.steps == list(range(10))
    assert all(len(v) == 10 for v in logger.norms.values())
    assert all(isinstance(v, float) and v > 0 for vs in logger.norms.values() for v in vs)


def test_norms_match_a_manual_backward(tiny_cnn, make_loader):
    model = tiny_cnn()
    replica = copy.deepcopy(model)
    loader = make_loader(16, batch_size=8)  # unshuffled: the first batch is known
    logger = GradNormLogger(weights_only=False)
    Trainer(model, TrainConfig(epochs=1, progress=False), hooks=logger.hooks()).fit(loader)
    # The oracle: the first step's gradients, computed by hand on an untouched copy.
    x, y = next(iter(loader))
    F.cross_entropy(replica(x), y).backward()
    expected = {n: p.grad.double().pow(2).sum().sqrt().item() for n, p in replica.named_parameters()}
    assert list(logger.norms) == list(expected)  # biases too, with weights_only=False
    for name, value in expected.items():
        assert logger.norms[name][0] == pytest.approx(value, rel=1e-5)
    assert logger.norms["0.weight"][1] != logger.norms["0.weight"][0]  # step 2 differs


def test_every_n_steps(tiny_cnn, make_loader):
    logger = GradNormLogger(every=3)
    Trainer(tiny_cnn(), TrainConfig(epochs=2, progress=False), hooks=logger.hooks()).fit(
        make_loader(40, batch_size=8))
    assert logger.steps == [0, 3, 6, 9]
    assert all(len(v) == 4 for v in logger.norms.values())
    with pytest.raises(ValueError, match="every must be >= 1"):
        GradNormLogger(every=0)


def test_norms_are_flushed_at_each_epoch_end(tiny_cnn, make_loader):
    logger = GradNormLogger()
    sizes = []
    hooks = logger.hooks()
    trainer = Trainer(tiny_cnn(), TrainConfig(epochs=2, progress=False), hooks=hooks)
    trainer.add_hook("on_epoch_end", lambda t, e, m: sizes.append(len(logger.norms["0.weight"])))
    trainer.fit(make_loader(40, batch_size=8))
    assert sizes == [5, 10]


# -- EarlyStopping ---------------------------------------------------------------------
def _drive(stopper, values, key=None):
    """Feed one metric value per epoch; return the epoch at which it asked to stop (or None)."""
    trainer = SimpleNamespace(stop_training=False)
    for epoch, value in enumerate(values, start=1):
        stopper.on_epoch_end(trainer, epoch, {key or stopper.monitor: value})
        if trainer.stop_training:
            return epoch
    return None


@pytest.mark.parametrize("patience, values, stops_at", [
    (1, [1.0, 0.9, 0.95], 3),
    (3, [1.0, 0.9, 0.95, 0.95, 0.91], 5),
    (3, [1.0, 0.9, 0.95, 0.95, 0.89, 0.9, 0.9, 0.9], 8),  # an improvement resets the count
    (2, [1.0, 0.9, 0.8, 0.7, 0.6], None),
    (2, [1.0, 1.0, 1.0], 3),  # equal is not better
])
def test_early_stopping_on_a_loss(patience, values, stops_at):
    assert _drive(EarlyStopping("val_loss", patience=patience), values) == stops_at


def test_early_stopping_on_an_accuracy_wants_it_to_rise():
    assert _drive(EarlyStopping("val_acc", patience=2), [0.5, 0.6, 0.7, 0.65, 0.7]) == 5
    assert _drive(EarlyStopping("val_acc", patience=2), [0.5, 0.4, 0.3]) == 3
    assert _drive(EarlyStopping("train_acc", patience=2), [0.5, 0.6, 0.7, 0.8]) is None


def test_min_delta_ignores_tiny_improvements():
    stopper = EarlyStopping("val_loss", patience=2, min_delta=0.01)
    assert _drive(stopper, [1.0, 0.995, 0.991]) == 3
    assert stopper.best == 1.0
    assert _drive(EarlyStopping("val_loss", patience=2, min_delta=0.01), [1.0, 0.98, 0.96]) is None


def test_missing_metric_raises_a_clear_key_error():
    stopper = EarlyStopping("val_loss")
    with pytest.raises(KeyError, match="'val_loss'.*train_loss.*pass a val_loader to fit"):
        stopper.on_epoch_end(SimpleNamespace(stop_training=False), 1, {"train_loss": 1.0, "epoch": 1})


def test_missing_metric_through_the_trainer(tiny_cnn, make_loader):
    trainer = Trainer(tiny_cnn(), TrainConfig(epochs=3, progress=False), hooks=EarlyStopping().hooks())
    with pytest.raises(KeyError, match="pass a val_loader"):
        trainer.fit(make_loader())  # no val_loader: no val_loss


@pytest.mark.parametrize("kwargs, match", [(dict(patience=0), "patience"),
                                           (dict(monitor="val_f1"), "monitor")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EarlyStopping(**kwargs)


NAN, INF = float("nan"), float("inf")


# every=2.5 logged at steps 0, 5, 10 and every=nan never logged, silently.
@pytest.mark.parametrize("every", ["2", 2.5, 2.0, True, None, NAN, INF])
def test_grad_norm_logger_rejects_an_every_that_is_not_an_int(every):
    with pytest.raises(TypeError, match=re.escape(f"every must be an int >= 1, got {every!r}")):
        GradNormLogger(every=every)


@pytest.mark.parametrize("weights_only", ["no", None, 0, 1])
def test_grad_norm_logger_wants_a_bool_weights_only(weights_only):
    message = f"weights_only must be True or False, got {weights_only!r}"
    with pytest.raises(TypeError, match=re.escape(message)):
        GradNormLogger(weights_only=weights_only)


# patience=1.5 stopped after 2 epochs and patience=nan never stopped, silently.
@pytest.mark.parametrize("patience", [1.5, 2.0, "3", True, None, NAN, INF])
def test_early_stopping_rejects_a_patience_that_is_not_an_int(patience):
    with pytest.raises(TypeError, match=re.escape(f"patience must be an int >= 1, got {patience!r}")):
        EarlyStopping(patience=patience)


@pytest.mark.parametrize("min_delta", [-1, -0.01, NAN, INF])
def test_early_stopping_rejects_a_negative_or_non_finite_min_delta(min_delta):
    # A negative min_delta counted a worse epoch as progress; NaN and inf never saw any.
    with pytest.raises(ValueError, match=rf"min_delta must be a finite number >= 0.*got {min_delta}"):
        EarlyStopping(min_delta=min_delta)


@pytest.mark.parametrize("min_delta", ["0.1", None, True])
def test_early_stopping_rejects_a_min_delta_that_is_not_a_number(min_delta):
    with pytest.raises(TypeError, match=re.escape(f"min_delta must be a number >= 0, got {min_delta!r}")):
        EarlyStopping(min_delta=min_delta)


@pytest.mark.parametrize("monitor", [None, 3, b"val_loss", ["val_loss"]])
def test_early_stopping_rejects_a_monitor_that_is_not_a_str(monitor):
    with pytest.raises(TypeError, match=re.escape(f"monitor must be a metric name such as 'val_loss' "
                                                  f"or 'val_acc', got {monitor!r}")):
        EarlyStopping(monitor=monitor)


def test_early_stopping_still_takes_int_like_numbers():
    stopper = EarlyStopping("val_loss", patience=np.int64(2), min_delta=1)
    assert _drive(stopper, [3.0, 2.5, 2.1]) == 3  # neither step improves by 1
    assert GradNormLogger(every=np.int64(3)).every == 3


def test_early_stopping_stops_fit(tiny_cnn, make_loader):
    # With a learning rate of 1e-12 the validation loss cannot improve by min_delta after
    # the first epoch, so patience 2 stops after epoch 3 of 20.
    stopper = EarlyStopping("val_loss", patience=2, min_delta=1e-3)
    trainer = Trainer(tiny_cnn(), TrainConfig(epochs=20, lr=1e-12, progress=False), hooks=stopper.hooks())
    history = trainer.fit(make_loader(16, batch_size=8), make_loader(16, batch_size=8, data_seed=1))
    assert history["epoch"] == [1, 2, 3] and trainer.epoch == 3
    assert stopper.best == history["val_loss"][0] and stopper.bad_epochs == 2
    # And with a learning rate that lets it improve, it does not stop early.
    stopper = EarlyStopping("val_loss", patience=2, min_delta=1e-3)
    trainer = Trainer(tiny_cnn(), TrainConfig(epochs=4, lr=0.1, momentum=0.9, progress=False),
                      hooks=stopper.hooks())
    history = trainer.fit(make_loader(64, batch_size=8, shuffle=True), make_loader(16, batch_size=8, data_seed=1))
    assert history["epoch"] == [1, 2, 3, 4]
