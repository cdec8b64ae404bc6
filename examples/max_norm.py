"""A pruning method of your own, judged by prunelab (docs/judge.md).

Filter pruning by the largest absolute weight of each filter (its L-infinity norm) instead of the
sum (L1). Everything else (targets, surgery, Torch-Pruning's couplings) comes from prunelab's
L1-norm method, so the method is its score and nothing more.

    cd examples
    PYTHONPATH=. prunelab judge ../experiments/small/judge-fashion.yaml --method max_norm:MaxNorm
"""
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from prunelab.methods.l1_norm import L1Norm


@dataclass(frozen=True)
class Params:
    target: Any = None  # filled from the experiment file's `targets` (a ratio or a preset)


class MaxNorm(L1Norm):
    Params = Params

    def score(self, conv: nn.Conv2d) -> torch.Tensor:
        return conv.weight.detach().abs().flatten(1).amax(dim=1)

    def rule(self, params) -> str:
        return "largest"
