"""The training engine, run store and resume-after-SIGKILL."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from prunelab.arch import build, resolve
from prunelab.data import DataSettings, load
from prunelab.errors import PrunelabError, TrainingDiverged
from prunelab.runs import RunSettings, RunStore, execute
from prunelab.train import Hooks, Recipe, train

TRAIN = [sys.executable, "-m", "prunelab", "train", "--arch", "resnet20", "--width", "0.5", "--dataset", "synthetic",
         "--epochs", "4", "--lr", "0.05", "--quiet", "--device", "cpu"]


def _run_dir(store: Path) -> Path:
    (d,) = [p for p in store.iterdir() if p.is_dir()]
    return d


def _final_state(store: Path) -> dict:
    return torch.load(_run_dir(store) / "model.pt", weights_only=True)["state_dict"]


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1]), OMP_NUM_THREADS="2", **extra)
    return env


def test_kill_and_resume_is_bit_identical(tmp_path):
    ref = tmp_path / "ref"
    subprocess.run(TRAIN + ["--store", str(ref)], check=True, env=_env(), capture_output=True)
    expected = _final_state(ref)
    assert json.loads((_run_dir(ref) / "result.json").read_text())["epochs"] == 4

    rng = random.Random()
    # 1) killed at a random moment after the first checkpoint; 2) killed in the middle of a later checkpoint write
    for scenario in ("random", "mid-write"):
        store = tmp_path / scenario
        env = _env(PRUNELAB_TEST_WRITE_DELAY="1.0") if scenario == "mid-write" else _env()
        p = subprocess.Popen(TRAIN + ["--store", str(store)], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline and not list(store.glob("*/checkpoint.pt")):
            time.sleep(0.01)
        if scenario == "random":
            time.sleep(rng.uniform(0.0, 1.5))
        else:
            while time.time() < deadline and not list(store.glob("*/.checkpoint.pt.*.tmp")):
                time.sleep(0.01)
            assert list(store.glob("*/.checkpoint.pt.*.tmp")), "no checkpoint write was seen"
        p.send_signal(signal.SIGKILL)
        p.wait()
        d = _run_dir(store)
        assert (d / "checkpoint.pt").is_file() and not (d / "result.json").exists(), scenario
        if scenario == "mid-write":
            assert list(d.glob(".checkpoint.pt.*.tmp"))  # the half-written file the rerun must clear
        ck = torch.load(d / "checkpoint.pt", weights_only=True)
        assert 1 <= ck["epoch"] < 4
        before = ck["history"]
        res = subprocess.run(TRAIN + ["--store", str(store)], check=True, env=_env(), capture_output=True, text=True)
        assert "resuming run" in res.stdout
        got = _final_state(store)
        assert got.keys() == expected.keys()
        for k in expected:
            assert torch.equal(got[k], expected[k]), (scenario, k)
        hist = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
        assert [h["epoch"] for h in hist] == [1, 2, 3, 4]
        # the epochs before the checkpoint were not trained again: their logs (timings included) are the killed run's
        assert hist[: len(before)] == before
        assert not list(d.glob(".*.tmp")), "an interrupted write left a temporary file"
        assert not (d / "checkpoint.pt").exists() and not (d / "checkpoint.prev.pt").exists()


def _settings(**kw):
    spec = resolve("vgg11", "synthetic", width=0.125)
    base = dict(arch=spec.to_dict(), data=DataSettings("synthetic", synthetic_size=(128, 64), val_size=32),
                recipe=Recipe(epochs=2, batch_size=32, lr=0.05), seed=0)
    base.update(kw)
    return RunSettings(**base)


def test_store_reuses_finished_runs_and_force_reruns(tmp_path):
    store = RunStore(tmp_path / "s")
    s = _settings()
    r1 = execute(s, store, device="cpu")
    for key in ("final_top1", "final_top5", "best_val_top1", "best_val_epoch", "params", "macs", "params_nonzero",
                "macs_nonzero", "epochs", "images_seen", "train_macs", "wall_s", "seed", "settings",
                "prunelab_version", "torch_version", "git_sha", "device"):
        assert key in r1, key
    assert r1["images_seen"] == 2 * 96 and r1["train_macs"] == r1["macs"] * 3 * 192
    assert 0 <= r1["final_top1"] <= 1 and r1["best_val_epoch"] in (1, 2)
    mtime = (store.path(s) / "result.json").stat().st_mtime_ns
    assert execute(s, store, device="cpu") == r1  # reused, not retrained
    assert (store.path(s) / "result.json").stat().st_mtime_ns == mtime
    execute(s, store, device="cpu", force=True)
    assert (store.path(s) / "result.json").stat().st_mtime_ns != mtime
    saved = json.loads((store.path(s) / "settings.json").read_text())
    assert saved["recipe"]["lr"] == 0.05 and saved["seed"] == 0
    # any change of settings is another run
    assert _settings(seed=1).run_id() != s.run_id()
    assert _settings(recipe=Recipe(epochs=2, batch_size=32, lr=0.01)).run_id() != s.run_id()
    assert _settings().run_id() == s.run_id()


def test_nan_loss_stops_with_a_clear_error():
    data = load(DataSettings("synthetic", synthetic_size=(64, 32)))
    model = build(resolve("vgg11", "synthetic", width=0.125), seed=0)
    with pytest.raises(TrainingDiverged, match="training diverged: loss is nan"):
        train(model, data, Recipe(epochs=1, batch_size=16, lr=1e30, momentum=0.0))


def test_hooks_are_called_and_can_mask():
    data = load(DataSettings("synthetic", synthetic_size=(64, 32)))
    model = build(resolve("vgg11", "synthetic", width=0.125), seed=0)
    calls = {"backward": 0, "step": 0, "epoch": []}

    class Mask(Hooks):
        def after_backward(self, m):
            calls["backward"] += 1

        def after_step(self, m):
            calls["step"] += 1
            with torch.no_grad():
                m.features[0].weight[0].zero_()

        def after_epoch(self, m, epoch):
            calls["epoch"].append(epoch)

    train(model, data, Recipe(epochs=2, batch_size=16, lr=0.05), hooks=Mask())
    assert calls["backward"] == calls["step"] == 8 and calls["epoch"] == [0, 1]
    assert model.features[0].weight[0].abs().sum() == 0


def test_schedules():
    r = Recipe(epochs=160)
    assert [r.lr_at(e) for e in (0, 79, 80, 119, 120, 159)] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert r.scaled(220).milestone_epochs() == [110, 165]
    r = Recipe(epochs=90, milestones=(30, 60))
    assert r.scaled(180).milestone_epochs() == [60, 120]
    c = Recipe(epochs=10, schedule="cosine", lr=1.0)
    assert c.lr_at(0) == 1.0 and c.lr_at(5) == pytest.approx(0.5)
    w = Recipe(epochs=200, lr=0.1, warmup_epochs=1, warmup_lr=0.01, milestones=(60, 120, 160), gamma=0.2)
    assert [w.lr_at(e) for e in (0, 1, 60, 120, 160)] == pytest.approx([0.01, 0.1, 0.02, 0.004, 0.0008])


def test_deterministic_on_cpu():
    data = load(DataSettings("synthetic", synthetic_size=(64, 32)))
    states = []
    for _ in range(2):
        model = build(resolve("resnet20", "synthetic", width=0.25), seed=3)
        train(model, data, Recipe(epochs=1, batch_size=16, lr=0.05), seed=3)
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    store = RunStore(tmp_path / "s")
    s = _settings()
    execute(s, store, device="cpu")
    import prunelab

    with pytest.raises(PrunelabError, match="holds architecture"):
        prunelab.load(store.path(s), expect=resolve("resnet20", "synthetic"))


@pytest.mark.skipif(not os.path.isfile("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"),
                    reason="Fashion-MNIST (Debian's dataset-fashion-mnist) is not installed; `make test` installs it")
def test_learns_on_real_fashion_mnist():
    data = load(DataSettings("fashion-mnist", train_subset=3000, test_subset=2000))
    model = build(resolve("vgg11", "fashion-mnist", width=0.25), seed=0)
    r = train(model, data, Recipe(epochs=2, batch_size=64, lr=0.05))
    assert r.final_top1 > 0.6  # chance is 0.1
    assert r.history[1]["train_loss"] < r.history[0]["train_loss"]
