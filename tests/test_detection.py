"""Detection foundations: Fashion-MNIST canvases, VOC's layout check, mAP by pycocotools, and
Faster R-CNN on a prunelab classifier's feature extractor."""
import contextlib
import io
import json

import pytest
import torch

import prunelab
from prunelab.errors import PrunelabError

pytest.importorskip("pycocotools")


def _fixed_boxes(seed=0, images=8):
    """Predictions and ground truth on integer pixel boxes (exact in float32)."""
    g = torch.Generator().manual_seed(seed)
    preds, targets = [], []
    for _ in range(images):
        n = int(torch.randint(1, 4, (1,), generator=g))
        xy = torch.randint(0, 60, (n, 2), generator=g).float()
        wh = torch.randint(10, 40, (n, 2), generator=g).float()
        tb, tl = torch.cat([xy, xy + wh], 1), torch.randint(1, 4, (n,), generator=g)
        jitter = tb + torch.randint(-4, 5, (n, 4), generator=g).float()
        extra = torch.cat([xy + 5, xy + 5 + wh // 2], 1)
        preds.append({"boxes": torch.cat([jitter, extra]), "scores": torch.rand(2 * n, generator=g),
                      "labels": torch.cat([tl, torch.randint(1, 4, (n,), generator=g)])})
        targets.append({"boxes": tb, "labels": tl})
    return preds, targets


def test_map_matches_pycocotools_own_evaluation_of_json_files(tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from prunelab.detection.metrics import detection_map

    preds, targets = _fixed_boxes()
    ours = detection_map(preds, targets)
    gt = {"images": [{"id": i} for i in range(len(targets))], "categories": [{"id": c} for c in (1, 2, 3)],
          "annotations": [{"id": k + 1, "image_id": i, "category_id": int(lab), "iscrowd": 0,
                           "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "area": (b[2] - b[0]) * (b[3] - b[1])}
                          for k, (i, b, lab) in enumerate((i, b, lab) for i, t in enumerate(targets)
                                                          for b, lab in zip(t["boxes"].tolist(), t["labels"].tolist()))]}
    dt = [{"image_id": i, "category_id": int(lab), "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "score": s}
          for i, p in enumerate(preds) for b, lab, s in zip(p["boxes"].tolist(), p["labels"].tolist(), p["scores"].tolist())]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dt))
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(tmp_path / "gt.json"))
        e = COCOeval(coco, coco.loadRes(str(tmp_path / "dt.json")), "bbox")
        e.evaluate(), e.accumulate(), e.summarize()
    assert (ours["map"], ours["map_50"]) == (e.stats[0], e.stats[1])


def test_map_matches_torchmetrics_at_its_float32():
    tm = pytest.importorskip("torchmetrics.detection")
    from prunelab.detection.metrics import detection_map

    preds, targets = _fixed_boxes(seed=1)
    ours = detection_map(preds, targets)
    m = tm.MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="pycocotools")
    m.update(preds, targets)
    r = m.compute()
    assert torch.tensor(ours["map"], dtype=torch.float32) == r["map"]
    assert torch.tensor(ours["map_50"], dtype=torch.float32) == r["map_50"]


def test_voc07_eleven_point_ap_of_a_worked_case():
    from prunelab.detection.metrics import detection_map

    target = {"boxes": torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]]), "labels": torch.tensor([1, 1])}
    pred = {"boxes": torch.tensor([[0.0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 30]]),
            "scores": torch.tensor([0.9, 0.8, 0.7]), "labels": torch.tensor([1, 1, 1])}
    # ranked TP, FP, TP: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1; interpolated: 1 for recall <= 0.5
    # (6 of the 11 points), 2/3 above (5 points)
    assert detection_map([pred], [target])["voc07_map"] == pytest.approx((6 + 5 * 2 / 3) / 11, abs=1e-12)


def test_fashion_canvases_are_deterministic_with_tight_boxes():
    from prunelab.detection.data import fashion_canvases

    g = torch.Generator().manual_seed(0)
    images = (torch.rand(20, 28, 28, generator=g) > 0.7).to(torch.uint8) * 255
    images[:, :3] = 0  # empty rows: a box is tight, not the 28 x 28 square
    labels = torch.arange(20) % 10
    a, b = fashion_canvases(images, labels, 5, size=64, seed=3), fashion_canvases(images, labels, 5, size=64, seed=3)
    for (x, t), (y, u) in zip(a, b):
        assert torch.equal(x, y) and torch.equal(t["boxes"], u["boxes"]) and torch.equal(t["labels"], u["labels"])
    for x, t in a:
        assert x.shape == (1, 64, 64) and 1 <= len(t["labels"]) <= 4 and set(t["labels"].tolist()) <= set(range(1, 11))
        for x1, y1, x2, y2 in t["boxes"].tolist():
            assert 0 <= x1 < x2 <= 64 and 3 <= y1 < y2 <= 64 and y2 - y1 <= 25
            assert x[0, int(y1):int(y2), int(x1):int(x2)].sum() > 0


def test_voc_without_its_folder_is_one_line(tmp_path):
    from prunelab.detection.data import voc2007

    with pytest.raises(PrunelabError, match=r"PASCAL VOC 2007 not found: .*VOCdevkit/VOC2007/Annotations is missing"):
        voc2007(tmp_path)


def test_faster_rcnn_on_a_pruned_prunelab_backbone_trains_and_detects():
    torch.manual_seed(0)
    model = prunelab.build(prunelab.spec("resnet20", "fashion-mnist", width=0.5), seed=0)
    small = prunelab.prune(model, "l1-norm", target=0.5).model
    from prunelab.detection.model import detector

    det = detector(small, num_classes=11, min_size=64, max_size=64)
    assert det.backbone[0][0] is small.conv1  # the backbone is the classifier's own modules
    x = [torch.rand(1, 64, 64) for _ in range(2)]
    t = [{"boxes": torch.tensor([[4.0, 4, 30, 30]]), "labels": torch.tensor([3])},
         {"boxes": torch.tensor([[10.0, 20, 40, 50], [30, 5, 60, 25]]), "labels": torch.tensor([1, 7])}]
    det.train()
    losses = det(x, t)
    assert set(losses) >= {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert small.conv1.weight.grad is not None
    det.eval()
    with torch.no_grad():
        out = det(x)
    assert len(out) == 2 and all(o["boxes"].shape[1] == 4 for o in out)
    with pytest.raises(PrunelabError, match="a detector needs a convolutional feature extractor"):
        detector(prunelab.build(prunelab.spec("densenet40", "cifar10")), 11, 32, 32)


def _tiny_detection_data():
    from prunelab.detection.data import fashion_canvases
    from prunelab.detection.task import DetectionData

    g = torch.Generator().manual_seed(0)
    images = (torch.rand(40, 28, 28, generator=g) > 0.6).to(torch.uint8) * 255
    labels = torch.arange(40) % 10
    return DetectionData({"train": fashion_canvases(images[:30], labels[:30], 8, size=48, seed=0),
                          "test": fashion_canvases(images[30:], labels[30:], 4, size=48, seed=1)})


def _detector():
    from prunelab.detection.model import detector

    torch.manual_seed(0)
    return detector(prunelab.build(prunelab.spec("resnet20", "fashion-mnist", width=0.25), seed=0), num_classes=11,
                    min_size=48, max_size=48)


def test_a_detector_trains_in_the_one_loop_and_resumes_to_identical_final_metrics(tmp_path):
    from prunelab.detection.task import Detection
    from prunelab.train import Recipe, train

    recipe = Recipe(epochs=2, batch_size=4, lr=0.01, schedule="constant")
    straight = train(_detector(), _tiny_detection_data(), recipe, seed=0, run_dir=tmp_path / "a", task=Detection())
    assert {"test_map", "test_map_50", "test_voc07_map"} <= set(straight.metrics)
    assert all(0 <= v <= 1 for v in straight.metrics.values())
    # a run stopped after its first epoch's checkpoint, then resumed
    first = train(_detector(), _tiny_detection_data(), Recipe(epochs=1, batch_size=4, lr=0.01, schedule="constant"),
                  seed=0, run_dir=tmp_path / "b", task=Detection())
    assert first.epochs == 1
    resumed = train(_detector(), _tiny_detection_data(), recipe, seed=0, run_dir=tmp_path / "b", task=Detection())
    assert resumed.metrics == straight.metrics
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in straight.history]
