"""The report's PNG: accuracy of each regime with error bars, one group per pruned model.
Regimes, titles and colours come from the regime registry."""
from __future__ import annotations

import io
import re
from pathlib import Path

from ..fileio import atomic_write_bytes, find_files
from ..methods import registered
from .table import color, columns, title


def _figure(*args, **kw):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kw)


def _save(fig, path: str | Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def half_ci(a: dict) -> float:
    """Half the width of the 95% confidence interval of an arm's mean (t distribution; 0 for n = 1)."""
    if a["n"] < 2:
        return 0.0
    from scipy.stats import t

    return float(t.ppf(0.975, a["n"] - 1)) * a["std"] / a["n"] ** 0.5


def plot(rows: list[dict], path: str | Path) -> Path:
    """A dot plot: each arm's mean top-1 (%) with its 95% CI over seeds as whiskers, one group per
    pruned model. Dots, not bars: the axis need not start at zero, and every whisker lies inside it."""
    arms = ["baseline", *columns(rows)]
    fig, ax = _figure(figsize=(max(5, 1.8 * len(rows) + 2), 4.2), dpi=120)
    width = 0.8 / len(arms)
    ends = []
    for j, arm in enumerate(arms):
        xs, ys, es = [], [], []
        for i, r in enumerate(rows):
            a = r["arms"].get(arm)
            if a and a["n"]:
                xs.append(i + (j - (len(arms) - 1) / 2) * width)
                ys.append(100 * a["mean"])
                es.append(100 * half_ci(a))
                ends += [ys[-1] - es[-1], ys[-1] + es[-1]]
        if xs:
            ax.errorbar(xs, ys, yerr=es, fmt="o", ms=5, capsize=3, label=title(arm), color=color(arm))
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([f"{r['pruned']}" for r in rows], rotation=15, ha="right", fontsize=8)
    if ends:  # every whisker inside the axis (a t interval of few seeds may reach past 0 or 100%)
        lo, hi = min(ends), max(ends)
        pad = max(0.5, 0.08 * (hi - lo))
        ax.set_ylim(lo - pad, hi + pad)
    ax.grid(axis="y", alpha=0.3)
    ax.set_xlabel("pruned model")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title("Fine-tuned vs training from scratch: mean and 95% CI over seeds", fontsize=10)
    if ax.get_legend_handles_labels()[0]:  # (nothing to draw: a report of no finished arm)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=len(arms), frameon=False)
    return _save(fig, path)


def network_order(names) -> list[str]:
    """Layer names in natural order, numbers compared as numbers (features.4 before features.11):
    network order for VGG and ResNet names; DenseNet's transitions and heads come after its blocks."""
    return sorted(names, key=lambda n: [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", n)])


def plot_prune(groups: list[dict], path: str | Path) -> Path | None:
    """What pruning found, per method and parameters: the distribution of the scores it thresholded
    (e.g. |gamma| of Network Slimming, all seeds, with each seed's threshold) and the kept channels
    per layer (mean ± std over seeds). None when no prune step recorded either."""
    show = [g for g in groups if g["lists"] or ("kept" in g["per_layer"] and "widths" in g["per_layer"])]
    if not show:
        return None
    import numpy as np

    fig, axes = _figure(len(show), 2, figsize=(11, 3.2 * len(show)), dpi=110, squeeze=False)
    for row, g in zip(axes, show):
        ax = row[0]
        for key, vals in g["lists"].items():
            flat = np.abs(np.array([x for v in vals for x in v], dtype=float))
            bins = np.logspace(np.log10(max(flat.min(), 1e-8)), np.log10(max(flat.max(), 1e-7)), 60)
            ax.hist(np.clip(flat, bins[0], None), bins=bins, color="#1f77b4", alpha=0.8, label=f"|{key}|")
            ax.set_xscale("log")
            ax.set_xlabel("|score| (log scale)", fontsize=8)
            ax.set_ylabel("channels (all seeds)", fontsize=8)
        thr = g["scalars"].get("threshold")
        if thr and thr["n"]:
            ax.axvline(max(thr["mean"], 1e-8), color="#d62728", ls="--", label=f"threshold ({thr['mean']:.3g})")
        ax.set_title(g["method"], fontsize=8)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        else:
            ax.axis("off")
        ax = row[1]
        kept, widths = g["per_layer"].get("kept"), g["per_layer"].get("widths")
        if kept and widths:
            names = network_order(widths)
            ratio = [np.array(kept.get(n, [])) / widths[n][0] for n in names]
            ax.bar(range(len(names)), [r.mean() if len(r) else 0 for r in ratio],
                   yerr=[r.std(ddof=1) if len(r) > 1 else 0 for r in ratio], color="#2ca02c", capsize=2)
            ax.set_ylim(0, 1.05)
            ax.set_ylabel("kept fraction of channels", fontsize=8)
            ax.set_xlabel("layer (by name, numbers in order)", fontsize=8)
            step = max(1, len(names) // 24)  # at most about 24 labels: legible, not overlapping
            ax.set_xticks(range(0, len(names), step))
            ax.set_xticklabels(names[::step], rotation=60, ha="right", fontsize=7)
            ax.set_title("kept channels per layer (mean ± std over seeds)", fontsize=8)
        else:
            ax.axis("off")
    return _save(fig, path)


def sparsity(row: dict) -> float | None:
    """The weight sparsity of a row's pruned model (None when it has no masks)."""
    p, nz = row["pruned_params"], row["pruned_params_nonzero"]
    if not p["n"] or not nz["n"] or nz["mean"] >= p["mean"]:
        return None
    return 1 - nz["mean"] / p["mean"]


def plot_sparsity(rows: list[dict], path: str | Path) -> Path | None:
    """Accuracy against weight sparsity, one line per regime with a band of ± one std over seeds, one
    panel per experiment and large model (unstructured pruning, lottery tickets). None without masks."""
    sparse = [r for r in rows if sparsity(r) is not None]
    if not sparse:
        return None
    panels: dict[tuple, list[dict]] = {}
    for r in sparse:
        panels.setdefault((r["experiment"], r["model"], r["method"]), []).append(r)
    fig, axes = _figure(1, len(panels), figsize=(4.5 * len(panels), 3.6), dpi=110, squeeze=False)
    for ax, (key, rs) in zip(axes[0], sorted(panels.items())):
        rs = sorted(rs, key=sparsity)
        xs = [100 * sparsity(r) for r in rs]
        for arm in ["baseline", *columns(rs)]:
            pts = [(x, r["arms"][arm]) for x, r in zip(xs, rs) if r["arms"].get(arm, {}).get("n")]
            if not pts:
                continue
            x = [p[0] for p in pts]
            m = [100 * p[1]["mean"] for p in pts]
            s = [100 * p[1]["std"] for p in pts]
            ax.plot(x, m, marker="o", ms=3, color=color(arm), label=title(arm))
            ax.fill_between(x, [a - b for a, b in zip(m, s)], [a + b for a, b in zip(m, s)], color=color(arm),
                            alpha=0.2)
        ax.set_xlabel("sparsity (% of weights pruned)", fontsize=8)
        ax.set_ylabel("top-1 accuracy (%)", fontsize=8)
        ax.set_title(f"{key[0]}: {key[1]}\naccuracy vs sparsity (mean ± std over seeds)", fontsize=8)
        ax.legend(fontsize=7)
    return _save(fig, path)


def plot_weights(rows: list[dict], root: str | Path, path: str | Path, arms=("finetune", "scratch-e")) -> Path | None:
    """Histograms of the nonzero conv-weight magnitudes of the fine-tuned and the scratch-trained
    models (first seed of each masked row): the paper's appendix figure. None when no row has both."""
    import torch

    from ..models_io import load

    runs = {p.parent.name: p.parent for p in find_files(root, lambda d, f: f == "model.pt")}
    pairs = []
    for r in rows:
        if sparsity(r) is None:
            continue
        ids = [r["arms"].get(a, {}).get("run_ids", [None])[:1] for a in arms]
        if all(i and i[0] in runs for i in ids):
            pairs.append((r, [runs[i[0]] for i in ids]))
    if not pairs:
        return None
    fig, axes = _figure(1, len(pairs), figsize=(4.5 * len(pairs), 3.4), dpi=110, squeeze=False)
    for ax, (r, dirs) in zip(axes[0], pairs):
        for arm, d in zip(arms, dirs):
            model = load(d)
            w = torch.cat([m.weight.detach().abs().flatten() for m in model.modules()
                           if isinstance(m, torch.nn.Conv2d)])
            w = w[w > 0].numpy()
            ax.hist(w, bins=80, histtype="step", color=color(arm), label=title(arm), density=True)
        ax.set_xlabel("|weight| (nonzero conv weights)", fontsize=8)
        ax.set_ylabel("density", fontsize=8)
        ax.set_title(f"{r['pruned']} ({100 * sparsity(r):.0f}% sparse)", fontsize=8)
        ax.legend(fontsize=7)
    return _save(fig, path)


def arm_label(method: str | None) -> str:
    """A row's line in the parameter-efficiency plot: a search method's name (uniform, guided,
    random-widths: ``Method.search``), or pruned (method)."""
    cls = registered(method)
    return (method or "").split("(")[0] if cls is not None and cls.search else f"pruned ({method})"


def _efficiency(method: str | None) -> bool:
    cls = registered(method)
    return cls is not None and cls.efficiency_plot


def plot_efficiency(rows: list[dict], path: str | Path) -> Path | None:
    """Accuracy against params, one line per arm label (pruned, uniform, guided) and regime, with a
    band of ± one std over seeds, one panel per experiment and large model (paper Section 5). None
    when no row is a uniform or guided architecture."""
    panels: dict[tuple, list[dict]] = {}
    for r in rows:
        panels.setdefault((r["experiment"], r["model"]), []).append(r)
    panels = {k: rs for k, rs in panels.items() if any(_efficiency(r["method"]) for r in rs)}
    if not panels:
        return None
    styles = ["-", "--", ":", "-."]
    fig, axes = _figure(1, len(panels), figsize=(5 * len(panels), 3.8), dpi=110, squeeze=False)
    for ax, (key, rs) in zip(axes[0], sorted(panels.items())):
        labels = sorted({arm_label(r["method"]) for r in rs})
        for li, lab in enumerate(labels):
            mine = sorted((r for r in rs if arm_label(r["method"]) == lab and r["pruned_params"]["n"]),
                          key=lambda r: r["pruned_params"]["mean"])
            for ri, arm in enumerate(columns(mine)):
                pts = [(r["pruned_params"]["mean"] / 1e6, r["arms"][arm]) for r in mine
                       if r["arms"].get(arm, {}).get("n")]
                if not pts:
                    continue
                x, m = [p[0] for p in pts], [100 * p[1]["mean"] for p in pts]
                s = [100 * p[1]["std"] for p in pts]
                line, = ax.plot(x, m, marker="o", ms=3, ls=styles[ri % len(styles)], color=f"C{li}",
                                label=f"{lab}: {title(arm)}")
                ax.fill_between(x, [a - b for a, b in zip(m, s)], [a + b for a, b in zip(m, s)],
                                color=line.get_color(), alpha=0.15)
        ax.set_xlabel("parameters (M)", fontsize=8)
        ax.set_ylabel("top-1 accuracy (%)", fontsize=8)
        ax.set_title(f"{key[0]}: {key[1]}\naccuracy vs parameters (mean ± std over seeds)", fontsize=8)
        ax.legend(fontsize=6)
    return _save(fig, path)


def plot_pattern(patterns: list[dict], path: str | Path) -> Path:
    """Kept ratio per unit (layer patterns) or per stage (stage patterns; one panel per level), one
    line per pattern."""
    levels = sorted({p["level"] for p in patterns})
    fig, axes = _figure(1, len(levels), figsize=(8 if levels == ["layer"] else 4.5 * len(levels), 3.6), dpi=110,
                        squeeze=False)
    for ax, level in zip(axes[0], levels):
        names: list[str] = []
        for i, p in enumerate(patterns):
            if p["level"] != level:
                continue
            if level == "stage":
                for j, (kind, rs) in enumerate(sorted(p["ratios"].items())):
                    ax.plot(range(1, len(rs) + 1), rs, marker="o", ls=["-", "--"][j % 2], color=f"C{i}",
                            label=f"{p['source']} ({kind})")
            else:
                keys = list(p["ratios"])
                names = keys if len(keys) > len(names) else names
                ax.plot(range(len(keys)), [p["ratios"][k] for k in keys], marker=".", color=f"C{i}", label=p["source"])
        if level == "stage":
            ax.set_xticks(range(1, 1 + max(len(rs) for p in patterns if p["level"] == level
                                           for rs in p["ratios"].values())))
            ax.set_xlabel("stage", fontsize=8)
        else:
            step = max(1, len(names) // 24)
            ax.set_xticks(range(0, len(names), step))
            ax.set_xticklabels(names[::step], rotation=60, ha="right", fontsize=7)
            ax.set_xlabel("channel unit (network order)", fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("kept ratio of channels", fontsize=8)
        ax.set_title(f"Pruning pattern: kept ratio per {level}", fontsize=9)
        ax.legend(fontsize=6)
    return _save(fig, path)
