"""Where pruning methods plug into the one training loop (``Hooks``), the hooks that keep masked
weights exactly zero, and several hooks in order."""
from __future__ import annotations

import torch
from torch import nn

from ..masks import check_masks
from .recipe import Recipe


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
