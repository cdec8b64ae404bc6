"""The channel units of an architecture: every prunable layer's output width and every input
channel selection, with its stage, its block (position in the stage) and its role.

Units are what a pattern describes (kept ratio per unit or per stage) and what uniform and guided
architectures set. Stages: VGG = the groups of convs between max-pools; ResNet / PreResNet /
ImageNet ResNet = their stages (``layer<s>``); DenseNet = its dense blocks (a transition belongs
to the block before it, the head to the last one).
"""
from __future__ import annotations

import copy
import functools
from dataclasses import dataclass

from ..arch import ArchSpec, build, prunable_widths
from ..arch.layers import ChannelSelection
from ..arch.selection import sel_count
from ..errors import PrunelabError

WIDTH, SELECT = "width", "select"
SELECT_ROLES = ("select", "trans", "head")


def kind_of(role: str) -> str:
    """``select`` for a role that reads part of a stream (an input selection), else ``width``."""
    return SELECT if role in SELECT_ROLES else WIDTH


@dataclass(frozen=True)
class Unit:
    key: str  # a prunable layer (e.g. features.3, layer1.0.conv1) or a block reading a selection (layer1.0)
    path: tuple  # where its number lives in the spec's layout
    stage: int
    block: int  # position in its stage (among the units of its role)
    role: str  # conv, conv1, conv2, ... for widths; select, trans, head for selections

    @property
    def kind(self) -> str:
        return kind_of(self.role)


def _vgg(spec: ArchSpec):
    cfg = spec.layout["cfg"]
    pos = [i for i, v in enumerate(cfg) if v != "M"]
    seen: dict[int, int] = {}
    for name, i in zip(prunable_widths(spec), pos):
        s = cfg[:i].count("M")
        seen[s] = seen.get(s, -1) + 1
        yield Unit(name, ("cfg", i), s, seen[s], "conv")


def _resnet(spec: ArchSpec):
    for s, st in enumerate(spec.layout["inner"]):
        for b in range(len(st)):
            yield Unit(f"layer{s + 1}.{b}.conv1", ("inner", s, b), s, b, "conv1")


def _preresnet(spec: ArchSpec):
    blocks = spec.layout["blocks"]
    for s, st in enumerate(blocks):
        for b in range(len(st)):
            yield Unit(f"layer{s + 1}.{b}", ("blocks", s, b, 0), s, b, "select")
            yield Unit(f"layer{s + 1}.{b}.conv1", ("blocks", s, b, 1), s, b, "conv1")
            yield Unit(f"layer{s + 1}.{b}.conv2", ("blocks", s, b, 2), s, b, "conv2")
    yield Unit("head", ("final_select",), len(blocks) - 1, 0, "head")


def _densenet(spec: ArchSpec):
    layers = spec.layout["layers"]
    for b, st in enumerate(layers):
        for i, (_, mid) in enumerate(st):
            yield Unit(f"dense{b + 1}.{i}", ("layers", b, i, 0), b, i, "select")
            if mid is not None:
                yield Unit(f"dense{b + 1}.{i}.conv1", ("layers", b, i, 1), b, i, "conv1")
        if b < len(layers) - 1:
            yield Unit(f"trans{b + 1}", ("trans_select", b), b, 0, "trans")
    yield Unit("head", ("final_select",), len(layers) - 1, 0, "head")


def _resnet_imagenet(spec: ArchSpec):
    for s, st in enumerate(spec.layout["stages"]):
        for b, blk in enumerate(st):
            if blk["branch"]:
                yield Unit(f"layer{s + 1}.{b}", ("stages", s, b, "select"), s, b, "select")
                for j in range(len(blk["w"])):
                    yield Unit(f"layer{s + 1}.{b}.conv{j + 1}", ("stages", s, b, "w", j), s, b, f"conv{j + 1}")


def _torchvision(spec: ArchSpec):  # one stage: the dependency groups in module order
    for b, key in enumerate(prunable_widths(spec)):
        yield Unit(key, ("widths", key), 0, b, "conv")


UNITS = {"vgg": _vgg, "vgg-imagenet": _vgg, "resnet": _resnet, "preresnet": _preresnet, "densenet": _densenet,
         "resnet-imagenet": _resnet_imagenet, "torchvision": _torchvision}
FAMILIES = tuple(UNITS)


def units(spec: ArchSpec) -> list[Unit]:
    if spec.family not in UNITS:
        raise PrunelabError(f"architecture search supports {', '.join(FAMILIES)} models, not family '{spec.family}'")
    return list(UNITS[spec.family](spec))


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
