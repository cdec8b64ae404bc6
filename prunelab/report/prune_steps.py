"""The prune steps of a store, for the report: their summaries (``pruned/*.json``: spec, params,
MACs and the method's ``info``) grouped by method and parameters, as text lines per group."""
from __future__ import annotations

import statistics
from pathlib import Path

from ..errors import PrunelabError
from ..fileio import find_files, read_json
from .stats import stats
from .table import _num, _number


def load_prune_steps(root: str | Path, ids: set[str] | None = None) -> list[dict]:
    """The summaries of the prune steps under ``root`` (``pruned/*.json``), optionally only ``ids``."""
    out = []
    for p in find_files(root, lambda d, f: d.name == "pruned" and f.endswith(".json")):
        try:
            s = read_json(p)  # (a damaged summary is left out)
        except PrunelabError:
            continue
        if isinstance(s, dict) and isinstance(s.get("prune"), dict) and isinstance(s.get("info"), dict) \
                and (ids is None or s.get("id") in ids):
            out.append(s)
    return out


def prune_groups(steps: list[dict]) -> list[dict]:
    """Prune steps grouped by method and parameters (one group = the seeds of one arm)."""
    groups: dict[str, list[dict]] = {}
    for s in steps:
        pr = s["prune"]
        params = ", ".join(f"{k}={v}" for k, v in sorted((pr.get("params") or {}).items()))
        params += f" @{pr['code']}" if pr.get("code") else ""  # a plug-in's code: other code, another group
        level = f", level {s['level']}" if s.get("level", 1) > 1 else ""
        origin = f"{s['dataset']} {s['from_arch']}" if "dataset" in s and "from_arch" in s else (s.get("spec") or {}).get("name", "?")
        where = f"{origin}{level}: "
        groups.setdefault(f"{where}{pr.get('method')}({params})", []).append(s)
    out = []
    for key, ss in sorted(groups.items()):
        infos = [s["info"] for s in ss]
        g = {"method": key, "seeds": sorted(s["prune"].get("seed") for s in ss), "n": len(ss), "scalars": {},
             "lists": {}, "per_layer": {}, "params": stats([s["params"] for s in ss]),
             "macs": stats([s["macs_nonzero"] if s.get("masked") else s["macs"] for s in ss])}
        for k in sorted({k for i in infos for k in i}):
            vals = [i[k] for i in infos if k in i]
            if all(_number(v) for v in vals):
                g["scalars"][k] = stats(vals)
            elif all(isinstance(v, list) and all(_number(x) for x in v) for v in vals) and any(vals):
                g["lists"][k] = vals
            elif all(isinstance(v, dict) and all(_number(x) for x in v.values()) for v in vals):
                layers = list(dict.fromkeys(name for v in vals for name in v))
                g["per_layer"][k] = {name: [v[name] for v in vals if name in v] for name in layers}
        out.append(g)
    return out


def prune_markdown(groups: list[dict]) -> str:
    if not groups:
        return ""
    out = ["", "Prune steps (mean ± std over seeds; per method and parameters):", ""]
    for g in groups:
        parts = [f"params {_num(g['params'], 1e6, 3)} M", f"MACs {_num(g['macs'], 1e6, 2)} M"]
        parts += [f"{k} {v['mean']:.4g}" + (f" ± {v['std']:.2g}" if v["std"] else "") for k, v in g["scalars"].items()]
        for k, vals in g["lists"].items():
            flat_vals = [abs(x) for v in vals for x in v]
            if flat_vals:
                small = sum(x < 1e-2 for x in flat_vals) / len(flat_vals)
                parts.append(f"|{k}| median {statistics.median(flat_vals):.3g}, {100 * small:.1f}% below 0.01")
        floor = g["per_layer"].get("floor")
        if floor is not None:
            parts.append("floor acted: " + (", ".join(f"{k} ({len(v)} of {g['n']} seeds)" for k, v in floor.items())
                                            or "nowhere"))
        out.append(f"- {g['method']}, seeds {g['seeds']}: " + "; ".join(parts))
    return "\n".join(out) + "\n"
