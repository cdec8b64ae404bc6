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


def voc2007(root: str | Path, image_set: str = "trainval"):
    """torchvision's ``VOCDetection`` of a local VOC 2007 folder (``root`` holds ``VOCdevkit/VOC2007``)."""
    root = Path(root)
    base = root / "VOCdevkit" / "VOC2007"
    need = [base / "Annotations", base / "JPEGImages", base / "ImageSets" / "Main" / f"{image_set}.txt"]
    missing = [p for p in need if not p.exists()]
    if missing:
        raise PrunelabError(f"PASCAL VOC 2007 not found: {missing[0]} is missing (expected {root}/VOCdevkit/VOC2007/"
                            f"{{Annotations, JPEGImages, ImageSets/Main/{image_set}.txt}}; nothing is downloaded)")
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
