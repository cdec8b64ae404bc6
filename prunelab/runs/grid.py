"""Experiment files: a declared grid of (model, pruning target, regime, seed) runs.

The baseline of a seed is trained once and shared by every arm; each arm is a run in the store,
so an interrupted grid resumes where it stopped. See experiments/ for examples.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..arch import ArchSpec, build, resolve
from ..catalog import dataset_info
from ..data import DataSettings
from ..errors import PrunelabError
from ..measure import count
from ..progress import progress_bar
from ..protocol import PRUNED_REGIMES, Budget, default_cap, regime_recipe, scratch_b_budget
from ..prune import SELECTIONS, Target, criterion, parse_target, prune, target_spec
from ..train import Recipe
from .config import from_mapping, read_yaml
from .settings import RunSettings
from .store import RunStore, execute, execute_together

UNSET = "default"


@dataclass(frozen=True)
class ModelEntry:
    arch: str
    targets: list
    width: float = 1.0
    head: str | None = None


@dataclass(frozen=True)
class PruneSettings:
    criterion: str = "l1-norm"
    selection: str = "largest"  # largest | smallest | random


@dataclass(frozen=True)
class ScratchB:
    cap: float | str | None = UNSET  # "default": none on CIFAR-style data, 2.0 on ImageNet


@dataclass(frozen=True)
class Experiment:
    name: str
    dataset: str
    models: list
    recipe: dict
    seeds: list = field(default_factory=lambda: [0])
    regimes: list = field(default_factory=lambda: list(PRUNED_REGIMES))
    finetune: dict = field(default_factory=lambda: {"epochs": 40, "lr": 0.001, "schedule": "constant"})
    prune: dict = field(default_factory=dict)
    scratch_b: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    description: str = ""


@dataclass
class PlannedRun:
    regime: str
    arch: str  # the pruned model's name, or the base name for baselines
    base: str
    seed: int
    settings: RunSettings
    budget: Budget | None = None
    target: Target | None = None

    @property
    def epochs(self) -> int:
        return self.settings.recipe.epochs


@dataclass
class Grid:
    experiment: Experiment
    runs: list[PlannedRun]
    prune_settings: PruneSettings


def load_experiment(path: str | Path) -> Experiment:
    raw = read_yaml(path)
    where = str(path)
    exp = from_mapping(Experiment, raw, where)
    dataset_info(exp.dataset)
    if not exp.models:
        raise PrunelabError(f"{where}: 'models' lists no model")
    for r in exp.regimes:
        if r not in PRUNED_REGIMES:
            raise PrunelabError(f"{where}: unknown regime '{r}' (known: {', '.join(PRUNED_REGIMES)})")
    if not exp.seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in exp.seeds):
        raise PrunelabError(f"{where}: 'seeds' must be a list of non-negative integers")
    if len(set(exp.seeds)) != len(exp.seeds):
        raise PrunelabError(f"{where}: 'seeds' repeats a seed")
    return exp


def _models(exp: Experiment) -> list[ModelEntry]:
    out = []
    for i, m in enumerate(exp.models):
        e = from_mapping(ModelEntry, m, f"models[{i}]")
        if not e.targets:
            raise PrunelabError(f"models[{i}]: 'targets' lists no pruning target")
        out.append(e)
    return out


def plan(exp: Experiment) -> Grid:
    """Every run of the experiment, in execution order (per seed: baseline, then its arms)."""
    recipe = from_mapping(Recipe, exp.recipe, "recipe")
    recipe.check()
    ft = from_mapping(Recipe, {**{"batch_size": recipe.batch_size, "weight_decay": recipe.weight_decay,
                                  "momentum": recipe.momentum, "precision": recipe.precision,
                                  "channels_last": recipe.channels_last}, **exp.finetune}, "finetune")
    ft.check()
    data = from_mapping(DataSettings, {"dataset": exp.dataset, **exp.data}, "data")
    data.check()
    ps = from_mapping(PruneSettings, exp.prune, "prune")
    criterion(ps.criterion)
    if ps.selection not in SELECTIONS:
        raise PrunelabError(f"prune: unknown selection '{ps.selection}' (known: {', '.join(SELECTIONS)})")
    sb = from_mapping(ScratchB, exp.scratch_b, "scratch_b")
    cap = default_cap(dataset_info(exp.dataset).style) if sb.cap == UNSET else sb.cap
    runs: list[PlannedRun] = []
    models = _models(exp)
    arms = []
    for m in models:
        base = resolve(m.arch, exp.dataset, head=m.head, width=m.width)
        for t in m.targets:
            target = parse_target(t)
            pruned = target_spec(base, target, exp.dataset)
            budget = scratch_b_budget(recipe.epochs, spec_macs(base.to_json()), spec_macs(pruned.to_json()), cap)
            arms.append((base, target, pruned, budget))
    for seed in exp.seeds:
        seen_bases = set()
        for base, target, pruned, budget in arms:
            labels = {"experiment": exp.name, "dataset": exp.dataset, "base": base.name}
            base_settings = RunSettings(arch=base.to_dict(), data=data, recipe=recipe, seed=seed,
                                        labels={**labels, "regime": "baseline", "pruned": None})
            if base_settings.run_id() not in seen_bases:
                seen_bases.add(base_settings.run_id())
                runs.append(PlannedRun("baseline", base.name, base.name, seed, base_settings))
            for regime in exp.regimes:
                rec = regime_recipe(regime, recipe, ft, budget)
                init = {"kind": "random"}
                if regime == "finetune":
                    init = {"kind": "inherit", "from_run": base_settings.run_id(),
                            "prune": {**dataclasses.asdict(ps), "target": dataclasses.asdict(target)}}
                lab = {**labels, "regime": regime, "pruned": pruned.name, "target": target.label(base)}
                if regime == "scratch-b":
                    lab["budget"] = budget.to_dict()
                s = RunSettings(arch=pruned.to_dict(), data=data, recipe=rec, seed=seed, init=init, labels=lab)
                runs.append(PlannedRun(regime, pruned.name, base.name, seed, s, budget=budget, target=target))
    return Grid(exp, runs, ps)


def plan_rows(grid: Grid, store: RunStore) -> list[dict]:
    rows = []
    for r in grid.runs:
        row = {"arch": r.arch, "regime": r.regime, "seed": r.seed, "epochs": r.epochs, "base": r.base,
               "run_id": r.settings.run_id(), "state": store.status(r.settings)}
        if r.regime == "scratch-b":
            row["budget"] = r.budget.to_dict()
        rows.append(row)
    return rows


def pruned_path(store: RunStore, baseline: RunSettings, target: Target, ps: PruneSettings, seed: int) -> Path:
    key = json.dumps({"from": baseline.run_id(), "target": dataclasses.asdict(target),
                      "prune": dataclasses.asdict(ps), "seed": seed}, sort_keys=True)
    return store.root / "pruned" / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"


def pruned_model(store: RunStore, grid: Grid, run: PlannedRun, baseline: RunSettings):
    """The baseline's model pruned to the run's target (made once, kept in the store)."""
    from ..models_io import load as load_model
    from ..models_io import save as save_model

    path = pruned_path(store, baseline, run.target, grid.prune_settings, run.seed)
    if path.exists():
        return load_model(path)
    base_model = load_model(store.path(baseline))
    model, kept = prune(base_model, run.target, grid.experiment.dataset, grid.prune_settings.criterion,
                        grid.prune_settings.selection, seed=run.seed)
    save_model(model, path, extra={"kept": kept, "from_run": baseline.run_id()})
    return model


def run_grid(grid: Grid, store: RunStore, *, data_dir=None, device: str = "auto", progress: bool = True,
             together: bool = False) -> list[tuple[PlannedRun, dict]]:
    """Execute every run (reusing finished ones, resuming partial ones).

    ``together``: first train each set of new random-init runs that differ only in their seed
    (a baseline's seeds, a Scratch-E arm's seeds, ...) at once with ``prunelab.train.multi``.
    """
    from ..data import load as load_data

    data = load_data(grid.runs[0].settings.data, data_dir)
    bar = None
    todo = [r for r in grid.runs if store.status(r.settings) != "finished"]
    if progress and todo:
        # progress in units of training compute (images x forward MACs), so the ETA is honest
        total = sum(_cost(r, data) for r in todo)
        bar = progress_bar(total=total, unit="", unit_scale=True,
                           bar_format="{desc} {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]")
    if together:
        groups: dict[str, list[PlannedRun]] = {}
        for r in todo:
            if r.settings.init.get("kind") == "random" and not r.settings.data.val_size \
                    and store.status(r.settings) == "new":
                key = json.dumps({k: v for k, v in r.settings.to_dict().items() if k != "seed"}, sort_keys=True)
                groups.setdefault(key, []).append(r)
        for g in (g for g in groups.values() if len(g) > 1):
            if bar is not None:
                bar.set_description(f"{len(g)} runs together: {g[0].arch} {g[0].regime}")
            execute_together([r.settings for r in g], store, data=data, device=device)
            if bar is not None:
                bar.update(sum(_cost(r, data) for r in g))
    done = []
    baselines: dict[str, RunSettings] = {}
    for i, r in enumerate(grid.runs):
        if r.regime == "baseline":
            baselines[r.settings.run_id()] = r.settings
        if bar is not None:
            bar.set_description(f"run {i + 1}/{len(grid.runs)} {r.arch} {r.regime} seed {r.seed}")
        init_model = None
        if r.regime == "finetune" and store.status(r.settings) != "finished":
            init_model = pruned_model(store, grid, r, baselines[r.settings.init["from_run"]])
        macs = _macs(r)
        cb = (lambda n, m=macs: bar.update(n * m)) if bar is not None else None
        res = execute(r.settings, store, device=device, init_model=init_model, progress=cb, data=data)
        done.append((r, res))
    if bar is not None:
        bar.close()
    return done


def grid_results(grid: Grid, store: RunStore) -> list[dict]:
    """The result.json of every finished run of the grid (missing runs are left out)."""
    return [r for r in (store.result(p.settings) for p in grid.runs) if r is not None]


@functools.lru_cache(maxsize=None)
def spec_macs(spec_json: str) -> int:
    """Forward MACs of one image for a spec (given as canonical JSON, so it can be cached)."""
    return count(build(ArchSpec.from_json(spec_json), device="meta")).macs


def _macs(r: PlannedRun) -> int:
    return spec_macs(ArchSpec.from_dict(r.settings.arch).to_json())


def _cost(r: PlannedRun, data) -> int:
    return _macs(r) * r.epochs * data.size("train")
