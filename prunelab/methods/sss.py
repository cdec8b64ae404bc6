"""Sparse Structure Selection (Huang & Wang 2018): a learnable scale on every residual branch of an
ImageNet ResNet, trained with an L1 penalty by accelerated proximal gradient (APG): the scales reach
exactly zero (no weight decay on them), and the blocks whose scale is zero lose their branch (a
stage's first block keeps its projection shortcut). The other scales are folded into their
branch's last BatchNorm, so the pruned model has no scales and computes what the large model did.

``lam`` is the L1 strength (the paper's gamma); the architecture is found per seed. The paper's
fixed results ResNet-26/32/41 are presets (``resnet26-sss`` ...): train them from scratch with the
``preset`` method.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..arch import ArchSpec
from ..arch.families import family
from ..errors import PrunelabError
from ..prune import remove_branches
from ..train import Hooks
from ..train.optim import SGDWithAPG
from . import register
from .base import Method, PruneData, PruneResult


@dataclass(frozen=True)
class Params:
    lam: float = 0.01  # L1 strength on the branch scales (applied by the proximal step)


def scales(model: nn.Module) -> dict[str, nn.Parameter]:
    return {n[: -len(".scale")]: p for n, p in model.named_parameters() if n.endswith(".scale")}


class APGScales(Hooks):
    """Branch scales in their own parameter group: no weight decay, updated by APG with the L1 term."""

    def __init__(self, lam: float):
        self.lam = lam

    def param_groups(self, model, recipe):
        gates = list(scales(model).values())
        if not gates:
            raise PrunelabError("sss: the model has no branch scales (its large model is built by the method)")
        ids = {id(p) for p in gates}
        rest = [p for p in model.parameters() if id(p) not in ids and p.requires_grad]
        return [{"params": rest}, {"params": gates, "weight_decay": 0.0, "l1": self.lam}]

    def optimizer(self, groups, recipe):
        return SGDWithAPG(groups, lr=recipe.lr_at(0), momentum=recipe.momentum, weight_decay=recipe.weight_decay,
                          nesterov=recipe.nesterov)


@register("sss")
class SparseStructureSelection(Method):
    kind = "structured"
    Params = Params
    train_fields = ("lam",)
    requires = ("branch_scales",)
    tickets = False  # whole branches go: no channel subset of the large model

    def check(self, params: Params) -> None:
        if params.lam < 0:
            raise PrunelabError(f"sss: lam must be >= 0, got {params.lam}")

    def train_spec(self, base: ArchSpec, params) -> ArchSpec:
        self.check_base(base)
        return family(base).branch_scales(base)

    def hooks(self, params) -> Hooks:
        return APGScales(params.lam)

    def label(self, base, params, dataset) -> str:
        return f"{base.name}-sss{params.lam:g}"

    @torch.no_grad()
    def prune(self, model: nn.Module, params: Params, data: PruneData) -> PruneResult:
        gates = scales(model)
        if not gates:
            raise PrunelabError(f"sss: {model.arch_spec.name} has no branch scales (train it with the sss method)")
        drop = [path for path, s in gates.items() if float(s) == 0.0]
        base = model.arch_spec.name.removesuffix("-scaled")
        pruned = remove_branches(model, drop, name=f"{base}-sss{params.lam:g}-s{data.seed}")
        return PruneResult(pruned, info={"removed_blocks": len(drop), "blocks": len(gates), "removed": drop,
                                         "scales": {k: float(v) for k, v in gates.items()}})
