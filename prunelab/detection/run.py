"""A detection run in the run store (``RunSettings.task`` of kind "detection"): its data, its
model, its model file and its result fields. The run store calls these; the training is the one loop's
(``train(..., task=Detection())``).

- The model: the run's initial classifier (``protocol.inits``: a finished classification run's
  model for a transferred backbone, a prune step's model for Prune-D) under torchvision's Faster
  R-CNN (``model.detector``), the detector's own layers drawn from the run's seed; where the init
  names ``heads`` (Prune-D's fine-tuning), those layers are the named detection run's.
- The model file: ``model.pt`` is a prunelab model file of the *classifier* (its backbone trained
  on detection, its unused classifier head as it came), with the detector's other layers under
  ``detector``: a prune step reads it as any classifier (Prune-D prunes the detector's backbone with
  the method core), a later run reads the layers.
- Normalisation: images come in [0, 1] and the detector normalises them with the classification
  dataset's mean and std, as the backbone saw its images.
"""
from __future__ import annotations

import functools
import json

import torch
from torch import nn

from ..errors import PrunelabError
from .settings import parse

HEADS = "detector"


class DetectionRun:
    def __init__(self, settings):
        self.settings = settings
        self.data_settings, self.detector_settings = parse(settings.task)

    def load_data(self, data_dir=None):
        return _load(json.dumps(self.settings.task, sort_keys=True), None if data_dir is None else str(data_dir))

    def model(self, classifier: nn.Module, sources) -> nn.Module:
        """The detector on ``classifier`` (its layers seeded by the run's seed, or a run's)."""
        from ..data.datasets import STATS
        from .model import detector

        mean, std, _, _ = STATS[self.settings.data.dataset]
        d = self.detector_settings
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.settings.seed)
            det = detector(classifier, self.data_settings.classes + 1, d.min_size, d.max_size, d.anchor_sizes,
                           d.aspect_ratios, list(mean), list(std), d.representation, d.proposals, d.rois_per_image)
        det.__dict__["classifier"] = classifier  # (not a submodule: its weights are the backbone's)
        heads = self.settings.init.get("heads")
        if heads:
            state = sources.run_file(heads).get(HEADS)
            if not isinstance(state, dict):
                raise PrunelabError(f"run {heads} is not a detection run (its model file has no detector layers)")
            try:
                missing = det.load_state_dict(state, strict=False).missing_keys
            except RuntimeError as e:
                raise PrunelabError(f"the detector layers of run {heads} do not fit the pruned backbone (a method "
                                    f"that changes the backbone's output channels?): {(str(e).splitlines() + [''])[1].strip()}")
            if [k for k in missing if not k.startswith("backbone.")]:
                raise PrunelabError(f"run {heads}'s model file lacks detector layers: {missing[:3]}")
        return det

    def task(self):
        from .task import Detection

        return Detection()

    def save(self, model: nn.Module, path) -> None:
        from ..models_io import save as save_model

        heads = {k: v.detach().cpu() for k, v in model.state_dict().items() if not k.startswith("backbone.")}
        save_model(model.classifier, path, extra={HEADS: heads})

    def counts(self, model: nn.Module) -> dict:
        """The backbone architecture's counts as a classifier (the tables' params and MACs), the
        backbone's MACs at the detector's input size, and the whole detector's parameters."""
        from ..measure import count

        c = count(model.classifier)
        spec = model.classifier.arch_spec
        size = self.detector_settings.min_size
        p = next(model.parameters())
        backbone = count(model.backbone, example_input=torch.zeros(1, spec.in_channels, size, size, dtype=p.dtype,
                                                                   device=p.device))
        return {"params": c.params, "macs": c.macs, "params_nonzero": c.params_nonzero,
                "macs_nonzero": c.macs_nonzero, "backbone_macs": backbone.macs,
                "detector_params": sum(t.numel() for t in model.parameters())}


@functools.lru_cache(maxsize=2)
def _load(task_json: str, data_dir: str | None):
    """A detection set (kept for the next run of the same set: building canvases is cheap, but not free)."""
    from ..data.sources import load_fashion
    from .data import VOCData, fashion_canvases
    from .task import DetectionData

    task = json.loads(task_json)
    d, _ = parse(task)
    if d.dataset == "voc2007":
        return VOCData(task["root"], d.train or 0, d.test or 0)
    splits = load_fashion(data_dir)
    return DetectionData({
        "train": fashion_canvases(*splits["train"], d.images("train"), d.size, seed=0, max_items=d.max_items),
        "test": fashion_canvases(*splits["test"], d.images("test"), d.size, seed=1, max_items=d.max_items),
    })


def detection_run(settings) -> DetectionRun | None:
    """The detection side of a run's settings, or None (a classification run)."""
    task = settings.task
    if task is None:
        return None
    if task.get("kind") != "detection":
        raise PrunelabError(f"unknown task kind {task.get('kind')!r} (known: detection)")
    return DetectionRun(settings)
