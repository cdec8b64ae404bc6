"""Shared test helpers."""
import torch
from torch import nn


def randomise_bn(model, seed=0, bias_scale=1.0):
    """Random BN affine parameters and running statistics (so equivalence tests see real BNs)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            n = m.num_features
            m.weight.data = torch.rand(n, generator=g) + 0.5
            m.bias.data = torch.randn(n, generator=g) * bias_scale
            m.running_mean = torch.randn(n, generator=g) * bias_scale
            m.running_var = torch.rand(n, generator=g) + 0.5
    return model


def shapes_only_state_dict(torchvision_name, fill=0.0):
    """The keys and shapes of a torchvision model's state_dict, every tensor a stride-0 view of one
    value: a few KB on disk (for tests of keys and shapes, not of values)."""
    import torchvision

    with torch.device("meta"):
        sd = getattr(torchvision.models, torchvision_name)(weights=None).state_dict()
    return {k: torch.full((), fill if v.is_floating_point() else 0, dtype=v.dtype).expand(v.shape)
            for k, v in sd.items()}


def fake_guided_patterns(folder):
    """The pattern files the shipped guided experiment files read (made by `prunelab pattern` from
    slimming's prune steps in a real run), here from a half-width net, under ``folder``."""
    from pathlib import Path

    from prunelab.arch import prunable_widths, resolve, with_widths
    from prunelab.search import pattern, save_pattern

    for file, arch, width, dataset in (
            ("patterns/vgg19-cifar10-slim0.7.json", "vgg19", 1.0, "cifar10"),
            ("runs-e2e/patterns/vgg11-fashion-slim0.7.json", "vgg11", 0.25, "fashion-mnist")):
        base = resolve(arch, dataset, width=width)
        pruned = with_widths(base, {k: max(1, v // 2) for k, v in prunable_widths(base).items()}, name="half")
        path = Path(folder) / file
        path.parent.mkdir(parents=True, exist_ok=True)
        save_pattern(pattern(pruned, base, "layer"), path)
