"""Figure 3: per-parameter errors inside the multi-atom Voronoi cells.

In a true atom's cell that holds M fitted atoms, the theory of [N23] gives the
rates n^(-1/(2 rbar(M))) for the gate slope beta1 and the expert intercept b, and
n^(-1/rbar(M)) for the expert slope a and the variance sigma: with rbar(2) = 4,
n^(-1/8) and n^(-1/4); with rbar(3) = 6, n^(-1/12) and n^(-1/6).
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gmoe.plotting import plot_rate  # noqa: E402
from gmoe.simulation import estimate_rate  # noqa: E402
from paper_figures._common import load, quick_flag, save  # noqa: E402

NAME = "fig3_per_parameter"
RBAR = {2: 4, 3: 6}
GROUPS = {  # column group -> (label, slow: converges at n^(-1/(2 rbar)))
    "gate_coef": ("gate slope $\\beta_1$", True),
    "expert_intercept": ("expert intercept $b$", True),
    "expert_coef": ("expert slope $a$", False),
    "expert_variance": ("variance $\\sigma$", False),
}


def theory_slope(M, slow):
    return -1 / (2 * RBAR[M]) if slow else -1 / RBAR[M]


def panels(results):
    """(k, M) pairs whose M-atom cells occur at every sample size of the grid."""
    out = []
    for k, M in ((3, 2), (4, 2), (4, 3)):
        sub = results[results["k"] == k]
        column = sub[f"err_expert_intercept_M{M}"]
        if np.all(sub.assign(v=column.notna()).groupby("n")["v"].any()):
            out.append((k, M))
    return out


def rates(results):
    found = {}
    for k, M in panels(results):
        sub = results[results["k"] == k]
        for group, (_label, slow) in GROUPS.items():
            found[f"k={k} M={M} {group}"] = (
                estimate_rate(sub, f"err_{group}_M{M}"), theory_slope(M, slow))
    return found


def main(quick=False):
    results = load("over_fitted", quick)
    chosen = panels(results)
    found = rates(results)
    fig, axes = plt.subplots(1, len(chosen), figsize=(6 * len(chosen), 4.8),
                             squeeze=False)
    for ax, (k, M) in zip(axes[0], chosen, strict=True):
        sub = results[results["k"] == k]
        for group, (label, _slow) in GROUPS.items():
            rate, _ = found[f"k={k} M={M} {group}"]
            plot_rate(sub, f"err_{group}_M{M}", ax=ax, rate=rate, label=label,
                      theory_slope=None)
        for slow, style in ((True, ":"), (False, "--")):
            slope = theory_slope(M, slow)
            ns = np.array([sub["n"].min(), sub["n"].max()])
            ax.plot(ns, (ns / ns[0]) ** slope, "k" + style, lw=1,
                    label=f"theory $n^{{{slope:.3g}}}$ (shape only)")
        ax.set_title(f"k = {k}: cells holding M = {M} fitted atoms", fontsize=10)
        ax.legend(fontsize=7)
    return save(fig, NAME, quick), found


if __name__ == "__main__":
    print(main(quick_flag())[0])
