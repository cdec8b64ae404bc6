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
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..errors import PrunelabError
from ..progress import progress_bar
from . import distributed as ddp
from .hooks import HookList, Hooks, MaskHooks
from .loop import (Classification, EpochLog, EpochLoop, Progress, Ranks, evaluate, full_precision, input_dtype,
                   steps_per_epoch, wrapped)
from .recipe import Recipe

__all__ = ["EpochLog", "TrainResult", "autocast_dtype", "evaluate", "full_precision", "input_dtype",
           "make_optimizer", "native_bf16", "resolve_device", "train"]


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
    metrics: dict = field(default_factory=dict)  # the last epoch's test metrics, by name (any task)


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
          test: bool = True, on_epoch: Callable[[dict, list[dict]], None] | None = None,
          on_step: Callable | None = None, task: Any = None) -> TrainResult | None:
    """Train ``model`` (already on its device) on ``data`` by ``recipe``; resume from ``run_dir``.

    ``masks`` ({parameter name: bool tensor}): those weights are zero and stay exactly zero.
    ``max_steps``: stop after that many optimiser steps and return None (the weights of a run
    after k iterations, e.g. a lottery ticket's rewind point; no checkpoint is written).
    ``progress``: None for no bar, True for a bar of this run, or a callable ``(images) -> None``
    that an outer bar provides.
    ``test``: evaluate on the test split at the end (False: a training step inside a method, e.g.
    ThiNet's fine-tuning between layers, which has no test split to read; ``final_top1`` is None).
    ``on_epoch``: called with each epoch's metrics and the run's history after its checkpoint
    (the loggers of ``prunelab.tracking``; on rank 0 only); ``on_step`` with the optimiser step,
    its loss tensor and lr after every step (the loggers' own ``log_every`` decides what to keep).
    ``task``: the loss and the metrics (default: classification, ``loop.Classification``); a task
    such as ``prunelab.detection.task.Detection`` trains in this same loop.
    ``distributed``: every process of a torchrun group calls ``train`` with the same arguments;
    the model is wrapped in DistributedDataParallel, each rank trains on its part of every global
    batch (``recipe.batch_size`` images, the single-process batches), metrics are the global ones,
    and only rank 0 writes ``run_dir``. Method hooks see the unwrapped model with the gradients
    already averaged over the ranks.
    """
    recipe.check()
    ranks = Ranks.of(distributed)
    hooks = HookList([hooks or Hooks()] + ([MaskHooks(masks)] if masks else []))
    device = next(model.parameters()).device
    if masks:
        hooks.hooks[-1].prepare(model)
    data.to(device)
    model, amp = _precision(model, recipe, device)
    if recipe.epochs == 0:  # an evaluation of the initial model (inherited or imported weights)
        if task is not None:
            raise PrunelabError("0 epochs (an evaluation only) is for classification runs")
        return _evaluate_only(model, data, amp, ranks.shard)
    opt = make_optimizer(model, recipe, hooks)
    run_dir = Path(run_dir) if run_dir else None
    prog = Progress.resumed(run_dir, model, opt, hooks, ranks)
    steps = steps_per_epoch(model, data, recipe, ranks, device)
    net, restore = wrapped(model, recipe, device, ranks)
    bar = None
    if progress is True:
        bar = progress_bar(total=recipe.epochs * steps, initial=prog.start * steps + prog.skip, desc=desc,
                           unit="step", leave=False)
    loop = EpochLoop(model, torch.compile(net) if recipe.compile else net, data, recipe, opt, hooks, ranks, prog,
                     steps, seed, amp, input_dtype(model, amp), run_dir, test, max_steps, bar,
                     progress if callable(progress) else None, on_epoch if ranks.rank == 0 else None,
                     on_step if ranks.rank == 0 else None, task if task is not None else Classification())
    try:
        for epoch in range(prog.start, recipe.epochs):
            if loop.epoch(epoch) is None:  # max_steps reached
                return None
    finally:
        if restore is not None:
            restore()
        if ranks.on:  # free DDP's reducer (it holds the process group) now, not at interpreter exit
            net = loop.forward = None
            gc.collect()
    if bar is not None:
        bar.close()
    history = prog.history
    final = history[-1]
    vals = [(h["val_top1"], h["epoch"]) for h in history if h.get("val_top1") is not None]
    best = max(vals, key=lambda v: (v[0], -v[1])) if vals else (None, None)
    return TrainResult(final.get("test_top1"), final.get("test_top5"), best[0], best[1], recipe.epochs,
                       prog.images_seen, prog.wall, history,
                       {k: v for k, v in final.items() if k.startswith("test_") and v is not None})


def _precision(model: nn.Module, recipe: Recipe, device: torch.device):
    """(the model, in channels_last if asked; the autocast dtype or None)."""
    amp = autocast_dtype(recipe.precision, device)
    if recipe.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if recipe.compile and not torch.cuda.is_available():
        # a CUDA build of torch on a machine without a GPU warns about CUDA_HOME when inductor starts
        logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    return model, amp


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
