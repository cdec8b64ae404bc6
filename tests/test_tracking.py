"""--logger csv|tensorboard|mlflow: one writer per run, tagged; `prunelab curves` draws the runs."""
import csv
import json

import pytest

from prunelab.cli import main

TINY = """
name: tiny-tracked
dataset: synthetic
data: {synthetic_size: [64, 32]}
models:
  - {arch: vgg11, width: 0.125, targets: [0.5]}
regimes: [finetune, scratch-e]
seeds: [0, 1]
finetune: {epochs: 1, lr: 0.01}
recipe: {epochs: 2, batch_size: 32, lr: 0.05}
"""


def test_demo_logs_every_run_to_mlflow_and_csv_and_curves_draws_them(tmp_path, monkeypatch, capsys):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("PRUNELAB_LOGGER", raising=False)
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY)
    out, store = tmp_path / "out", tmp_path / "tracked"
    assert main(["demo", "--config", str(cfg), "--out", str(out), "--store", str(store), "--quiet",
                 "--logger", "mlflow", "--logger", "csv", "--log-every", "1"]) == 0
    runs = {d.name: d for d in store.iterdir() if (d / "result.json").is_file()}
    assert len(runs) == 6  # 2 seeds x (baseline, finetune, scratch-e)
    client = MlflowClient(tracking_uri=(store / "mlruns").resolve().as_uri())
    exp = client.get_experiment_by_name("tiny-tracked")
    logged = client.search_runs([exp.experiment_id])
    assert {r.data.tags["run_id"] for r in logged} == set(runs)
    for r in logged:
        result = json.loads((runs[r.data.tags["run_id"]] / "result.json").read_text())
        history = [json.loads(x) for x in (runs[r.data.tags["run_id"]] / "metrics.jsonl").read_text().splitlines()]
        assert r.info.status == "FINISHED"
        assert r.data.tags["regime"] == result["labels"]["regime"] and r.data.tags["seed"] == str(result["seed"])
        assert r.data.metrics["final_top1"] == pytest.approx(result["final_top1"])
        losses = client.get_metric_history(r.info.run_id, "train_loss")
        assert [(m.step, m.value) for m in sorted(losses, key=lambda m: m.step)] == \
            [(h["epoch"], pytest.approx(h["train_loss"])) for h in history]
        rows = list(csv.DictReader((runs[r.data.tags["run_id"]] / "metrics.csv").open()))
        assert [float(x["train_loss"]) for x in rows] == pytest.approx([h["train_loss"] for h in history])
        # --log-every 1: every optimiser step's loss (64 images in batches of 32: 2 steps an epoch)
        steps = sorted(m.step for m in client.get_metric_history(r.info.run_id, "step_train_loss"))
        assert steps == list(range(1, 2 * result["epochs"] + 1))
        step_rows = list(csv.DictReader((runs[r.data.tags["run_id"]] / "metrics-steps.csv").open()))
        assert [int(x["step"]) for x in step_rows] == steps
    capsys.readouterr()
    png = tmp_path / "curves.png"
    assert main(["curves", str(store), "--where", "experiment=tiny-tracked", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["curves", str(store), "--where", "regime=nothing", "--out", str(png)]) == 2


def test_curves_are_means_over_seeds_per_arm():
    from prunelab.report.curves import curves

    runs = [{"labels": {"experiment": "e", "pruned": "p", "regime": "finetune", "seed": str(s)},
             "history": [{"epoch": 1, "train_loss": 1.0 + s, "test_top1": None},
                         {"epoch": 2, "train_loss": 0.5 + s, "test_top1": 0.5 + 0.1 * s}]} for s in (0, 1)]
    c = curves(runs)[("e", "p", "finetune")]
    assert c["seeds"] == 2
    assert c["train_loss"]["epoch"] == [1, 2] and c["train_loss"]["mean"] == pytest.approx([1.5, 1.0])
    assert c["test_top1"]["epoch"] == [2] and c["test_top1"]["mean"] == pytest.approx([55.0])
    assert c["test_top1"]["std"] == pytest.approx([(2 * 5.0 ** 2) ** 0.5])


def test_a_logger_whose_package_is_missing_is_one_line_before_any_work(monkeypatch, capsys, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    monkeypatch.delenv("PRUNELAB_LOGGER", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "small/slimming-fashion", "--logger", "tensorboard"]) == 2
    err = capsys.readouterr().err
    assert "needs the 'tensorboard' package: pip install 'prunelab[tracking]'" in err
    assert not (tmp_path / "runs").exists()


def test_log_every_needs_a_logger(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "small/slimming-fashion", "--log-every", "5"]) == 2
    assert "--log-every needs a --logger" in capsys.readouterr().err


def test_curves_pass_over_damaged_runs_with_a_warning(tmp_path, capsys):
    store = tmp_path / "s"
    for name, settings, metrics in (("good", {"labels": {"regime": "finetune"}, "seed": 0}, '{"epoch": 1, "train_loss": 0.5}\n'),
                                    ("noepoch", {"seed": 0}, '{"train_loss": 1.0}\n'),
                                    ("list", [], '{"epoch": 1}\n'), ("badline", {"seed": 1}, "[1, 2]\n")):
        (store / name).mkdir(parents=True)
        (store / name / "settings.json").write_text(json.dumps(settings))
        (store / name / "metrics.jsonl").write_text(metrics)
    assert main(["curves", "--store", str(store), "--out", str(tmp_path / "c.png")]) == 0
    err = capsys.readouterr().err
    assert err.count("curves: skipped") == 3 and "good" not in err
