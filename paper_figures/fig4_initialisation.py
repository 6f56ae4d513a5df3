"""Figure 4: over-fitted D2 (k = 3) with realistic starts next to near-truth starts."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from gmoe.plotting import plot_rate  # noqa: E402
from gmoe.simulation import estimate_rate  # noqa: E402
from paper_figures._common import STUDIES, load, quick_flag, save  # noqa: E402

NAME = "fig4_initialisation"


def rates(near, realistic):
    return {
        "near-truth start": estimate_rate(near, "D2"),
        "k-means starts": estimate_rate(realistic, "D2"),
    }


def main(quick=False):
    near = load("over_fitted", quick)
    near = near[near["k"] == 3]
    realistic = load("realistic_init", quick)
    found = rates(near, realistic)
    n_init = STUDIES["realistic_init"][1]["n_init"]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    plot_rate(near, "D2", ax=ax, rate=found["near-truth start"],
              label="near-truth start ([N23])", theory_slope=-0.5)
    plot_rate(realistic, "D2", ax=ax, rate=found["k-means starts"],
              label=f"best of {n_init} k-means starts", theory_slope=None)
    ax.set_title("Over-fitted k = 3, k0 = 2: does the start matter?", fontsize=10)
    return save(fig, NAME, quick), found


if __name__ == "__main__":
    print(main(quick_flag())[0])
