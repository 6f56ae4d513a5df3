"""Plain-numpy references of the compiled kernels (slow, obviously correct)."""

import numpy as np
from scipy.special import log_softmax, logsumexp
from scipy.stats import norm


def e_step(Xt, y, w, gate, coef, var, resp_prev=None):
    """Reference of gmoe._kernels.e_step (returns resp as well, last)."""
    k, p = coef.shape
    log_pi = log_softmax(Xt @ gate.T, axis=1)
    log_joint = log_pi + norm.logpdf(y[:, None], Xt @ coef.T, np.sqrt(var))
    lse = logsumexp(log_joint, axis=1)
    resp = np.exp(log_joint - lse[:, None])
    A = np.zeros((k, p, p))
    B = np.zeros((k, p))
    C = np.zeros(k)
    for i in range(k):
        wt = w * resp[:, i]
        A[i] = (Xt * wt[:, None]).T @ Xt
        B[i] = Xt.T @ (wt * y)
        C[i] = np.sum(wt * y * y)
    q, grad, info = gate_stats(Xt, w, resp, gate)
    q_prev = (np.nan if resp_prev is None
              else float(np.sum(w[:, None] * resp_prev * log_pi)))
    return float(w @ lse), A, B, C, q, grad, info, q_prev, resp


def gate_stats(Xt, w, resp, gate):
    """Reference of gmoe._kernels.gate_stats."""
    k, p = gate.shape
    log_pi = log_softmax(Xt @ gate.T, axis=1)
    pi = np.exp(log_pi)
    q = float(np.sum(w[:, None] * resp * log_pi))
    grad = ((resp - pi) * w[:, None]).T @ Xt
    info = np.zeros((k, k, p, p))
    for i in range(k):
        for j in range(k):
            h = w * pi[:, i] * ((i == j) - pi[:, j])
            info[i, j] = (Xt * h[:, None]).T @ Xt
    return q, grad, info


def gate_objective(Xt, w, resp, gate):
    """Q(beta) = sum_n w_n sum_i tau_ni log pi_i(x_n; beta)."""
    return gate_stats(Xt, w, resp, gate)[0]
