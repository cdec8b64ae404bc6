"""SynFlow: Iterative Synaptic Flow Pruning (Tanaka et al., NeurIPS 2020), data-free. With every
parameter and buffer replaced by its absolute value (the network "linearised") and an all-ones
input, R = the sum of the outputs; a weight's score is |w ⊙ dR/dw|. Pruning to the target in
``rounds`` steps, keeping (1 - target)^(k / rounds) of the weights after step k (the exponential
schedule of the paper, 100 rounds), each step re-scored with the weights pruned so far removed;
BatchNorm in eval mode, as the authors' code (github.com/ganguli-lab/Synaptic-Flow) runs it; here in
float64 (products of absolute weights over many layers overflow float32's range sooner).

YAML: ``prune: {method: synflow, rounds: 100}`` with ``targets: [0.9]`` per model.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from . import register
from .at_init import AtInit, keep_top
from .at_init import Params as AtInitParams


@dataclass(frozen=True)
class Params(AtInitParams):
    rounds: int = 100


def synflow_masks(model, names: list[str], target: float, rounds: int) -> dict:
    net = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for t in net.state_dict().values():
            if t.is_floating_point():
                t.abs_()
    params = dict(net.named_parameters())
    weights = {k: params[k] for k in names}
    originals = {k: w.detach().clone() for k, w in weights.items()}
    masks = {k: torch.ones_like(w, dtype=torch.bool) for k, w in weights.items()}
    spec = model.arch_spec
    x = torch.ones(1, spec.in_channels, spec.input_size, spec.input_size, dtype=torch.float64,
                   device=next(net.parameters()).device)
    for k in range(1, rounds + 1):
        with torch.no_grad():
            for name, w in weights.items():
                w.copy_(originals[name] * masks[name])
        net.zero_grad(set_to_none=True)
        net(x).sum().backward()
        scores = {name: (w.grad * w).detach().abs() for name, w in weights.items()}
        for name in scores:
            scores[name][~masks[name]] = -1.0  # a pruned weight stays pruned
        masks = keep_top(scores, (1 - target) ** (k / rounds))
    return masks


@register("synflow")
class SynFlow(AtInit):
    Params = Params

    def check(self, params) -> None:
        super().check(params)
        if params.rounds < 1:
            from ..errors import PrunelabError

            raise PrunelabError(f"{self.name}: rounds must be at least 1, got {params.rounds}")

    def scores(self, model, weights, data, params):
        masks = synflow_masks(model, list(weights), params.target, params.rounds)
        return {k: m.double() for k, m in masks.items()}  # (the final masks: keep_top keeps exactly them)
