"""Figure 9: exact-fitted D1 against n for every dense gate (k = k0 = 2, the
[N23] truth with its gate swapped, certified fits; see ``_common.GATE_TRUTHS``)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from gmoe.plotting import plot_rate  # noqa: E402
from gmoe.simulation import estimate_rate  # noqa: E402
from paper_figures._common import GATE_TRUTHS, load, quick_flag, save  # noqa: E402
from paper_figures.fig6_regimes import median_rate  # noqa: E402

NAME = "fig9_gates"


def rates(results):
    """Slopes of mean and median D1 of every gate, by label (with the parametric
    reference -0.5); the median slope is the line of log(median) on log(n) with
    the same bootstrap over replications."""
    found = {}
    for label in GATE_TRUTHS:
        sub = results[results["gate"] == label]
        found[f"D1, {label}"] = (estimate_rate(sub, "D1"), -0.5)
    for label in GATE_TRUTHS:
        sub = results[results["gate"] == label]
        found[f"median D1, {label}"] = (median_rate(sub, "D1"), -0.5)
    return found


def main(quick=False):
    results = load("gates", quick)
    found = rates(results)
    fig, ax = plt.subplots(figsize=(7, 5))
    for index, label in enumerate(GATE_TRUTHS):
        plot_rate(results[results["gate"] == label], "D1", ax=ax,
                  rate=found[f"D1, {label}"][0], label=label, color=f"C{index}",
                  theory_slope=-0.5 if index == 0 else None)
    ax.set_ylabel("mean D1")
    ax.legend(fontsize=7)
    ax.set_title("Exact-fitted k = k0 = 2, the [N23] truth with its gate swapped:\n"
                 f"certified fits, {results['replication'].nunique()} replications "
                 "(dashed: slope -0.5)", fontsize=10)
    return save(fig, NAME, quick), found


if __name__ == "__main__":
    path, found = main(quick_flag())
    print(path)
    for label, (rate, _) in found.items():
        print(f"{label}: {rate.slope:.3f} [{rate.ci[0]:.3f}, {rate.ci[1]:.3f}]")
