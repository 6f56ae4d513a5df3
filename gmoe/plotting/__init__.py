"""Figures of fitted mixtures of experts, Voronoi cells and rate studies."""

from gmoe.plotting._cells import plot_voronoi_cells
from gmoe.plotting._fit import plot_fit
from gmoe.plotting._rates import plot_rate
from gmoe.plotting._routing import plot_routing

__all__ = ["plot_fit", "plot_rate", "plot_voronoi_cells", "plot_routing"]
