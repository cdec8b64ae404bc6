"""The one training loop, for every regime and every method.

Methods plug in through ``Hooks`` (initial weights, parameter groups and the optimiser, a loss
term, a gradient hook for sparsity regularisers, a post-step and a per-epoch hook); masks keep
pruned weights exactly zero; regimes differ only in the model they pass in and the recipe.
Per-epoch checkpoints (and, with ``checkpoint_minutes``, mid-epoch ones) are atomic; a resumed run
is bit-identical to an uninterrupted one on CPU because each epoch's randomness is seeded from
(seed, epoch) and a mid-epoch checkpoint holds the step, the epoch's sums so far and the global RNG
state. Under torchrun the same loop trains with DistributedDataParallel (``distributed=True``).
"""
from __future__ import annotations

import copy
import gc
import json
import logging
import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import PrunelabError, TrainingDiverged, warn
from ..masks import check_masks
from ..progress import progress_bar
from ..fileio import atomic_torch_save, atomic_write_text, torch_load
from . import distributed as ddp
from .recipe import Recipe

CHECKPOINT = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"  # the checkpoint before the last: used when the last one is broken
METRICS = "metrics.jsonl"


class Hooks:
    """Where pruning methods plug into training. Override what you need.

    A method's hooks shape the training of the large model (a sparsity regulariser, its own
    optimiser or parameter groups, per-epoch zeroing); they are derived from the run's settings
    (``RunSettings.method``), so they are part of the run's identity.
    """

    def prepare(self, model: nn.Module) -> None:
        """The freshly initialised model, before its initial weights are saved (e.g. BN gamma = 0.5)."""

    def param_groups(self, model: nn.Module, recipe: Recipe) -> list[dict] | None:
        """Optimiser parameter groups (e.g. no weight decay on scale factors); None: one group.

        A group may carry ``lr_scale`` (its lr is the schedule's lr times that factor).
        """
        return None

    def optimizer(self, groups: list[dict], recipe: Recipe) -> torch.optim.Optimizer | None:
        """A custom optimiser over ``groups`` (e.g. accelerated proximal gradient); None: SGD."""
        return None

    def loss(self, model: nn.Module, loss: torch.Tensor) -> torch.Tensor:
        """The training loss of a batch, before backward (e.g. add a penalty term)."""
        return loss

    def after_backward(self, model: nn.Module) -> None:
        """Gradients are ready (e.g. add a sparsity subgradient)."""

    def after_step(self, model: nn.Module) -> None:
        """The optimiser stepped (e.g. re-apply masks)."""

    def after_epoch(self, model: nn.Module, epoch: int) -> None:
        """An epoch ended (e.g. soft filter pruning's zeroing)."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class MaskHooks(Hooks):
    """Keeps masked weights exactly zero: their gradients are zeroed before each optimiser step
    (so momentum and weight decay never move them) and the weights are re-zeroed after it."""

    def __init__(self, masks: dict[str, torch.Tensor]):
        self.masks = masks
        self._pairs: list[tuple[torch.Tensor, torch.Tensor]] = []

    def prepare(self, model: nn.Module) -> None:
        params = dict(model.named_parameters())
        self._pairs = [(params[n], m.to(params[n].device)) for n, m in check_masks(model, self.masks).items()]
        self.after_step(model)

    @torch.no_grad()
    def after_backward(self, model: nn.Module) -> None:
        for p, m in self._pairs:
            if p.grad is not None:
                p.grad.masked_fill_(~m, 0)

    @torch.no_grad()
    def after_step(self, model: nn.Module) -> None:
        for p, m in self._pairs:
            p.masked_fill_(~m, 0)


class HookList(Hooks):
    """Several hooks in order: the first that supplies parameter groups or an optimiser wins;
    loss terms chain; state is kept per position."""

    def __init__(self, hooks: list[Hooks]):
        self.hooks = [h for h in hooks if h is not None]

    def prepare(self, model):
        for h in self.hooks:
            h.prepare(model)

    def param_groups(self, model, recipe):
        return next((g for g in (h.param_groups(model, recipe) for h in self.hooks) if g is not None), None)

    def optimizer(self, groups, recipe):
        return next((o for o in (h.optimizer(groups, recipe) for h in self.hooks) if o is not None), None)

    def loss(self, model, loss):
        for h in self.hooks:
            loss = h.loss(model, loss)
        return loss

    def after_backward(self, model):
        for h in self.hooks:
            h.after_backward(model)

    def after_step(self, model):
        for h in self.hooks:
            h.after_step(model)

    def after_epoch(self, model, epoch):
        for h in self.hooks:
            h.after_epoch(model, epoch)

    def state_dict(self):
        return {str(i): h.state_dict() for i, h in enumerate(self.hooks)}

    def load_state_dict(self, state):
        for i, h in enumerate(self.hooks):
            h.load_state_dict(state.get(str(i), {}))


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise PrunelabError(f"unknown device '{device}' (use auto, cpu or cuda)")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise PrunelabError("--device cuda asked for, but no CUDA device is available")
    return torch.device(device)


def native_bf16(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device)[0] >= 8
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    if precision == "bf16" or (precision == "auto" and native_bf16(device)):
        return torch.bfloat16
    return None


def input_dtype(model: nn.Module, amp: torch.dtype | None) -> torch.dtype:
    """Images in the model's dtype (float64 models train in float64: tests compare exactly)."""
    dtype = next(model.parameters()).dtype
    return torch.float64 if dtype == torch.float64 and amp is None else torch.float32


def full_precision(out: torch.Tensor) -> torch.Tensor:
    """Logits of autocast (bf16) as float32 for the loss; float32 and float64 stay as they are."""
    return out if out.dtype in (torch.float32, torch.float64) else out.float()


@dataclass
class EpochLog:
    epoch: int
    lr: float
    train_loss: float
    train_top1: float
    images: int
    seconds: float
    val_top1: float | None = None
    val_top5: float | None = None
    test_top1: float | None = None
    test_top5: float | None = None


@dataclass
class TrainResult:
    final_top1: float
    final_top5: float
    best_val_top1: float | None
    best_val_epoch: int | None
    epochs: int
    images_seen: int
    wall_s: float
    history: list[dict] = field(default_factory=list)


@torch.no_grad()
def evaluate(model: nn.Module, data, split: str, batch_size: int = 256, amp: torch.dtype | None = None,
             channels_last: bool = False, shard: tuple[int, int] | None = None) -> tuple[float, float, float]:
    """(top-1, top-5, mean loss) of ``model`` on a split, as fractions.

    ``shard=(rank, world)`` (a distributed run): each rank evaluates its contiguous part of the
    split and the sums are all-reduced, so every rank returns the figures of the whole split.
    """
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    correct1 = torch.zeros((), device=device)
    correct5 = torch.zeros((), device=device)
    loss = torch.zeros((), device=device)
    n = 0
    ctx = torch.autocast(device.type, dtype=amp) if amp else nullcontext()
    dtype = input_dtype(model, amp)
    kw = {"shard": shard} if shard is not None else {}
    for x, y in data.batches(split, batch_size, train=False, channels_last=channels_last, dtype=dtype, **kw):
        with ctx:
            out = model(x)
        out = full_precision(out)
        loss += F.cross_entropy(out, y, reduction="sum")
        k = min(5, out.shape[1])
        top = out.topk(k, 1).indices
        hit = top == y[:, None]
        correct1 += hit[:, 0].sum()
        correct5 += hit.any(1).sum()
        n += len(y)
    model.train(was)
    if shard is not None and ddp.active():
        sums = ddp.all_sum(torch.stack([correct1.double(), correct5.double(), loss.double(),
                                        torch.tensor(float(n), dtype=torch.float64, device=device)]))
        correct1, correct5, loss, n = sums[0], sums[1], sums[2], int(sums[3].item())
    if n == 0:
        raise PrunelabError(f"the {split} split is empty")
    return (correct1 / n).item(), (correct5 / n).item(), (loss / n).item()


def _seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch * 7919 + 17) % (2**63)


def make_optimizer(model: nn.Module, recipe: Recipe, hooks: Hooks) -> torch.optim.Optimizer:
    """The method's optimiser and parameter groups, or SGD over one group (the recipe's)."""
    groups = hooks.param_groups(model, recipe)
    if groups is None:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad]}]
    opt = hooks.optimizer(groups, recipe)
    if opt is None:
        opt = torch.optim.SGD(groups, lr=recipe.lr_at(0), momentum=recipe.momentum,
                              weight_decay=recipe.weight_decay, nesterov=recipe.nesterov and recipe.momentum > 0)
    return opt


def train(model: nn.Module, data, recipe: Recipe, *, seed: int = 0, run_dir: str | Path | None = None,
          hooks: Hooks | None = None, masks: dict[str, torch.Tensor] | None = None, progress: Any = None,
          desc: str = "train", max_steps: int | None = None, distributed: bool = False,
          test: bool = True) -> TrainResult | None:
    """Train ``model`` (already on its device) on ``data`` by ``recipe``; resume from ``run_dir``.

    ``masks`` ({parameter name: bool tensor}): those weights are zero and stay exactly zero.
    ``max_steps``: stop after that many optimiser steps and return None (the weights of a run
    after k iterations, e.g. a lottery ticket's rewind point; no checkpoint is written).
    ``progress``: None for no bar, True for a bar of this run, or a callable ``(images) -> None``
    that an outer bar provides.
    ``test``: evaluate on the test split at the end (False: a training step inside a method, e.g.
    ThiNet's fine-tuning between layers, which has no test split to read; ``final_top1`` is None).
    ``distributed``: every process of a torchrun group calls ``train`` with the same arguments;
    the model is wrapped in DistributedDataParallel, each rank trains on its part of every global
    batch (``recipe.batch_size`` images, the single-process batches), metrics are the global ones,
    and only rank 0 writes ``run_dir``. Method hooks see the unwrapped model with the gradients
    already averaged over the ranks.
    """
    recipe.check()
    dist_on = distributed and ddp.active()
    world, rank = (ddp.world(), ddp.rank()) if dist_on else (1, 0)
    shard = (rank, world) if dist_on else None
    hooks = HookList([hooks or Hooks()] + ([MaskHooks(masks)] if masks else []))
    device = next(model.parameters()).device
    if masks:
        hooks.hooks[-1].prepare(model)
    data.to(device)
    amp = autocast_dtype(recipe.precision, device)
    if recipe.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if recipe.compile and not torch.cuda.is_available():
        # a CUDA build of torch on a machine without a GPU warns about CUDA_HOME when inductor starts
        logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    if recipe.epochs == 0:  # an evaluation of the initial model (inherited or imported weights)
        return _evaluate_only(model, data, amp, shard)
    opt = make_optimizer(model, recipe, hooks)
    dtype = input_dtype(model, amp)
    run_dir = Path(run_dir) if run_dir else None
    start, skip, partial, history, images_seen, wall = 0, 0, None, [], 0, 0.0
    if run_dir:
        ck = _resume_all(run_dir, model, opt, hooks) if dist_on else _resume(run_dir, model, opt, hooks)
        if ck is not None:
            start, history = ck["epoch"], ck["history"]
            images_seen, wall = ck["images_seen"], ck["wall_s"]
            skip, partial = ck.get("step", 0), ck.get("partial")
    n_train = data.size("train")

    def check() -> int:
        """Refuse what cannot train (every rank alike); returns the steps per epoch."""
        per_rank = ddp.local_batch(recipe.batch_size, world)
        if recipe.sync_bn and dist_on and device.type != "cuda":
            raise PrunelabError("sync_bn needs CUDA devices (torch's SyncBatchNorm does not run on the CPU); "
                                "set sync_bn: false")
        steps = data.num_batches("train", recipe.batch_size, train=True, **({"world": world} if dist_on else {}))
        if steps == 0:
            raise PrunelabError(f"the training set ({n_train} images) gives no batch of size {recipe.batch_size} (a "
                                f"batch needs at least 2 images{' per process' if dist_on else ''}): use more images "
                                "or a smaller batch")
        if n_train < recipe.batch_size and ddp.is_main():
            warn(f"the training set ({n_train} images) is smaller than one batch ({recipe.batch_size}): "
                 "every epoch is a single step")
        if per_rank < 2 and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
            raise PrunelabError(f"batch size {per_rank}{' per process' if dist_on else ''} cannot train a model "
                                "with BatchNorm (its batch statistics need at least 2 images)")
        return steps

    steps_per_epoch = ddp.everywhere(check) if dist_on else check()
    net, restore = model, None
    if dist_on:
        from torch.nn.parallel import DistributedDataParallel

        if recipe.sync_bn:
            restore = _sync_batchnorm(model)
        # rank 0's weights and buffers are broadcast here and its buffers before every forward (DDP's
        # default): BN running statistics are rank 0's
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    forward = torch.compile(net) if recipe.compile else net  # shares the parameters of ``model``
    bar = None
    if progress is True:
        bar = progress_bar(total=recipe.epochs * steps_per_epoch, initial=start * steps_per_epoch + skip, desc=desc,
                           unit="step", leave=False)
    every = recipe.checkpoint_minutes * 60 if run_dir else 0
    saved = time.monotonic()
    try:
        for epoch in range(start, recipe.epochs):
            first = skip if epoch == start else 0
            t0 = time.perf_counter()
            lr = recipe.lr_at(epoch)
            for g in opt.param_groups:
                g["lr"] = lr * g.get("lr_scale", 1.0)
            gen = torch.Generator().manual_seed(_seed(seed, epoch))
            torch.manual_seed(_seed(seed, epoch) + 1 + rank)  # dropout and other global-RNG users (per rank)
            model.train()
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device)
            n, before = 0, 0.0
            if first:  # a mid-epoch checkpoint: the global sums so far (on rank 0) and the RNG state
                before = partial["seconds"]
                _set_rng(partial["rng"], rank, device, _seed(seed, epoch) + 1 + rank + 7919 * first)
                if rank == 0:
                    loss_sum += partial["loss_sum"].to(device)
                    correct += partial["correct"].to(device)
                    n = partial["n"]
            ctx = torch.autocast(device.type, dtype=amp) if amp else nullcontext()
            kw = {"start": first} if first else {}
            if dist_on:
                kw["shard"] = shard
            for step, (x, y) in enumerate(data.batches("train", recipe.batch_size, train=True, gen=gen, dtype=dtype,
                                                       channels_last=recipe.channels_last, **kw), start=first):
                global_n = min(recipe.batch_size, n_train - step * recipe.batch_size)
                with ctx:
                    out = forward(x)
                    loss = hooks.loss(model, F.cross_entropy(full_precision(out), y))
                opt.zero_grad(set_to_none=True)
                if dist_on and len(y) * world != global_n:
                    # a last partial batch split unevenly: weigh each rank's mean so that DDP's average
                    # of the ranks' gradients is the gradient of the global batch's mean loss
                    (loss * (len(y) * world / global_n)).backward()
                else:
                    loss.backward()
                hooks.after_backward(model)
                opt.step()
                hooks.after_step(model)
                if max_steps is not None:
                    max_steps -= 1
                    if max_steps == 0:
                        return None
                loss_sum += loss.detach() * len(y)
                correct += (out.detach().argmax(1) == y).sum()
                n += len(y)
                if step % 50 == 49 and (ddp.any_rank(not torch.isfinite(loss_sum)) if dist_on
                                        else not torch.isfinite(loss_sum)):
                    break
                if bar is not None:
                    bar.update(1)
                elif callable(progress):
                    progress(global_n)
                due = bool(every) and step + 1 < steps_per_epoch and time.monotonic() - saved >= every
                if every and step + 1 < steps_per_epoch and (ddp.rank0_says(due) if dist_on else due):
                    _checkpoint_step(run_dir, model, opt, hooks, epoch, step + 1, history, images_seen, wall,
                                     loss_sum, correct, n, time.perf_counter() - t0 + before, device, dist_on)
                    saved = time.monotonic()
            if dist_on:  # global figures on every rank; BN running statistics: rank 0's
                sums = ddp.all_sum(torch.stack([loss_sum.double(), correct.double(),
                                                torch.tensor(float(n), dtype=torch.float64, device=device)]))
                loss_sum, correct, n = sums[0], sums[1], int(sums[2].item())
                ddp.broadcast_buffers(model)
            train_loss = (loss_sum / max(n, 1)).item()
            if not math.isfinite(train_loss):
                e = TrainingDiverged(
                    f"training diverged: loss is {train_loss} in epoch {epoch + 1} (lr {lr:g}); lower the lr")
                raise ddp.mark(e) if dist_on else e
            hooks.after_epoch(model, epoch)
            images_seen += n
            log = EpochLog(epoch + 1, lr, train_loss, (correct / max(n, 1)).item(), n, 0.0)
            if data.size("val"):
                log.val_top1, log.val_top5, _ = evaluate(model, data, "val", amp=amp, shard=shard)
            last = epoch + 1 == recipe.epochs
            if test and (last or (recipe.eval_every and (epoch + 1) % recipe.eval_every == 0)):
                log.test_top1, log.test_top5, _ = evaluate(model, data, "test", amp=amp, shard=shard)
            log.seconds = time.perf_counter() - t0 + before
            if dist_on:  # rank 0's clock, so that every rank keeps the same history
                log.seconds = ddp.broadcast(log.seconds)
            wall += log.seconds
            history.append(log.__dict__)
            if bar is not None:
                bar.set_postfix(loss=f"{train_loss:.3f}", acc=f"{log.train_top1:.3f}")
            if run_dir:
                args = (run_dir, model, opt, hooks, epoch + 1, history, images_seen, wall)
                ddp.on_rank0(lambda: _checkpoint(*args)) if dist_on else _checkpoint(*args)
                saved = time.monotonic()
    finally:
        if restore is not None:
            restore()
        if dist_on:  # free DDP's reducer (it holds the process group) now, not at interpreter exit
            net = forward = None
            gc.collect()
    if bar is not None:
        bar.close()
    final = history[-1]
    vals = [(h["val_top1"], h["epoch"]) for h in history if h.get("val_top1") is not None]
    best = max(vals, key=lambda v: (v[0], -v[1])) if vals else (None, None)
    return TrainResult(final["test_top1"], final["test_top5"], best[0], best[1], recipe.epochs,
                       images_seen, wall, history)


def _evaluate_only(model: nn.Module, data, amp, shard) -> TrainResult:
    """A run of 0 epochs: its initial model's test (and validation) accuracy; nothing trained, no
    checkpoint, no images seen (its ``train_macs`` is 0)."""
    t0 = time.perf_counter()
    val, val_epoch = None, None
    if data.size("val"):
        val, _, _ = evaluate(model, data, "val", amp=amp, shard=shard)
        val_epoch = 0
    top1, top5, _ = evaluate(model, data, "test", amp=amp, shard=shard)
    wall = time.perf_counter() - t0
    if shard is not None:  # rank 0's clock, as in training
        wall = ddp.broadcast(wall)
    return TrainResult(top1, top5, val, val_epoch, 0, 0, wall, [])


def _sync_batchnorm(model: nn.Module):
    """Swap every BatchNorm for a SyncBatchNorm sharing its parameters and buffers; returns the
    function that puts the original modules back (the caller's model keeps its own classes)."""
    swapped = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, nn.SyncBatchNorm):
                setattr(parent, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))
                swapped.append((parent, name, child))

    def restore():
        for parent, name, child in swapped:
            setattr(parent, name, child)

    return restore


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
    _tensorboard(run_dir, history[-1])


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


def _tensorboard(run_dir: Path, log: dict) -> None:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard not installed: JSONL only
        return
    with SummaryWriter(str(run_dir / "tb")) as w:
        for k, v in log.items():
            if k != "epoch" and isinstance(v, (int, float)):
                w.add_scalar(k, v, log["epoch"])
