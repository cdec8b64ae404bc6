"""The verdicts of ``prunelab judge``, from result files: the method's Fine-tuned arm against each
baseline, as the difference of means with its 95% confidence interval and a t-test p-value.

The test follows ``report.stats``' one rule, as ``report`` does: paired by seed (``ttest_rel``) where
both arms of every seed come from that seed's one trained large model (its pruned weights, or the
architecture found in it); otherwise Welch's (``ttest_ind(equal_var=False)``). Each arm's training
compute is shown as its own and as the pipeline's (the large model's pretraining included where the
arm depends on it).
"""
from __future__ import annotations

import json
import statistics

from .stats import compare_arms, interval, pairing, stats
from .stats import pts as _pts
from .table import _mean, _num, imported

JUDGED = "finetune"
TITLES = {"unpruned": "Unpruned (large model)", "finetune": "Fine-tuned (the method)", "scratch-e": "Scratch-E",
          "scratch-b": "Scratch-B", "uniform": "Uniform width, equal params", "random": "Random channels, fine-tuned"}
ORDER = list(TITLES)
ALPHA = 0.05


def judge_rows(results: list[dict], latency: dict[str, float] | None = None) -> list[dict]:
    """One row per (judgement, large model, target): each arm's numbers and the comparisons.
    ``latency``: {run id: ms per batch} (measured by ``runs.judge_grids.measure_latency``)."""
    latency = latency or {}
    baselines: dict[tuple, list[dict]] = {}
    arms: dict[tuple, dict[str, list[dict]]] = {}
    by_id = {r.get("run_id"): r for r in results}
    for r in results:
        lab = r.get("labels") or {}
        if "judge" not in lab or "judge_arm" not in lab:
            continue
        key = (lab["judge"], lab.get("base"))
        if lab["judge_arm"] == "unpruned":
            baselines.setdefault(key, []).append(r)
        else:
            arms.setdefault(key + (lab.get("judge_target"),), {}).setdefault(lab["judge_arm"], []).append(r)
    rows = []
    for key in sorted(arms, key=lambda k: tuple(str(x) for x in k)):
        found = {"unpruned": baselines.get(key[:2], []), **arms[key]}
        row = {"judge": key[0], "model": key[1], "target": json.loads(key[2]) if key[2] else None,
               "method": next((r["labels"].get("method") for r in arms[key].get(JUDGED, [])), None),
               "pruned": next((r["labels"].get("pruned") for r in arms[key].get(JUDGED, [])), None), "arms": {}}
        for arm in [a for a in ORDER if a in found] + sorted(set(found) - set(ORDER)):
            row["arms"][arm] = _arm(sorted(found[arm], key=lambda r: r["seed"]), by_id, latency)
        row["comparisons"] = _comparisons(row["arms"])
        rows.append(row)
    return rows


def _arm(rs: list[dict], by_id: dict, latency: dict) -> dict:
    a = stats([r["final_top1"] for r in rs])
    a["values"] = [r["final_top1"] for r in rs]
    a["run_ids"] = [r.get("run_id") for r in rs]
    a.update(pairing(rs))
    for k in ("params", "macs", "params_nonzero", "macs_nonzero", "train_macs"):
        a[k] = _mean(rs, k)
    pipeline = [_pipeline(r, by_id) for r in rs]
    a["pipeline_train_macs"] = statistics.fmean(pipeline) if pipeline and None not in pipeline else None
    ms = [latency[r.get("run_id")] for r in rs if r.get("run_id") in latency]
    a["latency_ms"] = statistics.median(ms) if ms else None
    return a


def _pipeline(r: dict, by_id: dict) -> float | None:
    """A run's training MACs plus its large model's, where it depends on it (None: not known, e.g.
    an imported large model trained elsewhere)."""
    own = r.get("train_macs")
    if own is None or not r["labels"].get("from_baseline"):
        return own
    base = by_id.get(r["labels"].get("baseline_run")) or {}
    if imported(base) or base.get("train_macs") is None:
        return None
    return own + base["train_macs"]


def _comparisons(arms: dict) -> list[dict]:
    j = arms.get(JUDGED)
    if not j or not j["n"]:
        return []
    out = []
    for name, b in arms.items():
        if name in ("unpruned", JUDGED) or not b["n"]:
            continue
        c = compare_arms(j, b)
        c["baseline"] = name
        c["verdict"] = verdict(c)
        out.append(c)
    return out


def verdict(c: dict) -> str:
    """``better`` / ``worse`` (p < 0.05), ``not distinguishable``, or why it cannot be judged."""
    if c.get("note"):
        return "cannot be judged"
    if c["p"] >= ALPHA:
        return "not distinguishable"
    return "better" if c["diff"] > 0 else "worse"


def sentence(c: dict) -> str:
    """One line per baseline, e.g. ``vs Scratch-E: -0.42 points, 95% CI [...], Welch p = 0.31: not
    distinguishable``."""
    title = TITLES.get(c["baseline"], c["baseline"])
    s = f"vs {title}: {_pts(c['diff'])} points"
    if c.get("note"):
        return f"{s}: cannot be judged ({c['note']})"
    s += f", {interval(c)}"
    if c["verdict"] == "not distinguishable":
        return s + f": not distinguishable from {title} at this number of seeds"
    return s + f": the method is significantly {c['verdict']} than {title} (p < {ALPHA:g})"


def _ratio(large, v) -> str:
    return "" if not large or not v else f" ({large / v:.2f}x)"


def markdown(rows: list[dict]) -> str:
    if not rows:
        return "No finished judge runs found.\n"
    out = []
    for r in rows:
        target = "" if r["target"] is None else f", target {r['target']}"
        out += [f"## {r['judge']}: {r['method']} on {r['model']}{target} (pruned: {r['pruned']})", "",
                "Top-1 (%) at the final epoch, mean ± sample std (n seeds). MACs and latency: the reduction "
                "against the large model in brackets; latency = median forward time of one batch, measured "
                "side by side in this run. Training MACs: the arm's own, and its pipeline's (the large "
                "model's training included where the arm's weights or architecture come from it).", "",
                "| Arm | Top-1 | Params (M) | MACs (M) | Latency (ms) | Training MACs (own) | Training MACs (pipeline) |",
                "|---|---|---|---|---|---|---|"]
        large = r["arms"].get("unpruned") or {}
        for name, a in r["arms"].items():
            acc = "missing" if not a["n"] else f"{100 * a['mean']:.2f} ± {100 * a['std']:.2f} (n={a['n']})"
            macs = a["macs_nonzero"] if a.get("macs_nonzero") is not None else a["macs"]
            out.append(f"| {TITLES.get(name, name)} | {acc} | {_num(a['params'], 1e6, 3)} | "
                       f"{_num(macs, 1e6, 2)}{_ratio(large.get('macs'), macs)} | "
                       f"{_num(a['latency_ms'], 1, 2)}{_ratio(large.get('latency_ms'), a['latency_ms'])} | "
                       f"{_num(a['train_macs'], 1e12, 3, 'T')} | {_num(a['pipeline_train_macs'], 1e12, 3, 'T')} |")
        out += ["", "The method (Fine-tuned) against each baseline:", ""]
        out += [f"- {sentence(c)}" for c in r["comparisons"]] or ["- no baseline has finished runs"]
        out.append("")
    return "\n".join(out)
