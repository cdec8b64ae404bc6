"""The leaderboard's tables and plot, from the judgements' rows (``report.verdicts.judge_rows``).

One table per setting (large model, target): a row per method with its Fine-tuned top-1 (mean ±
std over seeds), params, MACs and measured latency, and its difference from each baseline with
the 95% CI and p-value of ``report.stats``' rule; the p-values of a setting (every method against
every baseline) are corrected together by Holm's step-down method, and the verdicts use the
corrected ones. Rows are sorted by Fine-tuned top-1.
"""
from __future__ import annotations

import csv
import io

from .stats import pts
from .verdicts import TITLES

ALPHA = 0.05
SHORT = {"scratch-e": "Scratch-E", "scratch-b": "Scratch-B", "uniform": "uniform", "random": "random channels"}
CORRECTION = ("Holm's step-down correction over every comparison of a setting (each method against each "
              "baseline), family-wise error 0.05")


def holm(pvalues: list[float]) -> list[float]:
    """Holm-adjusted p-values (same order): the i-th smallest times (m - i + 1), made monotone, at most 1.
    (SciPy offers only Benjamini-Hochberg; statsmodels would be a dependency for five lines.)"""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    out, running = [0.0] * len(pvalues), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        out[i] = running
    return out


def board_rows(rows: list[dict]) -> list[dict]:
    """Judge rows grouped by setting, with Holm-corrected p-values and a verdict per method."""
    settings: dict[tuple, list[dict]] = {}
    for r in rows:
        settings.setdefault((r["model"], str(r["target"])), []).append(r)
    out = []
    for (model, target), members in sorted(settings.items()):
        comps = [c for r in members for c in r["comparisons"] if c.get("p") is not None]
        for c, p in zip(comps, holm([c["p"] for c in comps])):
            c["p_holm"] = p
        methods = []
        for r in members:
            f = r["arms"].get("finetune") or {}
            vs = {c["baseline"]: c for c in r["comparisons"]}
            methods.append({"method": r["method"], "pruned": r["pruned"], "finetune": f, "vs": vs,
                            "verdict": verdict(vs), "baselines": {k: v for k, v in r["arms"].items()
                                                                  if k not in ("finetune", "unpruned")},
                            "unpruned": r["arms"].get("unpruned")})
        methods.sort(key=lambda m: -(m["finetune"].get("mean") or 0))
        out.append({"model": model, "target": members[0]["target"], "methods": methods, "comparisons": len(comps)})
    return out


def shared(setting: dict) -> dict:
    """The method row whose baselines the setting shows: one of the most common pruned architecture
    (the target's, for predefined targets; a method that finds its own has baselines of its own)."""
    labels = [m["pruned"] for m in setting["methods"]]
    common = max(set(labels), key=labels.count)
    return next(m for m in setting["methods"] if m["pruned"] == common)


def _outcome(c: dict) -> str:
    if c.get("p_holm") is None:
        return "cannot be judged"
    if c["p_holm"] >= ALPHA:
        return "not distinguishable"
    return "better" if c["diff"] > 0 else "worse"


def verdict(vs: dict) -> str:
    """``beats all baselines``, ``worse than ...``, ``no better than scratch``, ``beats ...``, or why not judged."""
    outcomes = {b: _outcome(c) for b, c in vs.items()}
    if not outcomes or all(o == "cannot be judged" for o in outcomes.values()):
        return "cannot be judged (fewer than 2 seeds)"
    if all(o == "better" for o in outcomes.values()):
        return "beats all baselines"
    worse = [SHORT.get(b, b) for b, o in outcomes.items() if o == "worse"]
    if worse:
        return "worse than " + ", ".join(worse)
    beats = [SHORT.get(b, b) for b, o in outcomes.items() if o == "better"]
    if not beats:
        return "not distinguishable from any baseline"
    scratch = [b for b in ("scratch-b", "scratch-e") if b in outcomes]
    if scratch and all(outcomes[b] != "better" for b in scratch):
        return f"no better than scratch (beats {', '.join(beats)})"
    return "beats " + ", ".join(beats) + "; not " + ", ".join(SHORT.get(b, b) for b, o in outcomes.items()
                                                              if o != "better")


def _acc(a: dict) -> str:
    return "missing" if not a or not a.get("n") else f"{100 * a['mean']:.2f} ± {100 * a['std']:.2f}"


def _cmp(c: dict | None) -> str:
    if c is None:
        return "-"
    if c.get("note"):
        return f"{pts(c['diff'])} (n/a)"
    lo, hi = c["ci"]
    return f"{pts(c['diff'])} [{pts(lo)}, {pts(hi)}] p={c['p_holm']:.2g}"


def markdown(board: list[dict], baselines: list[str], title: str) -> str:
    out = [f"# {title}", "", "Top-1 (%) of each method's Fine-tuned arm (mean ± std over seeds), and its difference "
           "from each baseline in points, 95% CI and p-value (t-test paired by seed where both arms stand on each "
           f"seed's large model, Welch's otherwise), p corrected: {CORRECTION}. Latency: median forward time of one "
           "batch, measured side by side in this run.", ""]
    for s in board:
        first = shared(s)
        out += [f"## {s['model']}, target {s['target']} ({len(s['methods'])} methods, {s['comparisons']} comparisons)",
                "", f"Baselines (at {first['pruned']}'s widths): " + ", ".join(f"{TITLES.get(b, b)} {_acc(first['baselines'].get(b))}"
                                              for b in baselines if first["baselines"].get(b))
                + (f"; unpruned {_acc(first['unpruned'])}" if first.get("unpruned") else ""), "",
                "| # | Method | Fine-tuned | Params (M) | MACs (M) | Latency (ms) | "
                + " | ".join(f"vs {SHORT.get(b, b)}" for b in baselines) + " | Verdict |",
                "|" + "---|" * (7 + len(baselines))]
        for i, m in enumerate(s["methods"], 1):
            f = m["finetune"]
            out.append(f"| {i} | {m['method']} | {_acc(f)} | {_n(f.get('params'), 1e6, 3)} | "
                       f"{_n(f.get('macs'), 1e6, 2)} | {_n(f.get('latency_ms'), 1, 2)} | "
                       + " | ".join(_cmp(m["vs"].get(b)) for b in baselines) + f" | {m['verdict']} |")
        out.append("")
    return "\n".join(out)


def _n(v, scale, digits) -> str:
    return "-" if v is None else f"{v / scale:.{digits}f}"


def to_csv(board: list[dict], baselines: list[str]) -> str:
    buf = io.StringIO()
    fields = ["model", "target", "rank", "method", "pruned", "finetune_mean", "finetune_std", "n", "params", "macs",
              "latency_ms"] + [f"{b}_{k}" for b in baselines for k in ("diff", "ci_lo", "ci_hi", "p", "p_holm")] \
        + ["verdict"]
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    for s in board:
        for i, m in enumerate(s["methods"], 1):
            f = m["finetune"]
            row = {"model": s["model"], "target": s["target"], "rank": i, "method": m["method"], "pruned": m["pruned"],
                   "finetune_mean": f.get("mean"), "finetune_std": f.get("std"), "n": f.get("n"),
                   "params": f.get("params"), "macs": f.get("macs"), "latency_ms": f.get("latency_ms"),
                   "verdict": m["verdict"]}
            for b in baselines:
                c = m["vs"].get(b) or {}
                ci = c.get("ci") or (None, None)
                row.update({f"{b}_diff": c.get("diff"), f"{b}_ci_lo": ci[0], f"{b}_ci_hi": ci[1],
                            f"{b}_p": c.get("p"), f"{b}_p_holm": c.get("p_holm")})
            w.writerow(row)
    return buf.getvalue()


def plot(board: list[dict], baselines: list[str], path) -> None:
    """Top-1 against MACs per setting: each method a dot with its 95% CI whisker (t interval over
    seeds), the baselines as open markers; methods at one MACs value are spread sideways by up to
    ±3% of it so that their whiskers do not overlap (the MACs are the table's)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import stats as sps

    def ci(a):
        if not a or a.get("n", 0) < 2:
            return 0.0
        return float(sps.t.ppf(0.975, a["n"] - 1) * a["std"] / a["n"] ** 0.5) * 100

    fig, axes = plt.subplots(1, len(board), figsize=(5.5 * len(board), 4.5), squeeze=False)
    markers = {"scratch-e": "s", "scratch-b": "D", "uniform": "^", "random": "v"}
    names = sorted({m["method"] for s in board for m in s["methods"]})  # one colour per method in every panel
    for ax, s in zip(axes[0], board):
        n = len(s["methods"])
        for i, m in enumerate(s["methods"]):
            f = m["finetune"]
            if not f.get("n"):
                continue
            x = f["macs"] / 1e6 * (1 + 0.06 * ((i + 0.5) / n - 0.5))
            ax.errorbar(x, 100 * f["mean"], yerr=ci(f), fmt="o", ms=5, capsize=3, color=f"C{names.index(m['method']) % 10}",
                        label=m["method"])
        for b in baselines:
            a = shared(s)["baselines"].get(b)
            if a and a.get("n"):
                ax.errorbar(a["macs"] / 1e6, 100 * a["mean"], yerr=ci(a), fmt=markers.get(b, "x"), mfc="none", ms=8,
                            capsize=3, color="black", label=f"{TITLES.get(b, b)} (baseline)")
        ax.set_title(f"{s['model']}, target {s['target']}", fontsize=9)
        ax.set_xlabel("MACs per image (M)")
        ax.set_ylabel("top-1 (%), mean and 95% CI over seeds")
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=6, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
