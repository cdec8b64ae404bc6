"""Detection in the one training loop (``prunelab.train.train(..., task=Detection())``): the
detector's summed losses (RPN and box head) per batch, and mAP (``detection.metrics``) on a split.
``DetectionData`` holds images with boxes in memory and gives seeded batches, as prunelab's
classification data does, so runs are seeded, checkpointed and resumable alike."""
from __future__ import annotations

import torch
from torch import nn

from ..errors import PrunelabError
from .metrics import as_cpu, detection_map


class Detection:
    def loss(self, forward, model: nn.Module, hooks, x, y):
        losses = forward(x, y)
        loss = hooks.loss(model, sum(losses.values()))
        return loss, torch.zeros((), device=loss.device)  # (no top-1 hits in detection)

    @torch.no_grad()
    def metrics(self, model: nn.Module, data, split: str, amp, shard) -> dict:
        was = model.training
        model.eval()
        preds, targets = [], []
        for x, y in data.batches(split, 16, train=False):
            preds += [as_cpu(p) for p in model(x)]
            targets += [as_cpu(t) for t in y]
        model.train(was)
        return {f"{split}_{k}": v for k, v in detection_map(preds, targets).items()}


class DetectionData:
    """Images (C x H x W tensors of one size) with targets ({"boxes", "labels"}) per split."""

    def __init__(self, splits: dict[str, list[tuple[torch.Tensor, dict]]]):
        self.splits = {k: v for k, v in splits.items() if v}
        self._device = torch.device("cpu")

    def to(self, device) -> "DetectionData":
        self._device = torch.device(device)
        return self

    def size(self, split: str) -> int:
        return len(self.splits.get(split, []))

    def num_batches(self, split: str, batch_size: int, train: bool, world: int = 1) -> int:
        if world != 1:
            raise PrunelabError("detection runs train in one process")
        return -(-self.size(split) // batch_size)

    def batches(self, split: str, batch_size: int, train: bool = False, gen: torch.Generator | None = None,
                dtype=None, channels_last: bool = False, start: int = 0, shard=None):
        items = self.splits.get(split, [])
        order = torch.randperm(len(items), generator=gen).tolist() if train else list(range(len(items)))
        for b in range(start, -(-len(items) // batch_size)):
            chunk = [items[i] for i in order[b * batch_size:(b + 1) * batch_size]]
            x = torch.stack([img for img, _ in chunk]).to(self._device, dtype or torch.float32)
            y = [{k: v.to(self._device) for k, v in t.items()} for _, t in chunk]
            yield x, y
