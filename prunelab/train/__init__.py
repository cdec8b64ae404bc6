"""The training engine."""
from .engine import HookList, Hooks, MaskHooks, TrainResult, evaluate, resolve_device, train
from .recipe import Recipe

__all__ = ["HookList", "Hooks", "MaskHooks", "Recipe", "TrainResult", "evaluate", "resolve_device", "train"]
