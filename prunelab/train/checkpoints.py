"""Checkpoints of the training loop: per epoch (the previous one kept) and mid-epoch (the step, the
epoch's sums so far and every rank's RNG state), written atomically; resuming takes the newest one
that loads and sets broken ones aside. Also the per-epoch metrics file
(``metrics.jsonl``; other formats: ``prunelab.tracking``)."""
from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path

import torch
from torch import nn

from ..errors import PrunelabError, warn
from ..fileio import atomic_torch_save, atomic_write_text, torch_load
from . import distributed as ddp
from .hooks import Hooks

CHECKPOINT = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"  # the checkpoint before the last: used when the last one is broken
METRICS = "metrics.jsonl"


def _rng_state(device: torch.device) -> dict:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng(states: list | None, rank: int, device: torch.device, fallback: int) -> None:
    """This rank's global RNG state of a mid-epoch checkpoint; a rank the checkpoint had not (it
    was written by fewer processes) draws from a seed of (seed, epoch, step, rank) instead."""
    if states and rank < len(states):
        torch.set_rng_state(states[rank]["cpu"])
        if device.type == "cuda" and "cuda" in states[rank]:
            torch.cuda.set_rng_state(states[rank]["cuda"], device)
    else:
        torch.manual_seed(fallback % 2**63)


def _load_checkpoint(path: Path, model: nn.Module, opt, hooks: Hooks) -> dict:
    ck = torch_load(path)
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    hooks.load_state_dict(ck.get("hooks", {}))
    for key in ("epoch", "history", "images_seen", "wall_s"):
        ck[key]
    if ck.get("step"):
        for key in ("loss_sum", "correct", "n", "seconds", "rng"):
            ck["partial"][key]
    return ck


def _resume(run_dir: Path, model: nn.Module, opt, hooks: Hooks) -> dict | None:
    """Load the newest checkpoint that loads (the last two are kept). One that fails is moved
    aside with a warning and the previous one is tried; with none, training starts over."""
    initial = None
    for name in (CHECKPOINT, PREVIOUS):
        path = run_dir / name
        if not path.exists():
            continue
        if initial is None:  # restore these if every checkpoint fails after a partial load
            initial = copy.deepcopy((model.state_dict(), opt.state_dict(), hooks.state_dict()))
        try:
            ck = _load_checkpoint(path, model, opt, hooks)
            ck["file"] = name
            return ck
        except (PrunelabError, KeyError, RuntimeError, ValueError, TypeError) as e:
            aside = path.with_name(f"{name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
            os.replace(path, aside)
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            warn(f"{path} could not be loaded ({first[:160]}); moved aside to {aside.name}")
    if initial is not None:
        model.load_state_dict(initial[0])
        opt.load_state_dict(initial[1])
        hooks.load_state_dict(initial[2])
        warn(f"{run_dir.name}: no checkpoint could be loaded; training starts over")
    return None


def _resume_all(run_dir: Path, model: nn.Module, opt, hooks: Hooks) -> dict | None:
    """``_resume`` in a distributed run: rank 0 picks the checkpoint (setting broken ones aside),
    then every other rank loads that same file (its optimiser and hook state; DDP then broadcasts
    rank 0's weights). The checkpoint holds the unwrapped model, so any number of processes resumes it."""
    found = {}

    def pick():
        found["ck"] = _resume(run_dir, model, opt, hooks)
        return None if found["ck"] is None else found["ck"]["file"]

    name = ddp.on_rank0(pick)
    if ddp.is_main():
        return ddp.everywhere(lambda: found["ck"])
    return ddp.everywhere(lambda: None if name is None else _load_checkpoint(run_dir / name, model, opt, hooks))


def _checkpoint(run_dir: Path, model, opt, hooks, epoch, history, images_seen, wall) -> None:
    """Write this epoch's checkpoint; the previous one stays as checkpoint.prev.pt."""
    state = {
        "model": model.state_dict(), "optimizer": opt.state_dict(), "hooks": hooks.state_dict(),
        "epoch": epoch, "history": history, "images_seen": images_seen, "wall_s": wall,
    }
    atomic_torch_save(run_dir / CHECKPOINT, state, previous=run_dir / PREVIOUS)
    atomic_write_text(run_dir / METRICS, "".join(json.dumps(h) + "\n" for h in history))


def _checkpoint_step(run_dir: Path, model, opt, hooks, epoch, step, history, images_seen, wall, loss_sum, correct,
                     n, seconds, device, dist_on) -> None:
    """A mid-epoch checkpoint: ``epoch`` epochs done and ``step`` batches of the next one, with that
    epoch's sums so far (global ones), its seconds, and every rank's global RNG state."""
    if dist_on:
        sums = ddp.all_sum(torch.stack([loss_sum.double(), correct.double(),
                                        torch.tensor(float(n), dtype=torch.float64, device=device)]))
        loss_sum, correct, n = sums[0].float(), sums[1].float(), int(sums[2].item())
        seconds = ddp.broadcast(seconds)
    rng = ddp.gather(_rng_state(device)) if dist_on else [_rng_state(device)]
    state = {
        "model": model.state_dict(), "optimizer": opt.state_dict(), "hooks": hooks.state_dict(),
        "epoch": epoch, "step": step, "history": history, "images_seen": images_seen, "wall_s": wall,
        "partial": {"loss_sum": loss_sum.detach().cpu().clone(), "correct": correct.detach().cpu().clone(), "n": n,
                    "seconds": seconds, "rng": rng},
    }
    write = lambda: atomic_torch_save(run_dir / CHECKPOINT, state, previous=run_dir / PREVIOUS)  # noqa: E731
    ddp.on_rank0(write) if dist_on else write()
