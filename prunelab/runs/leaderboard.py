"""``prunelab leaderboard``: many methods, each judged (``judge_grids``) against the same baselines.

A leaderboard file is an experiment file (models and targets, data, recipes, seeds) with a
``leaderboard:`` section listing the methods and the baselines:

    leaderboard:
      methods: [{method: l1-norm}, {method: fpgm}, {method: taylor, images: 256}, ...]
      baselines: [scratch-e, scratch-b, uniform, random]   # (default: all four)

Every method is one judgement, run through the store: the large models, and every baseline of a
predefined target (its architecture is the target's whatever the criterion: Scratch-E, Scratch-B,
uniform width and random channels — one draw of random channels at the target's widths,
``_shared_random``), are the same runs for every method and train once.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from ..config import from_mapping, read_yaml
from ..errors import PrunelabError
from .experiment import Experiment, experiment_from_mapping
from .judge_grids import BASELINES, Judgement, judge_plan, run_judgement
from .store import RunStore


@dataclass(frozen=True)
class Section:
    methods: list
    baselines: list = field(default_factory=lambda: list(BASELINES))
    uniform_regime: str = "scratch-e"
    latency_batch: int = 32


@dataclass
class Leaderboard:
    experiment: Experiment
    section: Section
    judgements: list[Judgement]


def load_leaderboard(path: str | Path) -> Leaderboard:
    """A leaderboard file (or a shipped one's name), checked; every method's judgement planned."""
    from ..shipped import experiment_path

    path = experiment_path(path)
    raw = read_yaml(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("leaderboard"), dict):
        raise PrunelabError(f"{path}: a leaderboard file needs a 'leaderboard:' section with its methods "
                            "(leaderboard: {methods: [{method: l1-norm}, ...]})")
    raw = dict(raw)
    section = from_mapping(Section, raw.pop("leaderboard"), "leaderboard")
    if not isinstance(section.methods, list) or not section.methods or not all(
            isinstance(m, dict) for m in section.methods):
        raise PrunelabError("leaderboard.methods must list methods ({method: NAME, ...parameters})")
    if raw.get("prune") is not None:
        raise PrunelabError("leaderboard: the methods are the leaderboard's (leaderboard.methods), not 'prune'")
    if raw.get("transfer"):
        raise PrunelabError("leaderboard: judges classification; remove 'transfer'")
    for i, m in enumerate(raw.get("models") or []):
        if isinstance(m, dict) and m.get("prune") is not None:
            raise PrunelabError(f"models[{i}]: the methods are the leaderboard's (leaderboard.methods), not per model")
    if isinstance(section.latency_batch, bool) or not isinstance(section.latency_batch, int) \
            or section.latency_batch < 1:
        raise PrunelabError(f"leaderboard.latency_batch must be a positive number of images, got "
                            f"{section.latency_batch!r}")
    raw["prune"] = section.methods[0]
    exp = experiment_from_mapping(raw, str(path), Path(path).parent)
    names = [_label(m) for m in section.methods]
    if len(set(names)) < len(names):
        raise PrunelabError(f"leaderboard.methods lists '{next(n for n in names if names.count(n) > 1)}' twice")
    judgements = [judge_plan(dataclasses.replace(exp, name=f"{exp.name}: {name}"), entry, tuple(section.baselines),
                             section.uniform_regime, random_of=_shared_random(exp, entry))
                  for name, entry in zip(names, section.methods)]
    return Leaderboard(exp, section, judgements)


SHARED_RANDOM = {"method": "l1-norm"}  # (any method of the predefined target: only its widths are read)


def _shared_random(exp: Experiment, entry: dict) -> dict | None:
    """The random-channel baseline's inner method: for a method whose pruned architecture is the
    target's for every model (predefined targets: l1-norm, fpgm, taylor, ...), one shared draw of
    random channels at the target's widths (l1-norm's, the same widths), trained once for every such
    method; a method that finds its architecture keeps a draw at its own widths."""
    from .. import methods
    from .experiment import base_spec

    m = methods.get(entry.get("method", "l1-norm"))
    ref = methods.get(SHARED_RANDOM["method"])
    if not m.has_target() or m.kind != "structured":
        return None
    params = {k: v for k, v in entry.items() if k != "method"}
    for i, model in enumerate(exp.sections.models):
        base = base_spec(model, exp.dataset, f"models[{i}]")
        for t in model.targets or []:
            mine = m.planned_spec(base, m.params({**params, "target": t}), exp.dataset)
            if mine is None or mine != ref.planned_spec(base, ref.params({"target": t}), exp.dataset):
                return None
    return SHARED_RANDOM


def _label(entry: dict) -> str:
    """A method's row name: its name, with its parameters where given."""
    params = {k: v for k, v in entry.items() if k != "method"}
    name = entry.get("method", "l1-norm")
    return name + (f"({', '.join(f'{k}={v}' for k, v in sorted(params.items()))})" if params else "")


def run_leaderboard(board: Leaderboard, store: RunStore, *, data_dir=None, device: str = "auto",
                    progress: bool = True) -> list[dict]:
    """Run (or reuse) every judgement; returns all their results, labelled."""
    out = []
    for j in board.judgements:
        out += run_judgement(j, store, data_dir=data_dir, device=device, progress=progress)
    return out
