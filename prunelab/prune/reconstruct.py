"""Reconstruction-based channel pruning, the mechanics ThiNet and regression pruning share.

A *step* chooses the input channels a consumer layer keeps: the filters of the conv that produces
them go too (a layer pair: layer i's filters = layer i+1's input channels), or, for an ImageNet
ResNet block, the block's input selection reads fewer channels of the residual stream. Steps run
in network order on a working copy of the model; each samples the consumer's inputs from the
model as pruned so far (``prunelab.prune.sampling``), lets the method choose the kept channels,
refits the consumer's kept input weights by least squares and zeroes the others, so later steps
see exactly the pruned model's features. One surgery at the end (``prune_channels``, which also
removes the BN channels of pruned filters) makes the physically smaller model; it computes what
the working copy computed.

Refits:
- ``full``: the kept input weights W (O x kK) = argmin ||Y - X_kept W^T||^2 over all samples and
  output channels, by ``torch.linalg.lstsq`` (driver gelsd, float64, on the CPU) on the samples, or
  on the normal equations where there are more samples than weights: the minimum-norm solution
  where the samples do not determine it. A consumer with a bias (the no-BN VGG-16 of ThiNet and
  regression pruning) has its bias fitted with the weights (the weight of a constant input 1,
  against the full responses), not kept as it was;
- ``scale``: ThiNet's per-channel scale w = argmin ||y - Z_kept w||^2 over single responses (one
  random output channel per sample), each kept channel's weights multiplied by its w_c; the bias
  stays (ThiNet rescales the kept channels only).

Regression pruning reconstructs the unpruned model's responses (``reference``); where the consumer
is a residual block's last conv, the target is the unpruned block's output, so the refit also
absorbs what pruning earlier layers changed in the block's shortcut input (He et al. 2017,
Section 3.3, multi-branch networks; with the BN after the conv inverted per channel).

Models: VGG (CIFAR, ImageNet with or without BN; the last conv's consumer is the first linear
layer of the head), CIFAR ResNet and ImageNet ResNet (each block's convs but the last).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..arch import ArchSpec, prunable_widths, resolve, with_widths
from ..arch.families import family
from ..arch.selection import sel_count
from ..errors import PrunelabError
from .sampling import LayerSamples, Shortcut, reference_responses, sample_layer, weight_view
from .surgery import prune_channels
from .targets import Target, target_spec, target_widths

REQUIRES = ("consumer",)  # what a family must offer (arch/family.py)
REFITS = ("full", "scale")
CHUNK = 1 << 24  # elements per chunk of a contribution tensor


@dataclass(frozen=True)
class Step:
    consumer: str  # the layer whose input channels are chosen and whose kept weights are refit
    keep: int  # input channels it keeps
    producer: str | None = None  # the conv whose filters go with them
    block: str | None = None  # or: the block whose input selection reads only them


def check_sampling(method: str, params) -> None:
    """The sampling parameters every reconstruction method has: one line naming a bad one."""
    if params.target is None:
        raise PrunelabError(f"{method}: target is missing (a preset, a ratio or {{ratio: r, ...}})")
    for key in ("images", "locations", "max_samples"):
        if getattr(params, key) < 1:
            raise PrunelabError(f"{method}: {key} must be a positive integer, got {getattr(params, key)}")


def plan_targets(base: ArchSpec, target: Target, dataset: str) -> tuple[dict[str, int], dict[str, int]]:
    """Kept widths per prunable conv and kept input channels per ImageNet ResNet block whose
    selection a preset sets (regression pruning's ResNet-50-2x). Validates the target."""
    fam = family(base)
    if target.preset and fam.blocks:
        preset = resolve(target.preset, dataset)
        theirs = fam.blocks(preset.layout) if preset.family == base.family else {}
        if any(b.get("select") is not None for b in theirs.values()):
            want, have = prunable_widths(preset), prunable_widths(base)
            layout = copy.deepcopy(with_widths(base, want).layout) if set(want) == set(have) else None
            if layout is not None and set(fam.blocks(layout)) == set(theirs):
                for path, blk in fam.blocks(layout).items():
                    blk["select"] = theirs[path]["select"]
            if layout != preset.layout:
                raise PrunelabError(f"preset '{target.preset}' is not a pruned '{base.name}'")
            n_in, mine = fam.block_inputs(base), fam.blocks(base.layout)
            sels = {p: sel_count(blk["select"], n_in[p]) for p, blk in theirs.items()}
            sels = {p: k for p, k in sels.items() if k != sel_count(mine[p]["select"], n_in[p])}
            return {k: v for k, v in want.items() if v != have[k]}, sels
    return target_widths(base, target, dataset), {}


def planned(base: ArchSpec, target: Target, dataset: str) -> ArchSpec | None:
    """The pruned architecture when it is known before pruning: None where input selections are
    chosen from data (their indices are part of the architecture)."""
    return None if plan_targets(base, target, dataset)[1] else target_spec(base, target, dataset)


def consumer_of(model: nn.Module, layer: str) -> str:
    """The layer that reads ``layer``'s filters (the family's ``consumer``): the next conv (VGG), the
    first linear layer of the head (VGG's last conv), or the next conv of the block (ResNets)."""
    return family(model.arch_spec).consumer(model, layer)


def plan_steps(model: nn.Module, widths: dict[str, int], selections: dict[str, int]) -> list[Step]:
    """The steps in network order (a block's input selection before its first conv's filters)."""
    steps = []
    for layer in prunable_widths(model.arch_spec):
        block = layer.rpartition(".")[0]
        if layer.endswith(".conv1") and block in selections:
            steps.append(Step(layer, selections[block], block=block))
        if layer in widths:
            steps.append(Step(consumer_of(model, layer), widths[layer], producer=layer))
    return steps


def _chunks(n: int, per_sample: int):
    size = max(1, CHUNK // max(1, per_sample))
    return ((a, min(n, a + size)) for a in range(0, n, size))


def single_responses(s: LayerSamples, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ThiNet's samples: per sample, each channel's contribution to its random output channel
    (n, C) and that response (n,), in float64."""
    z = torch.empty(len(s), w.shape[1], dtype=torch.float64, device=s.x.device)
    for a, b in _chunks(len(s), s.x[0].numel()):
        z[a:b] = (s.x[a:b].double() * w[s.outputs[a:b]].double()).sum(-1)
    return z, s.y.gather(1, s.outputs[:, None]).squeeze(1).double()


def contribution_gram(s: LayerSamples, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Over all samples and output channels, the per-channel contributions Z_c = X_c W_c: their
    Gram matrix (C x C) and their products with the responses (C,), in float64."""
    C = w.shape[1]
    gram = torch.zeros(C, C, dtype=torch.float64, device=s.x.device)
    xy = torch.zeros(C, dtype=torch.float64, device=s.x.device)
    wd = w.double()
    for a, b in _chunks(len(s), C * w.shape[0]):
        z = torch.einsum("nck,ock->nco", s.x[a:b].double(), wd)
        gram += torch.einsum("nco,ndo->cd", z, z)
        xy += torch.einsum("nco,no->c", z, s.y[a:b].double())
    return gram, xy


def refit(s: LayerSamples, w: torch.Tensor, kept: list[int], mode: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """New weights (O, k, K) of the kept input channels and, for ``full`` where the layer has a
    bias, its new bias (O,) fitted with them (None: the bias stays). See the module docstring."""
    if mode == "scale":
        z, y = single_responses(s, w)
        scale = torch.linalg.lstsq(z[:, kept].cpu(), y[:, None].cpu(), driver="gelsd").solution.squeeze(1)
        return w[:, kept] * scale.to(w)[None, :, None], None
    k, K, fit_bias = len(kept), w.shape[2], s.bias is not None
    n = k * K + fit_bias  # unknowns per output: the kept weights, and the bias as the weight of a constant 1

    def design(i: int, j: int) -> torch.Tensor:
        xk = s.x[i:j, kept].flatten(1).double()
        return torch.cat([xk, torch.ones(len(xk), 1, dtype=xk.dtype, device=xk.device)], 1) if fit_bias else xk

    def target(i: int, j: int) -> torch.Tensor:  # the full responses where the bias is fitted
        y = s.y[i:j].double()
        return y + s.bias.double().to(y.device) if fit_bias else y

    if len(s) <= n:  # no more samples than unknowns: least squares on the samples themselves
        sol = torch.linalg.lstsq(design(0, len(s)).cpu(), target(0, len(s)).cpu(), driver="gelsd").solution
    else:  # the normal equations, accumulated in chunks
        a = torch.zeros(n, n, dtype=torch.float64, device=s.x.device)
        b = torch.zeros(n, w.shape[0], dtype=torch.float64, device=s.x.device)
        for i, j in _chunks(len(s), n):
            xk = design(i, j)
            a += xk.T @ xk
            b += xk.T @ target(i, j)
        sol = torch.linalg.lstsq(a.cpu(), b.cpu(), driver="gelsd").solution  # (n, O)
    new = sol[: k * K].T.reshape(w.shape[0], k, K).to(w)
    return new, (sol[k * K].to(w) if fit_bias else None)


def relative_error(s: LayerSamples, w_kept: torch.Tensor, kept: list[int], bias: torch.Tensor | None = None) -> float:
    """||Y - sum over kept c of X_c W_c||^2 / ||Y||^2 on the samples (with a refit ``bias``: of the
    full responses Y + old bias against the prediction + new bias)."""
    err = total = 0.0
    for a, b in _chunks(len(s), len(kept) * w_kept.shape[2]):
        y = s.y[a:b].double()
        pred = torch.einsum("nck,ock->no", s.x[a:b, kept].double(), w_kept.double())
        if bias is not None:
            y, pred = y + s.bias.double().to(y.device), pred + bias.double().to(y.device)
        err += float(((y - pred) ** 2).sum())
        total += float((y ** 2).sum())
    return err / total if total > 0 else 0.0


def residual_tail(model: nn.Module, consumer: str) -> Shortcut | None:
    """The residual path beside ``consumer`` where it is a residual block's last conv (a CIFAR
    ResNet's conv2, an ImageNet ResNet block's conv2 or conv3): the shortcut to correct for in
    regression pruning (He et al. 2017, Section 3.3, multi-branch networks)."""
    from ..arch.imagenet_resnet import Block
    from ..arch.resnet import BasicBlock

    name, _, conv = consumer.rpartition(".")
    block = model.get_submodule(name) if name else None
    if isinstance(block, BasicBlock) and conv == "conv2":
        bn, path = block.bn2, lambda b, x: b.shortcut(x)
    elif isinstance(block, Block) and block.branch and conv == f"conv{block.convs}" and not hasattr(block, "scale"):
        bn, path = getattr(block, f"bn{block.convs}"), lambda b, x: x if b.downsample is None else b.downsample(x)
    else:
        return None
    scale = (bn.weight / (bn.running_var + bn.eps).sqrt()).detach().double()
    inv = torch.where(scale.abs() > 1e-12, 1 / scale, torch.zeros_like(scale)).float()
    return Shortcut(name, path, inv)


def _channels(model: nn.Module, step: Step) -> int:
    """The input channels the step's consumer reads (for a linear consumer: its producer's filters)."""
    if step.producer:
        return model.get_submodule(step.producer).out_channels
    return model.get_submodule(step.consumer).in_channels


Chooser = Callable[[LayerSamples, torch.Tensor, int], list[int]]
Tune = Callable[[nn.Module, dict[str, torch.Tensor], int], None]  # (model, masks, step) -> trains it in place


def _dropped(layer: nn.Module, channels: int, keep: list[int]) -> torch.Tensor:
    """A mask of ``layer.weight`` that is False on the input channels not in ``keep``."""
    m = torch.ones(layer.weight.shape[0], channels, layer.weight[0].numel() // channels, dtype=torch.bool)
    m[:, sorted(set(range(channels)) - set(keep))] = False
    return m.reshape(layer.weight.shape)


@torch.no_grad()
def reconstruct(model: nn.Module, steps: list[Step], data, choose: Chooser, mode: str, images: int, locations: int,
                max_samples: int, reference: bool = False, name: str | None = None, tune: Tune | None = None):
    """Run ``steps`` (see the module docstring): ``choose(samples, weight (O, C, K), keep)`` gives
    the kept input channels of each consumer; ``mode`` is the refit; with ``reference``, the
    responses to reconstruct are the unpruned model's (regression pruning; a residual block's last
    conv then reconstructs the block's output, correcting for its shortcut: ``residual_tail``),
    otherwise the pruned model's so far (ThiNet). ``tune``: called after every step but the last
    with the working model and masks that keep the removed inputs at zero (ThiNet's brief
    fine-tuning after each layer); later steps sample the tuned model. Returns (pruned model,
    kept filters, input selections, info)."""
    work = copy.deepcopy(model).eval()
    was = model.training
    model.eval()
    batches = lambda: data.batches(images, batch_size=min(images, 128))
    gens = lambda: {step.consumer: data.generator(1000 + i) for i, step in enumerate(steps)}
    kept, sels, errors, samples, masks = {}, {}, {}, {}, {}
    try:
        widths = {s.consumer: _channels(work, s) for s in steps}
        tails = {c: t for c in widths if (t := residual_tail(model, c)) is not None} if reference else {}
        ref = reference_responses(model, widths, batches(), locations, max_samples, gens(), tails) if reference else {}
        for i, step in enumerate(steps):
            layer, channels = work.get_submodule(step.consumer), widths[step.consumer]
            s = sample_layer(work, step.consumer, channels, batches(), locations, max_samples,
                             data.generator(1000 + i), responses=ref.get(step.consumer),
                             shortcut=tails.get(step.consumer))
            w = weight_view(layer, channels)
            keep = sorted(int(c) for c in choose(s, w, step.keep))
            if len(keep) != step.keep or len(set(keep)) != step.keep or not 0 <= keep[0] <= keep[-1] < channels:
                raise PrunelabError(f"'{step.consumer}': the method chose {len(keep)} of {channels} input channels, "
                                    f"not {step.keep}")
            new, bias = refit(s, w, keep, mode)
            full = torch.zeros_like(w)
            full[:, keep] = new
            layer.weight.copy_(full.reshape(layer.weight.shape))
            if bias is not None:
                layer.bias.copy_(bias)
            errors[step.consumer] = float(f"{relative_error(s, new, keep, bias):.4g}")
            samples[step.consumer] = len(s)
            if step.producer:
                kept[step.producer] = keep
            else:
                sel = work.get_submodule(step.block).select
                current = list(range(sel.num_channels)) if sel.indices is None else sel.indices.tolist()
                sels[step.block] = [current[c] for c in keep]
            if tune is not None and i + 1 < len(steps):
                name_w = f"{step.consumer}.weight"
                masks[name_w] = masks[name_w] & _dropped(layer, channels, keep) if name_w in masks \
                    else _dropped(layer, channels, keep)
                with torch.enable_grad():
                    tune(work, masks, i)
                work.eval()
    finally:
        model.train(was)
    pruned = prune_channels(work, kept, name=name, selections=sels)
    pruned.train(was)
    return pruned, kept, sels, {"error": errors, "samples": samples}


def prune_to_target(model: nn.Module, target: Target, data, choose: Chooser, mode: str, params,
                    reference: bool = False, tune: Tune | None = None):
    """``reconstruct`` to a target (a preset, a ratio, ...; see ``plan_targets``), sampling as
    ``params`` (images, locations, max_samples) says; the result is named after the target."""
    widths, selections = plan_targets(model.arch_spec, target, data.dataset)
    steps = plan_steps(model, widths, selections)
    return reconstruct(model, steps, data, choose, mode, params.images, params.locations, params.max_samples,
                       reference=reference, name=target.label(model.arch_spec), tune=tune)
