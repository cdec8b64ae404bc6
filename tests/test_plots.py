"""Plots a reader can trust, checked on the figure objects: dots with CI whiskers inside the axis,
labelled axes with units, layers in network order, titles, legible ticks."""
import pytest

import importlib

plots = importlib.import_module("prunelab.report.plot")


@pytest.fixture
def figures(monkeypatch):
    made = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: made.append(fig) or path)
    return made


def _arm(mean, std, n=3):
    return {"mean": mean, "std": std, "n": n}


def test_the_report_plot_is_dots_with_95_ci_whiskers_inside_the_axis(figures):
    rows = [{"pruned": "p0.3", "arms": {"baseline": _arm(0.88, 0.002), "finetune": _arm(0.87, 0.002),
                                        "scratch-e": _arm(0.80, 0.06), "scratch-b": _arm(0.885, 0.001)}},
            {"pruned": "p0.5", "arms": {"baseline": _arm(0.88, 0.002), "finetune": _arm(0.86, 0.003),
                                        "scratch-e": _arm(0.874, 0.004), "scratch-b": _arm(0.885, 0.003, n=1)}}]
    plots.plot(rows, "x.png")
    ax = figures[0].axes[0]
    assert not ax.patches  # no bars: an axis that does not start at zero cannot inflate them
    lo, hi = ax.get_ylim()
    from scipy.stats import t

    half = 100 * t.ppf(0.975, 2) * 0.06 / 3 ** 0.5  # Scratch-E of p0.3: the widest whisker
    assert lo <= 80 - half and hi >= 80 + half and 0 <= lo and hi <= 100
    assert ax.get_ylabel() == "top-1 accuracy (%)" and ax.get_xlabel() and "95% CI" in ax.get_title()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["p0.3", "p0.5"]
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"Unpruned", "Fine-tuned", "Scratch-E", "Scratch-B"}


def test_the_prune_plot_orders_layers_as_the_network_and_labels_its_axes(figures):
    names = [f"features.{i}" for i in (0, 4, 8, 11, 15, 18, 22, 25)]
    group = {"method": "slimming(lam=0.0001)", "lists": {"gammas": [[0.1, 0.5, 0.01, 0.3]]},
             "scalars": {"threshold": {"mean": 0.05, "n": 1}},
             "per_layer": {"kept": {n: [4] for n in names}, "widths": {n: [8] for n in sorted(names)}}}
    plots.plot_prune([group], "x.png")
    hist, bars = figures[0].axes
    assert [t.get_text() for t in bars.get_xticklabels()] == names
    assert all(t.get_fontsize() >= 7 for t in bars.get_xticklabels())
    for ax in (hist, bars):
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()


def test_the_pattern_plot_keeps_the_units_order_and_has_a_title_and_axis_labels(figures):
    units = ["features.4", "features.11", "features.2"]  # a pattern's own (unit) order, not sorted by name
    pattern = {"level": "layer", "family": "vgg", "source": "s", "ratios": {u: 0.5 for u in units}}
    plots.plot_pattern([pattern], "x.png")
    ax = figures[0].axes[0]
    assert ax.get_title() and ax.get_xlabel() == "channel unit (network order)" and "kept" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == units


def test_network_order_compares_numbers_as_numbers():
    assert plots.network_order(["layer1.10.conv1", "features.11", "layer1.2.conv1", "features.4"]) == \
        ["features.4", "features.11", "layer1.2.conv1", "layer1.10.conv1"]
