"""Synthetic data from softmax-gated Gaussian mixtures of experts.

Parameters travel as a dict with the keys ``gate_intercept`` (k,), ``gate_coef``
(k, d), ``expert_intercept`` (k,), ``expert_coef`` (k, d) and ``expert_variance``
(k,): the names of the fitted attributes of
:class:`gmoe.GaussianMoERegressor` without the trailing underscore.  The Gaussian gate
of [N24g] has its own truths (:data:`N24G_TRUTH_TYPE1`, :data:`N24G_TRUTH_TYPE2`) and
samplers (:func:`draw_gaussian_gate_data`, :func:`draw_gaussian_gate_response`).
"""

import numpy as np
from sklearn.utils import check_random_state

from gmoe.gates._gaussian_maths import gaussian_log_gate
from gmoe.gates._sparse import top_k_mask

__all__ = [
    "PARAM_NAMES",
    "N23_TRUTH",
    "TOPK_TRUTH",
    "TOPK_TRUTH_K",
    "draw_covariates",
    "draw_response",
    "make_moe_regression",
    "load_mcycle",
]

#: The five parameter arrays of a mixture of experts, in the package's fixed order.
PARAM_NAMES = (
    "gate_intercept",
    "gate_coef",
    "expert_intercept",
    "expert_coef",
    "expert_variance",
)

#: The true model of the simulations of [N23] (official code): k0 = 2, d = 1.  Gate
#: ``(beta0, beta1)``: expert 1 ``(-8, 25)``, expert 2 ``(0, 0)`` (reference).
#: Experts ``(b, a)``: ``(15, -20)`` and ``(-5, 20)``.  Variances 0.09 and 0.16
#: (standard deviations 0.3 and 0.4).
N23_TRUTH = {
    "gate_intercept": np.array([-8.0, 0.0]),
    "gate_coef": np.array([[25.0], [0.0]]),
    "expert_intercept": np.array([15.0, -5.0]),
    "expert_coef": np.array([[-20.0], [20.0]]),
    "expert_variance": np.array([0.09, 0.16]),
}

#: A truth for the top-K sparse softmax gate: k0 = 4 experts, d = 2 covariates on
#: ``[0, 1]^2``, top-2 gate (:data:`TOPK_TRUTH_K`).  Gate scores ``s_i(x) = 6 u_i .
#: (x - (0.5, 0.5))`` with the directions ``u_i`` = (1, 0), (0, 1), (-1, 0), (0, -1)
#: (stored in reference form, last expert zero): at each x the two experts whose
#: directions are closest to ``x - (0.5, 0.5)`` share the sample, so each of the
#: four corners of the square is served by one pair of neighbouring experts and
#: every expert by two corners.  Experts ``(b, a)``: ``(2, (3, -1))``, ``(-2, (-2,
#: 2))``, ``(0, (4, 4))``, ``(1, (-3, -3))``; variances 0.10, 0.15, 0.08, 0.12.
#: Defined for gmoe's tests and examples (not taken from a paper).
TOPK_TRUTH = {
    "gate_intercept": np.array([-6.0, -6.0, 0.0, 0.0]),
    "gate_coef": np.array([[6.0, 6.0], [0.0, 12.0], [-6.0, 6.0], [0.0, 0.0]]),
    "expert_intercept": np.array([2.0, -2.0, 0.0, 1.0]),
    "expert_coef": np.array([[3.0, -1.0], [-2.0, 2.0], [4.0, 4.0], [-3.0, -3.0]]),
    "expert_variance": np.array([0.10, 0.15, 0.08, 0.12]),
}

#: ``K`` of the top-K gate of :data:`TOPK_TRUTH`.
TOPK_TRUTH_K = 2

DESIGNS = ("uniform", "grid")


def _generator(random_state):
    """A numpy random generator from an int, RandomState, Generator or None."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    return check_random_state(random_state)


def draw_covariates(n_samples, n_features=1, *, design="uniform", low=0.0, high=1.0,
                    random_state=None):
    """Covariates X on the box ``[low, high]^d``.

    Parameters
    ----------
    n_samples : int
    n_features : int, default=1
    design : {"uniform", "grid"}, default="uniform"
        ``"uniform"``: independent uniform draws.  ``"grid"``: ``n_samples``
        equispaced points from ``low`` to ``high`` (``numpy.linspace``, as the
        official code of [N23] does); only for ``n_features == 1``.
    low, high : float, default=0.0, 1.0
    random_state : int, RandomState, Generator or None, default=None

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)

    Examples
    --------
    >>> draw_covariates(3, design="grid").ravel()
    array([0. , 0.5, 1. ])
    """
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS}; got {design!r}.")
    if design == "grid":
        if n_features != 1:
            raise ValueError("design='grid' is defined for n_features=1 only.")
        return np.linspace(low, high, n_samples)[:, None]
    rng = _generator(random_state)
    return rng.uniform(low, high, size=(n_samples, n_features))


def draw_response(params, X, random_state=None, *, top_k=None):
    """Draw y given X from a mixture of experts.

    Each sample first picks an expert with the gate probabilities
    :math:`\\pi_i(x)`, then draws :math:`y \\sim \\mathcal N(a_i^\\top x + b_i,
    \\sigma_i)`.  With ``top_k = K`` the gate is the top-K sparse softmax gate:
    the softmax over the ``K`` largest gate scores of each sample (ties to the
    lower index), 0 for the other experts.

    Parameters
    ----------
    params : dict
        The five parameter arrays (see the module docstring).
    X : ndarray of shape (n_samples, d)
    random_state : int, RandomState, Generator or None, default=None
    top_k : int or None, default=None
        ``K`` of a top-K sparse softmax gate; None for the dense softmax gate.

    Returns
    -------
    y : ndarray of shape (n_samples,)
    experts : ndarray of shape (n_samples,), dtype=int
        The expert each y came from.

    Examples
    --------
    >>> X = draw_covariates(4, design="grid")
    >>> y, experts = draw_response(N23_TRUTH, X, random_state=0)
    >>> experts
    array([1, 1, 0, 0])
    >>> X = draw_covariates(500, 2, random_state=0)
    >>> _, experts = draw_response(TOPK_TRUTH, X, random_state=0, top_k=1)
    >>> scores = X @ TOPK_TRUTH["gate_coef"].T + TOPK_TRUTH["gate_intercept"]
    >>> bool(np.all(experts == scores.argmax(axis=1)))
    True
    """
    rng = _generator(random_state)
    X = np.asarray(X, dtype=float)
    logits = X @ np.asarray(params["gate_coef"]).T + params["gate_intercept"]
    if top_k is not None:
        logits = np.where(top_k_mask(logits, top_k), logits, -np.inf)
    logits -= logits.max(axis=1, keepdims=True)
    means = X @ np.asarray(params["expert_coef"]).T + params["expert_intercept"]
    return _draw_given_gate(np.exp(logits), means,
                            np.asarray(params["expert_variance"]), rng)


def _draw_given_gate(gate, means, variance, rng):
    """Draw an expert per row with probabilities proportional to ``gate`` (n, k),
    then y from that expert's normal (``means`` (n, k), ``variance`` (k,)): the
    uniform draws first, then the normal ones, from ``rng``."""
    n, k = gate.shape
    cumulative = np.cumsum(gate, axis=1)
    u = rng.uniform(size=(n, 1)) * cumulative[:, -1:]
    experts = np.minimum((u > cumulative).sum(axis=1), k - 1)
    mean = means[np.arange(n), experts]
    sd = np.sqrt(variance[experts])
    return mean + sd * rng.standard_normal(n), experts


def make_moe_regression(n_samples=1000, params=None, *, design="uniform", low=0.0,
                        high=1.0, random_state=None, top_k=None):
    """Covariates and responses from a mixture of experts (default: [N23]'s truth).

    Parameters
    ----------
    n_samples : int, default=1000
    params : dict or None, default=None
        True parameters; ``None`` uses :data:`N23_TRUTH`.
    design, low, high : see :func:`draw_covariates`.
    random_state : int, RandomState, Generator or None, default=None
    top_k : int or None, default=None
        ``K`` of a top-K sparse softmax gate (see :func:`draw_response`).

    Returns
    -------
    X : ndarray of shape (n_samples, d)
    y : ndarray of shape (n_samples,)

    Examples
    --------
    >>> X, y = make_moe_regression(100, random_state=0)
    >>> X.shape, y.shape
    ((100, 1), (100,))
    """
    params = N23_TRUTH if params is None else params
    rng = _generator(random_state)
    d = np.asarray(params["gate_coef"]).shape[1]
    X = draw_covariates(n_samples, d, design=design, low=low, high=high,
                        random_state=rng)
    y, _ = draw_response(params, X, rng, top_k=top_k)
    return X, y


def load_mcycle(return_X_y=False):
    """The motorcycle crash-helmet data (R package MASS, ``mcycle``).

    133 accelerations of the head of a test dummy in simulated motorcycle crashes,
    against the time after impact (Silverman 1985, JRSS B 47, 1-52).  The file
    ``gmoe/data/mcycle.csv`` was written from MASS 7.3-58 with R's
    ``write.csv``; MASS is GPL-2 | GPL-3.

    Parameters
    ----------
    return_X_y : bool, default=False
        True: return ``(X, y)`` with X the times, shape (133, 1), and y the
        accelerations.

    Returns
    -------
    data : pandas.DataFrame or tuple
        Columns ``times`` (ms after impact) and ``accel`` (head acceleration, g).

    Examples
    --------
    >>> from gmoe.datasets import load_mcycle
    >>> data = load_mcycle()
    >>> data.shape, list(data.columns)
    ((133, 2), ['times', 'accel'])
    >>> X, y = load_mcycle(return_X_y=True)
    >>> X.shape, float(y.min())
    ((133, 1), -134.0)
    """
    from importlib import resources

    import pandas as pd

    with resources.files("gmoe").joinpath("data/mcycle.csv").open("r") as handle:
        data = pd.read_csv(handle)
    if return_X_y:
        return data[["times"]].to_numpy(dtype=float), data["accel"].to_numpy(
            dtype=float)
    return data


# ------------------------------------------------- the Gaussian gate of [N24g]
#: The Type I truth of the simulations of [N24g] (official code, d = 1, k0 = 3):
#: every gate location is non-zero.
N24G_TRUTH_TYPE1 = {
    "gate_weight": np.array([0.3, 0.4, 0.3]),
    "gate_mean": np.array([[-0.1], [0.1], [0.5]]),
    "gate_covariance": np.array([[[0.042824]], [[0.0175]], [[0.01]]]),
    "expert_intercept": np.array([0.3 + 0.017324 / 0.042824 * 0.1,
                                  -0.4 + 0.0125 / 0.0175 * 0.1, 0.2]),
    "expert_coef": np.array([[0.017324 / 0.042824], [-0.0125 / 0.0175], [0.0]]),
    "expert_variance": np.array([0.0081759 + 0.017324 / 0.042824 * 0.1 * 0.017324,
                                 0.0175 + 0.0125 / 0.0175 * 0.0125, 0.0175]),
}
#: The Type II truth of [N24g]'s code: the first gate location is zero.
N24G_TRUTH_TYPE2 = {
    **N24G_TRUTH_TYPE1,
    "gate_mean": np.array([[0.0], [0.1], [0.5]]),
    "expert_intercept": np.array([0.3, -0.4 + 0.0125 / 0.0175 * 0.1, 0.2]),
    "expert_variance": np.array([0.0081759 - 0.017324 / 0.042824 * 0.017324,
                                 0.0175 + 0.0125 / 0.0175 * 0.0125, 0.0175]),
}

def draw_gaussian_gate_response(params, X, random_state=None):
    """Draw y given X from a Gaussian-gated MoE.

    Parameters
    ----------
    params : dict
        ``gate_weight`` (k,), ``gate_mean`` (k, d), ``gate_covariance``
        (k, d, d), ``expert_intercept`` (k,), ``expert_coef`` (k, d),
        ``expert_variance`` (k,).
    X : ndarray of shape (n, d)
    random_state : int, RandomState, Generator or None

    Returns
    -------
    y : ndarray of shape (n,)
    experts : ndarray of shape (n,), dtype=int

    Examples
    --------
    >>> import numpy as np
    >>> truth = {"gate_weight": np.array([0.5, 0.5]),
    ...          "gate_mean": np.array([[-1.0], [1.0]]),
    ...          "gate_covariance": np.full((2, 1, 1), 0.01),
    ...          "expert_intercept": np.array([0.0, 5.0]),
    ...          "expert_coef": np.zeros((2, 1)), "expert_variance": np.full(2, 1e-4)}
    >>> y, experts = draw_gaussian_gate_response(truth, np.array([[-1.0], [1.0]]), 0)
    >>> experts
    array([0, 1])
    """
    rng = _generator(random_state)
    X = np.asarray(X, dtype=float)
    gate = np.exp(gaussian_log_gate(X, params["gate_weight"], params["gate_mean"],
                                    params["gate_covariance"]))
    cumulative = np.cumsum(gate, axis=1)
    u = rng.uniform(size=(X.shape[0], 1)) * cumulative[:, -1:]
    k = gate.shape[1]
    experts = np.minimum((u > cumulative).sum(axis=1), k - 1)
    means = X @ np.asarray(params["expert_coef"]).T + params["expert_intercept"]
    mean = means[np.arange(X.shape[0]), experts]
    sd = np.sqrt(np.asarray(params["expert_variance"])[experts])
    return mean + sd * rng.standard_normal(X.shape[0]), experts


def draw_gaussian_gate_data(params, n_samples, random_state=None):
    """Draw ``(X, y)`` from the joint model: x from the Gaussian mixture
    ``sum_i pi_i N(c_i, Gamma_i)``, then y given x (the sampler of [N24g]).

    Returns ``X`` (n, d) and ``y`` (n,).

    Examples
    --------
    >>> X, y = draw_gaussian_gate_data(N24G_TRUTH_TYPE1, 5, random_state=0)
    >>> X.shape, y.shape
    ((5, 1), (5,))
    """
    rng = _generator(random_state)
    weight = np.asarray(params["gate_weight"], dtype=float)
    mean = np.asarray(params["gate_mean"], dtype=float)
    chol = np.linalg.cholesky(np.asarray(params["gate_covariance"], dtype=float))
    labels = np.minimum(
        (rng.uniform(size=(n_samples, 1)) > np.cumsum(weight)).sum(axis=1),
        len(weight) - 1)
    z = rng.standard_normal((n_samples, mean.shape[1]))
    X = mean[labels] + np.einsum("nab,nb->na", chol[labels], z)
    y, _ = draw_gaussian_gate_response(params, X, rng)
    return X, y

