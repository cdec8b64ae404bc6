"""Training curves from a store: every run's ``metrics.jsonl`` (its per-epoch history), grouped by
arm (experiment, pruned model or architecture, regime) over seeds; train loss and test accuracy
per epoch as the mean with a band of ± one std over the seeds (``prunelab curves``)."""
from __future__ import annotations

import json
import statistics
from pathlib import Path

from ..errors import PrunelabError, warn
from ..fileio import find_files, read_json
from .plot import _figure, _save
from .table import title


def load_runs(root: str | Path, where: dict[str, str] | None = None) -> list[dict]:
    """{"labels", "seed", "history"} of every run under ``root`` with a history, whose labels match
    ``where`` (label -> value; ``seed`` and ``run_id`` too)."""
    root = Path(root)
    if not root.is_dir():
        raise PrunelabError(f"no run store at {root}")
    out = []
    for m in find_files(root, lambda d, f: f == "metrics.jsonl"):
        try:
            s = read_json(m.parent / "settings.json")
            history = [json.loads(line) for line in m.read_text().splitlines() if line.strip()]
            if not isinstance(s, dict) or not all(isinstance(h, dict) and isinstance(h.get("epoch"), int)
                                                  for h in history):
                raise ValueError("not a run's settings and per-epoch history")
            labels = {**(s.get("labels") or {}), "seed": str(s.get("seed")), "run_id": m.parent.name,
                      "arch": (s.get("arch") or {}).get("name", "")}
        except (OSError, ValueError, TypeError, AttributeError, PrunelabError) as e:
            warn(f"curves: skipped {m.parent.name}: its settings.json or metrics.jsonl is damaged ({e})")
            continue
        if history and all(str(labels.get(k)) == v for k, v in (where or {}).items()):
            out.append({"labels": labels, "history": history})
    return out


def arm_of(labels: dict) -> tuple[str, str, str]:
    regime = labels.get("regime", "train")
    if labels.get("task"):  # (a detection setting is not the classification arm of the same name)
        regime = f"{labels['task']} {regime}"
    return (labels.get("experiment", ""), labels.get("pruned") or labels.get("arch", ""), regime)


def curves(runs: list[dict]) -> dict[tuple, dict]:
    """Per arm: epochs and, per metric (train_loss, test_top1 in %), the mean and std over seeds at
    each epoch where at least one run has it."""
    arms: dict[tuple, list[list[dict]]] = {}
    for r in runs:
        arms.setdefault(arm_of(r["labels"]), []).append(r["history"])
    out = {}
    for arm, histories in sorted(arms.items()):
        arm_out = {"seeds": len(histories)}
        for metric, scale in (("train_loss", 1.0), ("test_top1", 100.0)):
            by_epoch: dict[int, list[float]] = {}
            for h in histories:
                for e in h:
                    if isinstance(e.get(metric), (int, float)):
                        by_epoch.setdefault(int(e["epoch"]), []).append(scale * e[metric])
            epochs = sorted(by_epoch)
            arm_out[metric] = {"epoch": epochs, "mean": [statistics.fmean(by_epoch[e]) for e in epochs],
                               "std": [statistics.stdev(by_epoch[e]) if len(by_epoch[e]) > 1 else 0.0 for e in epochs]}
        out[arm] = arm_out
    return out


def plot_curves(runs: list[dict], path: str | Path) -> Path:
    """Two panels (train loss; test top-1 in %), one colour per arm, mean line and ± std band."""
    data = curves(runs)
    if not data:
        raise PrunelabError("no run with a training history to draw (metrics.jsonl)")
    fig, (loss_ax, acc_ax) = _figure(1, 2, figsize=(11, 4), dpi=110)
    for i, (arm, c) in enumerate(data.items()):
        label = f"{arm[1]}: {title(arm[2])} (n={c['seeds']})" + (f" [{arm[0]}]" if len({a[0] for a in data}) > 1 else "")
        for ax, metric in ((loss_ax, "train_loss"), (acc_ax, "test_top1")):
            m = c[metric]
            if not m["epoch"]:
                continue
            if len(m["epoch"]) < 3:  # (a test evaluated at the end only) a point with a whisker, not a band
                ax.errorbar(m["epoch"], m["mean"], yerr=m["std"], fmt="o-", ms=4, capsize=3, color=f"C{i % 10}",
                            label=label)
                continue
            lo = [a - b for a, b in zip(m["mean"], m["std"])]
            hi = [a + b for a, b in zip(m["mean"], m["std"])]
            ax.plot(m["epoch"], m["mean"], marker="o" if len(m["epoch"]) < 30 else None, ms=3, color=f"C{i % 10}",
                    label=label)
            ax.fill_between(m["epoch"], lo, hi, color=f"C{i % 10}", alpha=0.15)
    loss_ax.set(title="Training loss (mean ± std over seeds)", xlabel="epoch", ylabel="cross-entropy loss")
    acc_ax.set(title="Test accuracy (mean ± std over seeds)", xlabel="epoch", ylabel="top-1 accuracy (%)")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
    ax = acc_ax if acc_ax.get_legend_handles_labels()[0] else loss_ax  # (a store without test metrics yet)
    ax.legend(fontsize=7, loc="lower right" if ax is acc_ax else "upper right")
    return _save(fig, path)
