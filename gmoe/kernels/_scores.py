"""Compiled passes for any gate: the E-step, the gate statistics and the
log-likelihood's Hessian, with the gate given by its scores.

A gate enters in one of two forms (:class:`~gmoe.kernels._sources.GateSource`):

- **compiled** (:func:`~gmoe.kernels._sources.compiled_source`): the kernels compute
  the scores and their derivatives sample by sample from the gate's design and
  blocks, with no (n, k, m) arrays.  The forms
  (:data:`~gmoe.kernels._sources.FORMS`): a linear predictor ``s_i = h(eta_i)``,
  ``eta_i = theta_i . z`` for a design ``z`` (a leading one, then the covariates;
  only the one for the constant gate) and a link ``h`` (``"identity"``,
  ``"log_sigmoid"``: :data:`~gmoe.kernels._sources.LINKS`); the perturbed cosine
  score (``"cosine"``, its constant ``theta``) and the Laplace score
  (``"laplace"``, its constant the bandwidth of the kink curvature in one
  dimension) of :mod:`gmoe.gates._distance`, on the covariates
  (:mod:`gmoe.kernels._distance`);
- **arrays** (any other gate): the scores ``S`` (n, k) and their derivatives
  ``D1`` (n, k, m) and ``D2`` (n, k, m, m) computed by the gate.

A sparse gate adds a selection (:data:`~gmoe.kernels._sources.SELECTIONS`: top-K,
top-P) that the kernels apply to each sample's scores before the softmax: the experts
left out get the score ``-inf``, hence weight 0.  The weights are the softmax of the
(selected) scores.  A gate with an x-marginal (``marginal``, see
:mod:`gmoe.gates`) also has the data term ``sum_n w_n log sum_i exp s_ni`` of
that marginal: the passes then return it, take the gradient of the gate's
complete-data term ``sum_n w_n sum_i tau_ni s_ni`` in place of that of
``sum_n w_n sum_i tau_ni log pi_ni`` (its information, data-free, is the
gate's), and the Hessian pass returns the derivatives of the log-likelihood
plus that data term.  The samples are split into as many contiguous
runs as :func:`gmoe.kernels._em._n_tasks` says (a number that depends on ``n``
only), the runs summed in parallel threads and their sums added in order, so
the result does not depend on the machine's number of threads.
"""

import math

import numpy as np

from gmoe.kernels._distance import (
    _add_distance_curvature,
)
from gmoe.kernels._em import (
    _add_tasks,
    _exp_nonpositive,
    _expert_hessian,
    _expert_log_pdf,
    _expert_moments,
    _linear_predictors,
    _load_chunk,
    _n_tasks,
    _normal_constants,
    _run_tasks,
    _softmax_columns,
)
from gmoe.kernels._numba_config import CHUNK_SIZE, jit
from gmoe.kernels._sources import (
    _gate_scratch,
    _gate_weights,
    _group_pull,
)


@jit
def _gate_moments_chunk(WT, WP, WG, P, LP, D1T, mc, grad, info, with_info, C,
                        linear, link, ZT, AUX, group):
    """Add the chunk's gate objective, gradient and (``with_info``) Fisher
    information (blocks ``o >= i``; see :func:`_mirror_info`); return the
    objective.  ``WT = w tau``, ``WP = w pi`` (zero for the gradient of ``sum w
    tau s``), ``P = pi``, ``LP = log pi`` (0 for an expert a sparse gate left
    out, finite, however small ``pi``, for any other); ``C`` (mc,) is scratch.
    The gradient is ``sum (WT - WG) d s``: ``WG`` is ``WP`` for one group.  With
    groups (``group`` not empty), ``WG = w T_g tilde pi``, ``P`` the weights
    within the group ``tilde pi`` and the information zero between groups
    (:mod:`gmoe.engine._grouped`).
    For a ``linear`` predictor the derivatives ``h'_i z`` are read
    from the design ``ZT`` and, for the log-sigmoid ``link``, ``h'_i`` in
    ``AUX``: every block of the information is then symmetric."""
    k, m = D1T.shape[0], D1T.shape[1]
    q = 0.0
    for i in range(k):
        acc = 0.0
        for j in range(mc):
            acc += WT[i, j] * LP[i, j]
        q += acc
        if linear:
            _linear_gate_moments(WT, WP, WG, P, mc, grad, info, with_info, C, link,
                                 ZT, AUX, i, group)
            continue
        for a in range(m):
            acc = 0.0
            for j in range(mc):
                acc += (WT[i, j] - WG[i, j]) * D1T[i, a, j]
            grad[i, a] += acc
        if not with_info:
            continue
        # the diagonal block by its upper triangle (it is symmetric), the weight
        # of each block computed once
        for j in range(mc):
            C[j] = WP[i, j] * (1.0 - P[i, j])
        for a in range(m):
            for b in range(a, m):
                acc = 0.0
                for j in range(mc):
                    acc += C[j] * D1T[i, a, j] * D1T[i, b, j]
                info[i, i, a, b] += acc
                if b > a:
                    info[i, i, b, a] += acc
        for o in range(i + 1, k):
            if group.shape[0] > 0 and group[o] != group[i]:
                continue
            for j in range(mc):
                C[j] = WP[i, j] * P[o, j]
            for a in range(m):
                for b in range(m):
                    acc = 0.0
                    for j in range(mc):
                        acc += C[j] * D1T[i, a, j] * D1T[o, b, j]
                    info[i, o, a, b] -= acc
    return q


@jit
def _linear_gate_moments(WT, WP, WG, P, mc, grad, info, with_info, C, link, ZT, AUX,
                         i, group):
    """Expert ``i``'s part of :func:`_gate_moments_chunk` for a linear predictor:
    the gradient ``sum_j (WT - WP) h'_i z`` and the information blocks ``o >= i``,
    ``sum_j WP_i (delta_io - P_o) h'_i h'_o z z'``, each by its upper triangle."""
    m = ZT.shape[0]
    for j in range(mc):
        C[j] = WT[i, j] - WG[i, j]
        if link == 1:
            C[j] *= AUX[i, j]
    for a in range(m):
        acc = 0.0
        for j in range(mc):
            acc += C[j] * ZT[a, j]
        grad[i, a] += acc
    if not with_info:
        return
    for o in range(i, P.shape[0]):
        if group.shape[0] > 0 and group[o] != group[i]:
            continue
        if o == i:
            for j in range(mc):
                C[j] = WP[i, j] * (1.0 - P[i, j])
                if link == 1:
                    C[j] *= AUX[i, j] * AUX[i, j]
        else:
            for j in range(mc):
                C[j] = -WP[i, j] * P[o, j]
                if link == 1:
                    C[j] *= AUX[i, j] * AUX[o, j]
        for a in range(m):
            for b in range(a, m):
                acc = 0.0
                for j in range(mc):
                    acc += C[j] * ZT[a, j] * ZT[b, j]
                info[i, o, a, b] += acc
                if b > a:
                    info[i, o, b, a] += acc


def _mirror_info(info):
    """Complete the Fisher information from its blocks ``o >= i``."""
    k = info.shape[0]
    for i in range(k):
        for o in range(i + 1, k):
            info[o, i] = info[i, o].T
    return info


@jit
def _e_step_tasks(t0, t1, S, D1, D2, Zt, blocks, link, select, select_param,
                  marginal, constant, group, log_mass, Xt, y, w, coef, var,
                  resp_prev, resp, A_c,
                  B_c, C_c, grad_c, info_c, sums_c):
    """Tasks ``t0 .. t1 - 1``; task ``t`` adds its run of chunks, in order, to its
    own slots of the partial sums."""
    n, p = Xt.shape
    k, m = grad_c.shape[1], grad_c.shape[2]
    n_tasks = A_c.shape[0]
    n_chunks = (n + CHUNK_SIZE - 1) // CHUNK_SIZE
    linear = Zt.shape[0] > 0 and link <= 1  # see _gate_moments_chunk
    log_norm, inv_var = np.empty(k), np.empty(k)
    _normal_constants(var, log_norm, inv_var)
    XT = np.empty((p, CHUNK_SIZE))
    scratch = _gate_scratch(k, m, Zt.shape[1])
    ZT, ST, LP, P, D1T, AUX, _, _, _, _, _, LSE, TMP = scratch
    LJ, WT, WP = np.empty((k, CHUNK_SIZE)), np.empty((k, CHUNK_SIZE)), \
        np.empty((k, CHUNK_SIZE))
    grouped = group.shape[0] > 0
    PW, WG = np.empty((k, CHUNK_SIZE if grouped else 0)), \
        np.empty((k, CHUNK_SIZE if grouped else 0))
    for t in range(t0, t1):
        for c in range(t * n_chunks // n_tasks, (t + 1) * n_chunks // n_tasks):
            lo = c * CHUNK_SIZE
            mc = min(n, lo + CHUNK_SIZE) - lo
            _gate_weights(S, D1, Zt, blocks, link, select, select_param, constant,
                          group, log_mass, lo, mc, 1, scratch)
            if marginal:
                acc = 0.0
                for j in range(mc):
                    acc += w[lo + j] * LSE[j]
                sums_c[t, 3] += acc
            _load_chunk(Xt, lo, mc, XT)
            _linear_predictors(coef, XT, mc, LJ)
            _expert_log_pdf(y, lo, mc, log_norm, inv_var, LJ)
            q_prev = 0.0
            for i in range(k):
                for j in range(mc):
                    LJ[i, j] += LP[i, j]
                    if LP[i, j] == -math.inf:
                        LP[i, j] = 0.0  # an expert a sparse gate left out
                    q_prev += w[lo + j] * resp_prev[lo + j, i] * LP[i, j]
            _softmax_columns(LJ, mc, WT, LJ, LSE, TMP)
            ll = 0.0
            for j in range(mc):
                ll += w[lo + j] * LSE[j]
            for i in range(k):
                for j in range(mc):
                    resp[lo + j, i] = WT[i, j]
                    WT[i, j] *= w[lo + j]
                    WP[i, j] = 0.0 if marginal else w[lo + j] * P[i, j]
            sums_c[t, 0] += ll
            sums_c[t, 2] += q_prev
            _expert_moments(WT, XT, y, lo, mc, A_c[t], B_c[t], C_c[t])
            WGc, Pc = WP, P
            if grouped:  # the gradient's pull and the weights within the group
                _group_pull(WT, P, group, log_mass, mc, PW, WG, TMP)
                WGc, Pc = WG, PW
            sums_c[t, 1] += _gate_moments_chunk(WT, WP, WGc, Pc, LP, D1T, mc,
                                                grad_c[t], info_c[t], not marginal,
                                                TMP, linear, link, ZT, AUX, group)


@jit
def _gate_stats_tasks(t0, t1, S, D1, D2, Zt, blocks, link, select, select_param,
                      marginal, constant, group, log_mass, w, resp, grad_c, info_c,
                      sums_c):
    n = resp.shape[0]
    k, m = grad_c.shape[1], grad_c.shape[2]
    n_tasks = grad_c.shape[0]
    n_chunks = (n + CHUNK_SIZE - 1) // CHUNK_SIZE
    linear = Zt.shape[0] > 0 and link <= 1  # see _gate_moments_chunk
    scratch = _gate_scratch(k, m, Zt.shape[1])
    ZT, ST, LP, P, D1T, AUX, _, _, _, _, _, LSE, TMP = scratch
    WT, WP = np.empty((k, CHUNK_SIZE)), np.empty((k, CHUNK_SIZE))
    grouped = group.shape[0] > 0
    PW, WG = np.empty((k, CHUNK_SIZE if grouped else 0)), \
        np.empty((k, CHUNK_SIZE if grouped else 0))
    for t in range(t0, t1):
        for c in range(t * n_chunks // n_tasks, (t + 1) * n_chunks // n_tasks):
            lo = c * CHUNK_SIZE
            mc = min(n, lo + CHUNK_SIZE) - lo
            _gate_weights(S, D1, Zt, blocks, link, select, select_param, constant,
                          group, log_mass, lo, mc, 1, scratch)
            if marginal:
                acc = 0.0
                for j in range(mc):
                    acc += w[lo + j] * LSE[j]
                sums_c[t, 1] += acc
            for i in range(k):
                for j in range(mc):
                    if LP[i, j] == -math.inf:
                        LP[i, j] = 0.0  # an expert a sparse gate left out
                    WT[i, j] = w[lo + j] * resp[lo + j, i]
                    WP[i, j] = 0.0 if marginal else w[lo + j] * P[i, j]
            WGc, Pc = WP, P
            if grouped:  # the gradient's pull and the weights within the group
                _group_pull(WT, P, group, log_mass, mc, PW, WG, TMP)
                WGc, Pc = WG, PW
            sums_c[t, 0] += _gate_moments_chunk(WT, WP, WGc, Pc, LP, D1T, mc,
                                                grad_c[t], info_c[t], not marginal,
                                                TMP, linear, link, ZT, AUX, group)


# ---------------------------------------------------------- log-likelihood
@jit
def _loglik_tasks(t0, t1, S, D1, D2, Zt, blocks, link, select, select_param,
                  marginal, constant, group, log_mass, Xt, y, w, coef, var,
                  value_c):
    """Tasks ``t0 .. t1 - 1`` of the (conditional) log-likelihood alone (no
    responsibilities, no statistics, no x-marginal term): the light pass that
    tries candidate parameters."""
    n, p = Xt.shape
    k = coef.shape[0]
    m = D1.shape[2]
    n_tasks = value_c.shape[0]
    n_chunks = (n + CHUNK_SIZE - 1) // CHUNK_SIZE
    log_norm, inv_var = np.empty(k), np.empty(k)
    _normal_constants(var, log_norm, inv_var)
    XT = np.empty((p, CHUNK_SIZE))
    scratch = _gate_scratch(k, m, Zt.shape[1])
    ZT, ST, LP, P, D1T, AUX, _, _, _, _, _, LSE, TMP = scratch
    LJ = np.empty((k, CHUNK_SIZE))
    for t in range(t0, t1):
        for c in range(t * n_chunks // n_tasks, (t + 1) * n_chunks // n_tasks):
            lo = c * CHUNK_SIZE
            mc = min(n, lo + CHUNK_SIZE) - lo
            _gate_weights(S, D1, Zt, blocks, link, select, select_param, constant,
                          group, log_mass, lo, mc, 0, scratch)
            _load_chunk(Xt, lo, mc, XT)
            _linear_predictors(coef, XT, mc, LJ)
            _expert_log_pdf(y, lo, mc, log_norm, inv_var, LJ)
            for i in range(k):
                for j in range(mc):
                    LJ[i, j] += LP[i, j]
            _softmax_columns(LJ, mc, P, LJ, LSE, TMP)
            v = 0.0
            for j in range(mc):
                v += w[lo + j] * LSE[j]
            value_c[t, 0] += v


# ---------------------------------------------------------------------- Hessian
@jit
def _hessian_tasks(t0, t1, S, D1, D2, Zt, blocks, link, select, select_param,
                   marginal, constant, group, log_mass, Xt, y, w, coef, var, grad_c,
                   hess_c, value_c):
    """Tasks ``t0 .. t1 - 1`` of the log-likelihood's value, gradient and
    Hessian, chunk by chunk, in per-expert blocks ``(gate block, expert row,
    log-variance)`` of ``q = m + p + 1``; only the blocks ``o >= i`` of the
    Hessian are filled (the caller mirrors them).  With ``V_i`` the derivatives
    of ``u_i = log pi_i + log N_i`` with respect to expert ``i``'s own
    parameters (gate part ``D1_i``), the Hessian is the covariance of ``V``
    under ``tau``, minus ``pi_i (delta_io - pi_o) D1_i D1_o'`` on the gate
    blocks, plus each expert's own second derivatives and ``(tau_i - pi_i)
    D2_i``.  With ``marginal``, the value holds the x-marginal's data term
    ``w log sum_i exp s_i`` too and the ``pi`` terms of the gradient and the
    Hessian (that term's derivatives) cancel."""
    n, p = Xt.shape
    k, q = grad_c.shape[1], grad_c.shape[2]
    m = q - p - 1
    n_tasks = grad_c.shape[0]
    n_chunks = (n + CHUNK_SIZE - 1) // CHUNK_SIZE
    log_norm, inv_var = np.empty(k), np.empty(k)
    _normal_constants(var, log_norm, inv_var)
    curved_arrays = Zt.shape[0] == 0 and D2.shape[0] > 0
    pi_on = 0.0 if marginal else 1.0  # the pi terms cancel with an x-marginal
    XT = np.empty((p, CHUNK_SIZE))
    scratch = _gate_scratch(k, m, Zt.shape[1])
    ZT, ST, LP, P, D1T, AUX, _, _, _, _, _, LSE, TMP = scratch
    LJ, TAU, R = np.empty((k, CHUNK_SIZE)), np.empty((k, CHUNK_SIZE)), \
        np.empty((k, CHUNK_SIZE))
    H2 = np.empty((k, CHUNK_SIZE))
    VS, G = np.empty((k, q, CHUNK_SIZE)), np.empty((k, q, CHUNK_SIZE))
    U = np.empty((k, m, CHUNK_SIZE))
    C = np.empty(CHUNK_SIZE)
    SW = np.empty(CHUNK_SIZE)
    for t in range(t0, t1):
        grad, hess = grad_c[t], hess_c[t]
        for c in range(t * n_chunks // n_tasks, (t + 1) * n_chunks // n_tasks):
            lo = c * CHUNK_SIZE
            mc = min(n, lo + CHUNK_SIZE) - lo
            _gate_weights(S, D1, Zt, blocks, link, select, select_param, constant,
                          group, log_mass, lo, mc, 2, scratch)
            if link == 1 and Zt.shape[0] > 0:
                # h'' = -sigma(eta) sigma(-eta) of h = log sigma, sigma(eta) = e^h
                for i in range(k):
                    for j in range(mc):
                        sig = _exp_nonpositive(ST[i, j])
                        H2[i, j] = -sig * (1.0 - sig)
            if marginal:
                v = 0.0
                for j in range(mc):
                    v += w[lo + j] * LSE[j]
                value_c[t, 0] += v
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
            value_c[t, 0] += v
            # VS = sqrt(w) V, G = tau VS, U = pi VS on the gate block: the
            # covariance of V under tau is sum_j (delta_io G_i VS_o' - G_i G_o'),
            # the gate's term sum_j (U_i U_o' - delta_io U_i VS_o') (none with
            # an x-marginal: U = 0)
            for j in range(mc):
                SW[j] = math.sqrt(w[lo + j])
            for i in range(k):
                for a in range(m):
                    for j in range(mc):
                        VS[i, a, j] = SW[j] * D1T[i, a, j]
                for a in range(p):
                    for j in range(mc):
                        VS[i, m + a, j] = SW[j] * R[i, j] * inv_var[i] * XT[a, j]
                for j in range(mc):
                    VS[i, q - 1, j] = SW[j] * 0.5 * (R[i, j] * R[i, j] * inv_var[i]
                                                     - 1.0)
                for a in range(q):
                    for j in range(mc):
                        G[i, a, j] = TAU[i, j] * VS[i, a, j]
                for a in range(m):
                    for j in range(mc):
                        U[i, a, j] = pi_on * P[i, j] * VS[i, a, j]
            for i in range(k):
                for a in range(q):
                    acc = 0.0
                    if a < m:
                        for j in range(mc):
                            acc += SW[j] * (G[i, a, j] - U[i, a, j])
                    else:
                        for j in range(mc):
                            acc += SW[j] * G[i, a, j]
                    grad[i, a] += acc
                for a in range(q):
                    for b in range(a, q):
                        acc = 0.0
                        if b < m:
                            for j in range(mc):
                                acc += ((G[i, a, j] - U[i, a, j]) * VS[i, b, j]
                                        - G[i, a, j] * G[i, b, j]
                                        + U[i, a, j] * U[i, b, j])
                        else:
                            for j in range(mc):
                                acc += G[i, a, j] * (VS[i, b, j] - G[i, b, j])
                        hess[i, a, i, b] += acc
                        if b > a:
                            hess[i, b, i, a] += acc
                for o in range(i + 1, k):
                    for a in range(q):
                        for b in range(q):
                            acc = 0.0
                            if a < m and b < m:
                                for j in range(mc):
                                    acc += (U[i, a, j] * U[o, b, j]
                                            - G[i, a, j] * G[o, b, j])
                            else:
                                for j in range(mc):
                                    acc -= G[i, a, j] * G[o, b, j]
                            hess[i, a, o, b] += acc
            for i in range(k):
                _expert_hessian(hess, i, w, lo, mc, TAU, XT, R, inv_var, m, q)
                # (tau_i - pi_i) D2_i
                if link == 1 and Zt.shape[0] > 0:
                    for a in range(m):
                        for b in range(m):
                            acc = 0.0
                            for j in range(mc):
                                acc += (w[lo + j] * (TAU[i, j] - pi_on * P[i, j])
                                        * H2[i, j] * ZT[a, j] * ZT[b, j])
                            hess[i, a, i, b] += acc
                elif curved_arrays:
                    for a in range(m):
                        for b in range(m):
                            acc = 0.0
                            for j in range(mc):
                                acc += (w[lo + j] * (TAU[i, j] - pi_on * P[i, j])
                                        * D2[lo + j, i, a, b])
                            hess[i, a, i, b] += acc
                elif link >= 2 and Zt.shape[0] > 0:
                    for j in range(mc):
                        C[j] = w[lo + j] * (TAU[i, j] - pi_on * P[i, j])
                    _add_distance_curvature(link, constant, blocks, i, mc, C, ZT,
                                            D1T, AUX, hess[i, :, i, :])


# ---------------------------------------------------------------- Python side
def _total(parts):
    """The tasks' partial sums added in task order, (n_tasks, ...) -> (...)."""
    total = np.zeros(parts.shape[1:])
    _add_tasks(parts.reshape(parts.shape[0], -1), total.reshape(-1))
    return total


def _c(array):
    return np.ascontiguousarray(array, dtype=np.float64)


def e_step_from_scores(gate, Xt, y, w, coef, var, resp_prev, resp):
    """Fused E-step for any gate.

    Parameters
    ----------
    gate : GateSource
        The gate (:func:`linear_source` or :func:`array_source`).
    Xt : ndarray of shape (n, p)
        Expert design (leading column of ones).
    y, w : ndarray of shape (n,)
    coef : ndarray of shape (k, p)
    var : ndarray of shape (k,)
    resp_prev : ndarray of shape (n, k)
        Read only: the responsibilities whose gate objective is returned as
        ``q_prev``.
    resp : ndarray of shape (n, k)
        Written: the responsibilities at these parameters (C-contiguous).

    Returns
    -------
    loglik, A (k, p, p), B (k, p), C (k,), q, grad (k, m), info (k, k, m, m),
    q_prev, score_lse
        As :func:`gmoe.kernels._em.e_step`, with the gate's gradient and Fisher
        information over the blocks; for a gate with an x-marginal, ``grad`` is
        that of ``sum_n w_n sum_i tau_ni s_ni``, ``info`` zero and ``score_lse``
        the marginal's data term ``sum_n w_n log sum_i exp s_ni`` (0 otherwise).

    Examples
    --------
    >>> import numpy as np
    >>> from gmoe.kernels._sources import linear_source
    >>> n, k = 5, 2
    >>> Xt = np.column_stack([np.ones(n), np.arange(n, dtype=float)])
    >>> resp = np.empty((n, k))
    >>> gate = linear_source(np.ones((n, 1)), np.zeros((k, 1)), "identity")
    >>> out = e_step_from_scores(gate, Xt, np.arange(n, dtype=float), np.ones(n),
    ...                          np.zeros((k, 2)), np.ones(k), resp.copy(), resp)
    >>> bool(np.allclose(resp, 0.5)), out[5].shape, len(out)
    (True, (2, 1), 9)
    """
    n, p = Xt.shape
    k, m = coef.shape[0], gate.D1.shape[2]
    t = _n_tasks(n)
    A, B, C = np.zeros((t, k, p, p)), np.zeros((t, k, p)), np.zeros((t, k))
    grad, info = np.zeros((t, k, m)), np.zeros((t, k, k, m, m))
    sums = np.zeros((t, 4))
    _run_tasks(_e_step_tasks, t, (*gate, _c(Xt), _c(y), _c(w), _c(coef), _c(var),
                                  _c(resp_prev), resp, A, B, C, grad, info, sums))
    sums = _total(sums)
    A = _total(A)
    upper = np.triu_indices(p, 1)
    A[:, upper[1], upper[0]] = A[:, upper[0], upper[1]]
    return (sums[0], A, _total(B), _total(C), sums[1], _total(grad),
            _mirror_info(_total(info)), sums[2], sums[3])


def gate_stats_from_scores(gate, w, resp):
    """Gate objective ``sum_n w_n sum_i resp_ni log pi_ni``, its gradient (k, m)
    and Fisher information (k, k, m, m) for any gate (a
    :class:`~gmoe.kernels._sources.GateSource`), and the x-marginal's data term (as
    :func:`e_step_from_scores`)."""
    n, k = resp.shape
    m = gate.D1.shape[2]
    t = _n_tasks(n)
    grad, info = np.zeros((t, k, m)), np.zeros((t, k, k, m, m))
    sums = np.zeros((t, 2))
    _run_tasks(_gate_stats_tasks, t, (*gate, _c(w), _c(resp), grad, info, sums))
    sums = _total(sums)
    return sums[0], _total(grad), _mirror_info(_total(info)), sums[1]


def loglik_hessian_from_scores(gate, Xt, y, w, coef, var):
    """Log-likelihood, gradient and Hessian for any gate.

    Parameters
    ----------
    gate : GateSource
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
    >>> from gmoe.kernels._sources import array_source
    >>> n, k = 6, 2
    >>> Xt = np.column_stack([np.ones(n), np.linspace(0, 1, n)])
    >>> gate = array_source(np.zeros((n, k)), np.ones((n, k, 1)))
    >>> value, grad, hess = loglik_hessian_from_scores(
    ...     gate, Xt, np.linspace(0, 1, n), np.ones(n), np.zeros((k, 2)), np.ones(k))
    >>> grad.shape, hess.shape, bool(np.allclose(hess, hess.transpose(2, 3, 0, 1)))
    ((2, 4), (2, 4, 2, 4), True)
    """
    if gate.group.shape[0]:
        raise ValueError("a gate normalised in groups has its Hessian in "
                         "gmoe.engine._grouped.loglik_hessian.")
    n, p = Xt.shape
    k, m = coef.shape[0], gate.D1.shape[2]
    q = m + p + 1
    t = _n_tasks(n)
    grad = np.zeros((t, k, q))
    hess = np.zeros((t, k, q, k, q))
    value = np.zeros((t, 1))
    _run_tasks(_hessian_tasks, t, (*gate, _c(Xt), _c(y), _c(w), _c(coef), _c(var),
                                   grad, hess, value))
    hess = _total(hess)
    for i in range(k):
        for j in range(i + 1, k):
            hess[j, :, i, :] = hess[i, :, j, :].T
    return float(_total(value)[0]), _total(grad), hess


def loglik_from_scores(gate, Xt, y, w, coef, var):
    """Log-likelihood for any gate, without the E-step's statistics (a fraction
    of its cost).

    Parameters
    ----------
    gate : GateSource
    Xt, y, w, coef, var
        As :func:`e_step_from_scores`.

    Returns
    -------
    value : float
        :math:`\\sum_n w_n \\log \\sum_i \\pi_i(x_n) N(y_n; x_n' a_i, \\sigma_i)`,
        the value :func:`e_step_from_scores` returns first.

    Examples
    --------
    >>> import numpy as np
    >>> from gmoe.kernels._sources import linear_source
    >>> n, k = 4, 2
    >>> Xt = np.ones((n, 1))
    >>> gate = linear_source(np.ones((n, 1)), np.zeros((k, 1)), "identity")
    >>> value = loglik_from_scores(gate, Xt, np.zeros(n), np.ones(n),
    ...                            np.zeros((k, 1)), np.ones(k))
    >>> bool(np.isclose(value, -2 * np.log(2 * np.pi)))
    True
    """
    value = np.zeros((_n_tasks(Xt.shape[0]), 1))
    _run_tasks(_loglik_tasks, value.shape[0],
               (*gate, _c(Xt), _c(y), _c(w), _c(coef), _c(var), value))
    return float(_total(value)[0])
