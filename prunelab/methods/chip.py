"""CHIP: CHannel Independence-based Pruning (Sui et al., NeurIPS 2021). A channel whose feature
map the layer's other maps can express carries little of its own: with A the C x HW matrix of one
image's feature maps of a layer (after BN and ReLU, as github.com/Eclipsess/CHIP_NeurIPS2021 hooks
them), channel c's independence is ||A||_* - ||A with row c set to 0||_* (nuclear norms), averaged
over training images; the most independent channels are kept, to a predefined target.

YAML: ``prune: {method: chip, images: 128}`` with ``targets: [...]`` per model.
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
    images: int = 128  # training images (the authors: 5 batches of 128)
    batch_size: int = 32


def independence(maps: torch.Tensor) -> torch.Tensor:
    """N x C x H x W feature maps -> N x C channel independence (nuclear-norm drop without the channel).

    ||A||_* is the sum of the square roots of the eigenvalues of a Gram matrix of A, so each of the C
    nuclear norms is one small symmetric eigenvalue problem (float64) instead of a C x HW SVD: with
    C <= HW the C x C matrix G = A A^T, row and column c zeroed; with HW < C (deep layers of small
    inputs) the HW x HW matrix A^T A - a_c a_c^T, a_c being row c of A."""
    n, c = maps.shape[:2]
    a = maps.reshape(n, c, -1).double()
    hw = a.shape[-1]

    def nuclear(gram):
        return torch.linalg.eigvalsh(gram).clamp(min=0).sqrt().sum(dim=-1)

    out = []
    if c <= hw:
        keep = 1 - torch.eye(c, dtype=torch.float64, device=maps.device)
        for ai in a:  # one image at a time: C copies of its Gram matrix, row and column c zeroed in the c-th
            gi = ai @ ai.T
            out.append(nuclear(gi) - nuclear(gi[None] * keep[:, :, None] * keep[:, None, :]))
    else:
        for ai in a:  # C rank-one downdates of the HW x HW Gram matrix
            gi = ai.T @ ai
            out.append(nuclear(gi) - nuclear(gi[None] - ai[:, :, None] * ai[:, None, :]))
    return torch.stack(out)


@register("chip")
class CHIP(L1Norm):
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
        return accumulate(model, layers, data.batches(params.images, params.batch_size), independence)
