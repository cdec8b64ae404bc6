"""The detection transfer's table (the paper's Section 6): per pruned model, the mAP of Prune-C,
Prune-D, Scratch-E and Scratch-B over seeds (mean ± std), each compared with Prune-C by the
classification tables' rule (``report.stats``: paired by seed where both stand on each seed's
large model, Welch's otherwise), and the compute ledger: the training MACs of each setting's whole
chain (classifier, pruning's fine-tuning or scratch training, detector), mean over seeds."""
from __future__ import annotations

import statistics

from .stats import compare_arms, interval, pairing, pts, stats

SETTINGS = ("prune-c", "prune-d", "scratch-e", "scratch-b")
TITLES = {"prune-c": "Prune-C", "prune-d": "Prune-D", "scratch-e": "Scratch-E", "scratch-b": "Scratch-B",
          "detector": "unpruned"}
METRICS = (("voc07_map", "mAP (VOC07 11-point, IoU 0.5)"), ("map", "AP@[.5:.95] (COCO)"))


def transfer_rows(results: list[dict]) -> list[dict]:
    """One row per (experiment, large model, method, pruned model) with detection runs."""
    by_id = {r.get("run_id"): r for r in results}
    groups: dict[tuple, dict[str, list[dict]]] = {}
    unpruned: dict[tuple, list[dict]] = {}
    for r in results:
        lab = r.get("labels") or {}
        if lab.get("task") != "detection":
            continue
        key = (lab.get("experiment", ""), lab.get("dataset"), lab.get("group") or lab.get("base") or "")
        if lab.get("setting") == "detector":
            unpruned.setdefault(key, []).append(r)
            continue
        groups.setdefault(key + (lab.get("method"), lab.get("pruned")), {}).setdefault(lab.get("setting"), []).append(r)
    rows = []
    for key in sorted(groups, key=lambda k: tuple(str(x) for x in k)):
        row = {"experiment": key[0], "dataset": key[1], "model": key[2], "method": key[3], "pruned": key[4],
               "settings": {}}
        for name, rs in [("detector", unpruned.get(key[:3], [])), *((s, groups[key].get(s, [])) for s in SETTINGS)]:
            rs = sorted(rs, key=lambda r: r["seed"])
            a = {m: stats([r[f"final_{m}"] for r in rs]) for m, _ in METRICS}
            a.update({"n": len(rs), "values": {m: [r[f"final_{m}"] for r in rs] for m, _ in METRICS},
                      "run_ids": [r.get("run_id") for r in rs], "ledger": _ledger(rs, by_id), **pairing(rs)})
            if rs:
                a.update({k: rs[0].get(k) for k in ("params", "macs", "backbone_macs")})
            row["settings"][name] = a
        rows.append(row)
    return rows


def _ledger(rs: list[dict], by_id: dict) -> float | None:
    """Mean over seeds of the training MACs of each run's chain (None where a chain run is not in the results)."""
    totals = []
    for r in rs:
        chain = [by_id.get(i) for i in (r.get("labels") or {}).get("chain", [])]
        if any(c is None or c.get("train_macs") is None for c in chain) or r.get("train_macs") is None:
            return None
        totals.append(r["train_macs"] + sum(c["train_macs"] for c in chain))
    return statistics.fmean(totals) if totals else None


def comparisons(row: dict, metric: str = "voc07_map") -> list[tuple[str, dict]]:
    """Every setting against Prune-C (where both have runs)."""
    ref = row["settings"]["prune-c"]
    if not ref["n"]:
        return []
    out = []
    for s in SETTINGS[1:]:
        a = row["settings"][s]
        if a["n"]:
            out.append((s, compare_arms({**a, "values": a["values"][metric]}, {**ref, "values": ref["values"][metric]})))
    return out


def _fmt(a: dict, metric: str) -> str:
    if not a["n"]:
        return "missing"
    s = a[metric]
    return f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f} (n={s['n']})"


def _line(name: str, c: dict) -> str:
    s = f"{TITLES[name]} − Prune-C: {pts(c['diff'])} points"
    if c.get("note"):
        return f"{s} ({c['note']})"
    s += f", {interval(c)}"
    return s + (": not distinguishable" if c["p"] >= 0.05 else f": {TITLES[name]} {'better' if c['diff'] > 0 else 'worse'}")


def transfer_markdown(rows: list[dict]) -> str:
    if not rows:
        return ""
    out = []
    for metric, label in METRICS:
        out += [f"\n### Detection transfer: {label}, mean ± std over seeds\n",
                "| Model | Pruned (method) | Backbone params | Backbone MACs at the detector's input | unpruned | "
                + " | ".join(TITLES[s] for s in SETTINGS) + " |", "|" + "---|" * (4 + len(SETTINGS) + 1)]
        for r in rows:
            first = next((r["settings"][s] for s in SETTINGS if r["settings"][s]["n"]), {})  # the pruned backbone
            out.append(f"| {r['model']} | {r['pruned']} ({r['method']}) | {_m(first.get('params'))} | "
                       f"{_m(first.get('backbone_macs'))} | " + " | ".join(
                           _fmt(r["settings"][s], metric) for s in ("detector", *SETTINGS)) + " |")
    out.append("\nComparisons (mAP, VOC07 11-point; t-test paired by seed where both settings stand on each seed's "
               "large model, Welch's otherwise):")
    for r in rows:
        for name, c in comparisons(r):
            out.append(f"- {r['pruned']}: {_line(name, c)}")
        held = dict(comparisons(r)).get("scratch-b")
        if held is not None and not held.get("note"):
            verdict = "held" if held["diff"] >= 0 else ("held within noise" if held["p"] >= 0.05 else "did not hold")
            out.append(f"- {r['pruned']}: the paper's detection verdict (Scratch-B at least as good as Prune-C) "
                       f"{verdict}")
    out.append("\nTraining compute of each setting's whole chain (classifier, pruning's fine-tuning or scratch "
               "training, detectors), mean over seeds, TMACs:")
    for r in rows:
        parts = [f"{TITLES[s]} {_t(r['settings'][s]['ledger'])}" for s in SETTINGS if r["settings"][s]["n"]]
        out.append(f"- {r['pruned']}: " + ", ".join(parts))
    return "\n".join(out) + "\n"


def _m(v) -> str:
    return "-" if v is None else f"{v / 1e6:.2f}M"


def _t(v) -> str:
    return "unknown" if v is None else f"{v / 1e12:.3f}"
