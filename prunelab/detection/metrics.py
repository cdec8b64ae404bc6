"""Detection mAP by pycocotools' COCOeval: COCO's AP@[.5:.95] (``map``), AP at IoU 0.5 (``map_50``)
and PASCAL VOC 2007's 11-point AP at IoU 0.5 (``voc07_map``: per class, the mean over recall
0, 0.1, ..., 1 of the highest precision at a recall at least that high, COCOeval's interpolated
precision on those 11 recall points; then the mean over the classes that have ground truth).
Every ground-truth box counts: VOC's "difficult" boxes, which its devkit ignores, are left out of
the targets by ``data.voc_target`` (a detection on one then counts as a false positive)."""
from __future__ import annotations

import contextlib
import io

import numpy as np
import torch


def _coco(preds: list[dict], targets: list[dict]):
    from pycocotools.coco import COCO

    images, anns, dets, classes = [], [], [], set()
    for i, (p, t) in enumerate(zip(preds, targets)):
        images.append({"id": i})
        for box, label in zip(t["boxes"].tolist(), t["labels"].tolist()):
            x1, y1, x2, y2 = box
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(label), "iscrowd": 0,
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1)})
            classes.add(int(label))
        for box, label, score in zip(p["boxes"].tolist(), p["labels"].tolist(), p["scores"].tolist()):
            x1, y1, x2, y2 = box
            dets.append({"image_id": i, "category_id": int(label), "bbox": [x1, y1, x2 - x1, y2 - y1],
                         "score": float(score), "area": (x2 - x1) * (y2 - y1)})
            classes.add(int(label))
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": c} for c in sorted(classes)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(dets) if dets else None
    return gt, dt


def _evaluate(gt, dt, iou=None, recall=None):
    from pycocotools.cocoeval import COCOeval

    e = COCOeval(gt, dt, "bbox")
    if iou is not None:
        e.params.iouThrs = np.array(iou)
    if recall is not None:
        e.params.recThrs = np.array(recall)
    with contextlib.redirect_stdout(io.StringIO()):
        e.evaluate()
        e.accumulate()
    return e


def detection_map(preds: list[dict], targets: list[dict]) -> dict[str, float]:
    """``preds``: per image {"boxes" (N x 4, x1 y1 x2 y2), "scores", "labels"}; ``targets``: per
    image {"boxes", "labels"}. Returns {"map", "map_50", "voc07_map"} as fractions in [0, 1]."""
    if len(preds) != len(targets):
        raise ValueError(f"{len(preds)} predictions for {len(targets)} images")
    gt, dt = _coco(preds, targets)
    if dt is None or not gt.getAnnIds():
        return {"map": 0.0, "map_50": 0.0, "voc07_map": 0.0}
    e = _evaluate(gt, dt)
    with contextlib.redirect_stdout(io.StringIO()):
        e.summarize()
    voc = _evaluate(gt, dt, iou=[0.5], recall=np.linspace(0.0, 1.0, 11))
    precision = voc.eval["precision"][0, :, :, 0, -1]  # recall points x classes (all areas, 100 detections)
    has_gt = precision.min(axis=0) > -1  # -1: a class without ground truth
    voc07 = float(precision[:, has_gt].mean()) if has_gt.any() else 0.0
    return {"map": max(0.0, float(e.stats[0])), "map_50": max(0.0, float(e.stats[1])), "voc07_map": voc07}


def as_cpu(d: dict) -> dict:
    return {k: v.detach().cpu() if isinstance(v, torch.Tensor) else v for k, v in d.items()}
