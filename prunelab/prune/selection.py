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
