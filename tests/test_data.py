"""Data layouts written by the tests themselves, augmentation, subsets and splits."""
import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from prunelab.data import DataSettings, load
from prunelab.data.augment import random_crop_flip
from prunelab.errors import PrunelabError


def write_cifar10(root, n=6):
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, n))}
        batch[b"labels"] = [int(v) for v in batch[b"labels"]]
        with open(d / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    return d


def write_idx(path, arr):
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_cifar10_pickle_layout(tmp_path):
    d = write_cifar10(tmp_path)
    data = load(DataSettings("cifar10"), tmp_path)
    assert data.size("train") == 30 and data.size("test") == 6
    x, y = data.splits["train"]
    assert x.dtype == torch.uint8 and x.shape == (30, 3, 32, 32)
    raw = pickle.load(open(d / "data_batch_1", "rb"), encoding="bytes")
    assert torch.equal(x[0].flatten(), torch.from_numpy(raw[b"data"][0]))  # channel-major rows as stored
    assert y[0].item() == raw[b"labels"][0]
    # pointing at the batches folder itself works too
    assert load(DataSettings("cifar10"), d).size("test") == 6


def test_cifar100_layout(tmp_path):
    d = tmp_path / "cifar-100-python"
    d.mkdir()
    for name, n in (("train", 8), ("test", 4)):
        with open(d / name, "wb") as f:
            pickle.dump({b"data": np.zeros((n, 3072), np.uint8), b"fine_labels": [99] * n}, f)
    data = load(DataSettings("cifar100"), tmp_path)
    assert data.size("train") == 8 and data.splits["test"][1].tolist() == [99] * 4


def test_cifar_pickle_cannot_run_code(tmp_path):
    d = write_cifar10(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(d / "test_batch", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": []}, f)
    with pytest.raises(PrunelabError, match="refusing to load builtins.print"):
        load(DataSettings("cifar10"), tmp_path)


def test_fashion_idx_files(tmp_path):
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, (20, 28, 28))
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", imgs)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(20) % 10)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", imgs[:5])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.arange(5))
    data = load(DataSettings("fashion-mnist", val_size=4, train_subset=10), tmp_path)
    assert data.size("train") == 10 and data.size("val") == 4 and data.size("test") == 5
    assert torch.equal(data.splits["test"][0][:, 0], torch.from_numpy(imgs[:5].astype(np.uint8)))
    # validation and training images are disjoint rows of the training file
    tr = {bytes(r.numpy().tobytes()) for r in data.splits["train"][0]}
    va = {bytes(r.numpy().tobytes()) for r in data.splits["val"][0]}
    assert not tr & va


def test_fashion_bad_files(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((3, 28, 28)))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(4))
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((3, 28, 28)))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(3))
    with pytest.raises(PrunelabError, match="3 train images but 4 labels"):
        load(DataSettings("fashion-mnist"), tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"junk")
    with pytest.raises(PrunelabError):
        load(DataSettings("fashion-mnist"), tmp_path)


def test_image_folders(tmp_path):
    from PIL import Image

    from prunelab.data import FolderData

    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(2):
                Image.new("RGB", (300, 260), (i * 100, 50, 200)).save(tmp_path / split / cls / f"{i}.png")
    data = load(DataSettings("imagenet"), tmp_path)
    assert isinstance(data, FolderData)
    data.workers = 0
    assert data.size("train") == 4
    x, y = next(data.batches("train", 4, train=True, gen=torch.Generator().manual_seed(0)))
    assert x.shape == (4, 3, 224, 224) and sorted(y.tolist()) == [0, 0, 1, 1]
    x, _ = next(data.batches("test", 4))
    assert x.shape == (4, 3, 224, 224)


def test_missing_data_is_a_one_line_error(tmp_path):
    with pytest.raises(PrunelabError, match="lacks data_batch_1"):
        load(DataSettings("cifar10"), tmp_path)
    with pytest.raises(PrunelabError, match="no data folder given"):
        load(DataSettings("cifar10"), None)
    with pytest.raises(PrunelabError, match="must be a folder of class folders"):
        load(DataSettings("imagenet"), tmp_path)
    with pytest.raises(PrunelabError, match="Fashion-MNIST not found"):
        load(DataSettings("fashion-mnist"), tmp_path)


def test_batched_augmentation_matches_per_image_crop_and_flip():
    x = torch.randint(0, 255, (16, 3, 8, 8), dtype=torch.uint8)
    out = random_crop_flip(x, 2, True, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    oy = torch.randint(0, 5, (16,), generator=g)
    ox = torch.randint(0, 5, (16,), generator=g)
    flip = torch.rand(16, generator=g) < 0.5
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(16):
        ref = padded[i, :, oy[i]: oy[i] + 8, ox[i]: ox[i] + 8]
        if flip[i]:
            ref = ref.flip(2)
        assert torch.equal(out[i], ref)


def test_synthetic_batches_are_normalised_and_deterministic():
    data = load(DataSettings("synthetic", synthetic_size=(64, 32)))
    a = [x for x, _ in data.batches("train", 16, train=True, gen=torch.Generator().manual_seed(5))]
    b = [x for x, _ in data.batches("train", 16, train=True, gen=torch.Generator().manual_seed(5))]
    assert all(torch.equal(p, q) for p, q in zip(a, b)) and len(a) == 4
    assert a[0].dtype == torch.float32 and abs(a[0].mean().item()) < 1.5


def test_bad_data_settings():
    with pytest.raises(PrunelabError, match="train_subset must be a positive integer"):
        load(DataSettings("synthetic", train_subset=0))
    with pytest.raises(PrunelabError, match="asked for"):
        load(DataSettings("synthetic", val_size=600))
