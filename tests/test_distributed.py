"""Several processes (torchrun + DDP on gloo/CPU), resume across world sizes, mid-epoch checkpoints."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from prunelab.cli import main
from prunelab.data import DataSettings, load
from prunelab.errors import PrunelabError
from prunelab.runs import RunSettings
from prunelab.train import HookList, Hooks, Recipe, train
from prunelab.train.distributed import local_batch

ROOT = Path(__file__).parents[1]
HARNESS = str(ROOT / "tests" / "ddp_harness.py")
TRAIN = ["train", "--arch", "vgg11", "--width", "0.125", "--dataset", "synthetic", "--train-subset", "256",
         "--test-subset", "64", "--epochs", "2", "--batch-size", "32", "--lr", "0.05", "--quiet", "--device", "cpu"]
GRID = """
name: ddp-grid
dataset: synthetic
data: {synthetic_size: [64, 32]}
models:
  - {arch: vgg11, width: 0.125, targets: [0.5]}
seeds: [0]
prune: [{method: slimming, lam: 1.0e-3}, {method: magnitude}]
regimes: [finetune]
recipe: {epochs: 2, batch_size: 16, lr: 0.05}
finetune: {epochs: 1, lr: 0.01, schedule: constant}
"""


def _env(out: Path, store: Path, **extra) -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", HARNESS_OUT=str(out),
                HARNESS_STORE=str(store), PRUNELAB_DIST_TIMEOUT_MIN="2", **extra)


class Group:
    """Two processes of prunelab (through tests/ddp_harness.py): started by torchrun, or, cheaper,
    directly with the environment torchrun gives its workers (RANK, WORLD_SIZE, MASTER_PORT...)."""

    def __init__(self, out: Path, store: Path, argv: list[str], torchrun: bool = False):
        out.mkdir(parents=True, exist_ok=True)
        kw = dict(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        if torchrun:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", HARNESS, *argv]
            self.procs = [subprocess.Popen(cmd, env=_env(out, store), **kw)]
        else:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = str(s.getsockname()[1])
            self.procs = [subprocess.Popen([sys.executable, HARNESS, *argv], **kw, env=_env(
                out, store, RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE="2", LOCAL_WORLD_SIZE="2", GROUP_RANK="0",
                MASTER_ADDR="127.0.0.1", MASTER_PORT=port)) for r in (0, 1)]

    def finish(self) -> str:
        texts = [p.communicate(timeout=300)[0] for p in self.procs]
        assert [p.returncode for p in self.procs] == [0] * len(self.procs), texts
        return "".join(texts)

    def kill(self, out: Path) -> None:
        """SIGKILL every process: the launcher's group and the workers (torchrun gives them their own)."""
        pids = [int((out / f"rank{r}.pid").read_text()) for r in (0, 1)]
        for p in self.procs:
            os.killpg(p.pid, signal.SIGKILL)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for p in self.procs:
            p.communicate()


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # in-process training next to the test's other processes on 2 cores
    yield
    torch.set_num_threads(threads)


def _run_dir(store: Path) -> Path:
    (d,) = [p for p in store.iterdir() if p.is_dir()]
    return d


def _states(out: Path, run: str) -> list[dict]:
    return [torch.load(out / f"rank{r}-{run}.pt", weights_only=True) for r in (0, 1)]


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _rank0_only(out: Path, store: Path, before: tuple[str, ...] = ()) -> None:
    """Rank 1 attempted no write below the store; every lock names rank 0's process."""
    assert (out / "rank0.exit").read_text() == (out / "rank1.exit").read_text() == "0"
    assert not (out / "rank1.writes").exists(), (out / "rank1.writes").read_text()
    assert (out / "rank0.writes").read_text()  # the audit sees rank 0's writes, so it would see rank 1's
    pid0 = (out / "rank0.pid").read_text()
    locks = [p for p in store.rglob(".*lock") if p.parent.name not in before]  # (not a folder written before)
    assert locks and all(f"pid {pid0} " in p.read_text() for p in locks)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """A 2-process run of 2 epochs, never interrupted (shared by the tests below)."""
    tmp = tmp_path_factory.mktemp("ddp")
    store, out = tmp / "store", tmp / "out"
    text = Group(out, store, [*TRAIN, "--store", str(store)]).finish()
    return store, out, text


def test_two_processes_train_one_model_and_only_rank0_writes(uninterrupted):
    store, out, text = uninterrupted
    assert text.count("starting run") == 1  # rank 0 speaks
    d = _run_dir(store)
    assert sorted(p.name for p in d.iterdir() if p.name != "tb") == \
        [".lock", "init.pt", "metrics.jsonl", "model.pt", "result.json", "settings.json"]
    rank0, rank1 = _states(out, d.name)
    assert _same(rank0, rank1)  # weights and BN buffers identical on both ranks
    assert _same(rank0, torch.load(d / "model.pt", weights_only=True)["state_dict"])
    _rank0_only(out, store)
    hist = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in hist] == [1, 2] and all(h["images"] == 256 for h in hist)  # global figures
    assert json.loads((d / "result.json").read_text())["images_seen"] == 2 * 256


def test_a_killed_ddp_run_resumes_at_two_and_at_one_process(uninterrupted, tmp_path, one_thread):
    ref_store, ref_out, _ = uninterrupted
    store, out = tmp_path / "store", tmp_path / "out"
    argv = [*TRAIN, "--store", str(store), "--checkpoint-minutes", "1e-6"]  # a checkpoint after every step
    group = Group(out, store, argv, torchrun=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(store.glob("*/checkpoint.pt")):
        time.sleep(0.01)
    time.sleep(0.3)
    group.kill(out)
    d = _run_dir(store)
    assert d.name == _run_dir(ref_store).name  # checkpoint_minutes is not part of the run's identity
    assert not (d / "result.json").exists()
    ck = torch.load(d / "checkpoint.pt", weights_only=True)
    assert (ck["epoch"], ck.get("step", 0)) < (2, 0) and (ck["epoch"], ck.get("step", 0)) != (0, 0)
    copy = tmp_path / "store1"
    shutil.copytree(store, copy)

    # 2 processes again: the same weights as the uninterrupted 2-process run, bit for bit
    text = Group(tmp_path / "out2", store, [*TRAIN, "--store", str(store)]).finish()
    assert "resuming run" in text
    got = torch.load(d / "model.pt", weights_only=True)["state_dict"]
    assert _same(got, torch.load(_run_dir(ref_store) / "model.pt", weights_only=True)["state_dict"])
    assert [json.loads(x)["epoch"] for x in (d / "metrics.jsonl").read_text().splitlines()] == [1, 2]

    # one process computes another result (BatchNorm over all 32 images of a batch, not 16 per
    # process): its run is another run, named by its process count, and never resumes the 2-process one
    assert "-x2-" in d.name
    assert main([*TRAIN, "--store", str(copy)]) == 0
    (d1,) = [p for p in copy.iterdir() if p.is_dir() and p.name != d.name]
    assert d.name.split("-e2-")[0] == d1.name.split("-e2-")[0] + "-x2"
    hist = [json.loads(x) for x in (d1 / "metrics.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in hist] == [1, 2] and all(h["images"] == 256 for h in hist)
    assert (copy / d.name / "checkpoint.pt").exists() and not (copy / d.name / "result.json").exists()


class StopAtStep(Hooks):
    """Raises after ``n`` optimiser steps, as if the process were killed there."""

    def __init__(self, n):
        self.n = n

    def after_step(self, model):
        self.n -= 1
        if self.n == 0:
            raise KeyboardInterrupt


def test_a_grid_with_two_processes_trains_its_own_runs_beside_a_one_process_checkpoint(tmp_path, monkeypatch,
                                                                                        one_thread):
    cfg = tmp_path / "grid.yaml"
    cfg.write_text(GRID)
    store, out = tmp_path / "store", tmp_path / "out"
    # one process trains the baseline into its second epoch (a mid-epoch checkpoint), then dies
    import prunelab.runs.store as st

    real = st.train
    monkeypatch.setattr(st, "train", lambda *a, **kw: real(*a, **{**kw, "hooks": HookList([kw["hooks"],
                                                                                        StopAtStep(6)])}))
    from prunelab.runs.grid import load_experiment, plan

    grid = plan(load_experiment(cfg))
    base = grid.runs[0].settings
    assert base.method["name"] == "slimming"
    mid = RunSettings.from_dict({**base.to_dict(), "recipe": {**base.to_dict()["recipe"], "checkpoint_minutes": 1e-6}})
    with pytest.raises(KeyboardInterrupt):
        st.execute(mid, st.RunStore(store), device="cpu", save_init=True)
    monkeypatch.setattr(st, "train", real)
    ck = torch.load(store / base.run_id() / "checkpoint.pt", weights_only=True)
    assert (ck["epoch"], ck["step"]) == (1, 1)

    # two processes run the grid: rank 0 chooses the runs and prunes, both train (slimming's
    # gradient hook on the BN scales; magnitude pruning's masks in the fine-tuned run). With
    # per-process BatchNorm their runs are others than one process's (named by "x2"), so the
    # one-process checkpoint is left as it is, never taken for theirs
    text = Group(out, store, ["run", str(cfg), "--store", str(store), "--quiet", "--device", "cpu"]).finish()
    assert "4 runs trained here" in text, text
    results = sorted(store.glob("*/result.json"))
    assert len(results) == 4 and len(list((store / "pruned").glob("*.json"))) == 2
    assert all("-x2-" in r.parent.name for r in results)
    two = plan(load_experiment(cfg), processes=2).runs[0].settings
    assert two.run_id() != base.run_id() and (store / two.run_id() / "result.json").is_file()
    assert (store / base.run_id() / "checkpoint.pt").is_file() and not (store / base.run_id() / "result.json").exists()
    for r in results:
        rank0, rank1 = _states(out, r.parent.name)
        assert _same(rank0, rank1)
        hist = [json.loads(x) for x in (r.parent / "metrics.jsonl").read_text().splitlines()]
        assert [h["epoch"] for h in hist] == list(range(1, len(hist) + 1))
    _rank0_only(out, store, before=(base.run_id(),))


def test_mid_epoch_checkpoints_resume_bit_identically(tmp_path, one_thread):
    data = load(DataSettings("synthetic", synthetic_size=(96, 32)))

    def model():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Dropout(0.5), nn.Linear(4, 10))

    recipe = Recipe(epochs=2, batch_size=16, lr=0.05, checkpoint_minutes=1e-9)  # 6 steps per epoch
    ref = model()
    r_ref = train(ref, data, Recipe(epochs=2, batch_size=16, lr=0.05), seed=4)
    d = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(model(), data, recipe, seed=4, run_dir=d, hooks=StopAtStep(10))  # killed in step 5 of epoch 2
    ck = torch.load(d / "checkpoint.pt", weights_only=True)
    assert (ck["epoch"], ck["step"]) == (1, 3)
    got = model()
    r = train(got, data, recipe, seed=4, run_dir=d)
    for k, v in ref.state_dict().items():
        assert torch.equal(got.state_dict()[k], v), k
    strip = lambda h: [{k: v for k, v in e.items() if k != "seconds"} for e in h]  # noqa: E731
    assert strip(r.history) == strip(r_ref.history)


def test_shards_are_the_single_process_batches():
    data = load(DataSettings("synthetic", synthetic_size=(100, 8)))  # 3 batches of 32 and one of 4
    whole = list(data.batches("train", 32, train=True, gen=torch.Generator().manual_seed(1)))
    for start in (0, 2):
        parts = [list(data.batches("train", 32, train=True, gen=torch.Generator().manual_seed(1), start=start,
                                   shard=(r, 2))) for r in (0, 1)]
        assert len(parts[0]) == len(parts[1]) == 4 - start
        for (x, y), (x0, y0), (x1, y1) in zip(whole[start:], *parts):
            assert len(y0) == len(y1) and torch.equal(torch.cat([x0, x1]), x) and torch.equal(torch.cat([y0, y1]), y)
    assert data.num_batches("train", 32, True, world=3) == 3  # 4 images left: fewer than 2 per process
    evals = [torch.cat([y for _, y in data.batches("test", 3, shard=(r, 3))]) for r in range(3)]
    assert torch.equal(torch.cat(evals), data.splits["test"][1])


def test_world_size_rules_and_identity():
    assert local_batch(64, 4) == 16
    with pytest.raises(PrunelabError, match="batch size 30 is not divisible by the 4 processes") as e:
        local_batch(30, 4)
    assert "\n" not in str(e.value)
    s = dict(arch={"family": "vgg", "name": "x"}, data=DataSettings("synthetic"), seed=0)
    assert RunSettings(recipe=Recipe(epochs=2, checkpoint_minutes=5), **s).run_id() == \
        RunSettings(recipe=Recipe(epochs=2), **s).run_id()
    assert RunSettings(recipe=Recipe(epochs=2, sync_bn=True), **s).run_id() != \
        RunSettings(recipe=Recipe(epochs=2), **s).run_id()
    # the process count: part of the identity where it changes the result (per-process BatchNorm)
    one = RunSettings(recipe=Recipe(epochs=2), **s)
    assert RunSettings(recipe=Recipe(epochs=2), processes=2, **s).run_id() != one.run_id()
    assert "-x2-" in RunSettings(recipe=Recipe(epochs=2), processes=2, **s).run_id()
    synced = RunSettings(recipe=Recipe(epochs=2, sync_bn=True), **s)  # statistics over the global batch
    assert RunSettings(recipe=Recipe(epochs=2, sync_bn=True), processes=8, **s).run_id() == synced.run_id()
    evaluation = RunSettings(recipe=Recipe(epochs=0), init={"kind": "inherit", "path": "x"}, **s)
    assert RunSettings(recipe=Recipe(epochs=0), init={"kind": "inherit", "path": "x"}, processes=4, **s).run_id() == \
        evaluation.run_id()
    again = RunSettings.from_dict(RunSettings(recipe=Recipe(epochs=2), processes=2, **s).to_dict())
    assert again.processes == 2 and "processes" not in one.to_dict()  # 1-process settings files unchanged


def test_an_evaluation_of_0_epochs_under_two_processes(tmp_path, capsys):
    """train --init M --epochs 0 under torchrun: the test set is split over the ranks and the counts
    summed, so the accuracy is the single process's; nothing trained, only rank 0 writes."""
    import prunelab

    prunelab.save(prunelab.build(prunelab.spec("vgg11", "synthetic", width=0.125), seed=3), tmp_path / "m.pt")
    argv = [*TRAIN[:TRAIN.index("--epochs")], "--epochs", "0", *TRAIN[TRAIN.index("--epochs") + 2:],
            "--init", str(tmp_path / "m.pt")]
    store, out = tmp_path / "store", tmp_path / "out"
    Group(out, store, [*argv, "--store", str(store)]).finish()
    two = json.loads((_run_dir(store) / "result.json").read_text())
    _rank0_only(out, store)
    assert main([*argv, "--store", str(tmp_path / "one")]) == 0, capsys.readouterr().err
    one = json.loads((_run_dir(tmp_path / "one") / "result.json").read_text())
    assert two["run_id"] == one["run_id"] and two["epochs"] == 0 and two["train_macs"] == 0
    assert two["final_top1"] == one["final_top1"] and two["final_top5"] == one["final_top5"]
