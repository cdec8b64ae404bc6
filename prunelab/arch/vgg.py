"""VGG: CIFAR style (conv-BN-ReLU, global pool, `mlp` or `linear` head; convs without bias, or with
one where the layout says ``bias: true``, as the weight-level reference's) and ImageNet style."""
from __future__ import annotations

from torch import nn

from ..errors import PrunelabError
from .family import Family
from .layers import conv_bn_relu
from .size import conv_params
from .units import Unit


def _check_cfg(cfg, where: str) -> None:
    if not isinstance(cfg, list) or not cfg:
        raise PrunelabError(f"{where}: 'cfg' must be a non-empty list of widths and 'M'")
    for v in cfg:
        if v != "M" and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            raise PrunelabError(f"{where}: cfg entry {v!r} must be a positive width or 'M'")
    if all(v == "M" for v in cfg):
        raise PrunelabError(f"{where}: cfg has no conv layer")


def _features(cfg, cin: int, bn: bool, bias: bool) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += conv_bn_relu(cin, v, bias=bias, bn=bn)
            cin = v
    return nn.Sequential(*layers), cin


def _conv_names(cfg, bn: bool) -> list[str]:
    names, i = [], 0
    for v in cfg:
        if v == "M":
            i += 1
        else:
            names.append(f"features.{i}")
            i += 3 if bn else 2
    return names


class CifarVGG(nn.Module):
    def __init__(self, spec):
        super().__init__()
        L = spec.layout
        self.features, c = _features(L["cfg"], spec.in_channels, bn=True, bias=L.get("bias", False))
        self.pool = nn.AdaptiveAvgPool2d(1)
        if L["head"] == "mlp":
            h = L["hidden"]
            self.classifier = nn.Sequential(
                nn.Linear(c, h), nn.BatchNorm1d(h), nn.ReLU(inplace=True), nn.Linear(h, spec.num_classes)
            )
        else:
            self.classifier = nn.Linear(c, spec.num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


class ImageNetVGG(nn.Module):
    def __init__(self, spec):
        super().__init__()
        L = spec.layout
        self.features, c = _features(L["cfg"], spec.in_channels, bn=L["bn"], bias=True)
        if L["head"] == "gap":
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(c, spec.num_classes)
        else:
            self.pool = nn.AdaptiveAvgPool2d(7)
            layers: list[nn.Module] = []
            cin = c * 49
            for w in L["fc"]:
                layers.append(nn.Linear(cin, w))
                if L["fc_bn"]:
                    layers.append(nn.BatchNorm1d(w))
                layers.append(nn.ReLU(inplace=True))
                if L["dropout"] > 0:
                    layers.append(nn.Dropout(L["dropout"]))
                cin = w
            layers.append(nn.Linear(cin, spec.num_classes))
            self.classifier = nn.Sequential(*layers)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


def validate_cifar(spec) -> None:
    L = spec.layout
    _check_cfg(L.get("cfg"), spec.name)
    if L.get("head") not in ("mlp", "linear"):
        raise PrunelabError(f"{spec.name}: head must be 'mlp' or 'linear', not {L.get('head')!r}")
    if L["head"] == "mlp" and (not isinstance(L.get("hidden"), int) or L["hidden"] < 1):
        raise PrunelabError(f"{spec.name}: 'hidden' must be a positive integer for the mlp head")
    if not isinstance(L.get("bias", False), bool):
        raise PrunelabError(f"{spec.name}: layout key 'bias' must be true or false")
    extra = set(L) - {"cfg", "head", "hidden", "bias"}
    if extra:
        raise PrunelabError(f"{spec.name}: unknown layout key '{sorted(extra)[0]}'")


def validate_imagenet(spec) -> None:
    L = spec.layout
    _check_cfg(L.get("cfg"), spec.name)
    if L.get("head") not in ("fc", "gap"):
        raise PrunelabError(f"{spec.name}: head must be 'fc' or 'gap', not {L.get('head')!r}")
    for key, typ in (("bn", bool), ("fc_bn", bool), ("dropout", (int, float)), ("fc", list)):
        if not isinstance(L.get(key), typ):
            raise PrunelabError(f"{spec.name}: layout key '{key}' missing or of the wrong type")
    extra = set(L) - {"cfg", "head", "bn", "fc", "fc_bn", "dropout"}
    if extra:
        raise PrunelabError(f"{spec.name}: unknown layout key '{sorted(extra)[0]}'")


def widths(spec) -> dict[str, int]:
    bn = spec.layout.get("bn", True)
    convs = [v for v in spec.layout["cfg"] if v != "M"]
    return dict(zip(_conv_names(spec.layout["cfg"], bn), convs))


def set_widths(layout: dict, new: dict[str, int]) -> None:
    names = _conv_names(layout["cfg"], layout.get("bn", True))
    pos = [i for i, v in enumerate(layout["cfg"]) if v != "M"]
    for name, k in new.items():
        layout["cfg"][pos[names.index(name)]] = k


def linear_widths(spec) -> dict[str, int]:
    """The hidden fully connected layers of the ImageNet VGG ``fc`` head (prunable by BN-based methods)."""
    L = spec.layout
    if spec.family != "vgg-imagenet" or L["head"] != "fc":
        return {}
    out, i = {}, 0
    for w in L["fc"]:
        out[f"classifier.{i}"] = w
        i += 2 + bool(L["fc_bn"]) + (L["dropout"] > 0)
    return out


def set_linear_widths(layout: dict, new: dict[str, int], spec) -> None:
    names = list(linear_widths(spec))
    for name, k in new.items():
        layout["fc"][names.index(name)] = k


def estimate(spec) -> tuple[int, int]:
    L, imagenet = spec.layout, spec.family == "vgg-imagenet"
    layers, params, c = 0, 0, spec.in_channels
    bn = L.get("bn", True)
    for v in L["cfg"]:
        if v != "M":
            layers, params, c = layers + 1, params + conv_params(c, v, 3, bn, bias=imagenet), v
    if not imagenet:
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


def units(spec):
    """One stage per group of convs between max-pools."""
    cfg = spec.layout["cfg"]
    pos = [i for i, v in enumerate(cfg) if v != "M"]
    seen: dict[int, int] = {}
    for name, i in zip(widths(spec), pos):
        s = cfg[:i].count("M")
        seen[s] = seen.get(s, -1) + 1
        yield Unit(name, ("cfg", i), s, seen[s], "conv")


def bn_groups(model: nn.Module) -> list[tuple[nn.Module, str, str]]:
    """Network Slimming's BNs: the one after each conv, and after each hidden linear layer."""
    groups = []
    for i, m in enumerate(model.features):
        if isinstance(m, nn.Conv2d) and isinstance(model.features[i + 1], nn.BatchNorm2d):
            groups.append((model.features[i + 1], "out", f"features.{i}"))
    for name in linear_widths(model.arch_spec):
        i = int(name.split(".")[1])
        if isinstance(model.classifier[i + 1], nn.BatchNorm1d):
            groups.append((model.classifier[i + 1], "out", name))
    return groups


def consumer(model: nn.Module, layer: str) -> str:
    """The next conv, or the head's first linear layer after the last conv."""
    convs = list(widths(model.arch_spec))
    i = convs.index(layer)
    if i + 1 < len(convs):
        return convs[i + 1]
    return next(n for n, m in model.named_modules() if n.startswith("classifier") and isinstance(m, nn.Linear))


def scale(spec, sc, clamp: bool) -> dict:
    L = spec.to_dict()["layout"]
    L["cfg"] = [v if v == "M" else sc(v) for v in L["cfg"]]
    if L["head"] == "mlp":
        L["hidden"] = sc(L["hidden"])
    if "fc" in L:
        L["fc"] = [sc(w) for w in L["fc"]]
    return L


def features(model: nn.Module) -> tuple[nn.Module, int]:
    """The conv stack (shared with the classifier) and its output channels."""
    return model.features, [v for v in model.arch_spec.layout["cfg"] if v != "M"][-1]


CIFAR = Family("vgg", CifarVGG, validate_cifar, widths, set_widths, estimate, units=units,
               scale=scale, bn_groups=bn_groups, consumer=consumer, features=features, conv_bn=True)
IMAGENET = Family("vgg-imagenet", ImageNetVGG, validate_imagenet, widths, set_widths, estimate, units=units,
                  linear_widths=linear_widths, set_linear_widths=set_linear_widths, scale=scale,
                  bn_groups=bn_groups, consumer=consumer, features=features)
