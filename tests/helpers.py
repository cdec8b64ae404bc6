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


def judge_synthetic(tmp_path, capsys, arch: str, width: float = 1.0, epochs: int = 1) -> tuple[dict, str]:
    """``prunelab judge`` of l1-norm at 0.5 on ``arch`` at ``width`` (64 synthetic 32 px images, seeds 0-1, one
    fine-tuning epoch), checked for what every judgement has: all six arms over both seeds, a uniform
    arm within 2% of the pruned params, Scratch-B training longer than Scratch-E, a comparison with each
    baseline. Returns its JSON row and the experiment file's path."""
    import json

    from prunelab.cli import main

    cfg = tmp_path / "judge.yaml"
    cfg.write_text(f"""
name: judge-synthetic
dataset: synthetic
data: {{synthetic_size: [64, 32], augment: false}}
models:
  - {{arch: "{arch}", width: {width}, targets: [0.5]}}
prune: {{method: l1-norm}}
seeds: [0, 1]
recipe: {{epochs: {epochs}, batch_size: 32, lr: 0.01, momentum: 0.9, weight_decay: 0.0001}}
finetune: {{epochs: 1, lr: 0.001, schedule: constant}}
""")
    assert main(["judge", str(cfg), "--store", str(tmp_path / "store"), "--quiet", "--device", "cpu", "--json",
                 "--latency-batch", "2"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    arms = row["arms"]
    assert set(arms) == {"unpruned", "finetune", "scratch-e", "scratch-b", "uniform", "random"}
    assert all(a["n"] == 2 for a in arms.values())
    assert abs(arms["uniform"]["params"] / arms["finetune"]["params"] - 1) <= 0.02
    assert arms["scratch-b"]["train_macs"] > arms["scratch-e"]["train_macs"]  # Scratch-B: more epochs
    assert {c["baseline"] for c in row["comparisons"]} == {"scratch-e", "scratch-b", "uniform", "random"}
    return row, cfg

