"""gmoe: statistics of softmax-gated Gaussian mixture-of-experts models.

The package is layered:

- :class:`GaussianMoERegressor` (``gmoe._estimator``): the scikit-learn estimator;
- ``gmoe._em`` and ``gmoe._kernels``: the EM algorithm and its compiled kernels;
- :mod:`gmoe.datasets`: synthetic data from a known mixture of experts.
"""

from gmoe._em import LikelihoodDecreaseWarning
from gmoe._estimator import GaussianMoERegressor

__version__ = "0.1.0"

__all__ = [
    "GaussianMoERegressor",
    "LikelihoodDecreaseWarning",
    "__version__",
]
