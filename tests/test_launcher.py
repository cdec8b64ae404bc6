"""`prunelab run FILE --launcher submitit`: a grid's runs and prune steps as jobs (submitit's
LocalExecutor here), in dependency waves, idempotent through the run store."""
import json
import os
import sys
from pathlib import Path

import pytest

pytest.importorskip("submitit")

from prunelab.cli import main  # noqa: E402

ROOT = Path(__file__).parents[1]
GRID = """
name: jobs
dataset: synthetic
data: {synthetic_size: [96, 64]}
models:
  - {arch: vgg11, width: 0.125, targets: [0.5]}
seeds: [0]
regimes: [finetune, scratch-e]
recipe: {epochs: 1, batch_size: 32, lr: 0.05}
finetune: {epochs: 1, lr: 0.001, schedule: constant}
launcher: {parallel: 2, cpus_per_task: 1, timeout_min: 10}
"""
BOOM = '''
from prunelab.methods.l1_norm import L1Norm


class Boom(L1Norm):
    def prune(self, model, params, data):
        raise RuntimeError("boom: this prune step always fails")
'''


@pytest.fixture
def job_env(tmp_path, monkeypatch):
    """The jobs are new processes: they find prunelab (and tmp_path's plug-ins) on PYTHONPATH."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _jobs(store):
    path = store / "jobs" / "jobs.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.is_file() else []


def _mtime(p):
    return p.stat().st_mtime_ns


def test_a_grid_runs_as_jobs_in_dependency_order_and_again_submits_nothing(job_env, capsys):
    tmp = job_env
    (tmp / "g.yaml").write_text(GRID)
    store = tmp / "store"
    argv = ["run", str(tmp / "g.yaml"), "--store", str(store), "--device", "cpu", "--launcher", "submitit",
            "--cluster", "local"]
    assert main(argv) == 0, capsys.readouterr().err
    out, err = capsys.readouterr()
    assert "4 jobs in 3 waves (3 runs trained, 1 prune steps)" in err and "Traceback" not in err
    assert "| synthetic | vgg11-w0.125 |" in out
    results = {json.loads(p.read_text())["labels"]["regime"]: p for p in store.glob("*/result.json")}
    assert set(results) == {"baseline", "finetune", "scratch-e"}
    (step,) = list((store / "pruned").glob("*.json"))
    # from the store: each run started (its settings.json) after the runs and prune step it needs finished
    assert _mtime(results["baseline"]) <= _mtime(step) <= _mtime(results["finetune"].parent / "settings.json")
    log = _jobs(store)
    ended = {(e["kind"], e["id"]): e["time"] for e in log if e["event"] == "ended"}
    submitted = {(e["kind"], e["id"]): e for e in log if e["event"] == "submitted"}
    assert len(submitted) == 4 and all(e["status"] in ("trained", "pruned") for e in log if e["event"] == "ended")
    base_id, ft_id = results["baseline"].parent.name, results["finetune"].parent.name
    assert submitted["prune", step.stem]["time"] >= ended["run", base_id]
    assert submitted["run", ft_id]["time"] >= ended["prune", step.stem]
    assert [submitted[k]["wave"] for k in (("run", base_id), ("prune", step.stem), ("run", ft_id))] == [1, 2, 3]
    assert submitted["run", results["scratch-e"].parent.name]["wave"] == 1  # a planned Scratch-E needs nothing
    assert all(Path(e["log"]).is_file() for e in submitted.values())
    roles = json.loads((results["baseline"].parent / "roles.json").read_text())
    assert roles and roles[0]["regime"] == "baseline"
    # submitted again: nothing to do, no job, no result touched
    stamps = {p: _mtime(p) for p in results.values()}
    assert main(argv + ["--quiet"]) == 0
    err = capsys.readouterr().err
    assert "0 jobs in 0 waves" in err and "3 runs reused" in err
    assert len(_jobs(store)) == len(log)
    assert {p: _mtime(p) for p in results.values()} == stamps
    # a failing job (a method whose prune step raises, beside l1-norm on the same baseline): its error line
    # and log, exit 1; what does not depend on it is kept
    (tmp / "t_boom.py").write_text(BOOM)
    (tmp / "f.yaml").write_text(GRID + "prune: [{method: l1-norm}, {method: 't_boom:Boom'}]\n")
    code = main(["run", str(tmp / "f.yaml")] + argv[2:] + ["--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err, err
    (line,) = [ln for ln in err.splitlines() if "error:" in ln]
    assert "failed: method 't_boom:Boom' raised RuntimeError in prune step " in line  # the plug-in's error, named
    assert ": boom: this prune step always fails; log: " in line
    log_file = Path(line.rsplit("log: ", 1)[1])
    assert log_file.parent == store / "jobs" and "boom: this prune step always fails" in log_file.read_text()
    assert "1 jobs in 1 waves" in err and "1 runs not finished" in err  # its fine-tuned run
    assert len(list(store.glob("*/result.json"))) == 3
    assert {p: _mtime(p) for p in results.values()} == stamps


def test_launcher_bad_input_is_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "g.yaml").write_text(GRID)
    run = ["run", str(tmp_path / "g.yaml"), "--device", "cpu", "--quiet"]
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "submitit", None)  # as if not installed
        assert main(run + ["--launcher", "submitit", "--cluster", "local"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'prunelab[cluster]'" in err
    monkeypatch.setattr("prunelab.runs.launch.shutil.which", lambda name: None)  # no SLURM here, whatever the machine
    (tmp_path / "b.yaml").write_text(GRID.replace("timeout_min: 10", "timout_min: 10"))
    for argv, message in (
        (run + ["--launcher", "slurm"], "invalid choice: 'slurm'"),
        (["run", str(tmp_path / "b.yaml"), "--launcher", "submitit", "--cluster", "local"],
         "launcher: unknown key 'timout_min'"),
        (["plan", str(tmp_path / "b.yaml")], "launcher: unknown key 'timout_min'"),
        (run + ["--launcher", "submitit", "--cluster", "local", "--launcher-param", "nodes=2"], "use nodes: 1"),
        (run + ["--launcher", "submitit", "--cluster", "local", "--launcher-param", "gpus_per_node=2",
                "--launcher-param", "tasks_per_node=3"], "one process per GPU: tasks_per_node must be"),
        (run + ["--launcher", "submitit", "--cluster", "debug", "--launcher-param", "tasks_per_node=2"],
         "a job of several tasks (gpus_per_node or tasks_per_node > 1) needs --cluster local or slurm"),
        (run + ["--launcher", "submitit", "--cluster", "local", "--launcher-param", "partiton=gpu"],
         "--launcher-param: unknown key 'partiton'"),
        (run + ["--cluster", "local"], "--cluster: only with --launcher submitit"),
        (run + ["--launcher", "submitit", "--cluster", "slurm"], "no sbatch command here"),
        (run + ["--launcher", "submitit", "--cluster", "local", "--device", "cuda"], "the jobs ask for no GPU"),
    ):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse
            code = e.code
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and message in err, (argv, err)
    assert not (tmp_path / "store" / "jobs" / "jobs.jsonl").exists()  # nothing was submitted


def test_launcher_settings_reach_the_sbatch_script(tmp_path, monkeypatch):
    import shutil

    import submitit

    from prunelab.runs.launch import _executor, launcher_settings

    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: f"/usr/bin/{name}")  # as on a login node
    settings = launcher_settings({"partition": "gpu", "gpus_per_node": 1, "cpus_per_task": 8, "timeout_min": 600,
                                  "mem_gb": 32, "setup": ["module load cuda"], "sbatch": {"exclude": "node12"}})
    script = _executor(submitit, "slurm", tmp_path, settings, "prunelab-x")._executor \
        ._make_submission_file_text("python -m x", "uid")
    for line in ("--partition=gpu", "--gpus-per-node=1", "--cpus-per-task=8", "--time=600", "--mem=32GB",
                 "--ntasks-per-node=1", "--nodes=1", "--exclude=node12", "module load cuda"):
        assert line in script, (line, script)
    assert "--kill-on-bad-exit" not in script
    four = launcher_settings({"partition": "gpu", "gpus_per_node": 4})  # one task per GPU, DDP over them
    script = _executor(submitit, "slurm", tmp_path, four, "prunelab-x")._executor \
        ._make_submission_file_text("python -m x", "uid")
    for line in ("--gpus-per-node=4", "--ntasks-per-node=4", "--kill-on-bad-exit=1"):
        assert line in script, (line, script)
    prune = _executor(submitit, "slurm", tmp_path, four.for_prune_steps(), "prunelab-x")._executor \
        ._make_submission_file_text("python -m x", "uid")
    assert "--gpus-per-node=1" in prune and "--ntasks-per-node=1" in prune


AUDIT = """
import os, sys

STORE = os.path.realpath(os.environ["AUDIT_STORE"])
_busy = []


def _audit(event, args):
    if _busy or event not in ("open", "os.rename", "os.replace", "os.remove", "os.mkdir"):
        return
    path = args[0]
    if event == "open" and not (isinstance(args[1], str) and any(c in args[1] for c in "wax+")
                                or isinstance(args[2], int) and args[2] & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)):
        return
    if isinstance(path, (str, bytes, os.PathLike)) and os.path.realpath(os.fsdecode(path)).startswith(STORE + os.sep):
        _busy.append(1)
        try:
            with open(os.path.join(os.environ["AUDIT_OUT"], f"writes-{os.getpid()}.txt"), "a") as f:
                f.write(f"{os.environ.get('RANK', '-')}/{os.environ.get('WORLD_SIZE', '-')} {event} {path}\\n")
        finally:
            _busy.pop()


sys.addaudithook(_audit)
"""


def test_a_job_of_two_tasks_trains_its_run_with_ddp(job_env, capsys, monkeypatch):
    """launcher: {tasks_per_node: 2} on the CPU (gloo; gpus_per_node: N does the same on N GPUs): every
    run's job is two processes in one torch process group (submitit's TorchDistributedEnvironment),
    rank 0 alone writes the store (seen by an audit hook in every job process), both report one outcome."""
    import pickle

    tmp = job_env
    store, audit = tmp / "store", tmp / "audit"
    audit.mkdir()
    (tmp / "sitecustomize.py").write_text(AUDIT)  # on the jobs' PYTHONPATH (job_env)
    monkeypatch.setenv("AUDIT_STORE", str(store))
    monkeypatch.setenv("AUDIT_OUT", str(audit))
    monkeypatch.setenv("PRUNELAB_DIST_TIMEOUT_MIN", "2")
    (tmp / "g.yaml").write_text(GRID.replace("regimes: [finetune, scratch-e]", "regimes: [finetune]")
                                .replace("parallel: 2", "parallel: 1, tasks_per_node: 2"))
    argv = ["run", str(tmp / "g.yaml"), "--store", str(store), "--jobs-dir", str(tmp / "jobs"), "--device", "cpu",
            "--launcher", "submitit", "--cluster", "local", "--quiet"]
    assert main(argv) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "3 jobs in 3 waves (2 runs trained, 1 prune steps)" in err, err
    assert len(list(store.glob("*/result.json"))) == 2
    log = [json.loads(x) for x in (tmp / "jobs" / "jobs.jsonl").read_text().splitlines()]
    runs = [e for e in log if e["event"] == "submitted" and e["kind"] == "run"]
    for e in runs:  # both tasks of a run's job returned the same outcome of a 2-process group
        outcomes = [pickle.loads((tmp / "jobs" / f"{e['job_id']}_{t}_result.pkl").read_bytes()) for t in (0, 1)]
        assert outcomes[0] == outcomes[1] and outcomes[0][1]["world"] == 2 and outcomes[0][1]["status"] == "trained"
    (prune,) = [e for e in log if e["event"] == "submitted" and e["kind"] == "prune"]
    assert not (tmp / "jobs" / f"{prune['job_id']}_1_result.pkl").exists()  # a prune step: one task
    writes = [ln.split(" ", 1) for f in audit.glob("writes-*.txt") for ln in f.read_text().splitlines()]
    ranks = {who for who, _ in writes}
    assert "0/2" in ranks and not any(w.startswith("1/") for w in ranks), ranks  # rank 1 wrote nothing
    assert any("result.json" in what for who, what in writes if who == "0/2")
