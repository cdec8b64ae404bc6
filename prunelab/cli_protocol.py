"""CLI verbs of the protocol (prune, run, plan, report, demo)."""
from __future__ import annotations


def add_parsers(sub) -> None:
    pass
