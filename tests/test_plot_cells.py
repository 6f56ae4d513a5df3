"""plot_voronoi_cells: draws what it says, on a given or a new Axes."""

import matplotlib
import numpy as np
import pytest
from conftest import TRUTH_3X2
from matplotlib.collections import LineCollection

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from gmoe import MixingMeasure, voronoi_cells, voronoi_loss  # noqa: E402
from gmoe.datasets import N23_TRUTH  # noqa: E402
from gmoe.plotting import plot_voronoi_cells  # noqa: E402


def three_atom_fit():
    """The [N23] truth with its second expert split in two halves, slightly moved."""
    return MixingMeasure(
        gate_intercept=[-8.0, np.log(0.5), np.log(0.5)],
        gate_coef=[[25.0], [0.1], [-0.1]],
        expert_intercept=[15.0, -5.05, -4.95],
        expert_coef=[[-20.0], [20.1], [19.9]],
        expert_variance=[0.09, 0.16, 0.16],
    )


def fitted_lines(ax):
    return [c for c in ax.collections if isinstance(c, LineCollection)
            and str(c.get_gid()).startswith("fitted-")]


def test_one_line_per_fitted_expert_in_its_own_colour_truth_underneath():
    truth = MixingMeasure.from_params(**N23_TRUTH)
    G = three_atom_fit()
    X, y = truth.sample(300, random_state=0)
    fig, ax = plt.subplots()
    out = plot_voronoi_cells(G, truth, X, y, ax=ax)
    assert out is ax
    lines = fitted_lines(ax)
    assert [c.get_gid() for c in lines] == ["fitted-0", "fitted-1", "fitted-2"]
    # Fitted atoms 1 and 2 share the cell of true atom 1, yet have their own
    # colours; the legend names each one's cell.
    assert voronoi_cells(G, truth).tolist() == [0, 1, 1]
    rgb = [tuple(np.round(c.get_colors()[0][:3], 6)) for c in lines]
    assert len(set(rgb)) == 3
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels[:3] == ["fitted 1: cell 1 (1 atom)", "fitted 2: cell 2 (2 atoms)",
                          "fitted 3: cell 2 (2 atoms)"]
    assert all(text.get_fontsize() >= 9 for text in ax.get_legend().get_texts())
    # The true lines, one per true expert, wide and pale, under the fitted ones.
    true = [line for line in ax.get_lines() if str(line.get_gid()).startswith("true-")]
    assert len(true) == 2
    assert all(line.get_zorder() < lines[0].get_zorder() for line in true)
    assert all(line.get_linewidth() > max(lines[0].get_linewidths()) for line in true)
    # Along each fitted line the opacity follows the gate: expert 0 (gate
    # 25 x - 8) is off at x = 0 and on at x = 1.
    alpha = lines[0].get_colors()[:, 3]
    assert alpha[0] < 0.1 < 0.9 < alpha[-1]
    # The title gives both losses.
    d1 = voronoi_loss(G, truth, "D1")
    d2 = voronoi_loss(G, truth, "D2")
    assert f"D1 = {d1:.3g}, D2 = {d2:.3g}" in ax.get_title()
    # The data are drawn.
    assert ax.collections[0].get_offsets().shape == (300, 2)
    plt.close(fig)


def test_new_figure_without_data_and_several_features():
    truth = MixingMeasure.from_params(**TRUTH_3X2)
    ax = plot_voronoi_cells(truth, truth, feature=1, x_range=(-2, 2))
    assert isinstance(ax.figure, matplotlib.figure.Figure)
    assert len(fitted_lines(ax)) == 3
    assert ax.get_xlabel() == "x2"
    assert ax.get_title().endswith("D1 = 0, D2 = 0")
    plt.close(ax.figure)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"feature": 1}, r"feature must be an integer in \[0, 1\)"),
        ({"X": np.zeros((3, 1))}, "give both X and y"),
        ({"X": np.zeros((3, 2)), "y": np.zeros(3)},
         r"X must have shape \(n_samples, 1\)"),
        ({"x_range": (1, 0)}, "x_range must be increasing"),
        ({"x_fixed": [0.0, 1.0]}, r"x_fixed must have shape \(1,\)"),
    ],
)
def test_validation(kwargs, message):
    truth = MixingMeasure.from_params(**N23_TRUTH)
    with pytest.raises(ValueError, match=message):
        plot_voronoi_cells(three_atom_fit(), truth, **kwargs)
    plt.close("all")


def test_plot_fit_draws_truth_under_distinct_fitted_lines():
    from gmoe import GaussianMoERegressor
    from gmoe.plotting import plot_fit

    truth = MixingMeasure.from_params(**N23_TRUTH)
    X, y = truth.sample(400, random_state=0)
    model = GaussianMoERegressor(3, n_init=1, random_state=0).fit(X, y)
    fig = plot_fit(model, X, y, true_params=N23_TRUTH)
    top = fig.axes[0]
    fitted = [line for line in top.get_lines()
              if str(line.get_gid()).startswith("fitted-")]
    true = [line for line in top.get_lines() if str(line.get_gid()).startswith("true-")]
    assert len(fitted) == 3 and len(true) == 2
    assert len({line.get_color() for line in fitted}) == 3
    assert max(line.get_zorder() for line in true) < min(
        line.get_zorder() for line in fitted)
    plt.close(fig)
