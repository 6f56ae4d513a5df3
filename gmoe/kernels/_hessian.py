"""Compiled kernel of the observed log-likelihood's gradient and Hessian.

The conventions are those of :mod:`gmoe.kernels._em` (``Xt`` (n, p) with a leading
column of ones, ``gate`` (k, p), ``coef`` (k, p), ``var`` (k,)).  The parameters are
taken per expert, in blocks of ``q = 2 p + 1``: the gate row ``gate[i]`` (p), the
expert row ``coef[i]`` (p) and the log-variance ``s_i = log var[i]`` (1).  Expert
``i`` occupies the entries ``i q .. (i + 1) q`` of the gradient and of each axis of
the Hessian.  Dropping the reference expert's gate row and reordering is left to
the caller (:mod:`gmoe.engine._model`).

With :math:`h_{ni} = \\eta_{ni} - \\tfrac12 s_i - \\tfrac12 r_{ni}^2 e^{-s_i}`
(``eta`` the gate logit, ``r`` the residual of expert ``i``), the log-likelihood of
sample ``n`` is :math:`\\ell_n = \\mathrm{LSE}_i(h_{ni}) - \\mathrm{LSE}_i(\\eta_{ni})`
up to a constant, so that

.. math::

    \\nabla \\ell_n = \\sum_i \\tau_{ni} g_{ni} - \\sum_i \\pi_{ni} e_{ni},\\qquad
    \\nabla^2 \\ell_n = \\sum_i \\tau_{ni} (\\nabla^2 h_{ni} + g_{ni} g_{ni}^T)
        - m_n m_n^T - \\sum_i \\pi_{ni} e_{ni} e_{ni}^T + u_n u_n^T,

with :math:`g_{ni} = \\nabla h_{ni} = (\\tilde x_n,\\ r_{ni} \\tilde x_n / \\sigma_i,\\
\\tfrac12 (r_{ni}^2 / \\sigma_i - 1))` in block ``i``, :math:`m_n = \\sum_i \\tau_{ni}
g_{ni}`, :math:`e_{ni}` the gate part :math:`\\tilde x_n` of block ``i`` and
:math:`u_n = \\sum_i \\pi_{ni} e_{ni}`.
"""

import math

import numpy as np

from gmoe.kernels._em import (
    LOG_2PI,
    _as_c_float64,
    _linear_predictors,
    _load_chunk,
    _n_tasks,
    _run_tasks,
    _softmax_columns,
)
from gmoe.kernels._numba_config import CHUNK_SIZE, jit


@jit
def _hessian_tasks(t0, t1, Xt, y, w, gate, coef, log_norm, inv_var, ll_c, grad_c,
                   hess_c):
    """Tasks ``t0 .. t1`` of :func:`loglik_hessian`, one after the other.

    As in :func:`gmoe.kernels._em.e_step`, the chunks are dealt in contiguous runs to
    ``len(ll_c)`` tasks, each adding its chunks in order; only the upper triangle
    of ``hess_c[t]`` is filled.
    """
    n, p = Xt.shape
    k = coef.shape[0]
    q = 2 * p + 1
    n_tasks = ll_c.shape[0]
    n_chunks = (n + CHUNK_SIZE - 1) // CHUNK_SIZE
    for t in range(t0, t1):
        XT = np.empty((p, CHUNK_SIZE))
        LP = np.empty((k, CHUNK_SIZE))
        P = np.empty((k, CHUNK_SIZE))
        LJ = np.empty((k, CHUNK_SIZE))
        T = np.empty((k, CHUNK_SIZE))
        R = np.empty((k, CHUNK_SIZE))
        G = np.empty((k * q, CHUNK_SIZE))
        U = np.empty((k * p, CHUNK_SIZE))
        LSE = np.empty(CHUNK_SIZE)
        TMP = np.empty(CHUNK_SIZE)
        SW = np.empty(CHUNK_SIZE)
        grad = grad_c[t]
        hess = hess_c[t]
        for c in range(t * n_chunks // n_tasks, (t + 1) * n_chunks // n_tasks):
            lo = c * CHUNK_SIZE
            m = min(n, lo + CHUNK_SIZE) - lo
            _load_chunk(Xt, lo, m, XT)
            _linear_predictors(gate, XT, m, LP)
            _linear_predictors(coef, XT, m, LJ)
            for i in range(k):
                for j in range(m):
                    r = y[lo + j] - LJ[i, j]
                    R[i, j] = r * inv_var[i]
                    LJ[i, j] = log_norm[i] - 0.5 * r * r * inv_var[i]
            _softmax_columns(LP, m, P, LP, LSE, TMP)
            for i in range(k):
                for j in range(m):
                    LJ[i, j] += LP[i, j]
            _softmax_columns(LJ, m, T, LJ, LSE, TMP)
            acc = 0.0
            for j in range(m):
                acc += w[lo + j] * LSE[j]
            ll_c[t] += acc
            # G: the rows of m_n = sum_i tau_i g_i; U: the rows of u_n = pi_i x;
            # both times sqrt(w_n), so that the outer products need one product
            # per term (SW holds sqrt(w_n)).
            for j in range(m):
                SW[j] = math.sqrt(w[lo + j])
            for i in range(k):
                base = i * q
                vi = 1.0 / inv_var[i]
                for a in range(p):
                    for j in range(m):
                        tx = SW[j] * T[i, j] * XT[a, j]
                        G[base + a, j] = tx
                        G[base + p + a, j] = tx * R[i, j]
                        U[i * p + a, j] = SW[j] * P[i, j] * XT[a, j]
                for j in range(m):
                    G[base + 2 * p, j] = SW[j] * T[i, j] * 0.5 * (
                        R[i, j] * R[i, j] * vi - 1.0)
            # Gradient.
            for r_ in range(k * q):
                acc = 0.0
                for j in range(m):
                    acc += SW[j] * G[r_, j]
                grad[r_] += acc
            for i in range(k):
                for a in range(p):
                    acc = 0.0
                    for j in range(m):
                        acc += SW[j] * U[i * p + a, j]
                    grad[i * q + a] -= acc
            # -m m^T, upper triangle.
            for r_ in range(k * q):
                for s_ in range(r_, k * q):
                    acc = 0.0
                    for j in range(m):
                        acc += G[r_, j] * G[s_, j]
                    hess[r_, s_] -= acc
            # +u u^T on the gate blocks, upper triangle.
            for i in range(k):
                for a in range(p):
                    for l_ in range(i, k):
                        b0 = a if l_ == i else 0
                        for b in range(b0, p):
                            acc = 0.0
                            for j in range(m):
                                acc += U[i * p + a, j] * U[l_ * p + b, j]
                            hess[i * q + a, l_ * q + b] += acc
            # Diagonal blocks: tau_i (hess h_i + g_i g_i^T) - pi_i e_i e_i^T.
            for i in range(k):
                base = i * q
                vi = 1.0 / inv_var[i]
                for j in range(m):
                    TMP[j] = 0.5 * (R[i, j] * R[i, j] * vi - 1.0)
                for a in range(p):
                    for b in range(a, p):
                        gg = 0.0
                        gc = 0.0
                        cc = 0.0
                        for j in range(m):
                            xx = w[lo + j] * XT[a, j] * XT[b, j]
                            gg += (T[i, j] - P[i, j]) * xx
                            gc += T[i, j] * R[i, j] * xx
                            cc += T[i, j] * (R[i, j] * R[i, j] - inv_var[i]) * xx
                        hess[base + a, base + b] += gg
                        hess[base + a, base + p + b] += gc
                        if b > a:
                            hess[base + b, base + p + a] += gc
                        hess[base + p + a, base + p + b] += cc
                    gs = 0.0
                    cs = 0.0
                    for j in range(m):
                        tx = w[lo + j] * T[i, j] * XT[a, j]
                        gs += tx * TMP[j]
                        cs += tx * R[i, j] * (TMP[j] - 1.0)
                    hess[base + a, base + 2 * p] += gs
                    hess[base + p + a, base + 2 * p] += cs
                acc = 0.0
                for j in range(m):
                    acc += w[lo + j] * T[i, j] * (
                        TMP[j] * TMP[j] - 0.5 * R[i, j] * R[i, j] * vi)
                hess[base + 2 * p, base + 2 * p] += acc


def loglik_hessian(Xt, y, w, gate, coef, var):
    """Log-likelihood, its gradient and its Hessian in one pass over the data.

    The parameters are, per expert ``i`` (block of ``q = 2 p + 1`` entries), the gate
    row ``gate[i]``, the expert row ``coef[i]`` and ``log var[i]``; all ``k`` gate
    rows are included (the model's translation invariance makes the Hessian
    singular along a common shift of them).

    Parameters
    ----------
    Xt : ndarray of shape (n, p)
        Design with a leading column of ones.
    y, w : ndarray of shape (n,)
        Responses and sample weights.
    gate, coef : ndarray of shape (k, p)
    var : ndarray of shape (k,)
        Variances.

    Returns
    -------
    loglik : float
        :math:`\\sum_n w_n \\log \\sum_i \\pi_i(x_n) N(y_n; coef_i \\cdot x_n, var_i)`.
    grad : ndarray of shape (k q,)
    hess : ndarray of shape (k q, k q)
        Symmetric.

    Examples
    --------
    >>> import numpy as np
    >>> Xt = np.column_stack([np.ones(5), np.linspace(0, 1, 5)])
    >>> y = np.array([0.1, -0.2, 0.4, 0.0, 0.3])
    >>> gate = np.zeros((2, 2)); coef = np.zeros((2, 2)); var = np.ones(2)
    >>> ll, grad, hess = loglik_hessian(Xt, y, np.ones(5), gate, coef, var)
    >>> grad.shape, hess.shape
    ((10,), (10, 10))
    """
    Xt, y, w, gate, coef, var = _as_c_float64(Xt, y, w, gate, coef, var)
    n, p = Xt.shape
    k = coef.shape[0]
    q = 2 * p + 1
    n_tasks = _n_tasks(n)
    ll_c = np.zeros(n_tasks)
    grad_c = np.zeros((n_tasks, k * q))
    hess_c = np.zeros((n_tasks, k * q, k * q))
    log_norm = -0.5 * (LOG_2PI + np.log(var))
    inv_var = 1.0 / var
    _run_tasks(_hessian_tasks, n_tasks,
               (Xt, y, w, gate, coef, log_norm, inv_var, ll_c, grad_c, hess_c))
    return _hessian_sums(ll_c, grad_c, hess_c)


@jit
def _hessian_sums(ll_c, grad_c, hess_c):
    """Add the task sums in task order and complete the Hessian's lower triangle."""
    m = grad_c.shape[1]
    loglik = 0.0
    grad = np.zeros(m)
    hess = np.zeros((m, m))
    for t in range(ll_c.shape[0]):
        loglik += ll_c[t]
        for r in range(m):
            grad[r] += grad_c[t, r]
            for s in range(r, m):
                hess[r, s] += hess_c[t, r, s]
    for r in range(m):
        for s in range(r):
            hess[r, s] = hess[s, r]
    return loglik, grad, hess
