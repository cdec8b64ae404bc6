"""DepGraph's group-norm importance (Fang et al., CVPR 2023), to a predefined target. A filter is
removed with everything coupled to it — its BatchNorm's scale and shift, the next layers' input
channels — and its importance is that whole group's: Torch-Pruning's ``GroupMagnitudeImportance``
(p = 2: per channel the squared L2 norms of every coupled parameter slice, their mean over the
group's layers) on the dependency graph Torch-Pruning traces of the model. The highest are kept.

YAML: ``prune: {method: group-norm}`` with ``targets: [...]`` per model.
"""
from __future__ import annotations

import warnings

import torch

from . import register
from .controls import Params
from .l1_norm import L1Norm


def group_norm_scores(model, layers: list[str], example: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per layer, Torch-Pruning's group L2 importance of each of its filters."""
    import torch_pruning as tp

    was = model.training
    model.eval()
    try:
        with torch.enable_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = tp.DependencyGraph().build_dependency(model, example_inputs=example)
            imp = tp.importance.GroupMagnitudeImportance(p=2, group_reduction="mean", normalizer=None)
            out = {}
            for name in layers:
                conv = model.get_submodule(name)
                group = graph.get_pruning_group(conv, tp.prune_conv_out_channels, idxs=list(range(conv.out_channels)))
                out[name] = imp(group).detach().float().cpu()
    finally:
        model.train(was)
    return out


@register("group-norm")
class GroupNorm(L1Norm):
    conv_filters = True
    Params = Params

    def rule(self, params) -> str:
        return "largest"

    def filter_scores(self, model, layers, data, params):
        spec = model.arch_spec
        p = next(model.parameters())
        example = torch.zeros(1, spec.in_channels, spec.input_size, spec.input_size, dtype=p.dtype, device=p.device)
        return group_norm_scores(model, layers, example)
