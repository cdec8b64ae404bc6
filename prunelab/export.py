"""Inference export of (pruned) models: channel selections folded into the next layer's weights,
BatchNorm folded into the preceding conv (torch.fx's conv-BN fusion), and files for TorchScript,
``torch.export`` and ONNX."""
from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from .arch.layers import ChannelSelection
from .errors import PrunelabError


@torch.no_grad()
def fold_selections(model: nn.Module) -> nn.Module:
    """Replace every partial ChannelSelection by zero-padded weights in the layer that reads it.

    The next layer then reads all channels (selection commutes with the elementwise ReLU between
    them), so no gather runs at inference, at the cost of that layer's dense MACs.
    """
    for parent in model.modules():
        sel = getattr(parent, "select", None)
        if not isinstance(sel, ChannelSelection) or sel.indices is None:
            continue
        name = getattr(parent, "SELECT_CONSUMER", None)
        old = getattr(parent, name, None) if name else None
        if not isinstance(old, (nn.Conv2d, nn.Linear)):
            raise PrunelabError(f"cannot fold the selection of {type(parent).__name__}: no consumer layer")
        idx = sel.indices
        if isinstance(old, nn.Conv2d):
            new = nn.Conv2d(sel.num_channels, old.out_channels, old.kernel_size, old.stride, old.padding,
                            old.dilation, old.groups, old.bias is not None).to(old.weight)
            new.weight.zero_()
            new.weight[:, idx] = old.weight
        else:
            new = nn.Linear(sel.num_channels, old.out_features, old.bias is not None).to(old.weight)
            new.weight.zero_()
            new.weight[:, idx] = old.weight
        if old.bias is not None:
            new.bias.copy_(old.bias)
        setattr(parent, name, new.train(old.training))
        parent.select = ChannelSelection(sel.num_channels, None)
    return model


def for_inference(model: nn.Module, fold_selection: bool = True) -> nn.Module:
    """An eval-mode copy with selections folded (optional) and conv-BN pairs fused."""
    from torch.fx.experimental.optimization import fuse

    m = copy.deepcopy(model).cpu().eval()
    if fold_selection:
        fold_selections(m)
    fused = fuse(m)
    fused.arch_spec = getattr(model, "arch_spec", None)
    return fused.to(next(model.parameters()).device)


def export(model: nn.Module, out_dir: str | Path, formats=("torchscript", "export", "onnx"),
           batch: int = 2) -> dict[str, Path]:
    """Write the inference model in the given formats; returns format -> file."""
    spec = model.arch_spec
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    m = for_inference(model).cpu()
    x = torch.randn(batch, spec.in_channels, spec.input_size, spec.input_size)
    dynamic = {"x": {0: torch.export.Dim("batch")}}  # any batch size (traced with ``batch`` >= 2)
    files = {}
    names = {"torchscript": "model.torchscript.pt", "export": "model.pt2", "onnx": "model.onnx"}
    for fmt in formats:  # every name (and the packages each needs) is checked before any file is written
        if fmt not in names:
            raise PrunelabError(f"unknown export format '{fmt}' (torchscript, export, onnx)")
    if "onnx" in formats:
        import importlib.util

        missing = [p for p in ("onnx", "onnxscript") if importlib.util.find_spec(p) is None]
        if missing:
            raise PrunelabError(f"ONNX export needs the {' and '.join(missing)} package: pip install 'prunelab[export]' "
                                "(or leave onnx out of --formats)")
    for fmt in formats:
        path = out_dir / names[fmt]
        tmp = out_dir / f".{names[fmt]}.tmp"  # written whole, then renamed: no half-written files
        if fmt == "torchscript":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated but still what many deploy
                torch.jit.save(torch.jit.trace(m, x), str(tmp))
        elif fmt == "export":
            torch.export.save(torch.export.export(m, (x,), dynamic_shapes=dynamic), str(tmp))
        else:
            try:
                torch.onnx.export(m, (x,), str(tmp), dynamo=True, external_data=False, dynamic_shapes=dynamic)
            except ImportError as e:
                raise PrunelabError(f"ONNX export needs the onnx and onnxscript packages ({e})")
        os.replace(tmp, path)
        files[fmt] = path
    return files
