"""Data from any iterable of (images, labels) batches (a torch DataLoader, a list of tensors): what
a method's prune step reads (``prunelab.prune(..., data=loader)``) and what the training loop can
train on. The batches come as the iterable gives them (its own batch size and order); ``test``, a
second iterable, is the split a run is evaluated on."""
from __future__ import annotations

from typing import Iterable, Iterator

import torch

from ..errors import PrunelabError


class BatchesData:
    """A dataset made of iterables of ``(images, labels)`` batches: ``train`` (what a prune step or
    the training loop reads), and optionally ``test`` and ``val``."""

    def __init__(self, train: Iterable, test: Iterable | None = None, val: Iterable | None = None):
        for split, it in (("train", train), ("test", test), ("val", val)):
            if isinstance(it, Iterator):  # (read once; a DataLoader or a list can be read again)
                raise PrunelabError(f"data: the {split} batches come from a one-shot iterator (a generator); give "
                                    "something that can be read again, e.g. a DataLoader or a list of batches")
        self.splits = {"train": train, "test": test, "val": val}
        self.device = torch.device("cpu")
        self.name = "batches"

    def to(self, device) -> "BatchesData":
        self.device = torch.device(device)
        return self

    def _split(self, split: str) -> Iterable | None:
        if split not in self.splits:
            raise PrunelabError(f"unknown split '{split}'")
        return self.splits[split]

    def size(self, split: str) -> int:
        it = self._split(split)
        if it is None:
            return 0
        dataset = getattr(it, "dataset", None)
        if dataset is not None and hasattr(dataset, "__len__"):
            return len(dataset)
        return sum(len(y) for _, y in it)

    def num_batches(self, split: str, batch_size: int, train: bool, world: int = 1) -> int:
        it = self._split(split)
        return 0 if it is None else (len(it) if hasattr(it, "__len__") else sum(1 for _ in it))

    def batches(self, split: str, batch_size: int = 0, train: bool = False, gen=None, dtype=None,
                channels_last: bool = False, start: int = 0, shard=None):
        it = self._split(split)
        if it is None:
            return
        for i, batch in enumerate(it):
            if i < start:
                continue
            if not (isinstance(batch, (tuple, list)) and len(batch) >= 2):
                raise PrunelabError("data: every batch must be (images, labels)")
            x, y = batch[0], batch[1]
            x = x.to(self.device, dtype=dtype) if dtype is not None else x.to(self.device)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, y.to(self.device)
