"""Pruning mechanics: criteria (scores), selections (scores -> indices), targets (kept widths),
surgery (indices -> a smaller model). Pruning *methods* built on them live in ``prunelab.methods``."""
from .criteria import CRITERIA, criterion
from .selection import SELECTIONS, check_scores, reference_threshold, select
from .surgery import prune_channels, remove_branches
from .targets import Target, parse_target, prune, target_spec, target_widths

__all__ = ["CRITERIA", "SELECTIONS", "Target", "check_scores", "criterion", "parse_target", "prune", "prune_channels", "reference_threshold", "remove_branches", "select",
           "target_spec", "target_widths"]

