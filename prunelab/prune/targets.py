"""Predefined pruning targets: the kept widths of filter pruning (Li et al.'s L1-norm and others).

A *target* is either a preset name (its per-layer widths, e.g. ``resnet56-B``), a uniform ratio
(prune that fraction of every prunable layer: kept = int(C * (1 - ratio))), or per-stage ratios
with an optional skip list. Ratio targets may round each kept count up to a multiple of
``round_to`` (hardware-friendly widths: vector units and matrix engines run channel counts that
are multiples of 8-32 faster). The criterion scores filters; the selection keeps the best ``k``.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import torch
from torch import nn

from ..arch import ArchSpec, prunable_widths, resolve, with_widths
from ..arch.families import width_kinds
from ..errors import PrunelabError
from .criteria import criterion, units_of
from .selection import check_scores, select
from .surgery import prune_channels


@dataclass(frozen=True)
class Target:
    preset: str | None = None
    ratio: float | None = None
    stage_ratios: tuple | None = None
    skip: tuple = field(default_factory=tuple)
    round_to: int = 1

    def label(self, base: ArchSpec) -> str:
        """The pruned model's name: base, ratios, rounding and (a digest of) the skipped layers."""
        if self.preset:
            return self.preset
        rounded = f"-r{self.round_to}" if self.round_to > 1 else ""
        skip = ""
        if self.skip:
            digest = hashlib.sha256(",".join(sorted(self.skip)).encode()).hexdigest()[:6]
            skip = f"-skip{len(self.skip)}.{digest}"
        ratios = f"{self.ratio:g}" if self.ratio is not None else "-".join(f"{r:g}" for r in self.stage_ratios)
        return f"{base.name}-p{ratios}{rounded}{skip}"



def parse_target(t) -> Target:
    """YAML/CLI form: a preset name, a ratio, or {ratio: r | stages: [...], skip: [...], round_to: n}."""
    if isinstance(t, str):
        if not t.strip():
            raise PrunelabError("prune target is an empty name (give a preset, a ratio or {ratio: r, ...})")
        return Target(preset=t)
    if isinstance(t, (int, float)) and not isinstance(t, bool):
        return Target(ratio=float(t))
    if isinstance(t, dict) and set(t) <= {"ratio", "stages", "skip", "round_to"} and len({"ratio", "stages"} & set(t)) == 1:
        n = t.get("round_to", 1)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise PrunelabError(f"prune target round_to {n!r} must be a positive integer")
        skip = t.get("skip", [])
        if not isinstance(skip, (list, tuple)) or not all(isinstance(s, str) for s in skip):
            raise PrunelabError(f"prune target skip {skip!r} must be a list of layer names")
        if "ratio" in t:
            _check_ratio(t["ratio"], "prune ratio")
            return Target(ratio=float(t["ratio"]), skip=tuple(skip), round_to=n)
        stages = t["stages"]
        if not isinstance(stages, (list, tuple)) or not stages:
            raise PrunelabError(f"prune target stages {stages!r} must be a list of per-stage ratios")
        for r in stages:
            _check_ratio(r, "stage ratio")
        return Target(stage_ratios=tuple(float(r) for r in stages), skip=tuple(skip), round_to=n)
    raise PrunelabError(f"prune target {t!r} must be a preset name, a ratio, or "
                        "{ratio: r | stages: [...], skip: [...], round_to: n}")


def _check_ratio(r, what: str) -> None:
    if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 <= r < 1:  # NaN fails too
        raise PrunelabError(f"{what} {r!r} must be in [0, 1)")


def kept_count(c: int, r: float, round_to: int, layer: str) -> int:
    """The channels a layer of ``c`` keeps at prune ratio ``r``: int(c * (1 - r)), rounded up to a
    multiple of ``round_to`` (at most ``c``)."""
    keep = int(c * (1 - r))
    if round_to > 1 and keep >= 1:
        keep = min(c, -(-keep // round_to) * round_to)
    if keep < 1:
        raise PrunelabError(f"prune ratio {r:g} would empty layer '{layer}' ({c} channels)")
    return keep


def target_widths(base: ArchSpec, target: Target, dataset: str) -> dict[str, int]:
    """Kept channels per prunable layer for ``target`` applied to ``base``."""
    widths = prunable_widths(base)
    if target.preset:
        preset = resolve(target.preset, dataset)
        want = prunable_widths(preset)
        if set(want) != set(widths) or with_widths(base, want).layout != preset.layout:
            raise PrunelabError(f"preset '{target.preset}' is not a pruned '{base.name}'")
        return {k: v for k, v in want.items() if v != widths[k]}
    if target.stage_ratios is not None:
        stages = {int(m.group(2)) for m in (re.match(r"(layer|dense)(\d+)\.", n) for n in widths) if m}
        if stages and len(target.stage_ratios) > max(stages):
            raise PrunelabError(f"{base.name} has {max(stages)} stages but the target gives "
                                f"{len(target.stage_ratios)} stage ratios")
    unknown = sorted(set(target.skip) - set(widths))
    if unknown:
        raise PrunelabError(f"{base.name}: skip names '{unknown[0]}', not a prunable layer "
                            f"(prunable: {', '.join(list(widths)[:4])}, ...)")
    out = {}
    # round_to makes channel counts hardware-friendly; a head count is not one (4 heads rounded up to 8
    # would prune none)
    heads = {k for k, kind in width_kinds(base).items() if kind == "heads"} if target.round_to > 1 else set()
    for layer, c in widths.items():
        if layer in target.skip:
            continue
        if target.ratio is not None:
            _check_ratio(target.ratio, "prune ratio")
            r = target.ratio
        else:
            m = re.match(r"(layer|dense)(\d+)\.", layer)
            if m is None:
                raise PrunelabError(f"{base.name}: per-stage ratios apply to ResNet/DenseNet models; use one ratio")
            stage = int(m.group(2)) - 1
            if stage >= len(target.stage_ratios):
                raise PrunelabError(f"{base.name}: no stage ratio for layer '{layer}'")
            r = target.stage_ratios[stage]
            _check_ratio(r, "stage ratio")
        keep = kept_count(c, r, 1 if layer in heads else target.round_to, layer)
        if keep != c:
            out[layer] = keep
    if not out:
        raise PrunelabError(f"target {target.label(base)} prunes nothing from '{base.name}' (every layer keeps all "
                            "its channels); a pruned model must differ from its base")
    return out


def target_spec(base: ArchSpec, target: Target, dataset: str) -> ArchSpec:
    widths = target_widths(base, target, dataset)  # validates the target against the base
    if target.preset:
        return resolve(target.preset, dataset)
    return with_widths(base, widths, name=target.label(base))


def prune(model: nn.Module, target: Target, dataset: str, criterion_name="l1-norm",
          rule: str = "largest", seed: int | torch.Generator = 0) -> tuple[nn.Module, dict[str, list[int]]]:
    """Prune ``model`` to ``target``; returns the smaller model and the kept indices per layer.

    ``criterion_name``: a registered filter criterion or a callable (conv -> one score per filter);
    ``seed``: an int or a generator for the random selection.
    """
    base: ArchSpec = model.arch_spec
    score = criterion(criterion_name) if isinstance(criterion_name, str) else criterion_name
    gen = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(seed)
    kept = {}
    for layer, k in target_widths(base, target, dataset).items():
        conv = model.get_submodule(layer)
        kept[layer] = select(check_scores(score(conv), units_of(conv), f"layer '{layer}'"), k, rule, gen)
    spec = target_spec(base, target, dataset)
    pruned = prune_channels(model, kept, name=spec.name)
    if pruned.arch_spec != spec:
        raise PrunelabError(f"pruned spec differs from the target '{spec.name}'")
    return pruned, kept
