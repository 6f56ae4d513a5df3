"""Draw ``readme_fit.png``, the "What you get" figure of README.md.

It fits the model of the README's example (the same data and call) and draws
:func:`gmoe.plotting.plot_fit` with the 90% prediction interval.  Run from the
repository root:

    python docs/_static/make_readme_figure.py

The PNG is committed; tests/test_readme.py checks that it exists and stays small.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gmoe import GaussianMoERegressor  # noqa: E402
from gmoe.datasets import N23_TRUTH, make_moe_regression  # noqa: E402
from gmoe.plotting import plot_fit  # noqa: E402

OUT = Path(__file__).resolve().parent / "readme_fit.png"


def main(path=OUT):
    X, y = make_moe_regression(2000, random_state=0)
    model = GaussianMoERegressor(n_experts=2, random_state=0).fit(X, y)
    fig, axes = plt.subplots(2, 1, figsize=(7, 4.6), sharex=True,
                             gridspec_kw={"height_ratios": [3, 1]})
    plot_fit(model, X, y, true_params=N23_TRUTH, axes=axes, max_points=1500)
    grid = np.linspace(0, 1, 300)[:, None]
    lower, upper = model.predict_interval(grid, coverage=0.9).T
    axes[0].fill_between(grid[:, 0], lower, upper, color="C0", alpha=0.12, lw=0,
                         label="90% interval")
    axes[0].legend(loc="upper right", fontsize=7, ncol=2)
    axes[0].set_title("2000 draws, 2 experts fitted: expert lines, 90% prediction "
                      "interval and gate", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


if __name__ == "__main__":
    print(f"written {main()}")
