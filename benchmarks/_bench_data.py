"""The benchmark's data: one split, served both to cnnlib and to d2l's torchvision loader.

d2l's ``load_data_fashion_mnist`` always reads torchvision's FashionMNIST from
``root="../data"``, relative to the working directory, and only checks that the four raw
files exist. So we write whatever split cnnlib loaded (the official files, or the npm
mirror's held-out split) into those files, in the IDX format torchvision reads, and run
d2l from a working directory whose ``../data`` is that folder.

Imported by the driver and inside the Jupyter kernels, so it imports nothing heavy at the
top (cnnlib only where the split is chosen).
"""
from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import numpy as np
import torch

BENCH_DIR = Path(__file__).resolve().parent

# torchvision's file names; the t10k files hold the test split.
_RAW_FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
# IDX magic numbers: two zero bytes, the element type (0x08 = unsigned byte), the number
# of dimensions. The dimensions follow as big-endian uint32, then the raw bytes.
_IDX_IMAGES = 0x00000803
_IDX_LABELS = 0x00000801
SUBSET_SEED = 0  # the same training subset for every trial and both implementations


def benchmark_split(train_size: int | None = None, source: str = "auto",
                    root: str | os.PathLike | None = None):
    """Fashion-MNIST as cnnlib loads it; optionally a fixed stratified training subset.

    Returns a ``cnnlib.data.FashionMNIST``. The test split is always kept whole.
    """
    from cnnlib.data import FashionMNIST, Split, load_fashion_mnist, stratified_subset

    ds = load_fashion_mnist(source, root)
    if train_size is None or train_size == len(ds.train):
        return ds
    idx = stratified_subset(ds.train.labels, train_size, seed=SUBSET_SEED)
    train = Split(ds.train.images[idx].contiguous(), ds.train.labels[idx].contiguous())
    return FashionMNIST(train, ds.test, source=ds.source)


def digest(images: torch.Tensor, labels: torch.Tensor) -> str:
    """sha256 of a split's pixels and labels, so that two processes can prove they agree."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(images.numpy(), dtype=np.uint8).tobytes())
    h.update(np.ascontiguousarray(labels.numpy(), dtype=np.int64).tobytes())
    return h.hexdigest()


def idx_bytes(array: np.ndarray) -> bytes:
    """An uint8 array of 1 (labels) or 3 (images) dimensions in IDX format."""
    if array.dtype != np.uint8 or array.ndim not in (1, 3):
        raise ValueError(f"expected uint8 labels (N,) or images (N, H, W), got {array.dtype} {array.shape}")
    magic = _IDX_IMAGES if array.ndim == 3 else _IDX_LABELS
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    return header + np.ascontiguousarray(array).tobytes()


def _write_if_changed(path: Path, payload: bytes) -> None:
    # A stale file from another split (say, a --train-size run) must never be reused, and
    # rewriting identical files on every run would only cost time.
    if path.is_file() and not path.is_symlink() and path.read_bytes() == payload:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, path)


def prepare_d2l_folder(data, official_raw: Path | None = None) -> Path:
    """Lay out ``data`` where d2l will read it; return the working directory to run d2l in.

    Layout: ``benchmarks/data/<tag>/cwd`` (the working directory) and
    ``benchmarks/data/<tag>/data/FashionMNIST/raw/*`` (what ``../data`` resolves to).
    ``official_raw``: the folder of the cached official files, used as they are (linked)
    when the split is the full official one.
    """
    tag = f"{data.source}-train{len(data.train)}"
    base = BENCH_DIR / "data" / tag
    cwd, raw = base / "cwd", base / "data" / "FashionMNIST" / "raw"
    cwd.mkdir(parents=True, exist_ok=True)
    raw.mkdir(parents=True, exist_ok=True)
    for (split_name, kind), name in _RAW_FILES.items():
        target = raw / name
        if official_raw is not None:
            source_file = (official_raw / name).resolve()
            if target.is_symlink() and target.resolve() == source_file:
                continue
            target.unlink(missing_ok=True)
            target.symlink_to(source_file)
            continue
        split = getattr(data, split_name)
        array = split.images if kind == "images" else split.labels
        _write_if_changed(target, idx_bytes(array.numpy().astype(np.uint8)))
    return cwd
