"""The method core: plug-in methods, run identity, architectures found per seed, masks, regimes,
statistics, and the defects issue 9 names."""
import json
import os
import time
from pathlib import Path

import pytest
import torch
from scipy import stats as st

import prunelab
from prunelab import methods
from prunelab.arch import build, resolve
from prunelab.cli import main
from prunelab.data import DataSettings, load
from prunelab.errors import PrunelabError
from prunelab.measure import count
from prunelab.protocol import REGIMES, Regime, register_regime
from prunelab.report import aggregate, compare, markdown
from prunelab.runs import RunSettings, RunStore, execute
from prunelab.cli.plan_rows import plan_rows
from prunelab.runs.grid import load_experiment, plan
from prunelab.train import Recipe, train

GRID = """
name: plugin-grid
dataset: synthetic
data: {synthetic_size: [96, 64]}
models:
  - {arch: vgg11, width: 0.125, targets: [0.5]}
prune: {method: "plugin_slim:BNSlim", lam: 0.001}
seeds: [0, 1]
recipe: {epochs: 2, batch_size: 32, lr: 0.05}
finetune: {epochs: 1, lr: 0.001, schedule: constant}
"""


def _grid(tmp_path, text=GRID, name="grid.yaml"):
    cfg = tmp_path / name
    cfg.write_text(text)
    return cfg


def _mtimes(store: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in store.rglob("*") if p.is_file() and p.suffix in (".json", ".pt")}


def test_plugin_method_through_a_grid_with_hooks_and_found_architectures(tmp_path, capsys, monkeypatch):
    import plugin_slim

    trained = []  # the run each call of the plug-in's sparsity hook came from (its model's spec name)
    hook = plugin_slim.BNL1.after_backward
    monkeypatch.setattr(plugin_slim.BNL1, "after_backward",
                        lambda self, model: (trained.append(model.arch_spec.name), hook(self, model))[1])
    cfg = _grid(tmp_path)
    store = tmp_path / "store"
    assert main(["plan", str(cfg), "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "Scratch-B: int(2 * MACs(vgg11-w0.125) / MACs(found by plugin_slim:BNSlim))" in out
    assert out.count("waiting") == 6 and "found: vgg11-w0.125-plugin_slim:BNSlim-0.5" in out

    assert main(["run", str(cfg), "--store", str(store), "--quiet", "--device", "cpu"]) == 0
    table = capsys.readouterr().out
    assert "Fine-tuned" in table and "missing" not in table and "Method: plugin_slim:BNSlim(lam=0.001) @sha256:" in table
    assert trained and set(trained) == {"vgg11-w0.125"}  # the hook acted on the large models, and only there

    grid = plan(load_experiment(cfg))
    rows = plan_rows(grid, RunStore(store))
    assert all(r["state"] == "finished" for r in rows) and len(rows) == 8
    base = [r for r in grid.runs if r.regime == "baseline"]
    # the large model is named by the plug-in's code too (the hash of its source: its hooks trained it)
    assert all(r.settings.method == {"name": "plugin_slim:BNSlim", "params": {"lam": 0.001},
                                     "code": methods.get("plugin_slim:BNSlim").code(None)} for r in base)
    assert base[0].settings.method["code"].startswith("sha256:")
    for seed in (0, 1):  # Scratch-E/B of seed s train exactly the architecture seed s's pruning found
        found = json.loads(next((store / "pruned").glob(f"plugin_slim_BNSlim-s{seed}-*.json")).read_text())
        arms = [r for r in grid.runs if r.seed == seed and r.regime != "baseline"]
        assert {r.regime for r in arms} == {"finetune", "scratch-e", "scratch-b"}
        for r in arms:
            assert r.settings.arch == found["spec"], r.regime
        sb = next(r for r in arms if r.regime == "scratch-b")
        macs_base = count(build(resolve("vgg11", "synthetic", width=0.125), device="meta")).macs
        assert sb.settings.recipe.epochs == int(2 * macs_base / found["macs"])
    # the baseline keeps its initial weights; they are those of build(spec, seed)
    b0 = base[0]
    init = prunelab.load(store / b0.settings.run_id() / "init.pt")
    fresh = build(resolve("vgg11", "synthetic", width=0.125), seed=0)
    assert all(torch.equal(a, b) for a, b in zip(init.state_dict().values(), fresh.state_dict().values()))

    assert main(["report", str(store)]) == 0
    report = capsys.readouterr().out
    assert "± " in report.split("Size and compute")[1]  # found params differ per seed: mean ± std
    before = _mtimes(store)
    assert main(["run", str(cfg), "--store", str(store), "--quiet", "--device", "cpu"]) == 0
    assert _mtimes(store) == before  # re-running reruns nothing


def test_hooks_of_the_method_act_on_the_large_model():
    from plugin_slim import BNL1

    data = load(DataSettings("synthetic", synthetic_size=(64, 32)))
    gammas = []
    for lam in (0.0, 0.05):
        model = build(resolve("vgg11", "synthetic", width=0.125), seed=0)
        train(model, data, Recipe(epochs=2, batch_size=16, lr=0.05), hooks=BNL1(lam))
        gammas.append(torch.cat([m.weight.detach().abs() for m in model.modules()
                                 if isinstance(m, torch.nn.BatchNorm2d)]))
    # lr x lam x 8 steps = 0.02 without momentum: every scale shrank by about that or more
    assert (gammas[0] - gammas[1]).min() > 0.015


def test_identity_follows_method_parameters_not_cosmetic_labels(tmp_path):
    def ids(text):
        grid = plan(load_experiment(_grid(tmp_path, text, name=f"g{time.monotonic_ns()}.yaml")))
        return [(r.regime, r.seed, r.settings.run_id() if r.settings else r.prune.id) for r in grid.runs]

    ref = ids(GRID)
    assert ids(GRID.replace("name: plugin-grid", "name: renamed\ndescription: other words")) == ref
    # a prune-only parameter: the large models are shared, every arm is new
    changed = ids(GRID.replace("targets: [0.5]", "targets: [0.6]"))
    for (regime, seed, a), (_, _, b) in zip(ref, changed):
        assert (a == b) == (regime == "baseline"), (regime, seed)
    # a training parameter of the large model: everything is new
    changed = ids(GRID.replace("lam: 0.001", "lam: 0.002"))
    assert all(a != b for (_, _, a), (_, _, b) in zip(ref, changed))
    # an L1-norm grid: Scratch-E/B do not depend on the selection; Fine-tuned does
    l1 = GRID.replace('prune: {method: "plugin_slim:BNSlim", lam: 0.001}', "prune: {method: l1-norm}")
    a, b = ids(l1), ids(l1.replace("prune: {method: l1-norm}", "prune: {method: random}"))
    for (regime, seed, x), (_, _, y) in zip(a, b):
        assert (x == y) == (regime != "finetune"), regime


def test_golden_run_id():
    s = RunSettings(arch=resolve("vgg11", "synthetic", width=0.125).to_dict(),
                    data=DataSettings("synthetic", synthetic_size=(96, 64)),
                    recipe=Recipe(epochs=2, batch_size=32, lr=0.05), seed=1, labels={"experiment": "any"})
    # a change here renames every run in every store: only ever on purpose
    assert s.run_id() == "vgg11-w0.125-random-e2-s1-" + s.run_id()[-12:]
    assert s.run_id() == GOLDEN
    same = RunSettings(arch=s.arch, data=s.data, recipe=Recipe(epochs=2, batch_size=32, lr=0.05, gamma=0.1),
                       seed=1)  # defaults spelled out: the same run
    assert same.run_id() == s.run_id()
    assert RunSettings(arch=s.arch, data=s.data, recipe=Recipe(epochs=2, batch_size=32, lr=1), seed=1).run_id() == \
        RunSettings(arch=s.arch, data=s.data, recipe=Recipe(epochs=2, batch_size=32, lr=1.0), seed=1).run_id()


GOLDEN = "vgg11-w0.125-random-e2-s1-552bb9197d9d"  # prunelab 0.3.0 (0.2.0: ...-284af0aa07a9)


def test_method_registry_and_errors(monkeypatch):
    assert {"l1-norm", "l2-norm", "random", "smallest"} <= set(methods.known())
    with pytest.raises(PrunelabError, match="unknown method 'nope' \\(known: .*l1-norm"):
        methods.get("nope")
    with pytest.raises(PrunelabError, match="cannot import module 'no_such_module'"):
        methods.get("no_such_module:X")
    with pytest.raises(PrunelabError, match="has no attribute 'Missing'"):
        methods.get("plugin_slim:Missing")
    with pytest.raises(PrunelabError, match="is not a prunelab Method"):
        methods.get("plugin_slim:Params")
    m = methods.get("l1-norm")
    with pytest.raises(PrunelabError, match="unknown key 'selectoin'"):
        m.params({"target": 0.5, "selectoin": "largest"})
    with pytest.raises(PrunelabError, match="'lam' must be of type float"):
        methods.get("plugin_slim:BNSlim").params({"lam": "big"})
    with pytest.raises(PrunelabError, match="'lam' must be of type float"):
        methods.get("plugin_slim:BNSlim").params({"lam": float("nan")})

    class EP:  # an installed package's entry point in the group prunelab.methods
        name = "slim-ep"

        def load(self):
            from plugin_slim import BNSlim
            return BNSlim

    monkeypatch.setattr(methods, "_entry_points", lambda: {"slim-ep": EP()})
    assert methods.get("slim-ep").name == "slim-ep" and "slim-ep" in methods.known()


def test_prune_cli_with_methods(tmp_path, capsys):
    m = build(resolve("vgg11", "fashion-mnist", width=0.25), seed=0)
    prunelab.save(m, tmp_path / "m.pt")
    assert main(["prune", str(tmp_path / "m.pt"), "--method", "l2-norm", "--target", "{ratio: 0.5, skip: "
                 "[features.0]}", "--out", str(tmp_path / "p.pt")]) == 0
    assert "vgg11-w0.25 -> vgg11-w0.25-p0.5-skip1." in capsys.readouterr().out
    p = prunelab.load(tmp_path / "p.pt")
    assert p.features[0].out_channels == 16 and p.features[4].out_channels == 16  # 32 -> 16
    assert main(["prune", str(tmp_path / "m.pt"), "--method", "plugin_slim:BNSlim", "--param", "target=0.3",
                 "--out", str(tmp_path / "s.pt")]) == 0
    assert "plugin_slim:BNSlim" in capsys.readouterr().out
    code = main(["prune", str(tmp_path / "m.pt"), "--method", "l1-norm", "--param", "oops", "--target", "0.5",
                 "--out", str(tmp_path / "q.pt")])
    assert code == 2 and "must be KEY=VALUE" in capsys.readouterr().err


def test_masked_weights_stay_exactly_zero_and_round_trip(tmp_path):
    data = load(DataSettings("synthetic", synthetic_size=(64, 32)))
    model = build(resolve("resnet20", "synthetic", width=0.25), seed=0)
    g = torch.Generator().manual_seed(0)
    masks = {n: torch.rand(p.shape, generator=g) > 0.7 for n, p in model.named_parameters()
             if p.dim() == 4}
    model.masks = masks
    # momentum and weight decay would move a zero weight whose gradient is not zero
    r = train(model, data, Recipe(epochs=2, batch_size=16, lr=0.1, momentum=0.9, weight_decay=5e-3), masks=masks)
    assert r.images_seen == 128
    params = dict(model.named_parameters())
    for name, m in masks.items():
        assert (params[name][~m] == 0).all(), name
        assert (params[name][m] != 0).float().mean() > 0.99, name  # the kept ones trained
    c = count(model)
    kept = sum(int(m.sum()) for m in masks.values())
    dense = sum(m.numel() for m in masks.values())
    assert c.params_nonzero == c.params - dense + kept
    prunelab.save(model, tmp_path / "m.pt")
    back = prunelab.load(tmp_path / "m.pt")
    assert back.masks.keys() == masks.keys() and all(torch.equal(back.masks[k], masks[k]) for k in masks)
    c2 = count(back)
    assert (c2.params_nonzero, c2.macs_nonzero) == (c.params_nonzero, c.macs_nonzero)
    obj = torch.load(tmp_path / "m.pt", weights_only=True)
    obj["masks"]["conv1.weight"] = torch.ones(3)
    torch.save(obj, tmp_path / "bad.pt")
    with pytest.raises(PrunelabError, match="does not have the weight's shape"):
        prunelab.load(tmp_path / "bad.pt")


MASKED = '''
from dataclasses import dataclass

import torch
from prunelab.methods import Method, PruneResult


@dataclass(frozen=True)
class Params:
    target: float = 0.5


class Magnitude(Method):
    kind = "unstructured"
    Params = Params

    def prune(self, model, params, data):
        import copy
        model = copy.deepcopy(model)
        masks = {}
        for name, p in model.named_parameters():
            if p.dim() == 4:
                k = int(p.numel() * params.target)
                thre = p.detach().abs().flatten().sort().values[k]
                masks[name] = p.detach().abs() > thre
        model.masks = masks
        return PruneResult(model, info={"sparsity": params.target})
'''


def test_masked_arms_use_masks_and_sparse_budgets(tmp_path, monkeypatch, capsys):
    (tmp_path / "mag_plugin.py").write_text(MASKED)
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = _grid(tmp_path, GRID.replace('prune: {method: "plugin_slim:BNSlim", lam: 0.001}',
                                       'prune: {method: "mag_plugin:Magnitude"}').replace("seeds: [0, 1]", "seeds: [0]"))
    store = tmp_path / "store"
    assert main(["run", str(cfg), "--store", str(store), "--quiet", "--device", "cpu"]) == 0
    grid = plan(load_experiment(cfg))
    plan_rows(grid, RunStore(store))
    found = json.loads(next((store / "pruned").glob("*.json")).read_text())
    assert found["masked"] and found["macs_nonzero"] < found["macs"]
    for r in grid.runs[1:]:
        res = RunStore(store).result(r.settings)
        assert res["params_nonzero"] < res["params"], r.regime
        model = prunelab.load(store / r.settings.run_id())
        for name, m in model.masks.items():
            assert (dict(model.named_parameters())[name][~m] == 0).all()
        if r.regime == "scratch-b":  # the budget counts the masked (nonzero) MACs
            assert r.settings.recipe.epochs == int(2 * count(build(resolve("vgg11", "synthetic", width=0.125),
                                                                   device="meta")).macs / found["macs_nonzero"])
        assert (r.regime == "finetune") == (r.settings.init["kind"] == "inherit")
        if r.regime != "finetune":
            assert r.settings.init["masks"] == r.prune.id  # the mask is part of the arm's identity


def test_together_never_drops_hooks(tmp_path, capsys):
    cfg = _grid(tmp_path)
    store = RunStore(tmp_path / "store")
    grid = plan(load_experiment(cfg))
    from prunelab.runs.together import execute_together

    bases = [r.settings for r in grid.runs if r.regime == "baseline"]
    with pytest.raises(PrunelabError, match="training hooks of method 'plugin_slim:BNSlim'"):
        execute_together(bases, store, data=load(bases[0].data), device="cpu")
    assert main(["run", str(cfg), "--store", str(tmp_path / "store"), "--quiet", "--device", "cpu",
                 "--together"]) == 0  # trains them one by one, with their hooks
    for s in bases:
        assert json.loads((store.path(s) / "settings.json").read_text())["method"]["name"] == "plugin_slim:BNSlim"


def test_regime_registry_drives_the_report(tmp_path):
    def res(regime, acc, seed, version="0.1.0"):
        return {"final_top1": acc, "seed": seed, "epochs": 1, "params": 10, "macs": 100, "prunelab_version": version,
                "labels": {"experiment": "e", "dataset": "d", "base": "m", "group": "m", "regime": regime,
                           "method": "x", "pruned": "m-p"}}

    results = [res("baseline", 0.9, 0), res("finetune", 0.8, 0), res("finetune", 0.82, 1),
               res("mystery-regime", 0.7, 0), res("mystery-regime", 0.71, 1)]
    md = markdown(aggregate(results))
    assert "| mystery-regime |" in md.splitlines()[4] and "70.50 ± 0.71 (n=2)" in md  # reported, not dropped
    try:
        register_regime(Regime("late-rewind", "Late rewind", "#123456", "random", lambda b, f, bud: b))
        md = markdown(aggregate(results + [res("late-rewind", 0.85, 0)]))
        assert "Late rewind" in md and "n = 1: noise cannot be estimated" in md
    finally:
        REGIMES.pop("late-rewind")
    rows = aggregate(results + [res("finetune", 0.5, 0, version="0.0.9")])
    assert len(rows) == 2 and "[prunelab 0.0.9]" in markdown(rows)  # versions are never mixed
    # a lottery-ticket row (no Fine-tuned arm): Winning ticket against Random init, Welch's t-test
    tickets = [res("winning-ticket", a, i) for i, a in enumerate((0.90, 0.91, 0.92))]
    tickets += [res("random-init", a, i) for i, a in enumerate((0.80, 0.82, 0.81))]
    md = markdown(aggregate(tickets))
    assert "Winning ticket − Random init: +10.00 points" in md and "Winning ticket better" in md
    from scipy.stats import ttest_ind

    p = ttest_ind([0.90, 0.91, 0.92], [0.80, 0.82, 0.81], equal_var=False).pvalue
    assert f"Welch p = {p:.3g}" in md


def test_statistics_match_scipy():
    a, b = [0.90, 0.92, 0.91, 0.95], [0.85, 0.88, 0.86]
    c = compare(a, b)
    t = st.ttest_ind(a, b, equal_var=False)
    assert c["p"] == pytest.approx(t.pvalue, rel=1e-12)
    lo, hi = t.confidence_interval(0.95)
    assert c["ci"] == pytest.approx((lo, hi), rel=1e-12)
    assert c["diff"] == pytest.approx(sum(a) / 4 - sum(b) / 3)
    one = compare([0.9], [0.8, 0.85])
    assert one["p"] is None and "noise cannot be estimated" in one["note"]


def test_force_takes_the_lock_before_touching_the_folder(tmp_path):
    import fcntl

    store = RunStore(tmp_path / "s")
    s = RunSettings(arch=resolve("vgg11", "synthetic", width=0.125).to_dict(),
                    data=DataSettings("synthetic", synthetic_size=(64, 32)), recipe=Recipe(epochs=1, batch_size=32))
    execute(s, store, device="cpu")
    d = store.path(s)
    with open(d / ".lock", "w") as f:  # another process is training this run
        fcntl.flock(f, fcntl.LOCK_EX)
        with pytest.raises(PrunelabError, match="is being worked on by"):
            execute(s, store, device="cpu", force=True)
        assert (d / "result.json").is_file() and (d / "model.pt").is_file()


def test_target_labels_and_skip_names():
    from prunelab.prune import parse_target, target_widths

    base = resolve("resnet20", "cifar10")
    a = parse_target({"stages": [0.5, 0.5, 0.5], "skip": ["layer1.0.conv1"]})
    b = parse_target({"stages": [0.5, 0.5, 0.5], "skip": ["layer2.0.conv1"]})
    assert a.label(base) != b.label(base) != parse_target({"stages": [0.5, 0.5, 0.5]}).label(base)
    with pytest.raises(PrunelabError, match="skip names 'layer9.0.conv1', not a prunable layer"):
        target_widths(base, parse_target({"ratio": 0.5, "skip": ["layer9.0.conv1"]}), "cifar10")
    with pytest.raises(PrunelabError, match="must be a list of layer names"):
        parse_target({"ratio": 0.5, "skip": "layer1.0.conv1"})


def test_option_a_shortcut_is_the_reference_form():
    import torch.nn.functional as F

    spec = resolve("resnet20", "cifar10", width=0.5)
    model = build(spec, seed=0).eval()
    block = model.layer2[0]
    x = torch.randn(2, 8, 32, 32)
    want = torch.cat([F.avg_pool2d(x, 2, 2), torch.zeros(2, 8, 16, 16)], 1)  # 2x2 average, zeros appended
    assert torch.equal(block.shortcut(x), want)
    other = build(spec.replace(layout={**spec.layout, "shortcut": "subsample"}), seed=0)
    sub = other.layer2[0].shortcut(x)
    assert torch.equal(sub[:, 4:12], x[:, :, ::2, ::2]) and sub[:, :4].abs().sum() == 0
    assert count(other).macs == count(model).macs
    with pytest.raises(PrunelabError, match="shortcut must be one of"):
        spec.replace(layout={**spec.layout, "shortcut": "B"})


def _doc_blocks(lang):
    import re

    text = (Path(__file__).parents[1] / "docs" / "extending.md").read_text()
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


@pytest.mark.skipif(not os.path.isfile("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"),
                    reason="Fashion-MNIST (Debian's dataset-fashion-mnist) is not installed; `make test` installs it")
def test_the_extending_guide_example_runs(tmp_path, monkeypatch, capsys):
    import yaml

    (tmp_path / "my_method.py").write_text(_doc_blocks("python")[0])
    exp = yaml.safe_load(_doc_blocks("yaml")[0])
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["plan", str(_grid(tmp_path, yaml.safe_dump(exp), "apoz.yaml"))]) == 0
    assert "found by my_method:APoZ" in capsys.readouterr().out
    # the guide's experiment at a test's size: one seed, fewer images and epochs
    exp.update(seeds=[0], data={"train_subset": 1000, "test_subset": 1000, "augment": False},
               recipe={**exp["recipe"], "epochs": 1})
    exp["prune"]["images"] = 256
    cfg = _grid(tmp_path, yaml.safe_dump(exp), "small.yaml")
    assert main(["run", str(cfg), "--store", str(tmp_path / "s"), "--quiet", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "my_method:APoZ" in out and "missing" not in out
    found = json.loads(next((tmp_path / "s" / "pruned").glob("*.json")).read_text())
    assert "apoz_threshold" in found["info"] and found["params"] < count(
        build(resolve("vgg11", "fashion-mnist", width=0.25), device="meta")).params
    exp["prune"]["target"] = 1.5  # the method's own check: one line, exit code 2
    code = main(["plan", str(_grid(tmp_path, yaml.safe_dump(exp), "bad.yaml"))])
    assert code == 2 and "give targets per model" in capsys.readouterr().err


def test_optimiser_groups_loss_hook_and_prepare():
    from prunelab.train import Hooks

    class Probe(Hooks):
        def __init__(self):
            self.loss_calls, self.opt = 0, None

        def prepare(self, model):
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    torch.nn.init.constant_(m.weight, 0.5)

        def param_groups(self, model, recipe):  # BN scales frozen (lr 0), no weight decay on them
            bn = [m.weight for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
            ids = {id(p) for p in bn}
            rest = [p for p in model.parameters() if id(p) not in ids]
            return [{"params": rest}, {"params": bn, "weight_decay": 0.0, "lr_scale": 0.0}]

        def optimizer(self, groups, recipe):
            self.opt = torch.optim.SGD(groups, lr=recipe.lr, momentum=0.0, weight_decay=recipe.weight_decay)
            return self.opt

        def loss(self, model, loss):
            self.loss_calls += 1
            return loss + 0.0 * sum(p.sum() for p in model.parameters())

    data = load(DataSettings("synthetic", synthetic_size=(64, 32)))
    model = build(resolve("vgg11", "synthetic", width=0.125), seed=0)
    probe = Probe()
    probe.prepare(model)
    train(model, data, Recipe(epochs=1, batch_size=16, lr=0.05, schedule="constant"), hooks=probe)
    assert probe.loss_calls == 4 and probe.opt.param_groups[1]["lr"] == 0.0
    assert probe.opt.param_groups[0]["lr"] == 0.05 and probe.opt.param_groups[0]["momentum"] == 0.0
    assert all(torch.equal(m.weight, torch.full_like(m.weight, 0.5)) for m in model.modules()
               if isinstance(m, torch.nn.BatchNorm2d))


def test_several_methods_share_one_baseline(tmp_path):
    text = GRID.replace('prune: {method: "plugin_slim:BNSlim", lam: 0.001}',
                        "prune: [{method: l1-norm}, {method: random}, {method: l2-norm}]")
    grid = plan(load_experiment(_grid(tmp_path, text)))
    assert sum(r.regime == "baseline" for r in grid.runs) == 2  # one per seed, shared by the three methods
    assert {r.labels["method"] for r in grid.runs if r.regime != "baseline"} == {"l1-norm", "random", "l2-norm"}
    results = [{"final_top1": 0.5 + 0.1 * i, "seed": 0, "labels": {**r.labels}} for i, r in enumerate(grid.runs)
               if r.seed == 0]
    md = markdown(aggregate(results))
    assert "| Method |" in md and "| random |" in md
