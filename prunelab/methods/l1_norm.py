"""L1-norm filter pruning (Li et al. 2017), the template of a method.

Score every filter of each prunable conv by the sum of its absolute weights, keep the largest to
a predefined target (a preset such as ``resnet56-B``, a ratio, or per-stage ratios with a skip
list), remove the rest physically. One shot, no data, no training hooks; the pruned
architecture is known before any training, so ``plan`` shows every budget as a number.

YAML: ``prune: {method: l1-norm, selection: largest}`` with ``targets: [...]`` per model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..arch import ArchSpec
from ..errors import PrunelabError
from ..prune import SELECTIONS, parse_target, prune, target_spec, target_widths
from ..prune.criteria import l1_norm
from . import register
from .base import Method, PruneData, PruneResult


@dataclass(frozen=True)
class Params:
    target: Any = None  # a preset name, a ratio, or {ratio | stages, skip, round_to}
    selection: str = "largest"  # largest | smallest | random (controls)


@register("l1-norm")
class L1Norm(Method):
    kind = "structured"
    Params = Params

    def score(self, conv: nn.Conv2d) -> torch.Tensor:
        return l1_norm(conv)

    def filter_scores(self, model: nn.Module, layers: list[str], data: PruneData,
                      params) -> dict[str, torch.Tensor] | None:
        """Every filter's score of each of ``layers`` (conv names) from the whole model or the data
        (a criterion that is not a function of one conv's weights: FPGM's distances are, Taylor's,
        HRank's, CHIP's and DepGraph's group norm are not); None: ``score`` of each conv."""
        return None

    def rule(self, params) -> str:
        return params.selection

    def check(self, params: Params) -> None:
        if params.target is None:
            raise PrunelabError(f"method '{self.name}' needs a target (a preset, a ratio or {{ratio: r, ...}})")
        parse_target(params.target)
        if self.rule(params) not in SELECTIONS:
            raise PrunelabError(f"unknown selection '{self.rule(params)}' (known: {', '.join(SELECTIONS)})")

    def planned_spec(self, base: ArchSpec, params: Params, dataset: str) -> ArchSpec:
        return target_spec(base, parse_target(params.target), dataset)

    def prune(self, model: nn.Module, params: Params, data: PruneData) -> PruneResult:
        target = parse_target(params.target)
        score = self.score
        if self.rule(params) != "random":  # (random channels read no scores)
            table = self.filter_scores(model, list(target_widths(model.arch_spec, target, data.dataset)), data, params)
            if table is not None:
                by_module = {model.get_submodule(name): s for name, s in table.items()}
                score = by_module.__getitem__
        pruned, kept = prune(model, target, data.dataset, score, self.rule(params), data.generator())
        return PruneResult(pruned, kept=kept)
