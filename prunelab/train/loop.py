"""The steps of ``train()`` (``train/engine.py``): where a run resumes, what can train, the
distributed wrapper, and the epoch loop (one epoch's optimiser steps with mid-epoch checkpoints,
then its global figures, evaluation and checkpoint). Every epoch's randomness is seeded from
(seed, epoch), so a resumed run repeats an uninterrupted one."""
from __future__ import annotations

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
from . import distributed as ddp
from .checkpoints import _checkpoint, _checkpoint_step, _resume, _resume_all, _set_rng
from .hooks import HookList
from .recipe import Recipe


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


class Classification:
    """The default task of the training loop: cross-entropy on class logits, top-1 hits per batch,
    top-1/top-5 on a split. Another task (``prunelab.detection.task.Detection``) offers the same
    three methods, so every task trains in the one loop."""

    def loss(self, forward, model: nn.Module, hooks, x, y):
        out = forward(x)
        loss = hooks.loss(model, F.cross_entropy(full_precision(out), y))
        return loss, (out.detach().argmax(1) == y).sum()

    def metrics(self, model: nn.Module, data, split: str, amp, shard) -> dict:
        top1, top5, _ = evaluate(model, data, split, amp=amp, shard=shard)
        return {f"{split}_top1": top1, f"{split}_top5": top5}


@dataclass(frozen=True)
class Ranks:
    """This process's place in a torchrun group (``on``: training with DDP), or the single process."""

    on: bool = False
    world: int = 1
    rank: int = 0

    @classmethod
    def of(cls, distributed: bool) -> "Ranks":
        return cls(True, ddp.world(), ddp.rank()) if distributed and ddp.active() else cls()

    @property
    def shard(self) -> tuple[int, int] | None:
        return (self.rank, self.world) if self.on else None


@dataclass
class Progress:
    """Where a run stands: the epoch (and step within it) to start at, and what it has done so far."""

    start: int = 0
    skip: int = 0  # steps of the start epoch already done (a mid-epoch checkpoint)
    partial: dict | None = None  # that checkpoint's epoch sums and RNG states
    history: list = field(default_factory=list)
    images_seen: int = 0
    wall: float = 0.0

    @classmethod
    def resumed(cls, run_dir: Path | None, model: nn.Module, opt, hooks, ranks: Ranks) -> "Progress":
        ck = None
        if run_dir:
            ck = _resume_all(run_dir, model, opt, hooks) if ranks.on else _resume(run_dir, model, opt, hooks)
        if ck is None:
            return cls()
        return cls(ck["epoch"], ck.get("step", 0), ck.get("partial"), ck["history"], ck["images_seen"], ck["wall_s"])


def steps_per_epoch(model: nn.Module, data, recipe: Recipe, ranks: Ranks, device: torch.device) -> int:
    """Refuse what cannot train (every rank alike); returns the steps per epoch."""
    def check() -> int:
        n_train = data.size("train")
        per_rank = ddp.local_batch(recipe.batch_size, ranks.world)
        if recipe.sync_bn and ranks.on and device.type != "cuda":
            raise PrunelabError("sync_bn needs CUDA devices (torch's SyncBatchNorm does not run on the CPU); "
                                "set sync_bn: false")
        steps = data.num_batches("train", recipe.batch_size, train=True, **({"world": ranks.world} if ranks.on else {}))
        if steps == 0:
            raise PrunelabError(f"the training set ({n_train} images) gives no batch of size {recipe.batch_size} (a "
                                f"batch needs at least 2 images{' per process' if ranks.on else ''}): use more "
                                "images or a smaller batch")
        if n_train < recipe.batch_size and ddp.is_main():
            warn(f"the training set ({n_train} images) is smaller than one batch ({recipe.batch_size}): "
                 "every epoch is a single step")
        if per_rank < 2 and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
            raise PrunelabError(f"batch size {per_rank}{' per process' if ranks.on else ''} cannot train a model "
                                "with BatchNorm (its batch statistics need at least 2 images)")
        return steps

    return ddp.everywhere(check) if ranks.on else check()


def wrapped(model: nn.Module, recipe: Recipe, device: torch.device, ranks: Ranks):
    """(the module to call forward on, a function that undoes SyncBatchNorm or None): the model
    itself, or under torchrun its DistributedDataParallel wrapper (rank 0's weights and buffers are
    broadcast here and its buffers before every forward, DDP's default: BN running statistics are
    rank 0's)."""
    if not ranks.on:
        return model, None
    from torch.nn.parallel import DistributedDataParallel

    restore = _sync_batchnorm(model) if recipe.sync_bn else None
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None), restore


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


def _seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch * 7919 + 17) % (2**63)


@dataclass
class EpochLoop:
    """The epochs of one run: ``epoch(e)`` trains epoch e and records it (None: ``max_steps`` reached)."""

    model: nn.Module
    forward: Any  # the model, its DDP wrapper or their compiled form (sharing the model's parameters)
    data: Any
    recipe: Recipe
    opt: torch.optim.Optimizer
    hooks: HookList
    ranks: Ranks
    progress: Progress
    steps: int  # optimiser steps per epoch
    seed: int
    amp: torch.dtype | None
    dtype: torch.dtype
    run_dir: Path | None
    test: bool
    max_steps: int | None = None
    bar: Any = None
    report: Any = None  # a callable (images) -> None that an outer bar provides
    on_epoch: Any = None  # a callable (epoch's metrics, history) -> None: the run's loggers
    on_step: Any = None  # a callable (optimiser step, {"train_loss", "lr"}) -> None: the loggers, per N steps
    task: Any = field(default_factory=Classification)  # the loss and the metrics (classification by default)
    saved: float = field(default_factory=time.monotonic)  # when the last checkpoint was written

    def epoch(self, epoch: int):
        recipe, model, opt, hooks, ranks, prog = self.recipe, self.model, self.opt, self.hooks, self.ranks, self.progress
        device = next(model.parameters()).device
        n_train = self.data.size("train")
        every = recipe.checkpoint_minutes * 60 if self.run_dir else 0
        first = prog.skip if epoch == prog.start else 0
        t0 = time.perf_counter()
        lr = recipe.lr_at(epoch)
        for g in opt.param_groups:
            g["lr"] = lr * g.get("lr_scale", 1.0)
        gen = torch.Generator().manual_seed(_seed(self.seed, epoch))
        torch.manual_seed(_seed(self.seed, epoch) + 1 + ranks.rank)  # dropout and other global-RNG users (per rank)
        model.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)
        n, before = 0, 0.0
        if first:  # a mid-epoch checkpoint: the global sums so far (on rank 0) and the RNG state
            partial = prog.partial
            before = partial["seconds"]
            _set_rng(partial["rng"], ranks.rank, device, _seed(self.seed, epoch) + 1 + ranks.rank + 7919 * first)
            if ranks.rank == 0:
                loss_sum += partial["loss_sum"].to(device)
                correct += partial["correct"].to(device)
                n = partial["n"]
        ctx = torch.autocast(device.type, dtype=self.amp) if self.amp else nullcontext()
        kw = {"start": first} if first else {}
        if ranks.on:
            kw["shard"] = ranks.shard
        for step, (x, y) in enumerate(self.data.batches("train", recipe.batch_size, train=True, gen=gen,
                                                        dtype=self.dtype, channels_last=recipe.channels_last, **kw),
                                      start=first):
            global_n = min(recipe.batch_size, n_train - step * recipe.batch_size)
            with ctx:
                loss, hits = self.task.loss(self.forward, model, hooks, x, y)
            opt.zero_grad(set_to_none=True)
            if ranks.on and len(y) * ranks.world != global_n:
                # a last partial batch split unevenly: weigh each rank's mean so that DDP's average
                # of the ranks' gradients is the gradient of the global batch's mean loss
                (loss * (len(y) * ranks.world / global_n)).backward()
            else:
                loss.backward()
            hooks.after_backward(model)
            opt.step()
            hooks.after_step(model)
            if self.max_steps is not None:
                self.max_steps -= 1
                if self.max_steps == 0:
                    return None
            loss_sum += loss.detach() * len(y)
            correct += hits
            n += len(y)
            if self.on_step is not None:
                self.on_step(epoch * self.steps + step + 1, loss, lr)
            if step % 50 == 49 and (ddp.any_rank(not torch.isfinite(loss_sum)) if ranks.on
                                    else not torch.isfinite(loss_sum)):
                break
            if self.bar is not None:
                self.bar.update(1)
            elif self.report is not None:
                self.report(global_n)
            due = bool(every) and step + 1 < self.steps and time.monotonic() - self.saved >= every
            if every and step + 1 < self.steps and (ddp.rank0_says(due) if ranks.on else due):
                _checkpoint_step(self.run_dir, model, opt, hooks, epoch, step + 1, prog.history, prog.images_seen,
                                 prog.wall, loss_sum, correct, n, time.perf_counter() - t0 + before, device, ranks.on)
                self.saved = time.monotonic()
        if ranks.on:  # global figures on every rank; BN running statistics: rank 0's
            sums = ddp.all_sum(torch.stack([loss_sum.double(), correct.double(),
                                            torch.tensor(float(n), dtype=torch.float64, device=device)]))
            loss_sum, correct, n = sums[0], sums[1], int(sums[2].item())
            ddp.broadcast_buffers(model)
        train_loss = (loss_sum / max(n, 1)).item()
        if not math.isfinite(train_loss):
            e = TrainingDiverged(
                f"training diverged: loss is {train_loss} in epoch {epoch + 1} (lr {lr:g}); lower the lr")
            raise ddp.mark(e) if ranks.on else e
        hooks.after_epoch(model, epoch)
        prog.images_seen += n
        log = EpochLog(epoch + 1, lr, train_loss, (correct / max(n, 1)).item(), n, 0.0)
        self._evaluate(log, epoch)
        log.seconds = time.perf_counter() - t0 + before
        if ranks.on:  # rank 0's clock, so that every rank keeps the same history
            log.seconds = ddp.broadcast(log.seconds)
        prog.wall += log.seconds
        prog.history.append(log.__dict__)
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{train_loss:.3f}", acc=f"{log.train_top1:.3f}")
        if self.run_dir:
            args = (self.run_dir, model, opt, hooks, epoch + 1, prog.history, prog.images_seen, prog.wall)
            ddp.on_rank0(lambda: _checkpoint(*args)) if ranks.on else _checkpoint(*args)
            self.saved = time.monotonic()
        if self.on_epoch is not None:
            self.on_epoch(log.__dict__, prog.history)
        return log

    def _evaluate(self, log, epoch: int) -> None:
        """Validation every epoch (where there is a split); test at the end and every ``eval_every``."""
        if self.data.size("val"):
            for k, v in self.task.metrics(self.model, self.data, "val", self.amp, self.ranks.shard).items():
                setattr(log, k, v)
        last = epoch + 1 == self.recipe.epochs
        if self.test and (last or (self.recipe.eval_every and (epoch + 1) % self.recipe.eval_every == 0)):
            for k, v in self.task.metrics(self.model, self.data, "test", self.amp, self.ranks.shard).items():
                setattr(log, k, v)
