"""Soft Filter Pruning (He et al. 2018): while the large model trains, zero the lowest-L2 filters
of every conv after every epoch (and once at the start); zeroed filters keep training and may
come back. At the end, prune those filters: physically where that is possible (the block-inner
convs whose outputs feed only the next conv), as masks where it is not (convs whose outputs join
the residual stream: the stem and each block's last conv). The report gives both the physical MACs
(``macs``) and the effective, zero-skipping MACs (``macs_nonzero``).

``target`` is the fraction of filters pruned per conv: int(C * target) filters, as the reference
computes them (``target`` 0.3 = the reference's compress rate 0.7). ``layers``: ``all`` convs
(the reference) or ``inner`` (only those that can be removed physically).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..arch import build, prunable_widths, with_widths
from ..measure import count
from ..errors import PrunelabError
from ..prune import prune_channels
from ..train import Hooks
from . import register
from .base import Method, PruneData, PruneResult


@dataclass(frozen=True)
class Params:
    target: float = 0.3  # fraction of each conv's filters zeroed every epoch, then pruned
    layers: str = "all"  # all | inner


def soft_pruned(model: nn.Module, layers: str) -> dict[str, nn.Conv2d]:
    """The convs soft filter pruning zeroes, by module name."""
    inner = set(prunable_widths(model.arch_spec))
    return {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and (layers == "all" or n in inner)}


def lowest_filters(conv: nn.Conv2d, target: float) -> list[int]:
    """The int(C * target) filters of smallest L2 norm (ties: the lower index goes first)."""
    norms = conv.weight.detach().flatten(1).norm(dim=1).double()
    return sorted(torch.sort(norms, stable=True).indices[: int(conv.out_channels * target)].tolist())


class SoftZero(Hooks):
    def __init__(self, target: float, layers: str):
        self.target, self.layers = target, layers

    @torch.no_grad()
    def zero(self, model: nn.Module) -> None:
        for conv in soft_pruned(model, self.layers).values():
            conv.weight[lowest_filters(conv, self.target)] = 0

    def prepare(self, model: nn.Module) -> None:
        self.zero(model)

    def after_epoch(self, model: nn.Module, epoch: int) -> None:
        self.zero(model)


@register("sfp")
class SoftFilterPruning(Method):
    kind = "structured"
    Params = Params
    train_fields = ("target", "layers")
    requires = ("conv_bn",)  # a zeroed filter is a zeroed channel up to its BN (post-activation convs)

    def check(self, params: Params) -> None:
        if not 0 < params.target < 1:
            raise PrunelabError(f"sfp: target (the fraction of filters pruned) must be in (0, 1), got {params.target}")
        if params.layers not in ("all", "inner"):
            raise PrunelabError(f"sfp: layers must be 'all' or 'inner', not {params.layers!r}")

    def hooks(self, params) -> Hooks:
        return SoftZero(params.target, params.layers)

    def label(self, base, params, dataset) -> str:
        return f"{base.name}-sfp{params.target:g}"

    def masked(self, params) -> bool:
        return params.layers == "all"  # the stem and the blocks' last convs keep masks

    def planned_spec(self, base, params, dataset):
        """The counts are fixed (C - int(C * target) filters per conv): the architecture is planned."""
        widths = {n: c - int(c * params.target) for n, c in prunable_widths(base).items()}
        return with_widths(base, {n: k for n, k in widths.items() if k != prunable_widths(base)[n]},
                           name=self.label(base, params, dataset))

    def planned_macs(self, base, params, dataset) -> float:
        spec = self.planned_spec(base, params, dataset)
        model = build(spec, device="meta")
        inner = set(prunable_widths(spec))
        density = {n: (c.out_channels - int(c.out_channels * params.target)) / c.out_channels
                   for n, c in soft_pruned(model, params.layers).items() if n not in inner}
        c = count(model)
        return c.macs - sum(lc.macs * (1 - density.get(lc.name, 1.0)) for lc in c.layers)

    @torch.no_grad()
    def prune(self, model: nn.Module, params: Params, data: PruneData) -> PruneResult:
        self.check_base(model.arch_spec)
        inner = set(prunable_widths(model.arch_spec))
        kept, masked = {}, {}
        for name, conv in soft_pruned(model, params.layers).items():
            drop = lowest_filters(conv, params.target)
            keep = sorted(set(range(conv.out_channels)) - set(drop))
            if not drop:
                continue
            if name in inner:
                kept[name] = keep
            else:
                masked[name] = drop
        pruned = prune_channels(model, kept, name=f"{model.arch_spec.name}-sfp{params.target:g}")
        masks = {}
        for name, drop in masked.items():
            w = pruned.get_submodule(name).weight
            m = torch.ones(w.shape, dtype=torch.bool)
            m[drop] = False
            masks[f"{name}.weight"] = m
        if masks:
            pruned.masks = masks
        return PruneResult(pruned, kept=kept,
                           info={"removed_layers": len(kept), "masked_layers": len(masked),
                                 "removed_filters": sum(model.get_submodule(k).out_channels - len(v)
                                                        for k, v in kept.items()),
                                 "masked_filters": sum(len(v) for v in masked.values())})
