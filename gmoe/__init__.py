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
