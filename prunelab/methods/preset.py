"""A named architecture trained from scratch: no pruning, no inherited weights.

The paper trains published pruned architectures it has no weights for (Sparse Structure
Selection's ResNet-26/32/41, ThiNet's and regression pruning's targets) with Scratch-E and
Scratch-B only. ``preset`` makes such an arm: its ``target`` names the architecture (a preset of
the dataset); the large model of the same file gives the Unpruned column and Scratch-B's budget.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..arch import ArchSpec, resolve
from ..errors import PrunelabError
from . import register
from .base import Method, PruneData, PruneResult


@dataclass(frozen=True)
class Params:
    target: str = ""  # a preset name, e.g. resnet41-sss


@register("preset")
class Preset(Method):
    kind = "structured"
    Params = Params
    inherits = False  # no weights to fine-tune: scratch regimes only
    tickets = False

    def check(self, params: Params) -> None:
        if not isinstance(params.target, str) or not params.target:
            raise PrunelabError("preset: the target must be an architecture name (e.g. resnet41-sss)")

    def planned_spec(self, base: ArchSpec, params: Params, dataset: str) -> ArchSpec:
        spec = resolve(params.target, dataset)
        if spec.family != base.family:
            raise PrunelabError(f"preset '{params.target}' is a {spec.family}, not a {base.family} like '{base.name}'")
        return spec

    def prune(self, model, params: Params, data: PruneData) -> PruneResult:
        raise PrunelabError(f"preset '{params.target}' has no inherited weights: use scratch regimes only")
