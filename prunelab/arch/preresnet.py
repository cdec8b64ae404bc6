"""CIFAR PreResNet (bottleneck, pre-activation) with channel selection on block inputs.

Block: BN -> select -> ReLU -> 1x1 conv -> BN -> ReLU -> 3x3 conv (stride) -> BN -> ReLU -> 1x1
conv, plus identity or a strided 1x1 conv shortcut. Prunable widths: each block's conv1 and conv2.
"""
from __future__ import annotations

from torch import nn

from ..errors import PrunelabError
from .layers import ChannelSelection, PreActHead
from .selection import check_sel, sel_count, sel_indices

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
        s, b, conv = name.split(".")
        layout["blocks"][int(s[5:]) - 1][int(b)][int(conv[4:])] = k


def set_selections(layout: dict, new: dict) -> None:
    """``{"layer<s>.<b>": indices | None, "head": ...}``: the input channels a block (or the head) reads."""
    for path, sel in new.items():
        if path == "head":
            layout["final_select"] = sel
        else:
            s, b = path.split(".")
            layout["blocks"][int(s[5:]) - 1][int(b)][0] = sel
