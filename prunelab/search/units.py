"""The channel units of an architecture (each family lists them: ``Family.units``): every
prunable layer's output width and every input channel selection, with its stage, its block
(position in the stage) and its role.

Units are what a pattern describes (kept ratio per unit or per stage) and what uniform and guided
architectures set. Stages: VGG = the groups of convs between max-pools; ResNet / PreResNet /
ImageNet ResNet = their stages (``layer<s>``); DenseNet = its dense blocks (a transition belongs
to the block before it, the head to the last one).
"""
from __future__ import annotations

import copy
import functools
from ..arch import ArchSpec, build
from ..arch.families import family, with_capability
from ..arch.layers import ChannelSelection
from ..arch.selection import sel_count
from ..arch.units import SELECT, SELECT_ROLES, WIDTH, Unit, kind_of
from ..errors import PrunelabError

__all__ = ["SELECT", "SELECT_ROLES", "WIDTH", "Unit", "channels", "check_pruned", "kind_of", "units", "with_counts"]


def units(spec: ArchSpec) -> list[Unit]:
    fam = family(spec)
    if fam.units is None:
        raise PrunelabError(f"architecture search supports {', '.join(with_capability('units'))} models, "
                            f"not family '{spec.family}'")
    return list(fam.units(spec))


def get(layout: dict, path: tuple):
    for k in path:
        layout = layout[k]
    return layout


def put(layout: dict, path: tuple, value) -> None:
    get(layout, path[:-1])[path[-1]] = value


@functools.lru_cache(maxsize=64)
def _streams(spec_json: str) -> dict[str, int]:
    """Channels of the stream each selection reads (from a shapes-only build)."""
    model = build(ArchSpec.from_json(spec_json), device="meta")
    return {path: m.select.num_channels for path, m in model.named_modules()
            if isinstance(getattr(m, "select", None), ChannelSelection)}


def channels(spec: ArchSpec) -> dict[str, tuple[int, int | None]]:
    """{unit key: (channels kept, channels of the stream it selects from | None for a width)}."""
    us = units(spec)
    streams = _streams(spec.to_json()) if any(u.kind == SELECT for u in us) else {}
    out = {}
    for u in us:
        v = get(spec.layout, u.path)
        out[u.key] = (sel_count(v, streams[u.key]), streams[u.key]) if u.kind == SELECT else (v, None)
    return out


def with_counts(spec: ArchSpec, counts: dict[str, int], name: str) -> ArchSpec:
    """``spec`` with these units' widths (and selection counts: the first k channels of the stream)."""
    by_key = {u.key: u for u in units(spec)}
    chans = channels(spec)
    layout = copy.deepcopy(spec.layout)
    for key, k in counts.items():
        u = by_key[key]
        if u.kind == SELECT:
            full = chans[key][1]
            put(layout, u.path, None if k >= full else k)
        else:
            put(layout, u.path, k)
    return ArchSpec.from_dict({**spec.to_dict(), "layout": layout, "name": name})


def check_pruned(pruned: ArchSpec, base: ArchSpec) -> None:
    """``pruned`` must be of ``base``'s family with the same units (a pruned ``base``)."""
    if pruned.family != base.family or [u.key for u in units(pruned)] != [u.key for u in units(base)]:
        raise PrunelabError(f"'{pruned.name}' is not a pruned '{base.name}' (family {pruned.family}, "
                            f"{len(units(pruned))} channel units vs {base.family}, {len(units(base))})")
