"""What ``prunelab plan`` shows: one row per planned run (its state in the store, epochs or
Scratch-B's rule, budget, training compute) and the duration estimate from the store's throughput."""
from __future__ import annotations

import json
import statistics

from ..protocol import SCRATCH_B_RULE, regime
from ..runs.plan import Grid, PlannedRun, expected_epochs, known_budget, resolve_run, run_cost
from ..runs.store import RunStore


def rule(grid: Grid, run: PlannedRun) -> str | None:
    """How an unresolved run's epochs will be set (Scratch-B of a found architecture)."""
    grid = run.part or grid
    if run.transfer is not None or run.settings is not None or not regime(run.regime).budget or known_budget(run) is not None:
        return None
    cap = f", capped at {grid.cap:g} x E_base" if grid.cap else ""
    return (f"{SCRATCH_B_RULE.replace('E_base', str(grid.e_base)).replace('large', run.arm.base.name)}"
            .replace("MACs(pruned)", f"MACs(found by {run.arm.method.name})") + cap)


def transfer_source(r: PlannedRun) -> str:
    """Where a transfer run's model comes from, in words (plan's chain: classifier -> prune -> arm -> detector)."""
    if r.backbone is not None:
        return f"the {r.backbone.regime} classifier (seed {r.seed})"
    return f"the unpruned detector (seed {r.seed}), its backbone pruned by {r.arm.method.name}"


def plan_rows(grid: Grid, store: RunStore) -> list[dict]:
    """One row per planned run. A run that several arms share (two methods' Scratch-E of one planned
    architecture, a lottery file's Scratch-E and Random init) is one run in the store: its later rows
    say ``shared: true`` and count no compute (``distinct`` counts each run once)."""
    rows, seen = [], set()
    for r in grid.runs:
        known = resolve_run(grid, r, store)
        row = {"arch": r.arch, "regime": r.regime, "seed": r.seed, "epochs": expected_epochs(grid, r),
               "base": r.base, "method": r.labels.get("method"), "pruned": r.labels.get("pruned"),
               "run_id": r.settings.run_id() if known else None,
               "state": store.status(r.settings) if known else "waiting for its prune step"}
        budget = r.budget if r.transfer or r.settings is not None or not regime(r.regime).budget else known_budget(r)
        if budget is not None:  # (an unresolved Scratch-B whose found architecture has known MACs: the arm's)
            row["budget"] = budget.to_dict()
        if rule(grid, r):
            row["rule"] = rule(grid, r)
        if r.settings is not None and r.settings.init.get("kind") == "weights":
            row["imported"] = {"sha256": r.settings.init["sha256"], "file": r.settings.weights_file}
        row["train_macs"] = 3 * run_cost(grid, r, grid.data.train_images())  # an estimate where not yet found
        if r.transfer is not None:
            row["task"], row["from"] = r.settings.task["kind"] if known else "detection", transfer_source(r)
        if row["run_id"] is not None and row["run_id"] in seen:
            row["shared"], row["train_macs"] = True, 0
        seen.add(row["run_id"])
        rows.append(row)
    return rows


def throughput(store: RunStore, device: str) -> float | None:
    """Training MACs per second of this store's finished runs on ``device`` (their median), or None."""
    rates = []
    for d in (store.root.iterdir() if store.root.is_dir() else []):
        if (d / "result.json").is_file():
            try:
                r = json.loads((d / "result.json").read_text())
                if r.get("device") == device and r.get("wall_s", 0) > 0 and r.get("train_macs"):
                    rates.append(r["train_macs"] / r["wall_s"])
            except (OSError, ValueError):
                continue
    return statistics.median(rates) if rates else None
