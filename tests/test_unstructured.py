"""Unstructured magnitude pruning, sparse re-initialisation, winning tickets and iterative levels."""
import json

import pytest
import torch

import prunelab
from prunelab import methods
from prunelab.arch import build, resolve
from prunelab.cli import main
from prunelab.measure import count
from prunelab.methods.magnitude import prunable_weights, threshold_masks
from prunelab.runs import RunStore
from prunelab.runs.grid import load_experiment, plan


def test_global_and_layerwise_thresholds_on_hand_set_weights():
    a = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    b = torch.tensor([0.05, 0.3, 0.3, 0.3, 0.9, 1.0])  # a tie of three at 0.3
    alive = {"a": torch.ones(8, dtype=torch.bool), "b": torch.ones(6, dtype=torch.bool)}
    # global: 14 values sorted; thre = sorted[int(14 * 0.3)] = sorted[4] = 0.3; keep > 0.3 (ties pruned)
    m = threshold_masks({"a": a, "b": b}, alive, 0.3, "global")
    assert m["a"].tolist() == [False, False, False, True, True, True, True, True]
    assert m["b"].tolist() == [False, False, False, False, True, True]
    assert sum(int(x.sum()) for x in m.values()) == 7  # 7 pruned: int(14 * 0.3) + 1 + the tied 0.3s
    # layer-wise: a: thre = a[int(8 * 0.5)] = 0.5 -> keep 3; b: thre = sorted(b)[3] = 0.3 -> keep 2
    m = threshold_masks({"a": a, "b": b}, alive, 0.5, "layerwise")
    assert m["a"].tolist() == [False] * 5 + [True] * 3 and m["b"].tolist() == [False] * 4 + [True] * 2
    # without ties, the rule prunes int(N * p) + 1 values
    m = threshold_masks({"a": a}, {"a": alive["a"]}, 0.25, "global")
    assert int((~m["a"]).sum()) == int(8 * 0.25) + 1


@pytest.mark.parametrize("p,k", [(0.2, 3), (0.5, 2)])
def test_iterative_pruning_reaches_one_minus_one_minus_p_to_the_k(p, k):
    model = build(resolve("vgg11", "cifar10", width=0.25), seed=0)
    mag = methods.get("magnitude")
    n = sum(w.numel() for w in prunable_weights(model, "conv").values())
    for _ in range(k):
        model = mag.prune(model, mag.params({"target": p}), methods.PruneData("cifar10", 0)).model
    kept = sum(int(m.sum()) for m in model.masks.values())
    assert 1 - kept / n == pytest.approx(1 - (1 - p) ** k, abs=k / n + 1e-3)  # +1 per round at most (the rule)


def test_sparse_macs_equal_the_density_weighted_sum():
    model = build(resolve("resnet20", "cifar10", width=0.5), seed=0)
    mag = methods.get("magnitude")
    r = mag.prune(model, mag.params({"target": 0.8}), methods.PruneData("cifar10", 0))
    methods.check_result(mag, model, r, None)  # zeroes the masked weights, as a prune step does
    c = count(r.model)
    by_hand = 0.0
    for lc in c.layers:
        m = r.masks.get(f"{lc.name}.weight")
        by_hand += lc.macs * (float(m.sum()) / m.numel() if m is not None else 1.0)
    by_hand += c.macs - sum(lc.macs for lc in c.layers)
    assert c.macs_nonzero == pytest.approx(by_hand, rel=1e-12)
    assert c.macs_nonzero < 0.35 * c.macs


LOTTERY = """
name: tiny-lottery
dataset: synthetic
data: {synthetic_size: [64, 32]}
models:
  - {arch: vgg11, width: 0.125, targets: [0.5]}
prune: {method: magnitude}
regimes: [winning-ticket, random-init, scratch-e]
levels: 2
seeds: [0]
recipe: {epochs: 2, batch_size: 32, lr: 0.05}
"""


def test_winning_tickets_random_init_and_iterative_levels(tmp_path, capsys):
    cfg = tmp_path / "lottery.yaml"
    cfg.write_text(LOTTERY)
    store = tmp_path / "store"
    assert main(["plan", str(cfg), "--store", str(store)]) == 0
    assert capsys.readouterr().out.count("waiting") == 6  # both levels wait for pruning
    assert main(["run", str(cfg), "--store", str(store), "--quiet", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "Winning ticket" in out and "Random init" in out
    grid = plan(load_experiment(cfg))
    from prunelab.runs.grid import resolve_run

    for r in grid.runs:
        resolve_run(grid, r, RunStore(store))
    base = grid.runs[0]
    init = prunelab.load(store / base.settings.run_id() / "init.pt")
    levels = {}
    for r in grid.runs[1:]:
        levels.setdefault(r.level, {})[r.regime] = r
    sparsity = []
    for level, runs in sorted(levels.items()):
        ticket, rnd = runs["winning-ticket"], runs["random-init"]
        assert ticket.settings.init["masks"] == rnd.settings.init["masks"]  # the same mask
        from prunelab.runs.store import initial_model

        t0, r0 = initial_model(ticket.settings, RunStore(store)), initial_model(rnd.settings, RunStore(store))
        for name, m in t0.masks.items():
            w, w_init = dict(t0.named_parameters())[name], dict(init.named_parameters())[name]
            assert torch.equal(w[m], w_init[m]) and (w[~m] == 0).all()  # the saved init at the kept positions
            assert not torch.equal(dict(r0.named_parameters())[name], w)  # random-init differs, same zeros
            assert (dict(r0.named_parameters())[name][~m] == 0).all()
        # scratch-e and random-init both start as the reference's masked scratch runs: a fresh kept-fan draw
        assert runs["scratch-e"].settings.init == rnd.settings.init == {"kind": "random", "masks": ticket.prune.id}
        res = RunStore(store).result(ticket.settings)
        sparsity.append(1 - res["params_nonzero"] / res["params"])
    assert sparsity[1] > sparsity[0] > 0.3  # level 2 prunes half of what level 1 left
    # level 2's prune step pruned level 1's trained ticket
    step2 = json.loads(next(p for p in (store / "pruned").glob("*.json")
                            if json.loads(p.read_text())["prune"]["from_run"] != base.settings.run_id()).read_text())
    assert step2["prune"]["from_run"] == levels[1]["winning-ticket"].settings.run_id()
    # the report: dense and nonzero sizes side by side; accuracy against sparsity per regime
    assert main(["report", str(store), "--plot", str(tmp_path / "r.png")]) == 0
    out = capsys.readouterr().out
    assert " nonzero)" in out and "vgg11-w0.125-mag0.5-L2" in out
    assert (tmp_path / "r-sparsity.png").read_bytes()[:4] == b"\x89PNG"


def test_a_sweep_plans_one_grid_per_value(tmp_path):
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(LOTTERY.replace("levels: 2", "levels: 1\nsweep: {lr: [0.1, 0.01]}"))
    grid = plan(load_experiment(cfg))
    assert len(grid.runs) == 2 * (1 + 3)
    by_lr = {}
    for r in grid.runs:
        by_lr.setdefault(r.baseline.recipe.lr, set()).add(r.labels["experiment"])
    assert by_lr == {0.1: {"tiny-lottery[lr=0.1]"}, 0.01: {"tiny-lottery[lr=0.01]"}}


def test_a_later_levels_scratch_b_waits_for_its_own_prune_step(tmp_path):
    """Level 1 of iterative structured pruning to a planned target has known epochs; level 2 prunes
    level 1's ticket further, so its Scratch-B budget is a rule until that prune step has run."""
    from prunelab.cli.plan_rows import plan_rows

    cfg = tmp_path / "iter.yaml"
    cfg.write_text(LOTTERY.replace("{method: magnitude}", "{method: l1-norm}")
                   .replace("[winning-ticket, random-init, scratch-e]", "[winning-ticket, scratch-b]"))
    rows = [r for r in plan_rows(plan(load_experiment(cfg)), RunStore(tmp_path / "s")) if r["regime"] == "scratch-b"]
    assert [r["epochs"] is None for r in rows] == [False, True]
    assert "rule" in rows[1] and "budget" not in rows[1] and rows[0]["budget"]["mac_ratio"] > 1


def test_a_killed_iterative_lottery_resumes_at_the_level_it_reached(tmp_path, capsys):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    cfg = tmp_path / "lottery.yaml"
    cfg.write_text(LOTTERY.replace("levels: 2", "levels: 3"))
    store = tmp_path / "store"
    cmd = [sys.executable, "-m", "prunelab", "run", str(cfg), "--store", str(store), "--quiet", "--device", "cpu"]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1]))
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((store / "pruned").glob("*.json"))) < 2:  # level 2 reached
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    done = {f: f.stat().st_mtime_ns for f in store.glob("*/result.json")}
    assert len(done) >= 3  # the baseline and level 1's ticket and random init (scratch-e is the same run)
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert all(f.stat().st_mtime_ns == t for f, t in done.items())  # nothing finished was redone
    # the baseline and, per level, its ticket and one random-init run (Scratch-E and Random init start
    # alike here, a kept-fan draw under the mask, and train alike: one run in the store)
    assert len(list(store.glob("*/result.json"))) == 1 + 2 * 3


def test_a_structured_winning_ticket_is_the_init_cut_to_the_kept_filters(tmp_path, capsys):
    from prunelab.runs.store import initial_model

    cfg = tmp_path / "ticket.yaml"
    cfg.write_text(LOTTERY.replace("prune: {method: magnitude}", "prune: {method: l1-norm}")
                   .replace("regimes: [winning-ticket, random-init, scratch-e]", "regimes: [winning-ticket, random-init]")
                   .replace("levels: 2\n", ""))
    store = RunStore(tmp_path / "store")
    assert main(["run", str(cfg), "--store", str(store.root), "--quiet", "--device", "cpu"]) == 0
    grid = plan(load_experiment(cfg))
    base, ticket, rnd = grid.runs
    assert ticket.settings.init["from_prune"] == ticket.prune.id  # two methods' tickets are two runs
    kept = torch.load(store.root / "pruned" / f"{ticket.prune.id}.pt", weights_only=True)["kept"]
    init = prunelab.load(store.root / base.settings.run_id() / "init.pt")
    t0 = initial_model(ticket.settings, store)
    prev = None  # VGG: each conv reads the kept filters of the one before
    for layer in sorted(kept, key=lambda n: int(n.split(".")[1])):
        w = init.get_submodule(layer).weight[kept[layer]]
        w = w if prev is None else w[:, prev]
        assert torch.equal(t0.get_submodule(layer).weight, w), layer
        prev = kept[layer]
    assert not torch.equal(initial_model(rnd.settings, store).features[0].weight, t0.features[0].weight)
    (store.root / base.settings.run_id() / "init.pt").unlink()  # init.pt is made again from the settings
    again = initial_model(ticket.settings, store)
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), t0.state_dict().values()))
    # methods without tickets are refused before any training
    bad = tmp_path / "bad.yaml"
    bad.write_text(LOTTERY.replace("prune: {method: magnitude}", "prune: {method: preset}")
                   .replace("targets: [0.5]", "targets: [vgg16-A]").replace("levels: 2\n", ""))
    assert main(["plan", str(bad)]) == 2
    assert "gives no pruned weights or tickets" in capsys.readouterr().err
