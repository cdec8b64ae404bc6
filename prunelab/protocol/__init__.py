"""The protocol: regimes (baseline, finetune, scratch-e, scratch-b) and their budgets."""
from .regimes import PRUNED_REGIMES, REGIMES, Budget, default_cap, regime_recipe, scratch_b_budget

__all__ = ["PRUNED_REGIMES", "REGIMES", "Budget", "default_cap", "regime_recipe", "scratch_b_budget"]
