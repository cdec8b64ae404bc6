"""ThiNet (Luo et al. 2017): greedy channel selection from the next layer's reconstruction.

For each layer pair in network order (layer i's filters = layer i+1's input channels), sample
layer i+1's input patches and responses from the model as pruned so far (``images`` training
images, ``locations`` random positions each, one random output channel per position: ThiNet's
samples are single responses y = sum over channels c of the contributions z_c). Greedily build
the set T of removed channels: add the channel i that minimises ||sum over T + {i} of z||^2 (the
smallest added energy), until layer i+1 keeps the target count. Then refit layer i+1's kept input
weights: ``refit: scale`` (the paper's) multiplies each kept channel's weights by
w = argmin ||y - Z_kept w||^2; ``refit: full`` solves all its kept input weights by least squares
over every output channel (prunelab.prune.reconstruct). Layer i's filters (and BN channels) go.
Between layers ThiNet fine-tunes the model pruned so far (``layer_epochs``, default 1 epoch at lr
0.001, as the paper), with the removed inputs held at zero; the next layer is sampled from it.

Models: VGG (the paper's no-BN ImageNet VGG-16, any prunelab VGG with or without BN; a last conv
that the target prunes is reconstructed at the head's first linear layer), ResNets (each block's
convs but its last: ResNet-50's first two). Targets as for l1-norm: a preset (``vgg16-thinet-conv``,
``resnet50-thinet-50``, ...; ``vgg16-thinet-gap``/``-tiny`` need a VGG-16 base with the GAP head:
the GAP head replaces the FC layers, which is no pruning), a ratio, or {ratio, skip, round_to}; the
architecture is planned. (A preset with input selections, ``resnet50-2x``, has the same greedy rule
choose them; then the architecture is found per seed.)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..errors import PrunelabError
from ..prune.reconstruct import REFITS, single_responses
from ..train import Recipe
from . import register
from .reconstruction import ReconstructionMethod


@dataclass(frozen=True)
class Params:
    target: Any = None  # a preset name, a ratio, or {ratio | stages, skip, round_to}
    images: int = 1000  # training images sampled per layer
    locations: int = 10  # random positions per image
    max_samples: int = 100_000  # at most this many samples per layer
    refit: str = "scale"  # scale (ThiNet's per-channel scales) | full (least squares of all kept weights)
    # ThiNet fine-tunes briefly after pruning each layer (Luo et al. 2017, Sec. 3.3 and 4: one epoch at
    # lr 0.001 after each layer, the long fine-tuning after the last); 0: prune every layer without it
    layer_epochs: int = 1
    layer_lr: float = 0.001
    layer_batch: int = 64


def greedy_removal(gram: torch.Tensor, keep: int) -> list[int]:
    """ThiNet's greedy rule on the Gram matrix of the channels' contributions: remove, one at a time,
    the channel whose removal least increases ||sum of removed contributions||^2; the kept channels."""
    alive = torch.ones(len(gram), dtype=torch.bool)
    removed_sum, energy, diag = torch.zeros(len(gram), dtype=gram.dtype), 0.0, gram.diagonal()
    for _ in range(len(gram) - keep):
        cost = (energy + 2 * removed_sum + diag).masked_fill(~alive, float("inf"))
        i = int(cost.argmin())
        energy, alive[i] = float(cost[i]), False
        removed_sum += gram[:, i]
    return alive.nonzero().flatten().tolist()


@register("thinet")
class ThiNet(ReconstructionMethod):
    reads_data = True
    Params = Params

    def check(self, params: Params) -> None:
        super().check(params)
        if params.refit not in REFITS:
            raise PrunelabError(f"{self.name}: refit must be one of {', '.join(REFITS)}, not {params.refit!r}")
        if params.layer_epochs < 0 or params.layer_lr <= 0 or params.layer_batch < 2:
            raise PrunelabError(f"{self.name}: layer_epochs must be >= 0, layer_lr > 0 and layer_batch >= 2")

    def refit(self, params: Params) -> str:
        return params.refit

    def tune(self, params: Params, data):
        """One fine-tuning between layers: ``layer_epochs`` at constant ``layer_lr`` (momentum 0.9,
        weight decay 1e-4: prunelab's recipe defaults) with the engine, seeded per step."""
        if not params.layer_epochs:
            return None
        recipe = Recipe(epochs=params.layer_epochs, batch_size=params.layer_batch, lr=params.layer_lr,
                        schedule="constant")
        return lambda model, masks, step: data.train(model, recipe, masks, offset=7_001 * (step + 1))

    def choose(self, samples, weight, keep: int) -> list[int]:
        z, _ = single_responses(samples, weight)
        return greedy_removal((z.T @ z).cpu(), keep)
