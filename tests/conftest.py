"""Shared fixtures: a synthetic truth with its samples."""

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from gmoe.datasets import N23_TRUTH, make_moe_regression  # noqa: E402

#: A three-expert, two-covariate truth with well separated experts.
TRUTH_3X2 = {
    "gate_intercept": np.array([0.5, -0.5, 0.0]),
    "gate_coef": np.array([[2.0, -1.0], [-2.0, 1.5], [0.0, 0.0]]),
    "expert_intercept": np.array([4.0, -3.0, 0.0]),
    "expert_coef": np.array([[1.0, 2.0], [-2.0, 0.5], [0.0, -1.0]]),
    "expert_variance": np.array([0.25, 0.09, 0.16]),
}


@pytest.fixture(scope="session")
def n23_data():
    """(truth, X, y): 5 000 draws from the [N23] model with X ~ U[0, 1]."""
    X, y = make_moe_regression(5000, N23_TRUTH, random_state=1)
    return N23_TRUTH, X, y


@pytest.fixture(scope="session")
def truth_3x2_data():
    """(truth, X, y): 4 000 draws of a 3-expert model with 2 covariates in [-2, 2]."""
    X, y = make_moe_regression(4000, TRUTH_3X2, low=-2, high=2, random_state=2)
    return TRUTH_3X2, X, y
