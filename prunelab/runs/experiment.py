"""An experiment file, typed: the file as written (``Experiment``) and its sections parsed and
checked once, each by its own check, then the conflicts between sections (``Sections``, the
``sections`` of an experiment: what planning reads); a model entry's architecture (a name or a
spec .json), its imported weights, and the method entries of its ``prune:`` section.
``load_experiment`` reads a file and checks every sweep combination's sections; planning
(``runs/plan.py``) takes the result."""
from __future__ import annotations

import dataclasses
import functools
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

from .. import methods
from ..arch import ArchSpec, resolve, spec_file
from ..catalog import dataset_info
from ..config import from_mapping, read_yaml
from ..data import DataSettings
from ..errors import PrunelabError, check_seed, warn
from ..protocol import REGIMES, SCRATCH_B_RULE, Budget, arm_regimes, default_cap, regime, scratch_b_budget
from ..train import Recipe
from .resources import Launcher, launcher_settings
from .transfer import Transfer
from .transfer import section as transfer_section


UNSET = "default"


@dataclass(frozen=True)
class ModelEntry:
    arch: str  # a name, or an architecture spec .json file (relative to the experiment file)
    targets: list | None = None
    width: float = 1.0
    head: str | None = None
    prune: dict | list | None = None  # this model's method(s), instead of the file's `prune`
    # an imported baseline: a prunelab model file or a torchvision-format state_dict of `arch`
    # (relative to the experiment file); its evaluation is the baseline run, shared by every seed
    weights: str | None = None


@dataclass(frozen=True)
class ScratchB:
    cap: float | str | None = UNSET  # "default": none on CIFAR-style data, 2.0 on ImageNet
    base_epochs: int | None = None  # E_base of the rule (default: the baseline's epochs)

    def cap_for(self, dataset: str) -> float | None:
        cap = default_cap(dataset_info(dataset).style) if self.cap == UNSET else self.cap
        if isinstance(cap, str):
            raise PrunelabError(f"scratch_b: cap must be a number >= 1, null or 'default', got {cap!r}")
        scratch_b_budget(1, 1, 1, cap)  # validates the cap
        return cap

    def e_base_for(self, recipe: Recipe) -> int:
        e_base = recipe.epochs if self.base_epochs is None else self.base_epochs
        if isinstance(e_base, bool) or not isinstance(e_base, int) or e_base < 1:
            raise PrunelabError(f"scratch_b: base_epochs must be a positive whole number, got {e_base!r}")
        return e_base


@dataclass(frozen=True)
class Experiment:
    name: str
    dataset: str
    models: list
    recipe: dict
    seeds: list = field(default_factory=lambda: [0])
    regimes: list = field(default_factory=lambda: ["finetune", "scratch-e", "scratch-b"])
    finetune: dict = field(default_factory=lambda: {"epochs": 40, "lr": 0.001, "schedule": "constant"})
    prune: dict | list = field(default_factory=lambda: {"method": "l1-norm"})
    scratch_b: dict = field(default_factory=dict)
    recipes: dict = field(default_factory=dict)  # per-regime recipe changes, e.g. {finetune: {lr: 0.01}} (not budgets)
    rewind: int = 0  # winning tickets: start from the large model's weights after this many iterations
    levels: int = 1  # iterative pruning: level k prunes `target` of the weights left by level k-1's ticket
    sweep: dict = field(default_factory=dict)  # recipe keys -> values: one grid per combination
    data: dict = field(default_factory=dict)
    launcher: dict = field(default_factory=dict)  # the jobs' resources with --launcher submitit (launch.py)
    transfer: dict = field(default_factory=dict)  # detection runs on the arms' backbones (runs/transfer.py)
    description: str = ""

    @functools.cached_property
    def sections(self) -> "Sections":
        """The sections, typed and checked (once per experiment object; a sweep's parts have their own)."""
        return Sections.of(self)

    def parts(self) -> list["Experiment"]:
        """The sweep's parts (computed once per experiment object: their sections are checked once)."""
        if "_parts" not in self.__dict__:
            self.__dict__["_parts"] = self._sweep_parts()
        return self.__dict__["_parts"]

    def _sweep_parts(self) -> list["Experiment"]:
        """One experiment per combination of ``sweep: {key: [values]}`` (recipe keys), each named
        ``name[key=value]``; the experiment itself where there is no sweep."""
        if not self.sweep:
            return [self]
        keys = list(self.sweep)
        for k, vals in self.sweep.items():
            if not isinstance(vals, list) or not vals:
                raise PrunelabError(f"sweep: '{k}' must list the values to try")
        out = []
        for combo in itertools.product(*(self.sweep[k] for k in keys)):
            tag = ",".join(f"{k}={v}" for k, v in zip(keys, combo))
            out.append(dataclasses.replace(self, name=f"{self.name}[{tag}]", sweep={},
                                           recipe={**self.recipe, **dict(zip(keys, combo))}))
        return out


@dataclass(frozen=True)
class Sections:
    """An experiment's sections, typed and checked: what planning and running read."""

    experiment: Experiment
    models: tuple  # ModelEntry per models[i]
    recipe: Recipe  # the large model's (and Scratch-E's)
    finetune: Recipe
    data: DataSettings
    cap: float | None  # Scratch-B's cap
    e_base: int  # E_base of Scratch-B's rule
    launcher: Launcher
    imported: tuple  # indices of the models that start from imported weights
    transfer: Transfer | None = None  # the detection transfer (runs/transfer.py), or None

    @classmethod
    def of(cls, exp: Experiment) -> "Sections":
        """Each section by its own check, then the conflicts between sections (in the order the
        checks ran before sections were typed: the same file's first problem is reported)."""
        recipe = _recipe(exp)
        finetune = _finetune(exp, recipe)
        data = from_mapping(DataSettings, {"dataset": exp.dataset, **exp.data}, "data")
        data.check()
        _rewind(exp, recipe, data)
        sb = from_mapping(ScratchB, exp.scratch_b, "scratch_b")
        cap = sb.cap_for(exp.dataset)
        models = tuple(from_mapping(ModelEntry, raw, f"models[{i}]") for i, raw in enumerate(exp.models))
        imported = tuple(i for i, m in enumerate(models) if m.weights)
        _imported(exp, imported, sb)
        if recipe.epochs == 0 and len(imported) < len(models):
            raise PrunelabError("recipe: 0 epochs would only evaluate randomly initialised large models, which means "
                                "nothing; give epochs >= 1 (or start from trained weights: models: [{weights: FILE}])")
        e_base = sb.e_base_for(recipe)
        out = cls(exp, models, recipe, finetune, data, cap, e_base, launcher_settings(exp.launcher), imported,
                  transfer_section(exp))
        out._check_recipes(explicit=sb.base_epochs is not None)
        return out

    def recipe_for(self, name: str, budget: Budget | None) -> Recipe:
        """The regime's recipe, with the experiment's changes for that regime (``recipes:``). A
        budgeted regime (Scratch-B) stretches the Scratch-E schedule (the base recipe with
        ``recipes.scratch-e``'s changes and its own, e.g. Table 5's 100 epochs with steps at 30, 60
        and 90) to its budget's epochs (``Recipe.scaled``)."""
        r = regime(name)
        if r.budget:
            base = self._changed(self._changed(self.recipe, _stretched()), name)
            return r.recipe_for(base, self.finetune, budget)
        return self._changed(r.recipe_for(self.recipe, self.finetune, budget), name)

    def _changed(self, rec: Recipe, name: str) -> Recipe:
        change = self.experiment.recipes.get(name)
        if not change:
            return rec
        rec = from_mapping(Recipe, {**dataclasses.asdict(rec), **change}, f"recipes.{name}")
        rec.check()
        return rec

    def _check_recipes(self, explicit: bool) -> None:
        """``recipes:`` names this file's regimes with valid recipe keys; no scratch arm trains 0
        epochs; no change contradicts a regime's budget."""
        exp = self.experiment
        for name, change in exp.recipes.items():
            if name not in exp.regimes or not isinstance(change, dict):
                raise PrunelabError(f"recipes: '{name}' must be one of this file's regimes ({', '.join(exp.regimes)}) "
                                    "with a mapping of recipe keys")
            self.recipe_for(name, scratch_b_budget(self.recipe.epochs, 2, 1, None))  # validates the keys
        for name in exp.regimes:
            if regime(name).init != "inherit" and self.recipe_for(name, scratch_b_budget(self.e_base, 2, 1,
                                                                                          None)).epochs == 0:
                raise PrunelabError(f"{name}: 0 epochs would only evaluate a randomly initialised model, which means "
                                    "nothing; give epochs >= 1 (0 epochs is for inherited weights: finetune: "
                                    "{epochs: 0})")
        for name, change in exp.recipes.items():
            self._check_budget(name, change, explicit)

    def _check_budget(self, name: str, change: dict, explicit: bool) -> None:
        """A regime's recipe change may not contradict its budget (one line naming the key): Scratch-B's
        epochs are its budget's; a fixed arm trains the large model's epochs (Scratch-E may train E_base,
        where ``scratch_b: {base_epochs}`` sets another)."""
        r = regime(name)
        if "epochs" not in change or not r.fixed:
            return
        if r.budget:
            raise PrunelabError(f"recipes.{name}.epochs: {r.title}'s epochs are its budget, {SCRATCH_B_RULE} (here "
                                f"E_base = {self.e_base}); set scratch_b: {{base_epochs: N}} or scratch_b: {{cap: C}} "
                                "instead, or use scratch-e for a fixed number of epochs")
        own = r.recipe_for(self.recipe, self.finetune, None).epochs
        allowed = {own} | ({self.e_base} if explicit and r.init == "random" else set())
        if change["epochs"] not in allowed:
            also = f" (or E_base = {self.e_base})" if len(allowed) > 1 else ""
            raise PrunelabError(f"recipes.{name}.epochs: {change['epochs']!r} contradicts {r.title}'s budget, "
                                f"{own} epochs{also}; change recipe: {{epochs}} (or scratch_b: {{base_epochs: N}} "
                                "for both scratch arms), or remove the key")


def _stretched() -> str:
    """The regime whose schedule a budgeted regime stretches (Scratch-E: the base recipe, same epochs)."""
    return next(n for n, r in REGIMES.items() if r.stretched)


def _recipe(exp: Experiment) -> Recipe:
    recipe = from_mapping(Recipe, exp.recipe, "recipe")
    recipe.check()
    for w in recipe.questionable():
        warn(w)
    return recipe


def _finetune(exp: Experiment, recipe: Recipe) -> Recipe:
    """The fine-tune recipe: the file's ``finetune:`` over the large model's batch, regularisation
    and precision."""
    ft = from_mapping(Recipe, {**{"batch_size": recipe.batch_size, "weight_decay": recipe.weight_decay,
                                  "momentum": recipe.momentum, "precision": recipe.precision,
                                  "channels_last": recipe.channels_last}, **exp.finetune}, "finetune")
    ft.check()
    return ft


def _rewind(exp: Experiment, recipe: Recipe, data: DataSettings) -> None:
    if exp.rewind:
        steps = recipe.epochs * -(-data.train_images() // recipe.batch_size)
        if exp.rewind >= steps:
            raise PrunelabError(f"rewind {exp.rewind} is not before the end of the large model's training "
                                f"({steps} iterations)")
        if not any(regime(r).init == "init" for r in exp.regimes):
            warn("'rewind' applies to winning tickets, and this file has no winning-ticket regime")


def _imported(exp: Experiment, imported: tuple, sb: ScratchB) -> None:
    """An imported baseline has no training epochs to give Scratch-B, nor initial weights."""
    if not imported:
        return
    where = f"models[{imported[0]}].weights (an imported baseline)"
    if sb.base_epochs is None and any(regime(n).budget for n in exp.regimes):
        raise PrunelabError(f"{where}: Scratch-B's budget needs the imported model's training epochs: set "
                            "scratch_b: {base_epochs: E_base}")
    early = [n for n in exp.regimes if regime(n).init not in ("random", "inherit")]
    if early or exp.rewind:
        raise PrunelabError(f"{where}: {', '.join(early) or 'rewind'} starts from the large model's initial or "
                            "early weights, which an imported model does not have: remove it (or train the "
                            "baseline here)")


def _relative(m, here: Path):
    """A model entry's files (weights, an architecture given as a spec .json) relative to the experiment file."""
    if not isinstance(m, dict):
        return m
    files = {k: str(here / Path(m[k]).expanduser()) for k in ("weights", "arch")
             if isinstance(m.get(k), str) and m[k] and (k == "weights" or m[k].endswith(".json"))}
    return {**m, **files}


def load_experiment(path: str | Path) -> Experiment:
    """An experiment file (or a shipped experiment's name: ``paper/table1-cifar10``), read and checked."""
    from ..shipped import experiment_path

    path = experiment_path(path)
    raw = read_yaml(path)
    if isinstance(raw, dict) and "leaderboard" in raw:
        raise PrunelabError(f"{path} is a leaderboard file: run it with prunelab leaderboard {path}")
    return experiment_from_mapping(raw, str(path), Path(path).parent)


def experiment_from_mapping(raw: dict, where: str, here: Path) -> Experiment:
    """An experiment from its mapping (a file's, or a dict given in Python), checked; its models'
    files are relative to ``here``."""
    exp = from_mapping(Experiment, raw, where)
    exp = dataclasses.replace(exp, models=[_relative(m, here) for m in exp.models])
    dataset_info(exp.dataset)
    launcher_settings(exp.launcher)
    if not exp.models:
        raise PrunelabError(f"{where}: 'models' lists no model")
    if not exp.regimes:
        raise PrunelabError(f"{where}: 'regimes' lists no regime (known: {', '.join(arm_regimes())})")
    for r in exp.regimes:
        if not isinstance(r, str) or not regime(r).arm:
            raise PrunelabError(f"{where}: unknown regime {r!r} (known: {', '.join(arm_regimes())}; "
                                "or module:attribute)")
    if len(set(exp.regimes)) != len(exp.regimes):
        raise PrunelabError(f"{where}: 'regimes' repeats a regime")
    if not exp.seeds:
        raise PrunelabError(f"{where}: 'seeds' lists no seed")
    for s in exp.seeds:
        check_seed(s, f"{where}: every seed")
    if len(set(exp.seeds)) != len(exp.seeds):
        raise PrunelabError(f"{where}: 'seeds' repeats a seed")
    if exp.rewind < 0:
        raise PrunelabError(f"{where}: 'rewind' must be a number of iterations >= 0, got {exp.rewind}")
    if not 1 <= exp.levels <= 50:
        raise PrunelabError(f"{where}: 'levels' must be between 1 and 50, got {exp.levels}")
    if exp.levels > 1 and not any(regime(r).next_level for r in exp.regimes):
        raise PrunelabError(f"{where}: iterative pruning (levels > 1) prunes each level's winning ticket: add "
                            f"{_next_level_regimes()} to 'regimes'")
    for part in exp.parts():
        part.sections  # every section of every sweep combination, checked now
    return exp


def _next_level_regimes() -> str:
    return " or ".join(n for n, r in REGIMES.items() if r.next_level)


def method_entries(prune, where: str = "prune") -> list[tuple[methods.Method, dict]]:
    if not isinstance(prune, (dict, list)):
        raise PrunelabError(f"{where}: must be a mapping {{method: NAME, ...parameters}} or a list of them")
    entries = prune if isinstance(prune, list) else [prune]
    if not entries:
        raise PrunelabError(f"{where}: lists no method")
    if len({json.dumps(e, sort_keys=True, default=str) for e in entries}) < len(entries):
        warn(f"{where}: lists the same method (with the same parameters) twice; its runs are shared")
    out = []
    for i, e in enumerate(entries):
        where = where if isinstance(prune, dict) else f"{where}[{i}]"
        if not isinstance(e, dict):
            raise PrunelabError(f"{where}: must be a mapping {{method: NAME, ...parameters}}")
        if "criterion" in e:
            raise PrunelabError(f"{where}: 'criterion' is now 'method' (e.g. prune: {{method: {e['criterion']}}})")
        m = methods.get(e.get("method", "l1-norm"))
        out.append((m, {k: v for k, v in e.items() if k != "method"}))
    return out


def imported(exp: Experiment) -> list[int]:
    """The indices of the models that start from imported weights (``weights: FILE``)."""
    return list(exp.sections.imported)


@functools.lru_cache(maxsize=8)
def _check_weights(path: str, sha256: str, spec_json: str, where: str) -> None:
    """Load the weights once per (file content, architecture): they must fit (one line otherwise)."""
    from ..models_io import load_weights

    load_weights(path, ArchSpec.from_json(spec_json), where)


def weights_of(m: ModelEntry, base: ArchSpec, where: str) -> dict:
    from ..fileio import file_sha256

    if not isinstance(m.weights, str) or not m.weights.strip():
        raise PrunelabError(f"{where}: must name a weights file (a prunelab model file or a torchvision-format "
                            "state_dict)")
    path = Path(m.weights).resolve()
    if not path.is_file():
        raise PrunelabError(f"{where}: weights file not found: {path}")
    sha = file_sha256(path)
    _check_weights(str(path), sha, base.to_json(), where)
    return {"path": str(path), "sha256": sha}


def base_spec(m: ModelEntry, dataset: str, where: str) -> ArchSpec:
    """A model entry's architecture: a name for the dataset, or a spec .json file made for its inputs."""
    if isinstance(m.arch, str) and m.arch.endswith(".json"):
        if m.width != 1.0 or m.head is not None:
            raise PrunelabError(f"{where}: width and head apply to architecture names, not to a spec file")
        return spec_file(m.arch, dataset)
    return resolve(m.arch, dataset, head=m.head, width=m.width)
