"""Compiled numeric kernels of the EM algorithm.

Pure functions: arrays in, arrays out, no Python objects, no global state.  Every
kernel has a plain-numpy twin in ``tests/naive.py`` that the tests compare it to.

Conventions shared by all kernels (``n`` samples, ``k`` experts, ``p = d + 1``):

- ``Xt`` (n, p): the design with a leading column of ones, ``Xt[:, 0] == 1``;
- ``y`` (n,), ``w`` (n,): responses and non-negative sample weights;
- ``gate`` (k, p): row ``i`` holds ``(beta_0i, beta_1i)``, so the gate logit of
  sample ``n`` for expert ``i`` is ``gate[i] @ Xt[n]``;
- ``coef`` (k, p): row ``i`` holds ``(b_i, a_i)``, so the mean of expert ``i`` is
  ``coef[i] @ Xt[n]``;
- ``var`` (k,): expert variances (not standard deviations).

Sums over samples are taken in fixed chunks of ``CHUNK_SIZE`` samples, one chunk per
parallel task, and the chunk sums are added in order afterwards: the result does not
depend on the number of threads.
"""

import math

import numpy as np
from numba import prange

from gmoe._numba_config import CHUNK_SIZE, jit, jit_inline, jit_parallel

LOG_2PI = math.log(2.0 * math.pi)


@jit_inline
def _softmax_row(eta, prob, log_prob):
    """Softmax of ``eta`` into ``prob`` and its log into ``log_prob``.

    Returns ``logsumexp(eta)``.  One ``exp`` per entry and one ``log``: the
    probabilities reuse the exponentials of the log-sum-exp.
    """
    m = eta[0]
    for i in range(1, eta.shape[0]):
        if eta[i] > m:
            m = eta[i]
    total = 0.0
    for i in range(eta.shape[0]):
        e = math.exp(eta[i] - m)
        prob[i] = e
        total += e
    log_total = math.log(total)
    inv_total = 1.0 / total
    for i in range(eta.shape[0]):
        prob[i] *= inv_total
        log_prob[i] = eta[i] - m - log_total
    return m + log_total


@jit_inline
def _add_gate_terms(Xt, s, weight, tau, log_pi, pi, q, grad, info):
    """Accumulate the gate objective, gradient and information of sample ``s``.

    With ``x = Xt[s]``: ``q += weight * sum_i tau_i log pi_i``;
    ``grad[i] += weight (tau_i - pi_i) x``;
    ``info[i, j] += weight pi_i (delta_ij - pi_j) x x^T`` (upper blocks ``j >= i``,
    upper triangle ``b >= a`` of each block; see ``_symmetrize_info``).
    Returns the new ``q``.
    """
    k = tau.shape[0]
    p = Xt.shape[1]
    for i in range(k):
        q += weight * tau[i] * log_pi[i]
        gi = weight * (tau[i] - pi[i])
        for a in range(p):
            grad[i, a] += gi * Xt[s, a]
        for j in range(i, k):
            h = weight * pi[i] * ((1.0 if i == j else 0.0) - pi[j])
            if h != 0.0:
                for a in range(p):
                    hx = h * Xt[s, a]
                    for b in range(a, p):
                        info[i, j, a, b] += hx * Xt[s, b]
    return q


@jit
def _symmetrize_info(info):
    """Complete ``info`` from the upper triangles of its upper blocks.

    Block ``(i, j)`` is a weighted sum of ``x x^T`` with the scalar weights
    ``pi_i (delta_ij - pi_j)``, symmetric in ``i, j``: every block is a symmetric
    matrix and ``info[j, i] == info[i, j]``.
    """
    k, _, p, _ = info.shape
    for i in range(k):
        for j in range(i, k):
            for a in range(p):
                for b in range(a):
                    info[i, j, a, b] = info[i, j, b, a]
            if j > i:
                info[j, i] = info[i, j]


@jit_parallel
def e_step(Xt, y, w, gate, coef, var, resp_prev, resp):
    """Fused E-step: responsibilities, log-likelihood and M-step statistics.

    One pass over the data, in log space.  Writes the responsibilities into
    ``resp`` (n, k) (``resp_prev`` (n, k) is only read) and returns

    - ``loglik``: ``sum_n w_n log sum_i pi_i(x_n) N(y_n; coef_i . x_n, var_i)``;
    - ``A`` (k, p, p), ``B`` (k, p), ``C`` (k,): the weighted least-squares
      statistics ``sum_n w_n tau_ni x_n x_n^T``, ``sum_n w_n tau_ni y_n x_n`` and
      ``sum_n w_n tau_ni y_n^2`` of each expert;
    - ``gate_q``, ``gate_grad`` (k, p), ``gate_info`` (k, k, p, p): the gate
      objective ``sum_n w_n sum_i tau_ni log pi_i(x_n)`` at the current gate, its
      gradient and minus its Hessian (the information), as ``gate_stats``
      returns them;
    - ``gate_q_prev``: the gate objective at the current gate for the PREVIOUS
      responsibilities, ``sum_n w_n sum_i resp_prev_ni log pi_i(x_n)``.  EM uses it
      to check, in the same pass, that its last gate step did not decrease the
      objective it was meant to increase.
    """
    n, p = Xt.shape
    k = coef.shape[0]
    n_chunks = (n + CHUNK_SIZE - 1) // CHUNK_SIZE
    ll_c = np.zeros(n_chunks)
    q_c = np.zeros(n_chunks)
    q_prev_c = np.zeros(n_chunks)
    A_c = np.zeros((n_chunks, k, p, p))
    B_c = np.zeros((n_chunks, k, p))
    C_c = np.zeros((n_chunks, k))
    grad_c = np.zeros((n_chunks, k, p))
    info_c = np.zeros((n_chunks, k, k, p, p))
    log_norm = np.empty(k)
    inv_var = np.empty(k)
    for i in range(k):
        log_norm[i] = -0.5 * (LOG_2PI + math.log(var[i]))
        inv_var[i] = 1.0 / var[i]
    for c in prange(n_chunks):
        eta = np.empty(k)
        log_pi = np.empty(k)
        pi = np.empty(k)
        log_joint = np.empty(k)
        tau = np.empty(k)
        log_tau = np.empty(k)
        A_s = np.zeros((k, p, p))
        B_s = np.zeros((k, p))
        C_s = np.zeros(k)
        grad_s = np.zeros((k, p))
        info_s = np.zeros((k, k, p, p))
        ll = 0.0
        q = 0.0
        q_prev = 0.0
        for s in range(c * CHUNK_SIZE, min(n, (c + 1) * CHUNK_SIZE)):
            ys = y[s]
            ws = w[s]
            for i in range(k):
                e = 0.0
                m = 0.0
                for a in range(p):
                    e += gate[i, a] * Xt[s, a]
                    m += coef[i, a] * Xt[s, a]
                eta[i] = e
                r = ys - m
                log_joint[i] = log_norm[i] - 0.5 * r * r * inv_var[i]
            _softmax_row(eta, pi, log_pi)
            for i in range(k):
                log_joint[i] += log_pi[i]
                q_prev += ws * resp_prev[s, i] * log_pi[i]
            ll += ws * _softmax_row(log_joint, tau, log_tau)
            for i in range(k):
                t = tau[i]
                resp[s, i] = t
                wt = ws * t
                for a in range(p):
                    wtx = wt * Xt[s, a]
                    B_s[i, a] += wtx * ys
                    for b in range(a, p):
                        A_s[i, a, b] += wtx * Xt[s, b]
                C_s[i] += wt * ys * ys
            q = _add_gate_terms(Xt, s, ws, tau, log_pi, pi, q, grad_s, info_s)
        ll_c[c] = ll
        q_c[c] = q
        q_prev_c[c] = q_prev
        A_c[c] = A_s
        B_c[c] = B_s
        C_c[c] = C_s
        grad_c[c] = grad_s
        info_c[c] = info_s
    A = np.zeros((k, p, p))
    B = np.zeros((k, p))
    C = np.zeros(k)
    grad = np.zeros((k, p))
    info = np.zeros((k, k, p, p))
    loglik = 0.0
    gate_q = 0.0
    gate_q_prev = 0.0
    for c in range(n_chunks):
        loglik += ll_c[c]
        gate_q += q_c[c]
        gate_q_prev += q_prev_c[c]
        A += A_c[c]
        B += B_c[c]
        C += C_c[c]
        grad += grad_c[c]
        info += info_c[c]
    for i in range(k):
        for a in range(p):
            for b in range(a + 1, p):
                A[i, b, a] = A[i, a, b]
    _symmetrize_info(info)
    return loglik, A, B, C, gate_q, grad, info, gate_q_prev


@jit_parallel
def gate_stats(Xt, w, resp, gate):
    """Gate objective, gradient and information at ``gate`` for fixed ``resp``.

    .. math::

        Q(\\beta) = \\sum_n w_n \\sum_i \\tau_{ni} \\log \\pi_i(x_n; \\beta),\\quad
        \\nabla_i Q = \\sum_n w_n (\\tau_{ni} - \\pi_{ni}) \\tilde x_n,

        I_{ij} = -\\nabla^2_{ij} Q
               = \\sum_n w_n \\pi_{ni} (\\delta_{ij} - \\pi_{nj})
                 \\tilde x_n \\tilde x_n^T.

    Returns ``q``, ``grad`` (k, p) and ``info`` (k, k, p, p).
    """
    n, p = Xt.shape
    k = gate.shape[0]
    n_chunks = (n + CHUNK_SIZE - 1) // CHUNK_SIZE
    q_c = np.zeros(n_chunks)
    grad_c = np.zeros((n_chunks, k, p))
    info_c = np.zeros((n_chunks, k, k, p, p))
    for c in prange(n_chunks):
        eta = np.empty(k)
        log_pi = np.empty(k)
        pi = np.empty(k)
        tau = np.empty(k)
        grad_s = np.zeros((k, p))
        info_s = np.zeros((k, k, p, p))
        q = 0.0
        for s in range(c * CHUNK_SIZE, min(n, (c + 1) * CHUNK_SIZE)):
            for i in range(k):
                e = 0.0
                for a in range(p):
                    e += gate[i, a] * Xt[s, a]
                eta[i] = e
                tau[i] = resp[s, i]
            _softmax_row(eta, pi, log_pi)
            q = _add_gate_terms(Xt, s, w[s], tau, log_pi, pi, q, grad_s, info_s)
        q_c[c] = q
        grad_c[c] = grad_s
        info_c[c] = info_s
    grad = np.zeros((k, p))
    info = np.zeros((k, k, p, p))
    gate_q = 0.0
    for c in range(n_chunks):
        gate_q += q_c[c]
        grad += grad_c[c]
        info += info_c[c]
    _symmetrize_info(info)
    return gate_q, grad, info
