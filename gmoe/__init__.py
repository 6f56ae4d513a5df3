"""gmoe: statistics of softmax-gated Gaussian mixture-of-experts models.

The package is layered:

- :class:`GaussianMoERegressor` (``gmoe._estimator``): the scikit-learn estimator;
- ``gmoe._em`` and ``gmoe._kernels``: the EM algorithm and its compiled kernels;
- :mod:`gmoe.datasets`: synthetic data from a known mixture of experts;
- :class:`MixingMeasure` (``gmoe._measure``), :func:`voronoi_cells` and
  :func:`voronoi_loss` (``gmoe._voronoi``): mixing measures and Voronoi losses.
"""

from gmoe._em import LikelihoodDecreaseWarning
from gmoe._estimator import (
    GateSeparationWarning,
    GaussianMoERegressor,
    SpuriousFitWarning,
)
from gmoe._gaussian_gate import (
    N24G_TRUTH_TYPE1,
    N24G_TRUTH_TYPE2,
    CovarianceFloorWarning,
    RepresentativeWarning,
    draw_gaussian_gate_data,
)
from gmoe._measure import MixingMeasure
from gmoe._routing import RoutingDiagnostics, routing_diagnostics
from gmoe._voronoi import UnknownRbarWarning, voronoi_cells, voronoi_loss
from gmoe._voronoi_gaussian import (
    GaussianGateMixingMeasure,
    gaussian_gate_loss,
    gaussian_gate_voronoi_cells,
)

__version__ = "0.1.0"

__all__ = [
    "GateSeparationWarning",
    "GaussianMoERegressor",
    "LikelihoodDecreaseWarning",
    "MixingMeasure",
    "SpuriousFitWarning",
    "UnknownRbarWarning",
    "voronoi_cells",
    "voronoi_loss",
    "RoutingDiagnostics",
    "routing_diagnostics",
    "__version__",
    "CovarianceFloorWarning",
    "GaussianGateMixingMeasure",
    "N24G_TRUTH_TYPE1",
    "N24G_TRUTH_TYPE2",
    "RepresentativeWarning",
    "draw_gaussian_gate_data",
    "gaussian_gate_loss",
    "gaussian_gate_voronoi_cells",
]

from gmoe._inference import (  # noqa: E402
    InferenceWarning,
    MoEInference,
    format_summary,
)

__all__ += ["InferenceWarning", "MoEInference", "format_summary"]
from gmoe._dendrogram import MixingDendrogram, dendrogram, merge  # noqa: E402
from gmoe._selection import (  # noqa: E402
    ExpertSelection,
    LikelihoodRatioTest,
    bootstrap_lrt,
    select_n_experts,
)

__all__ += [
    "ExpertSelection",
    "LikelihoodRatioTest",
    "MixingDendrogram",
    "bootstrap_lrt",
    "dendrogram",
    "merge",
    "select_n_experts",
]
