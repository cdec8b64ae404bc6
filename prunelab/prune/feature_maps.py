"""The feature maps a filter produces, for criteria that read them (HRank, CHIP): each pruned
conv's output after its BatchNorm and ReLU, where the authors' code hooks them (the ReLU after each
conv-BN pair of github.com/lmbxmu/HRank and github.com/Eclipsess/CHIP_NeurIPS2021). A conv's BN is
the BatchNorm whose input is that conv's output in the forward pass (found by tracing, for any
family); a conv without one gives ReLU(conv output). Evaluated in eval mode, without gradients."""
from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn


@torch.no_grad()
def feature_maps(model: nn.Module, layers: list[str], batches: Iterable, fn: Callable[[str, torch.Tensor], None]):
    """Call ``fn(layer, maps)`` with every batch's N x C x H x W post-BN-ReLU maps of each of ``layers``."""
    convs = {model.get_submodule(name): name for name in layers}
    outputs: dict[str, torch.Tensor] = {}
    taken: set[str] = set()

    def conv_hook(module, inputs, output):
        outputs[convs[module]] = output

    def bn_hook(module, inputs, output):
        for name, t in outputs.items():
            if inputs[0] is t and name not in taken:
                taken.add(name)
                fn(name, torch.relu(output))

    handles = [m.register_forward_hook(conv_hook) for m in convs]
    handles += [m.register_forward_hook(bn_hook) for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    was = model.training
    model.eval()
    try:
        for x, _ in batches:
            outputs.clear()
            taken.clear()
            model(x)
            for name in layers:
                if name not in taken:
                    fn(name, torch.relu(outputs[name]))
    finally:
        for h in handles:
            h.remove()
        model.train(was)


def accumulate(model: nn.Module, layers: list[str], batches: Iterable,
               per_image: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, torch.Tensor]:
    """The mean over images of ``per_image(maps)`` (N x C x H x W -> N x C scores) for each layer."""
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}

    def add(name, maps):
        s = per_image(maps).double().sum(dim=0)
        sums[name] = sums[name] + s if name in sums else s
        counts[name] = counts.get(name, 0) + maps.shape[0]

    feature_maps(model, layers, batches, add)
    return {name: (sums[name] / counts[name]).float().cpu() for name in layers}
