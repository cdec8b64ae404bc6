"""Reconstruction-based channel pruning: feature sampling, ThiNet and regression pruning (He et al.)."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import prunelab
from prunelab import methods
from prunelab.arch import ArchSpec, build, prunable_widths, resolve
from prunelab.cli import main
from prunelab.data import TensorData
from prunelab.data.sources import synthetic
from prunelab.errors import PrunelabError
from prunelab.measure import count
from prunelab.prune import parse_target, reconstruct, select
from prunelab.prune.criteria import l1_norm
from prunelab.prune.reconstruct import prune_to_target
from prunelab.prune.sampling import patches_at, sample_layer, weight_view


@pytest.fixture(autouse=True)
def _small_work(monkeypatch):
    """Batches of a few small images: one thread without oneDNN is the fastest way to run them. oneDNN
    compiles kernels for every new layer shape (pruning makes many) and reorders ImageNet-sized
    weights for tiny convs; a second thread only waits for a core the long experiment holds."""
    monkeypatch.setattr(torch.backends.mkldnn, "enabled", False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SMALL_VGG = {"family": "vgg", "name": "vgg3", "layout": {"cfg": [12, 12, 12], "head": "linear"},
             "in_channels": 3, "input_size": 8, "num_classes": 10}
REDUNDANT = {2: 7, 5: 0, 9: 4}  # channel of features.0 -> the channel it duplicates
KEPT = [0, 1, 3, 4, 6, 7, 8, 10, 11]
ONLY_FIRST = {"ratio": 0.25, "skip": ["features.3", "features.6"]}  # features.0 keeps int(12 * 0.75) = 9


def _data(dataset, images, size, seed=0):
    train = synthetic(images, 1, size=size, seed=seed)["train"]
    return methods.PruneData(dataset, 0, data=TensorData(dataset, {"train": train}, augment=False))


def _prune(name, model, data, **params):
    m = methods.get(name)
    return m.prune(model, m.params(params), data)


def test_patches_and_responses_are_what_the_layer_computes():
    g = torch.Generator().manual_seed(0)
    conv = nn.Conv2d(4, 5, 3, stride=2, padding=2, dilation=2, bias=True)
    x = torch.randn(2, 4, 9, 9, generator=g)
    out = conv(x).detach()
    pos = torch.randint(out.shape[2] * out.shape[3], (2, 6), generator=g)
    unfolded = F.unfold(x, 3, dilation=2, padding=2, stride=2)  # (B, C * K, L)
    want = unfolded.gather(2, pos[:, None].expand(2, 36, 6)).permute(0, 2, 1).reshape(2, 6, 4, 9)
    assert torch.equal(patches_at(x, conv, pos, out.shape[3]), want)

    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), conv)
    batches = [(torch.randn(3, 3, 9, 9, generator=g), None) for _ in range(3)]
    s = sample_layer(model, "2", 4, batches, locations=5, max_samples=13, gen=torch.Generator().manual_seed(1))
    assert s.x.shape == (13, 4, 9) and s.y.shape == (13, 5) and s.outputs.shape == (13,)
    # each response (without the bias) is the sum of the channels' contributions X_c W_c
    contrib = torch.einsum("nck,ock->no", s.x, weight_view(conv, 4))
    assert torch.allclose(contrib, s.y, atol=1e-5)


def _planted(t: float, seed: int = 0) -> nn.Module:
    """A 3-conv VGG whose features.0 channels 2, 5, 9 duplicate channels 7, 0, 4: three times their
    filters (the largest L1 norms, so L1-norm keeps them), BN statistics scaled to match, so after
    BN and ReLU their activations *equal* the originals'; the consumer features.3 reads each with
    ``t`` times the weights of the channel it duplicates (contributions t * Z_k: the refit absorbs them)."""
    model = build(ArchSpec.from_dict(SMALL_VGG), seed=seed).eval()
    g = torch.Generator().manual_seed(seed)
    conv, bn, consumer = model.features[0], model.features[1], model.features[3]
    with torch.no_grad():
        bn.weight.fill_(1.0)
        bn.bias.copy_(0.3 + 0.2 * torch.rand(12, generator=g))
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0)
        for j, k in REDUNDANT.items():
            conv.weight[j] = 3 * conv.weight[k]
            bn.running_mean[j] = 3 * bn.running_mean[k]
            bn.running_var[j] = 9 * (bn.running_var[k] + bn.eps) - bn.eps
            bn.bias[j] = bn.bias[k]
            consumer.weight[:, j] = t * consumer.weight[:, k]
    assert select(l1_norm(conv), 3) == sorted(REDUNDANT)  # the three largest L1 norms
    return model


def _heldout_error(full: nn.Module, pruned: nn.Module) -> float:
    x = next(_data("synthetic", 64, 8, seed=7).data.batches("train", 64))[0]  # images never sampled
    with torch.no_grad():
        want, got = full.features[:4](x), pruned.eval().features[:4](x)  # features.3's responses
    return float(((got - want) ** 2).sum() / (want ** 2).sum())


def test_planted_redundancy_is_found_and_reconstructed_better_than_l1_norm():
    model, data = _planted(t=0.1), _data("synthetic", 64, 8)
    sampling = {"target": ONLY_FIRST, "images": 64, "locations": 10}
    # the baseline: L1-norm's channels at the same width, followed by the same full least-squares refit
    p = methods.get("thinet").params(sampling)
    l1, l1_kept, _, _ = prune_to_target(model, parse_target(ONLY_FIRST), data,
                                        lambda s, w, k: select(l1_norm(model.features[0]), k), "full", p)
    assert set(l1_kept["features.0"]) >= set(REDUNDANT)
    l1_error = _heldout_error(model, l1)
    assert l1_error > 1e-4
    for name, extra in (("thinet", {}), ("thinet", {"refit": "full"}), ("regression", {})):
        r = _prune(name, model, data, **sampling, **extra)
        assert r.kept == {"features.0": KEPT}, (name, extra)
        assert r.model.features[0].out_channels == 9 and r.model.features[1].num_features == 9
        error = _heldout_error(model, r.model)
        assert error < 0.5 * l1_error and error < 1e-6, (name, extra, error, l1_error)
        assert r.info["error"]["features.3"] < 1e-6 and r.info["samples"]["features.3"] == 640


def test_lasso_finds_duplicates_that_still_contribute_much():
    # duplicates read with 0.7x the original's weights: not small, but LASSO's L1 penalty drops the
    # smaller of two collinear contributions (ThiNet's energy rule needs small contributions)
    model = _planted(t=0.7, seed=1)
    r = _prune("regression", model, _data("synthetic", 64, 8), target=ONLY_FIRST, images=64, locations=10)
    assert r.kept == {"features.0": KEPT} and _heldout_error(model, r.model) < 1e-6


@pytest.mark.parametrize("name", ["thinet", "regression"])
def test_later_layers_are_sampled_from_the_model_pruned_so_far(name, monkeypatch):
    model, data = build(ArchSpec.from_dict(SMALL_VGG), seed=0), _data("synthetic", 16, 8)
    seen, real = {}, reconstruct.sample_layer

    def spy(m, layer, *args, **kw):
        seen[layer] = real(m, layer, *args, **kw)
        return seen[layer]

    monkeypatch.setattr(reconstruct, "sample_layer", spy)
    extra = {"layer_epochs": 0} if name == "thinet" else {}  # (tuning after a layer moves the model on: below)
    r = _prune(name, model, data, target=0.5, images=16, locations=3, **extra)
    # the second step (features.3's filters, read by features.6) sampled features.6's inputs from the
    # model with features.0 pruned and features.3 refit: the final pruned model's inputs, where kept
    pruned = r.model.eval()
    again = real(pruned, "features.6", 6, data.batches(16, 16), 3, 10**6, data.generator(1000 + 1))
    assert torch.allclose(seen["features.6"].x[:, r.kept["features.3"]], again.x, atol=1e-5)
    assert not torch.allclose(seen["features.6"].x[:, r.kept["features.3"]],
                              real(model.eval(), "features.6", 12, data.batches(16, 16), 3, 10**6,
                                   data.generator(1000 + 1)).x[:, r.kept["features.3"]], atol=1e-3)


def _vgg_imagenet_small():
    spec = resolve("vgg16", "imagenet").replace(input_size=32)
    layout = {**spec.layout, "cfg": [8, "M", 8, "M"], "fc": [16, 16]}
    return spec.replace(layout=layout, name="vgg2-fc", num_classes=10)


@pytest.mark.parametrize("name", ["thinet", "regression"])
def test_every_layer_and_the_heads(name):
    # a ratio prunes the last conv too: its consumer is the head's first linear layer (the CIFAR head
    # reads pooled channels, the ImageNet fc head 7x7 = 49 values of each channel); a CIFAR ResNet
    for spec, dataset, size in ((ArchSpec.from_dict(SMALL_VGG), "synthetic", 8),
                                (_vgg_imagenet_small(), "imagenet", 32),
                                (resolve("resnet20", "synthetic", width=0.5).replace(input_size=8), "synthetic", 8)):
        model = build(spec, seed=0)
        r = _prune(name, model, _data(dataset, 16, size), target=0.5, images=16, locations=4)
        plan = methods.get(name).planned_spec(spec, methods.get(name).params({"target": 0.5}), dataset)
        assert r.model.arch_spec == plan and set(r.kept) == set(prunable_widths(spec))
        assert all(e < 1 for e in r.info["error"].values())
        r.model(torch.zeros(2, 3, size, size))


def _imagenet_small(name):
    return resolve(name, "imagenet").replace(input_size=32)


def test_vgg16_presets_are_reached_exactly():
    data, model = _data("imagenet", 2, 32), build(_imagenet_small("vgg16"), seed=0)
    for name, target in (("thinet", "vgg16-thinet-conv"), ("regression", "vgg16-5x")):
        extra = {"layer_epochs": 0} if name == "thinet" else {}  # (the shapes are the point: no tuning)
        r = _prune(name, model, data, target=target, images=2, locations=1, max_samples=2, **extra)
        preset = resolve(target, "imagenet")
        assert r.model.arch_spec.layout == preset.layout and r.model.arch_spec.name == target
        m = methods.get(name)
        assert m.planned_spec(model.arch_spec, m.params({"target": target}), "imagenet") == preset
    # ThiNet-GAP and -Tiny replace the FC head by global pooling: from a VGG-16 with that head, where
    # -Tiny prunes the last conv too (its consumer is the one linear layer)
    gap = _imagenet_small("vgg16")
    gap = gap.replace(layout={**gap.layout, "cfg": gap.layout["cfg"][:-1], "head": "gap"}, name="vgg16-gap")
    gap_model = build(gap, seed=0)
    r = _prune("thinet", gap_model, data, target="vgg16-thinet-tiny", images=2, locations=1, layer_epochs=0)
    assert r.model.arch_spec.layout == resolve("vgg16-thinet-tiny", "imagenet").layout and "features.28" in r.kept
    r = _prune("thinet", gap_model, data, target="vgg16-thinet-gap", images=2, locations=1, max_samples=2,
               layer_epochs=0)
    assert r.model.arch_spec.layout == resolve("vgg16-thinet-gap", "imagenet").layout


def test_resnet50_presets_are_reached_exactly():
    data = _data("imagenet", 2, 32)
    model = build(_imagenet_small("resnet50"), seed=0)
    for target in ("resnet50-thinet-30", "resnet50-thinet-50", "resnet50-thinet-70"):
        r = _prune("thinet", model, data, target=target, images=2, locations=1, max_samples=1, layer_epochs=0)
        assert r.model.arch_spec.layout == resolve(target, "imagenet").layout and not r.selections, target
    # resnet50-2x: the first two convs of each bottleneck and its input channel selection
    r = _prune("regression", model, data, target="resnet50-2x", images=2, locations=1, max_samples=1)
    preset = resolve("resnet50-2x", "imagenet")
    assert prunable_widths(r.model.arch_spec) == prunable_widths(preset)
    got = [b["select"] for st in r.model.arch_spec.layout["stages"] for b in st]
    want = [b["select"] for st in preset.layout["stages"] for b in st]
    assert [len(s) for s in got] == want and len(r.selections) == 16
    assert r.model.arch_spec.name == "resnet50-2x" and r.model.eval()(torch.zeros(1, 3, 32, 32)).shape == (1, 1000)
    reg = methods.get("regression")  # the MACs known before pruning are those of the found model
    assert reg.planned_macs(model.arch_spec, reg.params({"target": "resnet50-2x"}), "imagenet") == \
        count(r.model).macs
    m = methods.get("regression")
    assert m.planned_spec(model.arch_spec, m.params({"target": "resnet50-2x"}), "imagenet") is None
    assert m.label(model.arch_spec, m.params({"target": "resnet50-2x"}), "imagenet") == "resnet50-2x"


@pytest.mark.parametrize("name", ["thinet", "regression"])
def test_parameters_are_checked(name):
    m = methods.get(name)
    with pytest.raises(PrunelabError, match="unknown key 'imgs'"):
        m.params({"target": 0.5, "imgs": 10})
    with pytest.raises(PrunelabError, match="'images' must be of type int"):
        m.params({"target": 0.5, "images": 1.5})
    for key in ("images", "locations", "max_samples"):
        with pytest.raises(PrunelabError, match=f"{name}: {key} must be a positive integer, got 0"):
            m.params({"target": 0.5, key: 0})
    with pytest.raises(PrunelabError, match="target is missing"):
        m.params({})
    with pytest.raises(PrunelabError, match="prune ratio 1.5 must be in"):
        m.params({"target": {"ratio": 1.5}})
    if name == "thinet":
        with pytest.raises(PrunelabError, match="refit must be one of full, scale, not 'exact'"):
            m.params({"target": 0.5, "refit": "exact"})
    with pytest.raises(PrunelabError, match=f"method '{name}' needs the consumer of each pruned conv, which vgg, "
                       "vgg-imagenet, resnet, resnet-imagenet models have, not 'densenet40'"):
        m.check_base(resolve("densenet40", "cifar10"))
    with pytest.raises(PrunelabError, match="is not a pruned 'vgg16'"):  # the GAP head is another model
        m.planned_spec(resolve("vgg16", "imagenet"), m.params({"target": "vgg16-thinet-gap"}), "imagenet")


def test_prune_cli(tmp_path, capsys):
    model = build(resolve("vgg11", "synthetic", width=0.125), seed=0)
    prunelab.save(model, tmp_path / "m.pt")
    for name in ("thinet", "regression"):
        out = tmp_path / f"{name}.pt"
        assert main(["prune", str(tmp_path / "m.pt"), "--method", name, "--target", "0.5", "--dataset", "synthetic",
                     "--param", "images=8", "--param", "locations=2", "--out", str(out)]) == 0
        assert f"vgg11-w0.125 -> vgg11-w0.125-p0.5 ({name})" in capsys.readouterr().out
        assert prunelab.load(out).features[0].out_channels == 4  # 8 -> 4


def test_plan_of_the_imagenet_thinet_and_regression_files(capsys):
    """Tables 2 and 3: Scratch-B = int(90 x MAC ratio), capped at 2 x 90 = 180 epochs, ResNet-50-2x's
    too (its input selections are found by each seed's prune step, but not their counts)."""
    import json
    from pathlib import Path

    from prunelab.cli import main

    root = Path(__file__).parents[1] / "experiments" / "paper"

    def rows(name):
        assert main(["plan", str(root / name), "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    planned = [r for name in ("table2-thinet-vgg16.yaml", "table2-thinet-resnet50.yaml", "table3-regression-vgg16.yaml")
               for r in rows(name) if r["regime"] == "scratch-b"]
    assert {r["arch"] for r in planned} == {"vgg16-thinet-conv", "vgg16-thinet-gap", "vgg16-thinet-tiny",
                                             "resnet50-thinet-30", "resnet50-thinet-50", "resnet50-thinet-70",
                                             "vgg16-5x"}
    for r in planned:
        ratio = r["budget"]["mac_ratio"]
        assert r["epochs"] == min(180, int(90 * ratio)) and r["budget"]["cap"] == 2.0
        if ratio >= 2:
            assert r["epochs"] == 180
    assert any(r["epochs"] < 180 for r in planned)  # ThiNet-70 (ratio 1.57) stays under the cap
    # ResNet-50-2x: its input selections are found per seed, but their counts (and so the MACs) are fixed
    found = [r for r in rows("table3-regression-resnet50.yaml") if r["regime"] == "scratch-b"]
    assert found and all(r["arch"] == "found: resnet50-2x" and "rule" not in r for r in found)
    assert all(r["epochs"] == int(90 * r["budget"]["mac_ratio"]) == 134 for r in found)


def test_thinet_fine_tunes_between_layers_with_the_removed_inputs_held_at_zero(monkeypatch):
    """ThiNet (Luo et al. 2017) fine-tunes after each layer it prunes (default: one epoch at lr 0.001);
    the next layer is sampled from the tuned model, and what was removed stays removed."""
    assert methods.get("thinet").params({"target": 0.5}).layer_epochs == 1  # the paper's default
    model, data = build(ArchSpec.from_dict(SMALL_VGG), seed=0), _data("synthetic", 32, 8)
    calls, real = [], methods.PruneData.train

    def spy(self, m, recipe, masks=None, offset=0):
        before = {k: m.get_parameter(k).detach().clone() for k in masks}
        real(self, m, recipe, masks, offset)
        calls.append((recipe, {k: v.clone() for k, v in masks.items()}))
        for k, mask in masks.items():
            w = m.get_parameter(k).detach()
            assert (w[~mask] == 0).all() and not torch.equal(w[mask], before[k][mask])  # trained, zeros kept

    monkeypatch.setattr(methods.PruneData, "train", spy)
    r = _prune("thinet", model, data, target=0.5, images=32, locations=3)
    # three layer pairs (features.0 -> .3, .3 -> .6, .6 -> the head): tuned after the first two
    assert len(calls) == 2 and calls[0][0].epochs == 1 and calls[0][0].lr == 0.001
    assert set(calls[0][1]) == {"features.3.weight"} and set(calls[1][1]) == {"features.3.weight", "features.6.weight"}
    dropped = sorted(set(range(12)) - set(r.kept["features.0"]))
    assert not calls[0][1]["features.3.weight"][:, dropped].any()
    untuned = _prune("thinet", model, data, target=0.5, images=32, locations=3, layer_epochs=0)
    assert len(calls) == 2  # layer_epochs 0: no tuning
    assert not torch.allclose(r.model.features[0].weight, untuned.model.features[0].weight)


def test_a_refit_fits_the_bias_of_a_layer_that_has_one():
    """He et al.'s least squares over the kept weights *and* the bias: with an intercept in the
    model, the refit recovers a response that is an exact affine function of the kept inputs."""
    from prunelab.prune.reconstruct import refit
    from prunelab.prune.sampling import LayerSamples

    g = torch.Generator().manual_seed(0)
    n, C, K, O = 400, 6, 4, 5
    x = torch.randn(n, C, K, generator=g, dtype=torch.float64).float()
    w_true = torch.randn(O, 3, K, generator=g)
    b_true, b_old = torch.randn(O, generator=g), torch.randn(O, generator=g)
    kept = [0, 2, 5]
    full = torch.einsum("nck,ock->no", x[:, kept], w_true) + b_true
    s = LayerSamples(x, full - b_old, torch.zeros(n, dtype=torch.long), bias=b_old)  # y is bias-free, as sampled
    w = torch.randn(O, C, K, generator=g)
    new_w, new_b = refit(s, w, kept, "full")
    assert new_b is not None and torch.allclose(new_b, b_true, atol=1e-4) and torch.allclose(new_w, w_true, atol=1e-4)
    few = LayerSamples(x[:10], s.y[:10], s.outputs[:10], bias=b_old)  # fewer samples than unknowns: on the samples
    w10, b10 = refit(few, w, kept, "full")
    pred = torch.einsum("nck,ock->no", x[:10, kept].double(), w10.double()) + b10.double()
    assert torch.allclose(pred, full[:10].double(), atol=1e-4)
    assert refit(LayerSamples(x, full, s.outputs), w, kept, "full")[1] is None  # no bias: none fitted
    assert refit(s, w, kept, "scale")[1] is None  # ThiNet's scales leave the bias


def test_regression_reconstructs_a_residual_blocks_output_with_the_shortcut_correction(monkeypatch):
    """He et al. 2017 (multi-branch): a block's last conv is refit to the unpruned *block* output,
    absorbing the change that pruning earlier layers made to its shortcut input; without the
    correction, the pruned blocks' outputs (before their ReLU) are further from the unpruned ones."""
    from helpers import randomise_bn
    from prunelab.prune import reconstruct as rec

    spec = resolve("resnet20", "synthetic", width=0.5).replace(input_size=8)
    model = randomise_bn(build(spec, seed=0), bias_scale=0.3).eval()
    data = _data("synthetic", 800, 8)  # enough samples per layer for the refit not to overfit
    x = next(_data("synthetic", 64, 8, seed=7).data.batches("train", 64))[0]  # held out

    def block_outputs(m):
        """Every block's output before its ReLU: bn2(conv2(...)) + shortcut(input)."""
        ins = {}
        blocks = {k: b for k, b in m.named_modules() if k.count(".") == 1 and k.startswith("layer")}
        hooks = [b.register_forward_hook(lambda mod, i, o, k=k: ins.__setitem__(k, i[0])) for k, b in blocks.items()]
        with torch.no_grad():
            m.eval()(x)
            for h in hooks:
                h.remove()
            return {k: b.bn2(b.conv2(b.relu(b.bn1(b.conv1(ins[k]))))) + b.shortcut(ins[k]) for k, b in blocks.items()}

    def error(pruned):
        want, got = block_outputs(model), block_outputs(pruned)
        return sum(float(((got[k] - want[k]) ** 2).sum() / (want[k] ** 2).sum()) for k in want)

    params = {"target": 0.5, "images": 800, "locations": 8}
    corrected = _prune("regression", model, data, **params)
    assert rec.residual_tail(model, "layer1.0.conv2") is not None and rec.residual_tail(model, "layer1.0.conv1") is None
    monkeypatch.setattr(rec, "residual_tail", lambda m, c: None)
    plain = _prune("regression", model, data, **params)
    assert corrected.kept.keys() == plain.kept.keys()
    assert error(corrected.model) < 0.98 * error(plain.model)  # measured 0.383 against 0.402
