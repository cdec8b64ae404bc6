"""Selection controls for filter pruning: the same target widths as L1-norm, but keeping a
seeded random subset of filters (``random``) or the smallest-L1 filters (``smallest``). If a
method's inherited weights beat these, its criterion mattered."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import register
from .l1_norm import L1Norm


@dataclass(frozen=True)
class Params:
    target: Any = None  # as for l1-norm


@register("random")
class RandomFilters(L1Norm):
    Params = Params

    def rule(self, params) -> str:
        return "random"


@register("smallest")
class SmallestFilters(L1Norm):
    Params = Params

    def rule(self, params) -> str:
        return "smallest"
