"""Figure 10: the top-K sparse softmax gate, exact- and over-fitted (certified fits).

Data from :data:`gmoe.datasets.TOPK_TRUTH` (k0 = 4, d = 2, top-2 gate); the two
regimes of ``_common.TOPK_REGIMES`` fitted on the same data sets.  Left: the
exact-fitted k = 4, top-2, mean and median D1.  Middle: its per-parameter errors
(mean over the replications), the gate parameters (the gate slopes beta_1 and the
weights exp(beta_0)) apart from the expert parameters (a, b, sigma).  Right: the
over-fitted k = 5, top-2 and top-3, mean and median D2.  Every line is the least-squares
line of log(mean) (or log(median)) on log(n) over the whole grid, with a 95 %
percentile bootstrap interval over the replications.

The question behind the middle panel: the top-K likelihood jumps when the K-th and
(K+1)-th gate scores swap, so, as for a change-point, the gate directions that move
a selection boundary may be estimated faster than n^-1/2 (up to n^-1), while the
expert parameters should follow n^-1/2.  The error of a group is the largest over
the experts of the distance between whole vectors, which the slowest direction
decides; the panel therefore also shows the *boundary shift*: for each selection
boundary of the truth (``_common.TOPK_BOUNDARIES``, the lines x_1 = 0.5 and
x_2 = 0.5), the area between it and the fitted line where the same two experts'
scores tie, in [0, 1]^2 (the share of covariates whose top-2 set the shift
changes), averaged over the two boundaries.

Also writes ``results/topk[_quick].md``: the slopes, and per regime and n the
certified fits, the fits with an expert never selected, with an empty Voronoi cell,
the median iterations and fit time, and the mean log-likelihood per sample less
that of the exact fit of the same data set.
"""

import itertools
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gmoe.datasets import TOPK_TRUTH  # noqa: E402
from gmoe.plotting import plot_rate  # noqa: E402
from gmoe.simulation import estimate_rate  # noqa: E402
from paper_figures import _common  # noqa: E402
from paper_figures._common import (  # noqa: E402
    TOPK_BOUNDARIES,
    TOPK_REGIMES,
    load,
    quick_flag,
    save,
)
from paper_figures.fig6_regimes import median_rate  # noqa: E402

NAME = "fig10_topk"
#: Per-parameter error columns of the exact-fitted regime (cells of one atom):
#: group -> (label, part).
GROUPS = {
    "gate_coef": ("gate slopes $\\beta_1$", "gate"),
    "weight": ("gate weights $e^{\\beta_0}$", "gate"),
    "expert_coef": ("expert slopes $a$", "expert"),
    "expert_intercept": ("expert intercepts $b$", "expert"),
    "expert_variance": ("variances $\\sigma$", "expert"),
}


def _abs_integral(a, b):
    """The integral of |a + b t| over t in [0, 1]."""
    if a * (a + b) >= 0:
        return abs(a + b / 2)
    t0 = -a / b
    return (abs(a) * t0 + abs(a + b) * (1 - t0)) / 2


def match_experts(params, truth):
    """Fitted expert matched to each true expert (k = k0): the permutation that
    minimises the summed l1 distance of the experts' (b, a)."""
    fitted = np.column_stack([params["expert_intercept"], params["expert_coef"]])
    true = np.column_stack([truth["expert_intercept"], truth["expert_coef"]])
    return min(itertools.permutations(range(len(true))),
               key=lambda perm: np.abs(fitted[list(perm)] - true).sum())


def boundary_shift(params, truth=TOPK_TRUTH, boundaries=TOPK_BOUNDARIES):
    """Mean area between the true and the fitted selection boundaries in [0, 1]^2.

    For a pair ``(i, j)`` of true experts, the boundary is the line where their
    scores tie, ``c_0 + c^T x = 0`` with ``c_0 = beta_0i - beta_0j`` and ``c =
    beta_1i - beta_1j`` (d = 2); the fitted line is that of the matched fitted
    experts.  Written as ``x_m = -(c_0 + c_o t) / c_m`` along the true line's
    main axis ``m`` (``t = x_o`` in [0, 1]), the area between the lines is the
    integral of the absolute difference of the two ``x_m``.
    """
    params = {key: np.asarray(value, float) for key, value in params.items()}
    truth = {key: np.asarray(value, float) for key, value in truth.items()}
    match = match_experts(params, truth)
    areas = []
    for i, j in boundaries:
        lines = []
        for source, (a, b) in ((truth, (i, j)), (params, (match[i], match[j]))):
            lines.append((source["gate_intercept"][a] - source["gate_intercept"][b],
                          source["gate_coef"][a] - source["gate_coef"][b]))
        main = int(np.argmax(np.abs(lines[0][1])))
        other = 1 - main
        ends = [(-c0 / c[main], -c[other] / c[main]) for c0, c in lines]
        areas.append(_abs_integral(ends[1][0] - ends[0][0], ends[1][1] - ends[0][1]))
    return float(np.mean(areas))


def with_boundary_shift(results):
    """``results`` with the column ``boundary_shift`` (exact-fitted rows only)."""
    shift = [boundary_shift(json.loads(text))
             if name == "exact" and isinstance(text, str) else np.nan
             for name, text in zip(results["regime"], results["params"], strict=True)]
    return results.assign(boundary_shift=shift)


def regime(results, name):
    return results[results["regime"] == name]


def label(name):
    k, top_k, loss = TOPK_REGIMES[name]
    return f"{name} k={k} top-{top_k} {loss}"


def rates(results):
    """Mean and median slopes of each regime's loss, and the exact-fitted errors.

    The reference slope is -1/2 for the exact-fitted loss and the expert errors
    (parametric), none for the gate errors and the over-fitted loss.
    """
    found = {}
    for name, (_k, _top_k, loss) in TOPK_REGIMES.items():
        sub = regime(results, name)
        theory = -0.5 if name == "exact" else None
        found[f"{label(name)}, mean"] = (estimate_rate(sub, loss), theory)
        found[f"{label(name)}, median"] = (median_rate(sub, loss), theory)
    exact = regime(results, "exact")
    for group, (_text, part) in GROUPS.items():
        found[f"exact err_{group}_M1 (mean)"] = (
            estimate_rate(exact, f"err_{group}_M1"),
            -0.5 if part == "expert" else None)
    found["exact boundary shift (mean)"] = (estimate_rate(exact, "boundary_shift"),
                                            None)
    found["exact boundary shift (median)"] = (median_rate(exact, "boundary_shift"),
                                              None)
    return found


def counts_lines(results):
    """Per regime and n: fits, certified, an expert never selected, an empty cell,
    iterations, fit time, and the mean log-likelihood per sample less the exact
    fit's on the same data set."""
    exact = regime(results, "exact").set_index(["n", "replication"])["log_likelihood"]
    lines = ["| regime | n | fits | certified | an expert never selected | "
             "an empty Voronoi cell | median iterations | median fit time (s) | "
             "log-likelihood per sample less the exact fit's (mean) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in TOPK_REGIMES:
        for n, group in regime(results, name).groupby("n"):
            gap = (group["log_likelihood"].to_numpy()
                   - exact.loc[[(n, r) for r in group["replication"]]].to_numpy())
            lines.append(
                f"| {label(name)} | {n} | {len(group)} | "
                f"{int(group['converged'].sum())} | "
                f"{int((group['routing_n_never_used'] > 0).sum())} | "
                f"{int((group['n_empty_cells'] > 0).sum())} | "
                f"{group['n_iter'].median():.0f} | "
                f"{group['fit_time'].median():.2f} | {np.mean(gap) / n:.4f} |")
    return lines


def table(found, results):
    lines = ["| curve | slope | 95 % CI | reference |", "|---|---|---|---|"]
    for key, (rate, theory) in found.items():
        reference = "" if theory is None else f"{theory:g}"
        lines.append(f"| {key} | {rate.slope:.3f} | "
                     f"[{rate.ci[0]:.3f}, {rate.ci[1]:.3f}] | {reference} |")
    return lines + ["", *counts_lines(results)]


def _median_line(ax, rate, color, text):
    ax.plot(rate.sample_sizes, rate.median, "s--", color=color, mfc="none",
            label=f"{text} (slope {rate.slope:.2f})")
    ax.fill_between(rate.sample_sizes, rate.q25, rate.q75, color=color, alpha=0.12)


def main(quick=False):
    results = with_boundary_shift(load("topk", quick))
    found = rates(results)
    fig, axes = plt.subplots(1, 3, figsize=(18, 5.2),
                             gridspec_kw={"wspace": 0.28})
    over = [name for name in TOPK_REGIMES if name != "exact"]
    for ax, names in ((axes[0], ["exact"]), (axes[2], over)):
        for index, name in enumerate(names):
            k, top_k, loss = TOPK_REGIMES[name]
            sub = regime(results, name)
            tag = f"{loss}" if len(names) == 1 else f"{loss}, top-{top_k}"
            plot_rate(sub, loss, ax=ax, rate=found[f"{label(name)}, mean"][0],
                      label=f"mean {tag}", color=f"C{2 * index}",
                      theory_slope=-0.5 if name == "exact" else None)
            _median_line(ax, found[f"{label(name)}, median"][0], f"C{2 * index + 1}",
                         f"median {tag}")
        ax.set_title(f"k = {k}, " + " and ".join(
            f"top-{TOPK_REGIMES[name][1]}" for name in names) + f" gate: {loss}",
            fontsize=10)
        ax.legend(fontsize=7)
    ax = axes[1]
    exact = regime(results, "exact")
    for index, (group, (text, part)) in enumerate(GROUPS.items()):
        plot_rate(exact, f"err_{group}_M1", ax=ax,
                  rate=found[f"exact err_{group}_M1 (mean)"][0],
                  label=f"{text} ({part})", color=f"C{index}", theory_slope=None)
    plot_rate(exact, "boundary_shift", ax=ax,
              rate=found["exact boundary shift (mean)"][0],
              label="boundary shift (area)", color="k", theory_slope=None)
    ns = np.array([exact["n"].min(), exact["n"].max()])
    for slope, style in ((-0.5, "--"), (-1.0, ":")):
        ax.plot(ns, (ns / ns[0]) ** slope, "k" + style, lw=1,
                label=f"$n^{{{slope:g}}}$ (shape only)")
    ax.set_title("k = 4, top-2: per-parameter errors (mean)", fontsize=10)
    ax.set_ylabel("mean error")
    ax.legend(fontsize=6, ncol=2, loc="lower left")
    fig.suptitle(f"Top-K gate, truth TOPK_TRUTH (k0 = 4, top-2): certified fits, "
                 f"{results['replication'].nunique()} replications", fontsize=11)
    out = _common.RESULTS / ("topk_quick.md" if quick else "topk.md")
    out.write_text("\n".join(table(found, results)) + "\n")
    return save(fig, NAME, quick), found


if __name__ == "__main__":
    path, found = main(quick_flag())
    print(path)
    for key, (rate, _) in found.items():
        print(f"{key}: {rate.slope:.3f} [{rate.ci[0]:.3f}, {rate.ci[1]:.3f}]")
