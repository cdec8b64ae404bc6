"""Surgery: kept indices -> a physically smaller dense model.

Output channels of convs (and hidden linear layers) are removed through Torch-Pruning's dependency
graph, so residual and concatenation couplings stay right on any model; attention heads are removed
inside their layer (``keep_heads``: a head's query, key, value rows and output columns). Input channel selections
(pre-activation blocks, dense layers, transitions, heads: the channels of a residual stream or a
concatenation that one layer reads) are set here: the selection records the kept channels and the
layer that reads it keeps only their weights. The result is rebuilt from its architecture spec and
must match the surgically pruned weights exactly."""
from __future__ import annotations

import copy
import warnings

import torch
import torch_pruning as tp
from torch import nn

from ..arch import ArchSpec, build, linear_widths, prunable_widths, with_widths
from ..arch.families import require
from ..arch.layers import ChannelSelection
from ..errors import PrunelabError, first_line


def _check_indices(spec: ArchSpec, what: str, idx, n: int) -> None:
    if not idx:
        raise PrunelabError(f"{spec.name}: pruning would empty {what}")
    if len(set(idx)) != len(idx) or min(idx) < 0 or max(idx) >= n:
        raise PrunelabError(f"{spec.name}: kept indices of {what} must be distinct and in [0, {n})")


@torch.no_grad()
def _select_inputs(model: nn.Module, selections: dict[str, list[int]]) -> dict:
    """Set the input selections of ``model`` in place; returns them as spec values."""
    spec: ArchSpec = model.arch_spec
    out = {}
    for path, idx in selections.items():
        try:
            block = model.get_submodule(path)
        except AttributeError:
            raise PrunelabError(f"{spec.name}: no block '{path}'")
        sel = getattr(block, "select", None)
        consumer = getattr(block, getattr(block, "SELECT_CONSUMER", ""), None)
        if not isinstance(sel, ChannelSelection) or not isinstance(consumer, (nn.Conv2d, nn.Linear)):
            raise PrunelabError(f"{spec.name}: '{path}' has no input channel selection")
        current = list(range(sel.num_channels)) if sel.indices is None else sel.indices.tolist()
        idx = sorted(idx)
        _check_indices(spec, f"the input of '{path}'", idx, sel.num_channels)
        if not set(idx) <= set(current):
            raise PrunelabError(f"{spec.name}: '{path}' can only keep channels it already reads")
        pos = torch.tensor([current.index(i) for i in idx], device=consumer.weight.device)
        consumer.weight = nn.Parameter(consumer.weight.index_select(1, pos).contiguous())
        if isinstance(consumer, nn.Conv2d):
            consumer.in_channels = len(idx)
        else:
            consumer.in_features = len(idx)
        full = idx == list(range(sel.num_channels))
        block.select = ChannelSelection(sel.num_channels, None if full else idx).to(consumer.weight.device)
        out[path] = None if full else idx
    return out


@torch.no_grad()
def remove_branches(model: nn.Module, drop: list[str], name: str | None = None) -> nn.Module:
    """An ImageNet ResNet without the residual branches of the blocks in ``drop`` (their shortcut
    stays); the branch scales of Sparse Structure Selection are folded into each kept branch's last
    BatchNorm, so the result has no scales and computes what the scaled model computed."""
    spec: ArchSpec = model.arch_spec
    require(spec, ("branch_scales",), "removing residual branches")
    layout = copy.deepcopy(spec.layout)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for s, blocks in enumerate(layout["stages"]):
        for b, blk in enumerate(blocks):
            path = f"layer{s + 1}.{b}"
            scale = state.pop(f"{path}.scale", None)
            blk.pop("scale", None)
            if path in drop:
                if not blk["branch"]:
                    raise PrunelabError(f"{spec.name}: block '{path}' has no branch to remove")
                blk["branch"] = False
                for k in [k for k in state if k.startswith(f"{path}.") and not k.startswith(f"{path}.downsample.")]:
                    del state[k]
            elif scale is not None:
                last = f"{path}.bn{len(blk['w']) + 1}"  # the branch's last BN: fold the scale into it
                state[f"{last}.weight"] *= scale
                state[f"{last}.bias"] *= scale
    unknown = set(drop) - {f"layer{s + 1}.{b}" for s, bl in enumerate(layout["stages"]) for b in range(len(bl))}
    if unknown:
        raise PrunelabError(f"{spec.name}: no block {sorted(unknown)[0]}")
    target = ArchSpec.from_dict({**spec.to_dict(), "layout": layout, "name": name or spec.name})
    pruned = build(target)
    pruned.load_state_dict(state)
    return pruned.to(device=next(model.parameters()).device).train(model.training)


def prune_channels(model: nn.Module, kept: dict[str, list[int]], name: str | None = None,
                   selections: dict[str, list[int]] | None = None) -> nn.Module:
    """Remove every output channel of the named convs (or hidden linear layers) that is not in
    ``kept[layer]``, and let the named blocks read only ``selections[block]`` of their input channels.

    Returns a new model (the input is untouched) whose ``arch_spec`` records the new architecture.
    """
    spec: ArchSpec = model.arch_spec
    widths = {**prunable_widths(spec), **linear_widths(spec)}
    for layer, idx in kept.items():
        if layer not in widths:
            raise PrunelabError(f"{spec.name}: '{layer}' is not a prunable layer")
        _check_indices(spec, f"layer '{layer}'", idx, widths[layer])
    work = copy.deepcopy(model).cpu().eval()
    device = next(model.parameters()).device
    heads = {layer: idx for layer, idx in kept.items() if hasattr(work.get_submodule(layer), "keep_heads")}
    for layer, idx in heads.items():  # attention heads: cut inside their layer (arch/vit.py)
        work.get_submodule(layer).keep_heads(idx)
    if any(len(set(idx)) < widths[layer] for layer, idx in kept.items() if layer not in heads):
        example = torch.zeros(1, spec.in_channels, spec.input_size, spec.input_size,
                              dtype=next(work.parameters()).dtype)
        # the dependency graph traces autograd (a method may call this under no_grad); a ViT's position
        # embeddings (torchvision's: and class token) are parameters outside modules, which Torch-Pruning warns of (no pruning
        # here reaches them)
        with torch.enable_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Unwrapped parameters")
            graph = tp.DependencyGraph().build_dependency(work, example_inputs=example)
        for layer, idx in kept.items():
            if layer in heads:
                continue
            module = work.get_submodule(layer)
            size = module.out_channels if isinstance(module, nn.Conv2d) else module.out_features
            drop = sorted(set(range(size)) - set(idx))
            if not drop:
                continue
            fn = tp.prune_conv_out_channels if isinstance(module, nn.Conv2d) else tp.prune_linear_out_channels
            group = graph.get_pruning_group(module, fn, idxs=drop)
            if not graph.check_pruning_group(group):
                raise PrunelabError(f"{spec.name}: Torch-Pruning refuses to prune '{layer}' (it would empty a layer)")
            try:
                group.prune()
            except (RuntimeError, IndexError, ValueError) as e:  # a coupling Torch-Pruning cannot cut
                raise PrunelabError(f"{spec.name}: Torch-Pruning cannot remove those channels of '{layer}' "
                                    f"({first_line(e)})")
    chosen = _select_inputs(work, selections or {})
    target = with_widths(spec, {layer: len(idx) for layer, idx in kept.items()}, name=name, selections=chosen)
    pruned = build(target)
    try:
        pruned.load_state_dict(work.state_dict())
    except RuntimeError as e:  # the dependency graph touched something the spec does not describe
        raise PrunelabError(f"surgery result does not match spec '{target.name}': {str(e).splitlines()[0]}")
    return pruned.to(device=device, dtype=next(model.parameters()).dtype).train(model.training)
