"""A grid from an imported baseline (``models: [{weights: FILE}]``) and evaluate-only runs (0 epochs).

The baseline is a file (a torchvision-format state_dict or a prunelab model file), evaluated once
(0 epochs) and shared by every seed; its run is named by the file's sha256, never its path.
"""
import json
import shutil

import pytest
import torch

import prunelab
from helpers import randomise_bn
from prunelab.cli import main
from prunelab.data import DataSettings, load
from prunelab.train.engine import evaluate

GRID = """
name: imported
dataset: synthetic
data: {{synthetic_size: [64, 32]}}
models:
  - {{arch: vgg11, width: 0.125, weights: {weights}, targets: [0.5]}}
seeds: [0, 1]
regimes: [{regimes}]
recipe: {{epochs: 1, batch_size: 32, lr: 0.05}}
finetune: {{epochs: {ft_epochs}, lr: 0.001, schedule: constant}}
{extra}
"""


def grid(tmp, weights="base.pth", regimes="finetune, scratch-e, scratch-b", ft_epochs=1,
         extra="scratch_b: {base_epochs: 1}", name="g.yaml"):
    (tmp / name).write_text(GRID.format(weights=weights, regimes=regimes, ft_epochs=ft_epochs, extra=extra))
    return str(tmp / name)


def baseline_file(tmp, seed=5, name="base.pth", torchvision_format=True):
    model = randomise_bn(prunelab.build(prunelab.spec("vgg11", "synthetic", width=0.125), seed=seed), seed=seed)
    if torchvision_format:  # a bare state_dict in the module layout, as torchvision's files are
        torch.save(model.state_dict(), tmp / name)
    else:
        prunelab.save(model, tmp / name)
    return model


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def plan_ids(capsys, path, store):
    code, out, err = cli(capsys, "plan", path, "--json", "--store", store)
    assert code == 0, err
    return {(r["regime"], r["seed"]): (r["run_id"], r["state"]) for r in json.loads(out)}


def results(store):
    return [json.loads(p.read_text()) for p in store.glob("*/result.json")]


def test_a_grid_from_an_imported_baseline(tmp_path, capsys):
    model = baseline_file(tmp_path)
    store = tmp_path / "store"
    path = grid(tmp_path)
    code, out, err = cli(capsys, "plan", path, "--store", store)
    assert code == 0 and "imported (sha256 " in out, err
    assert [ln.split()[1:4] for ln in out.splitlines() if " baseline " in ln] == [["baseline", "all", "0"]]
    code, out, err = cli(capsys, "run", path, "--store", store, "--device", "cpu", "--quiet")
    assert code == 0 and "Traceback" not in err, err
    res = results(store)
    regimes = sorted(r["labels"]["regime"] for r in res)
    assert regimes == ["baseline"] + sorted(["finetune", "scratch-b", "scratch-e"] * 2)
    (base,) = [r for r in res if r["labels"]["regime"] == "baseline"]
    # no baseline trained: the file evaluated (0 epochs, nothing seen), its sha256 in the identity, no path
    assert base["epochs"] == 0 and base["images_seen"] == 0 and base["train_macs"] == 0
    init = base["settings"]["init"]
    assert init["kind"] == "weights" and len(init["sha256"]) == 64
    run_dir = store / base["run_id"]
    assert not (run_dir / "init.pt").exists() and not (run_dir / "checkpoint.pt").exists()
    data = load(DataSettings("synthetic", synthetic_size=(64, 32)))
    assert base["final_top1"] == pytest.approx(evaluate(model.eval(), data, "test")[0])
    assert prunelab.load(run_dir).state_dict()["features.0.weight"].equal(model.state_dict()["features.0.weight"])
    # both seeds' prune steps prune that one evaluated model
    steps = [json.loads(p.read_text()) for p in (store / "pruned").glob("*.json")]
    assert len(steps) == 2 and {s["prune"]["seed"] for s in steps} == {0, 1}
    assert {s["prune"]["from_run"] for s in steps} == {base["run_id"]}
    # Scratch-B's budget from scratch_b.base_epochs (E_base of the imported model), Scratch-E the recipe's epochs
    sb = [r for r in res if r["labels"]["regime"] == "scratch-b"]
    assert all(r["labels"]["budget"]["base_epochs"] == 1 and r["epochs"] >= 2 for r in sb)
    assert all(r["epochs"] == 1 for r in res if r["labels"]["regime"] == "scratch-e")
    # the report's Unpruned column is the evaluated model
    code, out, err = cli(capsys, "report", store)
    assert code == 0 and f"| {100 * base['final_top1']:.2f} ± 0.00 (n=1) |" in out, out
    ledger = [ln for ln in out.split("Compute ledger")[1].splitlines() if ln.startswith("| vgg11-w0.125 |")]
    assert ledger and ledger[0].split(" | ")[3] == "-"  # the imported model's training cost is not known here
    # moving the file renames no run; another file renames the baseline and the runs that inherit from it
    before = plan_ids(capsys, path, store)
    (tmp_path / "elsewhere").mkdir()
    shutil.move(tmp_path / "base.pth", tmp_path / "elsewhere" / "moved.pth")
    moved = plan_ids(capsys, grid(tmp_path, weights="elsewhere/moved.pth"), store)
    assert moved == before and {s for _, s in moved.values()} == {"finished"}
    baseline_file(tmp_path, seed=6, name="other.pth")
    other = plan_ids(capsys, grid(tmp_path, weights="other.pth"), store)
    for key in (("baseline", 0), ("finetune", 0), ("finetune", 1)):
        assert other[key][0] != before[key][0], key
    assert other["scratch-e", 1] == before["scratch-e", 1]  # a random init owes nothing to the baseline
    # fine-tuned for 0 epochs: the accuracy right after pruning, no training
    code, _, err = cli(capsys, "run", grid(tmp_path, weights="elsewhere/moved.pth", regimes="finetune", ft_epochs=0),
                       "--store", store, "--device", "cpu", "--quiet")
    assert code == 0, err
    ft0 = [r for r in results(store) if r["labels"]["regime"] == "finetune" and r["epochs"] == 0]
    assert len(ft0) == 2 and all(r["train_macs"] == 0 and r["images_seen"] == 0 for r in ft0)
    for r in ft0:
        pruned = prunelab.load(store / "pruned" / f"{r['settings']['init']['from_prune']}.pt").eval()
        assert r["final_top1"] == pytest.approx(evaluate(pruned, data, "test")[0])
        assert r["params"] < base["params"]


def test_a_prunelab_model_file_as_the_baseline(tmp_path, capsys):
    baseline_file(tmp_path, name="base.pt", torchvision_format=False)
    ids = plan_ids(capsys, grid(tmp_path, weights="base.pt", regimes="finetune"), tmp_path / "store")
    assert len({ids["baseline", 0][0]}) == 1 and ("baseline", 1) not in ids  # one baseline for both seeds
    assert "-weights-e0-" in ids["baseline", 0][0]


BAD = [
    (dict(extra=""), "Scratch-B's budget needs the imported model's training epochs: set scratch_b: {base_epochs"),
    (dict(regimes="finetune, winning-ticket"), "winning-ticket starts from the large model's initial or early weights"),
    (dict(extra="prune: {method: slimming, lam: 1.0e-4}\nscratch_b: {base_epochs: 2}"),
     "method 'slimming' shapes or uses the large model's training"),
    (dict(weights="wide.pth"), "holds a model of architecture 'vgg11-w0.25'"),
    (dict(weights="wide-sd.pth"), "'features.0.weight' has shape 16x3x3x3, vgg11-w0.125 needs 8x3x3x3"),
    (dict(weights="nowhere.pth"), "weights file not found"),
    (dict(extra="scratch_b: {base_epochs: 2}\nrecipes: {scratch-e: {epochs: 0}}"),
     "scratch-e: 0 epochs would only evaluate a randomly initialised model"),
]


@pytest.mark.parametrize("kw,message", BAD, ids=[m[:30] for _, m in BAD])
def test_bad_imported_grids_are_one_line(tmp_path, capsys, kw, message):
    baseline_file(tmp_path)
    wide = prunelab.build(prunelab.spec("vgg11", "synthetic", width=0.25))
    prunelab.save(wide, tmp_path / "wide.pth")
    torch.save(wide.state_dict(), tmp_path / "wide-sd.pth")
    code, _, err = cli(capsys, "plan", grid(tmp_path, **kw))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], err


def test_zero_epochs_is_refused_for_random_inits(tmp_path, capsys):
    (tmp_path / "g.yaml").write_text(GRID.format(weights="x", regimes="finetune", ft_epochs=1, extra="")
                                     .replace(", weights: x", "").replace("epochs: 1, batch", "epochs: 0, batch"))
    code, _, err = cli(capsys, "plan", tmp_path / "g.yaml")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "recipe: 0 epochs would only evaluate randomly initialised large models" in err
    train = ["train", "--arch", "vgg11", "--width", "0.125", "--dataset", "synthetic", "--epochs", "0",
             "--store", tmp_path / "store", "--device", "cpu", "--quiet"]
    code, _, err = cli(capsys, *train)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "0 epochs would only evaluate a randomly" in err
    model = baseline_file(tmp_path, name="m.pt", torchvision_format=False)
    code, out, err = cli(capsys, *train, "--init", tmp_path / "m.pt")  # an evaluation of given weights
    assert code == 0 and "epochs 0" in out, err
    (res,) = results(tmp_path / "store")
    assert res["train_macs"] == 0 and res["params"] == sum(p.numel() for p in model.parameters())


def test_the_table1_imagenet_imported_file_plans(tmp_path, capsys):
    """The shipped file with a torchvision-format ResNet-34 beside it (keys and shapes only)."""
    from pathlib import Path

    from helpers import shapes_only_state_dict

    src = Path(__file__).parents[1] / "experiments" / "paper" / "table1-imagenet-resnet34-imported.yaml"
    shutil.copy(src, tmp_path / src.name)
    torch.save(shapes_only_state_dict("resnet34", fill=0.5), tmp_path / "resnet34-b627a593.pth")
    code, out, err = cli(capsys, "plan", tmp_path / src.name, "--json", "--store", tmp_path / "store")
    assert code == 0, err
    rows = json.loads(out)
    (base,) = [r for r in rows if r["regime"] == "baseline"]
    assert base["arch"] == "resnet34" and base["epochs"] == 0 and len(base["imported"]["sha256"]) == 64
    sb = {r["arch"]: r for r in rows if r["regime"] == "scratch-b"}
    assert set(sb) == {"resnet34-A", "resnet34-B"}
    assert all(r["epochs"] == min(180, int(90 * r["budget"]["mac_ratio"])) for r in sb.values())
    assert {r["epochs"] for r in rows if r["regime"] == "finetune"} == {20}
    assert {r["epochs"] for r in rows if r["regime"] == "scratch-e"} == {90}
