"""Criteria: score every output channel (filter) of a prunable conv. Higher = more important."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..errors import PrunelabError


def l1_norm(conv: nn.Conv2d) -> torch.Tensor:
    """Li et al.: the sum of absolute kernel weights of each filter."""
    return conv.weight.detach().abs().sum(dim=(1, 2, 3))


def l2_norm(conv: nn.Conv2d) -> torch.Tensor:
    return conv.weight.detach().flatten(1).norm(dim=1)


CRITERIA: dict[str, Callable[[nn.Conv2d], torch.Tensor]] = {"l1-norm": l1_norm, "l2-norm": l2_norm}


def criterion(name: str) -> Callable[[nn.Conv2d], torch.Tensor]:
    try:
        return CRITERIA[name]
    except KeyError:
        raise PrunelabError(f"unknown criterion '{name}' (known: {', '.join(CRITERIA)})")
