"""Automatic structured pruning: Network Slimming, Sparse Structure Selection, Soft Filter Pruning."""
import pytest
import torch

from helpers import randomise_bn
from prunelab import methods
from prunelab.arch import build, resolve
from prunelab.data import DataSettings, load
from prunelab.errors import PrunelabError
from prunelab.measure import count
from prunelab.methods.slimming import BNScaleL1, channel_groups
from prunelab.prune import reference_threshold
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
        emptied = [(bn, key) for bn, kind, key in channel_groups(model) if kind != "out"][1]
        emptied[0].weight.mul_(1e-6)  # every scale of one selection below the threshold: the floor must act
    r = _slim(model, 0.6)
    assert r.selections and (r.kept or name == "densenet40")  # DenseNet-40 layers have no bottleneck conv
    assert emptied[1] in r.info["floor"]  # ... and kept that selection's largest channel
    assert r.selections[emptied[1]] == [int(emptied[0].weight.abs().argmax())]
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
    assert reference_threshold(torch.tensor([3.0, 1.0, 2.0, 2.0]), 0.5) == 2.0


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
    with pytest.raises(PrunelabError, match="slimming needs BatchNorm groups to slim, which vgg, vgg-imagenet, preresnet, densenet models have"):
        _slim(build(resolve("resnet20", "cifar10"), seed=0), 0.5)
    with pytest.raises(PrunelabError, match="must be in \\(0, 1\\)"):
        methods.get("slimming").params({"target": 1.0})


# --- Sparse Structure Selection ---------------------------------------------------------------

def _mini_resnet():
    from prunelab.arch import ArchSpec

    blocks = lambda w: [{"w": [w], "select": None, "branch": True} for _ in range(3)]  # noqa: E731
    return ArchSpec.from_dict({"family": "resnet-imagenet", "name": "r-mini", "input_size": 32, "num_classes": 10,
                               "layout": {"block": "basic", "stem": 8, "planes": [8, 16],
                                          "stages": [blocks(8), blocks(16)]}})


def test_apg_drives_some_block_scales_to_exact_zero_and_sgd_none():
    """Block scales under a smooth loss whose minimiser with the L1 term is known: S_{lam/2}(t)."""
    from prunelab.methods.sss import APGScales, scales
    from prunelab.train.optim import soft_threshold

    sss = methods.get("sss")
    lam, t = 0.1, torch.tensor([0.02, 0.5, -0.01, 1.0, 0.03, -0.8])
    results = {}
    for name in ("apg", "sgd"):
        model = build(sss.train_spec(_mini_resnet(), sss.train_view({})), seed=0)
        gates = list(scales(model).values())
        hooks = APGScales(lam)
        recipe = Recipe(epochs=1, lr=0.01, momentum=0.9, weight_decay=1e-4, schedule="constant")
        groups = hooks.param_groups(model, recipe)
        assert groups[1]["weight_decay"] == 0.0 and len(groups[1]["params"]) == 6  # no weight decay on scales
        opt = hooks.optimizer(groups, recipe) if name == "apg" else torch.optim.SGD(gates, lr=0.1, momentum=0.9)
        for _ in range(400):
            for g, ti in zip(gates, t):
                g.grad = 2 * (g.detach() - ti).view(1)  # d/ds (s - t)^2
                if name == "sgd":
                    g.grad += lam * torch.sign(g.detach())  # the L1 term as a subgradient
            opt.step()
        results[name] = torch.cat([g.detach().view(1) for g in gates])
    want = soft_threshold(t, lam / 2)
    assert torch.equal(results["apg"] == 0, want == 0) and int((want == 0).sum()) == 3  # some, not all
    assert torch.allclose(results["apg"], want, atol=1e-5)
    assert not (results["sgd"] == 0).any()  # plain SGD at the same lam: none exactly zero

    # the blocks whose scale is zero lose their branch; the pruned model computes what the large one did
    model = randomise_bn(build(sss.train_spec(_mini_resnet(), sss.train_view({})), seed=0)).eval()
    with torch.no_grad():
        for g, v in zip(scales(model).values(), results["apg"]):
            g.fill_(float(v))
    r = sss.prune(model, sss.params({"lam": lam}), methods.PruneData("cifar10", 0))
    assert r.info["removed"] == ["layer1.0", "layer1.2", "layer2.1"]
    kept = [b["branch"] for st in r.model.arch_spec.layout["stages"] for b in st]
    assert kept == [False, True, False, True, False, True]
    assert not any("scale" in b for st in r.model.arch_spec.layout["stages"] for b in st)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert ((r.model.eval()(x) - model(x)).abs().max() / model(x).abs().max()).item() <= 1e-5
    assert count(r.model).params < count(model).params
    r.model.train()(x).square().mean().backward()  # the found model trains (fine-tune, scratch)
    assert all(p.grad is not None for p in r.model.parameters())


def test_sss_trains_its_scales_with_apg_in_the_engine():
    from prunelab.methods.sss import scales
    from prunelab.train.optim import SGDWithAPG

    sss = methods.get("sss")
    view = sss.train_view(sss.train_params(sss.params({"lam": 0.5})))
    model = build(sss.train_spec(_mini_resnet(), view), seed=0)
    data = load(DataSettings("synthetic", synthetic_size=(64, 32)))
    seen = []

    class Spy(type(sss.hooks(view))):
        def optimizer(self, groups, recipe):
            seen.append(super().optimizer(groups, recipe))
            return seen[-1]

    train(model, data, Recipe(epochs=3, batch_size=16, lr=0.1, weight_decay=1e-3), hooks=Spy(0.5))
    opt = seen[0]
    assert isinstance(opt, SGDWithAPG) and opt.param_groups[1]["l1"] == 0.5
    assert opt.param_groups[1]["weight_decay"] == 0.0 and opt.param_groups[0]["weight_decay"] == 1e-3
    assert all(float(g.detach()) < 0.9 for g in scales(model).values())  # the proximal L1 step pulled them down


# --- Soft Filter Pruning --------------------------------------------------------------------------

def test_sfp_zeroes_exactly_the_lowest_norm_filters_each_epoch_and_prunes_them():
    from prunelab.methods.sfp import SoftZero, lowest_filters, soft_pruned

    sfp = methods.get("sfp")
    spec = resolve("resnet20", "synthetic", width=0.5)
    model = build(spec, seed=0)
    def lowest_l2(conv, frac=0.3):  # computed here, independently of the method's code
        norms = conv.weight.detach().flatten(1).double().norm(dim=1)
        return sorted(torch.argsort(norms)[: int(conv.out_channels * frac)].tolist())

    with torch.no_grad():  # hand-set filters of known L2 norms, whose L1 order differs from their L2 order
        g = torch.Generator().manual_seed(0)
        order, l1_differs = {}, False
        for name, conv in soft_pruned(model, "all").items():
            vals = torch.randperm(conv.out_channels, generator=g).float() + 1
            conv.weight.zero_()
            for f, v in enumerate(vals):
                if f % 2:  # flat: L2 = v, L1 = v * sqrt(numel)
                    conv.weight[f] = v / conv.weight[f].numel() ** 0.5
                else:  # one spike: L2 = L1 = v
                    conv.weight[f].view(-1)[0] = v
            order[name] = sorted(torch.argsort(vals)[: int(conv.out_channels * 0.3)].tolist())
            assert lowest_l2(conv) == order[name]
            l1 = conv.weight.flatten(1).abs().sum(1)
            l1_differs |= sorted(torch.argsort(l1)[: len(order[name])].tolist()) != order[name]
        assert l1_differs  # an L1 criterion would zero other filters: the test tells the norms apart
    hooks = SoftZero(0.3, "all")
    hooks.after_epoch(model, 0)
    for name, conv in soft_pruned(model, "all").items():
        zero = (conv.weight.flatten(1).abs().sum(1) == 0).nonzero().flatten().tolist()
        assert zero == order[name], name  # exactly the int(C * 0.3) lowest-L2 filters

    class Record(SoftZero):  # which filters were lowest when each epoch ended, before zeroing
        def after_epoch(self, model, epoch):
            self.last = {n: lowest_l2(c, self.target) for n, c in soft_pruned(model, self.layers).items()}
            assert self.last == {n: lowest_filters(c, self.target) for n, c in soft_pruned(model, self.layers).items()}
            super().after_epoch(model, epoch)

    data = load(DataSettings("synthetic", synthetic_size=(64, 32)))
    rec = Record(0.3, "all")
    rec.prepare(model)
    train(model, data, Recipe(epochs=2, batch_size=16, lr=0.05), hooks=rec)
    for name, conv in soft_pruned(model, "all").items():
        zero = (conv.weight.flatten(1).abs().sum(1) == 0).nonzero().flatten().tolist()
        assert zero == rec.last[name], name
    before = {k: v.clone() for k, v in model.state_dict().items()}
    r = sfp.prune(model, sfp.params({"target": 0.3}), methods.PruneData("synthetic", 0))
    inner = set(r.kept)
    assert inner == {n for n in soft_pruned(model, "all") if n.endswith(".conv1") and n.startswith("layer")}
    for name in inner:  # physically removed: the surviving filters' weights are carried over
        conv = r.model.get_submodule(name)
        keep = sorted(set(range(model.get_submodule(name).out_channels)) - set(rec.last[name]))
        assert r.kept[name] == keep and conv.out_channels == len(keep)
        assert torch.equal(conv.weight, before[f"{name}.weight"][keep])
    # the rest stay as masks: the stem and each block's last conv (their outputs join the residual stream)
    assert set(r.masks) == {f"{n}.weight" for n in soft_pruned(model, "all") if n not in inner}
    for pname, m in r.masks.items():
        conv_name = pname[: -len(".weight")]
        assert (~m).flatten(1).all(1).nonzero().flatten().tolist() == rec.last[conv_name]
    c = count(r.model)
    assert c.macs_nonzero < c.macs < count(model).macs  # effective < physical < the large model's


def test_plan_of_the_paper_files_for_automatic_pruning(capsys):
    """Scratch-B's epochs are numbers where the architecture is fixed (SSS presets, SFP) and a rule
    where pruning finds it (slimming)."""
    import json
    from pathlib import Path

    from prunelab.cli import main

    root = Path(__file__).parents[1] / "experiments" / "paper"

    def rows(name):
        assert main(["plan", str(root / name), "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    sss = {r["arch"]: r["epochs"] for r in rows("table5-sss-imagenet.yaml") if r["regime"].startswith("scratch")}
    assert sss == {"resnet41-sss": 117, "resnet32-sss": 145, "resnet26-sss": 179}  # int(100 x MACs ratio)
    sfp = rows("sfp-cifar10.yaml")
    assert {r["epochs"] for r in sfp if r["regime"] == "scratch-b"} == {322, 321, 320}  # 200 x effective-MAC ratio
    # SFP reports its soft-pruned model without fine-tuning: the file's arm is `pruned` (0 epochs), no finetune
    assert {r["arch"] for r in sfp if r["regime"] == "pruned"} == {f"resnet{d}-sfp0.3" for d in (20, 32, 56, 110)}
    assert {r["epochs"] for r in sfp if r["regime"] == "pruned"} == {0} and not any(r["regime"] == "finetune"
                                                                                   for r in sfp)
    for name in ("table4-slimming-cifar10.yaml", "table4-slimming-cifar100.yaml", "table4-slimming-imagenet.yaml"):
        sb = [r for r in rows(name) if r["regime"] == "scratch-b"]
        assert sb and all(r["epochs"] is None and "MACs(found by slimming)" in r["rule"] for r in sb)
    base = [r for r in rows("table4-slimming-cifar10.yaml") if r["regime"] == "baseline"]
    assert len(base) == 15 and all(r["epochs"] == 160 for r in base)
    assert all(r["epochs"] == 100 for r in rows("table5-sss-imagenet.yaml") if r["regime"] == "scratch-e")


def test_small_sss_file_builds_its_resnet_from_a_spec_file(tmp_path, capsys):
    """The small Table 5 trains an ImageNet-layout ResNet given as a spec .json beside the experiment
    file; a spec made for other inputs is refused in one line."""
    import json
    from pathlib import Path

    from prunelab.cli import main

    small = Path(__file__).parents[1] / "experiments" / "small"
    assert main(["plan", str(small / "sss-fashion.yaml"), "--json", "--store", str(tmp_path / "s")]) == 0
    rows = json.loads(capsys.readouterr().out)
    base = [r for r in rows if r["regime"] == "baseline"]
    assert len(base) == 9 and {r["arch"] for r in base} == {"resnet20-imagenet-fashion-scaled"}
    sb = [r for r in rows if r["regime"] == "scratch-b"]
    assert len(sb) == 9 and all(r["epochs"] is None and "MACs(found by sss)" in r["rule"] for r in sb)
    assert main(["plan", str(small / "sss-fashion.yaml"), "--store", str(tmp_path / "s")]) == 0
    text = capsys.readouterr().out  # three settings of one method: each arm's row names its own
    assert all(text.count(f"[sss(lam={lam})]") == 9 for lam in (0.05, 0.2, 0.5))
    spec = json.loads((small / "resnet20-imagenet-fashion.json").read_text())
    (tmp_path / "cifar.json").write_text(json.dumps({**spec, "in_channels": 3, "input_size": 32}))
    (tmp_path / "e.yaml").write_text((small / "sss-fashion.yaml").read_text().replace(
        "resnet20-imagenet-fashion.json", "cifar.json"))
    assert main(["plan", str(tmp_path / "e.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is for 3-channel 32px inputs" in err and "fashion-mnist" in err


def test_sfp_grid_scratch_arms_carry_the_masks_and_the_planned_budget(tmp_path, capsys):
    import json

    from prunelab.cli import main
    from prunelab.runs import RunStore
    from prunelab.runs.grid import load_experiment, plan

    cfg = tmp_path / "sfp.yaml"
    cfg.write_text("""
name: tiny-sfp
dataset: synthetic
data: {synthetic_size: [64, 32]}
models:
  - {arch: resnet20, width: 0.25, targets: [0.3]}
prune: {method: sfp}
seeds: [0]
recipe: {epochs: 2, batch_size: 32, lr: 0.05, nesterov: true, weight_decay: 5.0e-4}
finetune: {epochs: 1, lr: 0.001, schedule: constant}
""")
    store = tmp_path / "store"
    assert main(["run", str(cfg), "--store", str(store), "--quiet", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "sfp(target=0.3" not in out and "Method: sfp." in out and "removed_filters" in out
    grid = plan(load_experiment(cfg))
    (found,) = [json.loads(p.read_text()) for p in (store / "pruned").glob("*.json")]
    for r in grid.runs[1:]:
        res = RunStore(store).result(r.settings)
        assert r.settings.arch == found["spec"]
        assert res["macs_nonzero"] == pytest.approx(found["macs_nonzero"]) and res["macs_nonzero"] < res["macs"]
        if r.regime == "scratch-b":  # the planned budget equals what the prune step measured
            assert r.budget.macs_pruned == pytest.approx(found["macs_nonzero"])
        if r.regime != "finetune":
            assert r.settings.init == {"kind": "random", "masks": r.prune.id}


def test_slimming_grid_reports_its_prune_steps(tmp_path, capsys):
    from prunelab.cli import main

    cfg = tmp_path / "slim.yaml"
    cfg.write_text("""
name: tiny-slim
dataset: synthetic
data: {synthetic_size: [256, 32]}
models:
  - {arch: vgg11, width: 0.125, targets: [0.5]}
prune: [{method: slimming, lam: 1.0e-2}, {method: slimming, lam: 0.0}]
seeds: [0, 1]
recipe: {epochs: 2, batch_size: 32, lr: 0.1}
finetune: {epochs: 1, lr: 0.001, schedule: constant}
""")
    store = tmp_path / "store"
    assert main(["run", str(cfg), "--store", str(store), "--quiet", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "| Method |" in out and "slimming(lam=0.01)" in out and "slimming(lam=0.0)" in out
    lines = [ln for ln in out.splitlines() if ln.startswith("- synthetic vgg11-w0.125: slimming(")]
    assert len(lines) == 2 and all("|gammas| median" in ln and "floor acted:" in ln for ln in lines)
    import re

    med = {re.search(r"lam=([0-9.]+)\)", ln).group(1): float(re.search(r"\|gammas\| median ([0-9.e-]+)", ln).group(1))
           for ln in lines}
    assert med["0.01"] < med["0.0"]  # the L1 term made the scales smaller
    assert main(["report", str(store), "--plot", str(tmp_path / "r.png")]) == 0
    assert (tmp_path / "r-prune.png").read_bytes()[:4] == b"\x89PNG"
