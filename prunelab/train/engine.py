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

import gc
import logging
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import PrunelabError, TrainingDiverged, warn
from ..progress import progress_bar
from . import distributed as ddp
from .checkpoints import _checkpoint, _checkpoint_step, _resume, _resume_all, _set_rng
from .hooks import HookList, Hooks, MaskHooks
from .recipe import Recipe


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
