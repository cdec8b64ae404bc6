"""A pruning method defined outside prunelab (tests use it as ``plugin_slim:BNSlim``).

A small Network-Slimming-like method for CIFAR VGG: an L1 penalty on every BN scale while the
large model trains (a gradient hook), then one global threshold on |gamma| that finds the
pruned architecture (so it is only known after training, per seed).
"""
from dataclasses import dataclass

import torch
from torch import nn

from prunelab.methods import Method, PruneResult
from prunelab.prune import prune_channels
from prunelab.train import Hooks


@dataclass(frozen=True)
class Params:
    target: float = 0.5  # fraction of all BN channels to prune
    lam: float = 1e-4  # L1 strength on BN scales while the large model trains


class BNL1(Hooks):
    def __init__(self, lam: float):
        self.lam = lam
        self.calls = 0

    def after_backward(self, model):
        self.calls += 1
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d) and m.weight.grad is not None:
                m.weight.grad.add_(self.lam * torch.sign(m.weight.detach()))


class BNSlim(Method):
    kind = "structured"
    Params = Params
    train_fields = ("lam",)

    def hooks(self, params):
        return BNL1(params.lam)

    def prune(self, model, params, data):
        convs = [n for n, m in model.features.named_children() if isinstance(m, nn.Conv2d)]
        gammas = {f"features.{n}": model.features[int(n) + 1].weight.detach().abs() for n in convs}
        allg = torch.cat(list(gammas.values())).sort().values
        thre = allg[int(len(allg) * params.target)]
        kept = {}
        for layer, g in gammas.items():
            idx = (g > thre).nonzero().flatten().tolist() or [int(g.argmax())]
            if len(idx) < len(g):
                kept[layer] = idx
        name = f"{model.arch_spec.name}-slim{params.target:g}-s{data.seed}"
        return PruneResult(prune_channels(model, kept, name=name), kept=kept, info={"threshold": float(thre)})
