"""Confusion matrices and the book's figures (cnnlib.metrics, cnnlib.plot)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from cnnlib.metrics import confusion_matrix, most_confused
from cnnlib.plot import plot_confusion_matrix, plot_history, show_images


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# -- confusion_matrix ------------------------------------------------------------------
def _brute_force(preds, labels, k):
    cm = [[0] * k for _ in range(k)]
    for p, t in zip(preds.tolist(), labels.tolist()):
        cm[t][p] += 1
    return torch.tensor(cm)


@pytest.mark.parametrize("n, k", [(1, 2), (50, 4), (333, 10)])
def test_confusion_matrix_counts_like_a_double_loop(n, k):
    g = torch.Generator().manual_seed(n)
    labels = torch.randint(0, k, (n,), generator=g)
    preds = torch.randint(0, k, (n,), generator=g)
    cm = confusion_matrix(preds, labels, k)
    assert cm.shape == (k, k) and cm.dtype == torch.int64
    assert torch.equal(cm, _brute_force(preds, labels, k))
    assert int(cm.sum()) == n
    assert torch.equal(cm.sum(dim=1), torch.bincount(labels, minlength=k))  # rows are true classes


def test_confusion_matrix_accepts_logits_and_lists():
    logits = torch.tensor([[2.0, 0.1, 0.3], [0.0, -1.0, 5.0], [0.2, 0.9, 0.1], [3.0, 0.0, 0.0]])
    labels = torch.tensor([0, 1, 1, 2])
    expected = torch.tensor([[1, 0, 0], [0, 1, 1], [1, 0, 0]])
    assert torch.equal(confusion_matrix(logits, labels, 3), expected)
    assert torch.equal(confusion_matrix([0, 2, 1, 0], [0, 1, 1, 2], 3), expected)


def test_confusion_matrix_of_nothing_is_zero():
    empty = torch.zeros(0, dtype=torch.long)
    assert torch.equal(confusion_matrix(empty, empty, 3), torch.zeros(3, 3, dtype=torch.long))


@pytest.mark.parametrize("preds, labels", [
    ([0, 1, 3], [0, 1, 2]), ([0, 1, 2], [0, 3, 2]), ([0, -1, 2], [0, 1, 2]), ([0, 1, 2], [-1, 1, 2]),
])
def test_confusion_matrix_rejects_out_of_range_classes(preds, labels):
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        confusion_matrix(torch.tensor(preds), torch.tensor(labels), 3)


@pytest.mark.parametrize("preds, labels", [
    (torch.zeros(4, dtype=torch.long), torch.zeros(5, dtype=torch.long)),
    (torch.zeros(2, 3, 3), torch.zeros(2, dtype=torch.long)),
    (torch.zeros(3, 4), torch.zeros(4, dtype=torch.long)),  # logits for 3 examples, 4 labels
])
def test_confusion_matrix_rejects_shape_mismatches(preds, labels):
    with pytest.raises(ValueError, match="matching 1-D"):
        confusion_matrix(preds, labels, 4)


# -- most_confused ---------------------------------------------------------------------
def _brute_force_most_confused(cm, names, k):
    cells = [(int(cm[i, j]), i, j) for i in range(len(cm)) for j in range(len(cm)) if i != j and cm[i, j] > 0]
    cells.sort(key=lambda c: -c[0])
    return [(names[i], names[j], v) for v, i, j in cells[:k]]


def test_most_confused_returns_the_largest_off_diagonal_cells_in_order():
    cm = torch.tensor([[90, 7, 0, 2], [1, 80, 12, 0], [30, 0, 60, 5], [0, 3, 0, 99]])
    names = ["a", "b", "c", "d"]
    assert most_confused(cm, names, k=3) == [("c", "a", 30), ("b", "c", 12), ("a", "b", 7)]
    for k in (1, 4, 7, 100):
        assert most_confused(cm, names, k=k) == _brute_force_most_confused(cm, names, k)
    assert most_confused(cm, k=2) == [("2", "0", 30), ("1", "2", 12)]  # default names
    assert most_confused(cm, names) == _brute_force_most_confused(cm, names, 5)  # k defaults to 5
    assert torch.equal(cm[0], torch.tensor([90, 7, 0, 2]))  # the input is not modified


def test_most_confused_of_a_perfect_classifier_is_empty():
    assert most_confused(torch.diag(torch.tensor([5, 6, 7]))) == []


# -- figures ---------------------------------------------------------------------------
def _history(epochs=3, val=True):
    nan = float("nan")
    return {"epoch": list(range(1, epochs + 1)),
            "train_loss": [1 / e for e in range(1, epochs + 1)],
            "train_acc": [0.5 + 0.1 * e for e in range(epochs)],
            "val_loss": [1.2 / e if val else nan for e in range(1, epochs + 1)],
            "val_acc": [0.45 + 0.1 * e if val else nan for e in range(epochs)],
            "seconds": [1.0] * epochs}


def _assert_labelled(ax):
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()


def test_plot_history_of_one_run():
    fig = plot_history(_history(), title="LeNet")
    assert isinstance(fig, Figure) and fig._suptitle.get_text() == "LeNet"
    ax_loss, ax_acc = fig.axes
    for ax in (ax_loss, ax_acc):
        _assert_labelled(ax)
        assert len(ax.lines) == 2  # train and test
    assert ax_loss.get_ylabel() == "loss" and ax_acc.get_ylabel() == "accuracy"
    assert list(ax_loss.lines[0].get_ydata()) == _history()["train_loss"]
    assert list(ax_acc.lines[1].get_ydata()) == _history()["val_acc"]


def test_plot_history_compares_runs_and_skips_missing_validation():
    fig = plot_history({"sigmoid": _history(val=False), "relu": _history(5)})
    ax_loss, ax_acc = fig.axes
    assert len(ax_loss.lines) == 3  # sigmoid train, relu train, relu test
    labels = [t.get_text() for t in ax_loss.get_legend().get_texts()]
    assert labels == ["sigmoid train", "relu train", "relu test"]
    assert fig._suptitle.get_text()


@pytest.mark.parametrize("bad", [{}, [], None, {"a": {"loss": [1]}}, {"a": _history(), "b": 3}])
def test_plot_history_rejects_what_is_not_a_history(bad):
    with pytest.raises(TypeError, match="history"):
        plot_history(bad)


@pytest.mark.parametrize("shape", [(5, 8, 8), (5, 1, 8, 8), (5, 3, 8, 8)])
def test_show_images(shape):
    images = torch.rand(*shape)
    names = [f"img {i}" for i in range(5)]
    fig = show_images(images, names, ncols=3, title="Samples", colors=["red"] * 5)
    assert isinstance(fig, Figure) and fig._suptitle.get_text() == "Samples"
    assert len(fig.axes) == 6  # 2 rows x 3 columns, the last one empty
    shown = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in shown] == names
    assert shown[0].images[0].get_array().shape == (8, 8) + ((3,) if shape[1] == 3 else ())
    np.testing.assert_allclose(shown[2].images[0].get_array(),
                               images[2].squeeze(0).permute(*((1, 2, 0) if shape[1] == 3 else (0, 1))).numpy())


@pytest.mark.parametrize("images, labels, match", [
    (torch.zeros(0, 8, 8), None, "non-empty"), (torch.zeros(8, 8), None, "non-empty"),
    (torch.zeros(3, 8, 8), ["a", "b"], "2 labels for 3 images"),
])
def test_show_images_rejects_bad_input(images, labels, match):
    with pytest.raises(ValueError, match=match):
        show_images(images, labels)


def test_show_images_rejects_two_channel_images():
    with pytest.raises(ValueError):
        show_images(torch.zeros(3, 2, 8, 8))


def test_plot_confusion_matrix_normalizes_rows():
    cm = torch.tensor([[8, 2, 0], [1, 1, 2], [0, 0, 0]])
    fig = plot_confusion_matrix(cm, ["a", "b", "c"], title="LeNet on test")
    ax = fig.axes[0]
    _assert_labelled(ax)
    assert ax.get_title() == "LeNet on test"
    values = np.asarray(ax.images[0].get_array())
    np.testing.assert_allclose(values.sum(axis=1), [1, 1, 0])  # an empty row stays zero
    np.testing.assert_allclose(values[0], [0.8, 0.2, 0.0])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    counts = plot_confusion_matrix(cm, ["a", "b", "c"], normalize=False)
    np.testing.assert_array_equal(np.asarray(counts.axes[0].images[0].get_array()), cm.numpy())
    texts = {t.get_text() for t in counts.axes[0].texts}
    assert {"8", "2", "1", "0"} <= texts


@pytest.mark.parametrize("cm, names", [
    (torch.zeros(3, 4), ["a", "b", "c"]), (torch.zeros(3, 3), ["a", "b"]), (torch.zeros(3), ["a", "b", "c"]),
])
def test_plot_confusion_matrix_rejects_bad_input(cm, names):
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix(cm, names)
