"""The Gaussian gate's mixture on x: the normaliser of the x-marginal and its
derivatives, the closed-form M-step of the joint likelihood, and the
representative reported for the conditional one.

A block :math:`\\theta_i` (coefficients of the score :math:`s_i` on
:math:`\\phi(x) = (1, x, \\mathrm{quad}(x))`, :mod:`gmoe.gates._gaussian_maths`) with a
negative definite quadratic part is a Gaussian of mass :math:`\\int e^{s_i}`;
the blocks together, a Gaussian mixture on x, an exponential family in the blocks
with sufficient statistic :math:`\\phi(x)` per component.
"""

import numpy as np

from gmoe.gates._gaussian_maths import (
    _LOG_2PI,
    EMPTY_COMPONENT_FRACTION,
    _n_features_of,
    _quad_matrix,
    _quad_vector,
    _triu,
    quadratic_to_gaussian,
)


def _translated(rows, t):
    """``rows`` plus the common linear-and-quadratic translation ``t`` (no
    constant)."""
    out = rows.copy()
    out[:, 1:] += t
    return out


def _mixture_moments(weight, mean, covariance):
    """Mean (d,) and second moment (d, d) of a Gaussian mixture."""
    first = weight @ mean
    second = np.einsum("i,iab->ab", weight, covariance + np.einsum(
        "ia,ib->iab", mean, mean))
    return first, second


# ------------------------------------------------------------- normaliser
def block_moments(rows):
    """The Gaussian of each block: log-mass, mean and covariance.

    Parameters
    ----------
    rows : ndarray of shape (k, 1 + d + d (d + 1) / 2)
        Blocks on :func:`augmented_design`.

    Returns
    -------
    log_mass : ndarray of shape (k,)
        :math:`a_i = \\log \\int e^{s_i(x)} dx`; ``inf`` where the quadratic part
        is not negative definite (no finite integral).
    mean : ndarray of shape (k, d)
    covariance : ndarray of shape (k, d, d)
        NaN where ``log_mass`` is infinite.

    Examples
    --------
    >>> import numpy as np
    >>> from gmoe.gates._gaussian_maths import gaussian_to_quadratic
    >>> rows = gaussian_to_quadratic(np.array([0.25]), np.array([[1.0]]),
    ...                              np.array([[[2.0]]]))
    >>> a, c, G = block_moments(rows)
    >>> round(float(np.exp(a[0])), 12), c.ravel(), G.ravel()
    (0.25, array([1.]), array([2.]))
    """
    rows = np.asarray(rows, dtype=float)
    k = rows.shape[0]
    d = _n_features_of(rows.shape[1])
    precision = -2.0 * _quad_matrix(rows[:, 1 + d:], d)
    log_mass = np.full(k, np.inf)
    mean = np.full((k, d), np.nan)
    covariance = np.full((k, d, d), np.nan)
    eigval, eigvec = np.linalg.eigh(precision)
    ok = np.all(eigval > 0, axis=1)
    if not ok.any():
        return log_mass, mean, covariance
    eigval, eigvec = eigval[ok], eigvec[ok]
    covariance[ok] = (eigvec / eigval[:, None, :]) @ np.swapaxes(eigvec, 1, 2)
    linear = rows[ok, 1:1 + d]
    mean[ok] = (covariance[ok] @ linear[:, :, None])[:, :, 0]
    log_mass[ok] = (rows[ok, 0] + 0.5 * (d * _LOG_2PI - np.log(eigval).sum(axis=1))
                    + 0.5 * np.sum(linear * mean[ok], axis=1))
    return log_mass, mean, covariance


def feature_moments(mean, covariance, order=1):
    """First two moments of :math:`\\phi(x) = (1, x, \\mathrm{quad}(x))` under
    :math:`N(c, \\Gamma)`, by Isserlis' theorem.

    Parameters
    ----------
    mean : ndarray of shape (d,)
    covariance : ndarray of shape (d, d)
    order : {1, 2}

    Returns
    -------
    first : ndarray of shape (m,)
        :math:`E[\\phi]`, ``m = 1 + d + d (d + 1) / 2``.
    cov : ndarray of shape (m, m) or None
        :math:`\\mathrm{Cov}[\\phi]` (``order == 2``): with :math:`x = c + e`,
        :math:`\\mathrm{Cov}(x_a, x_b x_c) = c_b \\Gamma_{ac} + c_c
        \\Gamma_{ab}` and :math:`\\mathrm{Cov}(x_a x_b, x_c x_e) = \\Gamma_{ac}
        \\Gamma_{be} + \\Gamma_{ae} \\Gamma_{bc} + c_a c_c \\Gamma_{be} + c_a
        c_e \\Gamma_{bc} + c_b c_c \\Gamma_{ae} + c_b c_e \\Gamma_{ac}`.

    Examples
    --------
    >>> import numpy as np
    >>> first, cov = feature_moments(np.array([1.0]), np.array([[2.0]]), order=2)
    >>> first, cov
    (array([1., 1., 3.]), array([[ 0.,  0.,  0.],
           [ 0.,  2.,  4.],
           [ 0.,  4., 16.]]))
    """
    c = np.asarray(mean, dtype=float)
    G = np.asarray(covariance, dtype=float)
    d = c.size
    r, s = _triu(d)
    second = G + np.outer(c, c)
    first = np.concatenate([[1.0], c, second[r, s]])
    if order < 2:
        return first, None
    m = first.size
    cov = np.zeros((m, m))
    lin = slice(1, 1 + d)
    quad = slice(1 + d, m)
    cov[lin, lin] = G
    cross = c[r][None, :] * G[:, s] + c[s][None, :] * G[:, r]
    cov[lin, quad] = cross
    cov[quad, lin] = cross.T
    a, b = r[:, None], s[:, None]
    e, f = r[None, :], s[None, :]
    cov[quad, quad] = (G[a, e] * G[b, f] + G[a, f] * G[b, e]
                       + c[a] * c[e] * G[b, f] + c[a] * c[f] * G[b, e]
                       + c[b] * c[e] * G[a, f] + c[b] * c[f] * G[a, e])
    return first, cov


def log_partition(rows, order=0):
    """The normaliser :math:`N(\\theta) = \\log \\sum_i \\int e^{s_i(x)} dx` of
    the Gaussian mixture the blocks define, and its derivatives.

    With :math:`a_i` the log-masses (:func:`block_moments`) and :math:`\\rho =
    \\mathrm{softmax}(a)` the mixture weights, the gradient with respect to
    block ``i`` is :math:`\\rho_i E_i[\\phi]` and the Hessian between blocks
    ``i`` and ``j`` is :math:`\\delta_{ij} \\rho_i \\mathrm{Cov}_i[\\phi] +
    (\\delta_{ij} \\rho_i - \\rho_i \\rho_j) E_i[\\phi] E_j[\\phi]^\\top`
    (:func:`feature_moments`): a log-partition function, convex.

    Parameters
    ----------
    rows : ndarray of shape (k, m)
    order : {0, 1, 2}

    Returns
    -------
    value : float
        ``inf`` when a quadratic part is not negative definite (the derivatives
        are then zero: the caller rejects the point by its value).
    grad : ndarray of shape (k, m) or None
    hess : ndarray of shape (k, k, m, m) or None

    Examples
    --------
    >>> import numpy as np
    >>> from gmoe.gates._gaussian_maths import gaussian_to_quadratic
    >>> rows = gaussian_to_quadratic(np.array([0.3, 0.7]), np.zeros((2, 1)),
    ...                              np.ones((2, 1, 1)))
    >>> value, grad, _ = log_partition(rows, order=1)
    >>> abs(round(value, 12)), grad[:, 0]
    (0.0, array([0.3, 0.7]))
    """
    rows = np.asarray(rows, dtype=float)
    k, m = rows.shape
    log_mass, mean, covariance = block_moments(rows)
    grad = np.zeros((k, m)) if order >= 1 else None
    hess = np.zeros((k, k, m, m)) if order >= 2 else None
    if not np.all(np.isfinite(log_mass)):
        return np.inf, grad, hess
    top = log_mass.max()
    value = float(top + np.log(np.sum(np.exp(log_mass - top))))
    if order == 0:
        return value, None, None
    rho = np.exp(log_mass - value)
    first = np.empty((k, m))
    for i in range(k):
        first[i], cov = feature_moments(mean[i], covariance[i], order)
        if order >= 2:
            hess[i, i] = rho[i] * (cov + np.outer(first[i], first[i]))
    grad[:] = rho[:, None] * first
    if order >= 2:
        hess -= np.einsum("ia,jb->ijab", grad, grad)
    return value, grad, hess


def gaussian_m_step(stats, total, rows, floor):
    """The closed-form maximiser of the joint gate objective
    :math:`\\sum_i \\theta_i \\cdot T_i - W N(\\theta)`.

    ``T_i = sum_n w_n tau_ni phi(x_n)`` holds the mass, the first and the second
    moments of component ``i``'s responsibilities: the maximiser is the
    Gaussian mixture with weights ``T_i0 / W`` and those moments (the M-step of
    a weighted Gaussian mixture), its covariances' eigenvalues clipped below at
    ``floor`` (the exact maximiser under that bound).  A component with a mass
    below ``EMPTY_COMPONENT_FRACTION`` of ``W`` keeps its block.

    Parameters
    ----------
    stats : ndarray of shape (k, m)
        ``T``.
    total : float
        ``W``.
    rows : ndarray of shape (k, m)
        The current blocks.
    floor : float

    Returns
    -------
    rows : ndarray of shape (k, m)
    floored : bool
        Whether a covariance was clipped.

    Examples
    --------
    >>> import numpy as np
    >>> from gmoe.gates._gaussian_maths import augmented_design
    >>> x = np.array([[-1.0], [1.0], [2.0], [4.0]])
    >>> T = np.stack([augmented_design(x[:2]).sum(0), augmented_design(x[2:]).sum(0)])
    >>> new, _ = gaussian_m_step(T, 4.0, np.zeros((2, 3)), 1e-6)
    >>> w, c, G, _ = quadratic_to_gaussian(new)
    >>> w, c.ravel(), G.ravel()
    (array([0.5, 0.5]), array([0., 3.]), array([1., 1.]))
    """
    stats = np.asarray(stats, dtype=float)
    k, m = stats.shape
    d = _n_features_of(m)
    r, s = _triu(d)
    new = np.array(rows, dtype=float)
    mass = stats[:, 0]
    full = mass > EMPTY_COMPONENT_FRACTION * total
    if not full.any():
        return new, False
    mean = stats[full, 1:1 + d] / mass[full, None]
    second = np.zeros((int(full.sum()), d, d))
    second[:, r, s] = stats[full, 1 + d:] / mass[full, None]
    second[:, s, r] = second[:, r, s]
    eigval, eigvec = np.linalg.eigh(second - mean[:, :, None] * mean[:, None, :])
    floored = bool(np.any(eigval < floor))
    eigval = np.maximum(eigval, floor)
    # the block of N(mean, cov) with weight mass / W, from the eigenvalues
    precision = (eigvec / eigval[:, None, :]) @ np.swapaxes(eigvec, 1, 2)
    linear = (precision @ mean[:, :, None])[:, :, 0]
    const = (np.log(mass[full] / total)
             - 0.5 * (d * _LOG_2PI + np.log(eigval).sum(axis=1))
             - 0.5 * np.sum(linear * mean, axis=1))
    new[full, 0] = const
    new[full, 1:1 + d] = linear
    new[full, 1 + d:] = _quad_vector(-0.5 * precision)
    return new, floored


def moment_matched_representative(rows, x_mean, x_second, *, max_iter=100,
                                  tol=1e-10):
    """The Gaussian representative of a class of gate scores whose x-marginal
    has given first and second moments.

    The class of ``rows`` is every ``rows + t`` with ``t`` a common quadratic
    (no constant; the constant is fixed by normalising the weights).  Among its
    members with negative definite quadratic parts, each defines a Gaussian
    mixture on x, :math:`f_t(x) = \\exp(\\mathrm{LSE}_i\\, s_i(x) + t \\cdot
    (x, \\mathrm{quad}(x)) - A(t))`: an exponential family in ``t`` with
    sufficient statistic ``(x, quad(x))`` and log-partition :math:`A(t) =
    N(\\mathrm{rows} + t)` (:func:`log_partition`).  The representative is its
    maximum likelihood member for a sample with the given moments, which is the
    member whose mean and second moment equal ``x_mean`` and ``x_second``: the
    minimiser of the convex :math:`A(t) - t \\cdot \\bar T`.  With the moments of
    the training X it is the member that best fits the marginal of X, and at the
    population moments of a Gaussian-gated truth it is the truth itself.

    Solved by Newton's method with the exact Hessian (the covariance of the
    statistic under :math:`f_t`) and backtracking, from a feasible start.

    Parameters
    ----------
    rows : ndarray of shape (k, 1 + d + d (d + 1) / 2)
        Scores on :func:`augmented_design` (any member of the class).
    x_mean : ndarray of shape (d,)
    x_second : ndarray of shape (d, d)
        Target mean and second moment ``E[x x^T]`` (positive definite covariance).
    max_iter : int, default=100
    tol : float, default=1e-10
        Stop when the moments match to ``tol`` (relative to the largest target).

    Returns
    -------
    weight : ndarray of shape (k,)
    mean : ndarray of shape (k, d)
    covariance : ndarray of shape (k, d, d)
    gap : float
        Largest difference between the representative's moments and the
        targets (0 up to ``tol`` when it matches them).

    Examples
    --------
    >>> import numpy as np
    >>> from gmoe.gates._gaussian_maths import gaussian_to_quadratic
    >>> w, c, G = np.array([0.4, 0.6]), np.array([[-1.0], [1.0]]), np.ones((2, 1, 1))
    >>> rows = gaussian_to_quadratic(w, c, G)
    >>> shifted = rows + np.array([0.0, 3.0, 0.8])  # same gate, not Gaussian
    >>> m = w @ c; s = np.einsum("i,iab->ab", w, G + c[:, :, None] ** 2)
    >>> w2, c2, G2, gap = moment_matched_representative(shifted, m, s)
    >>> np.allclose(w2, w) and np.allclose(c2, c) and np.allclose(G2, G)
    True
    """
    rows = np.asarray(rows, dtype=float)
    d = _n_features_of(rows.shape[1])
    r, s = _triu(d)
    x_second = np.asarray(x_second, dtype=float)
    target = np.concatenate([np.asarray(x_mean, float).ravel(), x_second[r, s]])
    scale = 1.0 + np.max(np.abs(target))

    def objective(t, order):
        value, grad, hess = log_partition(_translated(rows, t), order)
        if order == 0:
            return value - t @ target, None, None
        g = grad[:, 1:].sum(axis=0) - target
        h = None if hess is None else hess[:, :, 1:, 1:].sum(axis=(0, 1))
        return value - t @ target, g, h

    # feasible start: a common quadratic that makes every score concave
    quad = _quad_matrix(rows[:, 1 + d:], d)
    top = np.linalg.eigvalsh(quad).max()
    t = np.zeros(rows.shape[1] - 1)
    if top >= 0:
        t[d:] = _quad_vector(-(top + 1.0) * np.eye(d))
    value, grad, hess = objective(t, 2)
    for _ in range(max_iter):
        if np.max(np.abs(grad)) <= tol * scale:
            break
        try:
            step = -np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            step = -grad
        if not np.all(np.isfinite(step)) or grad @ step >= 0:
            step = -grad
        fraction = 1.0
        for _ in range(60):
            new_value = objective(t + fraction * step, 0)[0]
            if new_value <= value + 1e-4 * fraction * (grad @ step):
                break
            fraction *= 0.5
        else:
            break
        t = t + fraction * step
        value, grad, hess = objective(t, 2)
    weight, mean, cov, _ = quadratic_to_gaussian(_translated(rows, t))
    return weight, mean, cov, float(np.max(np.abs(grad)))
