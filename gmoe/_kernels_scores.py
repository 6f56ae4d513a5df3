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
from gmoe._numba_config import jit, jit_inline

LOG_2PI = float(np.log(2.0 * np.pi))


@jit_inline
def _log_weights(S, s, LP):
    """``LP = S[s] - logsumexp(S[s])``: the log gate weights of sample ``s``
    (``-inf`` stays ``-inf``: an expert outside a sparse gate's active set)."""
    k = S.shape[1]
    top = -np.inf
    for i in range(k):
        if S[s, i] > top:
            top = S[s, i]
    total = 0.0
    for i in range(k):
        total += np.exp(S[s, i] - top)
    lse = top + np.log(total)
    for i in range(k):
        LP[i] = S[s, i] - lse


@jit
def _gate_sums(s, weight, tau, pi, LP, D1, q, grad, info):
    """Add sample ``s``'s terms of the gate objective for ``tau`` (k,), with log
    gate weights ``LP`` (k,) and weights ``pi`` (k,), to ``q[0]``, ``grad``
    (k, m) and ``info`` (k, k, m, m)."""
    k, m = D1.shape[1], D1.shape[2]
    for i in range(k):
        if pi[i] == 0.0:
            continue
        q[0] += weight * tau[i] * LP[i]
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
def _e_step_rows(lo, hi, S, D1, Xt, y, w, coef, var, resp_prev, resp, A, B, C,
                 grad, info, sums):
    """The E-step's sums over the samples ``lo .. hi - 1``."""
    k = S.shape[1]
    p = Xt.shape[1]
    log_norm = np.empty(k)
    for i in range(k):
        log_norm[i] = -0.5 * (LOG_2PI + np.log(var[i]))
    u = np.empty(k)
    tau = np.empty(k)
    pi = np.empty(k)
    LP = np.empty(k)
    q = np.zeros(1)
    for s in range(lo, hi):
        _log_weights(S, s, LP)
        for i in range(k):
            pi[i] = np.exp(LP[i])
        top = -np.inf
        for i in range(k):
            mu = 0.0
            for a in range(p):
                mu += coef[i, a] * Xt[s, a]
            r = y[s] - mu
            u[i] = LP[i] + log_norm[i] - 0.5 * r * r / var[i]
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
            if LP[i] != -np.inf:
                sums[2] += weight * resp_prev[s, i] * LP[i]
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
def _e_step_tasks(t0, t1, S, D1, Xt, y, w, coef, var, resp_prev, resp, A_c, B_c,
                  C_c, grad_c, info_c, sums_c):
    """Tasks ``t0 .. t1 - 1``: each sums its own run of samples into its slot."""
    n = S.shape[0]
    n_tasks = A_c.shape[0]
    for t in range(t0, t1):
        _e_step_rows(n * t // n_tasks, n * (t + 1) // n_tasks, S, D1, Xt, y, w,
                     coef, var, resp_prev, resp, A_c[t], B_c[t], C_c[t], grad_c[t],
                     info_c[t], sums_c[t])


@jit
def _gate_stats_rows(lo, hi, S, D1, w, resp, grad, info, sums):
    k = S.shape[1]
    tau = np.empty(k)
    pi = np.empty(k)
    LP = np.empty(k)
    q = np.zeros(1)
    for s in range(lo, hi):
        _log_weights(S, s, LP)
        for i in range(k):
            tau[i] = resp[s, i]
            pi[i] = np.exp(LP[i])
        _gate_sums(s, w[s], tau, pi, LP, D1, q, grad, info)
    sums[0] = q[0]


@jit
def _gate_stats_tasks(t0, t1, S, D1, w, resp, grad_c, info_c, sums_c):
    n = S.shape[0]
    n_tasks = grad_c.shape[0]
    for t in range(t0, t1):
        _gate_stats_rows(n * t // n_tasks, n * (t + 1) // n_tasks, S, D1, w, resp,
                         grad_c[t], info_c[t], sums_c[t])


def _total(parts):
    """The tasks' partial sums added in task order, (n_tasks, ...) -> (...)."""
    total = np.zeros(parts.shape[1:])
    _add_tasks(parts.reshape(parts.shape[0], -1), total.reshape(-1))
    return total


def e_step_from_scores(S, D1, Xt, y, w, coef, var, resp_prev, resp):
    """Fused E-step for a gate given by its log-weights and score derivatives.

    Parameters
    ----------
    S : ndarray of shape (n, k)
        Gate scores ``s_i(x_n)`` (``-inf`` outside a sparse gate's active set);
        the weights are their softmax.
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
    >>> S = np.zeros((n, k)); D1 = np.ones((n, k, 1))
    >>> Xt = np.column_stack([np.ones(n), np.arange(n, dtype=float)])
    >>> resp = np.empty((n, k))
    >>> out = e_step_from_scores(S, D1, Xt, np.arange(n, dtype=float), np.ones(n),
    ...                          np.zeros((k, 2)), np.ones(k), resp.copy(), resp)
    >>> bool(np.allclose(resp, 0.5)), out[5].shape
    (True, (2, 1))
    """
    n, k = S.shape
    p, m = Xt.shape[1], D1.shape[2]
    t = _n_tasks(n)
    A, B, C = np.zeros((t, k, p, p)), np.zeros((t, k, p)), np.zeros((t, k))
    grad, info = np.zeros((t, k, m)), np.zeros((t, k, k, m, m))
    sums = np.zeros((t, 3))
    _run_tasks(_e_step_tasks, t, (
        np.ascontiguousarray(S, dtype=np.float64), np.ascontiguousarray(D1), Xt, y, w,
        np.ascontiguousarray(coef), np.ascontiguousarray(var),
        np.ascontiguousarray(resp_prev), resp, A, B, C, grad, info, sums))
    sums = _total(sums)
    return (sums[0], _total(A), _total(B), _total(C), sums[1], _total(grad),
            _total(info), sums[2])


def gate_stats_from_scores(S, D1, w, resp):
    """Gate objective ``sum_n w_n sum_i resp_ni log pi_ni``, its gradient (k, m)
    and Fisher information (k, k, m, m) from the log-weights and score
    derivatives (see :func:`e_step_from_scores`)."""
    n, k = S.shape
    m = D1.shape[2]
    t = _n_tasks(n)
    grad, info = np.zeros((t, k, m)), np.zeros((t, k, k, m, m))
    sums = np.zeros((t, 1))
    _run_tasks(_gate_stats_tasks, t, (
        np.ascontiguousarray(S, dtype=np.float64), np.ascontiguousarray(D1), w,
        np.ascontiguousarray(resp), grad, info, sums))
    return _total(sums)[0], _total(grad), _total(info)


@jit
def _hessian_rows(lo, hi, S, D1, D2, Xt, y, w, coef, var, grad, hess, value):
    """The log-likelihood's value, gradient and Hessian summed over the samples
    ``lo .. hi - 1``, in per-expert blocks ``(gate block, expert row,
    log-variance)`` of ``q = m + p + 1``; only the blocks ``i <= j`` of the
    Hessian are filled (the caller mirrors them)."""
    k, m = D1.shape[1], D1.shape[2]
    p = Xt.shape[1]
    q = m + p + 1
    has_d2 = D2.shape[0] > 0
    log_norm = np.empty(k)
    for i in range(k):
        log_norm[i] = -0.5 * (LOG_2PI + np.log(var[i]))
    u = np.empty(k)
    tau = np.empty(k)
    pi = np.empty(k)
    r = np.empty(k)
    V = np.empty((k, q))
    LP = np.empty(k)
    for s in range(lo, hi):
        _log_weights(S, s, LP)
        top = -np.inf
        for i in range(k):
            mu = 0.0
            for a in range(p):
                mu += coef[i, a] * Xt[s, a]
            r[i] = y[s] - mu
            u[i] = LP[i] + log_norm[i] - 0.5 * r[i] * r[i] / var[i]
            pi[i] = np.exp(LP[i])
            if u[i] > top:
                top = u[i]
        total = 0.0
        for i in range(k):
            tau[i] = np.exp(u[i] - top)
            total += tau[i]
        weight = w[s]
        value[0] += weight * (top + np.log(total))
        for i in range(k):
            tau[i] /= total
            z = r[i] / var[i]
            for a in range(m):
                V[i, a] = D1[s, i, a]
            for a in range(p):
                V[i, m + a] = z * Xt[s, a]
            V[i, q - 1] = 0.5 * (r[i] * z - 1.0)
        for i in range(k):
            wt = weight * tau[i]
            wp = weight * pi[i]
            for a in range(q):
                grad[i, a] += wt * V[i, a]
            for a in range(m):
                grad[i, a] -= wp * D1[s, i, a]
            # covariance of the per-expert derivatives under tau, blocks i <= j
            for j in range(i, k):
                c = -wt * tau[j]
                if j == i:
                    c += wt
                g = wp * (pi[j] - (1.0 if j == i else 0.0))
                for a in range(q):
                    ca = c * V[i, a]
                    for b in range(q):
                        hess[i, a, j, b] += ca * V[j, b]
                for a in range(m):
                    ga = g * D1[s, i, a]
                    for b in range(m):
                        hess[i, a, j, b] += ga * D1[s, j, b]
            # the expert's own second derivatives, and (tau - pi) D2
            z = r[i] / var[i]
            for a in range(p):
                xa = wt * Xt[s, a]
                for b in range(p):
                    hess[i, m + a, i, m + b] -= xa * Xt[s, b] / var[i]
                hess[i, m + a, i, q - 1] -= xa * z
                hess[i, q - 1, i, m + a] -= xa * z
            hess[i, q - 1, i, q - 1] -= 0.5 * wt * r[i] * z
            if has_d2:
                c = weight * (tau[i] - pi[i])
                for a in range(m):
                    for b in range(m):
                        hess[i, a, i, b] += c * D2[s, i, a, b]


@jit
def _hessian_tasks(t0, t1, S, D1, D2, Xt, y, w, coef, var, grad_c, hess_c,
                   value_c):
    n = S.shape[0]
    n_tasks = grad_c.shape[0]
    for t in range(t0, t1):
        _hessian_rows(n * t // n_tasks, n * (t + 1) // n_tasks, S, D1, D2, Xt, y,
                      w, coef, var, grad_c[t], hess_c[t], value_c[t])


def loglik_hessian_from_scores(S, D1, D2, Xt, y, w, coef, var):
    """Log-likelihood, gradient and Hessian for a gate given by its log-weights
    and score derivatives.

    Parameters
    ----------
    S : ndarray of shape (n, k)
        Gate scores (``-inf`` outside a sparse gate's active set).
    D1 : ndarray of shape (n, k, m)
    D2 : ndarray of shape (n, k, m, m) or None
        None for scores linear in the blocks.
    Xt, y, w, coef, var
        As :func:`e_step_from_scores`.

    Returns
    -------
    value : float
    grad : ndarray of shape (k, q)
    hess : ndarray of shape (k, q, k, q)
        In per-expert blocks ``(gate block (m), expert row (p), log-variance)``,
        ``q = m + p + 1``, every parameter of every expert (the caller keeps the
        free ones).

    Examples
    --------
    >>> import numpy as np
    >>> n, k = 6, 2
    >>> Xt = np.column_stack([np.ones(n), np.linspace(0, 1, n)])
    >>> value, grad, hess = loglik_hessian_from_scores(
    ...     np.zeros((n, k)), np.ones((n, k, 1)), None, Xt,
    ...     np.linspace(0, 1, n), np.ones(n), np.zeros((k, 2)), np.ones(k))
    >>> grad.shape, hess.shape, bool(np.allclose(hess, hess.transpose(2, 3, 0, 1)))
    ((2, 4), (2, 4, 2, 4), True)
    """
    n, k = S.shape
    p, m = Xt.shape[1], D1.shape[2]
    q = m + p + 1
    t = _n_tasks(n)
    grad = np.zeros((t, k, q))
    hess = np.zeros((t, k, q, k, q))
    value = np.zeros((t, 1))
    D2 = np.zeros((0, k, m, m)) if D2 is None else np.ascontiguousarray(D2)
    _run_tasks(_hessian_tasks, t, (
        np.ascontiguousarray(S, dtype=np.float64), np.ascontiguousarray(D1), D2, Xt, y, w,
        np.ascontiguousarray(coef), np.ascontiguousarray(var), grad, hess, value))
    hess = _total(hess)
    for i in range(k):
        for j in range(i + 1, k):
            hess[j, :, i, :] = hess[i, :, j, :].T
    return float(_total(value)[0]), _total(grad), hess
