"""Pruning: criteria (scores), selections (scores -> indices), surgery (indices -> smaller model)."""
from .criteria import CRITERIA, criterion
from .l1 import Target, parse_target, prune, target_spec, target_widths
from .selection import SELECTIONS, select
from .surgery import prune_channels

__all__ = ["CRITERIA", "SELECTIONS", "Target", "criterion", "parse_target", "prune", "prune_channels", "select",
           "target_spec", "target_widths"]
