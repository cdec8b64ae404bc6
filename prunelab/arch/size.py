"""An architecture's size from its spec alone, before anything is built: the number of conv and
linear layers and an estimate of the parameters (exact up to BN buffers and small terms). Specs
beyond the limits are refused before building, so an absurd name or a typo in a spec file is a
one-line error instead of minutes of building and a memory error. The limits can be raised with
$PRUNELAB_MAX_LAYERS and $PRUNELAB_MAX_PARAMS."""
from __future__ import annotations

import os

from ..errors import PrunelabError
from . import torchvision_family
from .selection import sel_count

MAX_LAYERS = 5000  # ResNet-1202 has 1,203 conv and linear layers
MAX_PARAMS = 2_000_000_000  # VGG-16 (ImageNet) has 138 M


def _conv(cin, cout, k, bn=True, bias=False):
    return cin * cout * k * k + (cout if bias else 0) + (2 * cout if bn else 0)


def _vgg(L, spec):
    layers, params, c = 0, 0, spec.in_channels
    bn = L.get("bn", True)
    for v in L["cfg"]:
        if v != "M":
            layers, params, c = layers + 1, params + _conv(c, v, 3, bn, bias=spec.family == "vgg-imagenet"), v
    if spec.family == "vgg":
        head = [c, L["hidden"], spec.num_classes] if L["head"] == "mlp" else [c, spec.num_classes]
        head_bn = L["head"] == "mlp"
    else:
        head = [c, spec.num_classes] if L["head"] == "gap" else [c * 49, *L["fc"], spec.num_classes]
        head_bn = L["head"] == "fc" and L["fc_bn"]
    for a, b in zip(head, head[1:]):
        layers, params = layers + 1, params + a * b + b
    if head_bn:  # BatchNorm1d after every hidden linear layer
        params += sum(2 * w for w in head[1:-1])
    return layers, params


def _resnet(L, spec):
    layers, params, c = 1, _conv(spec.in_channels, L["stem"], 3), L["stem"]
    for width, inner in zip(L["stages"], L["inner"]):
        for w in inner:
            layers, params, c = layers + 2, params + _conv(c, w, 3) + _conv(w, width, 3), width
    return layers + 1, params + c * spec.num_classes + spec.num_classes


def _preresnet(L, spec):
    layers, params, c = 1, _conv(spec.in_channels, L["stem"], 3, bn=False), L["stem"]
    for planes, blocks in zip(L["planes"], L["blocks"]):
        for b, (sel, w1, w2) in enumerate(blocks):
            cout = 4 * planes
            params += 2 * c + _conv(sel_count(sel, c), w1, 1) + _conv(w1, w2, 3) + _conv(w2, cout, 1, bn=False)
            layers += 3
            if c != cout or (b == 0 and planes != L["planes"][0]):
                layers, params = layers + 1, params + c * cout
            c = cout
    return layers + 1, params + 2 * c + sel_count(L["final_select"], c) * spec.num_classes + spec.num_classes


def _densenet(L, spec):
    layers, params, c = 1, _conv(spec.in_channels, L["stem"], 3, bn=False), L["stem"]
    for b, block in enumerate(L["layers"]):
        for sel, mid in block:
            n = sel_count(sel, c)
            if mid is None:
                layers, params = layers + 1, params + 2 * c + _conv(n, L["growth"], 3, bn=False)
            else:
                layers, params = layers + 2, params + 2 * c + _conv(n, mid, 1) + _conv(mid, L["growth"], 3, bn=False)
            c += L["growth"]
        if b < len(L["layers"]) - 1:
            out = L["trans_out"][b]
            layers, params, c = layers + 1, params + 2 * c + sel_count(L["trans_select"][b], c) * out, out
    return layers + 1, params + 2 * c + sel_count(L["final_select"], c) * spec.num_classes + spec.num_classes


def _resnet_imagenet(L, spec):
    layers, params, c = 1, _conv(spec.in_channels, L["stem"], 7), L["stem"]
    exp = 1 if L["block"] == "basic" else 4
    for s, (planes, blocks) in enumerate(zip(L["planes"], L["stages"])):
        cout = planes * exp
        for b, blk in enumerate(blocks):
            if c != cout or (s > 0 and b == 0):
                layers, params = layers + 1, params + _conv(c, cout, 1)
            if blk["branch"]:
                n, w = sel_count(blk["select"], c), blk["w"]
                params += int(blk.get("scale", False))
                if exp == 1:
                    layers, params = layers + 2, params + _conv(n, w[0], 3) + _conv(w[0], cout, 3)
                else:
                    layers += 3
                    params += _conv(n, w[0], 1) + _conv(w[0], w[1], 3) + _conv(w[1], cout, 1)
            c = cout
    return layers + 1, params + c * spec.num_classes + spec.num_classes


ESTIMATES = {"vgg": _vgg, "vgg-imagenet": _vgg, "resnet": _resnet, "preresnet": _preresnet, "densenet": _densenet,
             "resnet-imagenet": _resnet_imagenet, "torchvision": lambda L, spec: torchvision_family.estimate(spec)}


def estimate(spec) -> tuple[int, int]:
    """(conv and linear layers, parameters) of a validated spec, without building it."""
    return ESTIMATES[spec.family](spec.layout, spec)


def _limit(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        v = int(float(raw))
    except (ValueError, OverflowError):
        raise PrunelabError(f"${name} must be a finite number, got {raw!r}")
    if v < 1:
        raise PrunelabError(f"${name} must be positive, got {raw!r}")
    return v


def max_layers() -> int:
    return _limit("PRUNELAB_MAX_LAYERS", MAX_LAYERS)


def check_size(spec) -> None:
    """Refuse specs beyond the layer and parameter limits, before building."""
    if spec.family not in ESTIMATES:
        return
    layers, params = estimate(spec)
    limit, max_params = max_layers(), _limit("PRUNELAB_MAX_PARAMS", MAX_PARAMS)
    if layers > limit:
        raise PrunelabError(f"{spec.name} has {layers:,} conv/linear layers, above the limit of {limit:,} "
                            "(raise it with PRUNELAB_MAX_LAYERS=N if you mean it)")
    if params > max_params:
        raise PrunelabError(f"{spec.name} has about {params:,} parameters, above the limit of {max_params:,} "
                            "(raise it with PRUNELAB_MAX_PARAMS=N if you mean it)")
