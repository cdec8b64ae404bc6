"""Aggregate finished runs into the paper's table: one row per (experiment, dataset, large model,
method, pruned model), one column per regime (from the regime registry, in its order) as
mean ± std over seeds (n), and statistics of each arm against Fine-tuned.

Reads result.json files only (and each run folder's roles.json: a run shared by several
experiments counts in each). Numbers come from finished runs; missing arms show as missing; a
regime the registry does not know is reported under its own name, not dropped.
"""
from __future__ import annotations

import csv
import io
import json
import math
import statistics
from pathlib import Path

from ..errors import PrunelabError
from ..fileio import find_files, read_json
from ..methods import registered
from ..protocol import REGIMES, arm_regimes
from .stats import compare_arms, interval, pairing, stats
from .stats import pts as _pts

CORE = ("finetune", "scratch-e", "scratch-b")  # the paper's columns: always shown


def title(regime: str) -> str:
    return REGIMES[regime].title if regime in REGIMES else regime


def color(regime: str) -> str:
    return REGIMES[regime].color if regime in REGIMES else "#9467bd"


def load_results(root: str | Path, skipped: list[str] | None = None) -> list[dict]:
    """Every result.json under ``root``, once per role (roles.json). A file that is not a prunelab
    result is skipped and named in ``skipped`` (one bad file never hides the others)."""
    root = Path(root)
    if not root.exists():
        raise PrunelabError(f"no such folder: {root}")
    if not root.is_dir():
        raise PrunelabError(f"{root} is not a folder (give the run store's folder)")
    out = []
    for p in find_files(root, lambda d, f: f == "result.json"):
        try:
            r = _checked_result(read_json(p))
            roles = [r.get("labels") or {}]
            if (p.parent / "roles.json").is_file():
                roles = json.loads((p.parent / "roles.json").read_text())
                if not isinstance(roles, list) or not roles or not all(isinstance(x, dict) for x in roles):
                    raise ValueError("its roles.json is not a list of labels")
            for role in roles:
                _checked_labels(role)
            out += [{**r, "labels": role} for role in roles]
        except (OSError, ValueError, PrunelabError) as e:
            if skipped is not None:
                skipped.append(f"{p}: {e}")
    return out


def imported(result: dict) -> bool:
    """Whether a run evaluated imported weights (a large model trained elsewhere: its training cost
    is unknown here)."""
    return ((result.get("settings") or {}).get("init") or {}).get("kind") == "weights"


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _checked_result(r) -> dict:
    """A result.json as prunelab writes it, or ValueError naming what is wrong."""
    if not isinstance(r, dict):
        raise ValueError("not a prunelab result (not a JSON object)")
    # a detection run's (report/transfer.py) accuracies are its mAPs
    keys = ("final_voc07_map", "final_map", "final_map_50") if (r.get("settings") or {}).get("task") else ("final_top1",)
    for key in keys:
        if not _number(r.get(key)) or not 0 <= r[key] <= 1:
            raise ValueError(f"{key} {r.get(key)!r} is not an accuracy in [0, 1]")
    if isinstance(r.get("seed"), bool) or not isinstance(r.get("seed"), int):
        raise ValueError(f"seed {r.get('seed')!r} is not an integer")
    for key in ("epochs", "images_seen", "train_macs", "wall_s", "params", "macs", "params_nonzero", "macs_nonzero"):
        if r.get(key) is not None and not _number(r[key]):
            raise ValueError(f"{key} {r[key]!r} is not a number")
    if r.get("labels") is not None:
        _checked_labels(r["labels"])
    return r


def _checked_labels(labels) -> None:
    if not isinstance(labels, dict):
        raise ValueError("its labels are not a mapping")
    for key in ("experiment", "dataset", "base", "group", "regime", "method", "pruned"):
        if labels.get(key) is not None and not isinstance(labels[key], str):
            raise ValueError(f"label {key} {labels[key]!r} is not a string")
    if labels.get("regime") not in (None, "baseline") and not labels.get("pruned") and labels.get("setting") != "detector":
        raise ValueError(f"a {labels['regime']} run without the label of its pruned model")
    if labels.get("budget") is not None:
        b = labels["budget"]
        if not isinstance(b, dict) or not all(_number(b.get(k)) for k in ("epochs", "base_epochs", "mac_ratio")) \
                or not isinstance(b.get("rule"), str):
            raise ValueError("its Scratch-B budget label is malformed")


def _processes(result: dict) -> str:
    """" (N processes)" for a run whose N processes normalised with their own images (another
    result than one process's: never pooled with it), else ""."""
    s = result.get("settings") or {}
    n, recipe = s.get("processes", 1), s.get("recipe") or {}
    return f" ({n} processes)" if isinstance(n, int) and n > 1 and not recipe.get("sync_bn") and \
        recipe.get("epochs") else ""


def _mean(results: list[dict], key: str):
    vals = [r[key] for r in results if r.get(key) is not None]
    return statistics.fmean(vals) if vals else None


def _per_seed(results: list[dict], key: str) -> dict:
    """Found architectures differ per seed: one value per seed."""
    return {r["seed"]: r[key] for r in results if r.get(key) is not None}


def columns(rows: list[dict]) -> list[str]:
    """The regimes to show: the paper's three, other registered ones present, then unknown ones."""
    present = {a for r in rows for a, s in r["arms"].items() if s["n"] and a != "baseline"}
    known = [n for n in arm_regimes() if n in CORE or n in present]
    return known + sorted(present - set(known))


def aggregate(results: list[dict]) -> list[dict]:
    """The report's rows. Baselines join every pruned model of the same experiment and large model."""
    base_runs: dict[tuple, list[dict]] = {}
    arms: dict[tuple, dict[str, list[dict]]] = {}
    for r in results:
        lab = r.get("labels") or {}
        regime = lab.get("regime")
        if not regime or lab.get("task"):  # (another task's runs have their own table: report/transfer.py)
            continue
        dataset = lab.get("dataset") or (r.get("settings") or {}).get("data", {}).get("dataset")
        key = (lab.get("experiment", ""), dataset, (lab.get("group") or lab.get("base") or "") + _processes(r),
               r.get("prunelab_version"))
        if regime == "baseline":
            base_runs.setdefault(key, []).append(r)
        else:
            arms.setdefault(key + (lab.get("method"), lab.get("pruned")), {}).setdefault(regime, []).append(r)
    rows = []
    for key in sorted(arms, key=lambda k: tuple(str(x) for x in k)):
        by_arm = {"baseline": base_runs.get(key[:4], []), **arms[key]}
        row = {"experiment": key[0], "dataset": key[1], "model": key[2], "version": key[3], "method": key[4],
               "pruned": key[5], "arms": {}}
        for arm in ["baseline", *arm_regimes(), *sorted(set(by_arm) - set(REGIMES))]:
            rs = sorted(by_arm.get(arm, []), key=lambda r: r["seed"])
            a = stats([r["final_top1"] for r in rs])
            a.update({
                "epochs": _mean(rs, "epochs"), "images_seen": _mean(rs, "images_seen"),
                "train_macs": _mean(rs, "train_macs"), "wall_s": _mean(rs, "wall_s"),
                "values": [r["final_top1"] for r in rs], "run_ids": [r.get("run_id") for r in rs],
                "inits": [r.get("init") for r in rs], **pairing(rs),
            })
            budgets = [(r.get("labels") or {}).get("budget") for r in rs]
            if any(budgets):
                a["budget"] = next(b for b in budgets if b)
                a["budget_epochs"] = stats([b["epochs"] for b in budgets if b])
            row["arms"][arm] = a
        full = by_arm["baseline"]
        pruned_runs = [r for arm, rs in by_arm.items() if arm != "baseline" for r in rs]
        row["params"] = full[0].get("params") if full else None
        row["macs"] = full[0].get("macs") if full else None
        for k in ("params", "macs", "params_nonzero", "macs_nonzero"):
            row[f"pruned_{k}"] = stats(list(_per_seed(pruned_runs, k).values()))
        b, f = row["arms"]["baseline"], row["arms"]["finetune"]
        # an imported baseline's training happened elsewhere: its cost is unknown here, not 0
        both = b["train_macs"] is not None and f["train_macs"] is not None and not any(imported(r) for r in full)
        row["pipeline_train_macs"] = (b["train_macs"] + f["train_macs"]) if both else None
        rows.append(row)
    return rows


def versions(rows: list[dict]) -> list[str]:
    return sorted({str(r.get("version")) for r in rows})


# --- statistics ---------------------------------------------------------------------------------

def describe(name: str, other: str, c: dict) -> str:
    """One line: the difference of means, its 95% CI and p-value, and what that means."""
    s = f"{name} − {other}: {_pts(c['diff'])} points"
    if c.get("note"):
        return f"{s} ({c['note']})"
    s += f", {interval(c)}"
    if c["p"] >= 0.05:
        return s + ": not distinguishable"
    return s + f": {name} {'better' if c['diff'] > 0 else 'worse'}"


def reference(row: dict) -> str | None:
    """The arm the others are compared with: the first arm present of the regimes marked
    ``reference`` (Fine-tuned; a method's pruned model without fine-tuning; Random init in a
    lottery-ticket row)."""
    for arm in (n for n, r in REGIMES.items() if r.reference):
        if row["arms"].get(arm, {}).get("n"):
            return arm
    return None


def comparisons(row: dict) -> list[tuple[str, dict]]:
    """Every arm against the row's reference arm (where both have runs), by report.stats' rule."""
    ref = reference(row)
    if ref is None:
        return []
    f = row["arms"][ref]
    return [(arm, compare_arms(a, f)) for arm, a in row["arms"].items() if arm not in ("baseline", ref) and a["n"]]


def verdicts(row: dict) -> list[str]:
    ref = reference(row)
    return [describe(title(arm), title(ref), c) for arm, c in comparisons(row)]


def uniform_pairs(rows: list[dict]) -> list[tuple[dict, dict]]:
    """(pruned row, the row of its uniformly scaled architecture of equal params): the ``uniform``
    method's rows (``of`` another method) beside the other method's rows (paper Section 5)."""
    rows_by = {(r["experiment"], r["dataset"], r["model"], r["version"], r["pruned"]): r for r in rows}
    pairs = []
    for r in rows:
        cls = registered(r.get("method"))
        source = cls.source_label(str(r["pruned"])) if cls is not None and cls.pairs_with_source else None
        inner = rows_by.get((r["experiment"], r["dataset"], r["model"], r["version"], source))
        if source is not None and inner is not None:
            pairs.append((inner, r))
    return pairs


def uniform_verdicts(rows: list[dict]) -> list[tuple[dict, str]]:
    """Per pair and scratch regime both trained: the pruned architecture against the uniform one."""
    out = []
    for pruned, uniform in uniform_pairs(rows):
        for arm in arm_regimes():
            a, b = pruned["arms"].get(arm) or {}, uniform["arms"].get(arm) or {}
            if a.get("n") and b.get("n"):  # (a uniform model trains from scratch only)
                c = compare_arms(a, b)
                control = getattr(registered(uniform.get("method")), "suffix", "uniform")  # uniform | shuffled
                out.append((pruned, f"{title(arm)}: {describe('pruned', control, c)}"))
    return out


def verdict(row: dict) -> str | None:
    """Did the paper's claim (Scratch-B is at least as good as the pruned model, fine-tuned or as
    the method reports it) hold for this row? None when either arm is missing."""
    ref = reference(row)
    c = dict(comparisons(row)).get("scratch-b") if ref in ("finetune", "pruned") else None
    if c is None:
        return None
    diff = f"Scratch-B {_pts(c['diff'])} points vs {title(ref)}"
    if c.get("note"):
        return f"cannot be judged ({diff}; {c['note']})"
    detail = f"{diff}, {interval(c)}"
    if c["diff"] >= 0:
        return f"held ({detail})"
    if c["p"] >= 0.05:
        return f"held within noise ({detail})"
    return f"did not hold ({detail})"


# --- formats --------------------------------------------------------------------------------------

def fmt_acc(a: dict) -> str:
    if not a or not a["n"]:
        return "missing"
    return f"{100 * a['mean']:.2f} ± {100 * a['std']:.2f} (n={a['n']})"


def _num(v, scale=1.0, digits=2, suffix="") -> str:
    if isinstance(v, dict):  # mean ± std over seeds (found architectures)
        if not v["n"]:
            return "-"
        if v["std"]:
            return f"{v['mean'] / scale:.{digits}f} ± {v['std'] / scale:.{digits}f}{suffix}"
        v = v["mean"]
    return "-" if v is None else f"{v / scale:.{digits}f}{suffix}"


def _model(r: dict, tag_version: bool) -> str:
    return f"{r['model']} [prunelab {r['version']}]" if tag_version else r["model"]


def _row_name(r: dict, ecol: bool, mcol: bool) -> str:
    """A row's name in comparison lines: its pruned model, with the experiment and the method (and
    its settings) where the report holds several."""
    return (f"{r['experiment']}: " if ecol else "") + str(r["pruned"]) + (f" [{r['method']}]" if mcol else "")


STATS_RULE = ("t-test paired by seed where both arms stand on each seed's large model, Welch's otherwise; "
              "each line names its test")


def markdown(rows: list[dict]) -> str:
    if not rows:
        return "No finished runs with regime labels found.\n"
    cols = columns(rows)
    methods = sorted({str(r["method"]) for r in rows})
    tag = len(versions(rows)) > 1
    out = ["Top-1 accuracy (%) on the test set at the final epoch, mean ± sample std over seeds (n = runs).", ""]
    if len(methods) == 1:
        out += [f"Method: {methods[0]}.", ""]
    mcol = len(methods) > 1
    ecol = len({r["experiment"] for r in rows}) > 1  # several experiments (or sweep values): name each row's
    mhead, msep = (" Method |", "---|") if mcol else ("", "")
    out.append(("| Experiment " if ecol else "") + "| Dataset | Model | Unpruned |" + mhead
               + " Pruned model | " + " | ".join(title(c) for c in cols) + " |")
    out.append("|---" * (4 + ecol + mcol + len(cols)) + "|")
    for r in rows:
        A = r["arms"]
        out.append((f"| {r['experiment']} " if ecol else "") + f"| {r['dataset']} | {_model(r, tag)} | {fmt_acc(A['baseline'])} |"
                   + (f" {r['method']} |" if mcol else "") + f" {r['pruned']} | "
                   + " | ".join(fmt_acc(A.get(c)) for c in cols) + " |")
    out += ["", "Size and compute (means per run; found architectures: mean ± std over seeds; "
                "training MACs = forward MACs x 3 x images seen).", ""]
    out.append("| Model |" + mhead + " Pruned model | Params (M) | MACs (M) | Arm | Epochs | Images seen | "
               "Training MACs | Wall (s) |")
    out.append("|---|" + msep + "---|---|---|---|---|---|---|---|")
    for r in rows:
        masked = r["pruned_params_nonzero"]["n"] and r["pruned_params_nonzero"]["mean"] < r["pruned_params"]["mean"]
        method = f" {r['method']} |" if mcol else ""
        for arm in ["baseline", *cols]:
            a = r["arms"].get(arm)
            if arm != "baseline" and (not a or not a["n"]):
                continue
            is_base = arm == "baseline"
            params = _num(r["params"] if is_base else r["pruned_params"], 1e6, 3)
            macs = _num(r["macs"] if is_base else r["pruned_macs"], 1e6, 2)
            if masked and not is_base:  # dense and nonzero side by side: masks alone make nothing faster
                params += f" ({_num(r['pruned_params_nonzero'], 1e6, 3)} nonzero)"
                macs += f" ({_num(r['pruned_macs_nonzero'], 1e6, 2)} nonzero)"
            out.append(f"| {_model(r, tag)} |{method} {r['pruned'] if not is_base else '(unpruned)'} | "
                       f"{params} | "
                       f"{macs} | {title(arm)} | {_num(a['epochs'], digits=0)} | "
                       f"{_num(a['images_seen'], digits=0)} | {_num(a['train_macs'], 1e12, 3, 'T')} | "
                       f"{_num(a['wall_s'], digits=1)} |")
    out += ["", "Compute ledger: the pruning pipeline (pretrain + fine-tune) beside Scratch-B.", ""]
    out.append("| Model |" + mhead + " Pruned model | Scratch-B rule | Pipeline training MACs | Scratch-B training MACs |")
    out.append("|---|" + msep + "---|---|---|---|")
    for r in rows:
        sb = r["arms"].get("scratch-b") or {}
        bud = sb.get("budget")
        rule = "-"
        if bud:
            ep = sb["budget_epochs"]
            epochs = f"{ep['mean']:.0f}" if not ep["std"] else f"{ep['mean']:.1f} ± {ep['std']:.1f}"
            rule = f"{epochs} = {bud['rule']} ({bud['base_epochs']} x {bud['mac_ratio']:.3f}"
            rule += ", per seed)" if ep["std"] else ")"
        out.append(f"| {_model(r, tag)} |" + (f" {r['method']} |" if mcol else "")
                   + f" {r['pruned']} | {rule} | {_num(r['pipeline_train_macs'], 1e12, 3, 'T')} | "
                   f"{_num(sb.get('train_macs'), 1e12, 3, 'T')} |")
    lines = [f"- {_row_name(r, ecol, mcol)}: {v}" for r in rows for v in verdicts(r)]
    if lines:
        refs = sorted({title(reference(r)) for r in rows if reference(r)}, key=lambda t: t != "Fine-tuned")
        out += ["", f"Each arm against {' / '.join(refs)} (the row's reference arm; difference of means, "
                    f"{STATS_RULE}):", "", *lines]
    lines = [f"- {_row_name(r, ecol, mcol)}, {v}" for r, v in uniform_verdicts(rows)]
    if lines:
        out += ["", "Each pruned model against its paired control, trained alike: the uniformly scaled "
                    "architecture of equal params (paper Section 5) or the same mask shuffled within each layer "
                    f"(pruning at initialisation's sanity check); difference of means, {STATS_RULE}:", "", *lines]
    return "\n".join(out) + "\n"


def flat(rows: list[dict]) -> list[dict]:
    cols = ["baseline", *columns(rows)]
    out = []
    for r in rows:
        d = {k: r[k] for k in ("experiment", "dataset", "model", "method", "pruned", "version", "params", "macs",
                               "pipeline_train_macs")}
        for k in ("params", "macs", "params_nonzero", "macs_nonzero"):
            d[f"pruned_{k}"] = r[f"pruned_{k}"]["mean"]
            d[f"pruned_{k}_std"] = r[f"pruned_{k}"]["std"]
        for arm in cols:
            a = r["arms"].get(arm) or stats([])
            for k in ("mean", "std", "n", "epochs", "images_seen", "train_macs", "wall_s"):
                d[f"{arm}_{k}"] = a.get(k)
        ref = reference(r)
        for arm, c in comparisons(r):
            d[f"{arm}_minus_{ref}"] = c["diff"]
            d[f"{arm}_p"] = c["p"]
            d[f"{arm}_test"] = c["test"]
        out.append(d)
    return out


def to_csv(rows: list[dict]) -> str:
    rows_f = flat(rows)
    buf = io.StringIO()
    if rows_f:
        fields = list(dict.fromkeys(k for r in rows_f for k in r))
        w = csv.DictWriter(buf, fieldnames=fields)
        w.writeheader()
        w.writerows(rows_f)
    return buf.getvalue()


def to_json(rows: list[dict]) -> str:
    return json.dumps(rows, indent=2)
