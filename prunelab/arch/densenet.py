"""CIFAR DenseNet (DenseNet-40) and DenseNet-BC, with channel selection before every layer's first
conv, every transition and the head. Prunable widths: the bottleneck width of BC layers."""
from __future__ import annotations

import torch
from torch import nn

from ..errors import PrunelabError
from .family import Family
from .layers import ChannelSelection, PreActHead
from .selection import check_sel, sel_count, sel_indices
from .size import conv_params
from .units import Unit, indices


class DenseLayer(nn.Module):
    SELECT_CONSUMER = "conv1"  # the layer that reads self.select's output

    def __init__(self, cin: int, sel, growth: int, mid: int | None):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.select = ChannelSelection(cin, sel_indices(sel, cin))
        self.relu = nn.ReLU(inplace=True)
        n = sel_count(sel, cin)
        if mid is None:
            self.conv1 = nn.Conv2d(n, growth, 3, 1, 1, bias=False)
            self.bn2 = self.conv2 = None
        else:
            self.conv1 = nn.Conv2d(n, mid, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(mid)
            self.conv2 = nn.Conv2d(mid, growth, 3, 1, 1, bias=False)

    def forward(self, x):
        out = self.conv1(self.relu(self.select(self.bn1(x))))
        if self.conv2 is not None:
            out = self.conv2(self.relu(self.bn2(out)))
        return torch.cat([x, out], 1)


class Transition(nn.Module):
    SELECT_CONSUMER = "conv"  # the layer that reads self.select's output

    def __init__(self, cin: int, sel, cout: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(cin)
        self.select = ChannelSelection(cin, sel_indices(sel, cin))
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(sel_count(sel, cin), cout, 1, bias=False)
        self.pool = nn.AvgPool2d(2)

    def forward(self, x):
        return self.pool(self.conv(self.relu(self.select(self.bn(x)))))


def _walk(L):
    """Yield ('layer', block, i, cin) and ('trans', block, None, cin) in order; return head width."""
    c = L["stem"]
    for b, layers in enumerate(L["layers"]):
        for i in range(len(layers)):
            yield "layer", b, i, c
            c += L["growth"]
        if b < len(L["layers"]) - 1:
            yield "trans", b, None, c
            c = L["trans_out"][b]
    yield "head", None, None, c


class DenseNet(nn.Module):
    def __init__(self, spec):
        super().__init__()
        L = spec.layout
        self.conv1 = nn.Conv2d(spec.in_channels, L["stem"], 3, 1, 1, bias=False)
        blocks: list[list[nn.Module]] = [[] for _ in L["layers"]]
        trans = []
        for kind, b, i, cin in _walk(L):
            if kind == "layer":
                sel, mid = L["layers"][b][i]
                blocks[b].append(DenseLayer(cin, sel, L["growth"], mid))
            elif kind == "trans":
                trans.append(Transition(cin, L["trans_select"][b], L["trans_out"][b]))
            else:
                c = cin
        for b, layers in enumerate(blocks):
            setattr(self, f"dense{b + 1}", nn.Sequential(*layers))
            if b < len(trans):
                setattr(self, f"trans{b + 1}", trans[b])
        self.num_blocks = len(blocks)
        self.head = PreActHead(c, sel_indices(L["final_select"], c), spec.num_classes)

    def forward(self, x):
        x = self.conv1(x)
        for b in range(self.num_blocks):
            x = getattr(self, f"dense{b + 1}")(x)
            if b < self.num_blocks - 1:
                x = getattr(self, f"trans{b + 1}")(x)
        return self.head(x)


def validate(spec) -> None:
    L = spec.layout
    need = {"stem", "growth", "layers", "trans_select", "trans_out", "final_select"}
    if set(L) != need:
        raise PrunelabError(f"{spec.name}: densenet layout needs exactly {sorted(need)}")
    n = len(L["layers"])
    if len(L["trans_select"]) != n - 1 or len(L["trans_out"]) != n - 1:
        raise PrunelabError(f"{spec.name}: {n} dense blocks need {n - 1} transitions")
    for kind, b, i, cin in _walk(L):
        where = f"{spec.name} {kind} {b}.{i}"
        if kind == "layer":
            entry = L["layers"][b][i]
            if not isinstance(entry, list) or len(entry) != 2:
                raise PrunelabError(f"{where}: a layer must be [selection, bottleneck width or null]")
            check_sel(entry[0], cin, where)
            if entry[1] is not None and (not isinstance(entry[1], int) or entry[1] < 1):
                raise PrunelabError(f"{where}: bottleneck width must be a positive integer or null")
        elif kind == "trans":
            check_sel(L["trans_select"][b], cin, where)
        else:
            check_sel(L["final_select"], cin, f"{spec.name} final selection")


def widths(spec) -> dict[str, int]:
    return {
        f"dense{b + 1}.{i}.conv1": mid
        for b, layers in enumerate(spec.layout["layers"])
        for i, (_, mid) in enumerate(layers)
        if mid is not None
    }


def set_widths(layout: dict, new: dict[str, int]) -> None:
    for name, k in new.items():
        b, i = indices(name)[:2]
        layout["layers"][b][i][1] = k


def set_selections(layout: dict, new: dict) -> None:
    """``{"dense<b>.<i>" | "trans<b>" | "head": indices | None}``: the channels each layer reads."""
    for path, sel in new.items():
        if path == "head":
            layout["final_select"] = sel
        elif path.startswith("trans"):
            layout["trans_select"][indices(path)[0]] = sel
        else:
            b, i = indices(path)
            layout["layers"][b][i][0] = sel


def estimate(spec) -> tuple[int, int]:
    L = spec.layout
    layers, params, c = 1, conv_params(spec.in_channels, L["stem"], 3, bn=False), L["stem"]
    for b, block in enumerate(L["layers"]):
        for sel, mid in block:
            n = sel_count(sel, c)
            if mid is None:
                layers, params = layers + 1, params + 2 * c + conv_params(n, L["growth"], 3, bn=False)
            else:
                layers += 2
                params += 2 * c + conv_params(n, mid, 1) + conv_params(mid, L["growth"], 3, bn=False)
            c += L["growth"]
        if b < len(L["layers"]) - 1:
            out = L["trans_out"][b]
            layers, params, c = layers + 1, params + 2 * c + sel_count(L["trans_select"][b], c) * out, out
    return layers + 1, params + 2 * c + sel_count(L["final_select"], c) * spec.num_classes + spec.num_classes


def units(spec):
    """One stage per dense block (a transition belongs to the block before it, the head to the last)."""
    layers = spec.layout["layers"]
    for b, st in enumerate(layers):
        for i, (_, mid) in enumerate(st):
            yield Unit(f"dense{b + 1}.{i}", ("layers", b, i, 0), b, i, "select")
            if mid is not None:
                yield Unit(f"dense{b + 1}.{i}.conv1", ("layers", b, i, 1), b, i, "conv1")
        if b < len(layers) - 1:
            yield Unit(f"trans{b + 1}", ("trans_select", b), b, 0, "trans")
    yield Unit("head", ("final_select",), len(layers) - 1, 0, "head")


def knobs(spec) -> list[tuple]:
    """Beyond the units, a uniform DenseNet may move its stem and transition widths."""
    return [("stem",)] + [("trans_out", b) for b in range(len(spec.layout["trans_out"]))]


def bn_groups(model: nn.Module) -> list[tuple[nn.Module, str, str]]:
    """Network Slimming's BNs: every layer's input selection (and bottleneck), transition and head."""
    groups = []
    for path, m in model.named_modules():
        if isinstance(m, DenseLayer):
            groups.append((m.bn1, "select", path))
            if m.conv2 is not None:
                groups.append((m.bn2, "out", f"{path}.conv1"))
        elif isinstance(m, (Transition, PreActHead)):
            groups.append((m.bn, "select", path))
    return groups


def layout(n: int, k: int, bottleneck: bool, compression: float, stem: int | None = None) -> dict:
    """The layout of a 3-block DenseNet of ``n`` layers per block and growth rate ``k`` (BC: with
    ``bottleneck`` layers of width 4k and transitions keeping ``compression`` of the channels)."""
    stem = stem or 2 * k
    c, trans_out = stem, []
    for b in range(3):
        c += n * k
        if b < 2:
            c = int(c * compression)
            trans_out.append(c)
    mid = 4 * k if bottleneck else None
    return {
        "stem": stem, "growth": k, "layers": [[[None, mid] for _ in range(n)] for _ in range(3)],
        "trans_select": [None, None], "trans_out": trans_out, "final_select": None,
    }


def scale(spec, sc, clamp: bool) -> dict:
    """The growth rate and the stem scaled (the rest follows from them)."""
    L = spec.layout
    bc = L["layers"][0][0][1] is not None
    return layout(len(L["layers"][0]), sc(L["growth"]), bottleneck=bc, compression=0.5 if bc else 1.0,
                  stem=sc(L["stem"]))


FAMILY = Family("densenet", DenseNet, validate, widths, set_widths, estimate, units=units,
                set_selections=set_selections, knobs=knobs, scale=scale, bn_groups=bn_groups)
