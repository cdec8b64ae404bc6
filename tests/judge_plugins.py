"""Methods defined outside prunelab for the judge tests (``judge_plugins:Smallest``)."""
from dataclasses import dataclass
from typing import Any

from prunelab.methods.l1_norm import L1Norm


@dataclass(frozen=True)
class Params:
    target: Any = None  # as for l1-norm


class Smallest(L1Norm):
    """Planted to be worse: keeps the filters of *smallest* L1 norm."""

    Params = Params

    def rule(self, params) -> str:
        return "smallest"
