"""``prunelab judge``: one method's Fine-tuned arm against the baselines the paper demands.

A researcher brings a method (a registered name, ``module:attribute`` or an entry point) and an
experiment file (model, targets, data, recipes, seeds); judge plans and runs, through the run
store, the method's Fine-tuned arm and its baselines, each an ordinary grid of the protocol:

- ``scratch-e`` / ``scratch-b``: the method's pruned architecture trained from scratch;
- ``uniform``: the uniformly scaled architecture of the same family with the pruned one's
  parameter count (the ``uniform`` method, trained with ``uniform_regime``);
- ``random``: random channels at the method's widths, fine-tuned like the method's (the
  ``random-widths`` method).

Every run is labelled with its role in the judgement (cosmetic labels: the runs are shared with any
experiment that declares them), so ``report.verdicts`` turns the result files into the verdicts.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from ..arch import ArchSpec, build
from ..errors import PrunelabError, warn
from ..measure.latency import latency
from ..train import resolve_device
from .execution import grid_results, run_grid
from .experiment import Experiment
from .plan import Grid, plan
from .store import RunStore

BASELINES = ("scratch-e", "scratch-b", "uniform", "random")
WRAPPERS = {"uniform": "uniform", "random": "random-widths"}  # baseline -> the method that makes its model


@dataclass
class Judgement:
    """The planned grids of one judgement: its name and, per part, the grid and each regime's arm key."""

    name: str
    parts: dict[str, tuple[Grid, dict[str, str]]]


def method_entry(exp: Experiment, method: str | None = None, params: dict | None = None) -> dict:
    """The one method under judgement: ``method`` (with ``params``), else the file's ``prune``."""
    for i, m in enumerate(exp.models):
        if isinstance(m, dict) and m.get("prune") is not None:
            raise PrunelabError(f"models[{i}]: judge takes its method from 'prune' or --method, not per model")
    if method is not None:
        return {"method": method, **(params or {})}
    entry = exp.prune
    if isinstance(entry, list):
        if len(entry) != 1:
            raise PrunelabError(f"judge judges one method: 'prune' lists {len(entry)} (pick one, or give --method)")
        entry = entry[0]
    if not isinstance(entry, dict):
        raise PrunelabError("prune: must be a mapping {method: NAME, ...parameters}")
    if params:
        entry = {**entry, **params}
    return entry


def judge_plan(exp: Experiment, entry: dict, baselines: tuple[str, ...] = BASELINES,
               uniform_regime: str = "scratch-e", random_of: dict | None = None) -> Judgement:
    """The grids of a judgement: the method (finetune + its scratch baselines), and one grid per
    wrapper baseline. Runs shared by several grids (the large models) are one run in the store.
    ``random_of``: the method whose widths the random-channel baseline takes (default: ``entry``;
    a leaderboard gives methods of one predefined target one shared draw)."""
    from .. import methods
    from ..protocol import regime

    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise PrunelabError(f"unknown baseline '{unknown[0]}' (known: {', '.join(BASELINES)})")
    if not baselines:
        raise PrunelabError("judge needs at least one baseline")
    if regime(uniform_regime).init != "random":
        raise PrunelabError(f"the uniform baseline trains from scratch: '{uniform_regime}' is not a scratch regime")
    method = methods.get(entry.get("method", "l1-norm"))
    if not method.inherits:
        raise PrunelabError(f"method '{method.name}' gives no pruned weights: judge compares its Fine-tuned "
                            "arm with the baselines")
    name = f"judge {exp.name}"
    specs = {"method": (entry, ["finetune", *[b for b in ("scratch-e", "scratch-b") if b in baselines]])}
    for b in ("uniform", "random"):
        if b in baselines:
            specs[b] = ({"method": WRAPPERS[b], "of": random_of if b == "random" and random_of else entry},
                        [uniform_regime] if b == "uniform" else ["finetune"])
    parts = {}
    for part, (prune, regimes) in specs.items():
        sub = dataclasses.replace(exp, name=name if part == "method" else f"{name}: {part}", prune=prune,
                                  regimes=regimes, levels=1, rewind=0, sweep={}, transfer={},
                                  recipes={k: v for k, v in exp.recipes.items() if k in regimes})
        try:
            grid = plan(sub)
        except PrunelabError as e:
            if part == "method":
                raise
            warn(f"judge: no {part} baseline for method '{method.name}' ({e})")
            continue
        keys = {r: (r if part == "method" else part) for r in regimes}
        _label(grid, name, keys)
        parts[part] = (grid, keys)
    return Judgement(name, parts)


def _label(grid: Grid, name: str, keys: dict[str, str]) -> None:
    """Each run's role in the judgement: its arm, target and the large model it depends on."""
    for r in grid.runs:
        extra = {"judge": name, "judge_arm": "unpruned" if r.regime == "baseline" else keys[r.regime],
                 "baseline_run": r.baseline.run_id()}
        if r.arm is not None:
            extra["judge_target"] = json.dumps(getattr(r.arm.params, "target", None), sort_keys=True)
            # the run's architecture or weights come from this seed's large model (then arms pair by seed)
            extra["from_baseline"] = r.needs_prune or r.arm.planned is None
        r.labels = {**r.labels, **extra}


def run_judgement(j: Judgement, store: RunStore, *, data_dir=None, device: str = "auto",
                  progress: bool = True) -> list[dict]:
    """Run every grid of the judgement (resumable) and return its results, labelled."""
    out, seen = [], set()
    for part, (grid, _) in j.parts.items():
        run_grid(grid, store, data_dir=data_dir, device=device, progress=progress)
        for res in grid_results(grid, store):
            key = (res.get("run_id"), res["labels"]["judge_arm"])
            if part != "method" and res["labels"]["judge_arm"] == "unpruned":
                continue  # the wrappers' large models are the method's
            if key not in seen:
                seen.add(key)
                out.append(res)
    return out


def measure_latency(results: list[dict], batch: int, device: str = "auto", repeats: int = 20) -> dict[str, float]:
    """{run id: median forward time in ms of a batch of ``batch`` images} for ``results``; each
    distinct architecture is measured once, one after another in this process (compare the figures
    only with each other)."""
    if batch < 1:
        raise PrunelabError(f"--latency-batch must be a positive number of images, got {batch}")
    dev = resolve_device(device)
    by_arch: dict[str, float] = {}
    out: dict[str, float] = {}
    for r in results:
        key = json.dumps(r["settings"]["arch"], sort_keys=True)
        if key not in by_arch:
            model = build(ArchSpec.from_dict(r["settings"]["arch"]), seed=0).to(dev)
            by_arch[key] = latency(model, batch, warmup=max(2, repeats // 4), repeats=repeats)["median_ms"]
        out[r["run_id"]] = by_arch[key]
    return out


def write_outputs(out: str | Path, markdown: str, data: list[dict]) -> None:
    from ..fileio import atomic_write_json, atomic_write_text

    out = Path(out)
    atomic_write_text(out / "judge.md", markdown)
    atomic_write_json(out / "judge.json", data)
