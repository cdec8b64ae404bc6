"""``report --inits``: how each arm started, from the ``init`` record of its result.json files
(``protocol.inits.record``): per pruned model, the std of every conv/linear weight over its kept
entries and the mean BN scale, per arm, averaged over seeds."""
from __future__ import annotations

import statistics

from .table import columns, title


def _mean_of(records: list[dict], key: str) -> dict[str, float]:
    names = list(dict.fromkeys(n for r in records for n in (r.get(key) or {})))
    return {n: statistics.fmean([r[key][n] for r in records if n in (r.get(key) or {})]) for n in names}


def inits_markdown(rows: list[dict]) -> str:
    if not rows:
        return ""
    out = ["", "How each arm started (result.json `init`): std of each conv/linear weight at step 0 over its "
               "kept entries, and the mean BN scale (gamma), mean over seeds; `-`: a run from before the record.", ""]
    for r in rows:
        arms = [a for a in ["baseline", *columns(rows)] if (r["arms"].get(a) or {}).get("n")]
        recs = {a: [i for i in r["arms"][a].get("inits") or [] if i] for a in arms}
        if not any(recs.values()):
            continue
        kinds = {a: ", ".join(sorted({i["kind"] for i in recs[a]})) or "-" for a in arms}
        std = {a: _mean_of(recs[a], "std") for a in arms}
        gamma = {a: _mean_of(recs[a], "bn_gamma") for a in arms}
        out += [f"{r['experiment']}: {r['pruned']} [{r['method']}]", "",
                "| Weight | " + " | ".join(f"{title(a)} ({kinds[a]})" for a in arms) + " |",
                "|---" * (1 + len(arms)) + "|"]
        for name in dict.fromkeys(n for a in arms for n in std[a]):
            out.append(f"| {name} | " + " | ".join(f"{std[a][name]:.4g}" if name in std[a] else "-" for a in arms)
                       + " |")
        cells = []
        for a in arms:
            g = list(gamma[a].values())
            cells.append(f"{statistics.fmean(g):.4g} ({min(g):.3g}-{max(g):.3g})" if g else "-")
        out += ["| BN scale mean (min-max over layers) | " + " | ".join(cells) + " |", ""]
    return "\n".join(out) + "\n"
