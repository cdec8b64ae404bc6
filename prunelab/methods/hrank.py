"""HRank (Lin et al., CVPR 2020): filters whose feature maps have low rank carry little
information. Each filter's score is the average over training images of the rank of its H x W
feature map (after its BN and ReLU, as the authors' code, github.com/lmbxmu/HRank, hooks it;
``torch.linalg.matrix_rank`` with its default tolerance, as their ``torch.matrix_rank``); the
highest-rank filters are kept, to a predefined target.

YAML: ``prune: {method: hrank, images: 256}`` with ``targets: [...]`` per model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..errors import PrunelabError
from ..prune.feature_maps import accumulate
from . import register
from .l1_norm import L1Norm


@dataclass(frozen=True)
class Params:
    target: Any = None  # as for l1-norm
    images: int = 256  # training images whose feature maps are ranked (the authors: 5 batches of 128)
    batch_size: int = 64


def map_ranks(maps: torch.Tensor) -> torch.Tensor:
    """N x C x H x W feature maps -> N x C ranks."""
    return torch.linalg.matrix_rank(maps.float()).to(torch.float64)


@register("hrank")
class HRank(L1Norm):
    conv_filters = True
    reads_data = True
    Params = Params

    def check(self, params) -> None:
        super().check(params)
        if params.images < 1 or params.batch_size < 1:
            raise PrunelabError(f"method '{self.name}': images and batch_size must be positive")

    def rule(self, params) -> str:
        return "largest"

    def filter_scores(self, model, layers, data, params):
        return accumulate(model, layers, data.batches(params.images, params.batch_size), map_ranks)
