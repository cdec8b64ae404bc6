"""Batched augmentation of uint8 image tensors (no per-sample PIL work)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop_flip(x: torch.Tensor, pad: int, flip: bool, gen: torch.Generator) -> torch.Tensor:
    """Zero-pad by ``pad``, crop back to size at a random offset per image, random h-flip.

    ``x`` is (B, C, H, W) uint8 on any device; randomness comes from the CPU generator ``gen`` so
    that a run's data order is the same on every device.
    """
    return apply_crop_flip(x, pad, crop_flip_draws(len(x), pad, flip, gen))


def crop_flip_draws(b: int, pad: int, flip: bool, gen: torch.Generator) -> tuple:
    """The random numbers ``random_crop_flip`` draws for a batch of ``b`` images, in its order:
    crop offsets (rows, columns) where ``pad`` > 0, then flips. A rank of a distributed run draws
    them for the whole global batch and applies its slice (``apply_crop_flip(x, pad, draws, lo, hi)``);
    a resumed epoch draws them for the batches it skips, so the generator is where it was."""
    oy = ox = mask = None
    if pad > 0:
        oy = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
        ox = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    if flip:
        mask = torch.rand(b, generator=gen) < 0.5
    return oy, ox, mask


def apply_crop_flip(x: torch.Tensor, pad: int, draws: tuple, lo: int = 0, hi: int | None = None) -> torch.Tensor:
    """Crop and flip ``x`` by images ``lo:hi`` of ``draws`` (``crop_flip_draws``)."""
    oy, ox, mask = (None if d is None else d[lo:hi] for d in draws)
    b, c, h, w = x.shape
    if oy is not None:
        xp = F.pad(x, (pad, pad, pad, pad))
        oy, ox = oy.to(x.device), ox.to(x.device)
        rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        bi = torch.arange(b, device=x.device)[:, None, None, None]
        ci = torch.arange(c, device=x.device)[None, :, None, None]
        x = xp[bi, ci, rows, cols]
    if mask is not None:
        x = torch.where(mask.to(x.device)[:, None, None, None], x.flip(3), x)
    return x


def normalize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float, scaled to [0, 1] and standardised per channel."""
    return ((x.to(dtype) / 255.0) - mean) / std
