"""Several independent runs of one architecture trained at once on one device.

The runs' parameters and BN buffers are stacked (``torch.func.stack_module_state``) and one
vectorised forward/backward (``torch.func.vmap`` + ``functional_call``) serves them all, so a big
GPU is not left idle by a small CIFAR model. Each run keeps its own seed (data order and
augmentation), learning rate, momentum, weight decay and optimiser state; the result equals
training each run separately with ``prunelab.train.train`` (tested on CPU in float64).

Runs are vectorised in groups of equal architecture, batch size and epochs (a vectorised step
needs equal batch shapes); ``train_many`` forms the groups itself, so each run keeps its batch
size. Method hooks are not supported here: use ``train`` for pruning methods with hooks.
"""
from __future__ import annotations

import copy
import math
import time
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from ..errors import PrunelabError, TrainingDiverged
from .engine import TrainResult, autocast_dtype, evaluate, full_precision, input_dtype
from .loop import _seed
from .recipe import Recipe


def _bcast(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


def _train_group(models: list[nn.Module], data, recipes: list[Recipe], seeds: list[int]) -> list[TrainResult]:
    device = next(models[0].parameters()).device
    k = len(models)
    r0 = recipes[0]
    amp = autocast_dtype(r0.precision, device)
    params, buffers = stack_module_state(models)
    params = {n: p.detach().clone().requires_grad_(True) for n, p in params.items()}
    base = copy.deepcopy(models[0]).to("meta")
    base.train()

    def loss_of(p, b, x, y):
        out = functional_call(base, (p, b), (x,))
        return F.cross_entropy(full_precision(out), y), out

    vloss = vmap(loss_of)
    hp = {"device": device, "dtype": next(models[0].parameters()).dtype}  # float64 models: float64 rates
    momentum = torch.tensor([r.momentum for r in recipes], **hp)
    wd = torch.tensor([r.weight_decay for r in recipes], **hp)
    nesterov = [r.nesterov and r.momentum > 0 for r in recipes]
    if len(set(nesterov)) > 1:
        raise PrunelabError("runs trained together must agree on nesterov")
    bufs: dict[str, torch.Tensor] = {}
    t0 = time.perf_counter()
    history = [[] for _ in range(k)]
    ctx = torch.autocast(device.type, dtype=amp) if amp else nullcontext()
    for epoch in range(r0.epochs):
        lr = torch.tensor([r.lr_at(epoch) for r in recipes], **hp)
        gens = [torch.Generator().manual_seed(_seed(s, epoch)) for s in seeds]
        iters = [data.batches("train", r0.batch_size, train=True, gen=g, channels_last=r0.channels_last,
                              dtype=input_dtype(models[0], amp)) for g in gens]
        loss_sum = torch.zeros(k, device=device)
        correct = torch.zeros(k, device=device)
        n = 0
        for batches in zip(*iters):
            x = torch.stack([b[0] for b in batches])
            y = torch.stack([b[1] for b in batches])
            with ctx:
                losses, out = vloss(params, buffers, x, y)
            grads = torch.autograd.grad(losses.sum(), list(params.values()))
            with torch.no_grad():
                for (name, p), g in zip(params.items(), grads):
                    d_p = g + _bcast(wd, p) * p
                    if name not in bufs:
                        bufs[name] = d_p.clone()
                    else:
                        bufs[name].mul_(_bcast(momentum, p)).add_(d_p)
                    step = d_p + _bcast(momentum, p) * bufs[name] if nesterov[0] else bufs[name]
                    p.sub_(_bcast(lr, p) * step)
                loss_sum += losses.detach() * y.shape[1]
                correct += (out.argmax(-1) == y).sum(1)
            n += y.shape[1]
        losses_epoch = (loss_sum / max(n, 1)).tolist()
        for i in range(k):
            if not math.isfinite(losses_epoch[i]):
                raise TrainingDiverged(f"training diverged: run {i} (seed {seeds[i]}) loss is {losses_epoch[i]}")
            history[i].append({"epoch": epoch + 1, "lr": float(lr[i]), "train_loss": losses_epoch[i],
                               "train_top1": float(correct[i] / max(n, 1)), "images": n})
    with torch.no_grad():
        for i, m in enumerate(models):
            for name, p in m.named_parameters():
                p.copy_(params[name][i])
            for name, b in m.named_buffers():
                if name in buffers:
                    b.copy_(buffers[name][i])
    wall = (time.perf_counter() - t0) / k  # each run's share of the group's time
    out = []
    for i, m in enumerate(models):
        top1, top5, _ = evaluate(m, data, "test", amp=amp)
        history[i][-1].update(test_top1=top1, test_top5=top5)
        out.append(TrainResult(top1, top5, None, None, r0.epochs, sum(h["images"] for h in history[i]), wall,
                               history[i]))
    return out


def train_many(models: list[nn.Module], data, recipes: list[Recipe], seeds: list[int]) -> list[TrainResult]:
    """Train every model (in place) on ``data`` by its recipe and seed; vectorised where possible.

    All models must be built from one architecture spec and sit on one device. Returns one
    ``TrainResult`` per run (no validation split: ``best_val_*`` are None; ``wall_s`` is the run's
    share of its group's time).
    """
    if not (len(models) == len(recipes) == len(seeds)) or not models:
        raise PrunelabError("train_many needs one recipe and one seed per model")
    specs = {getattr(m, "arch_spec", None) and m.arch_spec.to_json() for m in models}
    if len(specs) != 1:
        raise PrunelabError("train_many trains runs of one architecture at a time")
    for r in recipes:
        r.check()
    data.to(next(models[0].parameters()).device)
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(recipes):
        key = (r.batch_size, r.epochs, r.precision, r.channels_last, r.nesterov and r.momentum > 0)
        groups.setdefault(key, []).append(i)
    results: list[TrainResult | None] = [None] * len(models)
    for idx in groups.values():
        for i, res in zip(idx, _train_group([models[i] for i in idx], data, [recipes[i] for i in idx],
                                            [seeds[i] for i in idx])):
            results[i] = res
    return results
