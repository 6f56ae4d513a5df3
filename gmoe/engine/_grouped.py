"""The maths of a gate whose experts are normalised in groups of fixed masses
(:meth:`gmoe.gates.Gate.groups`: shared and routed experts): the weights, and
the log-likelihood's exact Hessian in numpy (the E-step and the gate statistics
are the compiled passes', :mod:`gmoe.kernels._scores`, given the groups).

With ``g(i)`` the group of expert ``i``, ``m_g`` its mass and ``s`` the scores,

.. math::

    \\log \\pi_i = \\log m_{g(i)} + s_i - \\log \\sum_{j \\in g(i)} e^{s_j},
    \\qquad \\frac{\\partial \\log \\pi_i}{\\partial s_j}
    = [g(i) = g(j)] \\,(\\delta_{ij} - \\tilde\\pi_j),

``tilde pi_j = pi_j / m_g(j)`` the weight within the group.  So, with
``T_g = sum_{i in g} tau_i`` and ``D1_i`` the derivative of ``s_i`` with respect
to expert ``i``'s block:

- the gate objective ``Q = sum_n w_n sum_i tau_ni log pi_ni`` has the gradient
  ``sum_n w_n (tau_nj - T_ng tilde pi_nj) D1_nj`` (block ``j``, ``g = g(j)``)
  and the Fisher information ``sum_n w_n pi_ni ([g(i) = g(o)] delta_io -
  [g(i) = g(o)] tilde pi_no) D1_ni D1_no'`` (``T_g`` replaced by its
  expectation ``m_g``); zero between groups;
- the log-likelihood's Hessian is that of ``u_i = log pi_i + log N_i``: the
  covariance under ``tau`` of the derivatives ``du_i`` plus ``sum_i tau_i
  d^2 u_i``, with ``du_i = V_i - E_g(i)``, ``V_i`` the derivatives of expert
  ``i``'s own score and density, ``E_g = sum_{j in g} tilde pi_j D1_j`` (on
  the blocks of ``g``).

With one group of mass 1 this is the compiled Hessian pass's softmax
(:func:`gmoe.kernels._scores.loglik_hessian_from_scores`).
"""

import numpy as np

from gmoe.gates import log_softmax_groups


def group_weights(S, group, log_mass):
    """``log pi``, ``pi`` and the within-group weights ``tilde pi``, (n, k)
    each, from the scores ``S`` (n, k)."""
    log_pi = log_softmax_groups(S, group, log_mass)
    pi = np.exp(log_pi)
    return log_pi, pi, pi / np.exp(np.asarray(log_mass))[group]


def group_totals(tau, group):
    """``T_g(i) = sum_{j in g(i)} tau_j`` for every expert, (n, k)."""
    totals = np.zeros_like(tau)
    for g in np.unique(group):
        cols = group == g
        totals[:, cols] = tau[:, cols].sum(axis=1, keepdims=True)
    return totals


def _densities(Xt, y, coef, var):
    resid = y[:, None] - Xt @ coef.T
    return resid, -0.5 * (np.log(2 * np.pi * var) + resid**2 / var)


def _responsibilities(u):
    top = np.max(u, axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.sum(np.exp(u - top), axis=1))
    return np.exp(u - lse[:, None]), lse


def loglik_hessian(S, D1, D2, group, log_mass, Xt, y, w, coef, var):
    """Log-likelihood, gradient (k, q) and exact Hessian (k, q, k, q) in
    per-expert blocks ``(gate block, expert row, log-variance)``, as
    :func:`gmoe.kernels._scores.loglik_hessian_from_scores`."""
    n, k, m = D1.shape
    p = Xt.shape[1]
    q = m + p + 1
    log_pi, pi, within = group_weights(S, group, log_mass)
    resid, log_norm = _densities(Xt, y, coef, var)
    tau, lse = _responsibilities(log_pi + log_norm)
    same = group[:, None] == group[None, :]
    # J[n, i, j]: the derivative of u_ni over expert j's parameters
    J = np.zeros((n, k, k, q))
    J[:, :, :, :m] = -(same[None, :, :, None] * (within[:, None, :, None]
                                                 * D1[:, None, :, :]))
    idx = np.arange(k)
    J[:, idx, idx, :m] += D1
    z = resid / var
    J[:, idx, idx, m:m + p] = z[:, :, None] * Xt[:, None, :]
    J[:, idx, idx, q - 1] = 0.5 * (resid * z - 1.0)
    J = J.reshape(n, k, k * q)
    mean = np.matmul(tau[:, None, :], J)[:, 0]
    grad = w @ mean
    wt = w[:, None] * tau
    flat = J.reshape(n * k, k * q)
    hess = ((flat.T * wt.ravel()) @ flat
            - (mean.T * w) @ mean).reshape(k, q, k, q)
    # sum_i tau_i d^2 u_i: the experts' own second derivatives
    for i in range(k):
        hess[i, m:m + p, i, m:m + p] -= (Xt.T * wt[:, i]) @ Xt / var[i]
        cross = (wt[:, i] * z[:, i]) @ Xt
        hess[i, m:m + p, i, q - 1] -= cross
        hess[i, q - 1, i, m:m + p] -= cross
        hess[i, q - 1, i, q - 1] -= 0.5 * float(wt[:, i] @ (resid[:, i] * z[:, i]))
    # the scores' curvature tau_i D2_i, and minus T_g times that of each
    # group's log-normaliser
    totals = group_totals(tau, group)
    wT = w[:, None] * totals * within
    if D2 is not None:
        for i in range(k):
            hess[i, :m, i, :m] += np.einsum("n,nab->ab", wt[:, i] - wT[:, i],
                                            D2[:, i])
    for i in range(k):
        hess[i, :m, i, :m] -= (D1[:, i].T * wT[:, i]) @ D1[:, i]
        for j in range(k):
            if same[i, j]:
                hess[i, :m, j, :m] += (D1[:, i].T * (wT[:, i] * within[:, j])) \
                    @ D1[:, j]
    return float(w @ lse), grad.reshape(k, q), hess
