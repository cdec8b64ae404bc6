"""SNIP: Single-shot Network Pruning based on connection sensitivity (Lee et al., ICLR 2019). A
weight's sensitivity is |dL/dc| at c = 1 for a gate c on it, i.e. |g ⊙ w| (the gradient of the loss
times the weight) at initialisation, summed over minibatches of training images (the paper: one
batch); the highest are kept, globally (``at_init.py``).

YAML: ``prune: {method: snip, images: 256}`` with ``targets: [0.9]`` per model (the fraction pruned).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from . import register
from .at_init import AtInit


def snip_scores(model, weights: dict, batches) -> dict:
    sums = {k: torch.zeros_like(w, dtype=torch.float64) for k, w in weights.items()}
    was = model.training
    model.train()  # (the gradient at initialisation, as the model trains)
    try:
        for x, y in batches:
            grads = torch.autograd.grad(F.cross_entropy(model(x), y), list(weights.values()))
            for (k, w), g in zip(weights.items(), grads):
                sums[k] += (g * w).detach().double()
    finally:
        model.train(was)
    return {k: s.abs() for k, s in sums.items()}


@register("snip")
class SNIP(AtInit):
    reads_data = True
    def scores(self, model, weights, data, params):
        with torch.enable_grad():
            return snip_scores(model, weights, data.batches(params.images, params.batch_size))
