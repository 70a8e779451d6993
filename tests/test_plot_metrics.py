"""Confusion matrices and the book's figures (cnnlib.metrics, cnnlib.plot)."""
import matplotlib

matplotlib.use("Agg")

import re

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


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("num_classes", [True, 3.0, 2.5, "3", None])
def test_confusion_matrix_rejects_a_num_classes_that_is_not_an_int(num_classes):
    message = f"num_classes must be an int >= 1, got {num_classes!r}"
    with pytest.raises(TypeError, match=re.escape(message)):
        confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 1]), num_classes)


@pytest.mark.parametrize("n", [0, 2])
@pytest.mark.parametrize("num_classes", [0, -1])
def test_confusion_matrix_rejects_fewer_than_one_class(num_classes, n):
    empty_or_zeros = torch.zeros(n, dtype=torch.long)  # 0 classes and 0 examples gave a 0x0 "cm"
    with pytest.raises(ValueError, match=f"num_classes must be >= 1, got {num_classes}"):
        confusion_matrix(empty_or_zeros, empty_or_zeros, num_classes)


def test_confusion_matrix_takes_integer_num_classes_of_any_kind():
    preds, labels = torch.tensor([0, 2, 1]), torch.tensor([0, 1, 1])
    expected = confusion_matrix(preds, labels, 3)
    for k in (np.int64(3), torch.tensor(3), labels.max() + 2):
        assert torch.equal(confusion_matrix(preds, labels, k), expected)
    assert torch.equal(confusion_matrix([], [], 3), torch.zeros(3, 3, dtype=torch.long))  # [] is float


@pytest.mark.parametrize("name, preds, labels", [
    ("labels", [0, 1, 2], [0.0, 1.5, 2.0]),  # 1.5 became class 1, silently
    ("labels", [0, 1, 2], [0.0, 1.0, 2.0]),
    ("preds", [0.2, 1.7, 1.0], [0, 1, 1]),  # probabilities or scores, not class indices
])
def test_confusion_matrix_rejects_float_class_indices(name, preds, labels):
    with pytest.raises(TypeError, match=f"{name} must hold integer class indices, got dtype torch.float"):
        confusion_matrix(torch.tensor(preds), torch.tensor(labels), 3)


@pytest.mark.parametrize("width", [2, 5])
def test_confusion_matrix_rejects_logits_for_another_number_of_classes(width):
    logits = torch.zeros(3, width)
    logits[:, 0] = 1  # every argmax lies in [0, 3): a width of 2 went through silently
    message = f"logits for {width} classes (shape (3, {width})), but num_classes=3"
    with pytest.raises(ValueError, match=re.escape(message)):
        confusion_matrix(logits, torch.tensor([0, 1, 2]), 3)


def test_confusion_matrix_rejects_nan_logits():
    logits = torch.tensor([[NAN, 0.0, 0.0], [0.0, 1.0, 0.0]])  # argmax picked the NaN: class 0
    with pytest.raises(ValueError, match="contain NaN"):
        confusion_matrix(logits, torch.tensor([1, 1]), 3)


@pytest.mark.parametrize("preds, labels, name", [(None, [0], "preds"), ("01", [0, 1], "preds"),
                                                 ([0], None, "labels")])
def test_confusion_matrix_rejects_what_is_not_a_tensor(preds, labels, name):
    with pytest.raises(TypeError, match=f"{name} must be a tensor, an array or a list of numbers, got"):
        confusion_matrix(preds, labels, 3)


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


_CM = torch.tensor([[5, 2, 1], [0, 4, 3], [1, 0, 6]])


@pytest.mark.parametrize("k", [2.5, 2.0, "2", True, None, NAN])
def test_most_confused_rejects_a_k_that_is_not_an_int(k):
    with pytest.raises(TypeError, match=re.escape(f"k must be an int >= 0, got {k!r}")):
        most_confused(_CM, k=k)


@pytest.mark.parametrize("k", [-1, -5])
def test_most_confused_rejects_a_negative_k(k):
    with pytest.raises(ValueError, match=f"k must be >= 0, got {k}"):
        most_confused(_CM, k=k)
    assert most_confused(_CM, k=0) == []  # zero items asked, zero given


@pytest.mark.parametrize("shape", [(3, 2), (2, 3), (3,), (2, 2, 2)])
def test_most_confused_rejects_a_matrix_that_is_not_square(shape):
    # (3, 2) returned diagonal cells such as ('1', '1', 1), silently.
    message = f"cm must be a square (C, C) confusion matrix, got shape {shape}"
    with pytest.raises(ValueError, match=re.escape(message)):
        most_confused(torch.ones(shape, dtype=torch.long))


@pytest.mark.parametrize("names", [["a", "b"], ["a", "b", "c", "d"], []])
def test_most_confused_wants_one_name_per_class(names):
    # [] fell back to "0", "1", ... silently; 4 names were taken as if they matched.
    with pytest.raises(ValueError, match=f"class_names has {len(names)} names for a 3x3 confusion matrix"):
        most_confused(_CM, names)


def test_most_confused_class_names_must_be_a_list_not_a_str():
    with pytest.raises(TypeError, match="class_names must be a list of names, one per class, got 'abc'"):
        most_confused(_CM, "abc")
    expected = most_confused(_CM, ["a", "b", "c"])
    assert most_confused(_CM, ("a", "b", "c")) == most_confused(_CM, np.array(["a", "b", "c"])) == expected


@pytest.mark.parametrize("cm, problem", [
    ([[1, -2], [3, 1]], "negative"), ([[1.0, NAN], [3.0, 1.0]], "NaN"), ([[1.0, INF], [3.0, 1.0]], "infinite"),
    ([[0.5, 0.25], [0.125, 0.125]], "fractional"),  # a normalized cm gave counts of 0
])
def test_most_confused_wants_counts(cm, problem):
    with pytest.raises(ValueError, match=f"cm must hold counts.*{problem}"):
        most_confused(torch.tensor(cm))


def test_most_confused_rejects_what_is_not_a_matrix():
    with pytest.raises(TypeError, match="cm must be a tensor, an array or a list of numbers, got NoneType"):
        most_confused(None)
    with pytest.raises(TypeError, match="cm must hold counts, got a bool tensor"):
        most_confused(torch.eye(2, dtype=torch.bool))


def test_most_confused_takes_counts_held_as_floats():
    assert most_confused(_CM.double(), k=2) == most_confused(_CM, k=2) == [("1", "2", 3), ("0", "1", 2)]


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
        assert len(ax.lines) == 2  # train and val
    assert ax_loss.get_ylabel() == "loss" and ax_acc.get_ylabel() == "accuracy (%)"
    assert list(ax_loss.lines[0].get_ydata()) == _history()["train_loss"]
    assert list(ax_acc.lines[1].get_ydata()) == [100 * a for a in _history()["val_acc"]]  # in %


def test_plot_history_compares_runs_and_skips_missing_validation():
    fig = plot_history({"sigmoid": _history(val=False), "relu": _history(5)})
    ax_loss, ax_acc = fig.axes
    assert len(ax_loss.lines) == 3  # sigmoid train, relu train, relu val
    labels = [t.get_text() for t in ax_loss.get_legend().get_texts()]
    assert labels == ["sigmoid train", "relu train", "relu val"]
    assert fig._suptitle.get_text()


@pytest.mark.parametrize("bad", [{}, [], None, {"a": {"loss": [1]}}, {"a": _history(), "b": 3}])
def test_plot_history_rejects_what_is_not_a_history(bad):
    with pytest.raises(TypeError, match="history"):
        plot_history(bad)


@pytest.mark.parametrize("label", ["", "relu"])
@pytest.mark.parametrize("key, values", [("train_acc", [0.5, 0.6]), ("val_loss", [1.0, 0.9]),
                                         ("val_acc", [])])
def test_plot_history_wants_one_value_per_epoch(label, key, values):
    history = {**_history(3), key: values}
    which = f"history {label!r}" if label else "the history"
    message = f"{which}: {key!r} has {len(values)} values for 3 epochs"
    with pytest.raises(ValueError, match=re.escape(message)):
        plot_history({label: history} if label else history)


@pytest.mark.parametrize("key", ["epoch", "val_loss", "train_acc"])
def test_plot_history_names_a_missing_curve(key):
    history = _history()
    del history[key]  # was a bare KeyError
    message = f"the history lacks [{key!r}]; pass the dict returned by Trainer.fit"
    with pytest.raises(ValueError, match=re.escape(message)):
        plot_history(history)


@pytest.mark.parametrize("values", [[None, None, None], "abc", [[1], [2], [3]]])
def test_plot_history_wants_numbers(values):
    message = f"'val_loss' must be a list of numbers (NaN for a missing value), got {values!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        plot_history({**_history(3), "val_loss": values})


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


_IMAGES, _NAMES = torch.rand(5, 8, 8), [f"img {i}" for i in range(5)]


@pytest.mark.parametrize("ncols", [0, -1])
def test_show_images_wants_at_least_one_column(ncols):
    with pytest.raises(ValueError, match=f"ncols must be >= 1, got {ncols}"):  # was a ZeroDivisionError
        show_images(_IMAGES, ncols=ncols)


@pytest.mark.parametrize("ncols", [2.5, 3.0, "3", None, True])
def test_show_images_wants_an_int_ncols(ncols):
    with pytest.raises(TypeError, match=re.escape(f"ncols must be an int >= 1, got {ncols!r}")):
        show_images(_IMAGES, ncols=ncols)


@pytest.mark.parametrize("scale", [0, -1, NAN, INF])
def test_show_images_wants_a_positive_scale(scale):
    with pytest.raises(ValueError, match=f"scale must be a finite number > 0, got {scale}"):
        show_images(_IMAGES, scale=scale)
    with pytest.raises(TypeError, match="scale must be a number > 0, got '1'"):
        show_images(_IMAGES, scale="1")


def test_show_images_labels_and_colors_must_be_lists():
    # A str is a sequence: "abcde" labelled five images 'a' to 'e'.
    with pytest.raises(TypeError, match="labels must be a list with one entry per image, got 'abcde'"):
        show_images(_IMAGES, "abcde")
    with pytest.raises(TypeError, match="colors must be a list with one entry per image, got 'green'"):
        show_images(_IMAGES, _NAMES, colors="green")


def test_show_images_wants_one_color_per_label():
    with pytest.raises(ValueError, match="got 3 colors for 5 images"):  # was an IndexError
        show_images(_IMAGES, _NAMES, colors=["red"] * 3)
    with pytest.raises(ValueError, match="colors are the colors of the labels: pass labels too"):
        show_images(_IMAGES, colors=["red"] * 5)  # was ignored, silently


def test_show_images_rejects_what_is_not_an_image_batch():
    with pytest.raises(TypeError, match="images must be a tensor, an array or a list of numbers, got NoneType"):
        show_images(None)
    assert len(show_images(np.random.rand(2, 8, 8, 3)).axes) == 2  # arrays still work


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


def test_confusion_matrix_colours_the_mistakes_not_the_diagonal():
    cm = torch.tensor([[90, 6, 4], [2, 97, 1], [10, 0, 90]])
    fig = plot_confusion_matrix(cm, ["a", "b", "c"])
    ax = fig.axes[0]
    assert ax.images[0].get_clim() == (0, pytest.approx(0.10))  # the largest mistake, not 0.97
    texts = [t.get_text() for t in ax.texts]
    assert texts[:3] == ["90", "6", "4"] and texts[5] == "1" and texts[7] == ""  # percents
    assert ax.texts[0].get_fontweight() == "bold" and ax.texts[1].get_fontweight() == "normal"


def test_two_line_titles_get_room_above_their_row():
    images = torch.rand(16, 8, 8)
    one = show_images(images, ["a"] * 16).get_size_inches()[1]
    two = show_images(images, ["a\n-> b"] * 16).get_size_inches()[1]
    assert two > one


@pytest.mark.parametrize("cm, names", [
    (torch.zeros(3, 4), ["a", "b", "c"]), (torch.zeros(3, 3), ["a", "b"]), (torch.zeros(3), ["a", "b", "c"]),
])
def test_plot_confusion_matrix_rejects_bad_input(cm, names):
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix(cm, names)


@pytest.mark.parametrize("cm, problem", [
    ([[1, -2], [0, 1]], "negative"), ([[1, NAN], [0, 1]], "NaN"), ([[1, INF], [0, 1]], "infinite"),
    ([[1.5, 0], [0, 1]], "fractional"),  # printed as "1"
    ([[0.5, 0.1], [0.2, 0.2]], "fractional"),  # fractions of all examples, drawn as fractions of a row
])
def test_plot_confusion_matrix_wants_counts(cm, problem):
    for normalize in (True, False):
        with pytest.raises(ValueError, match=f"cm must hold counts.*{problem}"):
            plot_confusion_matrix(torch.tensor(cm), ["a", "b"], normalize=normalize)


@pytest.mark.parametrize("names", [None, "ab"])
def test_plot_confusion_matrix_class_names_must_be_a_list(names):
    message = f"class_names must be a list of names, one per class, got {names!r}"
    with pytest.raises(TypeError, match=re.escape(message)):
        plot_confusion_matrix(torch.eye(2), names)


def test_plot_confusion_matrix_rejects_an_empty_matrix_and_a_non_bool_normalize():
    with pytest.raises(ValueError, match=re.escape("cm is empty (0 classes)")):  # was a torch max() error
        plot_confusion_matrix(torch.zeros(0, 0), [])
    with pytest.raises(TypeError, match="normalize must be True or False, got 'no'"):  # "no" normalized
        plot_confusion_matrix(torch.eye(2), ["a", "b"], normalize="no")
    with pytest.raises(TypeError, match="cm must be a tensor"):
        plot_confusion_matrix(None, ["a", "b"])
