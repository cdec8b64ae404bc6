"""Architectures of a given size: the uniformly scaled one, and the one that follows a pattern.

Both search one global factor by bisection (size grows with it), then, where rounding leaves the
closest one more than 2% off the target (tiny nets), move single widths one channel at a time
toward the target.
"""
from __future__ import annotations

import copy
from typing import Callable

from ..arch import ArchSpec
from ..arch.families import estimate, family
from ..arch.names import scale_width
from ..errors import PrunelabError
from ..measure import spec_macs
from .units import WIDTH, get, put, units

TOLERANCE = 0.02
BY = ("params", "macs")


def size(spec: ArchSpec, by: str = "params") -> int:
    """Parameters (from the spec, exact) or forward MACs of one image."""
    if by not in BY:
        raise PrunelabError(f"size must be measured by params or macs, not {by!r}")
    return estimate(spec)[1] if by == "params" else spec_macs(spec.to_json())


def _check_target(target, what: str) -> None:
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0 < target < float("inf"):
        raise PrunelabError(f"{what}: the target size must be a positive number, got {target!r}")


def _near(s: float, target: float) -> bool:
    return abs(s - target) <= TOLERANCE * target


def bisect(make: Callable[[float], ArchSpec], target: float, by: str, hi: float) -> tuple[ArchSpec, int, float]:
    """The spec, size and factor in (0, hi] whose size is closest to ``target`` (``make`` grows with it)."""
    lo, best = 0.0, None
    for _ in range(60):
        g = (lo + hi) / 2
        spec = make(g)
        s = size(spec, by)
        if best is None or abs(s - target) < abs(best[1] - target):
            best = (spec, s, g)
        if abs(s - target) <= TOLERANCE / 8 * target or hi - lo < 1e-7:
            break
        lo, hi = (g, hi) if s < target else (lo, g)
    return best


def nudge(spec: ArchSpec, paths: list[tuple], target: float, by: str, passes: int) -> ArchSpec:
    """Move the widths at ``paths`` one channel at a time toward ``target``, always the widest one
    (the smallest relative change; each moves at most ``passes`` channels), until the size crosses
    the target; the closest one within 2% wins, else a one-line error names the closest reached."""
    s0 = size(spec, by)
    if abs(s0 - target) <= TOLERANCE / 8 * target or not paths:
        return _within(spec, s0, target, by)
    step = 1 if s0 < target else -1
    layout, best, moved = copy.deepcopy(spec.layout), (spec, s0), dict.fromkeys(paths, 0)
    while True:
        free = [p for p in paths if moved[p] < passes and get(layout, p) + step >= 1]
        if not free:
            return _within(*best, target, by)
        p = max(free, key=lambda q: get(layout, q))
        put(layout, p, get(layout, p) + step)
        moved[p] += 1
        cand = ArchSpec.from_dict({**spec.to_dict(), "layout": copy.deepcopy(layout)})
        s = size(cand, by)
        if abs(s - target) < abs(best[1] - target):
            best = (cand, s)
        if (s - target) * step >= 0:  # crossed: the closest is one of the last two
            return _within(*best, target, by)


def _within(spec: ArchSpec, s: int, target: float, by: str) -> ArchSpec:
    if not _near(s, target):
        raise PrunelabError(f"no {spec.family} architecture of this shape has {by} within 2% of {target:,.0f}: "
                            f"the closest is '{spec.name}' with {s:,} ({100 * (s / target - 1):+.1f}%)")
    return spec


def _hi(at_one: int, target: float) -> float:
    """An upper bound of the factor, from the size at factor 1 (size grows about as its square)."""
    return min(16.0, max(1.0, 2 * (target / at_one) ** 0.5))


def _knobs(spec: ArchSpec) -> list[tuple]:
    """Widths a uniform net may move by single channels: every prunable width and the family's
    other ``knobs`` (DenseNet: its stem and transition widths)."""
    paths = [u.path for u in units(spec) if u.kind == WIDTH]
    more = family(spec).knobs
    return paths + (more(spec) if more else [])


def uniform(base: ArchSpec, target: float, by: str = "params", name: str | None = None) -> ArchSpec:
    """``base`` with every width scaled by one factor (DenseNet: its growth rate) so that its params
    (or MACs) are within 2% of ``target``."""
    _check_target(target, f"uniform {base.name}")
    size(base, by)  # checks `by`
    units(base)  # checks the family
    name = name or f"{base.name}-uniform"
    spec, _, _ = bisect(lambda g: scale_width(base, g, name=name, clamp=True), target, by, _hi(size(base, by), target))
    return nudge(spec, _knobs(spec), target, by, passes=1 << 20)
