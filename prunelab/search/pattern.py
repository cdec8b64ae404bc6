"""Patterns: the kept ratio of a pruned architecture per channel unit (``layer``) or per stage
(``stage``), as plain JSON data, and the architectures they guide.

A pattern is ``{"level": "layer" | "stage", "family": F, "ratios": R, "source": S}``: at layer
level R maps unit keys to kept ratios (and ``where`` gives each unit's [stage, block, role, channels]
so it transfers to another depth); at stage level R is ``{"width": [one ratio per stage],
"select": [...]}`` (kept channels over base channels, summed over the stage's widths and over its
input selections). A sparsity pattern (``level: "weights"``) maps weight names to densities.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from ..arch import ArchSpec, resolve
from ..errors import PrunelabError
from ..fileio import atomic_write_json, read_json
from .fit import _check_target, _hi, bisect, nudge, size
from .units import SELECT, WIDTH, channels, check_pruned, kind_of, units, with_counts

LEVELS = ("layer", "stage")


def pattern(pruned: ArchSpec, base: ArchSpec, level: str = "layer") -> dict:
    """The kept ratio of ``pruned`` (a pruned ``base``) per unit or per stage."""
    if level not in LEVELS:
        raise PrunelabError(f"pattern level must be layer or stage, not {level!r}")
    check_pruned(pruned, base)
    kept, full = channels(pruned), channels(base)
    us = units(base)
    layer = {"level": "layer", "family": base.family, "source": pruned.name, "base": base.name,
             "ratios": {u.key: kept[u.key][0] / _n(full[u.key]) for u in us},
             "where": {u.key: [u.stage, u.block, u.role, _n(full[u.key])] for u in us}}
    return layer if level == "layer" else to_stage(layer)


def _n(chan: tuple) -> int:
    return chan[0] if chan[1] is None else chan[1]


def to_stage(p: dict) -> dict:
    """A layer pattern averaged per stage (kept channels over channels, widths and selections apart)."""
    if p["level"] == "stage":
        return p
    sums: dict[str, dict[int, list[float]]] = {WIDTH: {}, SELECT: {}}
    for key, (stage, _, role, n) in p["where"].items():
        acc = sums[kind_of(role)].setdefault(stage, [0.0, 0])
        acc[0] += p["ratios"][key] * n
        acc[1] += n
    stages = 1 + max(s for d in sums.values() for s in d)
    ratios = {k: [d[s][0] / d[s][1] if s in d else 1.0 for s in range(stages)] for k, d in sums.items() if d}
    return {"level": "stage", "family": p["family"], "source": p["source"], "base": p.get("base"), "ratios": ratios}


def average(patterns: list[dict]) -> dict:
    """The mean kept ratio over several patterns of one level and family (e.g. over seeds)."""
    if not patterns:
        raise PrunelabError("average: no pattern given")
    first = patterns[0]
    for p in patterns:
        if (p["level"], p["family"]) != (first["level"], first["family"]) or _shape(p) != _shape(first):
            raise PrunelabError(f"average: pattern '{p['source']}' ({p['level']}, {p['family']}) does not match "
                                f"'{first['source']}' ({first['level']}, {first['family']})")
    out = dict(first, source=f"mean of {len(patterns)}: " + ", ".join(p["source"] for p in patterns))
    if first["level"] == "stage":
        out["ratios"] = {k: [sum(p["ratios"][k][s] for p in patterns) / len(patterns) for s in range(len(v))]
                         for k, v in first["ratios"].items()}
    else:
        out["ratios"] = {k: sum(p["ratios"][k] for p in patterns) / len(patterns) for k in first["ratios"]}
    return out


def _shape(p: dict):
    return {k: len(v) for k, v in p["ratios"].items()} if p["level"] == "stage" else sorted(p["ratios"])


def ratios_for(p: dict, base: ArchSpec) -> dict[str, float]:
    """The pattern's kept ratio for every unit of ``base``: by key on the pattern's own architecture,
    by stage (stage level) or by relative position in the stage (layer level) on another one."""
    if p["family"] != base.family:
        raise PrunelabError(f"pattern of a {p['family']} ('{p['source']}') cannot guide a {base.family} "
                            f"('{base.name}')")
    us = units(base)
    stages = 1 + max(u.stage for u in us)
    have = (len(next(iter(p["ratios"].values()))) if p["level"] == "stage"
            else 1 + max(w[0] for w in p["where"].values()))
    if have != stages:
        raise PrunelabError(f"pattern '{p['source']}' has {have} stages, '{base.name}' has {stages}")
    if p["level"] == "stage":
        return {u.key: p["ratios"].get(u.kind, [1.0] * stages)[u.stage] for u in us}
    if all(u.key in p["ratios"] and p["where"][u.key][:3] == [u.stage, u.block, u.role] for u in us) \
            and len(us) == len(p["ratios"]):
        return {u.key: p["ratios"][u.key] for u in us}
    return _by_position(p, us)


def _by_position(p: dict, us: list) -> dict[str, float]:
    src: dict[tuple, list] = {}
    for key, (stage, block, role, _) in p["where"].items():
        src.setdefault((stage, role), []).append((block, key))
    tgt: dict[tuple, int] = {}
    for u in us:
        tgt[(u.stage, u.role)] = max(tgt.get((u.stage, u.role), 0), u.block + 1)
    out = {}
    for u in us:
        cands = sorted(src.get((u.stage, u.role), []))
        if not cands:
            raise PrunelabError(f"pattern '{p['source']}' has no {u.role} unit in stage {u.stage + 1} for "
                                f"'{u.key}'")
        pos = (u.block + 0.5) / tgt[(u.stage, u.role)]
        out[u.key] = p["ratios"][cands[min(len(cands) - 1, int(pos * len(cands)))][1]]
    return out


def guided(base: ArchSpec, p: dict, target: float, by: str = "params", name: str | None = None) -> ArchSpec:
    """``base`` with every unit at round(base channels x ratio x g) (selections at most the stream),
    one global g found by bisection so that params (or MACs) are within 2% of ``target``; where
    rounding leaves it further off, single widths move by one channel (never more)."""
    return fit_guided(base, p, target, by, name)[0]


def fit_guided(base: ArchSpec, p: dict, target: float, by: str = "params",
               name: str | None = None) -> tuple[ArchSpec, float, dict[str, float]]:
    """``guided``'s architecture, its factor g and the kept ratio it applied per unit."""
    _check_target(target, f"guided {base.name}")
    ratios = ratios_for(check_pattern(p), base)
    full = channels(base)
    name = name or f"{base.name}-guided"

    def make(g: float) -> ArchSpec:
        counts = {}
        for key, r in ratios.items():
            k = max(1, round(_n(full[key]) * r * g))
            counts[key] = min(k, full[key][1]) if full[key][1] is not None else k
        return with_counts(base, counts, name)

    spec, _, g = bisect(make, target, by, _hi(size(make(1.0), by), target))
    paths = [u.path for u in units(spec) if u.kind == WIDTH]
    return nudge(spec, paths, target, by, passes=1), g, ratios


def check_pattern(p) -> dict:
    """A pattern as read from JSON, checked (one-line errors)."""
    if not isinstance(p, dict) or not {"level", "family", "ratios", "source"} <= set(p) \
            or not isinstance(p["ratios"], dict) or not p["ratios"]:
        raise PrunelabError("a pattern needs 'level', 'family', 'ratios' and 'source' (make one with prunelab pattern)")
    where = f"pattern '{p['source']}'"
    if p["level"] not in (*LEVELS, "weights"):
        raise PrunelabError(f"{where}: level must be layer, stage or weights, not {p['level']!r}")
    stage = p["level"] == "stage"
    if stage and (not all(isinstance(v, list) and v for v in p["ratios"].values())
                  or len({len(v) for v in p["ratios"].values()}) != 1 or not set(p["ratios"]) <= {WIDTH, SELECT}):
        raise PrunelabError(f"{where}: a stage pattern's ratios are lists of one ratio per stage (width, select)")
    values = [x for v in p["ratios"].values() for x in (v if stage else [v])]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1 for v in values):
        raise PrunelabError(f"{where}: ratios must be numbers in (0, 1]")
    if p["level"] == "layer":
        w = p.get("where")
        if not isinstance(w, dict) or set(w) != set(p["ratios"]) or not all(
                isinstance(v, list) and len(v) == 4 and isinstance(v[0], int) and isinstance(v[1], int)
                and isinstance(v[2], str) and isinstance(v[3], int) for v in w.values()):
            raise PrunelabError(f"{where}: a layer pattern needs 'where' ([stage, block, role, channels]) for every "
                                "unit")
    return p


def digest(p: dict) -> str:
    return hashlib.sha256(json.dumps(p, sort_keys=True).encode()).hexdigest()


def save_pattern(p: dict, path) -> None:
    atomic_write_json(path, check_pattern(p))


def load_pattern(path) -> dict:
    if not Path(path).is_file():
        raise PrunelabError(f"pattern file not found: {path} (make one with: prunelab pattern PRUNED... --base ARCH "
                            "--out FILE)")
    return check_pattern(read_json(path))


# --- guided sparsification ------------------------------------------------------------------
def sparsity_pattern(masks: dict[str, torch.Tensor], source: str = "masks") -> dict:
    """The density (kept fraction) of every masked weight, in model order: a pattern to sparsify
    another model layer by layer."""
    if not masks:
        raise PrunelabError("sparsity pattern: the model has no masks (prune it with an unstructured method)")
    return {"level": "weights", "family": "any", "source": source,
            "ratios": {k: max(float(m.float().mean()), 1e-12) for k, m in masks.items()}}


def sparsify(model, p: dict, rule: str = "magnitude", gen: torch.Generator | None = None,
             density: float | None = None) -> dict[str, torch.Tensor]:
    """Masks for ``model`` with the pattern's per-layer densities: by name where the names match,
    else by relative position among the pattern's layers. Keeps the largest weights (or random ones).
    ``density``: scale every layer's density by one factor so that this fraction of the masked
    weights is kept overall (a layer keeps at most all of its weights)."""
    check_pattern(p)
    if rule not in ("magnitude", "random"):
        raise PrunelabError(f"sparsify: rule must be magnitude or random, not {rule!r}")
    names = list(p["ratios"])
    params = dict(model.named_parameters())
    convs = [k for k, v in params.items() if k.endswith("weight") and v.dim() == 4]
    same = set(names) <= set(params) and convs == [k for k in names if params[k].dim() == 4]
    targets = names if same else convs
    dens = {k: p["ratios"][k if same else names[min(len(names) - 1, int((i + .5) / len(targets) * len(names)))]]
            for i, k in enumerate(targets)}
    if density is not None:
        dens = _scaled(dens, {k: params[k].numel() for k in targets}, density)
    masks = {}
    for k, d in dens.items():
        w = params[k].detach()
        score = w.abs().flatten() if rule == "magnitude" else torch.rand(w.numel(), generator=gen)
        m = torch.zeros(w.numel(), dtype=torch.bool)
        m[torch.topk(score.cpu(), max(1, round(d * w.numel()))).indices] = True
        masks[k] = m.view_as(w)
    return masks


def _scaled(dens: dict[str, float], sizes: dict[str, int], density: float) -> dict[str, float]:
    """Densities times one factor g (each at most 1) that keep ``density`` of all weights (bisection)."""
    if not 0 < density <= 1:
        raise PrunelabError(f"sparsify: the density kept must be in (0, 1], got {density!r}")
    total = sum(sizes.values())

    def kept(g: float) -> float:
        return sum(min(1.0, d * g) * sizes[k] for k, d in dens.items()) / total

    lo, hi = 0.0, 1 / min(dens.values())
    for _ in range(60):
        lo, hi = ((lo + hi) / 2, hi) if kept((lo + hi) / 2) < density else (lo, (lo + hi) / 2)
    return {k: min(1.0, d * hi) for k, d in dens.items()}


# --- what the CLI reads ---------------------------------------------------------------------
def pattern_of(ref: str, base: ArchSpec, level: str, dataset: str) -> dict:
    """The pattern of one pruned model over ``base`` (a model file or run folder, a spec .json file
    or a name); a masked model file gives its per-layer densities (a sparsity pattern)."""
    if not ref.strip():
        raise PrunelabError("an empty name where a pruned model file, spec file or architecture name belongs")
    if ref.endswith(".pt") or Path(ref).is_dir():
        from ..models_io import load

        model = load(ref)
        if getattr(model, "masks", None):
            return sparsity_pattern(model.masks, model.arch_spec.name)
        return pattern(model.arch_spec, base, level)
    if ref.endswith(".json"):
        if not Path(ref).is_file():
            raise PrunelabError(f"spec file not found: {ref}")
        return pattern(ArchSpec.from_dict(read_json(ref)), base, level)
    return pattern(resolve(ref, dataset), base, level)
