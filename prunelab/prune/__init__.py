"""Pruning mechanics: criteria (scores), selections (scores -> indices), targets (kept widths),
surgery (indices -> a smaller model). Pruning *methods* built on them live in ``prunelab.methods``."""
import sys
import types

from .criteria import CRITERIA, criterion
from .selection import SELECTIONS, check_scores, reference_threshold, select
from .surgery import prune_channels, remove_branches
from .targets import Target, parse_target, prune, target_spec, target_widths

__all__ = ["CRITERIA", "SELECTIONS", "Target", "check_scores", "criterion", "parse_target", "prune", "prune_channels", "reference_threshold", "remove_branches", "select",
           "target_spec", "target_widths"]


class _Callable(types.ModuleType):
    """``prunelab.prune`` is this package and, called, the Python API's ``prunelab.api.prune``
    (``prunelab.prune(model, method="l1-norm", target=0.5, example_input=x)``): once any module has
    imported the package, the name on ``prunelab`` is the package, so the package answers the call."""

    def __call__(self, *args, **kwargs):
        from ..api import prune as api_prune

        return api_prune(*args, **kwargs)


sys.modules[__name__].__class__ = _Callable
