"""Masks of unstructured pruning: {parameter name: bool tensor, True where a weight is kept}.

A masked model carries them as ``model.masks``; model files save them, the engine keeps masked
weights exactly zero while training, counting reports nonzero params and density-scaled MACs.
"""
from __future__ import annotations

import torch
from torch import nn

from .errors import PrunelabError


def masks_of(model: nn.Module) -> dict[str, torch.Tensor] | None:
    return getattr(model, "masks", None) or None


def check_masks(model: nn.Module, masks: dict, where: str = "masks") -> dict[str, torch.Tensor]:
    """Masks as bool tensors on the CPU, each naming a parameter of ``model`` and of its shape."""
    if not isinstance(masks, dict):
        raise PrunelabError(f"{where}: masks must map parameter names to tensors")
    params = dict(model.named_parameters())
    out = {}
    for name, m in masks.items():
        if name not in params:
            raise PrunelabError(f"{where}: mask for unknown parameter '{name}'")
        if not isinstance(m, torch.Tensor) or tuple(m.shape) != tuple(params[name].shape):
            raise PrunelabError(f"{where}: mask of '{name}' does not have the weight's shape {tuple(params[name].shape)}")
        out[name] = m.to(device="cpu", dtype=torch.bool)
    return out


@torch.no_grad()
def apply_masks(model: nn.Module) -> nn.Module:
    """Zero the masked weights of a model that carries masks (in place)."""
    masks = masks_of(model)
    if masks:
        params = dict(model.named_parameters())
        for name, m in check_masks(model, masks).items():
            params[name].masked_fill_(~m.to(params[name].device), 0)
    return model
