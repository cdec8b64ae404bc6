"""Optimisers beyond plain SGD that methods ask for through ``Hooks.optimizer``."""
from __future__ import annotations

import torch
from torch.optim.sgd import sgd


def soft_threshold(z: torch.Tensor, t: float) -> torch.Tensor:
    """The proximal operator of t * |x|_1: shrink towards 0 by t, exactly 0 inside [-t, t]."""
    return torch.sign(z) * (z.abs() - t).clamp_min(0)


class SGDWithAPG(torch.optim.Optimizer):
    """SGD for ordinary parameter groups (torch's own update: momentum, Nesterov, weight decay) and,
    for groups with ``l1 > 0``, the accelerated proximal gradient (APG) of Sparse Structure
    Selection (Huang & Wang 2018, its momentum form): z = w - lr * grad;
    v <- S_{lr*l1}(z) - w + momentum * v; w <- S_{lr*l1}(z) + momentum * v. The L1 penalty acts
    through the soft threshold S (not as a gradient), so factors reach exactly zero; such groups
    take no weight decay."""

    def __init__(self, groups, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, nesterov: bool = False):
        super().__init__(groups, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay,
                                  "nesterov": nesterov, "l1": 0.0})

    @torch.no_grad()
    def step(self, closure=None):
        for g in self.param_groups:
            params = [p for p in g["params"] if p.grad is not None]
            if g["l1"] > 0:
                for p in params:
                    v = self.state[p].setdefault("momentum_buffer", torch.zeros_like(p))
                    s = soft_threshold(p - g["lr"] * p.grad, g["lr"] * g["l1"])
                    v.mul_(g["momentum"]).add_(s - p)
                    p.copy_(s + g["momentum"] * v)
            elif params:
                bufs = [self.state[p].get("momentum_buffer") for p in params]
                sgd(params, [p.grad for p in params], bufs, weight_decay=g["weight_decay"], momentum=g["momentum"],
                    lr=g["lr"], dampening=0, nesterov=g["nesterov"] and g["momentum"] > 0, maximize=False)
                if g["momentum"] > 0:
                    for p, b in zip(params, bufs):
                        self.state[p]["momentum_buffer"] = b
