"""Taylor first-order importance (Molchanov et al., CVPR 2019): the change of the loss when a
filter is removed, to first order. A filter's importance on a minibatch is (sum over its weights s
of g_s w_s)^2 (g: the loss's gradient), averaged over minibatches of training images; the most
important filters are kept, to a predefined target. The gradients are taken in eval mode (the
BatchNorm statistics of the trained model; the model is not changed).

YAML: ``prune: {method: taylor, images: 512}`` with ``targets: [...]`` per model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import PrunelabError
from . import register
from .l1_norm import L1Norm


@dataclass(frozen=True)
class Params:
    target: Any = None  # as for l1-norm
    images: int = 512  # training images, in minibatches of batch_size
    batch_size: int = 64


def taylor_scores(model, layers: list[str], batches) -> dict[str, torch.Tensor]:
    """Per layer, the mean over minibatches of (sum_s g_s w_s)^2 for every filter."""
    convs = {name: model.get_submodule(name) for name in layers}
    sums = {name: torch.zeros(c.out_channels, dtype=torch.float64) for name, c in convs.items()}
    was, n = model.training, 0
    model.eval()
    try:
        for x, y in batches:
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            for name, c in convs.items():
                sums[name] += (c.weight.grad * c.weight).detach().double().sum(dim=(1, 2, 3)).pow(2).cpu()
            n += 1
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was)
    return {name: (s / max(n, 1)).float() for name, s in sums.items()}


@register("taylor")
class Taylor(L1Norm):
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
        with torch.enable_grad():
            return taylor_scores(model, layers, data.batches(params.images, params.batch_size))
