"""L2-norm filter pruning: L1-norm's procedure with each filter scored by its Euclidean norm."""
from __future__ import annotations

import torch
from torch import nn

from ..prune.criteria import l2_norm
from . import register
from .l1_norm import L1Norm


@register("l2-norm")
class L2Norm(L1Norm):
    def score(self, conv: nn.Conv2d) -> torch.Tensor:
        return l2_norm(conv)
