"""Feature sampling for reconstruction-based pruning (ThiNet, regression pruning).

For one layer (a ``groups=1`` conv, or the linear layer a VGG head puts after its pooling), run
seeded training batches through the model with a forward hook and keep, at ``locations`` random
output positions per image (seeded), the layer's *input patches* and its *output responses*:

- ``x`` (n, C, K): per input channel c the K values the layer multiplies at that position, in
  ``torch.nn.functional.unfold`` order (stride, padding and dilation honoured; K = kh * kw; for a
  linear layer reading C pooled maps of P values each, K = P and there is one sample per image);
- ``y`` (n, O): the responses *without the bias* (the bias stays as it is in every refit);
- ``outputs`` (n,): one random output channel per sample (ThiNet's samples are single responses).

``reference_responses`` gets the responses of several layers of another model (the unpruned
one, for regression pruning) in one forward pass, at the positions ``sample_layer`` will pick.

So channel c's contribution to output o of sample i is ``x[i, c] @ weight_view(layer, C)[o, c]``
and ``y = sum over c of the contributions``. The forward stops at the layer (nothing after it
runs), and at most ``max_samples`` samples are kept (float32, on the model's device).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import PrunelabError


@dataclass
class LayerSamples:
    x: torch.Tensor  # (n, C, K) input patches
    y: torch.Tensor  # (n, O) responses without bias (of the reference model, where one is given)
    outputs: torch.Tensor  # (n,) one random output channel per sample
    bias: torch.Tensor | None = None  # (O,) the layer's bias: the full responses are y + bias

    def __len__(self) -> int:
        return self.x.shape[0]


@dataclass(frozen=True)
class Shortcut:
    """The residual path beside a block's last conv (He et al. 2017's multi-branch case): ``block``
    names the block, ``path(block, x)`` gives its shortcut's output for the block's input x, and
    ``inv_scale`` (O,) maps a change of the block's output back through the BatchNorm after the conv
    (1 / (gamma / sqrt(var + eps)); 0 where gamma is 0: that channel does not depend on the conv)."""

    block: str
    path: Callable[[nn.Module, torch.Tensor], torch.Tensor]
    inv_scale: torch.Tensor

    def hook(self, model: nn.Module, got: dict):
        """A forward pre-hook on the block that keeps its shortcut's output, scaled, in ``got["short"]``."""
        def run(mod, args):
            got["short"] = self.path(mod, args[0]) * self.inv_scale.to(args[0])[None, :, None, None]
        return model.get_submodule(self.block).register_forward_pre_hook(run)


class _Stop(Exception):
    """Raised by the hook: the forward pass has gone far enough."""


def weight_view(layer: nn.Module, channels: int) -> torch.Tensor:
    """The layer's weight as (O, C, K): per output and input channel the K weights of one patch."""
    w = layer.weight.detach()
    return w.reshape(w.shape[0], channels, -1)


def check_layer(layer: nn.Module, channels: int, name: str) -> None:
    if isinstance(layer, nn.Conv2d):
        if layer.groups != 1 or layer.padding_mode != "zeros" or isinstance(layer.padding, str):
            raise PrunelabError(f"'{name}': only convs with groups=1 and numeric zero padding can be sampled")
        if layer.in_channels != channels:
            raise PrunelabError(f"'{name}' reads {layer.in_channels} channels, not {channels}")
    elif isinstance(layer, nn.Linear):
        if layer.in_features % channels:
            raise PrunelabError(f"'{name}' reads {layer.in_features} features, not a multiple of {channels} channels")
    else:
        raise PrunelabError(f"'{name}' is a {type(layer).__name__}, not a conv or linear layer")


def patches_at(x: torch.Tensor, conv: nn.Conv2d, pos: torch.Tensor, width: int) -> torch.Tensor:
    """The input patches of ``conv`` at output positions ``pos`` (B, l) of an output ``width`` wide:
    (B, l, C, K), equal to ``F.unfold(x, ...)[b, :, pos]`` without unfolding the whole map."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = conv.kernel_size, conv.stride, conv.padding, conv.dilation
    xp = F.pad(x, (pw, pw, ph, ph))
    rows = (pos // width)[..., None] * sh + torch.arange(kh, device=x.device) * dh  # (B, l, kh)
    cols = (pos % width)[..., None] * sw + torch.arange(kw, device=x.device) * dw  # (B, l, kw)
    b = torch.arange(x.shape[0], device=x.device)[:, None, None, None]
    p = xp[b, :, rows[..., :, None], cols[..., None, :]]  # (B, l, kh, kw, C)
    return p.permute(0, 1, 4, 2, 3).reshape(*pos.shape, x.shape[1], kh * kw)


def _grab(model: nn.Module, layer: nn.Module, x: torch.Tensor, shortcut: Shortcut | None = None) -> dict:
    """The layer's input and output for a batch (the forward stops right after the layer), and the
    scaled shortcut output of its block where ``shortcut`` is given."""
    got = {}

    def hook(mod, inp, out):
        got["in"], got["out"] = inp[0], out
        raise _Stop

    hooks = [layer.register_forward_hook(hook)] + ([shortcut.hook(model, got)] if shortcut else [])
    try:
        model(x)
    except _Stop:
        pass
    finally:
        for h in hooks:
            h.remove()
    if "in" not in got:
        raise PrunelabError(f"the forward pass never reached {type(layer).__name__} layer")
    return got


def _gather(out: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """(B, O, H, W) at positions (B, l) -> (B * l, O)."""
    B = out.shape[0]
    return out.flatten(2).gather(2, pos[:, None, :].expand(B, out.shape[1], pos.shape[1])).permute(0, 2, 1).flatten(0, 1)


def _at_positions(layer: nn.Module, inp: torch.Tensor, out: torch.Tensor, channels: int, locations: int,
                 gen: torch.Generator, extra: torch.Tensor | None = None):
    """(patches (b, C, K), responses without bias (b, O), ``extra`` (B, O, H, W) at the same
    positions or None) at random positions of one batch."""
    B = inp.shape[0]
    e = None
    if isinstance(layer, nn.Conv2d):
        L, width = out.shape[2] * out.shape[3], out.shape[3]
        pos = torch.rand(B, L, generator=gen).argsort(dim=1)[:, :min(locations, L)].to(inp.device)
        x = patches_at(inp, layer, pos, width).flatten(0, 1)
        y = _gather(out, pos)
        e = None if extra is None else _gather(extra, pos).float()
    else:
        x, y = inp.reshape(B, channels, -1), out
    if layer.bias is not None:
        y = y - layer.bias
    return x.float(), y.float(), e


@torch.no_grad()
def sample_layer(model: nn.Module, name: str, channels: int, batches: Iterable, locations: int, max_samples: int,
                 gen: torch.Generator, responses: torch.Tensor | None = None,
                 shortcut: Shortcut | None = None) -> LayerSamples:
    """Samples of layer ``name`` reading ``channels`` input channels (see the module docstring).

    ``batches`` yields (images, labels); ``gen`` (a CPU generator) picks the positions and the
    output channels. ``responses``: the responses to use instead of the model's own, e.g. the
    unpruned model's from ``reference_responses`` with a generator seeded alike (same positions).
    ``shortcut`` (with ``responses`` from ``reference_responses`` given the same shortcut): the
    responses become y_ref + (s_ref - s) / scale, so that the block's output, not only the conv's,
    is reconstructed: this model's shortcut output s differs from the reference's where earlier
    layers were pruned (He et al. 2017, multi-branch networks)."""
    layer = model.get_submodule(name)
    check_layer(layer, channels, name)
    xs, ys, n = [], [], 0
    for images, _ in batches:
        got = _grab(model, layer, images, shortcut if responses is not None else None)
        x, y, short = _at_positions(layer, got["in"], got["out"], channels, locations, gen, got.get("short"))
        xs.append(x)
        if responses is not None:
            y = responses[n: n + len(y)]
            if short is not None and len(short) == len(y):
                y = y - short
        ys.append(y)
        n += len(y)
        if n >= max_samples:
            break
    if not xs:
        raise PrunelabError("no training images to sample")
    x, y = torch.cat(xs)[:max_samples], torch.cat(ys)[:max_samples]
    if len(y) != len(x):
        raise PrunelabError(f"'{name}': the given responses do not match the samples")
    outputs = torch.randint(y.shape[1], (len(y),), generator=gen).to(y.device)
    bias = layer.bias.detach().float() if layer.bias is not None else None
    return LayerSamples(x, y, outputs, bias)


@torch.no_grad()
def reference_responses(model: nn.Module, layers: dict[str, int], batches: Iterable, locations: int,
                        max_samples: int, gens: dict[str, torch.Generator],
                        shortcuts: dict[str, Shortcut] | None = None) -> dict[str, torch.Tensor]:
    """The responses of several layers ({name: input channels}) in one forward pass per batch, at
    the positions ``sample_layer`` picks with generators seeded as ``gens``; a layer with a
    ``shortcuts`` entry gets its block's scaled shortcut output added (see ``sample_layer``)."""
    got, hooks = {name: [] for name in layers}, []
    seen = dict.fromkeys(layers, 0)
    shortcuts = shortcuts or {}
    short = {name: {} for name in shortcuts}

    def hook(name):
        def run(mod, inp, out):
            if seen[name] < max_samples:
                _, y, e = _at_positions(mod, inp[0], out, layers[name], locations, gens[name],
                                        short[name].get("short") if name in short else None)
                got[name].append(y if e is None else y + e)
                seen[name] += len(got[name][-1])
        return run

    for name in layers:
        check_layer(model.get_submodule(name), layers[name], name)
        hooks.append(model.get_submodule(name).register_forward_hook(hook(name)))
        if name in shortcuts:
            hooks.append(shortcuts[name].hook(model, short[name]))
    try:
        for images, _ in batches:
            model(images)
            if all(v >= max_samples for v in seen.values()):
                break
    finally:
        for h in hooks:
            h.remove()
    return {name: torch.cat(ys)[:max_samples] for name, ys in got.items() if ys}
