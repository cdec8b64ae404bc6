"""The run store: one folder per run, named by the hash of its settings.

``<root>/<run id>/`` holds ``settings.json`` (readable), ``checkpoint.pt`` and ``metrics.jsonl``
while training, ``init.pt`` (a baseline's initial weights), ``model.pt`` + ``result.json`` once
finished, and ``roles.json``: every (experiment, regime, ...) that used the run, for reports over
the whole store. Running identical settings again reuses the result or resumes the checkpoint;
``force`` starts over. Pruned models live under ``<root>/pruned/`` (see prune_step.py).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from ..arch import ArchSpec
from ..data import load as load_data
from ..errors import PrunelabError, warn
from ..fileio import atomic_write_json, read_json, torch_load, writable_dir
from ..models_io import load as load_model
from ..models_io import save as save_model
from ..protocol import inits
from ..train import Hooks, resolve_device, train
from ..train import distributed as ddp
from ..detection.run import detection_run
from ..tracking import Writers
from ..train.checkpoints import CHECKPOINT, METRICS, PREVIOUS
from .files import locked, remove_temporaries, set_aside
from .outcome import MODEL, RESULT, SETTINGS, finish, provenance, write_settings
from .settings import RunSettings

__all__ = ["RunStore", "execute", "execute_run", "provenance"]
ROLES = "roles.json"
INIT = "init.pt"


def default_root() -> Path:
    return Path(os.environ.get("PRUNELAB_STORE") or "runs")  # set but empty: the default


class RunStore:
    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root else default_root()
        try:
            present = self.root.exists()
        except OSError as e:
            raise PrunelabError(f"run store {self.root}: {e.strerror or e}")
        if present and not self.root.is_dir():
            raise PrunelabError(f"run store {self.root} is a file, not a folder (--store or $PRUNELAB_STORE)")

    def writable(self) -> "RunStore":
        """Check, before any work, that runs can be written here (``--store`` / $PRUNELAB_STORE)."""
        writable_dir(self.root, "run store (--store or $PRUNELAB_STORE)")
        return self

    def path(self, settings: RunSettings) -> Path:
        return self.root / settings.run_id()

    def status(self, settings: RunSettings) -> str:
        return run_state(self.path(settings))

    def result(self, settings: RunSettings) -> dict | None:
        """A finished run's result; a broken result or model file (unreadable, or its checksum does
        not match) is set aside: the run is unfinished. A damaged settings.json of a finished run is
        written again from ``settings`` (the run's id is their hash)."""
        from ..fileio import verify_file

        d = self.path(settings)
        if not (d / RESULT).exists():
            return None
        try:
            r = read_json(d / RESULT)
            if not isinstance(r, dict) or "final_top1" not in r:
                raise PrunelabError("not a prunelab result")
            if (d / MODEL).is_file() and (why := verify_file(d / MODEL)) is not None:
                raise PrunelabError(f"model.pt: {why}")
        except PrunelabError as e:
            set_aside([d / RESULT, d / MODEL], f"its result could not be used ({e})")
            return None
        if verify_file(d / SETTINGS) is not None:
            warn(f"{d}: settings.json was damaged; written again from the experiment's settings")
            write_settings(d, settings)
        return r

    def runs(self) -> list[tuple[Path, str, dict]]:
        """(folder, state, settings) of every run under the root."""
        out = []
        if not self.root.is_dir():
            return out
        for d in sorted(self.root.iterdir()):
            if (d / SETTINGS).is_file():
                out.append((d, run_state(d), read_json(d / SETTINGS)))
        return out

    def add_role(self, settings: RunSettings, labels: dict) -> None:
        """Record that ``labels`` (an experiment's role) uses this run."""
        d = self.path(settings)
        if not labels:
            return
        with locked(d, ".roles.lock"):
            remove_temporaries(d, (ROLES,))
            try:
                roles = read_json(d / ROLES) if (d / ROLES).is_file() else []
            except PrunelabError:
                roles = []  # rebuilt by the experiments that use the run
            if labels not in roles:
                atomic_write_json(d / ROLES, roles + [labels])


def model_path(store: RunStore, step_id: str) -> Path:
    """A prune step's model file (runs/prune_step.py makes it)."""
    return store.root / "pruned" / f"{step_id}.pt"


def info_path(store: RunStore, step_id: str) -> Path:
    """A prune step's summary, written last (its presence means the step is complete)."""
    return store.root / "pruned" / f"{step_id}.json"


def run_state(d: Path) -> str:
    if (d / RESULT).exists():
        return "finished"
    if (d / CHECKPOINT).exists() or (d / PREVIOUS).exists():
        return "partial"
    return "new"


# --- initial models: protocol.inits decides, the store provides the files ----------------------

class Broken(PrunelabError):
    """A file of the store that should load did not: it was set aside, and the step that made it
    (``kind`` "run" or "prune", ``ident``) must run again."""

    def __init__(self, message: str, kind: str, ident: str):
        super().__init__(message)
        self.kind, self.ident = kind, ident

    def __reduce__(self):  # picklable: a distributed run raises it on every rank
        return type(self), (str(self), self.kind, self.ident)


def load_pruned(store: RunStore, step_id: str, spec: ArchSpec | None = None) -> torch.nn.Module:
    """The model a prune step made; a file that does not load is set aside (``Broken``)."""
    path = model_path(store, step_id)
    if not path.is_file():
        raise PrunelabError(f"pruned model {step_id} is not in the store {store.root} (its prune step has not run)")
    try:
        return load_model(path, expect=spec)
    except PrunelabError as e:
        set_aside([path, info_path(store, step_id)], f"pruned model {step_id} could not be loaded ({e})")
        raise Broken(f"pruned model {step_id} was broken and must be made again", "prune", step_id)


def load_finished(store: RunStore, run_id: str) -> torch.nn.Module:
    """A finished run's model; a file that does not load is set aside with its result (``Broken``)."""
    d = store.root / run_id
    try:
        return load_model(d)
    except PrunelabError as e:
        set_aside([d / RESULT, d / MODEL], f"model.pt could not be loaded ({e})")
        raise Broken(f"run {run_id} had a broken model file and must be trained again", "run", run_id)


def load_init(store: RunStore, run_id: str) -> torch.nn.Module:
    """A run's initial weights: its ``init.pt``, or, where that file is missing or broken, the same
    weights made again from its settings (a random init is a function of the spec and the seed)."""
    d = store.root / run_id
    broken = False
    if (d / INIT).is_file():
        try:
            return load_model(d / INIT)
        except PrunelabError as e:
            set_aside([d / INIT], f"init.pt could not be loaded ({e})")
            broken = True
    settings = RunSettings.from_dict(read_json(d / SETTINGS))
    if settings.init != {"kind": "random"}:
        raise PrunelabError(f"run {run_id} did not start from a random init; it has no initial weights to rewind to")
    model = initial_model(settings, store)
    hooks = method_hooks(settings)
    if hooks is not None:
        hooks.prepare(model)
    if broken:  # the file it set aside is made again (identical: the init is a function of the settings)
        save_model(model, d / INIT)
    return model


class StoreSources:
    """What an init kind may read from the store (``protocol.inits.Sources``)."""

    def __init__(self, store: RunStore):
        self.store = store

    def pruned_model(self, step_id: str, spec: ArchSpec | None = None) -> torch.nn.Module:
        return load_pruned(self.store, step_id, spec)

    def pruned_file(self, step_id: str) -> dict:
        path = model_path(self.store, step_id)
        try:
            return torch_load(path, "pruned model")
        except PrunelabError as e:
            set_aside([path, info_path(self.store, step_id)], f"pruned model {step_id} could not be loaded ({e})")
            raise Broken(f"pruned model {step_id} was broken and must be made again", "prune", step_id)

    def initial_weights(self, run_id: str) -> torch.nn.Module:
        return load_init(self.store, run_id)

    def run_settings(self, run_id: str) -> RunSettings:
        return RunSettings.from_dict(read_json(self.store.root / run_id / SETTINGS))

    def finished_model(self, run_id: str) -> torch.nn.Module:
        return load_finished(self.store, run_id)

    def run_file(self, run_id: str) -> dict:
        d = self.store.root / run_id
        try:
            return torch_load(d / MODEL, "model file")
        except PrunelabError as e:
            set_aside([d / RESULT, d / MODEL], f"model.pt could not be loaded ({e})")
            raise Broken(f"run {run_id} had a broken model file and must be trained again", "run", run_id)


def initial_model(settings: RunSettings, store: RunStore, data=None, device="cpu") -> torch.nn.Module:
    """The model a run starts from, by its ``init`` settings (``protocol.inits``)."""
    return inits.start(settings, StoreSources(store), data, device)


def method_hooks(settings: RunSettings) -> Hooks | None:
    """The training hooks of the run's method (None without one)."""
    return inits.method_hooks(settings.method)


def hook_guard(settings: RunSettings, where: str):
    """Around code that calls the run's method hooks: an exception in a plug-in's hook is reported
    with its own frames and a line naming the method and the run (``methods.plugin.guarded``)."""
    if settings.method is None:
        return contextlib.nullcontext()
    from .. import methods
    from ..methods.plugin import guarded

    return guarded(methods.get(settings.method["name"]), where)


def execute(settings: RunSettings, store: RunStore, *, data_dir=None, device: str = "auto", force: bool = False,
            progress: Any = None, data=None, save_init: bool = False) -> dict:
    """Run (or reuse, or resume) one training run; returns its result dict (see ``execute_run``)."""
    return execute_run(settings, store, data_dir=data_dir, device=device, force=force, progress=progress, data=data,
                       save_init=save_init)[0]


def execute_run(settings: RunSettings, store: RunStore, *, data_dir=None, device: str = "auto", force: bool = False,
                progress: Any = None, data=None, save_init: bool = False) -> tuple[dict, bool]:
    """Run (or reuse, or resume) one training run; returns its result dict and whether it trained here.

    The initial model and the training hooks come from the settings (``init``, ``method``);
    ``data`` may pass an already loaded dataset to share between runs; ``save_init`` keeps the
    initial weights as ``init.pt`` (baselines: lottery tickets rewind to them).
    """
    settings.check(f"run {settings.run_id()}")
    if not ddp.active() and settings.per_process_bn():
        raise PrunelabError(f"run {settings.run_id()} is planned for {settings.processes} processes with per-process "
                            "BatchNorm; start it under torchrun with that many (one process computes another result)")
    if ddp.active():
        if settings.task is not None:
            raise PrunelabError(f"run {settings.run_id()}: detection runs train in one process, not under torchrun")
        return _execute_distributed(settings, store, data_dir=data_dir, device=device, force=force,
                                    progress=progress, data=data, save_init=save_init)
    d = store.path(settings)
    done = None if force else store.result(settings)
    if done is not None:
        return done, False
    dev = resolve_device(device)
    # everything that can fail on bad input happens before the run folder is written
    hooks = method_hooks(settings)
    task = detection_run(settings)
    if task is not None:  # another task: its own data, and its model on the initial classifier
        data = task.load_data(data_dir)
        model = task.model(initial_model(settings, store, data, dev), StoreSources(store))
    else:
        data = data if data is not None else load_data(settings.data, data_dir)
        model = initial_model(settings, store, data, dev)
    if hooks is not None:
        with hook_guard(settings, f"the start of run {d.name}"):
            hooks.prepare(model)
    start = inits.record(model, settings.init.get("kind", "random"))
    with locked(d, wait=False):
        if (done := _claim(d, settings, store, model, force, save_init)) is not None:
            return done, False
        model.to(dev)
        with Writers(d, settings, store.root) as writers:
            with hook_guard(settings, f"a training hook of run {d.name}"):
                r = train(model, data, settings.recipe, seed=settings.seed, run_dir=d, hooks=hooks,
                          masks=getattr(model, "masks", None), progress=progress, desc=d.name, on_epoch=writers.epoch,
                          on_step=writers.step_hook(), task=task and task.task())
            writers.result = finish(d, settings, model, r, dev, start)
        return writers.result, True


OWN_FILES = (SETTINGS, INIT, CHECKPOINT, PREVIOUS, METRICS, MODEL, RESULT)  # written under the run's lock


def _claim(d: Path, settings: RunSettings, store: RunStore, model, force: bool, save_init: bool) -> dict | None:
    """Under the run's lock: clear the folder (``force``) or return the result another worker
    finished meanwhile; otherwise write the settings (and the initial weights) and return None."""
    remove_temporaries(d, OWN_FILES)
    if force:
        for f in d.iterdir():
            if f.name not in (".lock", ".roles.lock", ROLES):
                shutil.rmtree(f) if f.is_dir() else f.unlink()
    elif (done := store.result(settings)) is not None:
        return done
    write_settings(d, settings)
    if save_init and settings.init == {"kind": "random"} and not (d / INIT).exists():  # (imported: the file)
        save_model(model, d / INIT)
    return None

_FOLLOWER_DATA: dict = {}  # a follower's dataset, kept from one run to the next (one at a time)


def _execute_distributed(settings: RunSettings, store: RunStore, *, data_dir, device, force, progress, data,
                         save_init) -> tuple[dict, bool]:
    """``execute_run`` in a torchrun group: every rank trains the run (DDP); rank 0 alone reads and
    writes the store (result, initial model, lock, settings, checkpoints, model.pt, result.json)
    and hands the others what they need (the initial model, the checkpoint's name, the result)."""
    if settings.processes != ddp.world() and (settings.per_process_bn() or settings.recipe.epochs and
                                               not settings.recipe.sync_bn):
        raise PrunelabError(f"run {settings.run_id()} was planned for {settings.processes} process(es), not the "
                            f"{ddp.world()} of this torchrun: its BatchNorm would see other batches; plan it "
                            "under the same process count")
    ddp.announce(("train", settings.to_dict(), {"store": str(store.root), "data_dir": None if data_dir is None
                                                 else str(data_dir), "device": device, "force": force,
                                                 "save_init": save_init}))
    d = store.path(settings)
    try:
        done = ddp.on_rank0(lambda: None if force else store.result(settings))
        if done is not None:
            return done, False
        ddp.everywhere(lambda: ddp.local_batch(settings.recipe.batch_size, ddp.world()))  # before the folder is made
        dev = ddp.everywhere(lambda: ddp.local_device(resolve_device(device)))
        hooks = method_hooks(settings)
        key = (json.dumps(settings.data.__dict__, sort_keys=True, default=str), str(data_dir))

        def load():
            if data is not None:
                return data
            if key not in _FOLLOWER_DATA:
                _FOLLOWER_DATA.clear()
                _FOLLOWER_DATA[key] = load_data(settings.data, data_dir)
            return _FOLLOWER_DATA[key]

        run_data = ddp.everywhere(load)
        # rank 0 makes the initial model (it may read, or set aside, store files) and sends it
        model = ddp.on_rank0(lambda: initial_model(settings, store, run_data, dev))
        if hooks is not None:
            with hook_guard(settings, f"the start of run {d.name}"):
                hooks.prepare(model)
        start = inits.record(model, settings.init.get("kind", "random"))
        with contextlib.ExitStack() as lock:
            def enter():
                lock.enter_context(locked(d, wait=False))
                return _claim(d, settings, store, model, force, save_init)

            done = ddp.on_rank0(enter)
            if done is not None:
                return done, False
            model.to(dev)
            with Writers(d, settings, store.root, enabled=ddp.is_main()) as writers:  # rank 0 logs
                with hook_guard(settings, f"a training hook of run {d.name}"):
                    r = train(model, run_data, settings.recipe, seed=settings.seed, run_dir=d, hooks=hooks,
                              masks=getattr(model, "masks", None), progress=progress if ddp.is_main() else None,
                              desc=d.name, distributed=True, on_epoch=writers.epoch, on_step=writers.step_hook())
                writers.result = ddp.on_rank0(lambda: finish(d, settings, model, r, dev, start))
            return writers.result, True
    except BaseException as e:
        if not ddp.collective(e):  # this rank failed alone: the others are still inside the run
            ddp.lost_followers()
        raise


def follow() -> int:
    """A rank > 0 under torchrun: train every run rank 0 announces, together with it, until rank 0
    ends; returns rank 0's exit code. Errors every rank raised together (a run another worker
    holds, a broken file rank 0 set aside) are rank 0's to handle; others end this process."""
    while True:
        message = ddp.broadcast()
        if message[0] == "wait":
            continue
        if message[0] == "end":
            return message[1]
        _, settings, kw = message
        try:
            execute_run(RunSettings.from_dict(settings), RunStore(kw["store"]), data_dir=kw["data_dir"],
                        device=kw["device"], force=kw["force"], save_init=kw["save_init"])
        except Exception as e:
            if not ddp.collective(e):
                raise
