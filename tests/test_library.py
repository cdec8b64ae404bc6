"""prunelab as a library: shipped experiments by name, the Python API on any nn.Module, an instant
command line (no torch for --help), shell completion."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import prunelab
from prunelab.cli import main
from prunelab.errors import PrunelabError

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ["arch", "train", "runs", "prune", "pattern", "export", "import-weights", "plan", "run", "report", "demo",
            "judge", "curves", "experiments", "completion"]


def test_help_and_version_import_no_torch():
    code = f"""
import sys
from prunelab.cli import main
for argv in [["--help"], ["--version"], ["-V"], ["experiments"], *[[c, "--help"] for c in {COMMANDS!r}]]:
    try:
        main(argv)
    except SystemExit:
        pass
    assert "torch" not in sys.modules, argv
print("no torch")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("no torch")


def test_shipped_experiments_are_listed_copied_and_planned_by_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # outside the clone: names, not paths
    assert main(["experiments", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = {r["name"] for r in rows}
    assert len(rows) >= 30 and {"demo", "paper/table1-cifar10", "small/slimming-fashion"} <= names
    assert all(r["description"] for r in rows)
    assert main(["plan", "paper/table1-cifar10", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert {r["regime"] for r in plan} == {"baseline", "finetune", "scratch-e", "scratch-b"}
    assert main(["experiments", "--copy", "small/slimming-fashion", "mine"]) == 0
    copied = tmp_path / "mine" / "slimming-fashion.yaml"
    assert copied.read_text() == (ROOT / "prunelab/experiments/small/slimming-fashion.yaml").read_text()
    assert main(["plan", str(copied), "--json"]) == 0
    assert main(["experiments", "--copy", "small/slimming-fashion", "mine"]) == 2  # never overwritten
    assert main(["plan", "table1"]) == 2
    assert "no experiment file or shipped experiment named 'table1'" in capsys.readouterr().err


def test_completion_scripts_name_every_command(capsys):
    for shell in ("bash", "zsh"):
        assert main(["completion", shell]) == 0
        script = capsys.readouterr().out
        assert all(c in script for c in COMMANDS)


def test_prune_and_count_any_module():
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet18(num_classes=10)
    x = torch.randn(2, 3, 32, 32)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = prunelab.prune(model, method="l1-norm", target=0.5, example_input=x)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # the input is untouched
    small = result.model.eval()
    assert small(x).shape == (2, 10)
    full, pruned = prunelab.count(model, example_input=x), prunelab.count(small, example_input=x)
    assert pruned.params < 0.3 * full.params and pruned.macs < 0.3 * full.macs
    assert prunelab.count(model, example_input=x[:1]).macs == full.macs  # MACs per image
    # the stem conv (a group of its own) keeps its 32 largest filters by L1 norm, with their weights
    norms = model.conv1.weight.detach().abs().sum((1, 2, 3))
    keep = sorted(torch.topk(norms, 32).indices.tolist())
    assert result.kept["conv1"] == keep and torch.equal(small.conv1.weight, model.conv1.weight[keep])
    with pytest.raises(PrunelabError, match="give example_input"):
        prunelab.count(model)
    with pytest.raises(PrunelabError, match="prunes prunelab models only"):
        prunelab.prune(model, method="slimming", target=0.5, example_input=x)


def test_prune_a_prunelab_model_with_a_dataloader():
    from torch.utils.data import DataLoader, TensorDataset

    model = prunelab.build(prunelab.spec("vgg11", "cifar10", width=0.125), seed=0)
    g = torch.Generator().manual_seed(0)
    loader = DataLoader(TensorDataset(torch.randn(64, 3, 32, 32, generator=g), torch.randint(0, 10, (64,), generator=g)),
                        batch_size=16)
    r = prunelab.prune(model, method="thinet", target=0.5, data=loader, images=32, locations=4)
    assert r.model.arch_spec.name.startswith("vgg11") and prunelab.count(r.model).params < prunelab.count(model).params


def test_an_experiment_from_a_dict_runs_and_returns_the_report_rows(tmp_path):
    exp = {"name": "api", "dataset": "synthetic", "data": {"synthetic_size": [64, 32]},
           "models": [{"arch": "vgg11", "width": 0.125, "targets": [0.5]}], "regimes": ["finetune", "scratch-e"],
           "finetune": {"epochs": 1, "lr": 0.01}, "recipe": {"epochs": 1, "batch_size": 32, "lr": 0.05}}
    rows = prunelab.run(exp, store=tmp_path / "store")
    assert len(rows) == 1 and set(rows[0]["arms"]) >= {"baseline", "finetune", "scratch-e"}
    assert all(rows[0]["arms"][a]["n"] == 1 for a in ("baseline", "finetune", "scratch-e"))
    with pytest.raises(PrunelabError, match="give a dict, a file's path or a shipped experiment's name"):
        prunelab.experiment(3)


def test_export_checks_the_packages_of_its_formats_before_writing(tmp_path, monkeypatch, capsys):
    import importlib.util

    model = prunelab.build(prunelab.spec("vgg11", "cifar10", width=0.125), seed=0)
    prunelab.save(model, tmp_path / "m.pt")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxscript" else real(name, *a))
    out = tmp_path / "out"
    assert main(["export", str(tmp_path / "m.pt"), "--out", str(out), "--formats", "torchscript,onnx"]) == 2
    assert "needs the onnxscript package: pip install 'prunelab[export]'" in capsys.readouterr().err
    assert not any(out.glob("model.*"))


def test_the_api_docs_are_generated_from_the_current_docstrings():
    out = subprocess.run([sys.executable, "scripts/api_doc.py", "--check"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr


def test_judge_from_python_returns_the_verdict_rows(tmp_path):
    exp = {"name": "api-judge", "dataset": "synthetic", "data": {"synthetic_size": [64, 32]},
           "models": [{"arch": "vgg11", "width": 0.125, "targets": [0.5]}], "seeds": [0, 1],
           "finetune": {"epochs": 1, "lr": 0.01}, "recipe": {"epochs": 1, "batch_size": 32, "lr": 0.05}}
    rows = prunelab.judge(exp, store=tmp_path / "store", baselines=("scratch-e",), latency_batch=2)
    (row,) = rows
    (c,) = row["comparisons"]
    assert c["baseline"] == "scratch-e" and list(c["n"]) == [2, 2] and c["ci"][0] <= c["diff"] <= c["ci"][1]
    assert 0 <= c["p"] <= 1 and c["verdict"]


def test_review_edge_cases_are_one_line_or_right(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    assert main(["experiments", "--copy", "demo", "afile/sub"]) == 2  # a file where a folder is needed
    assert capsys.readouterr().err.count("\n") == 1
    # a copied file brings the spec file it names, so it plans where it lands
    assert main(["experiments", "--copy", "small/sss-fashion", "c2"]) == 0
    assert (tmp_path / "c2" / "resnet20-imagenet-fashion.json").is_file()
    assert main(["plan", "c2/sss-fashion.yaml", "--json"]) == 0
    (tmp_path / "demo").mkdir()  # a folder does not hide a shipped name
    assert main(["plan", "demo", "--json"]) == 0
    capsys.readouterr()
    assert main(["report", "--json", "--format", "csv"]) == 2
    assert "ask for two formats" in capsys.readouterr().err
    assert main(["run", "demo", "--together", "--logger", "csv"]) == 2


def test_a_plain_modules_output_layer_is_never_pruned_and_tracing_errors_are_one_line():
    class HeadFirst(nn.Module):  # its output layer is registered before its body
        def __init__(self):
            super().__init__()
            self.head = nn.Conv2d(16, 10, 1)
            self.body = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1))

        def forward(self, x):
            return self.head(self.body(x)).mean((2, 3))

    x = torch.randn(1, 3, 16, 16)
    r = prunelab.prune(HeadFirst(), "l1-norm", target=0.5, example_input=x)
    assert r.model.eval()(x).shape == (1, 10) and "head" not in r.kept
    torchvision = pytest.importorskip("torchvision")
    with pytest.raises(PrunelabError, match="Torch-Pruning cannot"):
        prunelab.prune(torchvision.models.shufflenet_v2_x0_5(num_classes=10), "l1-norm",
                       example_input=torch.randn(1, 3, 64, 64))


def test_count_keeps_its_input_size_arguments_and_one_shot_data_is_refused():
    from prunelab.data.iterable import BatchesData

    m = prunelab.build(prunelab.spec("resnet20", "cifar10", width=0.25))
    assert prunelab.count(m, 64).macs == prunelab.count(m, input_size=64).macs > 3.9 * prunelab.count(m).macs
    assert prunelab.count(m, torch.zeros(1, 3, 32, 32)).macs == prunelab.count(m).macs
    with pytest.raises(PrunelabError, match="one-shot iterator"):
        BatchesData((b for b in [(torch.zeros(2, 3, 32, 32), torch.zeros(2, dtype=torch.long))]))
