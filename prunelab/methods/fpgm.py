"""FPGM: Filter Pruning via Geometric Median (He et al., CVPR 2019), to a predefined target.

The filters nearest the geometric median of a layer's filters are the most replaceable by the
others. As the authors' code (github.com/he-y/filter-pruning-geometric-median, ``get_filter_similar``)
approximates it, each filter's score is the sum of its Euclidean distances to every filter of the
layer, and the filters of smallest sum are removed. One shot, no data (the paper also prunes softly
during training, as Soft Filter Pruning does; this is its one-shot criterion on a trained model,
as later benchmarks compare it).

YAML: ``prune: {method: fpgm}`` with ``targets: [...]`` per model.
"""
from __future__ import annotations

import torch
from torch import nn

from ..prune.criteria import filters
from . import register
from .controls import Params
from .l1_norm import L1Norm


def fpgm_scores(weight: torch.Tensor) -> torch.Tensor:
    """Sum over the layer's filters j of ||W_i - W_j||_2, for every filter i of a conv weight."""
    w = weight.detach().flatten(1).double()
    return torch.cdist(w, w).sum(dim=1).to(weight.dtype)


@register("fpgm")
class FPGM(L1Norm):
    Params = Params

    def score(self, conv: nn.Module) -> torch.Tensor:
        return fpgm_scores(filters(conv))

    def rule(self, params) -> str:
        return "largest"
