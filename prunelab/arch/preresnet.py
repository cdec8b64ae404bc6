"""CIFAR PreResNet (bottleneck, pre-activation) with channel selection on block inputs.

Block: BN -> select -> ReLU -> 1x1 conv -> BN -> ReLU -> 3x3 conv (stride) -> BN -> ReLU -> 1x1
conv, plus identity or a strided 1x1 conv shortcut. Prunable widths: each block's conv1 and conv2.
"""
from __future__ import annotations

from torch import nn

from ..errors import PrunelabError
from .family import Family
from .layers import ChannelSelection, PreActHead
from .selection import check_sel, sel_count, sel_indices
from .size import conv_params
from .units import Unit, indices

EXPANSION = 4


class Bottleneck(nn.Module):
    SELECT_CONSUMER = "conv1"  # the layer that reads self.select's output

    def __init__(self, cin: int, sel, w1: int, w2: int, cout: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.select = ChannelSelection(cin, sel_indices(sel, cin))
        self.conv1 = nn.Conv2d(sel_count(sel, cin), w1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(w1)
        self.conv2 = nn.Conv2d(w1, w2, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(w2)
        self.conv3 = nn.Conv2d(w2, cout, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = nn.Conv2d(cin, cout, 1, stride, bias=False) if (stride != 1 or cin != cout) else None

    def forward(self, x):
        out = self.relu(self.select(self.bn1(x)))
        out = self.relu(self.bn2(self.conv1(out)))
        out = self.relu(self.bn3(self.conv2(out)))
        out = self.conv3(out)
        return out + (x if self.downsample is None else self.downsample(x))


def _stage_io(L):
    """Yield (stage, block, cin, cout, stride) for every block."""
    c = L["stem"]
    for s, planes in enumerate(L["planes"]):
        for b in range(len(L["blocks"][s])):
            yield s, b, c, planes * EXPANSION, (2 if s > 0 and b == 0 else 1)
            c = planes * EXPANSION


class PreResNet(nn.Module):
    def __init__(self, spec):
        super().__init__()
        L = spec.layout
        self.conv1 = nn.Conv2d(spec.in_channels, L["stem"], 3, 1, 1, bias=False)
        stages: list[list[nn.Module]] = [[] for _ in L["planes"]]
        c = L["stem"]
        for s, b, cin, cout, stride in _stage_io(L):
            sel, w1, w2 = L["blocks"][s][b]
            stages[s].append(Bottleneck(cin, sel, w1, w2, cout, stride))
            c = cout
        for s, blocks in enumerate(stages):
            setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
        self.num_stages = len(stages)
        self.head = PreActHead(c, sel_indices(L["final_select"], c), spec.num_classes)

    def forward(self, x):
        x = self.conv1(x)
        for s in range(self.num_stages):
            x = getattr(self, f"layer{s + 1}")(x)
        return self.head(x)


def validate(spec) -> None:
    L = spec.layout
    if set(L) != {"stem", "planes", "blocks", "final_select"}:
        raise PrunelabError(f"{spec.name}: preresnet layout needs 'stem', 'planes', 'blocks', 'final_select'")
    if len(L["planes"]) != len(L["blocks"]):
        raise PrunelabError(f"{spec.name}: one block list per stage is needed")
    c = L["stem"]
    for s, b, cin, cout, _ in _stage_io(L):
        blk = L["blocks"][s][b]
        if not isinstance(blk, list) or len(blk) != 3:
            raise PrunelabError(f"{spec.name}: block {s + 1}.{b} must be [selection, width1, width2]")
        check_sel(blk[0], cin, f"{spec.name} block {s + 1}.{b}")
        for w in blk[1:]:
            if not isinstance(w, int) or isinstance(w, bool) or w < 1:
                raise PrunelabError(f"{spec.name}: block {s + 1}.{b} width {w!r} must be a positive integer")
        c = cout
    check_sel(L["final_select"], c, f"{spec.name} final selection")


def widths(spec) -> dict[str, int]:
    out = {}
    for s, blocks in enumerate(spec.layout["blocks"]):
        for b, (_, w1, w2) in enumerate(blocks):
            out[f"layer{s + 1}.{b}.conv1"] = w1
            out[f"layer{s + 1}.{b}.conv2"] = w2
    return out


def set_widths(layout: dict, new: dict[str, int]) -> None:
    for name, k in new.items():
        s, b, conv = indices(name)
        layout["blocks"][s][b][conv] = k


def set_selections(layout: dict, new: dict) -> None:
    """``{"layer<s>.<b>": indices | None, "head": ...}``: the input channels a block (or the head) reads."""
    for path, sel in new.items():
        if path == "head":
            layout["final_select"] = sel
        else:
            s, b = indices(path)
            layout["blocks"][s][b][0] = sel


def estimate(spec) -> tuple[int, int]:
    L = spec.layout
    layers, params, c = 1, conv_params(spec.in_channels, L["stem"], 3, bn=False), L["stem"]
    for planes, blocks in zip(L["planes"], L["blocks"]):
        for b, (sel, w1, w2) in enumerate(blocks):
            cout = 4 * planes
            params += 2 * c + conv_params(sel_count(sel, c), w1, 1) + conv_params(w1, w2, 3) \
                + conv_params(w2, cout, 1, bn=False)
            layers += 3
            if c != cout or (b == 0 and planes != L["planes"][0]):
                layers, params = layers + 1, params + c * cout
            c = cout
    return layers + 1, params + 2 * c + sel_count(L["final_select"], c) * spec.num_classes + spec.num_classes


def units(spec):
    blocks = spec.layout["blocks"]
    for s, st in enumerate(blocks):
        for b in range(len(st)):
            yield Unit(f"layer{s + 1}.{b}", ("blocks", s, b, 0), s, b, "select")
            yield Unit(f"layer{s + 1}.{b}.conv1", ("blocks", s, b, 1), s, b, "conv1")
            yield Unit(f"layer{s + 1}.{b}.conv2", ("blocks", s, b, 2), s, b, "conv2")
    yield Unit("head", ("final_select",), len(blocks) - 1, 0, "head")


def bn_groups(model: nn.Module) -> list[tuple[nn.Module, str, str]]:
    """Network Slimming's BNs: each block's three (its input selection's, conv1's, conv2's) and the head's."""
    groups = []
    for path, m in model.named_modules():
        if isinstance(m, Bottleneck):
            groups += [(m.bn1, "select", path), (m.bn2, "out", f"{path}.conv1"), (m.bn3, "out", f"{path}.conv2")]
        elif isinstance(m, PreActHead):
            groups.append((m.bn, "select", path))
    return groups


def scale(spec, sc, clamp: bool) -> dict:
    """Every width (selections must be unpruned: they are reset)."""
    L = spec.to_dict()["layout"]
    L["stem"] = sc(L["stem"])
    L["planes"] = [sc(p) for p in L["planes"]]
    L["blocks"] = [[[None, sc(a), sc(b)] for _, a, b in st] for st in L["blocks"]]
    return L


FAMILY = Family("preresnet", PreResNet, validate, widths, set_widths, estimate, units=units,
                set_selections=set_selections, scale=scale, bn_groups=bn_groups)
