"""Reproduction of the simulation figures of [N23] with gmoe.

``python -m paper_figures.compute`` recomputes the results (tidy CSV files in
``paper_figures/results/``); ``python -m paper_figures.redraw`` draws every figure
from those files into ``paper_figures/figures/``.  Both take ``--quick`` for a small
preset of the whole pipeline.
"""
