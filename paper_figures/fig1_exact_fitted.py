"""Figure 1: exact-fitted D1 against n (k = k0 = 2, the [N23] truth)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from gmoe.plotting import plot_rate  # noqa: E402
from gmoe.simulation import estimate_rate  # noqa: E402
from paper_figures._common import load, quick_flag, save  # noqa: E402

NAME = "fig1_exact_fitted"
#: Slope reported by the official code of [N23] for this figure.
PAPER_SLOPE = -0.638


def rates(results):
    """The rates this figure reports, by label."""
    return {
        "D1 (infimum over translations)": estimate_rate(results, "D1"),
        "D1 (official convention)": estimate_rate(results, "D1_reference"),
    }


def main(quick=False):
    results = load("exact_fitted", quick)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    found = rates(results)
    plot_rate(results, "D1", ax=ax, rate=found["D1 (infimum over translations)"],
              label="D1", theory_slope=-0.5)
    ax.set_title("Exact-fitted k = k0 = 2 ([N23] truth), "
                 f"{results['replication'].nunique()}"
                 f" replications\nofficial code: slope {PAPER_SLOPE}; theory: -0.5")
    return save(fig, NAME, quick), found


if __name__ == "__main__":
    print(main(quick_flag())[0])
