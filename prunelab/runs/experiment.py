"""An experiment file, typed: its sections as frozen dataclasses, read and checked when loaded
(``load_experiment``); a model entry's architecture (a name or a spec .json), its imported weights,
and the method entries of its ``prune:`` section. Planning (``runs/plan.py``) takes the result."""
from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

from .. import methods
from ..arch import ArchSpec, resolve, spec_file
from ..catalog import dataset_info
from ..config import from_mapping, read_yaml
from ..errors import PrunelabError, check_seed, warn
from ..protocol import arm_regimes, regime


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
    description: str = ""


def _relative(m, here: Path):
    """A model entry's files (weights, an architecture given as a spec .json) relative to the experiment file."""
    if not isinstance(m, dict):
        return m
    files = {k: str(here / Path(m[k]).expanduser()) for k in ("weights", "arch")
             if isinstance(m.get(k), str) and m[k] and (k == "weights" or m[k].endswith(".json"))}
    return {**m, **files}


def load_experiment(path: str | Path) -> Experiment:
    raw = read_yaml(path)
    where = str(path)
    exp = from_mapping(Experiment, raw, where)
    here = Path(path).parent
    exp = dataclasses.replace(exp, models=[_relative(m, here) for m in exp.models])
    dataset_info(exp.dataset)
    from .resources import launcher_settings

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
    if exp.levels > 1 and "winning-ticket" not in exp.regimes:
        raise PrunelabError(f"{where}: iterative pruning (levels > 1) prunes each level's winning ticket: add "
                            "winning-ticket to 'regimes'")
    return exp


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
    """The indices of the models that start from imported weights (``weights: FILE``); every model
    entry is checked on the way (unknown keys, wrong types)."""
    models = [from_mapping(ModelEntry, raw, f"models[{i}]") for i, raw in enumerate(exp.models)]
    return [i for i, m in enumerate(models) if m.weights]


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
