"""Channel selections in a spec: which channels of a stream (a residual stream, a concatenation)
a layer reads."""
from __future__ import annotations

from typing import Any

from ..errors import PrunelabError


# --- channel selections --------------------------------------------------------------------
# A selection names the channels of a stream that a layer reads: None = all of them,
# an int k = k channels (indices not fixed: the first k when built from scratch),
# a list = exactly those indices (as found by a pruning method).

def sel_count(sel: Any, n: int) -> int:
    if sel is None:
        return n
    if isinstance(sel, int):
        return sel
    return len(sel)


def sel_indices(sel: Any, n: int) -> list[int] | None:
    """Indices a selection keeps, or None when it keeps every channel in order."""
    if sel is None:
        return None
    idx = list(range(sel)) if isinstance(sel, int) else list(sel)
    if idx == list(range(n)):
        return None
    return idx


def check_sel(sel: Any, n: int, where: str) -> None:
    if sel is None:
        return
    if isinstance(sel, bool):
        raise PrunelabError(f"{where}: selection must be null, a count or a list of indices")
    if isinstance(sel, int):
        if not 1 <= sel <= n:
            raise PrunelabError(f"{where}: selects {sel} of {n} channels")
        return
    if not isinstance(sel, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in sel):
        raise PrunelabError(f"{where}: selection must be null, a count or a list of indices")
    if not sel:
        raise PrunelabError(f"{where}: selection is empty (a layer needs at least one channel)")
    if len(set(sel)) != len(sel) or min(sel) < 0 or max(sel) >= n:
        raise PrunelabError(f"{where}: selection indices must be distinct and in [0, {n})")
