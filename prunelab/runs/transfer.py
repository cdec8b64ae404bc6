"""Transfer to detection (the paper's Section 6): an experiment's ``transfer:`` section adds, per
seed and pruned model, detection runs whose backbones come from the classification arms' runs in
the same store (so they are shared with the classification tables):

- **Prune-C**: the Fine-tuned classifier (pruned on classification) -> train the detector;
- **Scratch-E / Scratch-B**: the scratch-trained classifiers of the pruned architecture -> train the detector;
- **Prune-D**: the unpruned classifier -> train the detector (one ``detector`` run per seed, shared by
  the pruned models) -> prune its backbone with the same method and parameters (a prune step of that
  run) -> fine-tune the pruned detector (backbone inherited, detector layers the detector run's;
  recipe: ``transfer.recipe`` with ``transfer.prune_d``'s changes).

A transfer run is a ``PlannedRun`` with ``transfer`` set; ``backbone`` is the classification run
it starts from (Prune-C, Scratch-E/B, the detector run), ``source`` the detector run a Prune-D
prune step prunes. Its labels carry ``task: detection`` and ``setting``; reports read those
(``report/transfer.py``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch

from ..config import from_mapping
from ..detection.settings import parse as parse_task
from ..detection.settings import task_of
from ..errors import PrunelabError
from ..measure import spec_macs
from ..train import Recipe
from .settings import RunSettings

# setting -> the classification regime whose trained model is its backbone (None: Prune-D's own chain)
SETTINGS = {"prune-c": "finetune", "prune-d": None, "scratch-e": "scratch-e", "scratch-b": "scratch-b"}
TITLES = {"prune-c": "Prune-C", "prune-d": "Prune-D", "scratch-e": "Scratch-E", "scratch-b": "Scratch-B",
          "detector": "unpruned"}


@dataclass(frozen=True)
class TransferSection:
    recipe: dict  # the detector's training (every setting; Prune-D's first detector too)
    task: str = "detection"
    settings: list = field(default_factory=lambda: list(SETTINGS))
    data: dict = field(default_factory=dict)  # detection/settings.py: DetectionDataSettings
    detector: dict = field(default_factory=dict)  # detection/settings.py: DetectorSettings
    prune_d: dict = field(default_factory=dict)  # recipe changes for Prune-D's fine-tuning of the pruned detector
    root: str | None = None  # voc2007: the folder holding VOCdevkit/VOC2007 (default data/voc)


@dataclass(frozen=True)
class Transfer:
    settings: tuple
    task: dict  # RunSettings.task
    recipe: Recipe
    prune_d: Recipe

    def recipe_for(self, setting: str) -> Recipe:
        return self.prune_d if setting == "prune-d" else self.recipe

    def images(self) -> int:
        return parse_task(self.task)[0].images("train")

    def macs(self, arch: dict) -> float:
        """The backbone's MACs at the detector's input size, from the classifier's by the pixel ratio
        (an estimate for planning; results count the backbone on that input)."""
        from ..arch import ArchSpec

        spec = ArchSpec.from_dict(arch)
        side = parse_task(self.task)[1].min_size
        return spec_macs(spec.to_json()) * (side / spec.input_size) ** 2

    def check_data(self) -> None:
        """Before any run: a local detection set must be where the file says (one line otherwise)."""
        data, _ = parse_task(self.task)
        if data.dataset == "voc2007":
            from ..detection.data import voc2007

            for image_set in ("trainval", "test"):
                voc2007(self.task["root"], image_set, check_only=True)


def section(exp) -> Transfer | None:
    """The experiment's ``transfer:`` section, typed and checked (None without one)."""
    if not exp.transfer:
        return None
    t = from_mapping(TransferSection, exp.transfer, "transfer")
    if t.task != "detection":
        raise PrunelabError(f"transfer.task: '{t.task}' is not a task prunelab transfers to (detection)")
    if not isinstance(t.settings, list) or not t.settings or not set(t.settings) <= set(SETTINGS) \
            or len(set(t.settings)) < len(t.settings):
        raise PrunelabError(f"transfer.settings must list some of {', '.join(SETTINGS)} once each, got {t.settings!r}")
    for s in t.settings:
        if SETTINGS[s] is not None and SETTINGS[s] not in exp.regimes:
            raise PrunelabError(f"transfer.settings: {TITLES[s]} takes the backbone of the {SETTINGS[s]} arm; add "
                                f"{SETTINGS[s]} to regimes")
    if exp.levels != 1:
        raise PrunelabError("transfer: detection transfer takes one level of pruning (levels: 1)")
    recipe = from_mapping(Recipe, t.recipe, "transfer.recipe")
    recipe.check()
    prune_d = from_mapping(Recipe, {**dataclasses.asdict(recipe), **t.prune_d}, "transfer.prune_d")
    prune_d.check()
    if recipe.epochs < 1 or prune_d.epochs < 1:
        raise PrunelabError("transfer: a detector trains at least one epoch (recipe and prune_d)")
    import importlib.util

    if importlib.util.find_spec("pycocotools") is None:
        raise PrunelabError("transfer: detection's mAP needs pycocotools: pip install 'prunelab[detection]'")
    return Transfer(tuple(t.settings), task_of(t.data, t.detector, t.root), recipe, prune_d)


def add_runs(grid, arm, seed: int, base_run, level_runs: list, seen: dict, common: dict, PlannedRun) -> None:
    """The transfer runs of one (seed, pruned model), appended to ``grid.runs`` after its
    classification runs (``PlannedRun``: plan.py's class); ``seen`` keeps the seed's shared detector
    run (Prune-D's first step)."""
    from .prune_step import PruneStep
    from .settings import canonical

    t = grid.sections.transfer
    _check_arm(arm, t)
    by_regime = {r.regime: r for r in level_runs}
    method = {"method": arm.method.describe(arm.params), "pruned": arm.label}
    for setting in t.settings:
        labels = {**common, "task": "detection", "regime": setting, "setting": setting, **method,
                  "baseline_run": base_run.settings.run_id()}
        if SETTINGS[setting] is not None:
            run = PlannedRun(setting, seed, labels, base_run.settings, arm, part=grid, backbone=by_regime[
                SETTINGS[setting]], transfer=t)
            resolve(run)  # (where the classifier's settings are known now)
            grid.runs.append(run)
            continue
        key = (base_run.settings.run_id(), seed)  # (an imported large model is one run for every seed)
        if key not in seen:  # the unpruned detector of this seed's large model (shared by the pruned models)
            det = PlannedRun("detector", seed, {**common, "task": "detection", "regime": "detector",
                                                "setting": "detector", "baseline_run": key[0], "from_baseline": True},
                             base_run.settings, None, part=grid, backbone=base_run, transfer=t)
            resolve(det)
            seen[key] = det
            grid.runs.append(det)
        det = seen[key]
        step = PruneStep(arm.method.name, canonical(arm.params), det.settings.run_id(), seed,
                         arm.method.code(arm.params))
        run = PlannedRun(setting, seed, {**labels, "prune": step.id}, base_run.settings, arm, step, source=det,
                         part=grid, transfer=t)
        resolve(run)  # (where the pruned architecture is planned)
        grid.runs.append(run)


def resolve(run, store=None, resolve_backbone=None) -> bool:
    """Fill in a transfer run's settings where its inputs are known: a backbone run's settings,
    or (Prune-D) the pruned architecture (planned, or found by its prune step in ``store``)."""
    if run.settings is not None:
        return True
    t = run.transfer
    if run.backbone is not None:
        bb = run.backbone
        if bb.settings is None and not (resolve_backbone is not None and resolve_backbone(bb)):
            return False
        arch, init = bb.settings.arch, {"kind": "backbone", "from_run": bb.settings.run_id()}
        chain = [*bb.labels.get("chain", []), bb.settings.run_id()] if bb.transfer else _chain(bb)
        from_baseline = run.regime == "detector" or bool(bb.labels.get("from_baseline"))
    else:
        from .prune_step import product

        arch = run.arm.planned.to_dict() if run.arm.planned is not None else None
        if arch is None:
            found = product(store, run.prune.id) if store is not None else None
            if found is None:
                return False
            arch = found["spec"]
        det = run.source.settings.run_id()
        init = {"kind": "inherit", "from_prune": run.prune.id, "heads": det}
        chain, from_baseline = [*run.source.labels.get("chain", []), det], True
    labels = {**run.labels, "chain": chain, "from_baseline": from_baseline}
    run.settings = RunSettings(arch=arch, data=_data(run), recipe=t.recipe_for(run.regime), seed=run.seed, init=init,
                               labels=labels, task=t.task).check(TITLES[run.regime])
    run.labels = labels
    return True


def _chain(cls_run) -> list[str]:
    """The classification runs a backbone's training stands on: the arm, after the large model where
    its weights or its (found) architecture come from it (labels ``from_baseline``)."""
    ids = [cls_run.settings.run_id()]
    if cls_run.arm is not None and cls_run.labels.get("from_baseline"):
        ids.insert(0, cls_run.baseline.run_id())
    return ids


def _check_arm(arm, t: Transfer) -> None:
    """What would fail only after the classifiers have trained, refused at planning (one line)."""
    from ..arch import build
    from ..arch.families import require

    where = f"transfer ({arm.method.name} on {arm.base.name})"
    if arm.method.kind != "structured":
        raise PrunelabError(f"{where}: a detector takes a physically pruned backbone; '{arm.method.name}' is "
                            f"{arm.method.kind} (its masks would not hold in the detector's training)")
    family = require(arm.base, ("features",), "a detector")
    if "prune-d" in t.settings:
        if arm.method.reads_data:
            raise PrunelabError(f"{where}: Prune-D prunes the detector's backbone, and '{arm.method.name}' scores "
                                "filters on classification images; use a criterion of the weights (l1-norm, "
                                "l2-norm, fpgm, group-norm) or leave prune-d out of transfer.settings")
        if arm.planned is not None:
            with torch.device("meta"):
                channels = [family.features(build(s))[1] for s in (arm.base, arm.planned)]
            if channels[0] != channels[1]:
                raise PrunelabError(f"{where}: Prune-D keeps the detector's layers, which read the backbone's "
                                    f"{channels[0]} output channels; {arm.planned.name} has {channels[1]} (prune "
                                    "the last layer less, or leave prune-d out of transfer.settings)")


def _data(run):
    from ..data import DataSettings

    return DataSettings(run.part.data.dataset)  # (the classification set: the images' normalisation)
