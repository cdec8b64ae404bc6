"""Network Slimming (Liu et al. 2017): an L1 penalty on every BatchNorm scale while the large model
trains, then one global threshold on |gamma| finds the pruned architecture.

Training: BN scales start at ``gamma_init`` (0.5, as in the slimming reference; its Scratch-E/B
models start there too, so prunelab's do: ``state_fields``) and, after every
backward, gamma's gradient gets ``lam * sign(gamma)`` (paper: 1e-4 for VGG, 1e-5 for PreResNet-164,
DenseNet-40 and ImageNet VGG-11-BN). Pruning: sort all N scales ascending, ``thre =
sorted[int(N * target)]``, keep the channels whose |gamma| is strictly greater (ties at the
threshold are pruned: with no ties this prunes int(N * target) + 1 channels, as the reference does);
every layer keeps at least ``min_channels`` (the largest ones), and the info says where that floor
acted (the reference has none and crashes when a layer empties).

A BN after a conv (or hidden linear layer) prunes that layer's filters; the first BN of a
pre-activation block, dense layer, transition or head sits on the residual stream or the
concatenation, so its pruned channels are *selected away* (the layer that reads them gets fewer
inputs) instead of removed from the stream. Works on CIFAR VGG, PreResNet, DenseNet (-BC) and the
ImageNet VGG with BN (its FC layers' BNs included). The architecture is found per seed.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..arch.families import require
from ..errors import PrunelabError
from ..prune import prune_channels, reference_threshold
from ..train import Hooks
from . import register
from .base import Method, PruneData, PruneResult


@dataclass(frozen=True)
class Params:
    target: float = 0.5  # fraction of all BN channels to prune (the reference's `percent`)
    lam: float = 1e-4  # L1 strength on BN scales while the large model trains
    gamma_init: float = 0.5  # initial BN scales of the large model
    min_channels: int = 1  # every layer keeps at least this many channels


def scales(model: nn.Module) -> list[torch.Tensor]:
    return [m.weight for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine]


@torch.no_grad()
def fill_scales(model: nn.Module, gamma_init: float) -> None:
    """Every BN scale at ``gamma_init``: the reference's ``m.weight.data.fill_(0.5)`` in
    network-slimming/models/{vgg,preresnet,densenet}.py and imagenet/network-slimming/vgg.py (BN1d
    too), which its scratch runs (main_E.py, main_B.py) build as well."""
    for w in scales(model):
        w.fill_(gamma_init)


class BNScaleL1(Hooks):
    """gamma <- gamma_init at the start; grad(gamma) += lam * sign(gamma) after every backward."""

    def __init__(self, lam: float, gamma_init: float):
        self.lam, self.gamma_init = lam, gamma_init

    scales = staticmethod(scales)

    def prepare(self, model: nn.Module) -> None:
        fill_scales(model, self.gamma_init)

    @torch.no_grad()
    def after_backward(self, model: nn.Module) -> None:
        if self.lam:
            for w in self.scales(model):
                if w.grad is not None:
                    w.grad.add_(torch.sign(w), alpha=self.lam)


def channel_groups(model: nn.Module) -> list[tuple[nn.Module, str, str]]:
    """(BN, "out" | "select", layer or block path) for every BN whose channels slimming prunes: the
    family's ``bn_groups``."""
    spec = model.arch_spec
    groups = require(spec, ("bn_groups",), "slimming").bn_groups(model)
    if not groups:
        raise PrunelabError(f"{spec.name}: no BatchNorm layers to slim")
    return groups


@register("slimming")
class Slimming(Method):
    kind = "structured"
    Params = Params
    train_fields = ("lam", "gamma_init")
    state_fields = ("gamma_init",)
    requires = ("bn_groups",)

    def check(self, params: Params) -> None:
        if not 0 < params.target < 1:
            raise PrunelabError(f"slimming: target (the fraction of channels to prune) must be in (0, 1), "
                                f"got {params.target}")
        if params.lam < 0 or params.gamma_init <= 0 or params.min_channels < 1:
            raise PrunelabError("slimming: lam must be >= 0, gamma_init > 0 and min_channels >= 1")

    def hooks(self, params) -> Hooks:
        return BNScaleL1(params.lam, params.gamma_init)

    def initial_state(self, model: nn.Module, params) -> None:
        fill_scales(model, params.gamma_init)

    def label(self, base, params, dataset) -> str:
        return f"{base.name}-slim{params.target:g}"

    @torch.no_grad()
    def prune(self, model: nn.Module, params: Params, data: PruneData) -> PruneResult:
        groups = channel_groups(model)
        gammas = [bn.weight.detach().abs().cpu() for bn, _, _ in groups]
        allg = torch.cat(gammas)
        thre = reference_threshold(allg, params.target)
        outs, sels, floor, kept_counts = {}, {}, {}, {}
        for (bn, kind, key), g in zip(groups, gammas):
            keep = (g > thre).nonzero().flatten().tolist()
            if len(keep) < params.min_channels:
                floor[key] = len(keep)
                order = torch.sort(g, descending=True, stable=True).indices
                keep = sorted(order[: min(params.min_channels, len(g))].tolist())
            kept_counts[key] = len(keep)
            if len(keep) < len(g):
                (outs if kind == "out" else sels)[key] = keep
        name = f"{model.arch_spec.name}-slim{params.target:g}-s{data.seed}"
        pruned = prune_channels(model, outs, name=name, selections=sels)
        info = {"threshold": thre, "channels": int(allg.numel()),
                "pruned": int(allg.numel()) - sum(kept_counts.values()), "floor_layers": len(floor),
                "floor": floor, "kept": kept_counts, "widths": {k: len(g) for (_, _, k), g in zip(groups, gammas)},
                "gammas": [float(f"{v:.4g}") for v in allg.tolist()]}
        return PruneResult(pruned, kept=outs, info=info, selections=sels)
