"""Surgery: kept indices -> a physically smaller dense model, through Torch-Pruning's dependency
graph (so residual and concatenation couplings stay right on any model). The result is rebuilt
from its architecture spec and must match the surgically pruned weights exactly."""
from __future__ import annotations

import copy

import torch
import torch_pruning as tp
from torch import nn

from ..arch import ArchSpec, build, prunable_widths, with_widths
from ..errors import PrunelabError


def prune_channels(model: nn.Module, kept: dict[str, list[int]], name: str | None = None) -> nn.Module:
    """Remove every output channel of the named convs that is not in ``kept[layer]``.

    Returns a new model (the input is untouched) whose ``arch_spec`` records the new widths.
    """
    spec: ArchSpec = model.arch_spec
    widths = prunable_widths(spec)
    for layer, idx in kept.items():
        if layer not in widths:
            raise PrunelabError(f"{spec.name}: '{layer}' is not a prunable layer")
        if not idx:
            raise PrunelabError(f"{spec.name}: pruning would empty layer '{layer}'")
        if len(set(idx)) != len(idx) or min(idx) < 0 or max(idx) >= widths[layer]:
            raise PrunelabError(f"{spec.name}: kept indices of '{layer}' must be distinct and in [0, {widths[layer]})")
    target = with_widths(spec, {layer: len(idx) for layer, idx in kept.items()}, name=name)
    work = copy.deepcopy(model).cpu().eval()
    device = next(model.parameters()).device
    example = torch.zeros(1, spec.in_channels, spec.input_size, spec.input_size)
    with torch.enable_grad():  # the dependency graph traces autograd (a method may call this under no_grad)
        graph = tp.DependencyGraph().build_dependency(work, example_inputs=example)
    for layer, idx in kept.items():
        conv = work.get_submodule(layer)
        drop = sorted(set(range(conv.out_channels)) - set(idx))
        if not drop:
            continue
        group = graph.get_pruning_group(conv, tp.prune_conv_out_channels, idxs=drop)
        if not graph.check_pruning_group(group):
            raise PrunelabError(f"{spec.name}: Torch-Pruning refuses to prune '{layer}' (it would empty a layer)")
        group.prune()
    pruned = build(target)
    try:
        pruned.load_state_dict(work.state_dict())
    except RuntimeError as e:  # the dependency graph touched something the spec does not describe
        raise PrunelabError(f"surgery result does not match spec '{target.name}': {str(e).splitlines()[0]}")
    return pruned.to(device).train(model.training)
