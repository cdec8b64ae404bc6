"""Names -> specs: the base architectures and every named pruned architecture of the paper.

Names are exact and case-sensitive. The dataset picks the definition: CIFAR-style datasets
(cifar10, cifar100, fashion-mnist, synthetic) use the CIFAR models, ``imagenet`` the ImageNet ones.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..catalog import dataset_info
from ..errors import PrunelabError
from . import densenet, torchvision_family, vit
from .families import family, prunable_widths, with_capability, with_widths
from .size import max_layers
from .spec import ArchSpec

VGG_CIFAR = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512],
}
VGG_IMAGENET = {  # torchvision configurations "A", "B", "D" and "E"
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
RESNET_IMAGENET = {  # torchvision's: (block, blocks per stage)
    "resnet18": ("basic", [2, 2, 2, 2]), "resnet34": ("basic", [3, 4, 6, 3]),
    "resnet50": ("bottleneck", [3, 4, 6, 3]), "resnet101": ("bottleneck", [3, 4, 23, 3]),
    "resnet152": ("bottleneck", [3, 8, 36, 3]),
}
DEFAULT_HEAD = {11: "linear", 13: "linear", 16: "mlp", 19: "linear"}

# L1-norm presets (Li et al.): convs numbered from 1 (stem = 1, 1x1 shortcut convs not numbered), so
# each block's first conv has an even id; kept = int(C * (1 - p_stage)) unless the id is skipped.
# name: (base, skip ids, per-stage prune ratios, ids that end stages 1..n-1)
L1_PRESETS = {
    "resnet56-A": ("resnet56", [16, 20, 38, 54], [0.1, 0.1, 0.1], [18, 36]),
    "resnet56-B": ("resnet56", [16, 18, 20, 34, 38, 54], [0.6, 0.3, 0.1], [18, 36]),
    "resnet110-A": ("resnet110", [36], [0.5, 0.0, 0.0], [36, 72]),
    "resnet110-B": ("resnet110", [36, 38, 74], [0.5, 0.4, 0.3], [36, 72]),
    "resnet34-A": ("resnet34", [2, 8, 14, 16, 26, 28, 30, 32], [0.3, 0.3, 0.3, 0.0], [6, 14, 26]),
    "resnet34-B": ("resnet34", [2, 8, 14, 16, 26, 28, 30, 32], [0.5, 0.6, 0.4, 0.0], [6, 14, 26]),
}

VGG16_A = [32, 64, "M", 128, 128, "M", 256, 256, 256, "M", 256, 256, 256, "M", 256, 256, 256]
THINET_VGG = {
    "vgg16-thinet-conv": ([32, 32, "M", 64, 64, "M", 128, 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M"], "fc"),
    "vgg16-thinet-gap": ([32, 32, "M", 64, 64, "M", 128, 128, 128, "M", 256, 256, 256, "M", 512, 512, 512], "gap"),
    "vgg16-thinet-tiny": ([16, 16, "M", 32, 32, "M", 64, 64, 64, "M", 128, 128, 128, "M", 128, 128, 256], "gap"),
}
VGG16_5X = [24, 22, "M", 41, 51, "M", 108, 89, 111, "M", 184, 276, 228, "M", 512, 512, 512, "M"]
THINET_RESNET50 = {
    "resnet50-thinet-30": [19, 38, 76, 153],
    "resnet50-thinet-50": [32, 64, 128, 256],
    "resnet50-thinet-70": [44, 89, 179, 358],
}
# Regression pruning ResNet-50-2x: per block (input channels selected, conv1 width, conv2 width).
RESNET50_2X = [
    35, 64, 55, 101, 51, 39, 97, 50, 37, 144, 128, 106, 205, 105, 72, 198, 105, 72, 288, 128, 110, 278,
    256, 225, 418, 209, 147, 407, 204, 158, 423, 212, 155, 412, 211, 148, 595, 256, 213, 606, 512, 433,
    1222, 512, 437, 1147, 512, 440,
]
# Sparse Structure Selection targets from ResNet-50: per stage (residual branches kept, whether the
# stage's first block keeps its branch). The other kept branches are the earliest later blocks.
SSS = {
    "resnet41-sss": [(0, False), (4, True), (6, True), (3, True)],
    "resnet32-sss": [(1, False), (4, True), (4, True), (1, True)],
    "resnet26-sss": [(0, False), (2, False), (5, False), (1, True)],
}

CIFAR_PRESETS = ["vgg16-A", "resnet56-A", "resnet56-B", "resnet110-A", "resnet110-B"]
IMAGENET_PRESETS = [
    "resnet34-A", "resnet34-B", *THINET_VGG, *THINET_RESNET50, "vgg16-5x", "resnet50-2x", *SSS,
]
CIFAR_BASES = [
    "vgg11", "vgg13", "vgg16", "vgg19", "vgg11-bias", "vgg13-bias", "vgg16-bias", "vgg19-bias", "resnet20",
    "resnet32", "resnet50", "resnet56", "resnet110", "preresnet110", "preresnet164", "densenet40", "densenet-bc100",
    "vit6",
]
# torchvision's ImageNet VGGs and ResNets under their names (vgg16-bn = vgg16_bn), except that
# vgg11-bn is Network Slimming's (BN in the FC head too, no dropout): torchvision's vgg11_bn is
# vgg11-bn-torchvision
IMAGENET_BASES = [
    "vgg11", "vgg13", "vgg16", "vgg19", "vgg11-bn", "vgg11-bn-torchvision", "vgg13-bn", "vgg16-bn", "vgg19-bn",
    "vgg16-gap",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
]


def known_names(dataset: str) -> list[str]:
    if dataset_info(dataset).style == "imagenet":
        return IMAGENET_BASES + IMAGENET_PRESETS
    return CIFAR_BASES + CIFAR_PRESETS


def _depth(name: str, prefix: str, div: int, off: int) -> int | None:
    m = re.fullmatch(re.escape(prefix) + r"(\d+)", name)
    if m and int(m.group(1)) > off and (int(m.group(1)) - off) % div == 0:
        depth = int(m.group(1))
        limit = max_layers()
        if depth > limit:  # refuse before building a layout of that many blocks
            raise PrunelabError(f"{name} has about {depth:,} layers, above the limit of {limit:,} "
                                "(raise it with PRUNELAB_MAX_LAYERS=N if you mean it)")
        return (depth - off) // div
    return None


def _cifar_base(name: str, size: int = 32) -> tuple[str, dict] | None:
    if name in ("vgg11", "vgg13", "vgg16", "vgg19"):
        d = int(name[3:])
        return "vgg", {"cfg": list(VGG_CIFAR[d]), "head": DEFAULT_HEAD[d], "hidden": 512}
    if name in ("vgg11-bias", "vgg13-bias", "vgg16-bias", "vgg19-bias"):
        # the weight-level and lottery-ticket reference's CIFAR VGG (cifar/weight-level/models/cifar/vgg.py):
        # conv (with bias) + BN + ReLU, one linear layer; vgg19-bias on CIFAR-10 has 20,040,522 params
        return "vgg", {"cfg": list(VGG_CIFAR[int(name[3:5])]), "head": "linear", "hidden": 512, "bias": True}
    if (n := _depth(name, "resnet", 6, 2)) is not None:
        return "resnet", {"stem": 16, "stages": [16, 32, 64], "inner": [[w] * n for w in (16, 32, 64)]}
    if (n := _depth(name, "preresnet", 9, 2)) is not None:
        blocks = [[[None, p, p] for _ in range(n)] for p in (16, 32, 64)]
        return "preresnet", {"stem": 16, "planes": [16, 32, 64], "blocks": blocks, "final_select": None}
    if (n := _depth(name, "vit", 1, 0)) is not None:
        return "vit", vit.layout(n, size)
    if (n := _depth(name, "densenet-bc", 6, 4)) is not None:
        return "densenet", densenet.layout(n, 12, bottleneck=True, compression=0.5)
    if (n := _depth(name, "densenet", 3, 4)) is not None:
        return "densenet", densenet.layout(n, 12, bottleneck=False, compression=1.0)
    return None


def _vgg_imagenet(cfg, head="fc", bn=False, fc_bn=False, dropout=0.5) -> tuple[str, dict]:
    return "vgg-imagenet", {"cfg": list(cfg), "head": head, "bn": bn, "fc": [4096, 4096], "fc_bn": fc_bn, "dropout": dropout}


def _resnet_imagenet(kind: str, inner_per_stage: list[int] | None = None,
                     counts: list[int] | None = None) -> tuple[str, dict]:
    planes = [64, 128, 256, 512]
    counts = counts or [3, 4, 6, 3]
    inner = inner_per_stage or planes
    nw = 1 if kind == "basic" else 2
    stages = [[{"w": [inner[s]] * nw, "select": None, "branch": True} for _ in range(counts[s])] for s in range(4)]
    return "resnet-imagenet", {"block": kind, "stem": 64, "planes": planes, "stages": stages}


def _imagenet_base(name: str) -> tuple[str, dict] | None:
    if name == "vgg11-bn":  # Network Slimming's: BN after every conv and every hidden FC layer, no dropout
        return _vgg_imagenet(VGG_IMAGENET[11], bn=True, fc_bn=True, dropout=0.0)
    if name == "vgg16-gap":  # ThiNet's VGG-GAP/-Tiny base: no last max-pool, global average pool + one FC
        return _vgg_imagenet(VGG_IMAGENET[16][:-1], head="gap")
    if name == "vgg11-bn-torchvision":
        return _vgg_imagenet(VGG_IMAGENET[11], bn=True)
    m = re.fullmatch(r"vgg(11|13|16|19)(-bn)?", name)
    if m:  # torchvision's vgg<N> and vgg<N>_bn (BN after every conv), the usual FC head with dropout
        return _vgg_imagenet(VGG_IMAGENET[int(m.group(1))], bn=bool(m.group(2)))
    if name in RESNET_IMAGENET:
        kind, counts = RESNET_IMAGENET[name]
        return _resnet_imagenet(kind, counts=counts)
    return None


def l1_preset_widths(base: ArchSpec, skip: list[int], ratios: list[float], stage_ends: list[int]) -> dict[str, int]:
    """Kept filters per block-first conv by Li et al.'s rule (see L1_PRESETS)."""
    targets = {}
    first_convs = [n for n in prunable_widths(base) if n.endswith(".conv1")]
    for k, layer in enumerate(first_convs):
        conv_id = 2 + 2 * k
        stage = sum(conv_id > end for end in stage_ends)
        assert stage == int(layer.split(".")[0][5:]) - 1, "stage numbering disagrees with the model"
        if conv_id in skip:
            continue
        width = prunable_widths(base)[layer]
        targets[layer] = int(width * (1 - ratios[stage]))
    return targets


def _preset(name: str, dataset: str) -> ArchSpec | None:
    style = dataset_info(dataset).style
    if style == "cifar" and name == "vgg16-A":
        base = resolve("vgg16", dataset)
        return ArchSpec.from_dict({**base.to_dict(), "name": name, "layout": {**base.layout, "cfg": list(VGG16_A)}})
    if name in L1_PRESETS and (style == "imagenet") == name.startswith("resnet34"):
        base_name, skip, ratios, ends = L1_PRESETS[name]
        base = resolve(base_name, dataset)
        return with_widths(base, l1_preset_widths(base, skip, ratios, ends), name=name)
    if style != "imagenet":
        return None
    if name in THINET_VGG:
        cfg, head = THINET_VGG[name]
        return _spec(name, dataset, *_vgg_imagenet(cfg, head=head))
    if name == "vgg16-5x":
        return _spec(name, dataset, *_vgg_imagenet(VGG16_5X))
    if name in THINET_RESNET50:
        return _spec(name, dataset, *_resnet_imagenet("bottleneck", THINET_RESNET50[name]))
    if name == "resnet50-2x":
        family, layout = _resnet_imagenet("bottleneck")
        blocks = [b for st in layout["stages"] for b in st]
        for i, blk in enumerate(blocks):
            sel, w1, w2 = RESNET50_2X[3 * i: 3 * i + 3]
            blk["select"], blk["w"] = sel, [w1, w2]
        return _spec(name, dataset, family, layout)
    if name in SSS:
        family, layout = _resnet_imagenet("bottleneck")
        for stage, (kept, first) in zip(layout["stages"], SSS[name]):
            stage[0]["branch"] = first
            rest = kept - int(first)
            for b, blk in enumerate(stage[1:]):
                blk["branch"] = b < rest
        return _spec(name, dataset, family, layout)
    return None


def _spec(name: str, dataset: str, family: str, layout: dict) -> ArchSpec:
    info = dataset_info(dataset)
    return ArchSpec.from_dict({
        "family": family, "name": name, "layout": layout,
        "in_channels": info.channels, "input_size": info.size, "num_classes": info.classes,
    })


def resolve(name: str, dataset: str, head: str | None = None, width: float = 1.0) -> ArchSpec:
    """The spec of a base architecture or preset for a dataset.

    ``head`` picks the CIFAR VGG head (``mlp`` or ``linear``); ``width`` scales every width of a
    CIFAR-style base architecture (e.g. 0.25 for a narrow demo model).
    """
    info = dataset_info(dataset)
    if not isinstance(name, str):
        raise PrunelabError(f"architecture name must be a string, not {name!r}")
    found = _cifar_base(name, info.size) if info.style == "cifar" else _imagenet_base(name)
    if name.startswith(torchvision_family.PREFIX):  # any torchvision classification model, for any dataset
        layout = torchvision_family.layout(name[len(torchvision_family.PREFIX):], info.channels, info.size,
                                           info.classes)
        spec = _spec(name, dataset, "torchvision", layout)
    elif found is not None:
        spec = _spec(name, dataset, *found)
    else:
        spec = _preset(name, dataset)
        if spec is None:
            raise PrunelabError(
                f"unknown architecture '{name}' for dataset '{dataset}' (known: {', '.join(known_names(dataset))}; "
                f"or {torchvision_family.PREFIX}NAME, any torchvision classification model)"
            )
    if head is not None:
        if spec.family != "vgg":
            raise PrunelabError(f"--head applies to CIFAR VGG models only, not '{name}'")
        if head not in ("mlp", "linear"):
            raise PrunelabError(f"unknown head '{head}' (use mlp or linear)")
        spec = spec.replace(layout={**spec.layout, "head": head})
    if width != 1.0:
        if info.style == "imagenet" and spec.family != "torchvision":  # (prunelab.search scales them too)
            raise PrunelabError(f"width multipliers apply to CIFAR-style models, not family '{spec.family}'")
        spec = scale_width(spec, width)
    return spec


def spec_file(path: str | Path, dataset: str | None = None) -> ArchSpec:
    """An architecture from a spec .json file (``prunelab arch NAME --json`` writes one); with a
    dataset, its input channels, size and classes must be the dataset's."""
    path = Path(path)
    if not path.is_file():
        raise PrunelabError(f"spec file not found: {path}")
    try:
        spec = ArchSpec.from_json(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, OSError) as e:
        raise PrunelabError(f"cannot read spec file {path}: {e}")
    except PrunelabError as e:
        raise PrunelabError(f"spec file {path}: {e}")
    if dataset is not None:
        info = dataset_info(dataset)
        have = (spec.in_channels, spec.input_size, spec.num_classes)
        if have != (info.channels, info.size, info.classes):
            raise PrunelabError(f"spec file {path} is for {have[0]}-channel {have[1]}px inputs and {have[2]} classes; "
                                f"dataset '{dataset}' has {info.channels}, {info.size}px and {info.classes}")
    return spec


def _scale(w: int, m: float, clamp: bool = False) -> int:
    k = int(round(w * m))
    if k < 1 and clamp:
        return 1
    if k < 1:
        raise PrunelabError(f"width multiplier {m:g} leaves a layer of {w} channels with none (the smallest "
                            f"multiplier for this model is about {0.5 / w:.3g})")
    return k


def scale_width(spec: ArchSpec, m: float, name: str | None = None, clamp: bool = False) -> ArchSpec:
    """Every width of a model times ``m``, rounded (selections must be unpruned): CIFAR-style models
    (DenseNet: the growth rate and stem), ImageNet VGGs (convs and hidden FC layers) and ImageNet
    ResNets (their branch widths; the residual streams stay): the family's ``scale``. ``clamp``: a
    width that would round to 0 keeps 1 channel (else an error)."""
    if not (isinstance(m, (int, float)) and 0 < m <= 16):
        raise PrunelabError(f"width multiplier must be in (0, 16], got {m!r}")
    def sc(w):
        return _scale(w, m, clamp)

    fam = family(spec)
    if fam.scale is None:
        raise PrunelabError(f"width multipliers apply to {', '.join(with_capability('scale'))} models, "
                            f"not family '{spec.family}'")
    L = fam.scale(spec, sc, clamp)
    return ArchSpec.from_dict({**spec.to_dict(), "layout": L, "name": name or f"{spec.name}-w{m:g}"})
