"""ImageNet ResNet in torchvision's layout, with configurable per-block inner widths, optional
input channel selection (regression pruning) and removable residual branches (Sparse Structure
Selection). Block layout: {"w": [inner widths], "select": selection, "branch": bool} and, for a
large model trained by Sparse Structure Selection, "scale": true (a learnable factor on the
branch's output)."""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..errors import PrunelabError
from .family import Family
from .layers import ChannelSelection
from .selection import check_sel, sel_count, sel_indices
from .size import conv_params
from .spec import ArchSpec
from .units import Unit, indices, next_in_block


class Block(nn.Module):
    SELECT_CONSUMER = "conv1"  # the layer that reads self.select's output

    def __init__(self, kind: str, cin: int, blk: dict, cout: int, stride: int):
        super().__init__()
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.branch = blk["branch"]
        if not self.branch:
            return
        if blk.get("scale"):
            self.scale = nn.Parameter(torch.ones(1))
        self.select = ChannelSelection(cin, sel_indices(blk["select"], cin))
        n = sel_count(blk["select"], cin)
        if kind == "basic":
            (w1,) = blk["w"]
            self.conv1 = nn.Conv2d(n, w1, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(w1)
            self.conv2 = nn.Conv2d(w1, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.convs = 2
        else:
            w1, w2 = blk["w"]
            self.conv1 = nn.Conv2d(n, w1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(w1)
            self.conv2 = nn.Conv2d(w1, w2, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(w2)
            self.conv3 = nn.Conv2d(w2, cout, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(cout)
            self.convs = 3

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        if not self.branch:  # (not in place: x may be the previous block's output, which autograd keeps)
            return torch.relu(identity)
        out = self.relu(self.bn1(self.conv1(self.select(x))))
        out = self.bn2(self.conv2(out))
        if self.convs == 3:
            out = self.bn3(self.conv3(self.relu(out)))
        if hasattr(self, "scale"):
            out = out * self.scale
        return self.relu(out + identity)


def _expansion(kind: str) -> int:
    return 1 if kind == "basic" else 4


def _walk(L):
    c = L["stem"]
    for s, planes in enumerate(L["planes"]):
        cout = planes * _expansion(L["block"])
        for b in range(len(L["stages"][s])):
            yield s, b, c, cout, (2 if s > 0 and b == 0 else 1)
            c = cout


class ImageNetResNet(nn.Module):
    def __init__(self, spec):
        super().__init__()
        L = spec.layout
        self.conv1 = nn.Conv2d(spec.in_channels, L["stem"], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(L["stem"])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        stages: list[list[nn.Module]] = [[] for _ in L["planes"]]
        c = L["stem"]
        for s, b, cin, cout, stride in _walk(L):
            stages[s].append(Block(L["block"], cin, L["stages"][s][b], cout, stride))
            c = cout
        for s, blocks in enumerate(stages):
            setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
        self.num_stages = len(stages)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, spec.num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for s in range(self.num_stages):
            x = getattr(self, f"layer{s + 1}")(x)
        return self.fc(self.avgpool(x).flatten(1))


def validate(spec) -> None:
    L = spec.layout
    if set(L) != {"block", "stem", "planes", "stages"}:
        raise PrunelabError(f"{spec.name}: resnet-imagenet layout needs 'block', 'stem', 'planes', 'stages'")
    if L["block"] not in ("basic", "bottleneck"):
        raise PrunelabError(f"{spec.name}: block must be 'basic' or 'bottleneck'")
    if len(L["planes"]) != len(L["stages"]):
        raise PrunelabError(f"{spec.name}: one block list per stage is needed")
    nw = 1 if L["block"] == "basic" else 2
    for s, b, cin, _, _ in _walk(L):
        blk, where = L["stages"][s][b], f"{spec.name} block {s + 1}.{b}"
        if not isinstance(blk, dict) or not {"w", "select", "branch"} <= set(blk) <= {"w", "select", "branch", "scale"}:
            raise PrunelabError(f"{where}: a block must be {{'w', 'select', 'branch'}} (and optionally 'scale')")
        if not isinstance(blk.get("scale", False), bool):
            raise PrunelabError(f"{where}: 'scale' must be true or false")
        if not isinstance(blk["w"], list) or len(blk["w"]) != nw or not all(
            isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in blk["w"]
        ):
            raise PrunelabError(f"{where}: 'w' must list {nw} positive widths")
        if not isinstance(blk["branch"], bool):
            raise PrunelabError(f"{where}: 'branch' must be true or false")
        check_sel(blk["select"], cin, where)


def widths(spec) -> dict[str, int]:
    out = {}
    for s, blocks in enumerate(spec.layout["stages"]):
        for b, blk in enumerate(blocks):
            if blk["branch"]:
                for j, w in enumerate(blk["w"]):
                    out[f"layer{s + 1}.{b}.conv{j + 1}"] = w
    return out


def set_widths(layout: dict, new: dict[str, int]) -> None:
    for name, k in new.items():
        s, b, conv = indices(name)
        layout["stages"][s][b]["w"][conv - 1] = k


def set_selections(layout: dict, new: dict) -> None:
    """``{"layer<s>.<b>": indices | None}``: the input channels a block's branch reads."""
    for path, sel in new.items():
        s, b = indices(path)
        layout["stages"][s][b]["select"] = sel


def estimate(spec) -> tuple[int, int]:
    L = spec.layout
    layers, params, c = 1, conv_params(spec.in_channels, L["stem"], 7), L["stem"]
    exp = _expansion(L["block"])
    for s, (planes, blocks) in enumerate(zip(L["planes"], L["stages"])):
        cout = planes * exp
        for b, blk in enumerate(blocks):
            if c != cout or (s > 0 and b == 0):
                layers, params = layers + 1, params + conv_params(c, cout, 1)
            if blk["branch"]:
                n, w = sel_count(blk["select"], c), blk["w"]
                params += int(blk.get("scale", False))
                if exp == 1:
                    layers, params = layers + 2, params + conv_params(n, w[0], 3) + conv_params(w[0], cout, 3)
                else:
                    layers += 3
                    params += conv_params(n, w[0], 1) + conv_params(w[0], w[1], 3) + conv_params(w[1], cout, 1)
            c = cout
    return layers + 1, params + c * spec.num_classes + spec.num_classes


def units(spec):
    for s, st in enumerate(spec.layout["stages"]):
        for b, blk in enumerate(st):
            if blk["branch"]:
                yield Unit(f"layer{s + 1}.{b}", ("stages", s, b, "select"), s, b, "select")
                for j in range(len(blk["w"])):
                    yield Unit(f"layer{s + 1}.{b}.conv{j + 1}", ("stages", s, b, "w", j), s, b, f"conv{j + 1}")


def blocks(layout: dict) -> dict[str, dict]:
    """{block path: its layout entry (with its input ``select``)}."""
    return {f"layer{s + 1}.{b}": blk for s, st in enumerate(layout["stages"]) for b, blk in enumerate(st)}


def block_inputs(spec) -> dict[str, int]:
    """{block path: the channels of the residual stream it reads}."""
    return {f"layer{s + 1}.{b}": cin for s, b, cin, _, _ in _walk(spec.layout)}


def branch_scales(spec) -> ArchSpec:
    """The spec with a learnable scale on every residual branch (Sparse Structure Selection)."""
    layout = copy.deepcopy(spec.layout)
    for stage in layout["stages"]:
        for blk in stage:
            if blk["branch"]:
                blk["scale"] = True
    return ArchSpec.from_dict({**spec.to_dict(), "layout": layout, "name": f"{spec.name}-scaled"})


def scale(spec, sc, clamp: bool) -> dict:
    """The branches' widths (the residual streams stay)."""
    L = spec.to_dict()["layout"]
    for blk in (b for st in L["stages"] for b in st):
        blk["w"] = [sc(w) for w in blk["w"]]
    return L


def features(model: nn.Module) -> tuple[nn.Module, int]:
    """The stem and the stages (shared with the classifier) and their output channels."""
    L = model.arch_spec.layout
    stages = [getattr(model, f"layer{s + 1}") for s in range(model.num_stages)]
    return (nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool, *stages),
            L["planes"][-1] * _expansion(L["block"]))


FAMILY = Family("resnet-imagenet", ImageNetResNet, validate, widths, set_widths, estimate, units=units,
                set_selections=set_selections, scale=scale, consumer=next_in_block, blocks=blocks, block_inputs=block_inputs,
                branch_scales=branch_scales, features=features, conv_bn=True)
