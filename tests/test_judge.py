"""prunelab judge: its statistics against scipy on hand-made result files, and judgements run
end to end (a planted-worse method, a torchvision model)."""
import json

import pytest
from scipy import stats

from prunelab.cli import main
from prunelab.report import load_results
from prunelab.report.verdicts import judge_rows, markdown

from conftest import fashion_available
from helpers import judge_synthetic

ACC = {  # arm -> per-seed top-1 (seeds 0, 1, 2)
    "unpruned": [0.91, 0.92, 0.905],
    "finetune": [0.90, 0.915, 0.893],
    "scratch-e": [0.88, 0.902, 0.884],
    "random": [0.87, 0.899, 0.861],
}


def _write(root, arm, seed, acc, from_baseline):
    labels = {"judge": "judge demo", "judge_arm": arm, "base": "vgg11", "baseline_run": f"base-s{seed}",
              "experiment": "judge demo", "dataset": "cifar10", "regime": "baseline" if arm == "unpruned" else arm}
    if arm != "unpruned":
        labels.update(judge_target="0.5", from_baseline=from_baseline, method="m", pruned="vgg11-p0.5")
    run_id = f"base-s{seed}" if arm == "unpruned" else f"{arm}-s{seed}"
    d = root / run_id
    d.mkdir(parents=True)
    (d / "result.json").write_text(json.dumps({
        "final_top1": acc, "seed": seed, "run_id": run_id, "labels": labels, "params": 100 if arm == "unpruned" else 50,
        "macs": 1000 if arm == "unpruned" else 400, "train_macs": 3e12 if arm == "unpruned" else 1e12}))


def test_p_values_equal_scipy_on_hand_made_result_files(tmp_path):
    for arm, accs in ACC.items():
        for seed, acc in enumerate(accs):
            # Fine-tuned and random channels come from each seed's large model; Scratch-E (a planned
            # architecture, random init) does not
            _write(tmp_path, arm, seed, acc, from_baseline=arm in ("finetune", "random"))
    (row,) = judge_rows(load_results(tmp_path))
    comps = {c["baseline"]: c for c in row["comparisons"]}
    assert set(comps) == {"scratch-e", "random"}
    welch = stats.ttest_ind(ACC["finetune"], ACC["scratch-e"], equal_var=False)
    assert comps["scratch-e"]["test"] == "welch"
    assert comps["scratch-e"]["p"] == pytest.approx(welch.pvalue, rel=1e-12)
    ci = welch.confidence_interval(0.95)
    assert comps["scratch-e"]["ci"] == pytest.approx((ci.low, ci.high), rel=1e-12)
    paired = stats.ttest_rel(ACC["finetune"], ACC["random"])
    assert comps["random"]["test"] == "paired"
    assert comps["random"]["p"] == pytest.approx(paired.pvalue, rel=1e-12)
    assert comps["random"]["diff"] == pytest.approx(sum(ACC["finetune"]) / 3 - sum(ACC["random"]) / 3, abs=1e-15)
    # pipeline compute: the fine-tuned arm's own plus its seed's large model; Scratch-E its own only
    assert row["arms"]["finetune"]["pipeline_train_macs"] == pytest.approx(4e12)
    assert row["arms"]["scratch-e"]["pipeline_train_macs"] == pytest.approx(1e12)
    text = markdown([row])
    assert "Welch p = " in text and "paired p = " in text
    verdict = {c["baseline"]: c["verdict"] for c in row["comparisons"]}
    for name, c in comps.items():
        assert verdict[name] == ("not distinguishable" if c["p"] >= 0.05 else ("better" if c["diff"] > 0 else "worse"))


def test_seeds_that_do_not_match_are_compared_unpaired(tmp_path):
    for arm, accs in ACC.items():
        for seed, acc in enumerate(accs):
            if not (arm == "random" and seed == 2):
                _write(tmp_path, arm, seed, acc, from_baseline=True)
    (row,) = judge_rows(load_results(tmp_path))
    comps = {c["baseline"]: c for c in row["comparisons"]}
    assert comps["scratch-e"]["test"] == "paired"
    assert comps["random"]["test"] == "welch"  # seed 2 missing: no pairs to form
    assert comps["random"]["p"] == pytest.approx(
        stats.ttest_ind(ACC["finetune"], ACC["random"][:2], equal_var=False).pvalue, rel=1e-12)


JUDGE_FILE = """
name: judge-test
dataset: fashion-mnist
data: {train_subset: 800, test_subset: 500, augment: false}
models:
  - {arch: vgg11, width: 0.25, targets: [0.5]}
prune: {method: l1-norm}
seeds: [0, 1, 2]
recipe: {epochs: 2, batch_size: 50, lr: 0.05, momentum: 0.9, weight_decay: 0.0001}
finetune: {epochs: 0}
"""


@pytest.mark.skipif(not fashion_available(), reason="needs Debian's dataset-fashion-mnist")
def test_a_planted_worse_method_is_reported_significantly_worse(tmp_path, capsys, monkeypatch):
    import prunelab.runs.judge_grids as judge_grids

    # latency without the clock: a stand-in "median_ms" of 1 ms per thousand parameters, so that the
    # plumbing (one measurement per architecture, its value in every arm's row) is checked exactly
    monkeypatch.setattr(judge_grids, "latency", lambda model, batch, **kw: {
        "median_ms": sum(p.numel() for p in model.parameters()) / 1000})
    cfg = tmp_path / "judge.yaml"
    cfg.write_text(JUDGE_FILE)
    out = tmp_path / "out"
    assert main(["judge", str(cfg), "--method", "judge_plugins:Smallest", "--baselines", "scratch-e",
                 "--store", str(tmp_path / "store"), "--quiet", "--device", "cpu", "--out", str(out),
                 "--latency-batch", "8"]) == 0
    text = capsys.readouterr().out
    assert "the method is significantly worse than Scratch-E (p < 0.05)" in text
    (row,) = json.loads((out / "judge.json").read_text())
    (c,) = row["comparisons"]
    assert c["baseline"] == "scratch-e" and c["p"] < 0.05 and c["diff"] < 0
    assert row["method"].startswith("judge_plugins:Smallest @sha256:")  # a plug-in's row names its code
    ms = {a: row["arms"][a]["latency_ms"] for a in ("unpruned", "finetune", "scratch-e")}
    assert ms["unpruned"] == row["arms"]["unpruned"]["params"] / 1000
    assert ms["finetune"] == ms["scratch-e"] == row["arms"]["finetune"]["params"] / 1000 < ms["unpruned"]
    # a second judgement resumes: every run is reused, the verdict is the same
    assert main(["judge", str(cfg), "--method", "judge_plugins:Smallest", "--baselines", "scratch-e",
                 "--store", str(tmp_path / "store"), "--quiet", "--device", "cpu", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again[0]["comparisons"][0]["p"] == pytest.approx(c["p"], rel=1e-12)


@pytest.mark.parametrize("args, message", [
    (["--baselines", "scratch-x"], "unknown baseline 'scratch-x'"),
    (["--method", "no_such_module:M"], "cannot import module 'no_such_module'"),
    (["--method", "preset"], "gives no pruned weights"),
    (["--uniform-regime", "finetune"], "not a scratch regime"),
])
def test_bad_judge_input_is_one_line(tmp_path, capsys, args, message):
    cfg = tmp_path / "judge.yaml"
    cfg.write_text(JUDGE_FILE)
    assert main(["judge", str(cfg), "--store", str(tmp_path / "store"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_the_worked_example_method_keeps_the_filters_of_largest_max_weight(monkeypatch):
    """docs/judge.md's method (examples/max_norm.py) differs from L1-norm where it should."""
    from pathlib import Path

    import torch

    from prunelab import methods
    from prunelab.arch import build, resolve
    from prunelab.methods import PruneData

    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "examples"))
    m = methods.get("max_norm:MaxNorm")
    model = build(resolve("vgg11", "cifar10", width=0.125), seed=0)
    conv = model.get_submodule("features.0")
    with torch.no_grad():
        conv.weight.fill_(0.01)
        conv.weight[0, 0, 0, 0] = 1.0  # one large weight: largest max, small sum
        conv.weight[1:5] += 0.05  # four filters of many larger weights: larger sums, small maxima
    params = m.params({"target": 0.5})
    kept = m.prune(model, params, PruneData("cifar10")).kept["features.0"]
    l1 = methods.get("l1-norm")
    kept_l1 = l1.prune(model, l1.params({"target": 0.5}), PruneData("cifar10")).kept["features.0"]
    assert 0 in kept and sorted(kept_l1) == [1, 2, 3, 4]


def test_a_torchvision_resnet18_goes_through_judge(tmp_path, capsys):
    """torchvision:resnet18 at 32 px: pruned through Torch-Pruning's graph, fine-tuned, trained from
    scratch, uniform and random arms, all by prunelab's engine on the CPU."""
    row, _ = judge_synthetic(tmp_path, capsys, "torchvision:resnet18")
    assert row["model"] == "torchvision:resnet18"
    arms = row["arms"]
    assert arms["finetune"]["params"] < 0.3 * arms["unpruned"]["params"]  # half of every group: about a quarter
    assert {c["baseline"]: c["test"] for c in row["comparisons"]}["random"] == "paired"
