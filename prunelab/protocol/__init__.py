"""The protocol: regimes (a registry: baseline, finetune, scratch-e, scratch-b, ...) and budgets."""
from .regimes import (REGIMES, SCRATCH_B_RULE, Budget, Regime, arm_regimes, default_cap, regime, regime_recipe,
                      register_regime, scratch_b_budget)

__all__ = ["REGIMES", "SCRATCH_B_RULE", "Budget", "Regime", "arm_regimes", "default_cap", "regime", "regime_recipe",
           "register_regime", "scratch_b_budget"]
