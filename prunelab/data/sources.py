"""Readers for the datasets' on-disk layouts. Each returns uint8 images (N, C, H, W) + int64 labels."""
from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import torch

from ..errors import PrunelabError

FASHION_SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def data_root(data: str | os.PathLike | None) -> Path | None:
    """``--data`` if given, else ``$PRUNELAB_DATA``, else None."""
    d = data or os.environ.get("PRUNELAB_DATA")
    return Path(d).expanduser() if d else None


# --- Fashion-MNIST: gzipped idx files ---------------------------------------------------------

def _read_idx(path: Path, ndim: int) -> np.ndarray:
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise PrunelabError(f"cannot read idx file {path}: {e}")
    if len(raw) < 4 + 4 * ndim:
        raise PrunelabError(f"{path} is not an idx file (too short)")
    zero, dtype, dims = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08 or dims != ndim:
        raise PrunelabError(f"{path} is not a uint8 idx file with {ndim} dimensions")
    shape = struct.unpack(">" + "I" * ndim, raw[4: 4 + 4 * ndim])
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise PrunelabError(f"{path}: expected {int(np.prod(shape))} values, found {body.size}")
    return body.reshape(shape)


def fashion_dir(data: str | os.PathLike | None) -> Path:
    root = data_root(data)
    candidates = [root, root / "fashion-mnist"] if root else [Path(FASHION_SYSTEM_DIR)]
    for c in candidates:
        if (c / FASHION_FILES["train"][0]).is_file():
            return c
    where = root if root else Path(FASHION_SYSTEM_DIR)
    raise PrunelabError(
        f"Fashion-MNIST not found in {where} (need {FASHION_FILES['train'][0]} etc.); "
        "install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or pass --data DIR"
    )


def load_fashion(data) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    d = fashion_dir(data)
    out = {}
    for split, (img, lab) in FASHION_FILES.items():
        if not (d / img).is_file() or not (d / lab).is_file():
            raise PrunelabError(f"Fashion-MNIST folder {d} lacks {img} or {lab}")
        x = _read_idx(d / img, 3)
        y = _read_idx(d / lab, 1)
        if len(x) != len(y):
            raise PrunelabError(f"{d}: {len(x)} {split} images but {len(y)} labels")
        out[split] = (torch.from_numpy(x.copy()).unsqueeze(1), torch.from_numpy(y.astype(np.int64)))
    return out


# --- CIFAR: the python-pickle folders ---------------------------------------------------------

class _SafeUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only: a data file never runs code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            d = _SafeUnpickler(f, encoding="bytes").load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError) as e:
        raise PrunelabError(f"cannot read CIFAR batch {path}: {e}")
    if not isinstance(d, dict):
        raise PrunelabError(f"{path} is not a CIFAR batch (not a dict)")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}


CIFAR_LAYOUT = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "fine_labels"),
}


def load_cifar(name: str, data) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    folder, train_files, test_files, key = CIFAR_LAYOUT[name]
    root = data_root(data)
    if root is None:
        raise PrunelabError(f"{name}: no data folder given; pass --data DIR (holding {folder}/) or set PRUNELAB_DATA")
    d = root / folder if (root / folder).is_dir() else root
    missing = [f for f in train_files + test_files if not (d / f).is_file()]
    if missing:
        raise PrunelabError(f"{name}: {d} lacks {missing[0]} (expected the python-pickle folder {folder}/)")
    out = {}
    for split, files in (("train", train_files), ("test", test_files)):
        xs, ys = [], []
        for f in files:
            b = _unpickle(d / f)
            if "data" not in b or key not in b:
                raise PrunelabError(f"{d / f}: missing 'data' or '{key}'")
            x = np.asarray(b["data"], dtype=np.uint8)
            if x.ndim != 2 or x.shape[1] != 3072:
                raise PrunelabError(f"{d / f}: 'data' must be N x 3072 uint8, got shape {x.shape}")
            xs.append(x.reshape(-1, 3, 32, 32))
            ys.append(np.asarray(b[key], dtype=np.int64))
        x, y = np.concatenate(xs), np.concatenate(ys)
        if len(x) != len(y):
            raise PrunelabError(f"{name} {split}: {len(x)} images but {len(y)} labels")
        out[split] = (torch.from_numpy(x), torch.from_numpy(y))
    return out


# --- synthetic data for tests -----------------------------------------------------------------

def synthetic(n_train: int, n_test: int, channels: int = 3, size: int = 32, classes: int = 10, seed: int = 0):
    """Learnable random images: each class brightens its own horizontal band."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        y = torch.randint(0, classes, (n,), generator=g)
        x = torch.randint(0, 128, (n, channels, size, size), generator=g, dtype=torch.int16)
        band = size // classes or 1
        for c in range(classes):
            rows = slice((c * band) % size, (c * band) % size + band)
            x[y == c, :, rows, :] += 100
        out[split] = (x.clamp(0, 255).to(torch.uint8), y)
    return out


# --- ImageNet: class folders -----------------------------------------------------------------

def imagenet_dirs(data) -> tuple[Path, Path]:
    root = data_root(data)
    if root is None:
        raise PrunelabError("imagenet: no data folder given; pass --data DIR (holding train/ and val/) or set PRUNELAB_DATA")
    for split in ("train", "val"):
        d = root / split
        if not d.is_dir() or not any(p.is_dir() for p in d.iterdir()):
            raise PrunelabError(f"imagenet: {d} must be a folder of class folders of images")
    return root / "train", root / "val"

