"""Pruning as architecture search (paper Section 5): uniform and guided architectures, patterns,
their transfer, guided sparsification, and the uniform / random-widths / guided methods."""
import json
from pathlib import Path

import pytest
import torch

from prunelab import methods
from prunelab.arch import build, prunable_widths, resolve, with_widths
from prunelab.cli import main
from prunelab.errors import PrunelabError
from prunelab.methods import PruneData
from prunelab.runs.grid import load_experiment, plan
from prunelab.search import (average, channels, guided, load_pattern, pattern, ratios_for, save_pattern, size,
                             sparsify, sparsity_pattern, uniform, units)
from prunelab.search.pattern import fit_guided

from helpers import randomise_bn

ROOT = Path(__file__).resolve().parents[1]


def _near(a, b, tol=0.02):
    return abs(a - b) <= tol * b


def slimming_like_vgg(width=0.25, keep_early=0.9, keep_late=0.2, depth=19, dataset="cifar10"):
    """A VGG pruned unevenly, as Network Slimming prunes it: early layers kept, late ones cut."""
    base = resolve(f"vgg{depth}", dataset, width=width)
    ws = prunable_widths(base)
    cut = {k: max(1, int(v * (keep_early if i < len(ws) // 2 else keep_late))) for i, (k, v) in enumerate(ws.items())}
    return base, with_widths(base, cut, name=f"{base.name}-slimlike")


def pruned_preresnet(width=0.25):
    """A PreResNet with pruned widths and input selections (as slimming leaves it)."""
    base = resolve("preresnet56", "cifar10", width=width)
    ws = prunable_widths(base)
    cut = {k: max(1, v // (2 + i % 3)) for i, (k, v) in enumerate(ws.items())}
    blocks = [u.key for u in units(base) if u.role == "select"]
    sels = {b: list(range(0, channels(base)[b][1], 2)) for b in blocks[::2]}
    return base, with_widths(base, cut, name="preresnet56-pruned", selections=sels)


def pruned_densenet(width=0.25):
    base = resolve("densenet40", "cifar10", width=width)
    sels = {u.key: list(range(1, channels(base)[u.key][1], 3)) for u in units(base)[5::2]}
    return base, with_widths(base, {}, name="densenet40-pruned", selections=sels)


@pytest.mark.parametrize("make", [slimming_like_vgg, pruned_preresnet, pruned_densenet,
                                  lambda: slimming_like_vgg(0.125, 0.5, 0.5, depth=11)])
def test_uniform_has_the_params_of_a_pruned_net(make):
    base, pruned = make()
    u = uniform(base, size(pruned))
    assert _near(size(u), size(pruned)) and u.family == base.family
    assert size(u) < size(base) and u.name == f"{base.name}-uniform"
    # uniform: every width of the base by one factor, up to rounding and single-channel moves
    ratios = [k / n for (k, _), (n, _) in zip(channels(u).values(), channels(base).values()) if _ is None]
    if ratios:
        assert max(ratios) - min(ratios) < 0.35


def test_uniform_by_macs_resnet_and_imagenet():
    base = resolve("resnet20", "cifar10", width=0.25)
    for frac in (0.3, 0.6):
        u = uniform(base, frac * size(base, "macs"), by="macs")
        assert _near(size(u, "macs"), frac * size(base, "macs"))
    for name in ("resnet18", "vgg11"):
        big = resolve(name, "imagenet")
        u = uniform(big, 0.5 * size(big))
        assert _near(size(u), 0.5 * size(big))
        if big.family == "resnet-imagenet":  # the branch widths scale, the streams stay
            assert u.layout["planes"] == big.layout["planes"]


def test_uniform_refuses_what_it_cannot_reach():
    base = resolve("vgg11", "cifar10", width=0.125)
    with pytest.raises(PrunelabError, match="closest"):
        uniform(base, 50)
    with pytest.raises(PrunelabError, match="positive"):
        uniform(base, -3)
    with pytest.raises(PrunelabError, match="params or macs"):
        uniform(base, 1000, by="flops")


def test_guided_follows_the_pattern_within_one_channel():
    base, pruned = slimming_like_vgg()
    p = pattern(pruned, base, "layer")
    assert p["ratios"]["features.0"] == pytest.approx(prunable_widths(pruned)["features.0"] / 16)
    for frac in (0.2, 0.5):
        spec, g, ratios = fit_guided(base, p, frac * size(base))
        assert _near(size(spec), frac * size(base))
        full, got = prunable_widths(base), prunable_widths(spec)
        assert all(abs(got[k] - max(1, round(full[k] * ratios[k] * g))) <= 1 for k in full)
    # stage level: one ratio per stage between max-pools
    s = pattern(pruned, base, "stage")
    assert len(s["ratios"]["width"]) == 5 and s["ratios"]["width"][0] > s["ratios"]["width"][4]
    spec = guided(base, s, 0.3 * size(base))
    assert _near(size(spec), 0.3 * size(base))
    cfg = [v for v in spec.layout["cfg"]]
    assert cfg[0] == cfg[1]  # one width per stage


def test_guided_preresnet_with_selections_and_densenet():
    base, pruned = pruned_preresnet()
    p = pattern(pruned, base, "layer")
    assert p["ratios"]["layer1.0"] == pytest.approx(0.5, abs=0.05)  # a selection's kept ratio
    spec = guided(base, p, 0.4 * size(base))
    assert _near(size(spec), 0.4 * size(base))
    dbase, dpruned = pruned_densenet()
    spec = guided(dbase, pattern(dpruned, dbase, "stage"), 0.7 * size(dbase))
    assert _near(size(spec), 0.7 * size(dbase))


def test_transfer_vgg19_cifar10_pattern_to_vgg16_cifar100():
    base19, pruned19 = slimming_like_vgg()
    base16 = resolve("vgg16", "cifar100", width=0.25)
    layer = pattern(pruned19, base19, "layer")
    r = ratios_for(layer, base16)
    # VGG-16's third stage has 3 convs, VGG-19's 4: relative positions 1/6, 1/2, 5/6 -> convs 0, 2, 3
    s19 = [u.key for u in units(base19) if u.stage == 2]
    s16 = [u.key for u in units(base16) if u.stage == 2]
    assert [r[k] for k in s16] == [layer["ratios"][s19[i]] for i in (0, 2, 3)]
    for p in (layer, pattern(pruned19, base19, "stage")):
        spec = guided(base16, p, 0.3 * size(base16))
        assert _near(size(spec), 0.3 * size(base16)) and spec.num_classes == 100
    with pytest.raises(PrunelabError, match="cannot guide"):
        ratios_for(layer, resolve("resnet20", "cifar10"))
    p56 = pattern(*pruned_preresnet()[::-1])
    with pytest.raises(PrunelabError, match="stages"):
        ratios_for(p56, _two_stage_preresnet())


def _two_stage_preresnet():
    spec = resolve("preresnet20", "cifar10")
    L = {**spec.layout, "planes": spec.layout["planes"][:2], "blocks": spec.layout["blocks"][:2]}
    return spec.replace(layout=L)


def test_pattern_file_round_trip_average_and_errors(tmp_path):
    base, a = slimming_like_vgg()
    _, b = slimming_like_vgg(keep_early=0.7, keep_late=0.4)
    pa, pb = pattern(a, base), pattern(b, base)
    mean = average([pa, pb])
    k = "features.0"
    assert mean["ratios"][k] == pytest.approx((pa["ratios"][k] + pb["ratios"][k]) / 2)
    save_pattern(mean, tmp_path / "p.json")
    assert load_pattern(tmp_path / "p.json") == json.loads(json.dumps(mean))
    with pytest.raises(PrunelabError, match="not found"):
        load_pattern(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"level": "layer"}')
    with pytest.raises(PrunelabError, match="needs"):
        load_pattern(tmp_path / "bad.json")
    with pytest.raises(PrunelabError, match="does not match"):
        average([pa, pattern(a, base, "stage")])
    with pytest.raises(PrunelabError, match="not a pruned"):
        pattern(resolve("vgg16", "cifar10"), base)


def test_sparsity_pattern_guides_another_depth():
    small = build(resolve("vgg11", "cifar10", width=0.125), seed=0)
    magnitude = methods.get("magnitude")
    r = magnitude.prune(small, magnitude.params({"target": 0.7, "scope": "layerwise"}), PruneData("cifar10"))
    p = sparsity_pattern(r.masks, "vgg11-mag0.7")
    other = build(resolve("vgg13", "cifar10", width=0.125), seed=1)
    masks = sparsify(other, p)
    assert len(masks) == sum(1 for m in other.modules() if isinstance(m, torch.nn.Conv2d))
    for m in masks.values():
        assert m.float().mean().item() == pytest.approx(0.3, abs=0.03)
    same = sparsify(small, p, rule="random", gen=torch.Generator().manual_seed(0))
    assert {k: int(v.sum()) for k, v in same.items()} == {k: int(v.sum()) for k, v in r.masks.items()}


# --- methods --------------------------------------------------------------------------------
GRID = """
name: search-grid
dataset: synthetic
data: {synthetic_size: [96, 64]}
models:
  - {arch: vgg11, width: 0.125, targets: [0.5]}
prune: PRUNE
regimes: REGIMES
seeds: [0, 1]
recipe: {epochs: 2, batch_size: 32, lr: 0.05}
finetune: {epochs: 1, lr: 0.001, schedule: constant}
"""
SLIM = "{method: slimming, lam: 1.0e-3}"


def _plan(tmp_path, prune, regimes="[scratch-e, scratch-b]", name="g.yaml"):
    f = tmp_path / name
    f.write_text(GRID.replace("PRUNE", prune).replace("REGIMES", regimes))
    return plan(load_experiment(f))


def _baselines(grid):
    return sorted(r.baseline.run_id() for r in grid.runs)


def test_wrappers_share_the_inner_methods_large_model(tmp_path):
    slim = _plan(tmp_path, SLIM)
    uni = _plan(tmp_path, f"[{SLIM}, {{method: uniform, of: {SLIM}}}]", name="u.yaml")
    rand = _plan(tmp_path, f"{{method: random-widths, of: {SLIM}}}", "[finetune]", name="r.yaml")
    assert {r.baseline.run_id() for r in uni.runs} == {r.baseline.run_id() for r in slim.runs}
    assert {r.baseline.run_id() for r in rand.runs} == {r.baseline.run_id() for r in slim.runs}
    assert all(r.baseline.method == {"name": "slimming", "params": {"lam": 1e-3}} for r in uni.runs)
    labels = {r.labels.get("method") for r in uni.runs if r.regime != "baseline"}
    assert labels == {"slimming(lam=0.001)", "uniform(slimming(lam=0.001))"}
    # the inner method's architecture is found per seed, so the uniform one is too
    assert all(r.settings is None for r in uni.runs if r.regime != "baseline")
    # with a planned inner method, the uniform architecture is planned (and has its params)
    l1 = _plan(tmp_path, "{method: uniform, of: {method: l1-norm}}", name="l1.yaml")
    arm = next(r for r in l1.runs if r.regime == "scratch-e")
    l1_spec = methods.get("l1-norm").planned_spec(resolve("vgg11", "synthetic", width=0.125),
                                                   methods.get("l1-norm").params({"target": 0.5}), "synthetic")
    from prunelab.arch import ArchSpec
    assert _near(size(ArchSpec.from_dict(arm.settings.arch)), size(l1_spec))
    with pytest.raises(PrunelabError, match="finetune"):
        _plan(tmp_path, f"{{method: uniform, of: {SLIM}}}", "[finetune]", name="bad.yaml")
    mag = _plan(tmp_path, "{method: uniform, of: {method: magnitude}}", name="mag.yaml")  # masks: found per seed
    assert all(r.settings is None and r.arm.method.masked(r.arm.params) for r in mag.runs if r.regime != "baseline")


def test_random_widths_keeps_widths_not_channels():
    base = resolve("preresnet11", "cifar10", width=0.25)
    model = randomise_bn(build(base, seed=0), seed=3)
    rw = methods.get("random-widths")
    params = rw.params({"of": {"method": "slimming"}, "target": 0.4})
    found = methods.get("slimming").prune(model, methods.get("slimming").params({"target": 0.4}), PruneData("cifar10"))
    got = rw.prune(model, params, PruneData("cifar10", seed=0))
    methods.check_result(rw, model, got, None)
    assert {k: c[0] for k, c in channels(got.spec).items()} == {k: c[0] for k, c in channels(found.spec).items()}
    assert found.selections and set(got.selections) == set(found.selections)
    assert {k: len(v) for k, v in got.kept.items()} == {k: len(v) for k, v in found.kept.items()}
    assert got.kept != found.kept or got.selections != found.selections
    again = rw.prune(model, params, PruneData("cifar10", seed=0))
    assert again.kept == got.kept  # seeded
    l1 = rw.params({"of": {"method": "l1-norm"}, "target": 0.5})
    vgg = resolve("vgg11", "cifar10", width=0.125)
    assert rw.planned_spec(vgg, l1, "cifar10") == rw.prune(build(vgg, seed=0), l1, PruneData("cifar10")).spec


def test_uniform_method_prunes_to_equal_params():
    base = resolve("vgg11", "cifar10", width=0.25)
    model = randomise_bn(build(base, seed=0), seed=1)
    um = methods.get("uniform")
    params = um.params({"of": {"method": "slimming"}, "target": 0.6})
    r = um.prune(model, params, PruneData("cifar10"))
    found = methods.get("slimming").prune(model, methods.get("slimming").params({"target": 0.6}), PruneData("cifar10"))
    assert _near(size(r.spec), size(found.spec)) and r.spec.name == f"{found.spec.name}-uniform"
    assert um.label(base, params, "cifar10") == "vgg11-w0.25-slim0.6-uniform"


def test_guided_identity_follows_pattern_content(tmp_path):
    base, pruned = slimming_like_vgg(0.125, depth=11)
    f = tmp_path / "p.json"

    def ids():
        grid = _plan(tmp_path, f"{{method: guided, pattern: {f}}}", name="guided.yaml")
        return [r.settings.run_id() for r in grid.runs if r.regime != "baseline"]

    save_pattern(pattern(pruned, base, "stage"), f)
    a = ids()
    save_pattern(pattern(pruned, base, "stage"), f)
    assert ids() == a
    _, other = slimming_like_vgg(0.125, keep_late=0.5, depth=11)
    save_pattern(pattern(other, base, "stage"), f)
    assert ids() != a
    g = methods.get("guided")
    p = g.params({"pattern": str(f), "target": 0.4})
    assert isinstance(p.pattern, dict) and g.params(dict(pattern=p.pattern, target=0.4)) == p


@pytest.mark.parametrize("prune,msg", [
    ("{method: uniform}", "name the inner method"),
    ("{method: uniform, of: {method: uniform}}", "itself derived"),
    ("{method: uniform, of: {method: nope}}", "unknown method"),
    ("{method: uniform, of: {method: slimming, lamb: 1}}", "unknown key 'lamb'"),
    ("{method: uniform, of: {method: slimming}, by: flops}", "params or macs"),
    ("{method: random-widths, of: {method: slimming}, by: macs}", "unknown key 'by'"),
    ("{method: uniform, of: {method: slimming, target: 0.3}}", "beside 'of'"),
    ("{method: guided, pattern: /nonexistent/p.json}", "pattern file not found"),
    ("{method: guided}", "pattern"),
])
def test_bad_method_parameters_are_one_line(tmp_path, prune, msg):
    with pytest.raises(PrunelabError, match=msg) as e:
        _plan(tmp_path, prune)
    assert "\n" not in str(e.value)


# --- command line, plots, experiment files ------------------------------------------------------
def test_pattern_and_arch_commands(tmp_path, capsys):
    out, png = tmp_path / "p.json", tmp_path / "p.png"
    assert main(["pattern", "vgg16-A", "vgg16-A", "--base", "vgg16", "--level", "stage", "--out", str(out),
                 "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert "stage 1 width" in text and "0.750" in text and png.stat().st_size > 1000
    assert load_pattern(out)["ratios"]["width"] == [0.75, 1.0, 1.0, 0.5, 0.5]
    assert main(["arch", "vgg16", "--dataset", "cifar100", "--guided-params", "0.3", "--pattern", str(out),
                 "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert _near(info["params"], 0.3 * size(resolve("vgg16", "cifar100")))
    assert main(["arch", "resnet56", "--uniform-params", "400000", "--json"]) == 0
    assert _near(json.loads(capsys.readouterr().out)["params"], 400000)
    for argv in (["pattern", "resnet56-B", "--base", "vgg16"], ["pattern", "x.json", "--base", "vgg16"],
                 ["pattern", "", "--base", "vgg16"], ["pattern", "vgg16-A", "--base", "vgg16", "--width", "0"],
                 ["arch", "vgg16", "--pattern", str(out)], ["arch", "vgg16", "--uniform-params", "10"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error" in err


def test_pattern_where_picks_the_prune_steps_of_one_setting(tmp_path, capsys):
    import prunelab

    base = resolve("vgg11", "cifar10", width=0.125)
    for name, keep, step in (("a", 0.5, {"method": "slimming", "params": {"lam": 0.02}, "seed": 0}),
                             ("b", 0.3, {"method": "slimming", "params": {"lam": 0.02, "target": 0.7}, "seed": 0}),
                             ("c", 0.9, {"method": "slimming", "params": {"lam": 0.0}, "seed": 1})):
        spec = with_widths(base, {k: max(1, int(v * keep)) for k, v in prunable_widths(base).items()}, name=name)
        prunelab.save(build(spec, seed=0), tmp_path / f"{name}.pt")
        (tmp_path / f"{name}.json").write_text(json.dumps({"prune": step}))
    files = [str(tmp_path / f"{n}.pt") for n in "abc"]
    for where, picked in ((["lam=0.02"], "a, b"), (["lam=2e-2", "target=0.5"], "a"),  # target: the default
                          (["seed=1"], "c"), (["method=slimming", "target=0.7"], "b")):
        argv = ["pattern", *files, "--base", "vgg11", "--width", "0.125"] + [a for w in where for a in ("--where", w)]
        assert main(argv) == 0
        out = capsys.readouterr().out.splitlines()[0]
        assert (out.startswith(f"mean of {len(picked.split(', '))}: {picked} over") if "," in picked
                else out.startswith(f"{picked} over")), out
    (tmp_path / "d.pt").write_bytes((tmp_path / "a.pt").read_bytes())  # no .json beside it
    for where in (["lam=7"], ["lam"], ["=1"], ["lam=[1"], ["seed=true"]):  # (True is not seed 1)
        assert main(["pattern", *files, "--base", "vgg11", "--width", "0.125", "--where", *where]) == 2
    assert main(["pattern", str(tmp_path / "d.pt"), "--base", "vgg11", "--width", "0.125", "--where", "lam=0"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 6 and all("error" in line for line in err) and "has none" in err[-1]


def test_parameter_efficiency_plot(tmp_path):
    from prunelab.report import plot_efficiency

    def row(method, params, acc):
        arm = {"n": 3, "mean": acc, "std": 0.01}
        return {"experiment": "e", "model": "vgg19", "method": method, "pruned": method,
                "pruned_params": {"n": 3, "mean": params, "std": 0.0}, "arms": {"scratch-e": arm, "scratch-b": arm}}

    rows = [row("slimming", 2e6, 0.93), row("slimming", 1e6, 0.92), row("uniform(slimming)", 2e6, 0.92),
            row("uniform(slimming)", 1e6, 0.9)]
    assert plot_efficiency(rows, tmp_path / "e.png").stat().st_size > 1000
    assert plot_efficiency(rows[:2], tmp_path / "none.png") is None


@pytest.mark.parametrize("name", ["paper/search-cifar10.yaml", "paper/search-cifar100.yaml",
                                  "paper/guided-cifar10.yaml", "paper/guided-transfer-cifar100.yaml",
                                  "small/search-fashion.yaml", "small/guided-fashion.yaml",
                                  "small/guided-transfer-fashion.yaml"])
def test_search_experiment_files_compare_with_uniform(name, tmp_path, monkeypatch):
    from helpers import fake_guided_patterns

    monkeypatch.chdir(tmp_path)  # guided files read their pattern (made by prunelab pattern) from here
    fake_guided_patterns(tmp_path)
    grid = plan(load_experiment(ROOT / "experiments" / name))
    methods_seen = {r.labels.get("method", "").split("(")[0] for r in grid.runs if r.regime != "baseline"}
    assert "uniform" in methods_seen and methods_seen - {"uniform"} & {"slimming", "guided"}
    assert {r.regime for r in grid.runs} - {"baseline"} <= {"scratch-e", "scratch-b"}  # architectures: scratch only


def test_uniform_and_random_widths_run_through_a_grid(tmp_path, capsys):
    from prunelab.arch import ArchSpec
    from prunelab.runs import RunStore
    from prunelab.runs.grid import run_grid

    text = GRID.replace("seeds: [0, 1]", "seeds: [0]").replace("epochs: 2,", "epochs: 1,")
    f = tmp_path / "run.yaml"
    f.write_text(text.replace("PRUNE", f"[{SLIM}, {{method: uniform, of: {SLIM}}}]").replace("REGIMES", "[scratch-e]"))
    grid = plan(load_experiment(f))
    store = RunStore(tmp_path / "store")
    out = run_grid(grid, store, progress=False)
    assert len(out.trained) == 3 and len(out.pruned) == 2  # one shared baseline, two prune steps
    slim, uni = (ArchSpec.from_dict(r.settings.arch) for r in grid.runs if r.regime == "scratch-e")
    assert uni.name == f"{slim.name}-uniform" and _near(size(uni), size(slim))
    capsys.readouterr()
    assert main(["report", str(tmp_path / "store"), "--plot", str(tmp_path / "r.png")]) == 0
    section = capsys.readouterr().out.split("against its paired control")[1].split("\n\n")[1]
    runs = {r.labels["pruned"]: store.result(r.settings)["final_top1"] for r in grid.runs if r.regime == "scratch-e"}
    (pruned, top1), (_, top1_uniform) = sorted(runs.items())
    method = next(r.labels["method"] for r in grid.runs if r.labels.get("pruned") == pruned)
    assert section.splitlines() == [  # one seed: no p-value, said plainly; two methods: each line names its own
        f"- {pruned} [{method}], Scratch-E: pruned − uniform: {100 * (top1 - top1_uniform):+.2f} points "
        "(n = 1: noise cannot be estimated)"]
    assert (tmp_path / "r-params.png").stat().st_size > 1000  # accuracy against params: pruned vs uniform
    f.write_text(text.replace("PRUNE", f"{{method: random-widths, of: {SLIM}}}").replace("REGIMES", "[finetune]"))
    out = run_grid(plan(load_experiment(f)), store, progress=False)
    assert len(out.trained) == 1 and len(out.reused) == 1  # the baseline is reused


def test_wrappers_of_an_unstructured_method():
    model = build(resolve("vgg11", "cifar10", width=0.125), seed=0)
    inner = methods.get("magnitude")
    found = inner.prune(model, inner.params({"target": 0.8}), PruneData("cifar10")).masks
    dens = {k: m.float().mean().item() for k, m in found.items()}
    overall = sum(int(m.sum()) for m in found.values()) / sum(m.numel() for m in found.values())
    um, rw = methods.get("uniform"), methods.get("random-widths")
    p = um.params({"of": {"method": "magnitude"}, "target": 0.8})
    assert um.kind == "unstructured" and um.masked(p)
    u = um.prune(build(resolve("vgg11", "cifar10", width=0.125), seed=0), p, PruneData("cifar10"))
    methods.check_result(um, model, u, None)
    assert max(dens.values()) - min(dens.values()) > 0.1  # global magnitude: uneven layers
    assert all(m.float().mean().item() == pytest.approx(overall, abs=0.01) for m in u.masks.values())
    r = rw.prune(build(resolve("vgg11", "cifar10", width=0.125), seed=0),
                 rw.params({"of": {"method": "magnitude"}, "target": 0.8}), PruneData("cifar10"))
    assert {k: int(m.sum()) for k, m in r.masks.items()} == {k: int(m.sum()) for k, m in found.items()}
    assert any(not torch.equal(r.masks[k], found[k]) for k in found)


def test_guided_sparsification_from_a_masked_model_file(tmp_path, capsys):
    import prunelab

    small = build(resolve("vgg11", "cifar10", width=0.125), seed=0)
    mag = methods.get("magnitude")
    masked = mag.prune(small, mag.params({"target": 0.7}), PruneData("cifar10")).model
    prunelab.save(masked, tmp_path / "m.pt")
    out = tmp_path / "s.json"
    assert main(["pattern", str(tmp_path / "m.pt"), "--base", "vgg11", "--out", str(out)]) == 0
    assert "density of each masked weight" in capsys.readouterr().out
    g = methods.get("guided")
    params = g.params({"pattern": str(out), "target": 0.2})
    assert g.kind == "unstructured" and g.planned_spec(small.arch_spec, params, "cifar10") is None
    other = build(resolve("vgg13", "cifar10", width=0.125), seed=1)
    r = g.prune(other, params, PruneData("cifar10"))
    methods.check_result(g, other, r, None)
    dens = [m.float().mean().item() for m in r.masks.values()]
    kept = sum(int(m.sum()) for m in r.masks.values()) / sum(m.numel() for m in r.masks.values())
    assert kept == pytest.approx(0.2, abs=0.01) and max(dens) - min(dens) > 0.05  # the pattern's unevenness
    grid = _plan(tmp_path, f"{{method: guided, pattern: {out}}}", name="gs.yaml")
    assert all(r.settings is None and r.arm.method.masked(r.arm.params) for r in grid.runs if r.regime != "baseline")
    with pytest.raises(PrunelabError, match="level"):
        g.params({"pattern": str(out), "level": "stage"})
