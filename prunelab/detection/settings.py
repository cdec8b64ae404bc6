"""A detection run's task settings (``RunSettings.task``): its data and its detector.

``{"kind": "detection", "data": DetectionDataSettings, "detector": DetectorSettings}`` as a dict,
defaults left out; ``root`` (where VOC is read from) sits beside them and is not part of the
run's identity (``RunSettings.identity``), as ``--data`` is not.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ..config import canonical, from_mapping
from ..errors import PrunelabError

VOC_IMAGES = {"trainval": 5011, "test": 4952}  # PASCAL VOC 2007's image sets


@dataclass(frozen=True)
class DetectionDataSettings:
    dataset: str = "fashion-canvases"  # or "voc2007" (a local folder: ``root``)
    train: int = 2000  # fashion-canvases: canvases from the official training images; voc2007: a subset (0: all)
    test: int = 500  # canvases from the official test images; voc2007: a subset of its test set (0: all)
    size: int = 96  # fashion-canvases: canvas side in pixels
    max_items: int = 4  # fashion-canvases: 1..max_items items per canvas

    def check(self) -> "DetectionDataSettings":
        if self.dataset not in ("fashion-canvases", "voc2007"):
            raise PrunelabError(f"transfer.data.dataset: '{self.dataset}' is not a detection set "
                                "(fashion-canvases or voc2007)")
        for k in ("train", "test"):
            v = getattr(self, k)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise PrunelabError(f"transfer.data.{k} must be a positive number of images, got {v!r}")
        if self.dataset == "fashion-canvases" and not (28 <= self.size <= 1024 and 1 <= self.max_items <= 16):
            raise PrunelabError(f"transfer.data: canvases of 28..1024 px with 1..16 items, got size {self.size} "
                                f"and max_items {self.max_items}")
        return self

    def images(self, split: str) -> int:
        """Images of a split, from the settings alone (no data loaded)."""
        n = getattr(self, split)
        if self.dataset == "voc2007":
            total = VOC_IMAGES["trainval" if split == "train" else "test"]
            return min(n, total) if n else total
        return n or {"train": 2000, "test": 500}[split]

    @property
    def classes(self) -> int:
        return 20 if self.dataset == "voc2007" else 10


@dataclass(frozen=True)
class DetectorSettings:
    """torchvision's Faster R-CNN on the backbone's last feature map (one level; no FPN)."""

    min_size: int = 96  # images are resized so that their shorter side is min_size ...
    max_size: int = 96  # ... and their longer side at most max_size
    anchor_sizes: tuple = (16, 32, 64)
    aspect_ratios: tuple = (0.5, 1.0, 2.0)
    representation: int = 1024  # the box head's fully connected width
    proposals: int = 2000  # the RPN's proposals per image in training (half in evaluation)
    rois_per_image: int = 512  # proposals sampled per image for the box head's loss

    def check(self) -> "DetectorSettings":
        if not (isinstance(self.min_size, int) and isinstance(self.max_size, int) and 16 <= self.min_size
                <= self.max_size):
            raise PrunelabError(f"transfer.detector: need 16 <= min_size <= max_size, got {self.min_size} and "
                                f"{self.max_size}")
        for k in ("representation", "proposals", "rois_per_image"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise PrunelabError(f"transfer.detector.{k} must be a positive whole number, got {v!r}")
        for k in ("anchor_sizes", "aspect_ratios"):
            v = getattr(self, k)
            if not isinstance(v, (list, tuple)) or not v or not all(
                    isinstance(a, (int, float)) and not isinstance(a, bool) and a > 0 for a in v):
                raise PrunelabError(f"transfer.detector.{k} must list positive numbers, got {v!r}")
        return self


def task_of(data: dict, detector: dict, root: str | None = None) -> dict:
    """A detection run's ``task`` settings from the experiment's mappings (checked)."""
    d = from_mapping(DetectionDataSettings, data or {}, "transfer.data").check()
    det = from_mapping(DetectorSettings, detector or {}, "transfer.detector").check()
    task = {"kind": "detection", "data": canonical(d), "detector": canonical(det)}
    if d.dataset == "voc2007":
        task["root"] = str(Path(root or "data/voc").expanduser())
    return task


def parse(task: dict) -> tuple[DetectionDataSettings, DetectorSettings]:
    data = from_mapping(DetectionDataSettings, task.get("data", {}), "task.data")
    det = from_mapping(DetectorSettings, task.get("detector", {}), "task.detector")
    return data, dataclasses.replace(det, anchor_sizes=tuple(det.anchor_sizes),
                                     aspect_ratios=tuple(det.aspect_ratios))
