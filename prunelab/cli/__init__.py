"""The prunelab command line, one module per command group: ``arch``, ``train``, ``runs``, the verbs
on models (``models``: prune, pattern, export, import-weights) and those of the protocol
(``protocol``: plan, run, report, demo, judge); ``main`` parses and dispatches, ``common`` holds the
shared argument helpers. Parsing and printing only; the work happens in the packages."""
from .main import build_parser, main

__all__ = ["build_parser", "main"]
