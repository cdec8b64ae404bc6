"""Guided pruning (paper Section 5): an architecture built from a pattern of kept ratios.

The pattern (``prunelab pattern``: the kept ratio per layer or per stage of pruned
architectures, e.g. averaged over Network Slimming's seeds) sets every width of the base to
round(base width x ratio x g), with one global g such that the params (or MACs) are ``target``
times the base's. A pattern found on one architecture or dataset guides another of the family
(transferred guided pruning: by stage, or by relative position in the stage). The architecture is
planned; it is trained from scratch only. The pattern file's content (not its path) is part of
the parameters, so the run identity follows the pattern.

YAML: ``prune: {method: guided, pattern: patterns/vgg19-c10.json, level: stage}`` with
``targets: [0.3]`` (params kept, as a fraction of the base's).

Guided sparsification: a sparsity pattern (``prunelab pattern`` of a masked model: the density of
every masked weight) makes masks instead: each layer keeps its largest weights at the pattern's
density times one factor, so that ``target`` of the weights are kept (by name, or by relative
position of the conv on another architecture). The masks are made from the large model at the prune
step; scratch regimes train under them.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..arch import ArchSpec, build
from ..config import from_mapping
from ..errors import PrunelabError
from ..search import guided, load_pattern, size, sparsify
from ..search.fit import BY
from ..search.pattern import LEVELS, check_pattern, digest, to_stage
from . import register
from .base import Method, PruneData, PruneResult


@dataclass(frozen=True)
class Params:
    pattern: Any = None  # a pattern file (read when the parameters are read) or a pattern mapping
    target: float = 0.5  # params (or MACs) kept, as a fraction of the base's
    level: str = ""  # "" (the pattern's own), stage (average a layer pattern per stage) or layer
    by: str = "params"


@register("guided")
class Guided(Method):
    kind = "structured"
    Params = Params
    inherits = False  # a guided net has no inherited weights: scratch regimes only
    tickets = False
    search = efficiency_plot = True

    def params(self, mapping: dict | None = None, where: str | None = None):
        p = from_mapping(self.Params, dict(mapping or {}), where or f"method '{self.name}'")
        if isinstance(p.pattern, str):
            p = dataclasses.replace(p, pattern=load_pattern(p.pattern))
        self.check(p)
        self.kind = "unstructured" if _sparse(p) else "structured"  # guided sparsification: masks
        return p

    def check(self, params: Params) -> None:
        if params.pattern is None:
            raise PrunelabError("guided: 'pattern' must name a pattern file (make one with prunelab pattern)")
        check_pattern(params.pattern)
        own = params.pattern["level"]
        if params.level not in ("", *LEVELS) or (params.level and own not in ("layer", params.level)):
            raise PrunelabError(f"guided: level must be stage or layer (a stage pattern stays stage, a sparsity "
                                f"pattern is per weight), not {params.level!r}")
        if not 0 < params.target <= 1 or params.by not in BY:
            raise PrunelabError(f"guided: target (the fraction of params kept) must be in (0, 1] and by params or "
                                f"macs, got {params.target} and {params.by!r}")

    def planned_spec(self, base: ArchSpec, params: Params, dataset: str) -> ArchSpec | None:
        if _sparse(params):
            return None  # the masks are made at the prune step, from the large model's weights
        return guided(base, self.chosen(params), params.target * size(base, params.by), params.by,
                      name=self.label(base, params, dataset))

    def chosen(self, params: Params) -> dict:
        return to_stage(params.pattern) if params.level == "stage" else params.pattern

    def describe(self, params: Params) -> str:
        level = self.chosen(params)["level"]
        return f"guided({params.pattern['source']}, {level}{', by=macs' if params.by == 'macs' else ''})"

    def label(self, base: ArchSpec, params: Params, dataset: str) -> str:
        p = self.chosen(params)
        return f"{base.name}-guided{params.target:g}-{p['level']}-{digest(p)[:6]}"

    def prune(self, model, params: Params, data: PruneData) -> PruneResult:
        if _sparse(params):  # the pattern's densities, scaled to keep `target` of the weights: largest ones
            model.masks = sparsify(model, params.pattern, density=params.target)
            return PruneResult(model, info={"pattern": params.pattern["source"], "sparsity": 1 - params.target})
        spec = self.planned_spec(model.arch_spec, params, data.dataset)
        return PruneResult(build(spec).to(next(model.parameters()).device), info={"pattern": params.pattern["source"]})


def _sparse(params: Params) -> bool:
    return params.pattern["level"] == "weights"
