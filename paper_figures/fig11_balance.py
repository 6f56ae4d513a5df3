"""Figure 11: a load-balancing penalty on over-fitted fits (ten experts on three
lines, four experts on the two-expert [N23] truth): routing, log-likelihood and
Voronoi loss against ``balance_penalty`` (see :mod:`paper_figures.balance`)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from paper_figures._common import load, quick_flag, save  # noqa: E402

NAME = "fig11_balance"

#: (column, axis label) of the panels.
PANELS = [
    ("effective_experts", "effective number of experts\n(exp entropy of the loads)"),
    ("max_load", "largest load"),
    ("log_likelihood_drop", "log-likelihood lost per sample\n(against alpha = 0)"),
    ("D1", "Voronoi loss D1 against the truth"),
]


def summary(results):
    """Median and quartiles of each panel's column, by case and alpha."""
    results = results.copy()
    base = results[results["alpha"] == 0].set_index(["case", "replication"])
    key = list(zip(results["case"], results["replication"], strict=True))
    results["log_likelihood_drop"] = (
        base.loc[key, "log_likelihood"].to_numpy() - results["log_likelihood"])
    results["converged"] = results["converged"].astype(float)
    columns = [column for column, _ in PANELS] + ["kl_uniform", "converged"]
    grouped = results.groupby(["case", "alpha"])[columns]
    return grouped.median(), grouped.quantile(0.25), grouped.quantile(0.75)


def main(quick=False):
    results = load("balance", quick)
    median, low, high = summary(results)
    cases = list(dict.fromkeys(results["case"]))
    alphas = np.sort(results["alpha"].unique())
    shown = np.where(alphas == 0, alphas[alphas > 0].min() / 3, alphas)
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4 * len(PANELS), 3.6))
    for ax, (column, label) in zip(axes, PANELS, strict=True):
        for index, case in enumerate(cases):
            k = int(results.loc[results["case"] == case, "k"].iloc[0])
            ax.plot(shown, median.loc[case, column], "o-", color=f"C{index}",
                    label=f"{case} (k = {k})")
            ax.fill_between(shown, low.loc[case, column], high.loc[case, column],
                            color=f"C{index}", alpha=0.2)
            if column == "effective_experts":
                ax.axhline(k, color=f"C{index}", ls=":", lw=0.8)
        ax.set_xscale("log")
        if column == "D1":
            ax.set_yscale("log")
        ax.set_xticks(shown)
        ax.set_xticklabels(["0"] + [f"{a:g}" for a in alphas[1:]], fontsize=7,
                           rotation=45)
        ax.set_xlabel("balance_penalty alpha")
        ax.set_ylabel(label, fontsize=9)
    axes[0].legend(fontsize=8)
    n_rep = results["replication"].nunique()
    fig.suptitle(f"Load-balancing penalty KL(P || uniform) on over-fitted fits: "
                 f"median and quartiles over {n_rep} replications (dotted: k)",
                 fontsize=10)
    fig.tight_layout()
    # no rates: the figure is against alpha, not n (nothing for the summary)
    return save(fig, NAME, quick), {}


if __name__ == "__main__":
    quick = quick_flag()
    print(main(quick)[0])
    median = summary(load("balance", quick))[0]
    print(median.to_string(float_format=lambda v: f"{v:.4g}"))
