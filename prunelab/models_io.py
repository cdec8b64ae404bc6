"""Model files: an architecture spec plus weights (and optionally masks), loaded weights-only.

A masked (unstructured-pruned) model carries ``model.masks``: {parameter name: bool tensor}, True
where a weight is kept. ``save`` writes them and ``load`` restores them, checked against the
architecture; the engine keeps masked weights exactly zero while training.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .arch import ArchSpec, build
from .errors import PrunelabError
from .fileio import atomic_torch_save, torch_load
from .masks import check_masks, masks_of

FORMAT = "prunelab-model/1"


def save(model: nn.Module, path: str | Path, extra: dict | None = None) -> None:
    """Write ``model`` (its architecture spec, weights, masks) and ``extra`` to ``path`` atomically, with its
    checksum; ``load`` reads it back with ``weights_only=True``."""
    spec = getattr(model, "arch_spec", None)
    if spec is None:
        raise PrunelabError("model has no architecture spec (build it with prunelab.build)")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    obj = {"format": FORMAT, "spec": spec.to_dict(), "state_dict": state, **(extra or {})}
    if masks_of(model):
        obj["masks"] = {k: v.cpu() for k, v in masks_of(model).items()}
    atomic_torch_save(path, obj)


def load(path: str | Path, expect: ArchSpec | None = None, device: str | torch.device = "cpu") -> nn.Module:
    """Build the saved spec and load its weights (and masks). ``path`` may be a model file or a run folder.

    With ``expect``, a file of another architecture is an error.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    return _from_object(torch_load(path, "model file"), path, expect).to(device)


def _from_object(obj: dict, path: Path, expect: ArchSpec | None) -> nn.Module:
    if obj.get("format") != FORMAT or not isinstance(obj.get("spec"), dict) or not isinstance(
            obj.get("state_dict"), dict):
        raise PrunelabError(f"{path} is not a prunelab model file (it needs 'spec' and 'state_dict')")
    spec = ArchSpec.from_dict(obj["spec"])
    if expect is not None and spec.to_dict()["layout"] != expect.to_dict()["layout"]:
        raise PrunelabError(f"{path} holds architecture '{spec.name}', not '{expect.name}'")
    model = build(spec)
    try:
        model.load_state_dict(obj["state_dict"])
    except (RuntimeError, TypeError, AttributeError) as e:
        raise PrunelabError(f"{path}: weights do not fit architecture '{spec.name}': {str(e).splitlines()[0]}")
    if not all(torch.isfinite(v).all() for v in model.state_dict().values() if v.is_floating_point()):
        raise PrunelabError(f"{path}: the weights contain NaN or infinity (a diverged model?)")
    if obj.get("masks"):
        model.masks = check_masks(model, obj["masks"], str(path))
    if obj.get("detector") is not None:  # a detection run's file: its backbone, as a classifier (detection/run.py)
        model.detection_backbone = True
    return model


def classifier(model: nn.Module, path) -> nn.Module:
    """``model`` if it is a classifier; a detection run's backbone (whose classifier head was never
    trained on its weights) is refused in one line."""
    if getattr(model, "detection_backbone", False):
        raise PrunelabError(f"{path} is a detection run's model: its backbone was trained on detection and its "
                            "classifier head is stale; prune or export a classification run's model.pt")
    return model


def load_weights(path: str | Path, spec: ArchSpec, where: str = "weights") -> nn.Module:
    """A model of ``spec`` holding the weights of ``path``: a prunelab model file (``prunelab
    import-weights`` or ``train`` wrote it; its architecture must be ``spec``, whatever its name) or a
    torchvision-format state_dict (mapped onto ``spec`` by ``arch.torchvision_import``). Read with
    ``weights_only=True``; a file of another architecture is one line naming the difference."""
    from dataclasses import replace

    from .arch.torchvision_import import state_dict_of, to_model

    path = Path(path)
    obj = torch_load(path, "weights file", expect="a prunelab model file or a torchvision-format state_dict")
    if obj.get("format") != FORMAT:
        return to_model(state_dict_of(obj, path), spec, f"{where}: {path}")
    model = _from_object(obj, path, None)
    if replace(model.arch_spec, name=spec.name) != spec:
        raise PrunelabError(f"{where}: {path} holds a model of architecture '{model.arch_spec.name}' "
                            f"({model.arch_spec.in_channels}x{model.arch_spec.input_size}x"
                            f"{model.arch_spec.input_size}, {model.arch_spec.num_classes} classes), not '{spec.name}'")
    if masks_of(model):
        raise PrunelabError(f"{where}: {path} holds a masked (pruned) model; a baseline must be dense")
    model.arch_spec = spec
    return model
