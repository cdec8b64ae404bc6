"""What a model family is: one ``Family`` object per family, exported by its module (``vgg.CIFAR``,
``resnet.FAMILY``, ...) and registered in ``arch/families.py``.

A family turns a spec's ``layout`` into a model and knows the layout's prunable widths; it must
estimate a spec's size before building (the guard against absurd specs), so a family without an
``estimate`` cannot be registered. Beyond that, it may offer *capabilities* that some methods
require; a method names the capabilities it needs (``Method.requires``), never family names:

- ``bn_groups(model)``: the BatchNorms whose channels Network Slimming prunes;
- ``consumer(model, layer)``: the layer that reads a conv's filters (ThiNet, regression pruning);
- ``blocks(layout)`` and ``block_inputs(spec)``: blocks whose input selection a preset may set
  (regression pruning's ResNet-50-2x);
- ``branch_scales(spec)``: the spec with a scale on every residual branch (Sparse Structure Selection);
- ``conv_bn``: every conv is followed by its own BatchNorm (Soft Filter Pruning's masks);
- ``units(spec)``: the channel units patterns and uniform architectures set (architecture search);
  ``knobs(spec)``: more layout paths a uniform net may move by single channels;
- ``scale(spec, sc, clamp)``: the layout with every width scaled (width multipliers, uniform nets);
- ``features(model)``: (the model's convolutional part, sharing its modules; its output channels):
  the backbone a detector takes (``prunelab.detection``).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Callable

from ..errors import PrunelabError

CAPABILITIES = {  # capability -> what a method that requires it needs, for its error line
    "bn_groups": "BatchNorm groups to slim",
    "consumer": "the consumer of each pruned conv",
    "blocks": "residual blocks with input selections",
    "branch_scales": "scalable residual branches",
    "conv_bn": "a BatchNorm after every conv",
    "units": "channel units",
    "scale": "width multipliers",
    "features": "a convolutional feature extractor (a detection backbone)",
}


@dataclass(frozen=True)
class Family:
    """A model family: how its layout builds, validates, prunes and scales, its size estimate
    (required), and the capabilities some methods require (see the module's docstring)."""

    name: str
    model: Callable  # spec -> nn.Module: a model class, or a factory (torchvision)
    validate: Callable  # spec -> None, raises PrunelabError naming the problem
    widths: Callable  # spec -> {conv module name: output width} of the prunable convs
    set_widths: Callable  # (layout, {name: width}) -> None, in place
    estimate: Callable  # spec -> (conv and linear layers, parameters), without building
    units: Callable | None = None  # spec -> iterable of search.units.Unit
    set_selections: Callable | None = None  # (layout, {block path: indices | None}) -> None: input selections
    linear_widths: Callable | None = None  # spec -> {linear module name: width} of prunable hidden FC layers
    set_linear_widths: Callable | None = None  # (layout, {name: width}, spec) -> None
    knobs: Callable | None = None  # spec -> [layout path]: widths beyond the units a uniform net may move
    # (spec, sc, clamp) -> the layout with every width w scaled to sc(w): width multipliers
    # (``--width``) and uniform architectures; ``clamp``: keep widths within their full ones
    scale: Callable | None = None
    # capabilities some methods require (see the module's docstring)
    bn_groups: Callable | None = None
    consumer: Callable | None = None
    blocks: Callable | None = None
    block_inputs: Callable | None = None
    branch_scales: Callable | None = None
    features: Callable | None = None
    conv_bn: bool = False

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise PrunelabError("a model family needs a name")
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name not in ("name", "conv_bn") and v is not None and not callable(v):
                raise PrunelabError(f"model family '{self.name}': '{f.name}' must be callable")
        for need in ("model", "validate", "widths", "set_widths", "estimate"):
            if getattr(self, need) is None:
                raise PrunelabError(f"model family '{self.name}' has no '{need}'"
                                    + (" (its size guard)" if need == "estimate" else ""))

    def has(self, capability: str) -> bool:
        if capability not in CAPABILITIES:
            raise PrunelabError(f"unknown family capability '{capability}' (known: {', '.join(CAPABILITIES)})")
        return bool(getattr(self, capability))
