"""Figures of fitted mixtures of experts, Voronoi cells and rate studies."""

from gmoe.plotting._fit import plot_fit
from gmoe.plotting._rates import plot_rate

__all__ = ["plot_fit", "plot_rate"]
