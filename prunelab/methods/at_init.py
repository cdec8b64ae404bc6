"""Pruning at initialisation (unstructured): a mask computed from the large model's *initial*
weights (its ``init.pt``: ``prune_source`` "init"), one global threshold over the prunable weights,
the weights of highest score kept. SNIP, GraSP and SynFlow differ in their score only
(``snip.py``, ``grasp.py``, ``synflow.py``).

Their arms are the lottery regimes: ``winning-ticket`` trains the initial weights under the mask
(the methods' own protocol), ``random-init`` re-draws the kept weights (Frankle et al. 2021's and Su
et al. 2020's re-initialisation check); ``shuffled`` (methods/derived.py) is the same per-layer
densities with each layer's mask shuffled — the sanity check these papers' critics ran.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import PrunelabError
from .base import Method, PruneData, PruneResult
from .magnitude import PRUNABLE, prunable_weights


@dataclass(frozen=True)
class Params:
    target: float = 0.9  # fraction of the prunable weights removed
    prunable: str = "conv+linear"  # the methods' papers prune every conv and linear weight
    images: int = 256  # training images the score reads (SynFlow reads none)
    batch_size: int = 64


class AtInit(Method):
    kind = "unstructured"
    Params = Params
    short = ""

    def check(self, params: Params) -> None:
        if not 0 < params.target < 1:
            raise PrunelabError(f"{self.name}: target (the fraction pruned) must be in (0, 1), got {params.target}")
        if params.prunable not in PRUNABLE:
            raise PrunelabError(f"{self.name}: prunable must be one of {', '.join(PRUNABLE)}, not {params.prunable!r}")
        if params.images < 1 or params.batch_size < 1:
            raise PrunelabError(f"{self.name}: images and batch_size must be positive")

    def prune_source(self, params) -> str:
        return "init"

    def label(self, base, params, dataset) -> str:
        return f"{base.name}-{self.short or self.name}{params.target:g}"

    def scores(self, model: nn.Module, weights: dict[str, torch.Tensor], data: PruneData, params) -> dict:
        """{weight name: score tensor} (higher = kept)."""
        raise NotImplementedError

    def prune(self, model: nn.Module, params: Params, data: PruneData) -> PruneResult:
        if getattr(model, "masks", None):
            raise PrunelabError(f"{self.name}: prunes a dense model at initialisation (this one has masks)")
        weights = prunable_weights(model, params.prunable)
        scores = {k: s.detach().double() for k, s in self.scores(model, weights, data, params).items()}
        masks = keep_top(scores, 1 - params.target)
        model.masks = {k: v.cpu() for k, v in masks.items()}
        kept = sum(int(m.sum()) for m in masks.values())
        total = sum(m.numel() for m in masks.values())
        return PruneResult(model, info={"sparsity": 1 - kept / total, "weights": total,
                                        "kept": {k: int(m.sum()) for k, m in masks.items()},
                                        "widths": {k: m.numel() for k, m in masks.items()}})


def keep_top(scores: dict[str, torch.Tensor], fraction: float) -> dict[str, torch.Tensor]:
    """Masks keeping the ``fraction`` of all weights with the highest scores (one global ranking;
    ties broken by position, so exactly round(fraction x N) weights are kept)."""
    flat = torch.cat([s.flatten() for s in scores.values()])
    k = max(1, round(fraction * flat.numel()))
    keep = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    keep[torch.topk(flat, k, sorted=False).indices] = True
    out, i = {}, 0
    for name, s in scores.items():
        out[name] = keep[i:i + s.numel()].view_as(s)
        i += s.numel()
    return out
