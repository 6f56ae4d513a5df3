"""Small dense linear algebra for the M-steps: many tiny systems solved in one
compiled call, where numpy's per-call overhead would cost more than the solve."""

import math

import numpy as np

from gmoe.kernels._numba_config import jit

#: A Cholesky pivot at most this fraction of its matrix's diagonal entry counts
#: as zero: the matrix is singular to working precision (an expert whose weight
#: sits on fewer samples than it has coefficients), and solving it anyway gives
#: coefficients of order 1 / round-off and a residual sum of pure cancellation.
#: The callers then take the minimum-norm least-squares solution.
PIVOT_RTOL = 1e-12


@jit
def cholesky_solve(A, B, out):
    """Solve ``A[i] x_i = B[i]`` for each symmetric positive definite ``A[i]``.

    Parameters
    ----------
    A : ndarray of shape (k, p, p)
        Symmetric matrices (only their lower triangles are read).
    B : ndarray of shape (k, p)
    out : ndarray of shape (k, p)
        Receives the solutions.

    Returns
    -------
    bool
        False when a matrix is not numerically positive definite (a pivot that
        is not finite or at most :data:`PIVOT_RTOL` times its diagonal entry)
        or a solution is not finite; ``out`` is then incomplete and the caller
        must solve another way.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[[4.0, 2.0], [2.0, 3.0]]]); out = np.empty((1, 2))
    >>> bool(cholesky_solve(A, np.array([[2.0, 1.0]]), out)), out
    (True, array([[0.5, 0. ]]))
    """
    k, p = B.shape
    L = np.empty((p, p))
    for i in range(k):
        for a in range(p):
            for b in range(a + 1):
                s = A[i, a, b]
                for c in range(b):
                    s -= L[a, c] * L[b, c]
                if a == b:
                    if not (s > PIVOT_RTOL * A[i, a, a] and s > 0.0
                            and s < math.inf):
                        return False
                    L[a, a] = math.sqrt(s)
                else:
                    L[a, b] = s / L[b, b]
        for a in range(p):
            s = B[i, a]
            for c in range(a):
                s -= L[a, c] * out[i, c]
            out[i, a] = s / L[a, a]
        for a in range(p - 1, -1, -1):
            s = out[i, a]
            for c in range(a + 1, p):
                s -= L[c, a] * out[i, c]
            out[i, a] = s / L[a, a]
            if not math.isfinite(out[i, a]):
                return False
    return True


@jit
def least_squares_update(A, B, C, coef, var, var_lower, var_upper, min_weight,
                         coef_out, var_out):
    """The closed-form update of Gaussian linear experts, expert by expert:
    ``coef_i = A_i^{-1} B_i`` (Cholesky) and ``var_i = (C_i - 2 coef_i' B_i +
    coef_i' A_i coef_i) / A_i[0, 0]`` clipped to ``[var_lower, var_upper]``; an
    expert whose weight ``A_i[0, 0]`` is at most ``min_weight`` keeps ``coef_i``
    and ``var_i``.

    Parameters
    ----------
    A : ndarray of shape (k, p, p)
    B : ndarray of shape (k, p)
    C : ndarray of shape (k,)
    coef : ndarray of shape (k, p)
    var : ndarray of shape (k,)
    var_lower, var_upper, min_weight : float
    coef_out : ndarray of shape (k, p)
    var_out : ndarray of shape (k,)
        Receive the update.

    Returns
    -------
    bool
        False when some active expert's ``A_i`` is not numerically positive
        definite; the outputs are then incomplete and the caller must solve
        another way (:func:`gmoe.experts.weighted_least_squares`).

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[[2.0, 0.0], [0.0, 2.0]]]); B = np.array([[2.0, 4.0]])
    >>> coef, var = np.empty((1, 2)), np.empty(1)
    >>> ok = least_squares_update(A, B, np.array([12.0]), np.zeros((1, 2)),
    ...                           np.ones(1), 1e-6, np.inf, 0.0, coef, var)
    >>> bool(ok), coef, var
    (True, array([[1., 2.]]), array([1.]))
    """
    k, p = B.shape
    for i in range(k):
        if not A[i, 0, 0] > min_weight:
            for a in range(p):
                coef_out[i, a] = coef[i, a]
            var_out[i] = var[i]
            continue
        if not cholesky_solve(A[i:i + 1], B[i:i + 1], coef_out[i:i + 1]):
            return False
        rss = C[i]
        for a in range(p):
            rss -= 2.0 * coef_out[i, a] * B[i, a]
        for a in range(p):
            s = 0.0
            for b in range(p):
                s += A[i, a, b] * coef_out[i, b]
            rss += coef_out[i, a] * s
        var_out[i] = min(max(rss / A[i, 0, 0], var_lower), var_upper)
    return True


@jit
def ridge_cholesky_solve(H, g, relative_ridge, out):
    """Solve ``(H + r I) x = g`` for a symmetric ``H`` (m, m) by Cholesky, with
    the ridge ``r = relative_ridge * max(trace(H) / m, 1e-300)``.

    Returns False when ``H + r I`` is not numerically positive definite or the
    solution is not finite (``out`` is then incomplete).

    Examples
    --------
    >>> import numpy as np
    >>> out = np.empty(2)
    >>> ok = ridge_cholesky_solve(np.array([[4.0, 2.0], [2.0, 3.0]]),
    ...                           np.array([2.0, 1.0]), 0.0, out)
    >>> bool(ok), out
    (True, array([0.5, 0. ]))
    """
    m = g.shape[0]
    trace = 0.0
    for a in range(m):
        trace += H[a, a]
    ridge = relative_ridge * max(trace / m, 1e-300)
    L = np.empty((m, m))
    for a in range(m):
        for b in range(a + 1):
            s = H[a, b] + (ridge if a == b else 0.0)
            for c in range(b):
                s -= L[a, c] * L[b, c]
            if a == b:
                if not (s > 0.0 and s < math.inf):
                    return False
                L[a, a] = math.sqrt(s)
            else:
                L[a, b] = s / L[b, b]
    for a in range(m):
        s = g[a]
        for c in range(a):
            s -= L[a, c] * out[c]
        out[a] = s / L[a, a]
    for a in range(m - 1, -1, -1):
        s = out[a]
        for c in range(a + 1, m):
            s -= L[c, a] * out[c]
        out[a] = s / L[a, a]
        if not math.isfinite(out[a]):
            return False
    return True


@jit
def expert_moments(Xt, y, w, resp, A, B, C):
    """The weighted least-squares statistics of every expert, in one pass:
    ``A_i = sum_n w_n tau_ni x_n x_n'``, ``B_i = sum_n w_n tau_ni y_n x_n`` and
    ``C_i = sum_n w_n tau_ni y_n^2``.

    Parameters
    ----------
    Xt : ndarray of shape (n, p)
    y, w : ndarray of shape (n,)
    resp : ndarray of shape (n, k)
    A : ndarray of shape (k, p, p)
    B : ndarray of shape (k, p)
    C : ndarray of shape (k,)
        Receive the sums (overwritten).

    Examples
    --------
    >>> import numpy as np
    >>> Xt = np.array([[1.0, 0.0], [1.0, 2.0]]); y = np.array([1.0, 3.0])
    >>> A, B, C = np.empty((1, 2, 2)), np.empty((1, 2)), np.empty(1)
    >>> expert_moments(Xt, y, np.ones(2), np.ones((2, 1)), A, B, C)
    >>> A[0], B[0], C[0]
    (array([[2., 2.],
           [2., 4.]]), array([4., 6.]), np.float64(10.0))
    """
    n, p = Xt.shape
    k = resp.shape[1]
    A[...] = 0.0
    B[...] = 0.0
    C[...] = 0.0
    for s in range(n):
        for i in range(k):
            t = w[s] * resp[s, i]
            if t == 0.0:
                continue
            ty = t * y[s]
            C[i] += ty * y[s]
            for a in range(p):
                B[i, a] += ty * Xt[s, a]
                ta = t * Xt[s, a]
                for b in range(a + 1):
                    A[i, a, b] += ta * Xt[s, b]
    for i in range(k):
        for a in range(p):
            for b in range(a + 1, p):
                A[i, a, b] = A[i, b, a]
