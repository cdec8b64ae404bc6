"""Architecture specs: a JSON-serialisable description that builds a model.

A spec is ``family`` + ``layout`` (the family's per-layer widths and channel selections) +
input/head facts. Everything the paper compares is a way of getting weights for one spec.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import PrunelabError

# checks of a spec by its family: families.py appends its ``validate`` when the package loads, so
# every spec made from a dict is checked, and this module needs no import of the families
VALIDATORS: list[Callable[["ArchSpec"], None]] = []

SPEC_FORMAT = 2  # 2: a CIFAR ResNet without 'shortcut' means the reference's 'avg' form (format 1: 'subsample')


@dataclass(frozen=True)
class ArchSpec:
    family: str
    name: str
    layout: dict = field(hash=False)
    in_channels: int = 3
    input_size: int = 32
    num_classes: int = 10

    def to_dict(self) -> dict:
        return {
            "format": SPEC_FORMAT,
            "family": self.family,
            "name": self.name,
            "in_channels": self.in_channels,
            "input_size": self.input_size,
            "num_classes": self.num_classes,
            "layout": copy.deepcopy(self.layout),
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "ArchSpec":
        if not isinstance(d, dict):
            raise PrunelabError("architecture spec must be a JSON object")
        known = {"format", "family", "name", "in_channels", "input_size", "num_classes", "layout"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise PrunelabError(f"architecture spec: unknown key '{unknown[0]}'")
        for key in ("family", "layout"):
            if key not in d:
                raise PrunelabError(f"architecture spec: missing key '{key}'")
        if d.get("format", SPEC_FORMAT) not in (1, SPEC_FORMAT):
            raise PrunelabError(f"architecture spec: format {d.get('format')!r} is not known to this prunelab")
        for key in ("in_channels", "input_size", "num_classes"):
            if key in d and (not isinstance(d[key], int) or isinstance(d[key], bool) or d[key] < 1):
                raise PrunelabError(f"architecture spec: '{key}' must be a positive integer")
        try:  # plain JSON data: no shared sub-objects, nothing that JSON cannot hold
            layout = json.loads(json.dumps(d["layout"]))
        except (TypeError, ValueError) as e:
            raise PrunelabError(f"architecture spec: the layout is not JSON data ({e})")
        if d.get("format", SPEC_FORMAT) == 1 and d["family"] == "resnet" and isinstance(layout, dict):
            layout.setdefault("shortcut", "subsample")  # what format-1 files (prunelab 0.1) meant
        spec = cls(
            family=d["family"],
            name=d.get("name", d["family"]),
            layout=layout,
            in_channels=d.get("in_channels", 3),
            input_size=d.get("input_size", 32),
            num_classes=d.get("num_classes", 10),
        )
        for validate in VALIDATORS:  # the families' check (families.py registers it: it imports this module)
            validate(spec)
        return spec

    @classmethod
    def from_json(cls, text: str) -> "ArchSpec":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise PrunelabError(f"architecture spec is not valid JSON: {e.msg} (line {e.lineno})")
        return cls.from_dict(d)

    def replace(self, **kw: Any) -> "ArchSpec":
        d = self.to_dict()
        d.update(kw)
        return ArchSpec.from_dict(d)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ArchSpec) and self.to_dict() == other.to_dict()
