"""The validation split carved from the training images (fashion_mnist_loaders(val_size=...))."""
import pytest
import torch

import cnnlib
from cnnlib.data import FashionMNIST, Split


def unique_fashion(per_class_train=20, per_class_test=5):
    """A small FashionMNIST whose every image is unique: its id is written in its pixels,
    so that which images went where can be read back from any loader."""
    def split(per_class, offset):
        n = 10 * per_class
        ids = torch.arange(offset, offset + n)
        images = torch.zeros(n, 28, 28, dtype=torch.uint8)
        images[:, 0, 0], images[:, 0, 1] = ids // 256, ids % 256
        return Split(images, torch.arange(n) % 10)
    return FashionMNIST(split(per_class_train, 0), split(per_class_test, 5000), source="npm")


def ids(loader):
    pixels = loader.images[:, 0, 0, :2].long()  # the loader keeps uint8 images as they are
    return (pixels[:, 0] * 256 + pixels[:, 1]).tolist()


def loaders(**kwargs):
    return cnnlib.fashion_mnist_loaders(8, data=unique_fashion(), device="cpu", **kwargs)


def test_val_is_stratified_and_disjoint_from_train_and_everything_is_used():
    train, val, test = loaders(val_size=50)
    assert len(ids(val)) == 50 and len(set(ids(val))) == 50
    assert not set(ids(val)) & set(ids(train))
    assert sorted(ids(val) + ids(train)) == list(range(200))  # nothing lost or repeated
    assert torch.bincount(val.labels, minlength=10).tolist() == [5] * 10
    assert torch.bincount(train.labels, minlength=10).tolist() == [15] * 10
    assert ids(test) == list(range(5000, 5050))  # the test split is untouched
    assert not val.shuffle and train.shuffle and val.batch_size == test.batch_size == 256


def test_an_uneven_val_size_gives_the_remainder_to_the_first_classes():
    _, val, _ = loaders(val_size=13)
    assert torch.bincount(val.labels, minlength=10).tolist() == [2, 2, 2] + [1] * 7


def test_the_val_split_depends_on_val_seed_only():
    base = ids(loaders(val_size=30)[1])
    assert ids(loaders(val_size=30, seed=5)[1]) == base  # the run's seed leaves it alone
    assert ids(loaders(val_size=30, val_seed=1)[1]) != base
    assert ids(loaders(val_size=30, val_seed=1)[1]) == ids(loaders(val_size=30, val_seed=1)[1])


def test_train_size_is_drawn_from_what_the_val_split_leaves():
    train, val, _ = loaders(val_size=100, train_size=60)
    assert len(ids(train)) == 60 and not set(ids(train)) & set(ids(val))
    assert torch.bincount(train.labels, minlength=10).tolist() == [6] * 10
    with pytest.raises(ValueError, match=r"train_size must be an int in \[1, 100\] \(the train "
                                         r"split has 100 images left after the validation split\)"):
        loaders(val_size=100, train_size=101)


def test_without_val_size_nothing_changes():
    # Two loaders, the same batches as before the option existed (train_size from the
    # whole training split with the run's seed).
    train, test = loaders(train_size=40, seed=3)
    idx = cnnlib.data.stratified_subset(unique_fashion().train.labels, 40, seed=3)
    assert ids(train) == idx.tolist()


@pytest.mark.parametrize("val_size, error, match", [
    (0, ValueError, "val_size must be an int >= 1, got 0"),
    (200, ValueError, r"val_size must be an int in \[1, 199\] \(the train split has 200 images, "
                      "and some must remain for training\\)"),
    (2.5, ValueError, r"val_size must be an int >= 1, got 2\.5"),
    (True, ValueError, "val_size must be an int >= 1, got True"),
])
def test_bad_val_sizes_are_named(val_size, error, match):
    with pytest.raises(error, match=match):
        loaders(val_size=val_size)


def test_bad_val_seed_is_named():
    with pytest.raises(ValueError, match="val_seed must be an int"):
        loaders(val_size=10, val_seed=-1)


def test_val_on_the_real_data(fashion):
    train, val, test = cnnlib.fashion_mnist_loaders(256, val_size=5000, data=fashion, device="cpu")
    assert (len(train.labels), len(val.labels), len(test.labels)) == (55_000, 5_000, 10_000)
    assert torch.bincount(val.labels).tolist() == [500] * 10
