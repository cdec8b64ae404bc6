"""Regression-based channel pruning (He et al. 2017): LASSO channel selection, least-squares refit.

For each layer to prune, in network order, sample the *consumer's* input patches X from the model
as pruned so far and its responses Y from the unpruned model (``images`` training images,
``locations`` random positions each; all output channels), so that errors do not accumulate. With
the per-channel contributions Z_c = X_c W_c, solve the LASSO y ~ sum over c of beta_c Z_c with an
L1 penalty on beta by scikit-learn's ``lars_path_gram`` (the exact LASSO regularisation path, on
the contributions' Gram matrix) and take the point of the path where exactly the target number of
channels is nonzero: lowering the penalty from the top of the path, the last point before more
channels are nonzero (He et al. raise the penalty until no more than the target are nonzero; on a
path where channels only enter, that is the same point). The path is computed only that far (plus
a margin for channels that drop out) and down to 1e-9 of its largest penalty (below is rounding
noise); channels whose contributions are zero on every sample never enter it and are left out. Where it never has exactly that many (e.g. fewer samples than channels), the nonzero
channels are topped up in the order the path lets channels in, then by contribution energy.
Then the consumer's kept input weights are refit by least squares over all outputs
(``torch.linalg.lstsq``; prunelab.prune.reconstruct, ``full``) and the producer's filters (and BN
channels) go. The responses are reconstructed without the consumer's bias, which stays.

Cost: the path takes about (kept channels) steps of O(C * active) each, so the stream selections
of ResNet-50's last stage (C = 2048) dominate on a CPU (seconds each).

Targets as for l1-norm: ``vgg16-5x`` (from the no-BN ImageNet VGG-16), a ratio or {ratio, skip,
round_to} (planned architectures), and ``resnet50-2x``: each bottleneck's first two convs *and*
its input channel selection (the channels of the residual stream that the block's first conv
reads, set through the surgery's selections). The selected indices come from data, so
``resnet50-2x`` is not planned: each seed's prune step finds its architecture (same widths).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch

from ..prune.reconstruct import contribution_gram
from . import register
from .reconstruction import ReconstructionMethod


@dataclass(frozen=True)
class Params:
    target: Any = None  # a preset name, a ratio, or {ratio | stages, skip, round_to}
    images: int = 1000  # training images sampled per layer (He et al.: 5000)
    locations: int = 10  # random positions per image
    max_samples: int = 100_000  # at most this many samples per layer


def lasso_keep(gram: torch.Tensor, xy: torch.Tensor, n_samples: int, keep: int) -> list[int]:
    """The ``keep`` channels of the LASSO path at the last point, lowering the penalty from the
    top, before more than ``keep`` channels are nonzero (topped up as the module docstring says)."""
    from sklearn.linear_model import lars_path_gram

    energy = gram.diagonal().cpu()
    live = (energy > 0).nonzero().flatten()  # channels that contribute nothing never enter the path
    active = torch.zeros(len(energy), 1, dtype=torch.bool)
    if len(live):
        g, b = gram[live][:, live].cpu().numpy(), xy[live].cpu().numpy()
        with warnings.catch_warnings():  # collinear channels: LARS notes that it drops them
            warnings.simplefilter("ignore")  # the path only as far as needed (a margin for channels dropping out)
            _, _, coefs = lars_path_gram(b, g, n_samples=n_samples, method="lasso", max_iter=keep + keep // 4 + 10,
                                         alpha_min=1e-9 * float(abs(b).max()) / n_samples)  # below: rounding noise
        active = torch.zeros(len(energy), coefs.shape[1], dtype=torch.bool)
        active[live] = torch.from_numpy(coefs != 0)  # (C, points), penalties descending
    over = (active.sum(0) > keep).nonzero().flatten()
    point = int(over[0]) - 1 if len(over) else active.shape[1] - 1
    chosen = active[:, point].nonzero().flatten().tolist()
    if len(chosen) < keep:  # top up: channels in the order the path lets them in, then by energy
        first = torch.where(active.any(1), active.float().argmax(1), active.shape[1])
        order = sorted(set(range(len(energy))) - set(chosen), key=lambda c: (int(first[c]), -float(energy[c]), c))
        chosen += order[: keep - len(chosen)]
    return chosen


@register("regression")
class Regression(ReconstructionMethod):
    reads_data = True
    Params = Params
    reference = True  # reconstruct the unpruned model's responses, so errors do not accumulate

    def choose(self, samples, weight, keep: int) -> list[int]:
        gram, xy = contribution_gram(samples, weight)
        return lasso_keep(gram, xy, len(samples) * weight.shape[0], keep)
