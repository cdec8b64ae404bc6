"""The family registry: family name -> its ``Family`` object (``arch/family.py``), one per family
module. Adding a family is one module exporting a ``Family`` and one ``register`` line."""
from __future__ import annotations

import contextlib
import copy
import functools

import torch
from torch import nn

from ..errors import PrunelabError
from . import densenet, imagenet_resnet, preresnet, resnet, torchvision_family, vgg, vit
from .family import CAPABILITIES, Family
from .layers import init_weights
from .size import check_size
from .spec import VALIDATORS, ArchSpec

FAMILIES: dict[str, Family] = {}


def register(fam: Family) -> Family:
    """Add a family (refused without a size estimate, or under a name already taken)."""
    if not isinstance(fam, Family):
        raise PrunelabError(f"register: {fam!r} is not a Family")
    if fam.name in FAMILIES and FAMILIES[fam.name] is not fam:
        raise PrunelabError(f"model family '{fam.name}' is already registered")
    FAMILIES[fam.name] = fam
    return fam


for _fam in (vgg.CIFAR, vgg.IMAGENET, resnet.FAMILY, preresnet.FAMILY, densenet.FAMILY, imagenet_resnet.FAMILY,
             torchvision_family.FAMILY, vit.FAMILY):
    register(_fam)


def family(spec: ArchSpec | str) -> Family:
    name = spec if isinstance(spec, str) else spec.family
    try:
        return FAMILIES[name]
    except KeyError:
        raise PrunelabError(f"unknown model family '{name}' (known: {', '.join(sorted(FAMILIES))})")


def with_capability(capability: str) -> list[str]:
    """The registered families that have ``capability`` (see ``arch/family.py``)."""
    if capability not in CAPABILITIES:
        raise PrunelabError(f"unknown family capability '{capability}' (known: {', '.join(CAPABILITIES)})")
    return [name for name, fam in FAMILIES.items() if fam.has(capability)]


def require(spec: ArchSpec, capabilities, who: str) -> Family:
    """``spec``'s family, refused in one line naming what it lacks for ``who`` (a method)."""
    fam = family(spec)
    for cap in capabilities:
        if not fam.has(cap):
            raise PrunelabError(f"{who} needs {CAPABILITIES[cap]}, which {', '.join(with_capability(cap)) or 'no'} "
                                f"models have, not '{spec.name}' ({spec.family})")
    return fam


def estimate(spec: ArchSpec) -> tuple[int, int]:
    """(conv and linear layers, parameters) of a validated spec, without building it."""
    return family(spec).estimate(spec)


def validate(spec: ArchSpec) -> None:
    if not isinstance(spec.layout, dict):
        raise PrunelabError(f"{spec.name}: layout must be an object")
    try:
        family(spec).validate(spec)
        check_size(spec, family(spec).estimate)
    except (KeyError, TypeError, IndexError, ValueError, AttributeError) as e:
        raise PrunelabError(f"{spec.name}: malformed layout ({type(e).__name__}: {e})")


VALIDATORS.append(validate)  # ArchSpec.from_dict checks every spec with it


def build(spec: ArchSpec, seed: int | None = None, device: str | torch.device | None = None) -> nn.Module:
    """Build a randomly initialised model of this spec (seeded when ``seed`` is given).

    ``device="meta"`` builds shapes only (no memory, no init): enough for counting params/MACs.
    """
    validate(spec)
    if seed is not None:
        torch.manual_seed(seed)
    with torch.device(device) if device is not None else contextlib.nullcontext():
        model = family(spec).model(spec)
    if not next(model.parameters()).is_meta:
        init_weights(model)
    model.arch_spec = spec  # the model carries its architecture
    return model


def prunable_widths(spec: ArchSpec) -> dict[str, int]:
    return family(spec).widths(spec)


def linear_widths(spec: ArchSpec) -> dict[str, int]:
    fam = family(spec)
    return fam.linear_widths(spec) if fam.linear_widths else {}


def with_widths(spec: ArchSpec, new: dict[str, int], name: str | None = None,
                selections: dict | None = None) -> ArchSpec:
    """A copy of ``spec`` with some prunable convs' (or hidden linear layers') output widths changed
    and, optionally, some blocks' input selections set."""
    known = prunable_widths(spec)
    linear = linear_widths(spec)
    for layer, k in new.items():
        if layer not in known and layer not in linear:
            raise PrunelabError(f"{spec.name}: '{layer}' is not a prunable layer")
        if not isinstance(k, int) or k < 1:
            raise PrunelabError(f"{spec.name}: layer '{layer}' would keep {k} channels (at least 1 needed)")
    layout = copy.deepcopy(spec.layout)
    fam = family(spec)
    fam.set_widths(layout, {k: v for k, v in new.items() if k in known})
    if any(k in linear for k in new):
        fam.set_linear_widths(layout, {k: v for k, v in new.items() if k in linear}, spec)
    if selections:
        if fam.set_selections is None:
            raise PrunelabError(f"{spec.name}: family '{spec.family}' has no input channel selections")
        try:
            fam.set_selections(layout, selections)
        except (ValueError, IndexError, KeyError, TypeError):
            raise PrunelabError(f"{spec.name}: unknown selection point among {sorted(selections)}")
    return ArchSpec.from_dict({**spec.to_dict(), "layout": layout, "name": name or spec.name})


@functools.lru_cache(maxsize=256)
def _kinds(spec_json: str) -> tuple[tuple[str, str], ...]:
    spec = ArchSpec.from_json(spec_json)
    model = build(spec, device="meta")

    def kind(m):
        return "conv" if isinstance(m, nn.Conv2d) else "heads" if hasattr(m, "keep_heads") else "linear"

    return tuple((k, kind(model.get_submodule(k))) for k in prunable_widths(spec))


def width_kinds(spec: ArchSpec) -> dict[str, str]:
    """What each prunable width of ``spec`` counts: ``conv`` filters, ``linear`` outputs (a ViT's MLP
    units) or attention ``heads``."""
    return dict(_kinds(spec.to_json()))


def non_conv_layers(spec: ArchSpec) -> list[str]:
    """The prunable widths of ``spec`` that are not a conv's filters (a ViT's heads and MLP widths)."""
    return [k for k, kind in width_kinds(spec).items() if kind != "conv"]

