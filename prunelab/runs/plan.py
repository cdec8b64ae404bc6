"""Planning, without training: an experiment -> its arms and every run in execution order.

Per seed, the large model is trained once (with the method's training hooks, if it has any) and
shared by every arm that prunes it; each target's prune step runs once; each arm is a run in the
store. Where the pruned architecture is known before training (predefined targets), every run is
planned with its numbers (Scratch-B's budget included); where the method finds it, the arms of
seed s are resolved from seed s's prune step when it has run (``resolve_run``; ``plan`` shows the
rule). The store is only read (which steps and runs exist)."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from .. import methods
from ..arch import ArchSpec
from ..errors import PrunelabError, warn
from ..measure import spec_macs
from ..protocol import Budget, Origin, regime, scratch_b_budget
from ..protocol.inits import method_state
from ..train import Recipe
from . import transfer
from .prune_step import PruneStep, product
from .settings import RunSettings, canonical
from .experiment import Experiment, Sections, base_spec, method_entries, weights_of
from .store import RunStore


@dataclass
class Arm:
    """One (model, method, target) of the experiment."""

    base: ArchSpec
    method: methods.Method
    params: Any
    label: str  # the pruned model's name in tables
    planned: ArchSpec | None  # None: found per seed by the prune step
    budget: Budget | None  # Scratch-B's, where the architecture is planned (or its MACs are known)
    train_method: dict | None  # the large model's training method (its hooks), or None
    large: ArchSpec  # the large model's architecture (the base, or the method's version of it)
    weights: dict | None = None  # an imported baseline: {"path": ..., "sha256": ...}

    @property
    def group(self) -> str:
        """The large model's name in tables: the base, plus the method that shaped its training."""
        if self.train_method is None:
            return self.base.name
        ps = ", ".join(f"{k}={v}" for k, v in self.train_method["params"].items())
        return f"{self.base.name} + {self.train_method['name']}({ps})"


@dataclass
class PlannedRun:
    regime: str
    seed: int
    labels: dict  # this run's role in the experiment (cosmetic; reports group by it)
    baseline: RunSettings  # the large model it belongs to (itself, for a baseline)
    arm: Arm | None = None
    prune: PruneStep | None = None  # None until its source run is known (iterative levels)
    settings: RunSettings | None = None  # None until the prune step has found the architecture
    budget: Budget | None = None
    source: "PlannedRun | None" = None  # whose trained model the prune step prunes (None: the baseline)
    level: int = 1  # iterative pruning: the round (level k prunes level k-1's winning ticket)
    part: "Grid | None" = None  # the (sweep) grid whose recipes this run follows
    backbone: "PlannedRun | None" = None  # transfer: the classification run whose model it starts from
    transfer: Any = None  # transfer: the experiment's transfer section (runs/transfer.py); None: classification

    @property
    def arch(self) -> str:
        return self.settings.arch["name"] if self.settings else f"found: {self.arm.label}"

    @property
    def base(self) -> str:
        return self.labels["base"]

    @property
    def needs_prune(self) -> bool:
        if self.backbone is not None:  # (a transferred backbone: it waits for its run instead)
            return False
        return self.arm is not None and (self.settings is None or self.settings.init.get("kind") != "random"
                                         or bool(self.settings.init.get("masks")))

    @property
    def source_settings(self) -> RunSettings | None:
        """The run whose trained model this run's prune step prunes (None while not known)."""
        return self.baseline if self.source is None else self.source.settings


@dataclass
class Grid:
    experiment: Experiment
    runs: list[PlannedRun]
    sections: Sections  # the (sweep part's) sections: recipes, data, Scratch-B's cap and E_base
    processes: int = 1  # the processes that train each run (torchrun, a launcher's tasks_per_node)

    recipe = property(lambda self: self.sections.recipe)
    finetune = property(lambda self: self.sections.finetune)
    data = property(lambda self: self.sections.data)
    cap = property(lambda self: self.sections.cap)
    e_base = property(lambda self: self.sections.e_base)

    def recipe_for(self, name: str, budget: Budget | None) -> Recipe:
        return self.sections.recipe_for(name, budget)


def _arms(exp: Experiment, s: Sections) -> list[Arm]:
    arms = []
    entries = method_entries(exp.prune)
    for i, m in enumerate(s.models):
        base = base_spec(m, exp.dataset, f"models[{i}]")
        weights = None if m.weights is None else weights_of(m, base, f"models[{i}].weights")
        for method, cfg in (entries if m.prune is None else method_entries(m.prune, f"models[{i}].prune")):
            where = f"prune ({method.name})"
            if method.has_target():
                if "target" in cfg:
                    raise PrunelabError(f"{where}: give targets per model (models[{i}].targets), not in prune")
                if not m.targets:
                    raise PrunelabError(f"models[{i}]: 'targets' lists no pruning target (method '{method.name}' "
                                        "needs one)")
                mappings = [{**cfg, "target": t} for t in m.targets]
            else:
                if m.targets:
                    raise PrunelabError(f"models[{i}]: method '{method.name}' takes no target; remove 'targets'")
                mappings = [cfg]
            seen_targets = [json.dumps(mp.get("target"), sort_keys=True) for mp in mappings]
            if len(set(seen_targets)) < len(seen_targets):
                warn(f"models[{i}]: 'targets' repeats a target; its runs are shared")
            method.check_base(base)
            for mp in mappings:
                params = method.params(mp, where)
                method.check_setting(base, params)
                planned = method.planned_spec(base, params, exp.dataset) if method.kind == "structured" else None
                budget = None
                macs = method.planned_macs(base, params, exp.dataset) if method.kind == "structured" else None
                if planned is not None or macs is not None:  # (a found architecture may have known MACs)
                    macs = macs or spec_macs(planned.to_json())
                    budget = scratch_b_budget(s.e_base, spec_macs(base.to_json()), macs, s.cap)
                train_method, large = method.train_method(base, params)
                if weights is not None and (method.train_fields or train_method is not None
                                            or method.prune_source(params) != "trained"):
                    raise PrunelabError(f"models[{i}]: method '{method.name}' shapes or uses the large model's "
                                        "training (hooks, its initial weights), which an imported baseline "
                                        f"(models[{i}].weights) did not have; use a method that prunes a trained "
                                        "model (l1-norm, magnitude, thinet, ...) or train the baseline here")
                arms.append(Arm(base, method, params, method.label(base, params, exp.dataset), planned, budget,
                                train_method, large, weights))
    return arms


def plan(exp: Experiment, processes: int = 1) -> Grid:
    """Every run of the experiment, in execution order (per seed: baselines, then their arms).

    With ``sweep: {key: [values]}`` (recipe keys), one grid per combination, each named
    ``name[key=value]`` in reports (e.g. the lottery tickets' lr 0.1 vs 0.01).
    """
    parts = [_plan_one(part, processes) for part in exp.parts()]
    if len(parts) == 1 and not exp.sweep:
        return parts[0]
    return dataclasses.replace(parts[0], experiment=exp, runs=[r for p in parts for r in p.runs])


def _plan_one(exp: Experiment, processes: int = 1) -> Grid:
    s = exp.sections
    arms = _arms(exp, s)
    grid = Grid(exp, [], s, processes)
    for arm in arms:
        bad = [n for n in exp.regimes if (regime(n).init == "inherit" and not arm.method.inherits)
               or (regime(n).init not in ("random", "inherit") and not arm.method.tickets)]
        if bad:
            raise PrunelabError(f"method '{arm.method.name}' gives no pruned weights or tickets for "
                                f"{', '.join(bad)}: remove them from regimes")
    seen: dict[str, PlannedRun] = {}  # the baselines planned so far, by run id
    transfer_seen: dict = {}
    for seed in exp.seeds:
        for arm in arms:
            common = {"experiment": exp.name, "dataset": exp.dataset, "base": arm.base.name, "group": arm.group}
            if arm.weights is not None:  # evaluated once, shared by every seed (their arms prune the same model)
                evaluation = Recipe(epochs=0, precision=s.recipe.precision, channels_last=s.recipe.channels_last)
                base_settings = RunSettings(arch=arm.base.to_dict(), data=s.data, recipe=evaluation, seed=exp.seeds[0],
                                            init={"kind": "weights", "sha256": arm.weights["sha256"]},
                                            labels={**common, "regime": "baseline"}, weights_file=arm.weights["path"])
            else:
                base_settings = RunSettings(arch=arm.large.to_dict(), data=s.data, recipe=s.recipe, seed=seed,
                                            method=arm.train_method, labels={**common, "regime": "baseline"},
                                            processes=processes)
            if base_settings.run_id() not in seen:
                seen[base_settings.run_id()] = PlannedRun("baseline", seed, base_settings.labels, base_settings,
                                                          settings=base_settings, part=grid)
                grid.runs.append(seen[base_settings.run_id()])
            source = None
            for level in range(1, exp.levels + 1):
                label = arm.label if exp.levels == 1 else f"{arm.label}-L{level}"
                step = None
                if source is None:
                    step = PruneStep(arm.method.name, canonical(arm.params), base_settings.run_id(), seed,
                                     arm.method.code(arm.params))
                level_runs = []
                for name in exp.regimes:
                    labels = {**common, "regime": name, "method": arm.method.describe(arm.params), "pruned": label}
                    if step is not None:
                        labels["prune"] = step.id
                    run = PlannedRun(name, seed, labels, base_settings, arm, step, source=source, level=level, part=grid)
                    if arm.planned is not None and level == 1:
                        _resolve_with(grid, run, arm.planned.to_dict(), arm.budget,
                                      masked=arm.method.masked(arm.params))
                    grid.runs.append(run)
                    level_runs.append(run)
                source = next((r for r in level_runs if regime(r.regime).next_level), None)
                if s.transfer is not None:
                    transfer.add_runs(grid, arm, seed, seen[base_settings.run_id()], level_runs, transfer_seen,
                                      common, PlannedRun)
    return grid


def _resolve_with(grid: Grid, run: PlannedRun, arch: dict, budget: Budget | None, masked: bool) -> None:
    grid = run.part or grid
    r = regime(run.regime)
    labels = dict(run.labels)
    if r.budget:
        labels["budget"] = budget.to_dict()
    init = r.origin_settings(Origin(run.prune.id, run.baseline.run_id(), masked, grid.experiment.rewind,
                                    method_state(run.arm.train_method)))
    # which large model the run stands on: arms of one seed pair where both do (report.stats.paired)
    labels["baseline_run"] = run.baseline.run_id()
    labels["from_baseline"] = init["kind"] != "random" or "masks" in init or run.arm.planned is None
    run.settings = RunSettings(arch=arch, data=grid.data, recipe=grid.recipe_for(run.regime, budget),
                               seed=run.seed, init=init, labels=labels, processes=grid.processes).check(f"{run.regime}")
    run.labels, run.budget = labels, budget


def resolve_run(grid: Grid, run: PlannedRun, store: RunStore) -> bool:
    """Fill in the settings of a run whose architecture its prune step found (if it has run)."""
    if run.settings is not None:
        return True
    grid = run.part or grid
    if run.transfer is not None:
        return transfer.resolve(run, store, lambda bb: resolve_run(grid, bb, store))
    if run.prune is None:  # a later level: its prune step prunes the previous level's ticket
        src = run.source.settings if run.source is not None and resolve_run(grid, run.source, store) else None
        if src is None:
            return False
        run.prune = PruneStep(run.arm.method.name, canonical(run.arm.params), src.run_id(), run.seed,
                              run.arm.method.code(run.arm.params))
        run.labels = {**run.labels, "prune": run.prune.id}
    found = product(store, run.prune.id)
    if found is None:
        return False
    macs = found["macs_nonzero"] if found["masked"] else found["macs"]
    budget = scratch_b_budget(grid.e_base, spec_macs(run.arm.base.to_json()), macs, grid.cap)
    _resolve_with(grid, run, found["spec"], budget, masked=found["masked"])
    return True


def waits_for(grid: Grid, store: RunStore, run: PlannedRun) -> str | None:
    """What a run needs before it can train (resolving it where its prune step has run): "source"
    (the trained model its prune step prunes has not finished), "prune" (its prune step has not
    run), or None (nothing: its settings are known and its inputs are in the store). A run on a
    transferred backbone waits for that run to finish ("source")."""
    if run.backbone is not None:
        if not resolve_run(grid, run.backbone, store) or store.status(run.backbone.settings) != "finished":
            return "source"
        resolve_run(grid, run, store)
    if run.needs_prune:
        resolve_run(grid, run, store)
        src = run.source_settings
        if src is None or store.status(src) != "finished":
            return "source"
        if product(store, run.prune.id) is None:
            return "prune"
        resolve_run(grid, run, store)
    return None


def known_budget(run: PlannedRun) -> Budget | None:
    """Scratch-B's budget of a run not resolved yet, where the MACs of what its prune step will find
    are known before (ResNet-50-2x's found selections); a later level prunes further: unknown."""
    return run.arm.budget if run.arm is not None and run.level == 1 else None


def expected_epochs(grid: Grid, run: PlannedRun) -> int | None:
    grid = run.part or grid
    if run.settings is not None:
        return run.settings.recipe.epochs
    if run.transfer is not None:
        return run.transfer.recipe_for(run.regime).epochs
    if regime(run.regime).budget:
        return None if known_budget(run) is None else grid.recipe_for(run.regime, known_budget(run)).epochs
    return grid.recipe_for(run.regime, None).epochs


def distinct(runs: list[PlannedRun]) -> list[PlannedRun]:
    """The runs without the repeats of a run several arms share (unresolved runs are all distinct)."""
    seen, out = set(), []
    for r in runs:
        key = r.settings.run_id() if r.settings is not None else id(r)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def run_macs(grid: Grid, r: PlannedRun) -> float:
    if r.transfer is not None:  # the backbone at the detector's input size (planning's estimate)
        arch = r.settings.arch if r.settings is not None else (r.arm.planned or r.arm.base).to_dict()
        return r.transfer.macs(arch)
    if r.settings is None:  # not found yet: its known MACs, or an estimate with the large model's
        known = known_budget(r)
        return known.macs_pruned if known is not None else spec_macs(r.arm.base.to_json())
    if r.budget is not None:
        return r.budget.macs_pruned
    return spec_macs(ArchSpec.from_dict(r.settings.arch).to_json())


def run_cost(grid: Grid, r: PlannedRun, data) -> float:
    """Forward MACs x images of a run (``data``: a loaded dataset or the number of training images)."""
    grid = r.part or grid
    epochs = expected_epochs(grid, r)
    epochs = grid.recipe.epochs if epochs is None else epochs  # an unresolved Scratch-B spends about E_base
    images = data if isinstance(data, int) else data.size("train")
    if r.transfer is not None:
        images = r.transfer.images()
    return run_macs(grid, r) * epochs * images
