"""The statistics of every comparison prunelab prints, one rule for ``report`` and ``judge``.

Two arms of a row are compared as the difference of their means with a t-test's 95% confidence
interval and p-value (scipy). The test is **paired by seed** (``ttest_rel``) exactly where the two
arms share, seed by seed, one trained large model — both runs of seed s stand on seed s's large
model (its pruned weights, its mask, or the architecture found in it), the seeds are the same, and
each seed has its own large model; then the large model's seed is a common source of randomness
and pairing removes it. Otherwise (e.g. Scratch-E of a predefined architecture, whose random init
does not depend on any large model) the arms are independent samples and the test is **Welch's**
(``ttest_ind(equal_var=False)``). Each line names its test.
"""
from __future__ import annotations

import statistics
import warnings

TESTS = {"welch": "Welch", "paired": "paired"}


def stats(values: list[float]) -> dict:
    """mean, sample std (n - 1; 0 for a single run) and n."""
    n = len(values)
    if n == 0:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if n > 1 else 0.0, "n": n}


def pairing(runs: list[dict]) -> dict:
    """What pairing needs to know of an arm's runs (sorted by seed): their seeds, the large model
    each stands on (labels ``baseline_run``) and whether all of them depend on it (``from_baseline``)."""
    labels = [r.get("labels") or {} for r in runs]
    return {"seeds": [r["seed"] for r in runs], "baseline_runs": [lab.get("baseline_run") for lab in labels],
            "from_baseline": bool(labels) and all(lab.get("from_baseline") for lab in labels)}


def paired(a: dict, b: dict) -> bool:
    """Whether two arms (``pairing`` dicts) pair by seed: the same seeds, both from each seed's large
    model, and a different large model per seed (one imported model shared by every seed pairs nothing)."""
    runs = a["baseline_runs"]
    return (a["seeds"] == b["seeds"] and a["from_baseline"] and b["from_baseline"] and runs == b["baseline_runs"]
            and None not in runs and len(set(runs)) == len(runs))


def compare(a: list[float], b: list[float], paired: bool = False) -> dict:
    """mean(a) - mean(b) with a t-test p-value and 95% confidence interval (scipy): Welch's
    (``ttest_ind(equal_var=False)``), or with ``paired`` the paired test (``ttest_rel``; a[i] and
    b[i] share a source of randomness, e.g. one seed's trained large model)."""
    if paired and len(a) != len(b):
        raise ValueError("a paired comparison needs one value of each arm per pair")
    out = {"diff": statistics.fmean(a) - statistics.fmean(b), "n": (len(a), len(b)), "p": None, "ci": None,
           "test": "paired" if paired else "welch"}
    if len(a) < 2 or len(b) < 2:
        out["note"] = f"n = {min(len(a), len(b))}: noise cannot be estimated"
        return out
    from scipy import stats as st

    spread = [x - y for x, y in zip(a, b)] if paired else a + b
    if (paired and statistics.stdev(spread) == 0) or (not paired and statistics.stdev(a) == 0
                                                       and statistics.stdev(b) == 0):
        out["note"] = f"no variation {'in the paired differences' if paired else 'within either arm'}: " \
                      "the t-test is undefined"
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nearly identical values: scipy warns, the result stands
        t = st.ttest_rel(a, b) if paired else st.ttest_ind(a, b, equal_var=False)
        ci = t.confidence_interval(0.95)
    out.update(p=float(t.pvalue), ci=(float(ci.low), float(ci.high)))
    return out


def compare_arms(a: dict, b: dict) -> dict:
    """``compare`` of two aggregated arms (``values`` plus ``pairing``'s keys) by the rule above."""
    return compare(a["values"], b["values"], paired=paired(a, b))


def pts(v: float) -> str:
    return f"{100 * v:+.2f}"


def interval(c: dict) -> str:
    """``95% CI [lo, hi], Welch p = 0.0123`` (or ``paired p``) of a comparison with a p-value."""
    lo, hi = c["ci"]
    return f"95% CI [{pts(lo)}, {pts(hi)}], {TESTS[c.get('test', 'welch')]} p = {c['p']:.3g}"
