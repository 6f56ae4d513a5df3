"""Figure 2: over-fitted D2 against n (k = 3 and 4, the [N23] truth), whole grid."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from gmoe.plotting import plot_rate  # noqa: E402
from gmoe.simulation import estimate_rate  # noqa: E402
from paper_figures._common import load, quick_flag, save  # noqa: E402

NAME = "fig2_over_fitted"
#: Slopes reported by the official code of [N23] (THEORY.md section 6): with no
#: point dropped, and with the smallest sample sizes dropped.
PAPER_SLOPES = {3: "-1.18 (none dropped), -0.51 (10 dropped)",
                4: "-2.48 (none dropped), -0.50 (36 dropped)"}


#: (study, column, label) of each curve.
CURVES = [
    ("over_fitted", "D2", "EM to convergence, D2 (infimum over translations)"),
    ("over_fitted", "D2_reference", "EM to convergence, D2 (official convention)"),
    ("early_stop", "D2", "EM stopped at tol 1e-6, D2 (infimum)"),
]


def rates(studies):
    found = {}
    for k in (3, 4):
        for study, column, label in CURVES:
            sub = studies[study][studies[study]["k"] == k]
            found[f"k={k} {label}"] = estimate_rate(sub, column)
    return found


def main(quick=False):
    studies = {name: load(name, quick) for name in ("over_fitted", "early_stop")}
    found = rates(studies)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    for ax, k in zip(axes, (3, 4), strict=True):
        for index, (study, column, label) in enumerate(CURVES):
            sub = studies[study][studies[study]["k"] == k]
            plot_rate(sub, column, ax=ax, rate=found[f"k={k} {label}"], label=label,
                      theory_slope=-0.5 if index == 0 else None,
                      show_replications=index == 0)
        ax.set_title(f"Over-fitted k = {k}, k0 = 2: whole grid, no point dropped\n"
                     f"official code: {PAPER_SLOPES[k]}", fontsize=9)
        ax.legend(fontsize=7)
    return save(fig, NAME, quick), found


if __name__ == "__main__":
    print(main(quick_flag())[0])
