"""The regimes of the paper's protocol as a registry, and the Scratch-B budget rule.

A regime is one entry: how its model is initialised, which recipe (and budget) trains it, and its
column title and colour in reports. Tables, plots and verdicts iterate over the registry, so a new
regime (e.g. a lottery ticket's rewound init) is one ``register_regime`` call.

- baseline: train the large model (random init, the base recipe).
- finetune: the inherited (pruned) weights, fine-tuned with the fine-tune recipe.
- scratch-e: random init of the pruned spec, the baseline's recipe (same epochs).
- scratch-b: random init, the same training compute as the baseline:
  epochs = int(E_base * MACs(large) / MACs(pruned)), optionally capped at cap * E_base; the
  schedule is scaled with the epochs. Masked models count MACs scaled by each layer's density.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

from ..errors import PrunelabError
from ..train import Recipe
from . import inits
from .inits import Origin


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


SCRATCH_B_RULE = "int(E_base * MACs(large) / MACs(pruned))"


def scratch_b_budget(base_epochs: int, macs_large: float, macs_pruned: float, cap: float | None) -> Budget:
    if macs_pruned <= 0 or macs_large <= 0:
        raise PrunelabError("scratch-b budget needs positive MAC counts")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, (int, float)) or not cap >= 1
                            or cap == float("inf")):
        raise PrunelabError(f"scratch-b cap must be a finite number >= 1 or null, got {cap!r}")
    ratio = macs_large / macs_pruned
    epochs = int(base_epochs * ratio)
    rule = SCRATCH_B_RULE
    if cap is not None:
        epochs = min(epochs, int(base_epochs * cap))
        rule += f", capped at {cap:g} x E_base"
    return Budget(rule, base_epochs, int(macs_large), macs_pruned, ratio, cap, epochs)


def default_cap(dataset_style: str) -> float | None:
    """The paper's text: no cap on CIFAR, 2x on ImageNet."""
    return 2.0 if dataset_style == "imagenet" else None


@dataclass(frozen=True)
class Regime:
    """One way of training a (pruned) architecture.

    ``init``: how the model starts, a kind of the init registry (``protocol/inits.py``): ``random``
    (a fresh init of the spec; kept-fan for masked models; the training method's initial state),
    ``inherit`` (the pruned model's weights), ``init`` (the large model's initial weights).
    ``recipe``: (base recipe, fine-tune recipe, budget or None) -> the run's recipe.
    ``budget``: True when the recipe needs the Scratch-B budget (then ``plan`` shows its rule).
    ``fixed``: the run's epochs are the protocol's (the baseline's, or the budget's): an experiment's
    ``recipes:`` may not change them.
    ``reference``: the other arms of a row are compared with the first reference arm present.
    ``next_level``: iterative pruning (``levels > 1``) prunes this arm's trained model at the next level.
    ``stretched``: a budgeted regime (Scratch-B) stretches this regime's schedule (with its recipe changes).
    """

    name: str
    title: str
    color: str
    init: str
    recipe: Callable[[Recipe, Recipe, Budget | None], Recipe]
    budget: bool = False
    arm: bool = True  # False for the baseline (the large model itself)
    fixed: bool = False
    reference: bool = False
    next_level: bool = False
    stretched: bool = False

    def origin_settings(self, origin: Origin) -> dict:
        """The ``init`` settings of a run of this regime (see ``protocol/inits.py``)."""
        return inits.get(self.init).plan(origin)

    def recipe_for(self, base: Recipe, finetune: Recipe, budget: Budget | None) -> Recipe:
        if self.budget and budget is None:
            raise PrunelabError(f"{self.name} needs a budget")
        return self.recipe(base, finetune, budget)


REGIMES: dict[str, Regime] = {}


def register_regime(regime: Regime) -> Regime:
    REGIMES[regime.name] = regime
    return regime


def regime(name: str) -> Regime:
    """A registered regime, or ``module:attribute`` naming a ``Regime`` (registered on first use)."""
    if name in REGIMES:
        return REGIMES[name]
    if isinstance(name, str) and ":" in name:
        from ..methods import import_object

        obj = import_object(name, "regime")
        if not isinstance(obj, Regime):
            raise PrunelabError(f"regime '{name}' is not a prunelab Regime")
        inits.get(obj.init)  # a kind the init registry knows
        return register_regime(dataclasses.replace(obj, name=name))
    raise PrunelabError(f"unknown regime '{name}' (known: {', '.join(arm_regimes())}; or module:attribute)")


def arm_regimes() -> list[str]:
    """The regimes that train a pruned architecture, in report order."""
    return [n for n, r in REGIMES.items() if r.arm]


register_regime(Regime("baseline", "Unpruned", "#777777", "random", lambda b, f, bud: b, arm=False, fixed=True))
register_regime(Regime("finetune", "Fine-tuned", "#1f77b4", "inherit", lambda b, f, bud: f, reference=True))
# a method that reports its pruned model without fine-tuning (Soft Filter Pruning trains the large model
# with the zeroing and removes the zeroed filters at the end: its result is this 0-epoch evaluation)
register_regime(Regime("pruned", "Pruned (no fine-tuning)", "#17becf", "inherit",
                       lambda b, f, bud: _evaluation(b), reference=True, fixed=True))
register_regime(Regime("scratch-e", "Scratch-E", "#ff7f0e", "random", lambda b, f, bud: b, fixed=True,
                       stretched=True))
register_regime(Regime("scratch-b", "Scratch-B", "#2ca02c", "random", lambda b, f, bud: b.scaled(bud.epochs),
                       budget=True, fixed=True))
# the lottery-ticket comparison (Frankle & Carbin 2019): the large model's own initial weights (or its
# weights after `rewind` iterations) under the pruning mask, against a fresh init of the usual kind (kept-fan
# He std under a mask, as the reference's lottery-ticket/weight-level/cifar_scratch_no_longer.py draws it)
register_regime(Regime("winning-ticket", "Winning ticket", "#d62728", "init", lambda b, f, bud: b, fixed=True,
                       next_level=True))
register_regime(Regime("random-init", "Random init", "#9467bd", "random", lambda b, f, bud: b, fixed=True,
                       reference=True))


def _evaluation(base: Recipe) -> Recipe:
    """0 epochs: the initial (inherited) model evaluated, as an imported baseline is."""
    return Recipe(epochs=0, precision=base.precision, channels_last=base.channels_last)


def regime_recipe(name: str, base: Recipe, finetune: Recipe, budget: Budget | None = None) -> Recipe:
    return regime(name).recipe_for(base, finetune, budget)
