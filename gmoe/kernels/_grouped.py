"""The compiled Hessian pass of a gate normalised in groups of fixed masses
(:meth:`gmoe.gates.Gate.groups`: shared and routed experts).

With ``log pi_i = log m_g + s_i - logsumexp_{j in g} s_j`` (``g = g(i)``),
``tilde pi = pi / m_g`` the weights within the group, ``T_i`` the
responsibility of expert ``i``'s group and ``u_i = log pi_i + log N_i``, the
derivative of ``u_i`` is ``V_i - E_g(i)``: ``V_i`` those of expert ``i``'s own
score and density (on its own parameters), ``E_g = sum_{j in g} tilde pi_j
D1_j`` (on the gate blocks of ``g``).  The log-likelihood's Hessian is the
covariance of these under ``tau`` plus ``sum_i tau_i d^2 u_i``; block
``(i, o)``, with ``s = [g(i) = g(o)]`` and ``PD_i = tilde pi_i D1_i``:

.. math::

    \\mathrm{Cov}_\\tau(V)_{io} - (s - T_o)\\,\\tau_i V_i PD_o^\\top
    - (s - T_i)\\,\\tau_o PD_i V_o^\\top + (2 s T_i - T_i T_o)\\, PD_i PD_o^\\top
    - \\delta_{io} T_i PD_i D1_i^\\top + \\delta_{io} (\\tau_i - T_i \\tilde\\pi_i)
    D2_i,

plus each expert's own second derivatives; with one group (``s = T = 1``) it is
the pass of :func:`gmoe.kernels._scores.loglik_hessian_from_scores`.  The
numpy twin: :func:`gmoe.engine._grouped.loglik_hessian`.  The gate enters by
its score arrays or as a linear predictor with the identity link.
"""

import math

import numpy as np

from gmoe.kernels._em import (
    _add_tasks,
    _expert_hessian,
    _linear_predictors,
    _load_chunk,
    _n_tasks,
    _normal_constants,
    _run_tasks,
    _softmax_columns,
)
from gmoe.kernels._numba_config import CHUNK_SIZE, jit
from gmoe.kernels._sources import _gate_scratch, _gate_weights, _group_sums


@jit
def _grouped_hessian_tasks(t0, t1, S, D1, D2, Zt, blocks, link, select,
                           select_param, marginal, constant, group, log_mass, Xt, y,
                           w, coef, var, grad_c, hess_c, value_c):
    """Tasks ``t0 .. t1 - 1``: value, gradient and the Hessian's blocks ``o >=
    i`` in per-expert blocks ``(gate block, expert row, log-variance)``."""
    n, p = Xt.shape
    k, q = grad_c.shape[1], grad_c.shape[2]
    m = q - p - 1
    n_tasks = grad_c.shape[0]
    n_chunks = (n + CHUNK_SIZE - 1) // CHUNK_SIZE
    log_norm, inv_var = np.empty(k), np.empty(k)
    _normal_constants(var, log_norm, inv_var)
    curved = Zt.shape[0] == 0 and D2.shape[0] > 0
    XT = np.empty((p, CHUNK_SIZE))
    scratch = _gate_scratch(k, m, Zt.shape[1])
    ZT, ST, LP, P, D1T, AUX, _, _, _, _, _, LSE, TMP = scratch
    LJ, TAU, R = np.empty((k, CHUNK_SIZE)), np.empty((k, CHUNK_SIZE)), \
        np.empty((k, CHUNK_SIZE))
    TG, PW = np.empty((k, CHUNK_SIZE)), np.empty((k, CHUNK_SIZE))
    VS, G = np.empty((k, q, CHUNK_SIZE)), np.empty((k, q, CHUNK_SIZE))
    PD = np.empty((k, m, CHUNK_SIZE))
    SW, C = np.empty(CHUNK_SIZE), np.empty(CHUNK_SIZE)
    for t in range(t0, t1):
        grad, hess = grad_c[t], hess_c[t]
        for c in range(t * n_chunks // n_tasks, (t + 1) * n_chunks // n_tasks):
            lo = c * CHUNK_SIZE
            mc = min(n, lo + CHUNK_SIZE) - lo
            _gate_weights(S, D1, Zt, blocks, link, select, select_param, constant,
                          group, log_mass, lo, mc, 2, scratch)
            _load_chunk(Xt, lo, mc, XT)
            _linear_predictors(coef, XT, mc, LJ)
            for i in range(k):
                for j in range(mc):
                    R[i, j] = y[lo + j] - LJ[i, j]
                    LJ[i, j] = (LP[i, j] + log_norm[i]
                                - 0.5 * R[i, j] * R[i, j] * inv_var[i])
            _softmax_columns(LJ, mc, TAU, LJ, LSE, TMP)
            v = 0.0
            for j in range(mc):
                v += w[lo + j] * LSE[j]
                SW[j] = math.sqrt(w[lo + j])
            value_c[t, 0] += v
            _group_sums(TAU, P, group, log_mass, mc, TG, PW, TMP)
            for i in range(k):
                for a in range(m):
                    for j in range(mc):
                        VS[i, a, j] = SW[j] * D1T[i, a, j]
                        PD[i, a, j] = PW[i, j] * VS[i, a, j]
                for a in range(p):
                    for j in range(mc):
                        VS[i, m + a, j] = SW[j] * R[i, j] * inv_var[i] * XT[a, j]
                for j in range(mc):
                    VS[i, q - 1, j] = SW[j] * 0.5 * (R[i, j] * R[i, j] * inv_var[i]
                                                     - 1.0)
                for a in range(q):
                    for j in range(mc):
                        G[i, a, j] = TAU[i, j] * VS[i, a, j]
            for i in range(k):
                for a in range(q):
                    acc = 0.0
                    if a < m:
                        for j in range(mc):
                            acc += SW[j] * (G[i, a, j] - TG[i, j] * PD[i, a, j])
                    else:
                        for j in range(mc):
                            acc += SW[j] * G[i, a, j]
                    grad[i, a] += acc
                for o in range(i, k):
                    s = 1.0 if group[i] == group[o] else 0.0
                    for a in range(q):
                        for b in range(q):
                            acc = 0.0
                            for j in range(mc):
                                acc -= G[i, a, j] * G[o, b, j]
                            if o == i:
                                for j in range(mc):
                                    acc += G[i, a, j] * VS[i, b, j]
                            if b < m:
                                for j in range(mc):
                                    acc -= G[i, a, j] * PD[o, b, j] * (s - TG[o, j])
                            if a < m:
                                for j in range(mc):
                                    acc -= PD[i, a, j] * G[o, b, j] * (s - TG[i, j])
                            if a < m and b < m:
                                for j in range(mc):
                                    acc += (PD[i, a, j] * PD[o, b, j] * TG[i, j]
                                            * (2.0 * s - TG[o, j]))
                                if o == i:
                                    for j in range(mc):
                                        acc -= TG[i, j] * PD[i, a, j] * VS[i, b, j]
                            hess[i, a, o, b] += acc
            for i in range(k):
                _expert_hessian(hess, i, w, lo, mc, TAU, XT, R, inv_var, m, q)
                if curved:  # (tau_i - T_i tilde pi_i) D2_i
                    for j in range(mc):
                        C[j] = w[lo + j] * (TAU[i, j] - TG[i, j] * PW[i, j])
                    for a in range(m):
                        for b in range(m):
                            acc = 0.0
                            for j in range(mc):
                                acc += C[j] * D2[lo + j, i, a, b]
                            hess[i, a, i, b] += acc


def _total(parts):
    total = np.zeros(parts.shape[1:])
    _add_tasks(parts.reshape(parts.shape[0], -1), total.reshape(-1))
    return total


def _c(array):
    return np.ascontiguousarray(array, dtype=np.float64)


def grouped_loglik_hessian(gate, Xt, y, w, coef, var):
    """Log-likelihood, gradient (k, q) and Hessian (k, q, k, q) of a gate
    normalised in groups, as :func:`gmoe.kernels._scores.loglik_hessian_from_scores`.

    Parameters
    ----------
    gate : gmoe.kernels._sources.GateSource
        With its groups (``group``, ``log_mass``), given by its score arrays or
        as a linear predictor with the identity link.
    Xt, y, w, coef, var
        As :func:`gmoe.kernels._scores.e_step_from_scores`.

    Returns
    -------
    value : float
    grad : ndarray of shape (k, q)
    hess : ndarray of shape (k, q, k, q)

    Examples
    --------
    >>> import numpy as np
    >>> from gmoe.kernels._sources import array_source
    >>> n, k = 6, 3
    >>> Xt = np.column_stack([np.ones(n), np.linspace(0, 1, n)])
    >>> gate = array_source(np.zeros((n, k)), np.ones((n, k, 1)),
    ...                     groups=(np.array([0, 1, 1]), np.log([0.5, 0.5])))
    >>> value, grad, hess = grouped_loglik_hessian(
    ...     gate, Xt, np.linspace(0, 1, n), np.ones(n), np.zeros((k, 2)), np.ones(k))
    >>> hess.shape, bool(np.allclose(hess, hess.transpose(2, 3, 0, 1)))
    ((3, 4, 3, 4), True)
    """
    if gate.Zt.shape[0] and gate.link != 0:
        raise ValueError("the grouped Hessian pass takes score arrays or a linear "
                         "predictor with the identity link.")
    n, p = Xt.shape
    k, m = coef.shape[0], gate.D1.shape[2]
    q = m + p + 1
    t = _n_tasks(n)
    grad = np.zeros((t, k, q))
    hess = np.zeros((t, k, q, k, q))
    value = np.zeros((t, 1))
    _run_tasks(_grouped_hessian_tasks, t, (*gate, _c(Xt), _c(y), _c(w), _c(coef),
                                           _c(var), grad, hess, value))
    hess = _total(hess)
    for i in range(k):
        for j in range(i + 1, k):
            hess[j, :, i, :] = hess[i, :, j, :].T
    return float(_total(value)[0]), _total(grad), hess
