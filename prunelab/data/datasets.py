"""Datasets as the engine sees them: batches of normalised float images and labels."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator

import torch

from ..catalog import dataset_info
from ..errors import PrunelabError
from . import sources
from .augment import apply_crop_flip, crop_flip_draws, normalize

STATS = {  # per-channel mean, std; augmentation pad, flip
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010), 4, True),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), 4, True),
    "fashion-mnist": ((0.2860,), (0.3530,), 2, True),
    "synthetic": ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 4, True),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 0, True),
}
SPLIT_SEED = 0  # subsets and validation splits are the same for every run


@dataclass(frozen=True)
class DataSettings:
    """What data a run trains on. Part of a run's settings (the folder path is not)."""

    dataset: str
    train_subset: int | None = None  # use this many training images (a fixed random subset)
    val_size: int = 0  # carve this many images from the training set for validation
    test_subset: int | None = None  # evaluate on this many test images (None: all)
    augment: bool = True
    synthetic_size: tuple[int, int] = (512, 256)  # train/test images of the synthetic set
    # how image folders (ImageNet) are read: they change no result, so they are not part of a run's identity
    workers: int = field(default=4, metadata={"identity": False})  # decoding processes of the DataLoader
    pin_memory: bool | None = field(default=None, metadata={"identity": False})  # None: on CUDA devices
    persistent_workers: bool = field(default=False, metadata={"identity": False})

    def train_images(self) -> int:
        """Training images per epoch, from the settings alone (no data loaded)."""
        n = self.synthetic_size[0] if self.dataset == "synthetic" else dataset_info(self.dataset).train_images
        n -= self.val_size
        return min(n, self.train_subset) if self.train_subset else n

    def check(self) -> None:
        dataset_info(self.dataset)
        for key in ("train_subset", "test_subset"):
            v = getattr(self, key)
            if v is not None and (not isinstance(v, int) or v < 1):
                raise PrunelabError(f"{key} must be a positive integer, got {v!r}")
        if not isinstance(self.val_size, int) or isinstance(self.val_size, bool) or self.val_size < 0:
            raise PrunelabError(f"val_size must be a non-negative integer, got {self.val_size!r}")
        if not isinstance(self.workers, int) or isinstance(self.workers, bool) or not 0 <= self.workers <= 256:
            raise PrunelabError(f"workers must be a whole number of loader processes in [0, 256], got {self.workers!r}")
        size = self.synthetic_size
        if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(
                isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1_000_000 for v in size)):
            raise PrunelabError(f"synthetic_size must be two image counts [train, test] in [1, 1e6], got {size!r}")
        if self.dataset != "synthetic" and tuple(size) != (512, 256):
            raise PrunelabError(f"synthetic_size applies to the synthetic dataset only, not to '{self.dataset}'")
        total = dataset_info(self.dataset).train_images or size[0]
        if self.val_size >= total or self.val_size + (self.train_subset or 0) > total:
            raise PrunelabError(f"{self.dataset}: asked for {self.val_size + (self.train_subset or 0)} training + "
                                f"validation images but the training set has {total}")


class TensorData:
    """Small-image data held as uint8 tensors, augmented a batch at a time."""

    def __init__(self, name: str, splits: dict[str, tuple[torch.Tensor, torch.Tensor]], augment: bool):
        mean, std, self.pad, self.flip = STATS[name]
        self.name, self.splits, self.augment = name, splits, augment
        c = len(mean)
        self.mean = torch.tensor(mean).view(1, c, 1, 1)
        self.std = torch.tensor(std).view(1, c, 1, 1)
        self._device = torch.device("cpu")

    def to(self, device: torch.device) -> "TensorData":
        """Keep the uint8 images on ``device`` (augmentation then runs there too)."""
        device = torch.device(device)
        if device != self._device:
            self.splits = {k: (x.to(device), y.to(device)) for k, (x, y) in self.splits.items()}
            self.mean, self.std = self.mean.to(device), self.std.to(device)
            self._device = device
        return self

    def size(self, split: str) -> int:
        return len(self.splits[split][1]) if split in self.splits else 0

    def num_batches(self, split: str, batch_size: int, train: bool, world: int = 1) -> int:
        """Batches of an epoch. A last partial training batch needs 2 images per process (BatchNorm)."""
        n = self.size(split)
        full, rest = divmod(n, batch_size)
        return full + (1 if rest >= (2 * world if train else 1) else 0)

    def batches(self, split: str, batch_size: int, train: bool = False, gen: torch.Generator | None = None,
                dtype=torch.float32, channels_last: bool = False, start: int = 0,
                shard: tuple[int, int] | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches of a split: training batches in ``gen``'s order, augmented with ``gen``.

        ``start``: skip the first ``start`` training batches (a resumed epoch; their random numbers
        are still drawn, so the batches that follow are the uninterrupted epoch's). ``shard=(rank,
        world)``: training batches are the same global batches (order and augmentation), of which
        this rank takes its contiguous part; an evaluation split is cut into ``world`` contiguous
        parts and this rank gets its part.
        """
        x_all, y_all = self.splits[split]
        n = len(y_all)
        rank, world = shard or (0, 1)
        if not train:
            lo, hi = shard_bounds(n, rank, world)
            for i in range(lo, hi, batch_size):
                sl = slice(i, min(hi, i + batch_size))
                yield self._finish(x_all[sl], dtype, channels_last), y_all[sl]
            return
        order = torch.randperm(n, generator=gen).to(self._device)
        for i in range(self.num_batches(split, batch_size, train, world)):
            first, last = i * batch_size, min(n, (i + 1) * batch_size)
            draws = crop_flip_draws(last - first, self.pad, self.flip, gen) if self.augment else None
            if i < start:
                continue
            lo, hi = shard_bounds(last - first, rank, world)
            idx = order[first + lo: first + hi]
            x, y = x_all[idx], y_all[idx]
            if draws is not None:
                x = apply_crop_flip(x, self.pad, draws, lo, hi)
            yield self._finish(x, dtype, channels_last), y

    def _finish(self, x: torch.Tensor, dtype, channels_last: bool) -> torch.Tensor:
        x = normalize(x, self.mean, self.std, dtype)
        return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def shard_bounds(n: int, rank: int, world: int) -> tuple[int, int]:
    return n * rank // world, n * (rank + 1) // world


class FolderData:
    """ImageNet-style train/val class folders, decoded and augmented by torchvision workers."""

    def __init__(self, data, workers: int = 4, pin_memory: bool | None = None, persistent_workers: bool = False):
        import torchvision.datasets as tvd
        import torchvision.transforms as T

        train_dir, val_dir = sources.imagenet_dirs(data)
        mean, std, _, _ = STATS["imagenet"]
        norm = T.Normalize(mean, std)
        self.splits = {
            "train": tvd.ImageFolder(str(train_dir), T.Compose([
                T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(), norm])),
            "test": tvd.ImageFolder(str(val_dir), T.Compose([
                T.Resize(256), T.CenterCrop(224), T.ToTensor(), norm])),
        }
        self.workers, self.pin_memory, self.persistent = workers, pin_memory, persistent_workers and workers > 0
        self._device = torch.device("cpu")

    def to(self, device):
        self._device = torch.device(device)
        return self

    def size(self, split: str) -> int:
        return len(self.splits[split]) if split in self.splits else 0

    def num_batches(self, split: str, batch_size: int, train: bool, world: int = 1) -> int:
        if train and world > 1:  # a last partial batch needs 2 images per process
            full, rest = divmod(self.size(split), batch_size)
            return full + (1 if rest >= 2 * world else 0)
        return math.ceil(self.size(split) / batch_size)

    def batches(self, split, batch_size, train=False, gen=None, dtype=torch.float32, channels_last=False, start=0,
                shard=None):
        """As ``TensorData.batches`` (``start``, ``shard``); the order is ``gen``'s permutation
        (torch's ``RandomSampler``'s), decoding and augmentation run in the loader's workers."""
        from torch.utils.data import DataLoader

        ds = self.splits[split]
        n = len(ds)
        rank, world = shard or (0, 1)
        if train:
            order = torch.randperm(n, generator=gen).tolist()
            nb = self.num_batches(split, batch_size, train, world)
            lists = []
            for i in range(start, nb):
                part = order[i * batch_size: (i + 1) * batch_size]
                lo, hi = shard_bounds(len(part), rank, world)
                lists.append(part[lo:hi])
        else:
            lo, hi = shard_bounds(n, rank, world)
            lists = [list(range(i, min(hi, i + batch_size))) for i in range(lo, hi, batch_size)]
        if not lists:
            return
        pin = self._device.type == "cuda" if self.pin_memory is None else self.pin_memory
        loader = DataLoader(ds, batch_sampler=lists, num_workers=self.workers, pin_memory=pin,
                            persistent_workers=self.persistent)
        for x, y in loader:
            x = x.to(self._device, dtype, non_blocking=True)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, y.to(self._device, non_blocking=True)


def _subset(x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor):
    return x[idx], y[idx]


def load(settings: DataSettings, data=None):
    """Load a dataset with its subset / validation options applied."""
    settings.check()
    name = settings.dataset
    if name == "imagenet":
        if settings.train_subset or settings.val_size or settings.test_subset:
            raise PrunelabError("imagenet: train_subset, val_size and test_subset are not supported for folder data")
        return FolderData(data, settings.workers, settings.pin_memory, settings.persistent_workers)
    if name == "fashion-mnist":
        splits = sources.load_fashion(data)
    elif name == "synthetic":
        info = dataset_info(name)
        splits = sources.synthetic(*settings.synthetic_size, info.channels, info.size, info.classes)
    else:
        splits = sources.load_cifar(name, data)
    x, y = splits["train"]
    n = len(y)
    need = settings.val_size + (settings.train_subset or 0)
    if settings.val_size >= n or need > n:
        raise PrunelabError(f"{name}: asked for {need} training+validation images but the set has {n}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED))
    val_idx, train_idx = perm[: settings.val_size], perm[settings.val_size:]
    if settings.train_subset:
        train_idx = train_idx[: settings.train_subset]
    out = {"train": _subset(x, y, train_idx.sort().values)}
    if settings.val_size:
        out["val"] = _subset(x, y, val_idx.sort().values)
    tx, ty = splits["test"]
    if settings.test_subset:
        if settings.test_subset > len(ty):
            raise PrunelabError(f"{name}: test_subset {settings.test_subset} exceeds the {len(ty)} test images")
        tx, ty = tx[: settings.test_subset], ty[: settings.test_subset]
    out["test"] = (tx, ty)
    return TensorData(name, out, settings.augment)
