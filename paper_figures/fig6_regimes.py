"""Figure 6: over-fitted D2 against n in four regimes of the same fits (k = 3 and 4).

The over-fitted near-truth study of [N23] on the same data sets and from the same
starts, fitted four ways (``_common.REGIMES``): EM stopped at tol 1e-6 (close to
[N23]'s rule), EM run to 2000 iterations, the certified MLE (Newton until the
gradient vanishes) and the MLE over a compact set (bounded gate slopes and
variances).  Top row: mean D2 over the replications (standard error bars) and the
least-squares line of log(mean) on log(n) over the whole grid, as in [N23]'s code,
with its 95 % bootstrap interval.  Bottom row: median D2 with the band between the
25th and 75th percentiles, and the line of log(median) on log(n).

The two EM regimes run on [N23]'s grid (1e3 to 1e5, 20 replications); the two
MLE regimes on the same sizes continued to 1.29e6, with 40 replications
(``_common.SIZES["large"]``); below 1e5 their first 20 replications fit the same
data sets as the EM regimes.

Also writes ``results/regimes[_quick].md``: the slopes, the share of fits that are
certified stationary points (gradient per sample <= gtol, from
``results/gradient_norms.csv``) and strict local maxima (negative definite Hessian
on the free parameters), the log-likelihood reached and how often the bounds are
active; and the MLE regimes' slopes over the windows of ``WINDOWS``, declared
before their results were seen.
"""

import json
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from gmoe.simulation import estimate_rate  # noqa: E402
from paper_figures import _common  # noqa: E402
from paper_figures._common import (  # noqa: E402
    GATE_BOUND,
    REGIMES,
    VARIANCE_BOUNDS,
    load,
    quick_flag,
    save,
)

NAME = "fig6_regimes"
#: The estimator's default gtol: a fit is a certified stationary point when the
#: largest entry of its projected gradient per sample is at most this.
GTOL = 1e-8
#: Bootstrap of the slopes (as gmoe.simulation.estimate_rate).
N_BOOT = 1000
COLORS = ["tab:orange", "tab:blue", "tab:green", "tab:red"]
#: Windows of the MLE regimes' slopes, besides the whole grid (the headline): the
#: sizes of the EM regimes' grid, for a comparison on the same sizes, and the
#: upper two thirds of the sizes (two decades of the full grid, 12915 to 1.29e6),
#: where an asymptotic rate should show first.  Each maps (the MLE grid's sorted
#: sizes, the EM grid's sorted sizes) to the sizes in the window.
WINDOWS = {"whole grid": lambda sizes, em: sizes,
           "the EM regimes' sizes": lambda sizes, em: sizes[np.isin(sizes, em)],
           "upper two thirds": lambda sizes, em: sizes[len(sizes) // 3:]}
MLE_REGIMES = ("certified_mle", "bounded_mle")


def median_rate(results, column="D2", n_boot=N_BOOT, random_state=0):
    """Least-squares slope of log(median) on log(n), percentile bootstrap interval.

    Each resample draws, for every n, as many replications as there are, with
    replacement (the scheme of ``estimate_rate``).
    """
    sizes = np.sort(results["n"].unique())
    groups = [results.loc[results["n"] == n, column].to_numpy(float) for n in sizes]
    groups = [values[np.isfinite(values)] for values in groups]
    x = np.log(sizes)

    def fit(values):
        slope, intercept = np.polyfit(x, np.log([np.median(v) for v in values]), 1)
        return slope, intercept

    slope, intercept = fit(groups)
    rng = np.random.default_rng(random_state)
    boot = [fit([rng.choice(v, size=v.size) for v in groups])[0]
            for _ in range(n_boot)]
    return SimpleNamespace(
        loss=column, slope=float(slope), intercept=float(intercept),
        ci=tuple(np.percentile(boot, [2.5, 97.5])), sample_sizes=sizes,
        median=np.array([np.median(v) for v in groups]),
        q25=np.array([np.percentile(v, 25) for v in groups]),
        q75=np.array([np.percentile(v, 75) for v in groups]),
        predict=lambda n: np.exp(intercept) * np.asarray(n, float) ** slope)


def bound_activity(results):
    """Per fit: a gate slope at (or beyond) GATE_BOUND, a variance at (or beyond)
    a bound of VARIANCE_BOUNDS (relative tolerance 1e-9)."""
    gate, variance = [], []
    lo, hi = VARIANCE_BOUNDS
    for text in results["params"]:
        params = json.loads(text)
        slopes = np.abs(np.asarray(params["gate_coef"], float))
        var = np.asarray(params["expert_variance"], float)
        gate.append(bool(np.any(slopes >= GATE_BOUND * (1 - 1e-9))))
        variance.append(bool(np.any(var <= lo * (1 + 1e-9))
                             or np.any(var >= hi * (1 - 1e-9))))
    return np.array(gate), np.array(variance)


def gradient_norms(quick):
    path = _common.RESULTS / ("gradient_norms_quick.csv" if quick
                              else "gradient_norms.csv")
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `python -m paper_figures.compute"
                         f"{' --quick' if quick else ''} --only gradient_norms`.")
    return pd.read_csv(path)


def rates(studies):
    """Mean-based (declared, as [N23]) and median-based slopes per regime and k."""
    found = {}
    for k in (3, 4):
        for study, label in REGIMES:
            sub = studies[study][studies[study]["k"] == k]
            found[f"k={k} {label}, mean D2"] = estimate_rate(sub, "D2")
            found[f"k={k} {label}, median D2"] = median_rate(sub)
    return found


def _fmt(value):
    return f"{value:.2f}"


def grid_text(results):
    """``"<sizes> sizes from <min> to <max>, <r> replications"`` of a study."""
    sizes = np.sort(results["n"].unique())
    return (f"{len(sizes)} sizes from {sizes[0]} to {sizes[-1]}, "
            f"{results['replication'].nunique()} replications")


def window_rates(studies):
    """The MLE regimes' median- and mean-D2 slopes over each of ``WINDOWS``."""
    found = {}
    em_sizes = np.sort(studies[REGIMES[0][0]]["n"].unique())
    for k in (3, 4):
        for study in MLE_REGIMES:
            sub = studies[study][studies[study]["k"] == k]
            for window, select in WINDOWS.items():
                part = sub[sub["n"].isin(select(np.sort(sub["n"].unique()), em_sizes))]
                found[(k, study, window)] = (median_rate(part),
                                             estimate_rate(part, "D2"))
    return found


def window_lines(studies):
    """The Markdown table of the MLE regimes' slopes by window."""
    labels = dict(REGIMES)
    lines = ["", "The MLE regimes' slopes by window of the grid (bootstrap over "
             "replications, 95 % intervals; the windows were declared before the "
             "results were seen):", "",
             "| k | regime | window | sizes | slope of median D2 [95 % CI] | "
             "interval width | slope of mean D2 [95 % CI] |",
             "|---|---|---|---|---|---|---|"]
    for (k, study, window), (median, mean) in window_rates(studies).items():
        lines.append(
            f"| {k} | {labels[study]} | {window} | {median.sample_sizes[0]} to "
            f"{median.sample_sizes[-1]} ({len(median.sample_sizes)}) | "
            f"{_fmt(median.slope)} [{_fmt(median.ci[0])}, {_fmt(median.ci[1])}] | "
            f"{median.ci[1] - median.ci[0]:.2f} | {_fmt(mean.slope)} "
            f"[{_fmt(mean.ci[0])}, {_fmt(mean.ci[1])}] |")
    return lines


def table_lines(studies, found, norms):
    """The Markdown tables of ``results/regimes.md``."""
    lines = [
        "Over-fitted near-truth study, four regimes from the same starts: the EM "
        f"regimes on {grid_text(studies[REGIMES[0][0]])}, the MLE regimes on "
        f"{grid_text(studies[MLE_REGIMES[0]])} (the same data sets where the "
        "grids meet); the whole grid in every fit.",
        "",
        "| k | regime | slope of mean D2 [95 % CI] | slope of median D2 [95 % CI] | "
        "median D2 at n = min / max | certified (gradient <= 1e-8) | "
        "certified with a negative definite Hessian (largest eigenvalue per "
        "sample < -1e-10) | solver's `converged` (its own criterion) | "
        "median iterations | median log-lik. gain over "
        "EM tol 1e-6 on the same data (nats) | fits with a gate slope >= 50 | "
        "fits with a variance outside (0.01, 1) or at its bounds |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for k in (3, 4):
        base = studies[REGIMES[0][0]]
        base = base[base["k"] == k].set_index(["n", "replication"])["log_likelihood"]
        for study, label in REGIMES:
            sub = studies[study][studies[study]["k"] == k]
            mean = found[f"k={k} {label}, mean D2"]
            median = found[f"k={k} {label}, median D2"]
            grad = norms[(norms["study"] == study) & (norms["k"] == k)]
            certified = (grad["gradient_norm"] <= GTOL).mean()
            maxima = int(((grad["gradient_norm"] <= GTOL)
                          & (grad["hessian_max_eigenvalue"] < -1e-10)).sum())
            gain = (sub.set_index(["n", "replication"])["log_likelihood"]
                    - base).median()
            gate, variance = bound_activity(sub)
            lines.append(
                f"| {k} | {label} | {_fmt(mean.slope)} [{_fmt(mean.ci[0])}, "
                f"{_fmt(mean.ci[1])}] | {_fmt(median.slope)} [{_fmt(median.ci[0])}, "
                f"{_fmt(median.ci[1])}] | {median.median[0]:.3g} / "
                f"{median.median[-1]:.3g} | "
                f"{int((grad['gradient_norm'] <= GTOL).sum())}/{len(grad)} "
                f"({certified:.1%}; median gradient "
                f"{grad['gradient_norm'].median():.1e}) | "
                f"{maxima}/{len(grad)} | "
                f"{int(sub['converged'].sum())}/{len(sub)} | "
                f"{sub['n_iter'].median():.0f} | "
                f"{gain:.3g} | {gate.sum()} | {variance.sum()} |")
    return lines + window_lines(studies)


def main(quick=False):
    studies = {study: load(study, quick) for study, _ in REGIMES}
    norms = gradient_norms(quick)
    found = rates(studies)
    fig, axes = plt.subplots(2, 2, figsize=(13, 9.5), sharex=True)
    for column, k in enumerate((3, 4)):
        top, bottom = axes[0, column], axes[1, column]
        for color, (_, label) in zip(COLORS, REGIMES, strict=True):
            mean = found[f"k={k} {label}, mean D2"]
            median = found[f"k={k} {label}, median D2"]
            grid = np.geomspace(mean.sample_sizes[0], mean.sample_sizes[-1], 50)
            sem = np.nan_to_num(mean.sem)
            top.errorbar(mean.sample_sizes, mean.mean,
                         yerr=[np.minimum(sem, 0.999 * mean.mean), sem],
                         fmt="o", ms=4, capsize=2, color=color)
            top.plot(grid, mean.predict(grid), "-", color=color, lw=1.5,
                     label=f"{label}: slope {mean.slope:.2f} "
                           f"[{mean.ci[0]:.2f}, {mean.ci[1]:.2f}]")
            bottom.fill_between(median.sample_sizes, median.q25, median.q75,
                                color=color, alpha=0.15, lw=0)
            bottom.plot(median.sample_sizes, median.median, "o", ms=4, color=color)
            bottom.plot(grid, median.predict(grid), "-", color=color, lw=1.5,
                        label=f"{label}: slope {median.slope:.2f} "
                              f"[{median.ci[0]:.2f}, {median.ci[1]:.2f}]")
        for ax, kind in ((top, "mean"), (bottom, "median")):
            anchor = found[f"k={k} {REGIMES[2][1]}, {kind} D2"]
            sizes = anchor.sample_sizes
            middle = np.sqrt(sizes[0] * sizes[-1])
            grid = np.geomspace(sizes[0], sizes[-1], 50)
            ax.plot(grid, anchor.predict(middle) * (grid / middle) ** -0.5, "--",
                    color="grey", lw=1, label="theory: slope -0.5")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.legend(fontsize=7, loc="best")
        top.set_ylabel("mean D2 (bars: standard error)")
        bottom.set_ylabel("median D2 (band: 25th to 75th percentile)")
        bottom.set_xlabel("sample size n")
        top.set_title(f"Over-fitted k = {k}, k0 = 2, near-truth starts: EM "
                      f"{studies[REGIMES[0][0]]['replication'].nunique()}, MLE "
                      f"{studies[MLE_REGIMES[0]]['replication'].nunique()} "
                      "replications,\nwhole grid, no point dropped", fontsize=9)
    fig.tight_layout()
    table = table_lines(studies, found, norms)
    out = _common.RESULTS / ("regimes_quick.md" if quick else "regimes.md")
    out.write_text("\n".join(table) + "\n")
    return save(fig, NAME, quick), found


if __name__ == "__main__":
    print(main(quick_flag())[0])
