"""The report's PNG: accuracy of each regime with error bars, one group per pruned model.
Regimes, titles and colours come from the regime registry."""
from __future__ import annotations

import io
from pathlib import Path

from ..fileio import atomic_write_bytes
from .table import color, columns, title


def plot(rows: list[dict], path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = ["baseline", *columns(rows)]
    fig, ax = plt.subplots(figsize=(max(5, 1.8 * len(rows) + 2), 4), dpi=120)
    width = 0.8 / len(arms)
    for j, arm in enumerate(arms):
        xs, ys, es = [], [], []
        for i, r in enumerate(rows):
            a = r["arms"].get(arm)
            if a and a["n"]:
                xs.append(i + (j - (len(arms) - 1) / 2) * width)
                ys.append(100 * a["mean"])
                es.append(100 * a["std"])
        ax.bar(xs, ys, width, yerr=es, capsize=3, label=title(arm), color=color(arm))
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([f"{r['pruned']}" for r in rows], rotation=15, ha="right", fontsize=8)
    means = [100 * a["mean"] for r in rows for a in r["arms"].values() if a["n"]]
    if means:
        ax.set_ylim(max(0, min(means) - 5), min(100, max(means) + 2))
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title("Fine-tuned vs training from scratch (mean ± std over seeds)", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=len(arms), frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def plot_prune(groups: list[dict], path: str | Path) -> Path | None:
    """What pruning found, per method and parameters: the distribution of the scores it thresholded
    (e.g. |gamma| of Network Slimming, all seeds, with each seed's threshold) and the kept channels
    per layer (mean ± std over seeds). None when no prune step recorded either."""
    show = [g for g in groups if g["lists"] or ("kept" in g["per_layer"] and "widths" in g["per_layer"])]
    if not show:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(len(show), 2, figsize=(11, 3.2 * len(show)), dpi=110, squeeze=False)
    for row, g in zip(axes, show):
        ax = row[0]
        for key, vals in g["lists"].items():
            flat = np.abs(np.array([x for v in vals for x in v], dtype=float))
            bins = np.logspace(np.log10(max(flat.min(), 1e-8)), np.log10(max(flat.max(), 1e-7)), 60)
            ax.hist(np.clip(flat, bins[0], None), bins=bins, color="#1f77b4", alpha=0.8, label=f"|{key}|")
            ax.set_xscale("log")
        thr = g["scalars"].get("threshold")
        if thr and thr["n"]:
            ax.axvline(max(thr["mean"], 1e-8), color="#d62728", ls="--", label=f"threshold ({thr['mean']:.3g})")
        ax.set_title(g["method"], fontsize=8)
        ax.legend(fontsize=7)
        ax = row[1]
        kept, widths = g["per_layer"].get("kept"), g["per_layer"].get("widths")
        if kept and widths:
            names = list(widths)
            ratio = [np.array(kept.get(n, [])) / widths[n][0] for n in names]
            ax.bar(range(len(names)), [r.mean() if len(r) else 0 for r in ratio],
                   yerr=[r.std(ddof=1) if len(r) > 1 else 0 for r in ratio], color="#2ca02c", capsize=2)
            ax.set_ylim(0, 1.05)
            ax.set_ylabel("kept fraction", fontsize=8)
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels(names, rotation=90, fontsize=5)
            ax.set_title("kept channels per layer (mean ± std over seeds)", fontsize=8)
        else:
            ax.axis("off")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)
