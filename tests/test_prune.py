"""Pruning: surgery equivalence through Torch-Pruning, exact preset selection, controls, bad ratios."""
import pytest
import torch

from helpers import randomise_bn
from prunelab.arch import build, prunable_widths, resolve
from prunelab.errors import PrunelabError
from prunelab.measure import count
from prunelab.prune import Target, parse_target, prune, prune_channels, select, target_spec, target_widths


def bn_after(model, conv_name):
    """The BN that normalises a prunable conv's output, by each family's naming."""
    parent, _, leaf = conv_name.rpartition(".")
    if leaf.isdigit():  # VGG: features.i -> features.i+1
        return model.get_submodule(f"{parent}.{int(leaf) + 1}")
    block = model.get_submodule(parent)
    mapping = {"conv1": "bn1", "conv2": "bn2", "conv3": "bn3"}
    if type(block).__name__ == "Bottleneck" and hasattr(block, "select"):  # PreResNet: conv_k -> bn_{k+1}
        mapping = {"conv1": "bn2", "conv2": "bn3"}
    if type(block).__name__ == "DenseLayer":
        mapping = {"conv1": "bn2"}
    return getattr(block, mapping[leaf])


def zero_removed(model, kept):
    """The full model with the removed channels' post-BN activations zeroed."""
    for layer, idx in kept.items():
        bn = bn_after(model, layer)
        drop = sorted(set(range(bn.num_features)) - set(idx))
        with torch.no_grad():
            bn.weight[drop] = 0
            bn.bias[drop] = 0
    return model


CASES = [("vgg16", 0.5, "cifar10"), ("vgg11", 0.5, "fashion-mnist"), ("resnet56", 0.5, "cifar10"),
         ("preresnet110", 0.5, "cifar10"), ("densenet-bc100", 0.25, "cifar10")]


@pytest.mark.parametrize("name,width,ds", CASES)
def test_surgery_equals_masked_full_model(name, width, ds):
    spec = resolve(name, ds, width=width)
    model = randomise_bn(build(spec, seed=1)).eval()
    g = torch.Generator().manual_seed(2)
    kept = {}
    for i, (layer, c) in enumerate(prunable_widths(spec).items()):
        if i % 3 == 2:
            continue  # leave some layers whole
        k = max(1, c // 2 + (i % 2))
        kept[layer] = sorted(torch.randperm(c, generator=g)[:k].tolist())
    pruned = prune_channels(model, kept).eval().double()  # float64: the comparison is of structure, not rounding
    model = model.double()
    x = torch.randn(4, spec.in_channels, spec.input_size, spec.input_size, generator=g, dtype=torch.float64)
    with torch.no_grad():
        want = zero_removed(model, kept)(x)
        got = pruned(x)
    assert (got - want).abs().max().item() <= 1e-5
    a, b = count(model.float()), count(pruned.float())
    assert b.params < a.params and b.macs < a.macs
    for layer, idx in kept.items():
        assert pruned.get_submodule(layer).out_channels == len(idx)


def test_surgery_leaves_the_input_model_alone():
    model = build(resolve("resnet20", "cifar10", width=0.5), seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    prune_channels(model, {"layer1.0.conv1": [0, 1, 2]})
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_preset_selection_keeps_exactly_the_largest_l1_filters():
    model = build(resolve("resnet56", "cifar10"), seed=0)
    g = torch.Generator().manual_seed(0)
    norms = {}
    with torch.no_grad():
        for layer, c in prunable_widths(model.arch_spec).items():
            conv = model.get_submodule(layer)
            # hand-set weights: filter f has every weight equal to a distinct value, so its L1 is known
            vals = torch.randperm(c, generator=g).double() + 1
            conv.weight.copy_(vals.view(-1, 1, 1, 1).expand_as(conv.weight) * torch.sign(torch.randn(conv.weight.shape, generator=g)))
            norms[layer] = vals * conv.weight[0].numel()
    pruned, kept = prune(model, Target(preset="resnet56-B"), "cifar10")
    assert pruned.arch_spec == resolve("resnet56-B", "cifar10")
    skipped = {"layer1.7.conv1", "layer1.8.conv1", "layer2.0.conv1", "layer2.7.conv1", "layer3.0.conv1",
               "layer3.8.conv1"}  # conv ids 16, 18, 20, 34, 38, 54
    assert set(kept) == set(prunable_widths(model.arch_spec)) - skipped
    for layer, idx in kept.items():
        k = len(idx)
        expect = sorted(torch.argsort(norms[layer], descending=True)[:k].tolist())
        assert idx == expect, layer
        assert k == {"1": 6, "2": 22, "3": 57}[layer[5]]
    # the kept filters' weights are carried over
    assert torch.equal(pruned.layer1[0].conv1.weight, model.layer1[0].conv1.weight[kept["layer1.0.conv1"]])


def test_vgg16_A_preset_spec_and_counts():
    model = build(resolve("vgg16", "cifar10"), seed=0)
    pruned, kept = prune(model, Target(preset="vgg16-A"), "cifar10")
    assert pruned.arch_spec == resolve("vgg16-A", "cifar10")
    # conv1 and the last six convs (cfg positions 0 and 10..12, 14..16 -> module indices below)
    assert set(kept) == {"features.0", "features.24", "features.27", "features.30", "features.34", "features.37",
                         "features.40"}
    assert [len(kept[k]) for k in sorted(kept, key=lambda n: int(n.split(".")[1]))] == [32, 256, 256, 256, 256, 256, 256]


def test_selection_rules():
    s = torch.tensor([3.0, 1.0, 2.0, 2.0, 0.5])
    assert select(s, 2, "largest") == [0, 2]  # tie between 2 and 3: the lower index wins
    assert select(s, 2, "smallest") == [1, 4]
    r1 = select(s, 3, "random", torch.Generator().manual_seed(0))
    r2 = select(s, 3, "random", torch.Generator().manual_seed(0))
    assert r1 == r2 and len(set(r1)) == 3
    with pytest.raises(PrunelabError, match="unknown selection"):
        select(s, 2, "median")


def test_uniform_and_stage_ratios():
    base = resolve("resnet20", "cifar10")
    w = target_widths(base, parse_target(0.5), "cifar10")
    assert w["layer1.0.conv1"] == 8 and w["layer3.2.conv1"] == 32
    w = target_widths(base, parse_target({"stages": [0.6, 0.3, 0.1], "skip": ["layer1.0.conv1"]}), "cifar10")
    assert "layer1.0.conv1" not in w and w["layer1.1.conv1"] == 6 and w["layer2.0.conv1"] == 22
    assert w["layer3.0.conv1"] == 57


def test_round_to_rounds_kept_counts_up_to_a_multiple():
    base = resolve("vgg19", "cifar10")
    t = parse_target({"ratio": 0.7, "round_to": 16})
    w = target_widths(base, t, "cifar10")
    plain = target_widths(base, parse_target(0.7), "cifar10")
    assert plain["features.0"] == 19 and w["features.0"] == 32  # int(64 * 0.3) = 19 -> 32
    assert all(v % 16 == 0 and v >= plain[k] for k, v in w.items())
    assert target_spec(base, t, "cifar10").name == "vgg19-p0.7-r16"
    # a kept count already on a multiple stays; rounding never exceeds the layer's width
    assert target_widths(base, parse_target({"ratio": 0.5, "round_to": 32}), "cifar10")["features.0"] == 32
    with pytest.raises(PrunelabError, match="prunes nothing"):  # every kept count rounds up to the full width
        target_widths(base, parse_target({"ratio": 0.01, "round_to": 48}), "cifar10")
    assert "features.0" not in target_widths(base, parse_target({"ratio": 0.1, "round_to": 32}), "cifar10")  # 57 -> 64
    for bad in ({"ratio": 0.5, "round_to": 0}, {"ratio": 0.5, "round_to": 2.5}, {"ratio": 0.5, "stages": [0.1]},
                {"ratio": 1.5}):
        with pytest.raises(PrunelabError):
            parse_target(bad)


@pytest.mark.parametrize("ratio,msg", [(1.0, "must be in \\[0, 1\\)"), (1.5, "must be in \\[0, 1\\)"),
                                       (-0.1, "must be in \\[0, 1\\)"), (0.99, "would empty layer")])
def test_bad_ratios_are_one_line_errors(ratio, msg):
    model = build(resolve("vgg11", "fashion-mnist", width=0.125), seed=0)
    with pytest.raises(PrunelabError, match=msg) as e:
        prune(model, Target(ratio=ratio), "fashion-mnist")
    assert "\n" not in str(e.value)


def test_preset_of_another_model_is_refused():
    model = build(resolve("resnet110", "cifar10"), seed=0)
    with pytest.raises(PrunelabError, match="is not a pruned 'resnet110'"):
        prune(model, Target(preset="resnet56-A"), "cifar10")


def test_prune_cli(tmp_path, capsys):
    import prunelab
    from prunelab.cli import main

    m = build(resolve("vgg11", "fashion-mnist", width=0.25), seed=0)
    prunelab.save(m, tmp_path / "m.pt")
    assert main(["prune", str(tmp_path / "m.pt"), "--target", "0.5", "--out", str(tmp_path / "p.pt")]) == 0
    assert "vgg11-w0.25 -> vgg11-w0.25-p0.5" in capsys.readouterr().out
    p = prunelab.load(tmp_path / "p.pt")
    assert p.features[0].out_channels == 8
    code = main(["prune", str(tmp_path / "m.pt"), "--target", "1.2", "--out", str(tmp_path / "q.pt")])
    assert code == 2 and "must be in [0, 1)" in capsys.readouterr().err
    assert not (tmp_path / "q.pt").exists()
    assert main(["prune", str(tmp_path / "m.pt"), "--target", "0.7", "--round-to", "8",
                 "--out", str(tmp_path / "r.pt")]) == 0
    assert "-> vgg11-w0.25-p0.7-r8" in capsys.readouterr().out
    assert prunelab.load(tmp_path / "r.pt").features[0].out_channels == 8  # int(16 * 0.3) = 4 -> 8
    code = main(["prune", str(tmp_path / "m.pt"), "--target", "vgg16-A", "--round-to", "8",
                 "--out", str(tmp_path / "q.pt")])
    assert code == 2 and "--round-to applies to a ratio target" in capsys.readouterr().err
