"""Gaussian linear experts: each with its own variance or one shared variance,
and coefficients of their own or some common to every expert."""

import numbers

import numpy as np

from gmoe.experts._base import EMPTY_EXPERT_FRACTION, ExpertFamily
from gmoe.kernels._linalg import cholesky_solve, least_squares_update


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
    min_weight = EMPTY_EXPERT_FRACTION * total
    A, B, C, coef, var = (np.ascontiguousarray(a, dtype=np.float64)
                          for a in (A, B, C, coef, var))
    coef_out, var_out = np.empty_like(coef), np.empty_like(var)
    # one compiled call in the common case (every active design positive
    # definite); numpy's per-call overheads cost more than these tiny solves
    if least_squares_update(A, B, C, coef, var, float(var_lower), float(var_upper),
                            min_weight, coef_out, var_out):
        return coef_out, var_out
    coef = coef.copy()
    var = var.copy()
    active = A[:, 0, 0] > min_weight
    if not active.any():
        return coef, var
    A_act = np.ascontiguousarray(A[active], dtype=np.float64)
    B_act = np.ascontiguousarray(B[active], dtype=np.float64)
    solved = np.empty_like(B_act)
    if not cholesky_solve(A_act, B_act, solved):
        # A singular weighted design: the minimum-norm least-squares solution.
        solved = np.array([np.linalg.lstsq(a, b, rcond=1e-13)[0]
                           for a, b in zip(A_act, B_act, strict=True)])
    rss = _residual_sums(A_act, B_act, C[active], solved)
    coef[active] = solved
    var[active] = np.clip(rss / A_act[:, 0, 0], var_lower, var_upper)
    return coef, var


def _residual_sums(A, B, C, coef):
    """``RSS_i = C_i - 2 c_i' B_i + c_i' A_i c_i`` (k,)."""
    return (C - 2.0 * np.einsum("ia,ia->i", coef, B)
            + np.einsum("ia,iab,ib->i", coef, A, coef))


def common_least_squares(A, B, shared, scale, coef, total):
    """Expert rows with common coefficients: one weighted least squares over the
    stacked data.

    Minimises ``sum_i s_i sum_n w_n tau_ni (y_n - c_i' x_n)^2`` over rows
    ``c_i`` whose columns ``F = shared`` hold one common value ``gamma``
    (columns ``V``, the others, are each expert's own).  Its normal equations
    are assembled from the per-expert statistics:

    .. math::

        \\begin{pmatrix} \\sum_i s_i A_i[F, F] & s_1 A_1[F, V] & \\cdots \\\\
        s_1 A_1[V, F] & s_1 A_1[V, V] & \\\\ \\vdots & & \\ddots \\end{pmatrix}
        \\begin{pmatrix} \\gamma \\\\ c_1[V] \\\\ \\vdots \\end{pmatrix}
        = \\begin{pmatrix} \\sum_i s_i B_i[F] \\\\ s_1 B_1[V] \\\\ \\vdots
        \\end{pmatrix}.

    An expert whose weight ``A[i, 0, 0]`` is below ``EMPTY_EXPERT_FRACTION *
    total`` is left out of the sums and keeps its own columns; every expert's
    ``F`` columns get ``gamma``.  A singular system gets the minimum-norm
    solution.

    Parameters
    ----------
    A : ndarray of shape (k, p, p)
    B : ndarray of shape (k, p)
        ``sum w tau x x^T`` and ``sum w tau y x`` per expert.
    shared : sequence of int
        The design columns ``F`` (``1 <= F < p``) with a common coefficient.
    scale : ndarray of shape (k,)
        The experts' weights ``s_i`` (the inverse variances: a step of ECM).
    coef : ndarray of shape (k, p)
        Current rows (kept for empty experts).
    total : float
        Total sample weight.

    Returns
    -------
    coef : ndarray of shape (k, p)

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([np.eye(2), np.eye(2)]); B = np.array([[1.0, 1.0], [3.0, 2.0]])
    >>> common_least_squares(A, B, [1], np.ones(2), np.zeros((2, 2)), 2.0)
    array([[1. , 1.5],
           [3. , 1.5]])
    """
    coef = np.array(coef, dtype=float)
    k, p = coef.shape
    F = np.asarray(shared, dtype=np.intp)
    V = np.setdiff1d(np.arange(p), F)
    active = np.flatnonzero(A[:, 0, 0] > EMPTY_EXPERT_FRACTION * total)
    if active.size == 0:
        return coef
    s = np.asarray(scale, dtype=float)[active]
    s = s / s.max()
    nF, nV = F.size, V.size
    size = nF + active.size * nV
    M = np.zeros((size, size))
    r = np.zeros(size)
    AF, AV = A[active][:, F], A[active][:, V]
    M[:nF, :nF] = np.einsum("i,iab->ab", s, AF[:, :, F])
    r[:nF] = s @ B[active][:, F]
    for t in range(active.size):
        block = slice(nF + t * nV, nF + (t + 1) * nV)
        M[block, block] = s[t] * AV[t][:, V]
        M[:nF, block] = s[t] * AF[t][:, V]
        M[block, :nF] = M[:nF, block].T
        r[block] = s[t] * B[active[t], V]
    try:
        factor = np.linalg.cholesky(M)
        solved = np.linalg.solve(factor.T, np.linalg.solve(factor, r))
        if not np.all(np.isfinite(solved)):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        solved = np.linalg.lstsq(M, r, rcond=1e-13)[0]
    coef[:, F] = solved[:nF]
    coef[np.ix_(active, V)] = solved[nF:].reshape(active.size, nV)
    return coef


class GaussianLinear(ExpertFamily):
    """Gaussian linear experts ``N(y; c_i' xt, sigma_i)`` on ``xt = (1, z)``.

    Parameters
    ----------
    shared_features : sequence of int or str, or None, default=None
        Features (column indices of X; through
        :class:`gmoe.GaussianMoERegressor`, also column names of a DataFrame)
        whose coefficient is common to every expert (flexmix's
        ``FLXMRglmfix(fixed = ~ x)``); the intercept and the other features'
        coefficients are each expert's own.  Every feature may be shared (the
        experts then differ by their intercepts only).  None or empty: no
        common coefficient.
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
    The free parameters are the common coefficients ``gamma`` (one per shared
    feature), then each expert's other coefficients (intercept first) expert
    by expert, then the log-variances (``k`` of them, or one shared).  The map
    to the engine's full coordinates ``(c_0, .., c_{k-1}, log sigma_0, ..,
    log sigma_{k-1})`` (:meth:`jacobian`) copies ``gamma`` into column ``F``
    (the shared features' design columns) of every row and, with a shared
    variance, the one log-variance into every expert's.  BIC/AIC count
    ``|F| + k (d + 1 - |F|)`` coefficients.

    The M-step of common coefficients (:func:`common_least_squares`) solves
    one weighted least squares over the stacked data, assembled from the
    E-step's per-expert statistics.  With a shared variance it is the exact
    maximiser of the M-step objective; with variances of their own, expert
    ``i``'s block is weighted by ``1 / sigma_i`` at the current variances and
    the variances are then updated at the new rows: two conditional
    maximisations, an ECM step (Meng and Rubin 1993, Biometrika 80(2)), which
    never lowers the objective.  The engine, Newton, the certificate and the
    inference need nothing else.  A common coefficient stays common through
    the standardisation of the data (each column is scaled alone).

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
    >>> common = GaussianLinear(shared_features=[0])
    >>> common.n_parameters(3, 2)       # gamma once, 2 coefficients and a variance each
    10
    >>> common.to_free(np.array([[0.0, 5.0, 1.0], [2.0, 5.0, 3.0]]), np.ones(2))
    array([5., 0., 1., 2., 3., 0., 0.])
    """

    name = "gaussian_linear"

    def __init__(self, shared_features=None, shared_variance=False):
        self.shared_features = shared_features
        self.shared_variance = shared_variance

    @property
    def identity(self):
        return not self.shared_variance and not self._features()

    def _features(self):
        """The shared features as a tuple (of ints once resolved)."""
        if self.shared_features is None:
            return ()
        return tuple(self.shared_features)

    def check(self):
        if not isinstance(self.shared_variance, (bool, np.bool_)):
            raise ValueError(
                "GaussianLinear(shared_variance=...) must be True (one variance "
                "shared by the experts) or False (a variance per expert); got "
                f"{self.shared_variance!r}.")
        features = self.shared_features
        bad = (isinstance(features, (str, bytes)) or
               (features is not None and (np.ndim(features) != 1 or not all(
                   isinstance(f, str) or (isinstance(f, numbers.Integral)
                                          and not isinstance(f, (bool, np.bool_))
                                          and f >= 0)
                   for f in features))))
        if bad:
            raise ValueError(
                "GaussianLinear(shared_features=...) must be None or a list of "
                "feature indices (non-negative integers, columns of X) or column "
                f"names; got {features!r}.")
        if features is not None and len(set(features)) != len(features):
            raise ValueError(
                f"GaussianLinear(shared_features={list(features)!r}) names a feature "
                "more than once; list each shared feature once.")

    def for_features(self, n_features, feature_names=None):
        """This family with its shared features as sorted column indices of X,
        checked against ``n_features`` (names looked up in ``feature_names``,
        the columns of a DataFrame).

        Examples
        --------
        >>> GaussianLinear(shared_features=["b"]).for_features(2, ["a", "b"])
        GaussianLinear(shared_features=(1,))
        >>> GaussianLinear(shared_features=[2]).for_features(2)
        Traceback (most recent call last):
        ...
        ValueError: shared_features=[2] names feature 2, but X has 2 features \
(indices 0 to 1).
        """
        self.check()
        features = self._features()
        if not features:
            return self
        names = None if feature_names is None else [str(f) for f in feature_names]
        indices = []
        for f in features:
            if isinstance(f, str):
                if names is None:
                    raise ValueError(
                        f"shared_features={list(features)!r} names feature {f!r}, "
                        "but X has no column names; give column indices or fit "
                        "on a pandas DataFrame.")
                if f not in names:
                    raise ValueError(
                        f"shared_features={list(features)!r} names feature {f!r}, "
                        f"not a column of X (its columns: {names}).")
                indices.append(names.index(f))
            elif f >= n_features:
                raise ValueError(
                    f"shared_features={list(features)!r} names feature {f}, but X "
                    f"has {n_features} features (indices 0 to {n_features - 1}).")
            else:
                indices.append(int(f))
        if len(set(indices)) != len(indices):
            raise ValueError(
                f"shared_features={list(features)!r} names a feature twice (by "
                "index and by name); list each shared feature once.")
        return GaussianLinear(shared_features=tuple(sorted(indices)),
                              shared_variance=self.shared_variance)

    def _columns(self, p):
        """The design columns ``F`` of the shared features, ``V`` of the
        others, for a design of ``p`` columns."""
        features = self._features()
        if any(not isinstance(f, numbers.Integral) or not 0 <= f < p - 1
               for f in features):
            raise ValueError(
                f"shared_features={list(features)!r} must be indices of the "
                f"{p - 1} features (0 to {p - 2}); resolve names with "
                "GaussianLinear.for_features.")
        F = np.array(sorted(int(f) + 1 for f in features), dtype=np.intp)
        return F, np.setdiff1d(np.arange(p), F)

    def _n_var(self, k):
        return 1 if self.shared_variance else k

    def n_free(self, k, p):
        n_shared = len(self._features())
        return n_shared + k * (p - n_shared) + self._n_var(k)

    def jacobian(self, k, p):
        F, V = self._columns(p)
        q = self.n_free(k, p)
        J = np.zeros((k * (p + 1), q))
        for i in range(k):
            J[i * p + F, np.arange(F.size)] = 1.0
            J[i * p + V, F.size + i * V.size + np.arange(V.size)] = 1.0
        n_coef = F.size + k * V.size
        if self.shared_variance:
            J[k * p:, n_coef] = 1.0
        else:
            J[k * p:, n_coef:] = np.eye(k)
        return J

    def to_free(self, coef, var):
        coef = np.asarray(coef, dtype=float)
        F, V = self._columns(coef.shape[1])
        logvar = np.log(np.asarray(var, dtype=float))
        if self.shared_variance:
            # the least-squares left inverse of the column of ones: the mean
            logvar = np.array([np.mean(logvar)])
        return np.concatenate([np.mean(coef[:, F], axis=0), np.ravel(coef[:, V]),
                               logvar])

    def from_free(self, eta, k, p):
        F, V = self._columns(p)
        n_coef = F.size + k * V.size
        coef = np.empty((k, p))
        coef[:, F] = eta[:F.size]
        coef[:, V] = eta[F.size:n_coef].reshape(k, V.size)
        var = np.exp(np.minimum(eta[n_coef:], 700.0))
        if self.shared_variance:
            var = np.full(k, var[0])
        return coef, var

    def free_layout(self, k, p):
        F, V = self._columns(p)
        n_var = self._n_var(k)
        expert = [-1] * F.size + [i for i in range(k) for _ in V]
        expert += [-1] if self.shared_variance else list(range(k))
        kind = ["coef"] * (F.size + k * V.size) + ["logvar"] * n_var
        coord = list(F) + [a for _ in range(k) for a in V] + [0] * n_var
        return np.array(expert), np.array(kind), np.array(coord, dtype=int)

    def m_step(self, A, B, C, coef, var, var_lower, var_upper, total):
        shared = self._features()
        if not shared and not self.shared_variance:
            return weighted_least_squares(A, B, C, coef, var, var_lower, var_upper,
                                          total)
        if shared:
            F, _ = self._columns(A.shape[1])
            # with a shared variance the experts' weights are equal (exact);
            # with their own, 1 / sigma_i at the current variances (ECM)
            scale = np.ones(len(var)) if self.shared_variance else 1.0 / var
            coef = common_least_squares(A, B, F, scale, coef, total)
        else:
            coef, _ = weighted_least_squares(A, B, C, coef, var, 0.0, np.inf, total)
        var = np.array(var, dtype=float)
        active = A[:, 0, 0] > EMPTY_EXPERT_FRACTION * total
        if not active.any():
            return coef, var
        rss = _residual_sums(A[active], B[active], C[active], coef[active])
        weight = A[active, 0, 0]
        if self.shared_variance:
            # the maximiser over one variance, clipped: the objective is
            # unimodal in it
            pooled = float(rss.sum() / weight.sum())
            return coef, np.full(len(var), np.clip(pooled, var_lower, var_upper))
        var[active] = np.clip(rss / weight, var_lower, var_upper)
        return coef, var

    def project(self, coef, var, var_lower, var_upper):
        coef = np.array(coef, dtype=float)
        var = np.asarray(var, dtype=float)
        if self._features():
            F, _ = self._columns(coef.shape[1])
            coef[:, F] = np.mean(coef[:, F], axis=0)
        if self.shared_variance:
            var = np.full(len(var), np.exp(np.mean(np.log(var))))
        return super().project(coef, var, var_lower, var_upper)

    def summary_note(self, feature_labels=None):
        notes = []
        if self._features():
            names = [feature_labels[j] if feature_labels is not None else j
                     for j in self._features()]
            notes.append(
                f"the features {names} have a coefficient common to the experts "
                "(shared_features): "
                "their expert_coef rows repeat it, with the standard error of its "
                "one free parameter.")
        if self.shared_variance:
            notes.append(
                "the experts share one variance (shared_variance=True): the "
                "expert_variance rows repeat it, with the standard error of "
                "the one free log-variance.")
        return " ".join(notes) or None

    def __eq__(self, other):
        return (type(self) is type(other) and self._features() == other._features()
                and self.shared_variance == other.shared_variance)

    def __hash__(self):
        return hash((type(self).__name__, self._features(),
                     bool(self.shared_variance)))

    def __repr__(self):
        options = []
        if self.shared_features is not None:
            options.append(f"shared_features={self.shared_features!r}")
        if self.shared_variance is not False:
            options.append(f"shared_variance={self.shared_variance!r}")
        return f"GaussianLinear({', '.join(options)})"
