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
