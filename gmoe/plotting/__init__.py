"""Figures of fitted mixtures of experts, Voronoi cells and rate studies."""

from gmoe.plotting._fit import plot_fit

__all__ = ["plot_fit"]
