"""Self-healing store files, cooperating workers, stale locks, size limits (issue 10)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import prunelab
from prunelab.arch import build, resolve
from prunelab.cli import main
from prunelab.data import DataSettings, load
from prunelab.errors import PrunelabError
from prunelab.train import Hooks, Recipe, train

ROOT = Path(__file__).parents[1]
GRID = """
name: workers
dataset: synthetic
data: {synthetic_size: [96, 64]}
models:
  - {arch: vgg11, width: 0.125, targets: [0.3, 0.5]}
seeds: [0, 1]
recipe: {epochs: 2, batch_size: 32, lr: 0.05}
finetune: {epochs: 1, lr: 0.001, schedule: constant}
"""


def _env(**extra):
    return dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", **extra)


class StopAfter(Hooks):
    def __init__(self, epochs):
        self.epochs = epochs

    def after_epoch(self, model, epoch):
        if epoch + 1 > self.epochs:
            raise KeyboardInterrupt  # as if killed after `epochs` checkpoints


def test_a_truncated_checkpoint_is_set_aside_and_the_run_finishes_identically(tmp_path, caplog):
    data = load(DataSettings("synthetic", synthetic_size=(64, 32)))
    spec = resolve("vgg11", "synthetic", width=0.125)
    recipe = Recipe(epochs=4, batch_size=16, lr=0.05)
    ref = build(spec, seed=0)
    r_ref = train(ref, data, recipe, seed=0, run_dir=tmp_path / "ref")
    for damage in ("truncate", "both", "flip"):
        d = tmp_path / damage
        with pytest.raises(KeyboardInterrupt):
            train(build(spec, seed=0), data, recipe, seed=0, run_dir=d, hooks=StopAfter(3))
        assert torch.load(d / "checkpoint.pt", weights_only=True)["epoch"] == 3
        for name in ("checkpoint.pt",) + (("checkpoint.prev.pt",) if damage == "both" else ()):
            if damage == "flip":
                flip(d / name)  # the file keeps its size and stays a valid zip: only its checksum tells
                assert torch.load(d / name, weights_only=True)["epoch"] == 3  # (torch alone loads it)
            else:
                raw = (d / name).read_bytes()
                (d / name).write_bytes(raw[: len(raw) // 3])  # a disk that filled up mid-write
        model = build(spec, seed=0)
        with caplog.at_level("WARNING", logger="prunelab"):
            r = train(model, data, recipe, seed=0, run_dir=d)
        assert "could not be loaded" in caplog.text and "moved aside" in caplog.text
        assert len(list(d.glob("checkpoint.pt.broken-*"))) == 1
        assert (r.final_top1, r.final_top5) == (r_ref.final_top1, r_ref.final_top5)
        for k, v in ref.state_dict().items():
            assert torch.equal(model.state_dict()[k], v), (damage, k)
        epochs_trained = [h["epoch"] for h in r.history]
        assert epochs_trained == [1, 2, 3, 4]
        if damage == "both":
            assert "training starts over" in caplog.text
        caplog.clear()


def flip(path, n=64):
    """Flip ``n`` bytes in the middle of a file (a disk or memory error that keeps its size)."""
    raw = bytearray(path.read_bytes())
    mid = len(raw) // 2
    raw[mid: mid + n] = bytes(b ^ 0xFF for b in raw[mid: mid + n])
    path.write_bytes(bytes(raw))


def test_flipped_bytes_in_store_files_are_found_and_healed_identically(tmp_path, capsys):
    """A model.pt, a pruned model and a result file with 64 flipped bytes: `runs --verify` names
    them, the next `run` sets them aside with a warning, remakes them, counts what it retrained, and
    ends with the results of an undamaged store."""
    cfg = tmp_path / "grid.yaml"
    cfg.write_text(GRID.replace("seeds: [0, 1]", "seeds: [0]").replace("targets: [0.3, 0.5]", "targets: [0.5]"))
    store = tmp_path / "store"
    argv = ["run", str(cfg), "--store", str(store), "--quiet", "--device", "cpu"]
    assert main(argv) == 0
    before = {p.parent.name: json.loads(p.read_text()) for p in store.glob("*/result.json")}
    assert main(["runs", str(store), "--verify"]) == 0
    assert "0 damaged: the store is intact" in capsys.readouterr().out
    (base,) = [p.parent for p in store.glob("*/init.pt")]
    (pruned,) = list((store / "pruned").glob("*.pt"))
    (ft,) = [p.parent for p in store.glob("*-inherit-*/result.json")]
    for f in (base / "model.pt", pruned):
        flip(f)
    assert torch.load(base / "model.pt", weights_only=True)["spec"]  # torch alone would load it silently
    (ft / "result.json").unlink()  # the fine-tuned run is redone: it reads both
    assert main(["runs", str(store), "--verify"]) == 1
    out = capsys.readouterr().out
    assert f"{base.name}/model.pt: checksum mismatch" in out and "the run is trained again" in out
    assert f"pruned/{pruned.name}: checksum mismatch" in out and "2 damaged" in out
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "checksum mismatch" in err and "moved aside" in err
    assert "2 runs trained here" in err  # the healed large model counts, with the fine-tuned run
    after = {p.parent.name: json.loads(p.read_text()) for p in store.glob("*/result.json")}
    keys = ("final_top1", "final_top5", "params", "macs", "epochs")
    assert {k: [r[x] for x in keys] for k, r in after.items()} == {k: [r[x] for x in keys] for k, r in before.items()}
    assert main(["runs", str(store), "--verify"]) == 0
    # files follow the umask (the store is shared between collaborators)
    mask = os.umask(0o022)
    os.umask(mask)
    want = 0o666 & ~mask
    assert all((f.stat().st_mode & 0o777) == want for f in store.rglob("*") if f.is_file() and not f.name.startswith("."))


def _run_worker(cfg, store, env=None):
    return subprocess.Popen([sys.executable, "-m", "prunelab", "run", str(cfg), "--store", str(store), "--quiet",
                             "--device", "cpu"], env=env or _env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def test_three_workers_finish_one_grid_together(tmp_path):
    cfg = tmp_path / "grid.yaml"
    cfg.write_text(GRID)
    store = tmp_path / "store"
    workers = [_run_worker(cfg, store) for _ in range(3)]
    errs = [w.communicate(timeout=600)[1] for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0], errs
    trained = [int(e.split(" runs trained here")[0].rsplit(" ", 1)[1]) for e in errs]
    results = list(store.glob("*/result.json"))
    assert len(results) == 2 + 2 * 2 * 3  # per seed: a baseline and 2 targets x 3 regimes
    assert sum(trained) == len(results), (trained, errs)  # every run trained exactly once
    for r in results:
        hist = [json.loads(x) for x in (r.parent / "metrics.jsonl").read_text().splitlines()]
        assert [h["epoch"] for h in hist] == list(range(1, len(hist) + 1))
    assert not list(store.rglob(".*.tmp"))


def test_a_killed_workers_lock_is_taken_over(tmp_path):
    cfg = tmp_path / "grid.yaml"
    cfg.write_text(GRID.replace("seeds: [0, 1]", "seeds: [0]").replace("epochs: 2, batch_size", "epochs: 6, batch_size"))
    store = tmp_path / "store"
    w = _run_worker(cfg, store, env=_env(PRUNELAB_TEST_WRITE_DELAY="0.5"))
    deadline = time.time() + 120
    while time.time() < deadline and not list(store.glob("*/checkpoint.pt")):
        time.sleep(0.02)
    w.send_signal(signal.SIGKILL)
    w.wait()
    (locked,) = [p.parent for p in store.glob("*/checkpoint.pt")]
    assert "pid" in (locked / ".lock").read_text()  # the dead worker's lock file is still there
    w2 = _run_worker(cfg, store)
    _, err = w2.communicate(timeout=600)
    assert w2.returncode == 0, err
    assert (locked / "result.json").is_file() and len(list(store.glob("*/result.json"))) == 7


def test_broken_store_files_are_made_again(tmp_path, capsys):
    cfg = tmp_path / "grid.yaml"
    cfg.write_text(GRID.replace("seeds: [0, 1]", "seeds: [0]").replace("targets: [0.3, 0.5]", "targets: [0.5]"))
    store = tmp_path / "store"
    argv = ["run", str(cfg), "--store", str(store), "--quiet", "--device", "cpu"]
    assert main(argv) == 0
    capsys.readouterr()
    (base,) = [p.parent for p in store.glob("*/init.pt")]
    (pruned,) = list((store / "pruned").glob("*.pt"))
    (ft,) = [p.parent for p in store.glob("*-inherit-*/result.json")]
    # a broken large model (another process's disk error) and a broken pruned model
    (base / "model.pt").write_bytes(b"garbage")
    pruned.write_bytes(b"garbage")
    (ft / "result.json").unlink()  # the fine-tuned run must be redone: it reads both
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "could not be loaded" in err and "moved aside" in err
    assert prunelab.load(base) is not None and prunelab.load(pruned) is not None
    assert (ft / "result.json").is_file()
    assert list(base.glob("model.pt.broken-*")) and list(pruned.parent.glob("*.pt.broken-*"))


def test_sizes_are_checked_before_building(monkeypatch, capsys):
    import prunelab.arch.families as families

    built = []
    monkeypatch.setattr(families, "validate", lambda spec: built.append(spec))  # any build would pass here
    assert main(["arch", "resnet60002"]) == 2
    assert built == []  # refused from the name, before a spec of 60,000 layers was made or built
    monkeypatch.undo()
    assert "resnet60002 has about 60,002 layers, above the limit of 5,000" in capsys.readouterr().err
    monkeypatch.setenv("PRUNELAB_MAX_PARAMS", "1000000")
    with pytest.raises(PrunelabError, match="above the limit of 1,000,000 .*PRUNELAB_MAX_PARAMS"):
        resolve("resnet110", "cifar10")  # 1.7 M parameters
    monkeypatch.setenv("PRUNELAB_MAX_PARAMS", "2e6")
    assert resolve("resnet110", "cifar10").name == "resnet110"


def test_plan_prints_the_compute_and_a_duration_once_timed(tmp_path, capsys):
    cfg = tmp_path / "grid.yaml"
    cfg.write_text(GRID.replace("seeds: [0, 1]", "seeds: [0]"))
    store = str(tmp_path / "store")
    assert main(["plan", str(cfg), "--store", store]) == 0
    out = capsys.readouterr().out
    assert "TMACs in all" in out and "on this device" not in out
    assert main(["run", str(cfg), "--store", store, "--quiet", "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["plan", str(cfg), "--store", store, "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "0.000 TMACs to go; about 0 s on this device" in out


def test_a_set_aside_init_is_rewritten(tmp_path, capsys):
    from prunelab.runs.store import RunStore, load_init

    cfg = tmp_path / "grid.yaml"
    cfg.write_text(GRID.replace("seeds: [0, 1]", "seeds: [0]").replace("targets: [0.3, 0.5]", "targets: [0.5]")
                   + "regimes: [scratch-e]\n")
    store = tmp_path / "store"
    assert main(["run", str(cfg), "--store", str(store), "--quiet", "--device", "cpu"]) == 0
    (base,) = [p.parent for p in store.glob("*/init.pt")]
    good = prunelab.load(base / "init.pt").state_dict()
    flip(base / "init.pt")
    again = load_init(RunStore(store), base.name)
    assert "checksum mismatch" in capsys.readouterr().err and list(base.glob("init.pt.broken-*"))
    rewritten = prunelab.load(base / "init.pt").state_dict()  # made again from the settings, and saved
    assert all(torch.equal(good[k], rewritten[k]) and torch.equal(good[k], again.state_dict()[k]) for k in good)


def test_damage_nothing_else_would_read_is_healed_too(tmp_path, capsys):
    """A finished run's settings.json, a Scratch-E run's model.pt (nothing loads it again) and the
    pruned model a structured winning ticket is cut with: each found, set aside or rewritten, and
    the grid ends as the undamaged one did."""
    cfg = tmp_path / "grid.yaml"
    cfg.write_text(GRID.replace("seeds: [0, 1]", "seeds: [0]").replace("targets: [0.3, 0.5]", "targets: [0.5]")
                   + "regimes: [scratch-e, winning-ticket]\n")
    store = tmp_path / "store"
    argv = ["run", str(cfg), "--store", str(store), "--quiet", "--device", "cpu"]
    assert main(argv) == 0
    before = {p.parent.name: json.loads(p.read_text())["final_top1"] for p in store.glob("*/result.json")}
    (base,) = [p.parent for p in store.glob("*/init.pt")]
    (scratch,) = [p.parent for p in store.glob("*-random-e2-*/result.json") if p.parent != base]
    (ticket,) = [p.parent for p in store.glob("*-init-*/result.json")]
    (pruned,) = list((store / "pruned").glob("*.pt"))
    text = (base / "settings.json").read_text()
    (base / "settings.json").write_text(text.replace('"seed": 0', '"seed": 1'))  # valid JSON, wrong content
    flip(scratch / "model.pt")
    flip(pruned)
    (ticket / "result.json").unlink()  # the ticket is cut again from the large model's init: it reads the pruned file
    assert main(["runs", str(store), "--verify"]) == 1
    assert "3 damaged" in capsys.readouterr().out
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "settings.json was damaged; written again" in err and "model.pt" in err and "checksum mismatch" in err
    after = {p.parent.name: json.loads(p.read_text())["final_top1"] for p in store.glob("*/result.json")}
    assert after == before
    assert main(["runs", str(store), "--verify"]) == 0
