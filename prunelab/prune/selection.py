"""Selection rules: scores + a kept count -> the kept channel indices (ascending)."""
from __future__ import annotations

import torch

from ..errors import PrunelabError

SELECTIONS = ("largest", "smallest", "random")


def reference_threshold(values: torch.Tensor, fraction: float) -> float:
    """The threshold rule of the paper's reference code (slimming and unstructured pruning alike):
    sort the N values ascending and take ``sorted[int(N * fraction)]``; callers keep only the values
    strictly greater, so ties at the threshold are pruned."""
    v = values.flatten().sort().values
    if v.numel() == 0:
        raise PrunelabError("nothing to threshold")
    return float(v[min(int(v.numel() * fraction), v.numel() - 1)])


def check_scores(scores, n: int, where: str) -> torch.Tensor:
    """A scorer's output as prunelab needs it: a 1-D tensor of ``n`` finite scores, one per channel
    of the layer scored (one line naming ``where`` and what is wrong otherwise)."""
    if not isinstance(scores, torch.Tensor):
        raise PrunelabError(f"{where}: the scores must be a tensor, not {type(scores).__name__}")
    if scores.dim() != 1:
        raise PrunelabError(f"{where}: the scores must be 1-D (one per channel), not of shape {tuple(scores.shape)}")
    if scores.numel() != n:
        raise PrunelabError(f"{where}: {scores.numel()} scores for {n} channels (one score per channel)")
    if scores.is_complex() or not (scores.is_floating_point() or scores.dtype in (torch.int32, torch.int64)):
        raise PrunelabError(f"{where}: the scores must be real numbers, not {scores.dtype}")
    bad = (~torch.isfinite(scores.detach().double())).nonzero().flatten().tolist()
    if bad:
        what = "all scores are" if len(bad) == n else f"{len(bad)} of {n} scores are"
        raise PrunelabError(f"{where}: {what} NaN or infinite (channel {bad[0]}: {scores[bad[0]].item()})")
    return scores.detach()


def select(scores: torch.Tensor, keep: int, rule: str = "largest", gen: torch.Generator | None = None) -> list[int]:
    """Indices of the ``keep`` channels to keep.

    ``largest`` keeps the highest scores (ties: the lower index wins), ``smallest`` the lowest
    (a control), ``random`` a uniformly random subset (a control; seeded by ``gen``).
    """
    n = scores.numel()
    if not 1 <= keep <= n:
        raise PrunelabError(f"cannot keep {keep} of {n} channels")
    if rule == "random":
        idx = torch.randperm(n, generator=gen)[:keep]
    elif rule in ("largest", "smallest"):
        s = scores.double() if rule == "largest" else -scores.double()
        # stable descending sort: equal scores keep index order
        idx = torch.sort(s, descending=True, stable=True).indices[:keep]
    else:
        raise PrunelabError(f"unknown selection '{rule}' (known: {', '.join(SELECTIONS)})")
    return sorted(idx.tolist())
