"""gmoe: statistics of Gaussian mixture-of-experts models.

The package is layered, bottom to top (``docs/developers.rst``, "How the package
is laid out"):

- ``gmoe.kernels``: the compiled (numba) passes of EM, the log-likelihood and its
  Hessian;
- :mod:`gmoe.gates`: the gates (the Gaussian gate ``gate="gaussian"`` with its
  maths, ``gmoe.gates._gaussian_maths`` and ``gmoe.gates._gaussian_mixture``);
- :mod:`gmoe.datasets`: synthetic data from a known mixture of experts (also of
  the Gaussian gate), and mcycle;
- ``gmoe.model``: the conditional distribution of y given x (predictions,
  density, quantiles, draws), the canonical expert order, the scaling of the
  data;
- ``gmoe.engine``: the likelihood and its solvers, one engine for every gate
  (``gmoe.engine._gated_model``; ``gmoe.engine._model`` for the dense softmax
  gate), EM, the Newton finish and the start search;
- ``gmoe.theory``: :class:`MixingMeasure` (any dense gate),
  :func:`voronoi_cells` and :func:`voronoi_loss`, their Gaussian-gate
  versions, and :class:`SharedRoutedMeasure` with :func:`shared_routed_loss`
  (shared and routed experts): mixing measures and Voronoi losses;
- ``gmoe.inference``: :class:`MoEInference` (standard errors and intervals) and
  :func:`routing_diagnostics` (how the gate uses the experts);
- ``gmoe.estimator``: :class:`GaussianMoERegressor`, the scikit-learn estimator,
  with the dense softmax gate, the top-K sparse softmax gate (``top_k``) and
  every gate of :mod:`gmoe.gates`;
- ``gmoe.selection``: :func:`select_n_experts`, :func:`split_start`,
  :func:`bootstrap_lrt`, :func:`dendrogram` and :func:`merge`: how many experts;
- :mod:`gmoe.simulation` and :mod:`gmoe.plotting`: rate studies and figures;
  ``gmoe.commands``: the ``gmoe`` command line (:mod:`gmoe.cli`).
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
from gmoe.theory._shared_measure import SharedRoutedMeasure
from gmoe.theory._voronoi import UnknownRbarWarning, voronoi_cells, voronoi_loss
from gmoe.theory._voronoi_gaussian import (
    GaussianGateMixingMeasure,
    gaussian_gate_loss,
    gaussian_gate_voronoi_cells,
)
from gmoe.theory._voronoi_shared import SharedRoutedLossResult, shared_routed_loss

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
    "SharedRoutedLossResult",
    "SharedRoutedMeasure",
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
    "shared_routed_loss",
    "split_start",
    "voronoi_cells",
    "voronoi_loss",
    "__version__",
]
