"""Any torchvision classification model as an architecture: family ``torchvision`` (``torchvision:NAME``)."""
import json

import pytest
import torch
import torch_pruning as tp
from torch import nn

from helpers import randomise_bn
from prunelab.arch import ArchSpec, build, prunable_widths, resolve, with_widths
from prunelab.cli import main
from prunelab.errors import PrunelabError
from prunelab.measure import count
from prunelab.prune import parse_target, prune, prune_channels, target_spec

R18 = "torchvision:resnet18"


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: these many small convs run 4-5x slower with two threads on busy cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
# torchvision's ResNet-18: one group per residual stream (keyed by the conv that starts it: the stem,
# then each stage's first block's conv2, coupled with its downsample and the later blocks' conv2)
# and one per block-inner conv
R18_GROUPS = {
    "conv1": 64, "layer1.0.conv1": 64, "layer1.1.conv1": 64,
    "layer2.0.conv1": 128, "layer2.0.conv2": 128, "layer2.1.conv1": 128,
    "layer3.0.conv1": 256, "layer3.0.conv2": 256, "layer3.1.conv1": 256,
    "layer4.0.conv1": 512, "layer4.0.conv2": 512, "layer4.1.conv1": 512,
}


@pytest.mark.parametrize("dataset,channels,size", [("synthetic", 3, 32), ("cifar10", 3, 32), ("fashion-mnist", 1, 28)])
def test_resolve_and_build_at_small_inputs(dataset, channels, size):
    spec = resolve(R18, dataset)
    assert (spec.family, spec.name, spec.in_channels, spec.input_size, spec.num_classes) == \
        ("torchvision", R18, channels, size, 10)
    assert spec.layout == {"model": "resnet18", "widths": R18_GROUPS}
    model = build(spec, seed=0)
    assert type(model).__name__ == "ResNet" and model.conv1.in_channels == channels
    assert model(torch.randn(2, channels, size, size)).shape == (2, 10)
    assert count(build(spec, device="meta")).params == count(model).params == \
        sum(p.numel() for p in model.parameters())


def test_the_widths_table_couples_each_residual_stream():
    spec = resolve(R18, "cifar10")
    assert list(prunable_widths(spec)) == list(R18_GROUPS)  # module order, classifier excluded
    narrow = build(with_widths(spec, {"conv1": 24, "layer2.0.conv2": 40, "layer2.1.conv1": 7}), device="meta")
    # the stem stream: stem, every layer1 block output and what reads it
    assert [narrow.get_submodule(n).out_channels for n in ("conv1", "layer1.0.conv2", "layer1.1.conv2")] == [24] * 3
    assert narrow.layer1[0].conv1.in_channels == narrow.layer2[0].downsample[0].in_channels == 24
    # stage 2's stream: the first block's conv2 with its downsample and the second block's conv2
    assert narrow.layer2[0].downsample[0].out_channels == narrow.layer2[1].conv2.out_channels == 40
    assert narrow.layer3[0].conv1.in_channels == 40
    assert narrow.layer2[1].conv1.out_channels == narrow.layer2[1].conv2.in_channels == 7
    assert narrow.layer2[0].conv1.out_channels == 128  # untouched groups stay whole


def _zero_removed(model, kept):
    """The full model with each group's removed channels zeroed: the output channels of every conv
    and BN of the group (the activations after them map 0 to 0)."""
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=torch.zeros(1, 3, 32, 32))
    for layer, idx in kept.items():
        conv = model.get_submodule(layer)
        drop = sorted(set(range(conv.out_channels)) - set(idx))
        for item in graph.get_pruning_group(conv, tp.prune_conv_out_channels, idxs=drop):
            m = item.dep.target.module
            if isinstance(m, nn.BatchNorm2d) or (isinstance(m, nn.Conv2d)
                                                 and graph.is_out_channel_pruning_fn(item.dep.handler)):
                with torch.no_grad():
                    m.weight[item.idxs] = 0
                    if m.bias is not None:
                        m.bias[item.idxs] = 0
    return model


def test_l1_ratio_prune_is_physically_smaller_and_rebuilds_from_its_spec():
    spec = resolve(R18, "synthetic")
    model = randomise_bn(build(spec, seed=1)).eval()
    pruned, kept = prune(model, parse_target(0.5), "synthetic")
    assert pruned.arch_spec == target_spec(spec, parse_target(0.5), "synthetic")
    assert pruned.arch_spec.name == "torchvision:resnet18-p0.5"
    assert prunable_widths(pruned.arch_spec) == {k: c // 2 for k, c in R18_GROUPS.items()}
    assert set(kept) == set(R18_GROUPS)
    for layer, idx in kept.items():  # L1-norm kept the largest filters of each group's root conv
        norms = model.get_submodule(layer).weight.abs().sum(dim=(1, 2, 3))
        assert sorted(idx) == sorted(norms.topk(len(idx)).indices.tolist())
    full, small = count(model), count(pruned)
    assert 0.2 < small.params / full.params < 0.3 and 0.2 < small.macs / full.macs < 0.3  # ~ (1/2)^2
    assert count(build(pruned.arch_spec, device="meta")).macs == small.macs
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    again = build(ArchSpec.from_json(json.loads(json.dumps(pruned.arch_spec.to_json()))))
    assert again.arch_spec == pruned.arch_spec
    again.load_state_dict(pruned.state_dict())
    with torch.no_grad():
        assert torch.equal(again.eval()(x), pruned.eval()(x))


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "resnext50_32x4d"])
def test_surgery_equals_masked_full_model(name):
    """Random (not last) channels kept in 2 of 3 groups; the surgery result loads into its spec's model
    (prune_channels checks that) and computes what the full model with those channels zeroed does."""
    spec = resolve(f"torchvision:{name}", "synthetic")
    model = randomise_bn(build(spec, seed=1)).eval()
    g = torch.Generator().manual_seed(4)
    kept = {k: sorted(torch.randperm(c, generator=g)[:max(1, c // 3)].tolist())
            for i, (k, c) in enumerate(prunable_widths(spec).items()) if i % 3 != 2}
    cut = prune_channels(model, kept)
    assert prunable_widths(cut.arch_spec) == {**prunable_widths(spec), **{k: len(v) for k, v in kept.items()}}
    full = _zero_removed(model, kept)
    x = torch.randn(2, 3, 32, 32, generator=g)
    with torch.no_grad():
        want = full(x)
        assert (cut(x) - want).abs().max().item() <= 1e-4 * want.abs().max().item()


def test_groups_through_grouped_convs_are_not_prunable():
    # ResNeXt's grouped 3x3 convs couple each block's inner widths: only the residual streams remain
    assert list(prunable_widths(resolve("torchvision:resnext50_32x4d", "cifar10"))) == \
        ["conv1", "layer1.0.conv3", "layer2.0.conv3", "layer3.0.conv3", "layer4.0.conv3"]


def test_depthwise_convs_follow_their_group_in_mobilenet_v2():
    spec = resolve("torchvision:mobilenet_v2", "synthetic")
    model = build(spec, seed=0)
    depthwise = {n for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and m.groups > 1}
    widths = prunable_widths(spec)
    assert len(widths) == 25 and not depthwise & set(widths)  # a depthwise conv is in its input's group
    pruned, _ = prune(model, parse_target(0.5), "synthetic")
    for n in depthwise:
        m = pruned.get_submodule(n)
        assert m.groups == m.in_channels == m.out_channels < model.get_submodule(n).out_channels
    assert pruned(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("make,msg", [
    (lambda: resolve("torchvision:resnet1", "cifar10"), "unknown torchvision classification model 'resnet1'"),
    (lambda: resolve("torchvision:swin_t", "imagenet"), "is a windowed vision transformer"),
    (lambda: resolve("torchvision:vit_b_16", "fashion-mnist"), "do not tile a 28px input"),
    (lambda: resolve("torchvision:alexnet", "cifar10"), "torchvision:alexnet cannot run on a 3x32x32 input"),
    (lambda: resolve("torchvision:shufflenet_v2_x0_5", "cifar10"), "Torch-Pruning cannot trace or prune this model"),
    (lambda: with_widths(resolve(R18, "cifar10"), {"conv1": 65}), "group 'conv1' has width 65; .* \\[1, 64\\]"),
    (lambda: with_widths(resolve(R18, "cifar10"), {"layer1.0.conv2": 8}), "'layer1.0.conv2' is not a prunable layer"),
    (lambda: resolve(R18, "cifar10").replace(layout={"model": "resnet18", "widths": {"fc": 3}}),
     "'fc' is not a prunable group of resnet18"),
    (lambda: resolve(R18, "cifar10").replace(layout={"model": "resnet18", "widths": {"conv1": 8}}),
     "lacks group 'layer1.0.conv1'"),
    (lambda: resolve(R18, "cifar10").replace(layout={"model": "resnet18"}), "exactly the keys 'model' and 'widths'"),
    (lambda: resolve(R18, "cifar10", width=2), "group 'conv1' has width 128; .* \\[1, 64\\]"),
])
def test_bad_names_and_widths_are_one_line_errors(make, msg):
    with pytest.raises(PrunelabError, match=msg) as e:
        make()
    assert "\n" not in str(e.value)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit.load is deprecated
def test_arch_command_and_export(tmp_path, capsys):
    assert main(["arch", R18, "--dataset", "cifar10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["widths"] == R18_GROUPS and out["params"] == 11_181_642 and out["macs"] == 37_016_576
    from prunelab.export import export

    pruned = build(target_spec(resolve(R18, "cifar10"), parse_target(0.5), "cifar10"), seed=0).eval()
    path = export(pruned, tmp_path, formats=("torchscript",))["torchscript"]
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(torch.jit.load(str(path))(x), pruned(x), atol=1e-4)


GRID = """
name: tiny-torchvision
dataset: synthetic
data: {synthetic_size: [32, 16]}
models:
  - {arch: "torchvision:resnet18", targets: [0.5]}
regimes: [finetune, scratch-e, scratch-b]
seeds: [0]
recipe: {epochs: 1, batch_size: 16, lr: 0.01}
finetune: {epochs: 1, lr: 0.001, schedule: constant}
"""


def test_prune_finetune_scratch_grid_end_to_end(tmp_path):
    from prunelab.runs import RunStore
    from prunelab.runs.grid import load_experiment, plan, run_grid

    cfg = tmp_path / "tv.yaml"
    cfg.write_text(GRID)
    grid = plan(load_experiment(cfg))
    assert [r.regime for r in grid.runs] == ["baseline", "finetune", "scratch-e", "scratch-b"]
    store = RunStore(tmp_path / "store")
    outcome = run_grid(grid, store, device="cpu", progress=False)
    assert len(outcome.trained) == 4 and len(outcome.pruned) == 1
    results = {r.regime: store.result(r.settings) for r in grid.runs}
    base, pruned = results["baseline"], results["scratch-e"]
    assert results["finetune"]["params"] == pruned["params"] == results["scratch-b"]["params"] < base["params"] / 3
    assert results["scratch-b"]["epochs"] == int(base["macs"] / pruned["macs"]) == 3  # Scratch-B: same compute
    assert all(r["settings"]["arch"]["family"] == "torchvision" for r in results.values())
    folders = sorted(p.name for p in store.root.iterdir() if p.name != "pruned")
    assert len(folders) == 4 and all(f.startswith("torchvision_resnet18-") for f in folders)  # no ':' in paths


def test_import_weights_takes_any_torchvision_checkpoint(tmp_path):
    import torchvision

    from prunelab.arch.torchvision_import import import_weights

    reference = torchvision.models.squeezenet1_1(weights=None).eval()
    torch.save({"state_dict": reference.state_dict()}, tmp_path / "sq.pth")
    model = import_weights(tmp_path / "sq.pth", "torchvision:squeezenet1_1").eval()
    assert model.arch_spec == resolve("torchvision:squeezenet1_1", "imagenet")
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))


def test_width_multiplier_exact_size_and_uniform_scaling():
    from prunelab.arch.families import estimate
    from prunelab.search.fit import size, uniform

    narrow = resolve(R18, "cifar10", width=0.5)
    assert narrow.name == "torchvision:resnet18-w0.5"
    assert prunable_widths(narrow) == {k: c // 2 for k, c in R18_GROUPS.items()}
    assert estimate(narrow) == (21, count(build(narrow, device="meta")).params)  # 20 convs + fc
    # the uniform-width baseline of `prunelab judge`: every group scaled by one factor to a size
    base = resolve(R18, "cifar10")
    target = size(target_spec(base, parse_target(0.3), "cifar10"))
    same = uniform(base, target)
    assert abs(size(same) / target - 1) <= 0.02 and set(prunable_widths(same).values()) != set(R18_GROUPS.values())
