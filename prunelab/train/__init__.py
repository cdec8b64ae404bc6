"""The training engine."""
from .engine import TrainResult, evaluate, resolve_device, train
from .hooks import HookList, Hooks, MaskHooks
from .recipe import Recipe

__all__ = ["HookList", "Hooks", "MaskHooks", "Recipe", "TrainResult", "evaluate", "resolve_device", "train"]
