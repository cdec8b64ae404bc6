"""Typed settings from plain mappings (YAML, JSON, CLI): unknown keys and wrong types are errors
that name the key. Nothing from a config file is ever executed."""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path

import yaml

from .errors import PrunelabError


def _type_ok(value, tp) -> bool:
    origin = typing.get_origin(tp)
    if tp is typing.Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is float:  # NaN and infinity are never a sensible setting
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is tuple or tp is tuple:
        return isinstance(value, (list, tuple))
    if origin is list or tp is list:
        return isinstance(value, list)
    if origin is dict or tp is dict:
        return isinstance(value, dict)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True


def _is_tuple(tp) -> bool:
    return tp is tuple or typing.get_origin(tp) is tuple


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp)).replace("NoneType", "null")


def from_mapping(cls, mapping: dict, where: str):
    """Build dataclass ``cls`` from ``mapping``, checking keys and value types."""
    if not isinstance(mapping, dict):
        raise PrunelabError(f"{where}: expected a mapping of settings, got {type(mapping).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    for key, value in mapping.items():
        if key not in fields:
            raise PrunelabError(f"{where}: unknown key '{key}' (known: {', '.join(sorted(fields))})")
        if not _type_ok(value, hints[key]):
            raise PrunelabError(f"{where}: '{key}' must be of type {_type_name(hints[key])}, got {value!r}")
    kw = {k: tuple(v) if isinstance(v, list) and _is_tuple(hints[k]) else v for k, v in mapping.items()}
    missing = [f.name for f in dataclasses.fields(cls)
               if f.name not in kw and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise PrunelabError(f"{where}: missing key '{missing[0]}'")
    return cls(**kw)


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise PrunelabError(f"config file not found: {path}")
    try:
        obj = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark else ""
        raise PrunelabError(f"{path}: not valid YAML{at}")
    if not isinstance(obj, dict):
        raise PrunelabError(f"{path}: the top level must be a mapping of settings")
    return obj
