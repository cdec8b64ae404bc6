"""The family registry: family name -> model class, layout validation and prunable widths."""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..errors import PrunelabError
from . import densenet, imagenet_resnet, preresnet, resnet, torchvision_family, vgg
from .layers import init_weights
from .size import check_size
from .spec import VALIDATORS, ArchSpec


@dataclass(frozen=True)
class Family:
    model: Callable  # spec -> nn.Module: a model class, or a factory (torchvision)
    validate: Callable
    widths: Callable  # spec -> {conv module name: output width} of the prunable convs
    set_widths: Callable  # (layout, {name: width}) -> None, in place
    set_selections: Callable | None = None  # (layout, {block path: indices | None}) -> None: input selections
    linear_widths: Callable | None = None  # spec -> {linear module name: width} of prunable hidden FC layers
    set_linear_widths: Callable | None = None  # (layout, {name: width}, spec) -> None


FAMILIES: dict[str, Family] = {
    "vgg": Family(vgg.CifarVGG, vgg.validate_cifar, vgg.widths, vgg.set_widths),
    "vgg-imagenet": Family(vgg.ImageNetVGG, vgg.validate_imagenet, vgg.widths, vgg.set_widths,
                           linear_widths=vgg.linear_widths, set_linear_widths=vgg.set_linear_widths),
    "resnet": Family(resnet.CifarResNet, resnet.validate, resnet.widths, resnet.set_widths),
    "preresnet": Family(preresnet.PreResNet, preresnet.validate, preresnet.widths, preresnet.set_widths,
                        preresnet.set_selections),
    "densenet": Family(densenet.DenseNet, densenet.validate, densenet.widths, densenet.set_widths,
                       densenet.set_selections),
    "resnet-imagenet": Family(
        imagenet_resnet.ImageNetResNet, imagenet_resnet.validate, imagenet_resnet.widths, imagenet_resnet.set_widths,
        imagenet_resnet.set_selections,
    ),
    "torchvision": Family(torchvision_family.TorchvisionModel, torchvision_family.validate,
                          torchvision_family.widths, torchvision_family.set_widths),
}


def family(spec: ArchSpec) -> Family:
    try:
        return FAMILIES[spec.family]
    except KeyError:
        raise PrunelabError(f"unknown model family '{spec.family}' (known: {', '.join(sorted(FAMILIES))})")


def validate(spec: ArchSpec) -> None:
    if not isinstance(spec.layout, dict):
        raise PrunelabError(f"{spec.name}: layout must be an object")
    try:
        family(spec).validate(spec)
        check_size(spec)
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
