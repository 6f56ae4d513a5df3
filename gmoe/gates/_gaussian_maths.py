"""The maths of the Gaussian gate of [N24g]: conversions, the x-marginal's
normaliser, the closed-form M-step, the reported representative, and data.

The conditional density of a Gaussian-gated mixture of Gaussian linear experts
is

.. math::

    g(y \\mid x) = \\sum_{i=1}^k \\frac{\\pi_i N(x; c_i, \\Gamma_i)}
        {\\sum_l \\pi_l N(x; c_l, \\Gamma_l)} N(y; A_i x + b_i, \\nu_i).

The gate is a softmax over the *quadratic* scores

.. math::

    s_i(x) = \\log \\pi_i - \\tfrac12 \\log |2 \\pi \\Gamma_i|
             - \\tfrac12 (x - c_i)^\\top \\Gamma_i^{-1} (x - c_i)
           = \\theta_i \\cdot \\phi(x),

linear in the block :math:`\\theta_i` of coefficients on the features
:math:`\\phi(x) = (1, x, \\mathrm{quad}(x))` (:func:`augmented_design`), so the
conditional likelihood is that of a softmax gate on :math:`\\phi(x)`, unchanged
when the same quadratic of x is added to every score.  The *joint* likelihood of
``(x, y)`` adds the x-marginal term

.. math::

    M(\\theta) = \\sum_n w_n \\log \\sum_i e^{s_i(x_n)} - W N(\\theta), \\qquad
    N(\\theta) = \\log \\sum_i \\int e^{s_i(x)}\\, dx,

(``W = sum_n w_n``), the log-likelihood of x under the Gaussian mixture with
weights :math:`\\propto \\int e^{s_i}`: the normaliser :math:`N`
(:func:`log_partition`) makes it a function of unconstrained blocks (with
negative definite quadratic parts), invariant to a common constant.  Its
complete-data part :math:`\\sum_n w_n \\sum_i \\tau_{ni} s_i(x_n) - W N(\\theta)`
is maximised in closed form (:func:`gaussian_m_step`: the weighted Gaussian
mixture M-step).  The gate itself is :class:`gmoe.gates.Gaussian`; the fit is
that of every gate (:mod:`gmoe.engine._gated_model`).

References
----------
[N24g] H. Nguyen, T. Nguyen, K. Nguyen, N. Ho, "Towards Convergence Rates for
Parameter Estimation in Gaussian-gated Mixture of Experts", AISTATS 2024.
"""

from functools import lru_cache

import numpy as np
import scipy.special

_LOG_2PI = np.log(2.0 * np.pi)

#: Components whose total responsibility is below this fraction of the total
#: weight keep their parameters in the closed-form M-step (as the experts do).
EMPTY_COMPONENT_FRACTION = 1e-12

#: Floor of the eigenvalues of the gate covariances, in standardised units of x
#: (each feature of variance 1).
COVARIANCE_FLOOR = 1e-6


class CovarianceFloorWarning(UserWarning):
    """A gate covariance of a joint fit is held at its eigenvalue floor.

    The data give a component a (nearly) singular covariance in x, for instance
    a component on fewer than ``d + 1`` distinct points; the floor
    (``COVARIANCE_FLOOR`` times the variance of each feature) keeps the gate
    finite.  Use fewer experts.
    """


class RepresentativeWarning(UserWarning):
    """No Gaussian representative of the fitted conditional gate matches the
    moments of X.

    The conditional likelihood identifies the gate scores only up to a common
    quadratic; gmoe reports the member whose Gaussian mixture on x has the mean
    and second moment of the training X (see
    :func:`moment_matched_representative`).  A gate that (nearly) separates the
    experts, or one far from any Gaussian mixture fit of X, has no such member;
    the closest member found is reported.  The gate function itself
    (``predict_gate``) is not affected.
    """


# ----------------------------------------------------------------- features
@lru_cache(maxsize=None)
def _triu(d):
    """Rows and columns of the upper triangle of a d x d matrix (row-major), the
    order of :func:`quadratic_features`."""
    rows, cols = np.triu_indices(d)
    rows.flags.writeable = cols.flags.writeable = False
    return rows, cols


def quadratic_features(X):
    """The quadratic monomials ``x_a x_b`` (``a <= b``, row-major upper triangle).

    Parameters
    ----------
    X : ndarray of shape (n, d)

    Returns
    -------
    Q : ndarray of shape (n, d (d + 1) / 2)

    Examples
    --------
    >>> import numpy as np
    >>> quadratic_features(np.array([[1.0, 2.0]]))
    array([[1., 2., 4.]])
    """
    X = np.asarray(X, dtype=float)
    rows, cols = _triu(X.shape[1])
    return X[:, rows] * X[:, cols]


def augmented_design(X):
    """The design ``[1, x, quad(x)]`` of the quadratic softmax gate, (n, P).

    ``P = 1 + d + d (d + 1) / 2``.

    Examples
    --------
    >>> import numpy as np
    >>> augmented_design(np.array([[2.0]]))
    array([[1., 2., 4.]])
    """
    X = np.asarray(X, dtype=float)
    return np.ascontiguousarray(
        np.column_stack([np.ones(X.shape[0]), X, quadratic_features(X)]))


def _quad_matrix(q, d):
    """Symmetric M with ``x^T M x = q . quad(x)`` for rows ``q`` (..., m)."""
    rows, cols = _triu(d)
    M = np.zeros(q.shape[:-1] + (d, d))
    M[..., rows, cols] = q
    return 0.5 * (M + np.swapaxes(M, -1, -2))


def _quad_vector(M):
    """Inverse of :func:`_quad_matrix`: coefficients of ``quad(x)``, (..., m)."""
    d = M.shape[-1]
    rows, cols = _triu(d)
    factor = np.where(rows == cols, 1.0, 2.0)
    return M[..., rows, cols] * factor


# -------------------------------------------------------------- conversions
def gaussian_log_scores(X, weight, mean, covariance):
    """Scores ``log pi_i + log N(x_n; c_i, Gamma_i)`` of the Gaussian gate.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    weight : ndarray of shape (k,)
    mean : ndarray of shape (k, d)
    covariance : ndarray of shape (k, d, d)

    Returns
    -------
    scores : ndarray of shape (n, k)
        Their log-softmax over ``k`` is the log gate; their log-sum-exp is the
        log density of x under the Gaussian mixture.

    Examples
    --------
    >>> import numpy as np
    >>> s = gaussian_log_scores(np.zeros((1, 1)), np.array([1.0]), np.zeros((1, 1)),
    ...                         np.ones((1, 1, 1)))
    >>> bool(np.isclose(s[0, 0], -0.5 * np.log(2 * np.pi)))
    True
    """
    X = np.asarray(X, dtype=float)
    d = X.shape[1]
    covariance = np.asarray(covariance, dtype=float)
    chol = np.linalg.cholesky(covariance)
    precision = np.linalg.inv(covariance)
    diff = X[:, None, :] - np.asarray(mean)[None, :, :]
    maha = np.einsum("nia,iab,nib->ni", diff, precision, diff)
    logdet = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    with np.errstate(divide="ignore"):
        log_weight = np.log(weight)
    return (log_weight - 0.5 * (d * _LOG_2PI + logdet)
            - 0.5 * maha)


def gaussian_log_gate(X, weight, mean, covariance):
    """Log gate probabilities of the Gaussian gate, (n, k); rows log-sum to 0.

    Examples
    --------
    >>> import numpy as np
    >>> g = gaussian_log_gate(np.zeros((1, 1)), np.array([0.5, 0.5]),
    ...                       np.array([[-1.0], [1.0]]), np.ones((2, 1, 1)))
    >>> np.exp(g).round(3)
    array([[0.5, 0.5]])
    """
    scores = gaussian_log_scores(X, weight, mean, covariance)
    return scipy.special.log_softmax(scores, axis=1)


def gaussian_to_quadratic(weight, mean, covariance):
    """Rows of quadratic scores of a Gaussian gate on ``[1, x, quad(x)]``.

    Row ``i`` holds the coefficients of :math:`s_i(x) = \\log \\pi_i - \\frac12
    \\log|2\\pi\\Gamma_i| - \\frac12 (x - c_i)^\\top \\Gamma_i^{-1} (x - c_i)` on
    :func:`augmented_design`, so that ``augmented_design(X) @ rows.T`` equals
    :func:`gaussian_log_scores`.

    Parameters
    ----------
    weight : ndarray of shape (k,)
    mean : ndarray of shape (k, d)
    covariance : ndarray of shape (k, d, d)

    Returns
    -------
    rows : ndarray of shape (k, 1 + d + d (d + 1) / 2)

    Examples
    --------
    >>> import numpy as np
    >>> gaussian_to_quadratic(np.array([1.0]), np.array([[1.0]]),
    ...                       np.array([[[1.0]]])).round(4)
    array([[-1.4189,  1.    , -0.5   ]])
    """
    mean = np.asarray(mean, dtype=float)
    covariance = np.asarray(covariance, dtype=float)
    d = mean.shape[1]
    precision = np.linalg.inv(covariance)
    _, logdet = np.linalg.slogdet(covariance)
    linear = np.einsum("iab,ib->ia", precision, mean)
    const = (np.log(weight) - 0.5 * (d * _LOG_2PI + logdet)
             - 0.5 * np.einsum("ia,ia->i", linear, mean))
    return np.column_stack([const, linear, _quad_vector(-0.5 * precision)])


def quadratic_to_gaussian(rows):
    """Gaussian gate parameters of quadratic scores with negative definite parts.

    The inverse of :func:`gaussian_to_quadratic` up to the total mass: the
    weights are normalised to sum to 1 (a common constant added to every score,
    which does not change the gate).

    Parameters
    ----------
    rows : ndarray of shape (k, 1 + d + d (d + 1) / 2)

    Returns
    -------
    weight : ndarray of shape (k,)
    mean : ndarray of shape (k, d)
    covariance : ndarray of shape (k, d, d)
    log_mass : float
        ``log sum_i integral exp(s_i(x)) dx``, the constant removed.

    Raises
    ------
    ValueError
        When a quadratic part is not negative definite (no Gaussian
        representative; add a common quadratic first, see
        :func:`moment_matched_representative`).

    Examples
    --------
    >>> import numpy as np
    >>> rows = gaussian_to_quadratic(np.array([0.3, 0.7]), np.array([[0.0], [1.0]]),
    ...                              np.array([[[1.0]], [[2.0]]]))
    >>> w, c, G, _ = quadratic_to_gaussian(rows)
    >>> w.round(6), c.ravel().round(6), G.ravel().round(6)
    (array([0.3, 0.7]), array([0., 1.]), array([1., 2.]))
    """
    rows = np.asarray(rows, dtype=float)
    d = _n_features_of(rows.shape[1])
    const, linear, quad = rows[:, 0], rows[:, 1:1 + d], rows[:, 1 + d:]
    precision = -2.0 * _quad_matrix(quad, d)
    eig = np.linalg.eigvalsh(precision)
    if np.any(eig <= 0):
        raise ValueError(
            "a quadratic score is not concave (its quadratic part is not negative "
            "definite), so it has no Gaussian representative; add a common "
            "quadratic to every score first.")
    covariance = np.linalg.inv(precision)
    covariance = 0.5 * (covariance + np.swapaxes(covariance, 1, 2))
    mean = np.einsum("iab,ib->ia", covariance, linear)
    _, logdet = np.linalg.slogdet(covariance)
    log_w = const + 0.5 * (d * _LOG_2PI + logdet) + 0.5 * np.einsum(
        "ia,ia->i", linear, mean)
    top = log_w.max()
    log_mass = float(top + np.log(np.exp(log_w - top).sum()))
    return np.exp(log_w - log_mass), mean, covariance, log_mass


@lru_cache(maxsize=None)
def _n_features_of(P):
    """d from ``P = 1 + d + d (d + 1) / 2``."""
    d = int(round((-3 + np.sqrt(9 + 8 * (P - 1))) / 2))
    if 1 + d + d * (d + 1) // 2 != P:
        raise ValueError(f"{P} columns is not 1 + d + d (d + 1) / 2 for any d.")
    return d



def n_gaussian_gate_parameters(k, d, likelihood):
    """Free parameters of a Gaussian-gated MoE with k experts and d features.

    ``"joint"``: the Gaussian mixture on x, ``(k - 1) + k d + k d (d + 1) / 2``,
    plus the experts' ``k (d + 2)``.  ``"conditional"``: the quadratic softmax
    gate in reference form, ``(k - 1)(1 + d + d (d + 1) / 2)`` (the mixture's
    count minus the ``d + d (d + 1) / 2`` directions of the translation
    invariance), plus the experts' ``k (d + 2)``.

    Examples
    --------
    >>> n_gaussian_gate_parameters(3, 1, "joint"), n_gaussian_gate_parameters(
    ...     3, 1, "conditional")
    (17, 15)
    """
    from gmoe.gates import Gaussian

    return Gaussian(likelihood).n_parameters(k, d) + k * (d + 2)
