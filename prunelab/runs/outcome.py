"""What a run writes besides its checkpoints: ``settings.json`` when it starts, and once finished
``model.pt`` then ``result.json`` (counts, training figures, provenance). A detection run's model
file and counts are its task's (``detection/run.py``)."""
from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import torch

from .. import __version__
from ..fileio import atomic_write_json
from ..measure import count
from ..models_io import save as save_model
from ..train import TrainResult
from ..train.checkpoints import CHECKPOINT, PREVIOUS
from .settings import RunSettings

RESULT = "result.json"
MODEL = "model.pt"
SETTINGS = "settings.json"


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


def write_settings(d: Path, settings: RunSettings) -> None:
    atomic_write_json(d / SETTINGS, {"run_id": d.name, "prunelab_version": __version__, **settings.to_dict()},
                      seal=True)


def finish(d: Path, settings: RunSettings, model: torch.nn.Module, r: TrainResult, dev: torch.device,
            start: dict) -> dict:
    """Write a finished run's model.pt and result.json (in that order), drop its checkpoint.
    ``start``: how the model started (``protocol.inits.record``)."""
    from ..detection.run import detection_run

    task = detection_run(settings)
    if task is not None:  # the backbone's counts; the compute of training is the backbone's at the detector's size
        counts = task.counts(model)
        macs = counts["backbone_macs"]
        metrics = {f"final_{k[len('test_'):]}": v for k, v in r.metrics.items()}
    else:
        c = count(model)
        counts = {"params": c.params, "macs": c.macs, "params_nonzero": c.params_nonzero,
                  "macs_nonzero": c.macs_nonzero}
        macs = c.macs_nonzero if getattr(model, "masks", None) else c.macs  # a masked model computes less
        metrics = {}
    result = {
        "run_id": d.name,
        "final_top1": r.final_top1, "final_top5": r.final_top5,
        "best_val_top1": r.best_val_top1, "best_val_epoch": r.best_val_epoch, **metrics, **counts,
        "epochs": r.epochs, "images_seen": r.images_seen, "train_macs": macs * 3 * r.images_seen,
        "wall_s": r.wall_s, "seed": settings.seed, "labels": settings.labels, "settings": settings.to_dict(),
        "init": start, **provenance(dev),
    }
    if task is not None:
        task.save(model, d / MODEL)
    else:
        save_model(model, d / MODEL)
    atomic_write_json(d / RESULT, result, seal=True)
    for name in (CHECKPOINT, PREVIOUS):  # the finished model and result replace them
        try:
            (d / name).unlink()
        except FileNotFoundError:
            pass
    return result
