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


def loglik(Xt, y, w, gate, coef, var):
    """Weighted conditional log-likelihood."""
    log_pi = log_softmax(Xt @ gate.T, axis=1)
    log_joint = log_pi + norm.logpdf(y[:, None], Xt @ coef.T, np.sqrt(var))
    return float(w @ logsumexp(log_joint, axis=1))


def loglik_hessian(Xt, y, w, gate, coef, var):
    """Reference of gmoe._kernels_hessian.loglik_hessian, sample by sample.

    Per expert the block (gate row, expert row, log-variance); the per-sample
    gradient is sum_i tau_i g_i - sum_i pi_i e_i and the Hessian is built from its
    definition as the Hessian of log sum_i exp(h_i) - log sum_i exp(eta_i).
    """
    n, p = Xt.shape
    k = coef.shape[0]
    q = 2 * p + 1
    log_pi = log_softmax(Xt @ gate.T, axis=1)
    pi = np.exp(log_pi)
    res = y[:, None] - Xt @ coef.T
    log_joint = log_pi + norm.logpdf(y[:, None], Xt @ coef.T, np.sqrt(var))
    tau = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
    grad = np.zeros(k * q)
    hess = np.zeros((k * q, k * q))
    for s in range(n):
        x = Xt[s]
        g = np.zeros((k, k * q))       # gradient of h_i
        e = np.zeros((k, k * q))       # gradient of eta_i
        hh = np.zeros((k, k * q, k * q))  # Hessian of h_i
        for i in range(k):
            b = i * q
            r = res[s, i]
            g[i, b:b + p] = x
            g[i, b + p:b + 2 * p] = r / var[i] * x
            g[i, b + 2 * p] = 0.5 * (r * r / var[i] - 1)
            e[i, b:b + p] = x
            hh[i, b + p:b + 2 * p, b + p:b + 2 * p] = -np.outer(x, x) / var[i]
            hh[i, b + p:b + 2 * p, b + 2 * p] = -r / var[i] * x
            hh[i, b + 2 * p, b + p:b + 2 * p] = -r / var[i] * x
            hh[i, b + 2 * p, b + 2 * p] = -0.5 * r * r / var[i]
        t, pr = tau[s], pi[s]
        m = t @ g
        u = pr @ e
        grad += w[s] * (m - u)
        h = (np.einsum("i,iab->ab", t, hh) + np.einsum("i,ia,ib->ab", t, g, g)
             - np.outer(m, m) - np.einsum("i,ia,ib->ab", pr, e, e) + np.outer(u, u))
        hess += w[s] * h
    return loglik(Xt, y, w, gate, coef, var), grad, hess
