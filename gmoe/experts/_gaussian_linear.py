"""Gaussian linear experts, each with its own variance or one shared variance."""

import numpy as np

from gmoe.experts._base import EMPTY_EXPERT_FRACTION, ExpertFamily


def weighted_least_squares(A, B, C, coef, var, var_lower, var_upper, total):
    """Closed-form expert update from weighted least-squares statistics.

    For each expert, ``coef_i = argmin sum_n w_n tau_ni (y_n - coef . x_n)^2`` (the
    minimum-norm solution when the weighted design is singular) and
    ``var_i = RSS_i / sum_n w_n tau_ni`` clipped to ``[var_lower, var_upper]``
    (the exact constrained maximiser: the objective is unimodal in the
    variance).  An expert whose weight ``A[i, 0, 0]`` is below
    ``EMPTY_EXPERT_FRACTION * total`` keeps ``coef`` and ``var``.

    Parameters
    ----------
    A : ndarray of shape (k, p, p)
    B : ndarray of shape (k, p)
    C : ndarray of shape (k,)
        ``sum w tau x x^T``, ``sum w tau y x`` and ``sum w tau y^2`` per expert.
    coef : ndarray of shape (k, p)
    var : ndarray of shape (k,)
        Current parameters (kept for empty experts).
    var_lower, var_upper, total : float

    Returns
    -------
    coef : ndarray of shape (k, p)
    var : ndarray of shape (k,)

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[[2.0, 0.0], [0.0, 2.0]]]); B = np.array([[2.0, 4.0]])
    >>> coef, var = weighted_least_squares(A, B, np.array([12.0]), np.zeros((1, 2)),
    ...                                    np.ones(1), 1e-6, np.inf, 2.0)
    >>> coef, var
    (array([[1., 2.]]), array([1.]))
    """
    coef = coef.copy()
    var = var.copy()
    active = A[:, 0, 0] > EMPTY_EXPERT_FRACTION * total
    if not active.any():
        return coef, var
    A_act, B_act = A[active], B[active]
    try:
        factor = np.linalg.cholesky(A_act)
        solved = np.linalg.solve(np.swapaxes(factor, 1, 2),
                                 np.linalg.solve(factor, B_act[..., None]))[..., 0]
        if not np.all(np.isfinite(solved)):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        # A singular weighted design: the minimum-norm least-squares solution.
        solved = np.array([np.linalg.lstsq(a, b, rcond=1e-13)[0]
                           for a, b in zip(A_act, B_act, strict=True)])
    rss = (C[active] - 2.0 * np.einsum("ia,ia->i", solved, B_act)
           + np.einsum("ia,iab,ib->i", solved, A_act, solved))
    coef[active] = solved
    var[active] = np.clip(rss / A_act[:, 0, 0], var_lower, var_upper)
    return coef, var


class GaussianLinear(ExpertFamily):
    """Gaussian linear experts ``N(y; c_i' xt, sigma_i)`` on ``xt = (1, z)``.

    Parameters
    ----------
    shared_variance : bool, default=False
        False: every expert has its own variance (``k`` log-variances are
        free). True: the experts share one variance ``sigma`` (flexmix's
        ``varFix``), one free log-variance; the M-step pools the residuals,

        .. math::

            \\sigma = \\frac{\\sum_i \\sum_n w_n \\tau_{ni}
            (y_n - c_i^\\top \\tilde x_n)^2}{\\sum_i \\sum_n w_n \\tau_{ni}},

        clipped to the variance bounds, and BIC/AIC count ``k - 1`` fewer
        parameters.

    Notes
    -----
    The free parameters are the expert rows ``c_i`` row by row, then the
    log-variances (``k`` of them, or one shared).  The map to the engine's full
    coordinates ``(c_0, .., c_{k-1}, log sigma_0, .., log sigma_{k-1})`` is the
    identity, or with a shared variance ``log sigma_i = eta_last`` for every
    ``i`` (:meth:`jacobian`: a column of ones).

    Common coefficients (flexmix ``FLXMRglmfix(fixed = ~ x)``: some design
    columns ``F`` with one coefficient ``gamma`` for every expert) fit the same
    mould: the free parameters become ``(gamma, c_0[V], .., c_{k-1}[V],
    log-variances)`` with ``V`` the other columns; :meth:`jacobian` copies
    ``gamma`` into column ``F`` of every row (``|F|`` columns of ones across the
    experts' blocks), and :meth:`m_step` solves one weighted least squares over
    the stacked data, whose normal equations are assembled from the same
    statistics: ``sum_i A_i[F, F]`` for ``gamma``, ``A_i[V, V]`` on expert
    ``i``'s diagonal block, ``A_i[F, V]`` between them, right-hand sides
    ``sum_i B_i[F]`` and ``B_i[V]`` (with a shared variance the weights of the
    experts are equal; with variances of their own, the blocks are divided by
    ``sigma_i``, an ECM step).  The engine, Newton, the certificate and the
    inference need nothing else.

    Examples
    --------
    >>> import numpy as np
    >>> family = GaussianLinear(shared_variance=True)
    >>> family.n_parameters(3, 1), GaussianLinear().n_parameters(3, 1)
    (7, 9)
    >>> eta = family.to_free(np.array([[0.0, 1.0], [2.0, 3.0]]), np.array([2.0, 2.0]))
    >>> eta.round(4)
    array([0.    , 1.    , 2.    , 3.    , 0.6931])
    >>> family.jacobian(2, 2).shape
    (6, 5)
    """

    name = "gaussian_linear"

    def __init__(self, shared_variance=False):
        self.shared_variance = shared_variance

    @property
    def identity(self):
        return not self.shared_variance

    def check(self):
        if not isinstance(self.shared_variance, (bool, np.bool_)):
            raise ValueError(
                "GaussianLinear(shared_variance=...) must be True (one variance "
                "shared by the experts) or False (a variance per expert); got "
                f"{self.shared_variance!r}.")

    def _n_var(self, k):
        return 1 if self.shared_variance else k

    def n_free(self, k, p):
        return k * p + self._n_var(k)

    def jacobian(self, k, p):
        J = np.zeros((k * (p + 1), self.n_free(k, p)))
        J[:k * p, :k * p] = np.eye(k * p)
        if self.shared_variance:
            J[k * p:, k * p] = 1.0
        else:
            J[k * p:, k * p:] = np.eye(k)
        return J

    def to_free(self, coef, var):
        logvar = np.log(np.asarray(var, dtype=float))
        if self.shared_variance:
            # the least-squares left inverse of the column of ones: the mean
            logvar = np.array([np.mean(logvar)])
        return np.concatenate([np.ravel(coef), logvar])

    def from_free(self, eta, k, p):
        coef = eta[:k * p].reshape(k, p).copy()
        var = np.exp(np.minimum(eta[k * p:], 700.0))
        if self.shared_variance:
            var = np.full(k, var[0])
        return coef, var

    def free_layout(self, k, p):
        n_var = self._n_var(k)
        expert = [i for i in range(k) for _ in range(p)]
        expert += [-1] if self.shared_variance else list(range(k))
        kind = ["coef"] * (k * p) + ["logvar"] * n_var
        coord = [a for _ in range(k) for a in range(p)] + [0] * n_var
        return np.array(expert), np.array(kind), np.array(coord)

    def m_step(self, A, B, C, coef, var, var_lower, var_upper, total):
        if not self.shared_variance:
            return weighted_least_squares(A, B, C, coef, var, var_lower, var_upper,
                                          total)
        # the rows as for separate variances; the variance pooled over the
        # experts with weight (the maximiser of the M-step objective over one
        # variance, clipped: the objective is unimodal in it)
        coef, own = weighted_least_squares(A, B, C, coef, var, 0.0, np.inf, total)
        active = A[:, 0, 0] > EMPTY_EXPERT_FRACTION * total
        if not active.any():
            return coef, var.copy()
        weight = A[active, 0, 0]
        pooled = float(weight @ own[active] / weight.sum())
        return coef, np.full(len(var), np.clip(pooled, var_lower, var_upper))

    def project(self, coef, var, var_lower, var_upper):
        var = np.asarray(var, dtype=float)
        if self.shared_variance:
            var = np.full(len(var), np.exp(np.mean(np.log(var))))
        return super().project(coef, var, var_lower, var_upper)

    def summary_note(self):
        if self.shared_variance:
            return ("the experts share one variance (shared_variance=True): the "
                    "expert_variance rows repeat it, with the standard error of "
                    "the one free log-variance.")
        return None

    def __repr__(self):
        if self.shared_variance is False:
            return "GaussianLinear()"
        return f"GaussianLinear(shared_variance={self.shared_variance!r})"
