"""Gaussian-gated mixture of Gaussian linear experts [N24g].

The conditional density is

.. math::

    g(y \\mid x) = \\sum_{i=1}^k \\frac{\\pi_i N(x; c_i, \\Gamma_i)}
        {\\sum_l \\pi_l N(x; c_l, \\Gamma_l)} N(y; A_i x + b_i, \\nu_i).

The gate is a softmax over the *quadratic* scores

.. math::

    s_i(x) = \\log \\pi_i - \\tfrac12 \\log |2 \\pi \\Gamma_i|
             - \\tfrac12 (x - c_i)^\\top \\Gamma_i^{-1} (x - c_i),

so it is a softmax gate on the features ``(1, x, upper triangle of x x^T)``
(:func:`quadratic_features`), and the conditional likelihood is unchanged when
the same quadratic function of x is added to every score: ``(pi, c, Gamma)`` are
identified by the conditional likelihood only up to that translation.  This
module holds

- the conversions between Gaussian gate parameters and rows of quadratic
  scores (:func:`gaussian_to_quadratic`, :func:`quadratic_to_gaussian`) and the
  representative of a class of scores that gmoe reports
  (:func:`moment_matched_representative`);
- the closed-form EM of the *joint* likelihood of ``(X, y)`` (a Gaussian mixture
  on x with linear Gaussian experts, the GLLiM-style EM of [N24g]'s code;
  :func:`run_joint_em`);
- :class:`GaussianGateMoE`, the conditional-likelihood model on the augmented
  design ``[1, x, quad(x)]``: the softmax machinery of :mod:`gmoe._model` with the
  experts' coefficients on the quadratic columns held at zero;
- :func:`fit_gaussian_gate`, the fit behind ``GaussianMoERegressor(gate="gaussian")``.

References
----------
[N24g] H. Nguyen, T. Nguyen, K. Nguyen, N. Ho, "Towards Convergence Rates for
Parameter Estimation in Gaussian-gated Mixture of Experts", AISTATS 2024.
"""

import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.special

from gmoe._model import MoEParams, SoftmaxGaussianMoE, m_step_experts
from gmoe._order import improves, rank_fits

_LOG_2PI = np.log(2.0 * np.pi)

#: Components whose total responsibility is below this fraction of the total
#: weight keep their parameters in the joint M-step (as the experts do).
EMPTY_COMPONENT_FRACTION = 1e-12

#: A decrease of the mean joint log-likelihood beyond this is reported.
DECREASE_TOLERANCE = 1e-9


class CovarianceFloorWarning(UserWarning):
    """A gate covariance was held at its eigenvalue floor (``reg_covariance``).

    The data give a component a (nearly) singular covariance in x, for instance
    a constant feature or a component on fewer than ``d + 1`` distinct points;
    the floor keeps the gate finite.  Remove constant features, or use fewer
    experts.
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
    rows, cols = np.triu_indices(X.shape[1])
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
    rows, cols = np.triu_indices(d)
    M = np.zeros(q.shape[:-1] + (d, d))
    M[..., rows, cols] = q
    return 0.5 * (M + np.swapaxes(M, -1, -2))


def _quad_vector(M):
    """Inverse of :func:`_quad_matrix`: coefficients of ``quad(x)``, (..., m)."""
    d = M.shape[-1]
    rows, cols = np.triu_indices(d)
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


def _n_features_of(P):
    """d from ``P = 1 + d + d (d + 1) / 2``."""
    d = int(round((-3 + np.sqrt(9 + 8 * (P - 1))) / 2))
    if 1 + d + d * (d + 1) // 2 != P:
        raise ValueError(f"{P} columns is not 1 + d + d (d + 1) / 2 for any d.")
    return d


def _mixture_moments(weight, mean, covariance):
    """Mean (d,) and second moment (d, d) of a Gaussian mixture."""
    first = weight @ mean
    second = np.einsum("i,iab->ab", weight, covariance + np.einsum(
        "ia,ib->iab", mean, mean))
    return first, second


def _translated(rows, t):
    """``rows`` plus the common linear-and-quadratic translation ``t`` (no
    constant)."""
    out = rows.copy()
    out[:, 1:] += t
    return out


def moment_matched_representative(rows, x_mean, x_second, *, max_iter=50,
                                  tol=1e-10):
    """The Gaussian representative of a class of gate scores whose x-marginal
    has given first and second moments.

    The class of ``rows`` is every ``rows + t`` with ``t`` a common quadratic
    (no constant; the constant is fixed by normalising the weights).  Among its
    members with negative definite quadratic parts, each defines a Gaussian
    mixture on x, :math:`f_t(x) = \\exp(\\mathrm{LSE}_i\\, s_i(x) + t \\cdot
    (x, \\mathrm{quad}(x)) - A(t))`: an exponential family in ``t`` with
    sufficient statistic ``(x, quad(x))``.  The representative is its maximum
    likelihood member for a sample with the given moments, which is the member
    whose mean and second moment equal ``x_mean`` and ``x_second``: the
    minimiser of the convex :math:`A(t) - t \\cdot \\bar T`.  With the moments of
    the training X it is the member that best fits the marginal of X, and at the
    population moments of a Gaussian-gated truth it is the truth itself.

    Solved by Newton's method (Hessian by differences of the exact gradient)
    with backtracking, from a feasible start.

    Parameters
    ----------
    rows : ndarray of shape (k, 1 + d + d (d + 1) / 2)
        Scores on :func:`augmented_design` (any member of the class).
    x_mean : ndarray of shape (d,)
    x_second : ndarray of shape (d, d)
        Target mean and second moment ``E[x x^T]`` (positive definite covariance).

    Returns
    -------
    weight : ndarray of shape (k,)
    mean : ndarray of shape (k, d)
    covariance : ndarray of shape (k, d, d)

    Examples
    --------
    >>> import numpy as np
    >>> w, c, G = np.array([0.4, 0.6]), np.array([[-1.0], [1.0]]), np.ones((2, 1, 1))
    >>> rows = gaussian_to_quadratic(w, c, G)
    >>> shifted = rows + np.array([0.0, 3.0, 0.8])  # same gate, not Gaussian
    >>> m = w @ c; s = np.einsum("i,iab->ab", w, G + c[:, :, None] ** 2)
    >>> w2, c2, G2 = moment_matched_representative(shifted, m, s)
    >>> np.allclose(w2, w) and np.allclose(c2, c) and np.allclose(G2, G)
    True
    """
    rows = np.asarray(rows, dtype=float)
    d = _n_features_of(rows.shape[1])
    target = np.concatenate([np.asarray(x_mean, float).ravel(),
                             _quad_vector(np.asarray(x_second, float))])
    # _quad_vector doubles off-diagonals; the statistic quad(x) has x_a x_b once
    rows_idx, cols_idx = np.triu_indices(d)
    target[d:] = np.asarray(x_second, float)[rows_idx, cols_idx]

    def stats(t):
        """A(t) and its gradient; None outside the domain."""
        try:
            w, c, G, log_mass = quadratic_to_gaussian(_translated(rows, t))
        except ValueError:
            return None
        first, second = _mixture_moments(w, c, G)
        grad = np.concatenate([first, second[rows_idx, cols_idx]])
        return log_mass, grad

    # feasible start: a common quadratic that makes every score concave
    quad = _quad_matrix(rows[:, 1 + d:], d)
    top = np.linalg.eigvalsh(quad).max()
    t = np.zeros(rows.shape[1] - 1)
    if top >= 0:
        t[d:] = _quad_vector(-(top + 1.0) * np.eye(d))
    current = stats(t)
    value = current[0] - t @ target
    m = t.size
    for _ in range(max_iter):
        grad = current[1] - target
        if np.max(np.abs(grad)) <= tol * (1 + np.max(np.abs(target))):
            break
        hess = np.empty((m, m))
        for a in range(m):
            h = 1e-6 * max(1.0, abs(t[a]))
            for _ in range(20):
                e = np.zeros(m)
                e[a] = h
                plus, minus = stats(t + e), stats(t - e)
                if plus is not None and minus is not None:
                    break
                h *= 0.1
            hess[:, a] = (plus[1] - minus[1]) / (2 * h)
        hess = 0.5 * (hess + hess.T)
        try:
            step = -np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            step = -grad
        if not np.all(np.isfinite(step)) or grad @ step >= 0:
            step = -grad
        scale = 1.0
        for _ in range(50):
            candidate = stats(t + scale * step)
            if candidate is not None:
                new_value = candidate[0] - (t + scale * step) @ target
                if new_value <= value + 1e-4 * scale * (grad @ step):
                    break
            scale *= 0.5
        else:
            break
        t = t + scale * step
        current, value = candidate, new_value
    w, c, G, _ = quadratic_to_gaussian(_translated(rows, t))
    return w, c, G


# ----------------------------------------------------------------- joint EM
@dataclass
class GaussianGateParams:
    """Gaussian-gate MoE parameters (any units).

    ``weight`` (k,), ``mean`` (k, d), ``covariance`` (k, d, d); experts ``coef``
    (k, 1 + d) rows ``(b_i, A_i)`` and variances ``var`` (k,).
    """

    weight: np.ndarray
    mean: np.ndarray
    covariance: np.ndarray
    coef: np.ndarray
    var: np.ndarray

    def copy(self):
        return GaussianGateParams(self.weight.copy(), self.mean.copy(),
                                  self.covariance.copy(), self.coef.copy(),
                                  self.var.copy())


def _logsumexp_rows(a):
    """``log sum_i exp(a[n, i])`` per row (plain numpy; -inf rows give -inf)."""
    top = a.max(axis=1)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(a - safe[:, None]).sum(axis=1)) + safe


def _expert_log_density(X, y, coef, var):
    means = coef[:, 0] + X @ coef[:, 1:].T
    return -0.5 * (_LOG_2PI + np.log(var) + (y[:, None] - means) ** 2 / var)


def joint_log_terms(X, y, params):
    """``log pi_i + log N(x; c_i, Gamma_i) + log N(y; A_i x + b_i, nu_i)``, (n, k).

    Examples
    --------
    >>> import numpy as np
    >>> p = GaussianGateParams(np.ones(1), np.zeros((1, 1)), np.ones((1, 1, 1)),
    ...                        np.zeros((1, 2)), np.ones(1))
    >>> bool(np.isclose(joint_log_terms(np.zeros((1, 1)), np.zeros(1), p)[0, 0],
    ...                 -np.log(2 * np.pi)))
    True
    """
    return (gaussian_log_scores(X, params.weight, params.mean, params.covariance)
            + _expert_log_density(X, y, params.coef, params.var))


def conditional_log_terms(X, y, params):
    """``log pi_i(x) + log N(y; A_i x + b_i, nu_i)`` (gate normalised over i)."""
    return (gaussian_log_gate(X, params.weight, params.mean, params.covariance)
            + _expert_log_density(X, y, params.coef, params.var))


def joint_m_step(X, y, w, resp, params, *, cov_floor, var_lower, var_upper=np.inf):
    """Closed-form M-step of the joint likelihood from responsibilities.

    ``pi_i = sum_n w_n tau_ni / sum w``; ``c_i``, ``Gamma_i`` the weighted mean
    and covariance of x, with the eigenvalues of ``Gamma_i`` clipped below at
    ``cov_floor`` (the exact maximiser under that eigenvalue bound); the experts
    by weighted least squares on ``(1, x)`` with the variance clipped to
    ``[var_lower, var_upper]``.  Components with no weight keep their parameters.

    Returns the new :class:`GaussianGateParams` and whether a covariance was
    held at the floor.
    """
    n, d = X.shape
    total = w.sum()
    wr = w[:, None] * resp
    wr_rows = np.ascontiguousarray(wr.T)  # contiguous rows: fast BLAS products
    mass = wr.sum(axis=0)
    new = params.copy()
    active = mass > EMPTY_COMPONENT_FRACTION * total
    floored = False
    new.weight = mass / total
    # every weighted moment from one (1 + d) x (1 + d) product per component:
    # A[i] = sum_n w_n tau_ni (1, x_n)(1, x_n)^T holds the mass, sum x, sum x x^T
    Xt = np.column_stack([np.ones(n), X])
    A = np.stack([(Xt * row[:, None]).T @ Xt for row in wr_rows])
    for i in np.flatnonzero(active):
        c = A[i, 0, 1:] / mass[i]
        S = A[i, 1:, 1:] / mass[i] - np.outer(c, c)
        eigval, eigvec = np.linalg.eigh(0.5 * (S + S.T))
        if np.any(eigval < cov_floor):
            floored = True
            eigval = np.maximum(eigval, cov_floor)
        new.mean[i] = c
        new.covariance[i] = (eigvec * eigval) @ eigvec.T
    B = wr_rows @ (Xt * y[:, None])
    C = wr_rows @ (y * y)
    new.coef, new.var = m_step_experts(A, B, C, params.coef, params.var, var_lower,
                                       var_upper, total)
    return new, floored


@dataclass
class JointEMResult:
    """The outcome of :func:`run_joint_em`; ``trace`` the joint log-likelihood at
    the start and after each iteration."""

    params: GaussianGateParams
    log_likelihood: float
    trace: list = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False
    floored: bool = False


def run_joint_em(X, y, w, params, *, max_iter=1000, tol=1e-8, cov_floor=1e-6,
                 var_lower=1e-6, var_upper=np.inf):
    """EM for the joint likelihood of ``(x, y)`` under a Gaussian-gated MoE.

    The joint density :math:`\\sum_i \\pi_i N(x; c_i, \\Gamma_i) N(y; A_i x + b_i,
    \\nu_i)` is a mixture whose M-step is closed form (a Gaussian mixture on x and
    weighted least squares per expert): the GLLiM-style EM used by the official
    code of [N24g].  Each iteration is one E-step and one M-step
    (:func:`joint_m_step`); the weighted joint log-likelihood never decreases.
    Stops when its change per unit of weight is at most ``tol``.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    y, w : ndarray of shape (n,)
    params : GaussianGateParams
        Start.
    max_iter : int, default=1000
    tol : float, default=1e-8
    cov_floor : float, default=1e-6
        Lower bound of the eigenvalues of the gate covariances.
    var_lower, var_upper : float
        Bounds of the expert variances.

    Returns
    -------
    JointEMResult

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(-2, 1, 200), rng.normal(2, 1, 200)])[:, None]
    >>> y = np.where(X[:, 0] < 0, X[:, 0], -X[:, 0]) + 0.1 * rng.normal(size=400)
    >>> start = GaussianGateParams(np.full(2, 0.5), np.array([[-1.0], [1.0]]),
    ...                            np.ones((2, 1, 1)), np.zeros((2, 2)), np.ones(2))
    >>> fit = run_joint_em(X, y, np.ones(400), start)
    >>> fit.params.coef[:, 1].round(1)
    array([ 1., -1.])
    >>> bool(np.all(np.diff(fit.trace) >= -1e-9))
    True
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.asarray(w, dtype=float)
    total = w.sum()
    current = params.copy()
    log_terms = joint_log_terms(X, y, current)
    lse = _logsumexp_rows(log_terms)
    loglik = float(w @ lse)
    trace = [loglik]
    converged = floored = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        resp = np.exp(log_terms - lse[:, None])
        current, was_floored = joint_m_step(X, y, w, resp, current,
                                            cov_floor=cov_floor,
                                            var_lower=var_lower,
                                            var_upper=var_upper)
        floored = floored or was_floored
        log_terms = joint_log_terms(X, y, current)
        lse = _logsumexp_rows(log_terms)
        new = float(w @ lse)
        trace.append(new)
        change = (new - loglik) / total
        loglik = new
        if change < -DECREASE_TOLERANCE * max(1.0, abs(new) / total):
            from gmoe._em import LikelihoodDecreaseWarning

            warnings.warn(
                f"joint EM decreased the mean log-likelihood by {-change:.3g} at "
                f"iteration {n_iter}; this suggests ill-conditioned data.",
                LikelihoodDecreaseWarning, stacklevel=2)
        if abs(change) <= tol:
            converged = True
            break
    return JointEMResult(current, loglik, trace, n_iter, converged, floored)


def params_from_responsibilities_joint(X, y, w, resp, *, cov_floor, var_lower):
    """Starting parameters from responsibilities: one joint M-step."""
    n, d = X.shape
    k = resp.shape[1]
    total = w.sum()
    xm = w @ X / total
    S = ((w[:, None] * (X - xm)).T @ (X - xm)) / total
    start = GaussianGateParams(np.full(k, 1.0 / k), np.tile(xm, (k, 1)),
                               np.tile(S + cov_floor * np.eye(d), (k, 1, 1)),
                               np.zeros((k, d + 1)), np.full(k, max(np.var(y), 1e-3)))
    return joint_m_step(X, y, w, resp, start, cov_floor=cov_floor,
                        var_lower=var_lower)[0]


# ------------------------------------------------- conditional likelihood
class GaussianGateMoE(SoftmaxGaussianMoE):
    """The conditional likelihood of a Gaussian-gated MoE, for the solvers.

    A :class:`gmoe._model.SoftmaxGaussianMoE` on the augmented design
    ``Xt = [1, x, quad(x)]`` (:func:`augmented_design`) whose experts use only
    the first ``n_expert_columns = 1 + d`` columns: their coefficients on the
    quadratic columns are held at zero (projection, bounds ``lo = hi = 0`` of
    the free-parameter vector, and the closed-form expert M-step on the
    ``(1, x)`` block).  The gate is then the softmax over quadratic scores, in
    reference form (the last expert's row is zero): the quadratic translation of
    the scores is fixed that way.  Gate bounds and penalties are not supported.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 1))
    >>> model = GaussianGateMoE(augmented_design(X), rng.normal(size=50),
    ...                         np.ones(50), n_expert_columns=2, var_lower=1e-6)
    >>> start = MoEParams(np.zeros((2, 3)), np.ones((2, 3)), np.ones(2))
    >>> model.project(start).coef
    array([[1., 1., 0.],
           [1., 1., 0.]])
    """

    def __init__(self, Xt, y, w, *, n_expert_columns, var_lower, var_upper=np.inf):
        super().__init__(Xt, y, w, var_lower=var_lower, var_upper=var_upper)
        self.n_expert_columns = int(n_expert_columns)

    def subset(self, rows):
        out = GaussianGateMoE(self.Xt[rows], self.y[rows], self.w[rows],
                              n_expert_columns=self.n_expert_columns,
                              var_lower=self.var_lower, var_upper=self.var_upper)
        if hasattr(self, "loglik_offset"):
            out.loglik_offset = self.loglik_offset
        return out

    def project(self, params):
        out = super().project(params)
        out.coef[:, self.n_expert_columns:] = 0.0
        return out

    def vector_bounds(self, k):
        lo, hi = super().vector_bounds(k)
        p, pe = self.p, self.n_expert_columns
        n_gate = (k - 1) * p
        fixed = np.zeros((k, p), dtype=bool)
        fixed[:, pe:] = True
        index = n_gate + np.flatnonzero(fixed.ravel())
        lo[index] = 0.0
        hi[index] = 0.0
        return lo, hi

    def m_step_experts(self, stats, params):
        pe = self.n_expert_columns
        coef, var = m_step_experts(stats.A[:, :pe, :pe], stats.B[:, :pe], stats.C,
                                   params.coef[:, :pe], params.var, self.var_lower,
                                   self.var_upper, self.total)
        full = np.zeros_like(params.coef)
        full[:, :pe] = coef
        return full, var


def moe_params_from_gaussian(params):
    """:class:`MoEParams` on the augmented design from Gaussian-gate parameters
    (gate in reference form, experts padded with zeros)."""
    rows = gaussian_to_quadratic(params.weight, params.mean, params.covariance)
    k, P = rows.shape
    coef = np.zeros((k, P))
    coef[:, :params.coef.shape[1]] = params.coef
    return MoEParams(rows - rows[-1], coef, params.var.copy())


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
    m = d * (d + 1) // 2
    experts = k * (d + 2)
    if likelihood == "joint":
        return (k - 1) + k * d + k * m + experts
    return (k - 1) * (1 + d + m) + experts


# ------------------------------------------------------ estimator support
#: Fitted attributes of the Gaussian gate (original units).
GAUSSIAN_GATE_ATTRIBUTES = ("gate_weight_", "gate_mean_", "gate_covariance_")
#: Keys of a dict of Gaussian-gate parameters (``init_params``, ``sample``).
GAUSSIAN_PARAM_NAMES = ("gate_weight", "gate_mean", "gate_covariance",
                        "expert_intercept", "expert_coef", "expert_variance")
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

#: Floor of the eigenvalues of the gate covariances, in standardised units of x
#: (each feature of variance 1).
COVARIANCE_FLOOR = 1e-6


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
    from gmoe.datasets import _generator

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
    from gmoe.datasets import _generator

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


def _to_standardized(params, scaling):
    """Gaussian-gate parameter dict (original units) to standardised units."""
    s, m = scaling.x_scale, scaling.x_mean
    mean = (np.asarray(params["gate_mean"], float) - m) / s
    cov = np.asarray(params["gate_covariance"], float) / np.outer(s, s)
    a = np.asarray(params["expert_coef"], float)
    b = np.asarray(params["expert_intercept"], float)
    coef = np.column_stack([(b + a @ m - scaling.y_mean) / scaling.y_scale,
                            a * s / scaling.y_scale])
    var = np.asarray(params["expert_variance"], float) / scaling.y_scale**2
    return GaussianGateParams(np.asarray(params["gate_weight"], float).copy(), mean,
                              cov, coef, var)


def _to_original(params, scaling):
    """Standardised :class:`GaussianGateParams` to the fitted-attribute dict."""
    s, m = scaling.x_scale, scaling.x_mean
    shift = m / s
    a = params.coef[:, 1:]
    return {
        "gate_weight": params.weight.copy(),
        "gate_mean": m + params.mean * s,
        "gate_covariance": params.covariance * np.outer(s, s),
        "expert_intercept": scaling.y_mean + scaling.y_scale * (params.coef[:, 0]
                                                                - a @ shift),
        "expert_coef": scaling.y_scale * a / s,
        "expert_variance": scaling.y_scale**2 * params.var,
    }


def check_gaussian_init(params, k, d):
    """Validate a dict of Gaussian-gate starting parameters (original units)."""
    missing = [name for name in GAUSSIAN_PARAM_NAMES if name not in params]
    if missing:
        raise ValueError(
            f"init_params is missing {missing}; with gate='gaussian' a dict of "
            f"starting parameters needs the keys {list(GAUSSIAN_PARAM_NAMES)}.")
    shapes = {"gate_weight": (k,), "gate_mean": (k, d), "gate_covariance": (k, d, d),
              "expert_intercept": (k,), "expert_coef": (k, d),
              "expert_variance": (k,)}
    checked = {}
    for name, shape in shapes.items():
        value = np.asarray(params[name], dtype=float)
        if value.shape != shape:
            raise ValueError(
                f"init_params[{name!r}] has shape {value.shape}; with n_experts={k} "
                f"and {d} features it must have shape {shape}.")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"init_params[{name!r}] contains NaN or infinity.")
        checked[name] = value
    if np.any(checked["gate_weight"] <= 0) or np.any(checked["expert_variance"] <= 0):
        raise ValueError("init_params['gate_weight'] and ['expert_variance'] must be "
                         "positive.")
    checked["gate_weight"] = checked["gate_weight"] / checked["gate_weight"].sum()
    cov = checked["gate_covariance"]
    if (not np.allclose(cov, np.swapaxes(cov, 1, 2))
            or np.any(np.linalg.eigvalsh(cov) <= 0)):
        raise ValueError("init_params['gate_covariance'] must hold symmetric positive "
                         "definite matrices.")
    return checked


@dataclass
class GaussianGateFit:
    """What :func:`fit_gaussian_gate` returns (original units in ``params``)."""

    params: dict
    log_likelihood: float
    joint_log_likelihood: float
    trace: np.ndarray
    n_iter_em: int
    n_iter_newton: int
    converged: bool
    gradient_norm: float
    resp: np.ndarray
    floored: bool
    std_params: MoEParams


def fit_gaussian_gate(X, y, w, *, n_experts, likelihood, solver, starts_from,
                      n_init, n_refine, max_iter, tol, gtol, reg_variance,
                      variance_bounds, random_state, verbose=0):
    """The fit behind ``GaussianMoERegressor(gate="gaussian")``.

    X and y are standardised (as for the softmax gate).  Starts: ``starts_from``
    is a dict of Gaussian-gate parameters (original units) or the name of an
    initialiser of :data:`gmoe._estimator.INITIALIZERS` (``"auto"`` cycles), each
    followed by one joint M-step.  Every start runs the joint EM
    (:func:`run_joint_em`).  ``likelihood="joint"`` keeps the best joint
    log-likelihood.  ``likelihood="conditional"`` runs ``solver`` on the
    conditional likelihood (:class:`GaussianGateMoE`) from the ``n_refine`` joint
    fits with the best conditional log-likelihood and keeps the best; the gate is
    reported through :func:`moment_matched_representative` with the moments of
    the training X.
    """
    from sklearn.utils import check_random_state

    from gmoe._estimator import AUTO_CYCLE, INITIALIZERS, _Scaling
    from gmoe._newton import projected_gradient_norm
    from gmoe._solvers import SOLVERS, SolverOptions

    n, d = X.shape
    k = n_experts
    scaling = _Scaling(X, y, w)
    Xs = (X - scaling.x_mean) / scaling.x_scale
    ys = scaling.response(y)
    total = w.sum()
    var_lower, var_upper = reg_variance, np.inf
    if variance_bounds is not None:
        lower, upper = np.asarray(variance_bounds, float) / scaling.y_scale**2
        var_lower, var_upper = max(var_lower, lower), upper
    rng = check_random_state(random_state)
    if isinstance(starts_from, dict):
        starts = [_to_standardized(starts_from, scaling)]
    else:
        Z = np.column_stack([Xs, ys])
        kinds = AUTO_CYCLE if starts_from == "auto" else (starts_from,)
        starts = []
        for index in range(n_init):
            start_rng = np.random.RandomState(rng.randint(np.iinfo(np.int32).max))
            resp = INITIALIZERS[kinds[index % len(kinds)]](Z, w, k, start_rng)
            starts.append(params_from_responsibilities_joint(
                Xs, ys, w, resp, cov_floor=COVARIANCE_FLOOR, var_lower=var_lower))
    joint = [run_joint_em(Xs, ys, w, start, max_iter=max_iter, tol=tol,
                          cov_floor=COVARIANCE_FLOOR, var_lower=var_lower,
                          var_upper=var_upper) for start in starts]
    model = GaussianGateMoE(augmented_design(Xs), ys, w, n_expert_columns=d + 1,
                            var_lower=var_lower, var_upper=var_upper)
    floored = any(fit.floored for fit in joint)
    x_mean_s = w @ Xs / total
    x_second_s = (w[:, None] * Xs).T @ Xs / total
    if likelihood == "joint":
        best = joint[rank_fits([True] * len(joint),
                               [fit.log_likelihood for fit in joint], total)[0]]
        gauss = best.params
        std = moe_params_from_gaussian(gauss)
        trace = np.asarray(best.trace)
        n_em, n_newton, converged = best.n_iter, 0, best.converged
        grad_norm = projected_gradient_norm(model, std)
    else:
        cond = []
        for fit in joint:
            std = moe_params_from_gaussian(fit.params)
            cond.append((model.objective(std), std))
        order = rank_fits([True] * len(cond), [c[0] for c in cond], total)[:n_refine]
        options = SolverOptions(max_iter=max_iter, tol=tol, gtol=gtol,
                                verbose=max(verbose - 1, 0) * 2)
        best = best_value = None
        for i in order:
            result = SOLVERS[solver](model, cond[i][1], options)
            if verbose:
                print(f"start {i + 1}: joint EM {joint[i].n_iter} iterations, then "
                      f"{result.n_iter_em} EM and {result.n_iter_newton} Newton, "
                      f"conditional log-likelihood {result.objective:.6f} "
                      "(standardised)")
            if improves(result.objective, best_value, scale=total):
                best, best_value, best_joint = result, result.objective, joint[i]
        std = best.params
        w_, c_, G_ = moment_matched_representative(std.gate, x_mean_s, x_second_s)
        first, second = _mixture_moments(w_, c_, G_)
        gap = max(np.max(np.abs(first - x_mean_s)),
                  np.max(np.abs(second - x_second_s)))
        if gap > 1e-6:
            warnings.warn(
                "no Gaussian representative of the fitted gate has the mean and "
                f"second moment of X (closest: off by {gap:.2g} in standardised "
                "units); the gate nearly separates the experts. gate_weight_, "
                "gate_mean_ and gate_covariance_ are the closest member found; "
                "predict_gate is exact. likelihood='joint' identifies them.",
                RepresentativeWarning, stacklevel=3)
        gauss = GaussianGateParams(w_, c_, G_, std.coef[:, :d + 1].copy(),
                                   std.var.copy())
        trace = np.asarray(best.trace)
        n_em = best_joint.n_iter + best.n_iter_em
        n_newton, converged = best.n_iter_newton, best.converged
        grad_norm = best.grad_norm
    resp = np.empty((n, k))
    stats = model.e_step(std, resp, resp)
    x_offset = total * np.sum(np.log(scaling.x_scale))
    y_offset = total * np.log(scaling.y_scale)
    joint_ll = float(w @ scipy.special.logsumexp(joint_log_terms(Xs, ys, gauss),
                                                 axis=1))
    return GaussianGateFit(
        params=_to_original(gauss, scaling),
        log_likelihood=float(stats.loglik - y_offset),
        joint_log_likelihood=joint_ll - y_offset - x_offset,
        trace=trace - (y_offset + (x_offset if likelihood == "joint" else 0.0)),
        n_iter_em=int(n_em), n_iter_newton=int(n_newton), converged=bool(converged),
        gradient_norm=float(grad_norm), resp=resp, floored=floored, std_params=std)
