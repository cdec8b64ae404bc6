"""Batched augmentation of uint8 image tensors (no per-sample PIL work)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop_flip(x: torch.Tensor, pad: int, flip: bool, gen: torch.Generator) -> torch.Tensor:
    """Zero-pad by ``pad``, crop back to size at a random offset per image, random h-flip.

    ``x`` is (B, C, H, W) uint8 on any device; randomness comes from the CPU generator ``gen`` so
    that a run's data order is the same on every device.
    """
    b, c, h, w = x.shape
    if pad > 0:
        xp = F.pad(x, (pad, pad, pad, pad))
        oy = torch.randint(0, 2 * pad + 1, (b,), generator=gen).to(x.device)
        ox = torch.randint(0, 2 * pad + 1, (b,), generator=gen).to(x.device)
        rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        bi = torch.arange(b, device=x.device)[:, None, None, None]
        ci = torch.arange(c, device=x.device)[None, :, None, None]
        x = xp[bi, ci, rows, cols]
    if flip:
        mask = (torch.rand(b, generator=gen) < 0.5).to(x.device)[:, None, None, None]
        x = torch.where(mask, x.flip(3), x)
    return x


def normalize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float, scaled to [0, 1] and standardised per channel."""
    return ((x.to(dtype) / 255.0) - mean) / std
