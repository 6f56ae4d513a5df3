"""Compiled E-step for any gate: the gate enters through its log-weights and the
derivatives of its scores.

:func:`e_step_from_scores` is the fused pass of :func:`gmoe._kernels.e_step`
for a gate given as ``log pi`` (n, k) and ``D1`` (n, k, m), the derivatives of
each expert's score with respect to its block (:mod:`gmoe.gates`): the
responsibilities, the log-likelihood, the experts' least-squares statistics
and the gate objective with its gradient and (Fisher) information.  The samples
are split into as many contiguous runs as :func:`gmoe._kernels._n_tasks` says
(a number that depends on ``n`` only), the runs summed in parallel threads and
their sums added in order, so the result does not depend on the machine's
number of threads.
"""

import numpy as np

from gmoe._kernels import _add_tasks, _n_tasks, _run_tasks
from gmoe._numba_config import jit

LOG_2PI = float(np.log(2.0 * np.pi))


@jit
def _gate_sums(s, weight, tau, pi, LP, D1, q, grad, info):
    """Add sample ``s``'s terms of the gate objective for ``tau`` (k,), with gate
    weights ``pi`` (k,), to ``q[0]``, ``grad`` (k, m) and ``info`` (k, k, m, m)."""
    k, m = D1.shape[1], D1.shape[2]
    for i in range(k):
        if pi[i] == 0.0:
            continue
        q[0] += weight * tau[i] * LP[s, i]
        coef = weight * (tau[i] - pi[i])
        for a in range(m):
            grad[i, a] += coef * D1[s, i, a]
        wp = weight * pi[i]
        for j in range(k):
            if pi[j] == 0.0:
                continue
            scale = wp * ((1.0 if i == j else 0.0) - pi[j])
            for a in range(m):
                da = scale * D1[s, i, a]
                for b in range(m):
                    info[i, j, a, b] += da * D1[s, j, b]


@jit
def _e_step_rows(lo, hi, LP, D1, Xt, y, w, coef, var, resp_prev, resp, A, B, C,
                 grad, info, sums):
    """The E-step's sums over the samples ``lo .. hi - 1``."""
    k = LP.shape[1]
    p = Xt.shape[1]
    log_norm = np.empty(k)
    for i in range(k):
        log_norm[i] = -0.5 * (LOG_2PI + np.log(var[i]))
    u = np.empty(k)
    tau = np.empty(k)
    pi = np.empty(k)
    q = np.zeros(1)
    for s in range(lo, hi):
        for i in range(k):
            pi[i] = np.exp(LP[s, i])
        top = -np.inf
        for i in range(k):
            mu = 0.0
            for a in range(p):
                mu += coef[i, a] * Xt[s, a]
            r = y[s] - mu
            u[i] = LP[s, i] + log_norm[i] - 0.5 * r * r / var[i]
            if u[i] > top:
                top = u[i]
        total = 0.0
        for i in range(k):
            tau[i] = np.exp(u[i] - top)
            total += tau[i]
        lse = top + np.log(total)
        weight = w[s]
        sums[0] += weight * lse
        for i in range(k):
            tau[i] /= total
            resp[s, i] = tau[i]
            if LP[s, i] != -np.inf:
                sums[2] += weight * resp_prev[s, i] * LP[s, i]
            wt = weight * tau[i]
            if wt == 0.0:
                continue
            for a in range(p):
                xa = wt * Xt[s, a]
                B[i, a] += xa * y[s]
                for b in range(p):
                    A[i, a, b] += xa * Xt[s, b]
            C[i] += wt * y[s] * y[s]
        _gate_sums(s, weight, tau, pi, LP, D1, q, grad, info)
    sums[1] = q[0]


@jit
def _e_step_tasks(t0, t1, LP, D1, Xt, y, w, coef, var, resp_prev, resp, A_c, B_c,
                  C_c, grad_c, info_c, sums_c):
    """Tasks ``t0 .. t1 - 1``: each sums its own run of samples into its slot."""
    n = LP.shape[0]
    n_tasks = A_c.shape[0]
    for t in range(t0, t1):
        _e_step_rows(n * t // n_tasks, n * (t + 1) // n_tasks, LP, D1, Xt, y, w,
                     coef, var, resp_prev, resp, A_c[t], B_c[t], C_c[t], grad_c[t],
                     info_c[t], sums_c[t])


@jit
def _gate_stats_rows(lo, hi, LP, D1, w, resp, grad, info, sums):
    k = LP.shape[1]
    tau = np.empty(k)
    pi = np.empty(k)
    q = np.zeros(1)
    for s in range(lo, hi):
        for i in range(k):
            tau[i] = resp[s, i]
            pi[i] = np.exp(LP[s, i])
        _gate_sums(s, w[s], tau, pi, LP, D1, q, grad, info)
    sums[0] = q[0]


@jit
def _gate_stats_tasks(t0, t1, LP, D1, w, resp, grad_c, info_c, sums_c):
    n = LP.shape[0]
    n_tasks = grad_c.shape[0]
    for t in range(t0, t1):
        _gate_stats_rows(n * t // n_tasks, n * (t + 1) // n_tasks, LP, D1, w, resp,
                         grad_c[t], info_c[t], sums_c[t])


def _total(parts):
    """The tasks' partial sums added in task order, (n_tasks, ...) -> (...)."""
    total = np.zeros(parts.shape[1:])
    _add_tasks(parts.reshape(parts.shape[0], -1), total.reshape(-1))
    return total


def e_step_from_scores(LP, D1, Xt, y, w, coef, var, resp_prev, resp):
    """Fused E-step for a gate given by its log-weights and score derivatives.

    Parameters
    ----------
    LP : ndarray of shape (n, k)
        ``log pi_i(x_n)`` (``-inf`` outside a sparse gate's active set).
    D1 : ndarray of shape (n, k, m)
        ``d s_i(x_n) / d theta_i``.
    Xt : ndarray of shape (n, p)
        Expert design (leading column of ones).
    y, w : ndarray of shape (n,)
    coef : ndarray of shape (k, p)
    var : ndarray of shape (k,)
    resp_prev : ndarray of shape (n, k)
        Read only: the responsibilities whose gate objective is returned as
        ``q_prev``.
    resp : ndarray of shape (n, k)
        Written: the responsibilities at these parameters.

    Returns
    -------
    loglik, A (k, p, p), B (k, p), C (k,), q, grad (k, m), info (k, k, m, m),
    q_prev
        As :func:`gmoe._kernels.e_step`, with the gate's gradient and Fisher
        information over the blocks.

    Examples
    --------
    >>> import numpy as np
    >>> n, k = 5, 2
    >>> LP = np.log(np.full((n, k), 0.5)); D1 = np.ones((n, k, 1))
    >>> Xt = np.column_stack([np.ones(n), np.arange(n, dtype=float)])
    >>> resp = np.empty((n, k))
    >>> out = e_step_from_scores(LP, D1, Xt, np.arange(n, dtype=float), np.ones(n),
    ...                          np.zeros((k, 2)), np.ones(k), resp.copy(), resp)
    >>> bool(np.allclose(resp, 0.5)), out[5].shape
    (True, (2, 1))
    """
    n, k = LP.shape
    p, m = Xt.shape[1], D1.shape[2]
    t = _n_tasks(n)
    A, B, C = np.zeros((t, k, p, p)), np.zeros((t, k, p)), np.zeros((t, k))
    grad, info = np.zeros((t, k, m)), np.zeros((t, k, k, m, m))
    sums = np.zeros((t, 3))
    _run_tasks(_e_step_tasks, t, (
        np.ascontiguousarray(LP), np.ascontiguousarray(D1), Xt, y, w,
        np.ascontiguousarray(coef), np.ascontiguousarray(var),
        np.ascontiguousarray(resp_prev), resp, A, B, C, grad, info, sums))
    sums = _total(sums)
    return (sums[0], _total(A), _total(B), _total(C), sums[1], _total(grad),
            _total(info), sums[2])


def gate_stats_from_scores(LP, D1, w, resp):
    """Gate objective ``sum_n w_n sum_i resp_ni log pi_ni``, its gradient (k, m)
    and Fisher information (k, k, m, m) from the log-weights and score
    derivatives (see :func:`e_step_from_scores`)."""
    n, k = LP.shape
    m = D1.shape[2]
    t = _n_tasks(n)
    grad, info = np.zeros((t, k, m)), np.zeros((t, k, k, m, m))
    sums = np.zeros((t, 1))
    _run_tasks(_gate_stats_tasks, t, (
        np.ascontiguousarray(LP), np.ascontiguousarray(D1), w,
        np.ascontiguousarray(resp), grad, info, sums))
    return _total(sums)[0], _total(grad), _total(info)
