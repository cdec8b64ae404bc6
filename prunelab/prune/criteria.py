"""Criteria: score every output channel (filter) of a prunable conv. Higher = more important."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..errors import PrunelabError


def units_of(layer: nn.Module) -> int:
    """How many units a prunable layer has: a conv's filters, a linear layer's outputs, an attention
    layer's heads (``out_units``)."""
    if isinstance(layer, nn.Conv2d):
        return layer.out_channels
    if isinstance(layer, nn.Linear):
        return layer.out_features
    return layer.out_units


def filters(layer: nn.Module) -> torch.Tensor:
    """One row of weights per unit: a conv's filters, a linear layer's rows, an attention layer's
    heads (``unit_weights``: each head's query, key, value rows and output columns)."""
    if isinstance(layer, (nn.Conv2d, nn.Linear)):
        return layer.weight.detach().flatten(1)
    return layer.unit_weights()


def l1_norm(conv: nn.Module) -> torch.Tensor:
    """Li et al.: the sum of absolute kernel weights of each filter (of each unit's row)."""
    if isinstance(conv, nn.Conv2d):
        return conv.weight.detach().abs().sum(dim=(1, 2, 3))
    return filters(conv).abs().sum(dim=1)


def l2_norm(conv: nn.Module) -> torch.Tensor:
    return filters(conv).norm(dim=1)


CRITERIA: dict[str, Callable[[nn.Conv2d], torch.Tensor]] = {"l1-norm": l1_norm, "l2-norm": l2_norm}


def criterion(name: str) -> Callable[[nn.Conv2d], torch.Tensor]:
    try:
        return CRITERIA[name]
    except KeyError:
        raise PrunelabError(f"unknown criterion '{name}' (known: {', '.join(CRITERIA)})")
