"""Detection data: images with boxes (x1, y1, x2, y2 in pixels) and labels (1..C; 0 is background).

- ``fashion_canvases``: a small real-image set for 2 CPU cores, built deterministically from
  Fashion-MNIST: every canvas (``size`` x ``size``, black) holds 1-4 items of the official split
  pasted at seeded random places (a pixel is the brightest item's); each item's box is the tight
  box of its nonzero pixels, its label its class + 1. Train canvases use the official training
  images only, test canvases the official test images only.
- ``voc2007``: PASCAL VOC 2007 from a local folder in its standard layout (nothing downloaded);
  a missing or malformed folder is one line saying what is expected where.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import PrunelabError

VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
               "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")


def fashion_canvases(images: torch.Tensor, labels: torch.Tensor, n: int, size: int = 96, seed: int = 0,
                     max_items: int = 4) -> list[tuple[torch.Tensor, dict]]:
    """``n`` canvases from Fashion-MNIST ``images`` (N x 28 x 28 uint8 or N x 1 x 28 x 28) and their
    class ``labels``; returns (1 x size x size float image in [0, 1], {"boxes", "labels"}) pairs."""
    if images.dim() == 4:
        images = images[:, 0]
    if not 1 <= max_items <= 16 or size < 28:
        raise PrunelabError(f"fashion canvases: 1-16 items on canvases of at least 28 px, got {max_items} and {size}")
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        canvas = torch.zeros(size, size)
        k = int(torch.randint(1, max_items + 1, (1,), generator=g))
        idx = torch.randint(0, len(images), (k,), generator=g)
        boxes, classes = [], []
        for i in idx.tolist():
            item = images[i].float() / (255.0 if images.dtype == torch.uint8 else 1.0)
            y0, x0 = (int(v) for v in torch.randint(0, size - 28 + 1, (2,), generator=g))
            canvas[y0:y0 + 28, x0:x0 + 28] = torch.maximum(canvas[y0:y0 + 28, x0:x0 + 28], item)
            ys, xs = (item > 0).nonzero(as_tuple=True)
            if len(ys) == 0:
                continue
            boxes.append([x0 + int(xs.min()), y0 + int(ys.min()), x0 + int(xs.max()) + 1, y0 + int(ys.max()) + 1])
            classes.append(int(labels[i]) + 1)
        target = {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                  "labels": torch.tensor(classes, dtype=torch.int64)}
        out.append((canvas[None], target))
    return out


def voc2007(root: str | Path, image_set: str = "trainval", check_only: bool = False):
    """torchvision's ``VOCDetection`` of a local VOC 2007 folder (``root`` holds ``VOCdevkit/VOC2007``);
    ``check_only``: only check the layout (nothing is read)."""
    root = Path(root)
    base = root / "VOCdevkit" / "VOC2007"
    need = [base / "Annotations", base / "JPEGImages", base / "ImageSets" / "Main" / f"{image_set}.txt"]
    missing = [p for p in need if not p.exists()]
    if missing:
        raise PrunelabError(f"PASCAL VOC 2007 not found: {missing[0]} is missing (expected {root}/VOCdevkit/VOC2007/"
                            f"{{Annotations, JPEGImages, ImageSets/Main/{image_set}.txt}}; nothing is downloaded)")
    if check_only:
        return None
    from torchvision.datasets import VOCDetection

    return VOCDetection(str(root), year="2007", image_set=image_set, download=False)


def voc_target(annotation: dict, keep_difficult: bool = False) -> dict:
    """A VOC annotation (as VOCDetection parses it) as {"boxes", "labels", "difficult"} tensors."""
    objects = annotation["annotation"].get("object", [])
    objects = objects if isinstance(objects, list) else [objects]
    boxes, labels, difficult = [], [], []
    for o in objects:
        d = int(o.get("difficult", "0"))
        if d and not keep_difficult:
            continue
        b = o["bndbox"]
        boxes.append([float(b["xmin"]) - 1, float(b["ymin"]) - 1, float(b["xmax"]), float(b["ymax"])])
        labels.append(VOC_CLASSES.index(o["name"]) + 1)
        difficult.append(d)
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor(labels, dtype=torch.int64), "difficult": torch.tensor(difficult, dtype=torch.int64)}


class VOCData:
    """VOC 2007 for the training loop: trainval -> "train", test -> "test" (``subset``: the first n
    images of a set, 0: all); images are float [0, 1] tensors of their own sizes (the detector
    resizes them), decoded by a DataLoader's workers; training order is the loop's seeded one."""

    def __init__(self, root, train: int = 0, test: int = 0, workers: int = 4):
        self.splits = {"train": voc2007(root, "trainval"), "test": voc2007(root, "test")}
        self.limits = {"train": train, "test": test}
        self.workers = workers
        self._device = torch.device("cpu")

    def to(self, device) -> "VOCData":
        self._device = torch.device(device)
        return self

    def size(self, split: str) -> int:
        if split not in self.splits:
            return 0
        n = len(self.splits[split])
        return min(n, self.limits[split]) if self.limits[split] else n

    def num_batches(self, split: str, batch_size: int, train: bool, world: int = 1) -> int:
        if world != 1:
            raise PrunelabError("detection runs train in one process")
        return -(-self.size(split) // batch_size)

    def batches(self, split, batch_size, train=False, gen=None, dtype=None, channels_last=False, start=0, shard=None):
        from torch.utils.data import DataLoader

        n = self.size(split)
        order = torch.randperm(n, generator=gen).tolist() if train else list(range(n))
        lists = [order[i:i + batch_size] for i in range(start * batch_size, n, batch_size)]
        if not lists:
            return
        loader = DataLoader(_VOCItems(self.splits[split]), batch_sampler=lists, num_workers=self.workers,
                            collate_fn=_as_list)
        for items in loader:
            x = [img.to(self._device, dtype or torch.float32) for img, _ in items]
            y = [{k: v.to(self._device) for k, v in t.items() if k != "difficult"} for _, t in items]
            yield x, y


class _VOCItems:
    def __init__(self, voc):
        self.voc = voc

    def __len__(self):
        return len(self.voc)

    def __getitem__(self, i):
        from torchvision.transforms.functional import pil_to_tensor

        img, ann = self.voc[i]
        return pil_to_tensor(img.convert("RGB")).float() / 255.0, voc_target(ann)


def _as_list(items):
    return items
