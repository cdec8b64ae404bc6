"""CIFAR ResNet (basic blocks, parameter-free option-A shortcut). Prunable: each block's inner width.

The shortcut of a downsampling block has no parameters. Layout key ``shortcut`` picks its form:
``avg`` (the default; the paper's reference code): a 2x2 average pool of stride 2, then the extra
channels appended as zeros after the input's; ``subsample`` (the other common option A): stride-2
subsampling, the zero channels padded on both sides.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from ..errors import PrunelabError
from .family import Family
from .size import conv_params
from .units import Unit, indices, next_in_block


SHORTCUTS = ("avg", "subsample")


class ShortcutA(nn.Module):
    """Option A: downsample without parameters, zero channels for the extra width."""

    def __init__(self, cin: int, cout: int, stride: int, form: str = "avg"):
        super().__init__()
        self.stride, self.form = stride, form
        self.lo = 0 if form == "avg" else (cout - cin) // 2
        self.hi = cout - cin - self.lo

    def forward(self, x):
        if self.stride > 1:
            if self.form == "avg":  # ceil_mode: odd sizes give the conv path's ceil(h / 2) too
                x = F.avg_pool2d(x, 2, self.stride, ceil_mode=True)
            else:
                x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.lo, self.hi))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, inner: int, cout: int, stride: int, shortcut: str = "avg"):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, inner, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(inner)
        self.conv2 = nn.Conv2d(inner, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = ShortcutA(cin, cout, stride, shortcut) if (stride != 1 or cin != cout) else nn.Identity()

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, spec):
        super().__init__()
        L = spec.layout
        c = L["stem"]
        self.conv1 = nn.Conv2d(spec.in_channels, c, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)
        for s, (width, inner) in enumerate(zip(L["stages"], L["inner"])):
            blocks = []
            for b, w in enumerate(inner):
                blocks.append(BasicBlock(c, w, width, 2 if (s > 0 and b == 0) else 1, L.get("shortcut", "avg")))
                c = width
            setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
        self.num_stages = len(L["stages"])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, spec.num_classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        for s in range(self.num_stages):
            x = getattr(self, f"layer{s + 1}")(x)
        return self.fc(self.pool(x).flatten(1))


def validate(spec) -> None:
    L = spec.layout
    if not {"stem", "stages", "inner"} <= set(L) <= {"stem", "stages", "inner", "shortcut"}:
        raise PrunelabError(f"{spec.name}: resnet layout needs exactly 'stem', 'stages', 'inner' (and optionally "
                            "'shortcut')")
    if L.get("shortcut", "avg") not in SHORTCUTS:
        raise PrunelabError(f"{spec.name}: shortcut must be one of {', '.join(SHORTCUTS)}, not {L['shortcut']!r}")
    if not isinstance(L["stages"], list) or not isinstance(L["inner"], list) or len(L["stages"]) != len(L["inner"]):
        raise PrunelabError(f"{spec.name}: 'inner' must list one list of block widths per stage")
    for v in [L["stem"], *L["stages"], *[w for st in L["inner"] for w in st]]:
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise PrunelabError(f"{spec.name}: width {v!r} must be a positive integer")
    for s, width in enumerate(L["stages"]):
        cin = L["stem"] if s == 0 else L["stages"][s - 1]
        if width < cin:
            raise PrunelabError(f"{spec.name}: option-A shortcut cannot shrink {cin} to {width} channels")


def widths(spec) -> dict[str, int]:
    return {
        f"layer{s + 1}.{b}.conv1": w for s, st in enumerate(spec.layout["inner"]) for b, w in enumerate(st)
    }


def set_widths(layout: dict, new: dict[str, int]) -> None:
    for name, k in new.items():
        s, b = indices(name)[:2]
        layout["inner"][s][b] = k


def estimate(spec) -> tuple[int, int]:
    L = spec.layout
    layers, params, c = 1, conv_params(spec.in_channels, L["stem"], 3), L["stem"]
    for width, inner in zip(L["stages"], L["inner"]):
        for w in inner:
            layers, params, c = layers + 2, params + conv_params(c, w, 3) + conv_params(w, width, 3), width
    return layers + 1, params + c * spec.num_classes + spec.num_classes


def units(spec):
    for s, st in enumerate(spec.layout["inner"]):
        for b in range(len(st)):
            yield Unit(f"layer{s + 1}.{b}.conv1", ("inner", s, b), s, b, "conv1")


def scale(spec, sc, clamp: bool) -> dict:
    L = spec.to_dict()["layout"]
    L["stem"] = sc(L["stem"])
    L["stages"] = [sc(w) for w in L["stages"]]
    L["inner"] = [[sc(w) for w in st] for st in L["inner"]]
    return L


def features(model: nn.Module) -> tuple[nn.Module, int]:
    """The stem and the stages (shared with the classifier) and their output channels."""
    stages = [getattr(model, f"layer{s + 1}") for s in range(model.num_stages)]
    return nn.Sequential(model.conv1, model.bn1, model.relu, *stages), model.arch_spec.layout["stages"][-1]


FAMILY = Family("resnet", CifarResNet, validate, widths, set_widths, estimate, units=units, scale=scale,
                consumer=next_in_block, features=features, conv_bn=True)
