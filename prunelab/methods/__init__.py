"""Pruning methods as plug-ins: a registry keyed by the names used in YAML and on the CLI.

A method is found by its registered name (``l1-norm``), by ``module:attribute`` (a Method subclass
in any importable module, e.g. ``my_method:MyMethod``), or through the entry-point group
``prunelab.methods`` of an installed package. See docs/extending.md.
"""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from ..errors import PrunelabError
from .base import KINDS, Method, NoParams, PruneData, PruneResult, check_result, prune_checked

ENTRY_POINT_GROUP = "prunelab.methods"
REGISTRY: dict[str, type[Method]] = {}


def import_object(ref: str, what: str):
    """``module:attribute`` -> the object, or one line saying why not."""
    module, _, attr = ref.partition(":")
    if not module or not attr:
        raise PrunelabError(f"{what} '{ref}' must be module:attribute")
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise PrunelabError(f"{what} '{ref}': cannot import module '{module}' ({e}); is its folder on PYTHONPATH?")
    except Exception as e:  # the module itself is broken: name the error, not a traceback
        raise PrunelabError(f"{what} '{ref}': importing '{module}' failed ({type(e).__name__}: {e})")
    try:
        return getattr(mod, attr)
    except AttributeError:
        raise PrunelabError(f"{what} '{ref}': module '{module}' has no attribute '{attr}'")


def register(name: str):
    """Class decorator: register a Method subclass under ``name``."""

    def deco(cls):
        if not (isinstance(cls, type) and issubclass(cls, Method)):
            raise TypeError(f"@register('{name}') needs a Method subclass")
        cls.name = name
        REGISTRY[name] = cls
        return cls

    return deco


def _entry_points() -> dict:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def known() -> list[str]:
    return sorted(set(REGISTRY) | set(_entry_points()))


def _instance(obj, ref: str) -> Method:
    if isinstance(obj, type) and issubclass(obj, Method):
        if obj.prune is Method.prune:
            raise PrunelabError(f"method '{ref}' does not implement prune(model, params, data)")
        m = obj()
    elif isinstance(obj, Method):
        m = obj
    else:
        raise PrunelabError(f"method '{ref}' is not a prunelab Method (a subclass of prunelab.methods.Method)")
    if m.kind not in KINDS:
        raise PrunelabError(f"method '{ref}': kind must be one of {', '.join(KINDS)}, not {m.kind!r}")
    m.name = ref  # the name a run's settings record
    return m


def registered(label: str | None) -> type[Method] | None:
    """The registered method class a row's method label names (``name(params)``), or None: a report
    looks its methods up by name only and never imports a plug-in's code from a result file."""
    return REGISTRY.get((label or "").split("(")[0])


def get(ref: str) -> Method:
    """The method registered as ``ref``, or ``module:attribute``, or an entry point's."""
    if not isinstance(ref, str) or not ref:
        raise PrunelabError(f"method must be a name, got {ref!r}")
    if ref in REGISTRY:
        return _instance(REGISTRY[ref], ref)
    if ":" in ref:
        return _instance(import_object(ref, "method"), ref)
    eps = _entry_points()
    if ref in eps:
        try:
            obj = eps[ref].load()
        except Exception as e:  # a broken plug-in package: say which
            raise PrunelabError(f"method '{ref}': its entry point failed to load ({type(e).__name__}: {e})")
        return _instance(obj, ref)
    raise PrunelabError(f"unknown method '{ref}' (known: {', '.join(known())}; or module:attribute)")


# the built-in methods register themselves
from . import controls, derived, guided, l1_norm, l2_norm, magnitude, preset, regression, sfp, slimming, sss, thinet  # noqa: E402,F401,E501
from . import chip, fpgm, grasp, group_norm, hrank, snip, synflow, taylor  # noqa: E402,F401

__all__ = ["ENTRY_POINT_GROUP", "KINDS", "import_object", "Method", "NoParams", "PruneData", "PruneResult", "REGISTRY",
           "check_result", "get", "known", "prune_checked", "register"]
