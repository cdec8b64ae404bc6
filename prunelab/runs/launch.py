"""``prunelab run FILE --launcher submitit``: each run (and each prune step) of a grid as its own
job on a cluster (SLURM) or on this machine, through submitit.

Jobs go out in dependency waves: every run or prune step whose inputs are in the store is
submitted, the waves' jobs are waited for, and what they made unblocks the next wave (per seed:
the baselines and planned Scratch-E/B runs, then the prune steps, then the runs that start from
the pruned models; runs whose architecture a method finds are resolved from their seed's prune
step as in ``run_grid``). A job executes exactly one run (``execute_run``) or one prune step
(``prune_for``) in the hashed run store, so submitting a grid again submits only what is not
finished, and a job whose run another worker holds waits for it (the store's file locks).

A run's job may train on several GPUs of one node: ``gpus_per_node: N`` gives it N tasks (one
process per GPU; ``tasks_per_node: N`` alone: N CPU processes over gloo). ``job_run`` then runs in
every task: submitit's ``TorchDistributedEnvironment().export()`` sets torchrun's variables (RANK,
WORLD_SIZE, MASTER_ADDR, LOCAL_RANK, ...), and the engine's DDP path (``train/distributed.py``)
trains the run with rank 0 alone reading and writing the store. Prune steps are one-task jobs.
"""
from __future__ import annotations

import contextlib
import json
import re
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..arch import ArchSpec
from ..data import DataSettings
from ..errors import Busy, PrunelabError, warn, warning_lines
from ..fileio import writable_dir
from ..protocol import regime
from .execution import prune_for
from .plan import Grid, resolve_run, waits_for
from .resources import Launcher, launcher_settings

__all__ = ["Launcher", "launch_grid", "launcher_settings", "require_submitit"]
from .prune_step import PruneStep, product
from .settings import RunSettings
from .files import lock_held
from .store import Broken, RunStore, execute_run

CLUSTERS = ("slurm", "local", "debug")
INSTALL = "pip install 'prunelab[cluster]'"
MAX_TRIES = 3  # jobs per run or prune step in one `prunelab run` (a broken input is made again)


def require_submitit():
    try:
        import submitit
    except ImportError:
        raise PrunelabError(f"--launcher submitit needs the submitit package: {INSTALL}")
    return submitit


# --- the jobs: one run or one prune step each ------------------------------------------------------

def _job_start(threads: int | None) -> None:
    import torch

    warning_lines()
    if threads:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def _task_group():
    """A job of several tasks: join them into one torch process group (submitit sets torchrun's
    environment from the job's), left at the end; one task: nothing."""
    from ..train import distributed as ddp

    try:
        import submitit

        tasks = submitit.JobEnvironment().num_tasks
    except Exception:  # noqa: BLE001 (not inside a submitit job: --cluster debug, or a direct call)
        tasks = 1
    if tasks <= 1:
        yield
        return
    # every GPU stays visible: LOCAL_RANK picks this task's (a node that gives each task its own GPU: cuda:0)
    submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
    ddp.init()
    try:
        yield
    finally:
        ddp.shutdown()


def job_run(root: str, settings: RunSettings, roles: list[dict], save_init: bool, data_dir: str | None,
            device: str, threads: int | None = None, poll: float = 10.0) -> dict:
    """A job: train one run into the store (or reuse it, or resume its checkpoint).

    In a job of several tasks this runs in every task: they train the run together (DDP), rank 0
    alone reading and writing the store; every task returns rank 0's outcome (with ``world``)."""
    _job_start(threads)
    with _task_group():
        return _job_run(root, settings, roles, save_init, data_dir, device, poll)


def _job_run(root, settings, roles, save_init, data_dir, device, poll) -> dict:
    from ..data import load as load_data
    from ..train import distributed as ddp

    store = RunStore(root)
    world = {"world": ddp.world()} if ddp.active() else {}

    def record():
        for labels in roles:
            store.add_role(settings, labels)

    if ddp.on_rank0(lambda: store.result(settings)) is not None:  # finished meanwhile (another worker)
        ddp.on_rank0(record)
        return {"status": "reused", "id": settings.run_id(), **world}
    data = ddp.everywhere(lambda: load_data(settings.data, data_dir))
    said = False
    while True:
        try:
            _, trained = execute_run(settings, store, data=data, device=device, save_init=save_init)
            break
        except Busy as e:  # another worker trains it: wait, then reuse it (or take it over if that worker died)
            if not said and ddp.is_main():
                print(f"{e}; waiting for it", file=sys.stderr, flush=True)
            said = True
            time.sleep(poll)
        except Broken as b:  # an input was set aside: the next wave makes it again
            return {"status": "broken", "message": str(b), **world}
    ddp.on_rank0(record)
    return {"status": "trained" if trained else "reused", "id": settings.run_id(), **world}


def job_prune(root: str, step: PruneStep, planned: ArchSpec | None, data: DataSettings, data_dir: str | None,
              device: str, threads: int | None = None) -> dict:
    """A job: run one prune step into the store (once)."""
    _job_start(threads)
    store = RunStore(root)
    before = product(store, step.id) is not None
    try:
        prune_for(step, store, data, planned, data_dir=data_dir, device=device)
    except Broken as b:
        return {"status": "broken", "message": str(b)}
    return {"status": "reused" if before else "pruned", "id": step.id}


# --- the driver: waves of jobs ---------------------------------------------------------------------

@dataclass
class Item:
    kind: str  # "run" | "prune"
    ident: str  # run id or prune step id
    what: str  # for messages
    fn: Callable
    args: tuple
    lock: tuple[Path, str]
    roles: list = field(default_factory=list)
    settings: RunSettings | None = None


@dataclass
class LaunchOutcome:
    jobs_dir: Path
    jobs: int = 0
    waves: int = 0
    trained: list[str] = field(default_factory=list)  # run ids trained by this command's jobs
    pruned: list[str] = field(default_factory=list)  # prune steps run by its jobs
    reused: list[str] = field(default_factory=list)  # finished before, or by another worker
    failures: list[str] = field(default_factory=list)  # one line per failed job
    left: int = 0  # runs of the grid not finished


def _ready(grid: Grid, store: RunStore, job_args: dict) -> list[Item]:
    """Every run or prune step whose inputs are in the store and that has not finished (a run
    shared by several arms once, with each arm's labels)."""
    root, data_dir, device, threads = (job_args[k] for k in ("root", "data_dir", "device", "threads"))
    items: dict[tuple[str, str], Item] = {}
    for r in grid.runs:
        need = waits_for(grid, store, r)
        if need == "source":
            continue
        if need == "prune":
            key = ("prune", r.prune.id)
            if key not in items:
                part = r.part or grid
                items[key] = Item("prune", r.prune.id, f"prune step {r.prune.id}", job_prune,
                                  (root, r.prune, r.arm.planned, part.data, data_dir, device, threads),
                                  (store.root / "pruned", f".{r.prune.id}.lock"))
            continue
        if store.result(r.settings) is not None:
            continue
        run_id = r.settings.run_id()
        key = ("run", run_id)
        if key not in items:
            items[key] = Item("run", run_id, f"run {run_id} ({r.regime}, seed {r.seed})", job_run, (),
                              (store.path(r.settings), ".lock"), settings=r.settings)
        if r.labels not in items[key].roles:
            items[key].roles.append(r.labels)
    out = list(items.values())
    for it in out:
        if it.kind == "run":
            save_init = any("regime" in lb and not lb.get("task") and not regime(lb["regime"]).arm
                            for lb in it.roles)  # the large model (a detection run's regime is its setting)
            it.args = (root, it.settings, it.roles, save_init, data_dir, device, threads)
    return out


def _executor(submitit, cluster: str, folder: Path, launcher: Launcher, name: str):
    params: dict[str, Any] = {"name": name, "timeout_min": launcher.timeout_min, "nodes": launcher.nodes,
                              "tasks_per_node": launcher.tasks}
    if launcher.gpus_per_node:
        params["gpus_per_node"] = launcher.gpus_per_node
    if launcher.tasks > 1 and cluster == "slurm":  # a task that fails ends its siblings (not a DDP hang)
        params["slurm_srun_args"] = ["--kill-on-bad-exit=1"]
    if launcher.cpus_per_task:
        params["cpus_per_task"] = launcher.cpus_per_task
    if launcher.mem_gb:
        params["mem_gb"] = launcher.mem_gb
    for key in ("partition", "account", "qos", "constraint"):
        if getattr(launcher, key) is not None:
            params[f"slurm_{key}"] = getattr(launcher, key)
    if launcher.sbatch:
        params["slurm_additional_parameters"] = dict(launcher.sbatch)
    if launcher.parallel:
        params["slurm_array_parallelism"] = launcher.parallel
    if launcher.setup:
        params["slurm_setup"] = list(launcher.setup)
        params["local_setup"] = list(launcher.setup)
    try:
        ex = submitit.AutoExecutor(folder=folder, cluster=cluster)
        ex.update_parameters(**params)
    except Exception as e:  # submitit's own checks (ValueError, NameError, AssertionError)
        raise PrunelabError(f"launcher: submitit refused the job settings ({type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else ''})")
    return ex


def _error_line(exc: BaseException) -> str:
    """One line for a failed job: the last line of its traceback (a prunelab error without its class)."""
    from submitit.core.utils import FailedJobError, UncompletedJobError

    text = str(exc)
    if isinstance(exc, FailedJobError):  # the job raised: the last line of its traceback
        parts = text.split("\n----------------------\n")
        lines = [ln for ln in (parts[1] if len(parts) >= 3 else text).splitlines() if ln.strip()]
        last = lines[-1].strip() if lines else "an unknown error"
        m = re.match(r"([A-Za-z_][\w.]*): (.*)", last)
        if m:
            cls, msg = m.groups()
            return msg if cls.startswith("prunelab.") else f"{cls.rsplit('.', 1)[-1]}: {msg}"
        return last
    if isinstance(exc, UncompletedJobError):  # (after FailedJobError, one of them)
        m = re.search(r"state: ([A-Z][A-Z_ ]*[A-Z])", text)
        return (f"it ended without a result (state {m.group(1) if m else 'unknown'}: killed, out of time or out of "
                "memory?)")
    if isinstance(exc, PrunelabError):
        return text
    return f"{type(exc).__name__}: {text}"


def _collect(job) -> tuple[dict | None, str | None]:
    """Wait for a job: (its result, None) or (None, its error line)."""
    try:
        exc = job.exception()  # waits; (the debug executor runs the job here, without a debugger)
        if exc is None:
            return job.results()[0], None  # (a job of several tasks: rank 0's)
    except Exception as e:  # the cluster's accounting failed, a result file is unreadable, ...
        exc = e
    return None, _error_line(exc)


def _done(job) -> bool:
    try:
        return job.done()
    except Exception:  # noqa: BLE001 (the cluster's accounting failed: `_collect` waits and says why)
        return True


def _log_path(job, cluster: str) -> str:
    if cluster == "debug":
        return "none (--cluster debug runs the jobs in this process)"
    try:
        return str(job.paths.stderr)
    except Exception:  # noqa: BLE001 (a path for a message only)
        return "unknown"


def launch_grid(grid: Grid, store: RunStore, *, cluster: str = "slurm", jobs_dir=None,
                launcher: Launcher | None = None, data_dir=None, device: str = "auto", progress: bool = True,
                poll: float = 10.0) -> LaunchOutcome:
    """Run a grid as submitit jobs, in dependency waves (see the module's description).

    A failed job is reported (``LaunchOutcome.failures``: its error and its log file) and not
    submitted again in this call; what does not depend on it goes on. ``jobs_dir`` holds
    submitit's files and logs (default ``<store>/jobs``) and ``jobs.jsonl``, one line per job
    submitted and per job ended.
    """
    submitit = require_submitit()
    if cluster not in CLUSTERS:
        raise PrunelabError(f"--cluster must be one of {', '.join(CLUSTERS)}, got {cluster!r}")
    launcher = launcher or Launcher()
    if cluster == "slurm" and shutil.which("sbatch") is None:
        raise PrunelabError("--cluster slurm: no sbatch command here (not a SLURM login node?); on a workstation "
                            "use --cluster local")
    if device.startswith("cuda") and not launcher.gpus_per_node and cluster != "debug":
        raise PrunelabError(f"--device {device}: the jobs ask for no GPU; set launcher: {{gpus_per_node: 1}} "
                            "(or --launcher-param gpus_per_node=1)")
    if device == "auto" and not launcher.gpus_per_node and cluster == "local":
        import torch

        if torch.cuda.is_available():
            warn("the jobs ask for no GPU, so they train on the CPU; launcher: {gpus_per_node: 1} gives each one")
    root = store.root.resolve()
    jobs_dir = writable_dir(Path(jobs_dir) if jobs_dir else root / "jobs", "--jobs-dir").resolve()
    job_args = {"root": str(root), "data_dir": str(Path(data_dir).resolve()) if data_dir else None,
                "device": device, "threads": launcher.cpus_per_task}
    if launcher.tasks > 1 and cluster == "debug":
        raise PrunelabError("--cluster debug runs each job in this process: a job of several tasks (gpus_per_node or "
                            "tasks_per_node > 1) needs --cluster local or slurm")
    name = "prunelab-" + re.sub(r"[^A-Za-z0-9._-]+", "_", grid.experiment.name)[:60]
    executors = {"run": _executor(submitit, cluster, jobs_dir, launcher, name),
                 "prune": _executor(submitit, cluster, jobs_dir, launcher.for_prune_steps(), name)}
    store = RunStore(root)
    parallel = launcher.parallel or (1 if cluster == "local" else None)
    out = LaunchOutcome(jobs_dir)
    tries: Counter = Counter()
    failed: set[tuple[str, str]] = set()
    waiting = 0
    say = (lambda text: print(text, file=sys.stderr, flush=True)) if progress else (lambda text: None)
    while True:
        items = [it for it in _ready(grid, store, job_args) if (it.kind, it.ident) not in failed]
        for it in [it for it in items if tries[it.kind, it.ident] >= MAX_TRIES]:
            out.failures.append(f"{it.what} is still not finished after {MAX_TRIES} jobs; see the logs in {jobs_dir}")
            failed.add((it.kind, it.ident))
        items = [it for it in items if (it.kind, it.ident) not in failed]
        todo = [it for it in items if not lock_held(*it.lock)]
        if not todo:
            if not items:
                break
            if len(items) != waiting:
                say(f"waiting for {len(items)} runs or prune steps that other workers hold")
            waiting = len(items)
            time.sleep(poll)
            continue
        waiting = 0
        out.waves += 1
        steps = sum(it.kind == "prune" for it in todo)
        say(f"wave {out.waves}: {len(todo)} jobs ({steps} prune steps, {len(todo) - steps} runs) on {cluster}; "
            f"logs in {jobs_dir}")
        size = parallel if parallel and cluster != "slurm" else len(todo)  # slurm: the array's own limit
        for start in range(0, len(todo), size):
            chunk = todo[start:start + size]
            try:
                submitted = {}
                for kind, executor in executors.items():  # runs (DDP over the job's tasks) and prune steps
                    if any(it.kind == kind for it in chunk):
                        with executor.batch():
                            submitted.update({id(it): executor.submit(it.fn, *it.args) for it in chunk
                                              if it.kind == kind})
                jobs = [submitted[id(it)] for it in chunk]
            except Exception as e:  # sbatch refused, the jobs folder vanished, ...
                raise PrunelabError(f"submitting {len(chunk)} jobs failed ({type(e).__name__}: "
                                    f"{(str(e).strip().splitlines() or [''])[-1]}); jobs submitted before carry on")
            out.jobs += len(jobs)
            for it, job in zip(chunk, jobs):
                tries[it.kind, it.ident] += 1
                _log(jobs_dir, {"event": "submitted", "wave": out.waves, "kind": it.kind, "id": it.ident,
                                "job_id": str(job.job_id), "log": _log_path(job, cluster)})
            if cluster != "debug":  # (a debug job runs when its result is asked for)
                while not all(_done(job) for job in jobs):
                    time.sleep(0.2 if cluster == "local" else poll)
            for it, job in zip(chunk, jobs):
                result, error = _collect(job)
                status = result.get("status") if isinstance(result, dict) else None
                if error is None and status is None:
                    error = f"it returned {result!r}, not a prunelab job result"
                _log(jobs_dir, {"event": "ended", "job_id": str(job.job_id), "kind": it.kind, "id": it.ident,
                                "status": status or "failed", **({"error": error} if error else {})})
                if error is not None:
                    out.failures.append(f"job {job.job_id} ({it.what}) failed: {error}; log: {_log_path(job, cluster)}")
                    failed.add((it.kind, it.ident))
                    say(f"job {job.job_id} ({it.what}) failed")
                elif status == "broken":
                    say(f"job {job.job_id} ({it.what}): {result.get('message')}")
                elif status == "trained":
                    out.trained.append(it.ident)
                elif status == "pruned":
                    out.pruned.append(it.ident)
    seen: set[str] = set()
    for r in grid.runs:  # every role of a finished run is recorded, as `run_grid` does
        if resolve_run(grid, r, store) and store.result(r.settings) is not None:
            store.add_role(r.settings, r.labels)
            run_id = r.settings.run_id()
            if run_id not in out.trained and run_id not in seen:
                out.reused.append(run_id)
            seen.add(run_id)
        else:
            out.left += 1
    if out.left and not out.failures:
        out.failures.append(f"{out.left} runs could not start (their inputs are missing); see {jobs_dir}")
    return out


def _log(jobs_dir: Path, entry: dict) -> None:
    with open(jobs_dir / "jobs.jsonl", "a") as f:
        f.write(json.dumps({"time": time.time(), **entry}) + "\n")
