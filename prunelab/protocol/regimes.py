"""The regimes of the paper's protocol and their budget rules.

- baseline: train the large model.
- finetune: inherited (pruned) weights, fine-tuned with the fine-tune recipe.
- scratch-e: random init of the pruned spec, the baseline's recipe (same epochs).
- scratch-b: random init, the same training compute as the baseline:
  epochs = int(E_base * MACs(large) / MACs(pruned)), optionally capped at cap * E_base; the
  schedule is scaled with the epochs.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import PrunelabError
from ..train import Recipe

REGIMES = ("baseline", "finetune", "scratch-e", "scratch-b")
PRUNED_REGIMES = REGIMES[1:]


@dataclass(frozen=True)
class Budget:
    rule: str
    base_epochs: int
    macs_large: int
    macs_pruned: float
    mac_ratio: float
    cap: float | None
    epochs: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def scratch_b_budget(base_epochs: int, macs_large: float, macs_pruned: float, cap: float | None) -> Budget:
    if macs_pruned <= 0 or macs_large <= 0:
        raise PrunelabError("scratch-b budget needs positive MAC counts")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, (int, float)) or cap < 1):
        raise PrunelabError(f"scratch-b cap must be a number >= 1 or null, got {cap!r}")
    ratio = macs_large / macs_pruned
    epochs = int(base_epochs * ratio)
    rule = "int(E_base * MACs(large) / MACs(pruned))"
    if cap is not None:
        epochs = min(epochs, int(base_epochs * cap))
        rule += f", capped at {cap:g} x E_base"
    return Budget(rule, base_epochs, int(macs_large), macs_pruned, ratio, cap, epochs)


def default_cap(dataset_style: str) -> float | None:
    """The paper's text: no cap on CIFAR, 2x on ImageNet."""
    return 2.0 if dataset_style == "imagenet" else None


def regime_recipe(regime: str, base: Recipe, finetune: Recipe, budget: Budget | None = None) -> Recipe:
    if regime in ("baseline", "scratch-e"):
        return base
    if regime == "finetune":
        return finetune
    if regime == "scratch-b":
        if budget is None:
            raise PrunelabError("scratch-b needs a budget")
        return base.scaled(budget.epochs)
    raise PrunelabError(f"unknown regime '{regime}' (known: {', '.join(REGIMES)})")
