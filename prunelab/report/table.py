"""Aggregate finished runs into the paper's table: one row per (experiment, dataset, model, pruned
model), columns Unpruned | Fine-tuned | Scratch-E | Scratch-B as mean ± std over seeds (n).
Reads result.json files only; numbers come from finished runs, missing arms show as missing."""
from __future__ import annotations

import csv
import io
import json
import math
import statistics
from pathlib import Path

from ..errors import PrunelabError
from ..fileio import read_json

ARMS = ("baseline", "finetune", "scratch-e", "scratch-b")
ARM_TITLES = {"baseline": "Unpruned", "finetune": "Fine-tuned", "scratch-e": "Scratch-E", "scratch-b": "Scratch-B"}


def load_results(root: str | Path) -> list[dict]:
    root = Path(root)
    if not root.exists():
        raise PrunelabError(f"no such folder: {root}")
    return [read_json(p) for p in sorted(root.rglob("result.json"))]


def stats(values: list[float]) -> dict:
    """mean, sample std (n - 1; 0 for a single run) and n."""
    n = len(values)
    if n == 0:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if n > 1 else 0.0, "n": n}


def _mean(results: list[dict], key: str):
    vals = [r[key] for r in results if r.get(key) is not None]
    return statistics.fmean(vals) if vals else None


def aggregate(results: list[dict]) -> list[dict]:
    """The report's rows. Baselines join every pruned model of the same experiment and base."""
    base_runs: dict[tuple, list[dict]] = {}
    arms: dict[tuple, dict[str, list[dict]]] = {}
    for r in results:
        lab = r.get("labels") or {}
        regime = lab.get("regime")
        if regime not in ARMS:
            continue
        key = (lab.get("experiment", ""), lab.get("dataset", r["settings"]["data"]["dataset"]), lab.get("base"))
        if regime == "baseline":
            base_runs.setdefault(key, []).append(r)
        else:
            arms.setdefault(key + (lab.get("pruned"),), {}).setdefault(regime, []).append(r)
    rows = []
    for key in sorted(arms, key=lambda k: tuple(str(x) for x in k)):
        by_arm = {"baseline": base_runs.get(key[:3], []), **arms[key]}
        row = {"experiment": key[0], "dataset": key[1], "model": key[2], "pruned": key[3], "arms": {}}
        for arm in ARMS:
            rs = by_arm.get(arm, [])
            a = stats([r["final_top1"] for r in rs])
            a.update({
                "epochs": _mean(rs, "epochs"), "images_seen": _mean(rs, "images_seen"),
                "train_macs": _mean(rs, "train_macs"), "wall_s": _mean(rs, "wall_s"),
                "seeds": sorted(r["seed"] for r in rs),
            })
            if rs and arm == "scratch-b":
                a["budget"] = (rs[0].get("labels") or {}).get("budget")
            row["arms"][arm] = a
        full = by_arm["baseline"][0] if by_arm["baseline"] else None
        pr = next((rs[0] for arm, rs in by_arm.items() if arm != "baseline" and rs), None)
        row["params"] = full["params"] if full else None
        row["macs"] = full["macs"] if full else None
        row["pruned_params"] = pr["params"] if pr else None
        row["pruned_macs"] = pr["macs"] if pr else None
        b, f = row["arms"]["baseline"], row["arms"]["finetune"]
        row["pipeline_train_macs"] = (b["train_macs"] + f["train_macs"]) if b["n"] and f["n"] else None
        rows.append(row)
    return rows


def fmt_acc(a: dict) -> str:
    if not a["n"]:
        return "missing"
    return f"{100 * a['mean']:.2f} ± {100 * a['std']:.2f} (n={a['n']})"


def _num(v, scale=1.0, digits=2, suffix="") -> str:
    return "-" if v is None else f"{v / scale:.{digits}f}{suffix}"


def markdown(rows: list[dict]) -> str:
    if not rows:
        return "No finished runs with regime labels found.\n"
    out = ["Top-1 accuracy (%) on the test set at the final epoch, mean ± sample std over seeds (n = runs).", ""]
    out.append("| Dataset | Model | Unpruned | Pruned model | Fine-tuned | Scratch-E | Scratch-B |")
    out.append("|---|---|---|---|---|---|---|")
    for r in rows:
        A = r["arms"]
        out.append(f"| {r['dataset']} | {r['model']} | {fmt_acc(A['baseline'])} | {r['pruned']} | "
                   f"{fmt_acc(A['finetune'])} | {fmt_acc(A['scratch-e'])} | {fmt_acc(A['scratch-b'])} |")
    out += ["", "Size and compute (means per run; training MACs = forward MACs x 3 x images seen).", ""]
    out.append("| Model | Pruned model | Params (M) | MACs (M) | Arm | Epochs | Images seen | Training MACs | Wall (s) |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        for arm in ARMS:
            a = r["arms"][arm]
            is_base = arm == "baseline"
            params = r["params"] if is_base else r["pruned_params"]
            macs = r["macs"] if is_base else r["pruned_macs"]
            out.append(f"| {r['model']} | {r['pruned'] if not is_base else '(unpruned)'} | {_num(params, 1e6, 3)} | "
                       f"{_num(macs, 1e6, 2)} | {ARM_TITLES[arm]} | {_num(a['epochs'], digits=0)} | "
                       f"{_num(a['images_seen'], digits=0)} | {_num(a['train_macs'], 1e12, 3, 'T')} | "
                       f"{_num(a['wall_s'], digits=1)} |")
    out += ["", "Compute ledger: the pruning pipeline (pretrain + fine-tune) beside Scratch-B.", ""]
    out.append("| Model | Pruned model | Scratch-B rule | Pipeline training MACs | Scratch-B training MACs |")
    out.append("|---|---|---|---|---|")
    for r in rows:
        bud = r["arms"]["scratch-b"].get("budget")
        rule = "-" if not bud else f"{bud['epochs']} = {bud['rule']} ({bud['base_epochs']} x {bud['mac_ratio']:.3f})"
        out.append(f"| {r['model']} | {r['pruned']} | {rule} | {_num(r['pipeline_train_macs'], 1e12, 3, 'T')} | "
                   f"{_num(r['arms']['scratch-b']['train_macs'], 1e12, 3, 'T')} |")
    return "\n".join(out) + "\n"


def flat(rows: list[dict]) -> list[dict]:
    out = []
    for r in rows:
        d = {k: r[k] for k in ("experiment", "dataset", "model", "pruned", "params", "macs", "pruned_params",
                               "pruned_macs", "pipeline_train_macs")}
        for arm in ARMS:
            a = r["arms"][arm]
            for k in ("mean", "std", "n", "epochs", "images_seen", "train_macs", "wall_s"):
                d[f"{arm}_{k}"] = a[k]
        out.append(d)
    return out


def to_csv(rows: list[dict]) -> str:
    rows_f = flat(rows)
    buf = io.StringIO()
    if rows_f:
        w = csv.DictWriter(buf, fieldnames=list(rows_f[0]))
        w.writeheader()
        w.writerows(rows_f)
    return buf.getvalue()


def to_json(rows: list[dict]) -> str:
    return json.dumps(rows, indent=2)


def verdict(row: dict) -> str | None:
    """Scratch-B vs Fine-tuned, judged against the noise (pooled std over seeds)."""
    b, f = row["arms"]["scratch-b"], row["arms"]["finetune"]
    if not b["n"] or not f["n"]:
        return None
    diff = b["mean"] - f["mean"]
    noise = math.sqrt((b["std"] ** 2 + f["std"] ** 2) / 2)
    if diff >= -noise:
        return f"Scratch-B {'>=' if diff >= 0 else '~'} Fine-tuned ({100 * diff:+.2f} points, noise {100 * noise:.2f})"
    return f"Scratch-B < Fine-tuned ({100 * diff:+.2f} points, beyond noise {100 * noise:.2f})"
