"""The protocol: how each run starts (``inits``: a registry of init kinds), regimes (a registry:
baseline, finetune, scratch-e, scratch-b, ...) and budgets."""
from . import inits
from .inits import INITS, Init, Origin, register_init
from .regimes import (REGIMES, SCRATCH_B_RULE, Budget, Regime, arm_regimes, default_cap, regime, regime_recipe,
                      register_regime, scratch_b_budget)

__all__ = ["INITS", "REGIMES", "SCRATCH_B_RULE", "Budget", "Init", "Origin", "Regime", "arm_regimes", "default_cap",
           "inits", "regime", "regime_recipe", "register_init", "register_regime", "scratch_b_budget"]
