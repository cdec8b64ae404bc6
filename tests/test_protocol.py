"""Regimes, budgets, experiment grids (plan, run, resume) and reports."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prunelab.cli import main
from prunelab.errors import PrunelabError
from prunelab.protocol import regime_recipe, scratch_b_budget
from prunelab.report import aggregate, markdown, stats
from prunelab.train import Recipe

ROOT = Path(__file__).parents[1]


def test_budget_arithmetic_and_cap():
    b = scratch_b_budget(160, 125_485_696, 90_907_264, None)  # ResNet-56 -> ResNet-56-B
    assert b.epochs == int(160 * 125_485_696 / 90_907_264) == 220
    assert b.mac_ratio == pytest.approx(1.3804, abs=1e-4)
    b = scratch_b_budget(90, 400, 100, 2.0)  # 4x fewer MACs, capped at 2x the epochs
    assert b.epochs == 180 and "capped at 2 x E_base" in b.rule
    assert scratch_b_budget(90, 150, 100, 2.0).epochs == 135  # under the cap
    b33 = scratch_b_budget(10, 100, 30, None)
    assert b33.epochs == 33  # int() truncates (33.33)
    for bad in (0.5, float("nan"), float("inf")):
        with pytest.raises(PrunelabError, match="cap must be"):
            scratch_b_budget(10, 100, 30, bad)
    base = Recipe(epochs=160, milestones=(0.5, 0.75))
    rb = regime_recipe("scratch-b", base, Recipe(epochs=40, lr=0.001, schedule="constant"), b33)
    # the schedule scaled with the run, steps at int(0.5 x 33) and int(0.75 x 33) as the reference's main_B.py
    assert rb.epochs == 33 and rb.milestone_epochs() == [16, 24]
    assert Recipe(epochs=243).milestone_epochs() == [121, 182]  # int(), not round() (122)
    assert Recipe(epochs=10, milestones=(0.3, 0.7)).milestone_epochs() == [3, 7]  # decimal fractions land whole
    # whole-epoch steps stretch in equal stages (the SSS README's Scratch-B table; ImageNet main_B.py)
    sss = Recipe(epochs=100, milestones=(30, 60, 90))
    assert [sss.scaled(e).milestone_epochs() for e in (117, 145, 179)] == [[35, 70, 105], [43, 86, 129],
                                                                          [53, 106, 159]]
    assert Recipe(epochs=90, milestones=(30, 60)).scaled(134).milestone_epochs() == [44, 88]
    assert regime_recipe("scratch-e", base, base) is base


def test_plan_json_of_the_paper_table1_files(capsys):
    assert main(["plan", str(ROOT / "experiments/paper/table1-cifar10.yaml"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    sb = {r["arch"]: r["epochs"] for r in rows if r["regime"] == "scratch-b"}
    # int(160 * MACs(large) / MACs(pruned)), no cap on CIFAR
    assert sb == {"vgg16-A": 243, "resnet56-A": 178, "resnet56-B": 220, "resnet110-A": 190, "resnet110-B": 260}
    assert {r["epochs"] for r in rows if r["regime"] in ("baseline", "scratch-e")} == {160}
    assert {r["epochs"] for r in rows if r["regime"] == "finetune"} == {40}
    assert sorted({r["seed"] for r in rows}) == [0, 1, 2, 3, 4]
    assert sum(r["regime"] == "baseline" for r in rows) == 15  # 3 models x 5 seeds, shared by the arms
    assert {r["arch"] for r in rows if r["regime"] == "baseline"} == {"vgg16", "resnet56", "resnet110"}
    assert main(["plan", str(ROOT / "experiments/paper/table1-imagenet.yaml"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    sb = {r["arch"]: r for r in rows if r["regime"] == "scratch-b"}
    assert sb["resnet34-A"]["epochs"] == int(90 * sb["resnet34-A"]["budget"]["mac_ratio"]) <= 180
    assert sb["resnet34-B"]["budget"]["cap"] == 2.0
    assert {r["epochs"] for r in rows if r["regime"] == "finetune"} == {20}


def test_demo_config_meets_the_brief():
    from prunelab.demo import DEMO_CONFIG
    from prunelab.runs.grid import load_experiment, plan

    exp = load_experiment(DEMO_CONFIG)
    grid = plan(exp)
    assert exp.dataset == "fashion-mnist" and exp.data["train_subset"] >= 10000 and "test_subset" not in exp.data
    assert len(exp.seeds) >= 3 and len(exp.models[0]["targets"]) == 2
    assert {r.regime for r in grid.runs} == {"baseline", "finetune", "scratch-e", "scratch-b"}


GRID = """
name: tiny
dataset: synthetic
data: {synthetic_size: [96, 64]}
models:
  - {arch: vgg11, width: 0.125, targets: [0.5]}
seeds: [0, 1]
recipe: {epochs: 2, batch_size: 32, lr: 0.05}
finetune: {epochs: 1, lr: 0.001, schedule: constant}
"""


def test_grid_killed_midway_resumes_without_retraining(tmp_path):
    cfg = tmp_path / "grid.yaml"
    cfg.write_text(GRID)
    store = tmp_path / "store"
    cmd = [sys.executable, "-m", "prunelab", "run", str(cfg), "--store", str(store), "--quiet", "--device", "cpu"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(store.glob("*/result.json"))) < 3:
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    finished = {f: f.stat().st_mtime_ns for f in store.glob("*/result.json")}
    assert 3 <= len(finished) < 8
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    results = list(store.glob("*/result.json"))
    assert len(results) == 8  # 2 seeds x (baseline + 3 regimes)
    for f, mtime in finished.items():
        assert f.stat().st_mtime_ns == mtime, f"{f.parent.name} was retrained"
    assert "Fine-tuned" in out and "missing" not in out
    assert len(list((store / "pruned").glob("*.pt"))) == 2  # one pruned model per seed


def _result(regime, acc, seed, pruned="m-A", base="m", epochs=10, params=100, macs=1000):
    return {"run_id": f"{regime}-{seed}", "final_top1": acc, "seed": seed, "epochs": epochs, "images_seen": epochs * 5,
            "train_macs": macs * 3 * epochs * 5, "wall_s": 1.0, "params": params, "macs": macs,
            "labels": {"experiment": "e", "dataset": "cifar10", "base": base, "regime": regime,
                       **({} if regime == "baseline" else {"pruned": pruned, "method": "l1-norm"})},
            "settings": {"data": {"dataset": "cifar10"}}}


def test_report_mean_std_n_on_hand_made_results(tmp_path, capsys):
    results = [
        _result("baseline", 0.93, 0, params=200, macs=2000), _result("baseline", 0.95, 1, params=200, macs=2000),
        _result("finetune", 0.90, 0, epochs=4), _result("finetune", 0.92, 1, epochs=4),
        _result("finetune", 0.94, 2, epochs=4),
        _result("scratch-e", 0.91, 0),
        _result("baseline", 0.80, 0, base="other", pruned=None),
    ]
    for i, r in enumerate(results):
        d = tmp_path / f"run{i}"
        d.mkdir()
        (d / "result.json").write_text(json.dumps(r))
    rows = aggregate(results)
    assert len(rows) == 1
    row = rows[0]
    fin = row["arms"]["finetune"]
    assert fin["mean"] == pytest.approx(0.92) and fin["std"] == pytest.approx(0.02) and fin["n"] == 3
    base = row["arms"]["baseline"]
    assert base["mean"] == pytest.approx(0.94) and base["std"] == pytest.approx(0.0141421, abs=1e-6) and base["n"] == 2
    assert row["arms"]["scratch-e"] == {**row["arms"]["scratch-e"], "mean": 0.91, "std": 0.0, "n": 1}
    assert row["arms"]["scratch-b"]["n"] == 0
    assert row["params"] == 200 and row["pruned_params"] == {"mean": 100, "std": 0.0, "n": 3}
    md = markdown(rows)
    assert "| cifar10 | m | 94.00 ± 1.41 (n=2) | m-A | 92.00 ± 2.00 (n=3) | 91.00 ± 0.00 (n=1) | missing |" in md
    assert "Scratch-E − Fine-tuned: -1.00 points (n = 1: noise cannot be estimated)" in md
    assert stats([]) == {"mean": None, "std": None, "n": 0}
    assert main(["report", str(tmp_path), "--format", "csv", "--plot", str(tmp_path / "p.png")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("experiment,dataset,model,method,pruned") and len(out.splitlines()) == 2
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_experiment_files(tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    for text, msg in (
        (GRID.replace("targets: [0.5]", "targets: [1.0]"), "must be in [0, 1)"),
        (GRID.replace("targets: [0.5]", "targets: [0.999]"), "would empty layer"),
        (GRID.replace("seeds: [0, 1]", "seeds: [0, 0]"), "repeats a seed"),
        (GRID.replace("name: tiny", "name: tiny\nregimes: [scratch-x]"), "unknown regime 'scratch-x'"),
        (GRID.replace("lr: 0.05}", "lr: 0.05, epoch: 3}"), "unknown key 'epoch'"),
        (GRID.replace("targets: [0.5]", "targets: [resnet56-A]"), "is not a pruned"),
        (GRID + "extra: 1\n", "unknown key 'extra'"),
    ):
        cfg.write_text(text)
        assert main(["plan", str(cfg)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and msg in err[0], (msg, err)


def test_demo_command_writes_report_files_and_resumes(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PRUNELAB_STORE")  # the demo's own store: OUT/runs
    cfg = tmp_path / "grid.yaml"
    cfg.write_text(GRID.replace("seeds: [0, 1]", "seeds: [0]"))
    out = tmp_path / "out"
    args = ["demo", "--out", str(out), "--config", str(cfg), "--quiet", "--device", "cpu"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "| synthetic | vgg11-w0.125 |" in text and "Verdict" in text
    assert (out / "report.md").read_text().startswith("# tiny")
    assert (out / "report.csv").read_text().startswith("experiment,")
    assert (out / "report.png").read_bytes()[:4] == b"\x89PNG"
    results = sorted((out / "runs").glob("*/result.json"))
    assert len(results) == 4
    mtimes = [p.stat().st_mtime_ns for p in results]
    assert main(args) == 0  # rerun: everything reused
    assert [p.stat().st_mtime_ns for p in results] == mtimes


def test_run_together_matches_one_by_one(tmp_path, capsys):
    import torch

    cfg = tmp_path / "grid.yaml"
    cfg.write_text(GRID)
    for mode in ("one", "together"):
        argv = ["run", str(cfg), "--store", str(tmp_path / mode), "--quiet", "--device", "cpu"]
        assert main(argv + (["--together"] if mode == "together" else [])) == 0
    capsys.readouterr()
    one = {p.parent.name: p.parent for p in (tmp_path / "one").glob("*/result.json")}
    tog = {p.parent.name: p.parent for p in (tmp_path / "together").glob("*/result.json")}
    assert one.keys() == tog.keys() and len(one) == 8  # same run ids, every run finished
    for name in one:
        ra, rb = (json.loads((d[name] / "result.json").read_text()) for d in (one, tog))
        assert ra["images_seen"] == rb["images_seen"] and ra["epochs"] == rb["epochs"]
        assert abs(ra["final_top1"] - rb["final_top1"]) <= 3 / 64 + 1e-9, name  # 64 test images
        if "-random-e2-" in name:  # baselines and Scratch-E, 6 steps: only float rounding differs
            a = torch.load(one[name] / "model.pt", weights_only=True)["state_dict"]
            b = torch.load(tog[name] / "model.pt", weights_only=True)["state_dict"]
            for k in a:  # (the trainer's strict 1e-5 equivalence is tested in test_speed.py)
                assert torch.allclose(a[k].double(), b[k].double(), rtol=1e-3, atol=1e-4), (name, k)



@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT / "experiments"))
                                        for p in (ROOT / "experiments").rglob("*.yaml")))
def test_every_shipped_experiment_file_plans(path, tmp_path, monkeypatch):
    """Each file under experiments/ is valid: it loads and plans (guided files read a pattern that
    `prunelab pattern` makes first, faked here; an imported baseline needs its checkpoint)."""
    from helpers import fake_guided_patterns
    from prunelab.runs.grid import load_experiment, plan

    monkeypatch.chdir(tmp_path)
    fake_guided_patterns(tmp_path)
    if "leaderboard" in path:  # a leaderboard file: every method's judgement plans
        from prunelab.runs.leaderboard import load_leaderboard

        board = load_leaderboard(ROOT / "experiments" / path)
        assert len(board.judgements) >= 10 and all(
            {r.regime for g, _ in j.parts.values() for r in g.runs} >= {"baseline", "finetune"} for j in board.judgements)
        return
    exp = load_experiment(ROOT / "experiments" / path)
    weights = [m["weights"] for m in exp.models if isinstance(m, dict) and m.get("weights")]
    if any(not Path(w).is_file() for w in weights):  # not shipped: nothing is downloaded
        with pytest.raises(PrunelabError, match="weights file not found"):
            plan(exp)
        return
    grid = plan(exp)
    assert grid.runs and {r.regime for r in grid.runs} - {"baseline"}
