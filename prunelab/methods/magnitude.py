"""Unstructured magnitude pruning (Han et al. 2015): zero the weights of smallest magnitude.

One global threshold over every prunable weight (``scope: global``), or one per layer
(``layerwise``), with the reference's exact rule: sort the N magnitudes ascending, ``thre =
sorted[int(N * p)]``, keep only those strictly greater (ties at the threshold are pruned). A model
that already has masks (iterative pruning) prunes ``p`` of its *remaining* weights, so k rounds of
``p`` reach a sparsity of 1 - (1 - p)^k. The prunable set is a parameter (the reference: conv
weights only; BN, biases and the classifier kept). The result keeps the architecture and carries
masks; scratch arms re-initialise with He's std from each layer's kept fan (``protocol/inits.py``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import PrunelabError
from ..prune import reference_threshold
from . import register
from ..arch.families import non_conv_layers
from .base import Method, PruneData, PruneResult

PRUNABLE = {"conv": (nn.Conv2d,), "conv+linear": (nn.Conv2d, nn.Linear)}


@dataclass(frozen=True)
class Params:
    target: float = 0.5  # fraction of the (remaining) prunable weights to prune
    scope: str = "global"  # global | layerwise
    prunable: str = "conv"  # conv | conv+linear
    mask_from: str = "trained"  # trained: the trained large model's magnitudes | init: its initial weights


def prunable_weights(model: nn.Module, prunable: str) -> dict[str, torch.Tensor]:
    return {f"{n}.weight": m.weight for n, m in model.named_modules() if isinstance(m, PRUNABLE[prunable])}


def threshold_masks(scores: dict[str, torch.Tensor], alive: dict[str, torch.Tensor], fraction: float,
                    scope: str) -> dict[str, torch.Tensor]:
    """Keep |w| strictly above thre = sorted(alive |w|)[int(N * fraction)], globally or per layer."""
    if scope == "layerwise":
        return {k: threshold_masks({k: s}, {k: alive[k]}, fraction, "global")[k] for k, s in scores.items()}
    live = torch.cat([s[alive[k]].flatten() for k, s in scores.items()])
    if live.numel() == 0:
        raise PrunelabError("magnitude: no weight is left to prune")
    thre = reference_threshold(live, fraction)
    return {k: (s > thre) & alive[k] for k, s in scores.items()}


@register("magnitude")
class Magnitude(Method):
    kind = "unstructured"
    Params = Params

    def check(self, params: Params) -> None:
        if not 0 < params.target < 1:
            raise PrunelabError(f"magnitude: target (the fraction pruned) must be in (0, 1), got {params.target}")
        if params.scope not in ("global", "layerwise"):
            raise PrunelabError(f"magnitude: scope must be global or layerwise, not {params.scope!r}")
        if params.mask_from not in ("trained", "init"):
            raise PrunelabError(f"magnitude: mask_from must be trained or init, not {params.mask_from!r}")
        if params.prunable not in PRUNABLE:
            raise PrunelabError(f"magnitude: prunable must be one of {', '.join(PRUNABLE)}, not {params.prunable!r}")

    def check_setting(self, base, params: Params) -> None:
        if params.prunable == "conv" and non_conv_layers(base):
            raise PrunelabError(f"magnitude: '{base.name}' is mostly linear layers (its prunable widths are not convs); "
                                "prunable: conv would mask its patch embedding only — use prunable: conv+linear")

    def prune_source(self, params) -> str:
        return params.mask_from

    def label(self, base, params, dataset) -> str:
        return f"{base.name}-mag{params.target:g}" + ("-lw" if params.scope == "layerwise" else "")

    @torch.no_grad()
    def prune(self, model: nn.Module, params: Params, data: PruneData) -> PruneResult:
        weights = prunable_weights(model, params.prunable)
        old = getattr(model, "masks", None) or {}
        alive = {k: old[k].to(w.device) if k in old else torch.ones_like(w, dtype=torch.bool)
                 for k, w in weights.items()}
        masks = threshold_masks({k: w.abs() for k, w in weights.items()}, alive, params.target, params.scope)
        model.masks = {**{k: v.cpu() for k, v in old.items()}, **{k: v.cpu() for k, v in masks.items()}}
        kept = sum(int(m.sum()) for m in masks.values())
        total = sum(m.numel() for m in masks.values())
        # the threshold: the largest magnitude pruned this round (= sorted[int(N * target)] of the rule)
        pruned = {k: w.abs()[alive[k] & ~masks[k]] for k, w in weights.items()}
        per_layer = {k: float(v.max()) for k, v in pruned.items() if v.numel()}
        thre = max(per_layer.values(), default=0.0) if params.scope == "global" else per_layer
        return PruneResult(model, info={"threshold": thre, "sparsity": 1 - kept / total, "weights": total,
                                        "kept": {k: int(m.sum()) for k, m in masks.items()},
                                        "widths": {k: m.numel() for k, m in masks.items()}})
