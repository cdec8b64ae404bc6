"""GraSP: Gradient Signal Preservation (Wang et al., ICLR 2020). Removing a weight should not
reduce the gradient flow ||g||^2; to first order the change is -w ⊙ Hg (H the Hessian of the loss,
g its gradient), so the weights with the *lowest* S = -w ⊙ Hg are kept (the highest are removed),
globally (``at_init.py``). As the authors' code (github.com/alecwangcq/GraSP): logits divided by a
temperature T = 200, g from the images' first pass, Hg by differentiating g · stop_grad(g).

YAML: ``prune: {method: grasp, images: 256}`` with ``targets: [0.9]`` per model.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from . import register
from .at_init import AtInit

TEMPERATURE = 200.0


def grasp_scores(model, weights: dict, batches) -> dict:
    """{name: -w ⊙ Hg} summed over the minibatches (g and Hg of each minibatch's loss)."""
    params = list(weights.values())
    batches = list(batches)
    was = model.training
    model.train()
    try:
        g = [torch.zeros_like(p) for p in params]
        for x, y in batches:  # the gradient, without a graph
            for acc, gi in zip(g, torch.autograd.grad(F.cross_entropy(model(x) / TEMPERATURE, y), params)):
                acc += gi
        hg = [torch.zeros_like(p) for p in params]
        for x, y in batches:  # Hg = d(g_batch · stop_grad(g)) / dw
            gb = torch.autograd.grad(F.cross_entropy(model(x) / TEMPERATURE, y), params, create_graph=True)
            z = sum((a * b.detach()).sum() for a, b in zip(gb, g))
            for acc, h in zip(hg, torch.autograd.grad(z, params)):
                acc += h
    finally:
        model.train(was)
    return {k: -(w.detach() * h).double() for (k, w), h in zip(weights.items(), hg)}


@register("grasp")
class GraSP(AtInit):
    reads_data = True
    def scores(self, model, weights, data, params):
        with torch.enable_grad():
            s = grasp_scores(model, weights, data.batches(params.images, params.batch_size))
        return {k: -v for k, v in s.items()}  # keep_top keeps the highest: the lowest S
