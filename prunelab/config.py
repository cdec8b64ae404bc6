"""Typed settings from plain mappings (YAML, JSON, CLI): unknown keys and wrong types are errors
that name the key. Nothing from a config file is ever executed."""
from __future__ import annotations

import dataclasses
import json
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


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice in one mapping (YAML would keep the last silently)."""


def _mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            dup = key in seen
        except TypeError:  # an unhashable key: let the base constructor say so
            break
        if dup:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key '{key}'", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml_text(text: str, where: str):
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark else ""
        problem = getattr(e, "problem", None) or ""
        raise PrunelabError(f"{where}: not valid YAML{at}" + (f": {problem}" if "duplicate" in problem else ""))
    except (ValueError, TypeError, OverflowError) as e:  # e.g. a timestamp or number YAML cannot build
        raise PrunelabError(f"{where}: not valid YAML ({type(e).__name__}: {e})")


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise PrunelabError(f"config file not found: {path}" if not path.exists() else f"{path} is not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PrunelabError(f"{path}: not a text (UTF-8) file; give a YAML file")
    except OSError as e:
        raise PrunelabError(f"cannot read {path}: {e.strerror}")
    obj = load_yaml_text(text, str(path))
    if not isinstance(obj, dict):
        raise PrunelabError(f"{path}: the top level must be a mapping of settings")
    return obj


def canonical(obj) -> dict:
    """A dataclass as a plain dict without the fields equal to their defaults (nor those marked
    ``identity: False``); int values of float fields as floats (``lr: 1`` and ``lr: 1.0`` are one
    setting)."""
    hints = typing.get_type_hints(type(obj))
    out = {}
    for f in dataclasses.fields(obj):
        if f.metadata.get("identity") is False:
            continue
        v = getattr(obj, f.name)
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING)
        if default is not dataclasses.MISSING and v == default:
            continue
        if hints[f.name] in (float, float | None) and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        out[f.name] = json.loads(json.dumps(v))
    return out
