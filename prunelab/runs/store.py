"""The run store: one folder per run, named by the hash of its settings.

``<root>/<run id>/`` holds ``settings.json`` (readable), ``checkpoint.pt`` and ``metrics.jsonl``
while training, and ``model.pt`` + ``result.json`` once finished. Running identical settings
again reuses the result or resumes the checkpoint; ``force`` starts over.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..arch import ArchSpec, build
from ..data import load as load_data
from ..errors import PrunelabError
from ..fileio import atomic_write_json, read_json
from ..measure import count
from ..models_io import load as load_model
from ..models_io import save as save_model
from ..train import Hooks, TrainResult, resolve_device, train
from .settings import RunSettings

RESULT = "result.json"
SETTINGS = "settings.json"


def default_root() -> Path:
    return Path(os.environ.get("PRUNELAB_STORE", "runs"))


class RunStore:
    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root else default_root()

    def path(self, settings: RunSettings) -> Path:
        return self.root / settings.run_id()

    def status(self, settings: RunSettings) -> str:
        return run_state(self.path(settings))

    def result(self, settings: RunSettings) -> dict | None:
        p = self.path(settings) / RESULT
        return read_json(p) if p.exists() else None

    def runs(self) -> list[tuple[Path, str, dict]]:
        """(folder, state, settings) of every run under the root."""
        out = []
        if not self.root.is_dir():
            return out
        for d in sorted(self.root.iterdir()):
            if (d / SETTINGS).is_file():
                out.append((d, run_state(d), read_json(d / SETTINGS)))
        return out


def run_state(d: Path) -> str:
    if (d / RESULT).exists():
        return "finished"
    if (d / "checkpoint.pt").exists():
        return "partial"
    return "new"


@contextlib.contextmanager
def _locked(d: Path):
    d.mkdir(parents=True, exist_ok=True)
    with open(d / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PrunelabError(f"run {d.name} is being trained by another process")
        yield


def git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(device: torch.device) -> dict:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())
    return {"prunelab_version": __version__, "torch_version": torch.__version__, "git_sha": git_sha(),
            "device": f"{device.type}: {name}"}


def execute(settings: RunSettings, store: RunStore, *, data_dir=None, device: str = "auto", force: bool = False,
            init_model: torch.nn.Module | None = None, hooks: Hooks | None = None, progress: Any = None,
            data=None) -> dict:
    """Run (or reuse, or resume) one training run; returns its result dict.

    ``init_model`` supplies inherited weights (its spec must be the run's spec); ``data`` may pass
    an already loaded dataset to share between runs.
    """
    d = store.path(settings)
    if force and d.exists():
        shutil.rmtree(d)
    if (d / RESULT).exists():
        return read_json(d / RESULT)
    spec = ArchSpec.from_dict(settings.arch)
    dev = resolve_device(device)
    # everything that can fail on bad input happens before the run folder is written
    data = data if data is not None else load_data(settings.data, data_dir)
    if init_model is not None:
        if getattr(init_model, "arch_spec", None) != spec:
            have = getattr(getattr(init_model, "arch_spec", None), "name", None)
            raise PrunelabError(f"inherited weights are for '{have}', not for '{spec.name}'")
        model = build(spec)
        model.load_state_dict(init_model.state_dict())
    elif settings.init.get("kind") == "inherit":
        model = load_model(settings.init["path"], expect=spec)
    else:
        model = build(spec, seed=settings.seed)
    with _locked(d):
        _write_settings(d, settings)
        model.to(dev)
        r = train(model, data, settings.recipe, seed=settings.seed, run_dir=d, hooks=hooks, progress=progress,
                  desc=d.name)
        return _finish(d, settings, model, r, dev)


def _write_settings(d: Path, settings: RunSettings) -> None:
    atomic_write_json(d / SETTINGS, {"run_id": d.name, "prunelab_version": __version__, **settings.to_dict()})


def _finish(d: Path, settings: RunSettings, model: torch.nn.Module, r: TrainResult, dev: torch.device) -> dict:
    """Write a finished run's model.pt and result.json (in that order), drop its checkpoint."""
    c = count(model)
    result = {
        "run_id": d.name,
        "final_top1": r.final_top1, "final_top5": r.final_top5,
        "best_val_top1": r.best_val_top1, "best_val_epoch": r.best_val_epoch,
        "params": c.params, "macs": c.macs, "params_nonzero": c.params_nonzero, "macs_nonzero": c.macs_nonzero,
        "epochs": r.epochs, "images_seen": r.images_seen, "train_macs": c.macs * 3 * r.images_seen,
        "wall_s": r.wall_s, "seed": settings.seed, "labels": settings.labels, "settings": settings.to_dict(),
        **provenance(dev),
    }
    save_model(model, d / "model.pt")
    atomic_write_json(d / RESULT, result)
    try:
        (d / "checkpoint.pt").unlink()  # the finished model and result replace it
    except FileNotFoundError:
        pass
    return result


def execute_together(group: list[RunSettings], store: RunStore, *, data, device: str = "auto") -> list[dict]:
    """Train several randomly initialised runs that differ only in their seed at once
    (``prunelab.train.multi``) and write each one's folder as ``execute`` would.

    Runs trained together have no per-epoch checkpoints: a killed group starts over.
    """
    from ..train.multi import train_many

    base = {k: v for k, v in group[0].to_dict().items() if k != "seed"}
    for s in group:
        if {k: v for k, v in s.to_dict().items() if k != "seed"} != base or s.init.get("kind") != "random":
            raise PrunelabError("runs trained together must be random-init runs differing only in their seed")
        if s.data.val_size:
            raise PrunelabError("runs with a validation split cannot be trained together")
    dev = resolve_device(device)
    spec = ArchSpec.from_dict(group[0].arch)
    dirs = [store.path(s) for s in group]
    models = [build(spec, seed=s.seed).to(dev) for s in group]
    with contextlib.ExitStack() as stack:
        for d, s in zip(dirs, group):
            stack.enter_context(_locked(d))
            _write_settings(d, s)
        results = train_many(models, data, [s.recipe for s in group], [s.seed for s in group])
        return [_finish(d, s, m, r, dev) for d, s, m, r in zip(dirs, group, models, results)]
