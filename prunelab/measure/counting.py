"""Params and MACs, per layer and in total.

MACs are the multiply-accumulates of conv and linear layers (the convention of the paper's
tables) and, in a vision transformer, of its attention's matrix products (query x key, attention x
value: they have no weights, so the per-layer table leaves them out and the total has them),
measured with PyTorch's own ``torch.utils.flop_counter`` (MACs = FLOPs / 2). For masked
(unstructured) weights, ``params_nonzero`` counts nonzero weights and ``macs_nonzero`` scales each
layer's MACs by its weight density (the attention products stay dense).
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..errors import PrunelabError


@dataclass
class LayerCount:
    name: str
    kind: str
    shape: list[int]
    params: int
    params_nonzero: int
    macs: int
    macs_nonzero: float


@dataclass
class Count:
    params: int
    params_nonzero: int
    macs: int
    macs_nonzero: float
    layers: list[LayerCount]

    def to_dict(self, layers: bool = True) -> dict:
        d = asdict(self)
        if not layers:
            d.pop("layers")
        return d


def _nonzero(t: torch.Tensor) -> int:
    if t.is_meta:  # a shapes-only model (built on the meta device) counts as dense
        return t.numel()
    return int(torch.count_nonzero(t).item())


@torch.no_grad()
def count(model: nn.Module, input_size: int | torch.Tensor | None = None, in_channels: int | None = None, *,
          example_input: torch.Tensor | None = None) -> Count:
    """Params and MACs (per layer and in total) of any module on ``example_input`` (one batch; the
    MACs are per image of it; also given in place of ``input_size``); a prunelab model needs no
    example: one image of its spec's input size (or ``input_size`` / ``in_channels``)."""
    if isinstance(input_size, torch.Tensor):  # count(model, x)
        example_input, input_size = input_size, None
    if example_input is not None:
        return count_on(model, example_input)
    spec = getattr(model, "arch_spec", None)
    if spec is None and (input_size is None or in_channels is None):
        raise PrunelabError("count: give example_input (one input batch) for a module that is not a prunelab model")
    size = input_size or spec.input_size
    channels = in_channels or spec.in_channels
    param = next(model.parameters())
    return count_on(model, torch.zeros(1, channels, size, size, dtype=param.dtype, device=param.device))


@torch.no_grad()
def count_on(model: nn.Module, x: torch.Tensor) -> Count:
    """Count any module on input ``x`` (MACs per image of it: a batch's MACs over its size)."""
    if not isinstance(model, nn.Module) or not isinstance(x, torch.Tensor):
        raise PrunelabError("count: give an nn.Module and an example input tensor (one batch)")
    spec = getattr(model, "arch_spec", None)
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    try:
        with counter:
            model(x)
    except RuntimeError as e:  # e.g. the input pooled below 1x1
        first = str(e).strip().splitlines()[0][:160]
        shape = "x".join(map(str, x.shape[1:]))
        raise PrunelabError(f"{getattr(spec, 'name', 'the model')} cannot run on a {shape} input ({first})")
    finally:
        model.train(was_training)
    images = max(1, x.shape[0])
    flops = {k: {op: n // images for op, n in v.items()} for k, v in counter.get_flop_counts().items()}
    layers = []
    for name, m in model.named_modules():
        if not isinstance(m, (nn.Conv2d, nn.Linear)):
            continue
        # flop_counter keys modules by their qualified name under the root class name
        key = f"{type(model).__name__}.{name}"
        macs = sum(flops.get(key, {}).values()) // 2
        n = sum(p.numel() for p in m.parameters(recurse=False))
        nz = n - m.weight.numel() + _nonzero(m.weight)
        density = _nonzero(m.weight) / m.weight.numel()
        layers.append(LayerCount(name, type(m).__name__, list(m.weight.shape), n, nz, macs, macs * density))
    params = sum(p.numel() for p in model.parameters())
    params_nonzero = params - sum(lc.params - lc.params_nonzero for lc in layers)
    total = sum(flops.get("Global", {}).values()) // 2
    return Count(
        params=params,
        params_nonzero=params_nonzero,
        macs=total,
        macs_nonzero=total - sum(lc.macs - lc.macs_nonzero for lc in layers),
        layers=layers,
    )


@functools.lru_cache(maxsize=4096)
def spec_macs(spec_json: str) -> int:
    """Forward MACs of one image for a spec (given as canonical JSON, so it can be cached), counted on
    a shapes-only (meta) model."""
    from ..arch import ArchSpec, build  # (arch does not import measure)

    return count(build(ArchSpec.from_json(spec_json), device="meta")).macs
