"""The training engine."""
from .engine import Hooks, TrainResult, evaluate, resolve_device, train
from .recipe import Recipe

__all__ = ["Hooks", "Recipe", "TrainResult", "evaluate", "resolve_device", "train"]
