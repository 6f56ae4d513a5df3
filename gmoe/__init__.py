"""gmoe: statistics of Gaussian mixture-of-experts models.

The package is layered:

- :class:`GaussianMoERegressor` (``gmoe.estimator._estimator``): the scikit-learn estimator,
  with the dense softmax gate, the top-K sparse softmax gate (``top_k``) and every
  gate of :mod:`gmoe.gates` (the Gaussian gate ``gate="gaussian"`` among them,
  its maths in ``gmoe.gates._gaussian_maths`` and ``gmoe.gates._gaussian_mixture``), fitted by
  one engine (``gmoe.engine._gated_model``);
- ``gmoe.model._conditional``: the conditional distribution of y given x (predictions,
  density, quantiles, draws), shared by the estimator and the mixing measure;
- ``gmoe.engine._model``, ``gmoe.engine._em``, ``gmoe.engine._newton`` and the compiled kernels
  (``gmoe.kernels._em``, ``gmoe.kernels._hessian``): the likelihood and its solvers;
- :mod:`gmoe.datasets`: synthetic data from a known mixture of experts, and mcycle;
- :class:`MixingMeasure` (``gmoe.theory._measure``, any dense gate), :func:`voronoi_cells`
  and :func:`voronoi_loss` (``gmoe.theory._voronoi``, with ``gmoe.theory._voronoi_atoms`` and
  ``gmoe.theory._voronoi_search``; ``gmoe.theory._voronoi_gaussian`` for the Gaussian gate):
  mixing measures and Voronoi losses;
- :func:`select_n_experts`, :func:`dendrogram`, :func:`merge` and
  :func:`bootstrap_lrt` (``gmoe.selection._selection``, ``gmoe.selection._dendrogram``): how many
  experts;
- :class:`MoEInference` (``gmoe.inference._inference``): standard errors and intervals;
- :func:`routing_diagnostics` (``gmoe.inference._routing``): how the gate uses the experts;
- :mod:`gmoe.simulation` and :mod:`gmoe.plotting`: rate studies and figures.
"""

from gmoe.datasets import N24G_TRUTH_TYPE1, N24G_TRUTH_TYPE2, draw_gaussian_gate_data
from gmoe.engine._em import LikelihoodDecreaseWarning
from gmoe.estimator._estimator import GaussianMoERegressor
from gmoe.estimator._warnings import GateSeparationWarning, SpuriousFitWarning
from gmoe.gates._gaussian_maths import CovarianceFloorWarning, RepresentativeWarning
from gmoe.inference._format import format_summary
from gmoe.inference._inference import InferenceWarning, MoEInference
from gmoe.inference._routing import RoutingDiagnostics, routing_diagnostics
from gmoe.selection._dendrogram import MixingDendrogram, dendrogram, merge
from gmoe.selection._lrt import LikelihoodRatioTest, bootstrap_lrt
from gmoe.selection._selection import ExpertSelection, select_n_experts
from gmoe.selection._split import split_start
from gmoe.theory._measure import MixingMeasure
from gmoe.theory._voronoi import UnknownRbarWarning, voronoi_cells, voronoi_loss
from gmoe.theory._voronoi_gaussian import (
    GaussianGateMixingMeasure,
    gaussian_gate_loss,
    gaussian_gate_voronoi_cells,
)

__version__ = "0.1.0"

__all__ = [
    "CovarianceFloorWarning",
    "ExpertSelection",
    "GateSeparationWarning",
    "GaussianGateMixingMeasure",
    "GaussianMoERegressor",
    "InferenceWarning",
    "LikelihoodDecreaseWarning",
    "LikelihoodRatioTest",
    "MixingDendrogram",
    "MixingMeasure",
    "MoEInference",
    "N24G_TRUTH_TYPE1",
    "N24G_TRUTH_TYPE2",
    "RepresentativeWarning",
    "RoutingDiagnostics",
    "SpuriousFitWarning",
    "UnknownRbarWarning",
    "bootstrap_lrt",
    "dendrogram",
    "draw_gaussian_gate_data",
    "format_summary",
    "gaussian_gate_loss",
    "gaussian_gate_voronoi_cells",
    "merge",
    "routing_diagnostics",
    "select_n_experts",
    "split_start",
    "voronoi_cells",
    "voronoi_loss",
    "__version__",
]
