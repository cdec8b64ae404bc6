"""Automatic structured pruning: Network Slimming, Sparse Structure Selection, Soft Filter Pruning."""
import pytest
import torch
from torch import nn

from helpers import randomise_bn
from prunelab import methods
from prunelab.arch import build, resolve
from prunelab.data import DataSettings, load
from prunelab.errors import PrunelabError
from prunelab.measure import count
from prunelab.methods.slimming import BNScaleL1, channel_groups, threshold
from prunelab.train import Recipe, train


def _slim(model, target, **kw):
    m = methods.get("slimming")
    return m.prune(model, m.params({"target": target, **kw}), methods.PruneData("cifar10", 0))


@pytest.mark.parametrize("name,width", [("preresnet110", 0.25), ("densenet40", 0.5), ("densenet-bc100", 0.25)])
def test_slimming_equals_the_full_model_with_pruned_bn_outputs_zeroed(name, width):
    model = randomise_bn(build(resolve(name, "cifar10", width=width), seed=0), bias_scale=0.5).eval().double()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # spread |gamma| over orders of magnitude, as sparsity training leaves them
        for bn, _, _ in channel_groups(model):
            bn.weight.mul_(10 ** (-3 * torch.rand(bn.num_features, generator=g, dtype=torch.float64)))
    r = _slim(model, 0.6)
    assert r.selections and (r.kept or name == "densenet40")  # DenseNet-40 layers have no bottleneck conv
    full = model
    with torch.no_grad():
        for bn, kind, key in channel_groups(full):
            keep = (r.kept if kind == "out" else r.selections).get(key, list(range(bn.num_features)))
            drop = sorted(set(range(bn.num_features)) - set(keep))
            bn.weight[drop] = 0
            bn.bias[drop] = 0
        x = torch.randn(3, 3, 32, 32, generator=g, dtype=torch.float64)
        want, got = full(x), r.model.eval().double()(x)
    assert ((got - want).abs().max() / want.abs().max()).item() <= 1e-5
    assert count(r.model).params < count(model).params
    for bn, kind, key in channel_groups(r.model):  # no layer ever has 0 channels
        assert bn.num_features >= 1


def test_the_threshold_rule_on_hand_set_scales():
    model = build(resolve("vgg11", "cifar10", width=0.125), seed=0)
    groups = channel_groups(model)  # 8 convs, 8 + 16 + 32 + 32 + 64 + 64 + 64 + 64 channels
    n = sum(bn.num_features for bn, _, _ in groups)
    vals = torch.arange(n, dtype=torch.float32) / n + 0.01
    vals[10:20] = vals[10]  # a tie of ten values
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))  # every layer gets a mix
    vals = vals[perm]

    def assign(v):
        with torch.no_grad():
            i = 0
            for bn, _, _ in groups:
                bn.weight.copy_(v[i: i + bn.num_features])
                i += bn.num_features

    assign(vals)
    for frac in (0.2, 0.5):
        r = _slim(model, frac)
        assert r.info["floor_layers"] == 0
        thre = vals.sort().values[int(n * frac)]
        assert r.info["threshold"] == pytest.approx(float(thre))
        assert r.info["pruned"] == int((vals <= thre).sum())  # strictly greater survives
        assert r.info["pruned"] == int(n * frac) + 1  # no tie at these thresholds: one more than a quantile
    # the tie: threshold inside the tied run prunes all ten of them
    r = _slim(model, 12 / n)
    assert r.info["threshold"] == pytest.approx(float(vals.sort().values[10])) and r.info["pruned"] == 20
    # the first layer (8 channels, now the smallest scales) empties without the floor
    assign(vals.sort().values)
    r = _slim(model, 0.05, min_channels=2)
    assert r.info["floor"] == {"features.0": 0} and r.info["kept"]["features.0"] == 2
    assert r.model.features[0].out_channels == 2
    assert threshold(torch.tensor([3.0, 1.0, 2.0, 2.0]), 0.5) == 2.0


def test_slimming_hook_and_gamma_init():
    data = load(DataSettings("synthetic", synthetic_size=(64, 32)))
    out = []
    for lam in (0.0, 1e-2):
        model = build(resolve("vgg11", "synthetic", width=0.125), seed=0)
        hooks = BNScaleL1(lam, 0.5)
        hooks.prepare(model)
        assert all(torch.all(w == 0.5) for w in BNScaleL1.scales(model))
        train(model, data, Recipe(epochs=2, batch_size=16, lr=0.1), hooks=hooks)
        out.append(torch.cat([w.detach().abs() for w in BNScaleL1.scales(model)]))
    assert (out[1] < out[0]).float().mean() > 0.95  # the L1 term shrinks the scales


def test_slimming_on_imagenet_vgg_with_bn_on_fc_layers():
    from prunelab.arch import ArchSpec

    spec = ArchSpec.from_dict({"family": "vgg-imagenet", "name": "vgg11-bn-tiny", "input_size": 32, "num_classes": 10,
                               "layout": {"cfg": [8, "M", 16, "M", 16, 16, "M"], "head": "fc", "bn": True,
                                          "fc": [32, 32], "fc_bn": True, "dropout": 0.0}})
    model = randomise_bn(build(spec, seed=0)).eval()
    r = _slim(model, 0.5)
    assert any(k.startswith("classifier.") for k in r.kept)  # FC widths are pruned too
    assert r.model.arch_spec.layout["fc"] != [32, 32]
    x = torch.randn(2, 3, 32, 32)
    assert r.model.eval()(x).shape == (2, 10)


def test_slimming_refuses_other_families():
    with pytest.raises(PrunelabError, match="slimming prunes VGG, PreResNet and DenseNet"):
        _slim(build(resolve("resnet20", "cifar10"), seed=0), 0.5)
    with pytest.raises(PrunelabError, match="must be in \\(0, 1\\)"):
        methods.get("slimming").params({"target": 1.0})
