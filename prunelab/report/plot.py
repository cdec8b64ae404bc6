"""The report's PNG: accuracy of each regime with error bars, one group per pruned model."""
from __future__ import annotations

import io
from pathlib import Path

from ..fileio import atomic_write_bytes

from .table import ARM_TITLES, ARMS


def plot(rows: list[dict], path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5, 1.8 * len(rows) + 2), 4), dpi=120)
    width = 0.8 / len(ARMS)
    colors = {"baseline": "#777777", "finetune": "#1f77b4", "scratch-e": "#ff7f0e", "scratch-b": "#2ca02c"}
    for j, arm in enumerate(ARMS):
        xs, ys, es = [], [], []
        for i, r in enumerate(rows):
            a = r["arms"][arm]
            if a["n"]:
                xs.append(i + (j - 1.5) * width)
                ys.append(100 * a["mean"])
                es.append(100 * a["std"])
        ax.bar(xs, ys, width, yerr=es, capsize=3, label=ARM_TITLES[arm], color=colors[arm])
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([f"{r['pruned']}" for r in rows], rotation=15, ha="right", fontsize=8)
    means = [100 * r["arms"][a]["mean"] for r in rows for a in ARMS if r["arms"][a]["n"]]
    if means:
        lo = min(means)
        ax.set_ylim(max(0, lo - 5), min(100, max(means) + 2))
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title("Fine-tuned vs training from scratch (mean ± std over seeds)", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=len(ARMS), frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)
