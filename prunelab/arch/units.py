"""A channel unit: one prunable layer's output width or one input channel selection, with its
stage, its block (position in the stage) and its role. Each family lists its units
(``Family.units``); patterns and uniform architectures set them (``prunelab.search``)."""
from __future__ import annotations

import re
from dataclasses import dataclass

WIDTH, SELECT = "width", "select"
SELECT_ROLES = ("select", "trans", "head")


def kind_of(role: str) -> str:
    """``select`` for a role that reads part of a stream (an input selection), else ``width``."""
    return SELECT if role in SELECT_ROLES else WIDTH


@dataclass(frozen=True)
class Unit:
    key: str  # a prunable layer (e.g. features.3, layer1.0.conv1) or a block reading a selection (layer1.0)
    path: tuple  # where its number lives in the spec's layout
    stage: int
    block: int  # position in its stage (among the units of its role)
    role: str  # conv, conv1, conv2, ... for widths; select, trans, head for selections

    @property
    def kind(self) -> str:
        return kind_of(self.role)


def indices(name: str) -> tuple[int, ...]:
    """The numbers in a layer or block name, its stage counted from 0: ``layer2.3.conv1`` ->
    (1, 3, 1), ``dense1.4`` -> (0, 4), ``trans2`` -> (1,)."""
    head, *rest = (int(n) for n in re.findall(r"\d+", name))
    return (head - 1, *rest)


def next_in_block(model, layer: str) -> str:
    """The consumer of a residual block's inner conv ``<block>.conv<j>``: ``<block>.conv<j+1>``."""
    head, _, conv = layer.rpartition(".conv")
    return f"{head}.conv{int(conv) + 1}"
