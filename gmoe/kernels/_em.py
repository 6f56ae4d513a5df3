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

Sums over samples are taken in fixed chunks of ``CHUNK_SIZE`` samples, dealt in
contiguous runs to at most ``MAX_TASKS`` parallel tasks; each task adds its chunks in
order and the task sums are added in order afterwards: the result does not depend
on the number of threads.  Within a chunk, every step is a loop over the
chunk's samples (the chunk is first copied, transposed, into buffers of the thread),
which the compiler vectorises.
"""

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from gmoe.kernels import _compile
from gmoe.kernels._numba_config import CHUNK_SIZE, MAX_TASKS, jit, jit_inline

LOG_2PI = math.log(2.0 * math.pi)

#: Below this argument ``exp`` returns a subnormal number or 0.  The soft-maxes
#: return 0 there instead (a relative change below 1e-307).
EXP_NORMAL_MIN = -708.0

# exp(z) = 2^n exp(r), n = round(z / ln 2), r = z - n ln 2 with ln 2 split in a
# high part exact to 32 bits (so that n * LN2_HI is exact for |n| <= 1024) and a
# low part, as in fdlibm's exp; exp(r), |r| <= ln(2) / 2, by its Taylor polynomial
# of degree 13 (truncation error below 5e-18).
LOG2_E = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
EXP_TAYLOR = 1.0 / np.array([math.factorial(m) for m in range(13, -1, -1)])
#: ``POW2_NEG[m] == 2.0 ** -m``, the scale 2^n of the exponential for n = -m <= 0.
POW2_NEG = 2.0 ** -np.arange(1024.0)


@jit_inline
def _exp_nonpositive(z):
    """``exp(z)`` for ``z <= 0``, within 1 ulp, in a form the compiler vectorises.

    0 for ``z <= EXP_NORMAL_MIN`` (including ``-inf``); NaN for NaN.  The
    library's ``exp`` is a function call per number; this one is straight-line
    arithmetic and a table look-up, so a loop of it runs on all the lanes of the
    vector unit.  The argument of the polynomial and the table index are clamped
    first, so that no input (NaN, or a positive ``z`` by mistake) can index
    outside the table.
    """
    zc = z if z > EXP_NORMAL_MIN else EXP_NORMAL_MIN
    zc = zc if zc < 0.0 else 0.0
    n = math.floor(zc * LOG2_E + 0.5)
    r = (zc - n * LN2_HI) - n * LN2_LO
    poly = EXP_TAYLOR[0]
    for c in range(1, EXP_TAYLOR.shape[0]):
        poly = poly * r + EXP_TAYLOR[c]
    e = poly * POW2_NEG[int(-n)]
    if z > EXP_NORMAL_MIN:
        return e
    return 0.0 if z <= EXP_NORMAL_MIN else z


@jit_inline
def _softmax_columns(Z, m, S, LS, lse, inv_total):
    """Softmax of each of the first ``m`` columns of ``Z`` (k, .) into ``S``.

    Writes the log-softmax into ``LS`` and each column's log-sum-exp into ``lse``
    (m,); ``inv_total`` (m,) is scratch.  ``LS`` may be ``Z``; ``S`` may not.  One
    ``exp`` per entry (the probabilities reuse the exponentials of the
    log-sum-exp) and one ``log`` per column; every loop runs over the columns, so
    that it is vectorised.  Probabilities below ``exp(EXP_NORMAL_MIN)`` (about
    3e-308) are returned as 0.
    """
    k = Z.shape[0]
    for j in range(m):
        lse[j] = Z[0, j]
    for i in range(1, k):
        for j in range(m):
            lse[j] = max(lse[j], Z[i, j])
    for i in range(k):
        for j in range(m):
            S[i, j] = _exp_nonpositive(Z[i, j] - lse[j])
    for j in range(m):
        inv_total[j] = S[0, j]
    for i in range(1, k):
        for j in range(m):
            inv_total[j] += S[i, j]
    for j in range(m):
        lse[j] += math.log(inv_total[j])
        inv_total[j] = 1.0 / inv_total[j]
    for i in range(k):
        for j in range(m):
            S[i, j] *= inv_total[j]
            LS[i, j] = Z[i, j] - lse[j]


@jit_inline
def _top_k_mask(Z, m, top_k, KEEP, BEST, ARG):
    """Keep the ``top_k`` largest entries of each of the first ``m`` columns of ``Z``.

    ``Z`` (k, .) holds gate scores; on return ``KEEP[i, j]`` is 1.0 for the kept
    entries and 0.0 for the others, which are set to ``-inf`` in ``Z`` (their
    softmax weight is then exactly 0).  Ties are broken by the lower index: of two
    equal scores, the expert with the smaller index is kept first.  ``top_k``
    rounds; each scans the experts not yet kept for the largest score (strict
    ``>``, so the first of equal maxima wins), a loop over the columns that the
    compiler vectorises.  ``BEST`` (float) and ``ARG`` (int) of length ``m`` are
    scratch.  A column without a finite score keeps nothing in that round.
    """
    k = Z.shape[0]
    for i in range(k):
        for j in range(m):
            KEEP[i, j] = 0.0
    for _ in range(top_k):
        for j in range(m):
            BEST[j] = -np.inf
            ARG[j] = -1
        for i in range(k):
            for j in range(m):
                if KEEP[i, j] == 0.0 and Z[i, j] > BEST[j]:
                    BEST[j] = Z[i, j]
                    ARG[j] = i
        for j in range(m):
            if ARG[j] >= 0:
                KEEP[ARG[j], j] = 1.0
    for i in range(k):
        for j in range(m):
            if KEEP[i, j] == 0.0:
                Z[i, j] = -np.inf


@jit
def _load_chunk(Xt, lo, m, XT):
    """Copy the rows ``lo .. lo + m`` of ``Xt`` into the columns of ``XT`` (p, m)."""
    for a in range(Xt.shape[1]):
        for j in range(m):
            XT[a, j] = Xt[lo + j, a]


@jit
def _linear_predictors(coef, XT, m, out):
    """``out[i, j] = coef[i] . XT[:, j]`` for the chunk's ``m`` samples."""
    for i in range(coef.shape[0]):
        for j in range(m):
            out[i, j] = 0.0
        for a in range(XT.shape[0]):
            for j in range(m):
                out[i, j] += coef[i, a] * XT[a, j]


@jit
def _expert_moments(WT, XT, y, lo, m, A, B, C):
    """Add the chunk's weighted least-squares statistics to ``A``, ``B``, ``C``.

    ``WT[i, j]`` is ``w tau_i`` of sample ``lo + j``.  Only the upper triangle of
    each ``A[i]`` is filled.  Every sum is a separate loop over the samples, which
    the compiler vectorises.
    """
    k = WT.shape[0]
    p = XT.shape[0]
    for i in range(k):
        for a in range(p):
            for b in range(a, p):
                acc = 0.0
                for j in range(m):
                    acc += WT[i, j] * XT[a, j] * XT[b, j]
                A[i, a, b] += acc
            acc = 0.0
            for j in range(m):
                acc += WT[i, j] * XT[a, j] * y[lo + j]
            B[i, a] += acc
        acc = 0.0
        for j in range(m):
            acc += WT[i, j] * y[lo + j] * y[lo + j]
        C[i] += acc


@jit
def _gate_moments(WT, WP, P, LP, XT, m, grad, info):
    """Add the chunk's gate objective, gradient and information; return the objective.

    ``WT[i, j] = w tau_i``, ``WP[i, j] = w pi_i``, ``P[i, j] = pi_i`` and
    ``LP[i, j] = log pi_i`` of sample ``lo + j``.  With ``x = XT[:, j]``, the sums
    are ``sum_ij WT log pi``, ``grad[i] += sum_j (WT_i - WP_i) x`` and
    ``info[i, o] += sum_j WP_i (delta_io - P_o) x x^T`` (upper blocks ``o >= i``,
    upper triangle of each block; see ``_symmetrize_info``).
    """
    k = WT.shape[0]
    p = XT.shape[0]
    q = 0.0
    for i in range(k):
        acc = 0.0
        for j in range(m):
            acc += WT[i, j] * LP[i, j]
        q += acc
        for a in range(p):
            acc = 0.0
            for j in range(m):
                acc += (WT[i, j] - WP[i, j]) * XT[a, j]
            grad[i, a] += acc
        for other in range(i, k):
            for a in range(p):
                for b in range(a, p):
                    acc = 0.0
                    if other == i:
                        for j in range(m):
                            acc += WP[i, j] * (1.0 - P[i, j]) * XT[a, j] * XT[b, j]
                    else:
                        for j in range(m):
                            acc -= WP[i, j] * P[other, j] * XT[a, j] * XT[b, j]
                    info[i, other, a, b] += acc
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
                for a in range(p):
                    for b in range(p):
                        info[j, i, a, b] = info[i, j, a, b]


@jit
def _add_tasks(parts, total):
    """``total += parts.sum(axis=0)`` for ``parts`` (n_tasks, m) and ``total`` (m,),
    adding the tasks' parts in order.

    The callers pass flat views (reshapes of C-contiguous arrays), so that one
    compiled loop serves every shape; an array expression (``total += parts[t]``)
    costs seconds of compile time per shape.
    """
    for t in range(parts.shape[0]):
        for e in range(total.shape[0]):
            total[e] += parts[t, e]


def _n_tasks(n):
    """Number of parallel tasks for ``n`` samples: one per chunk, at most ``MAX_TASKS``.

    It depends on ``n`` only, never on the number of threads, so the partial sums
    are grouped and added in the same order on any machine.  The cap bounds the
    memory of the partial sums (each task holds a (k, k, p, p) gate information).
    """
    return max(1, min((n + CHUNK_SIZE - 1) // CHUNK_SIZE, MAX_TASKS))


_POOL = None
_POOL_PID = None
_POOL_LOCK = threading.Lock()


def _pool():
    """The worker threads shared by all kernels (created on first use, and anew
    in a forked child, where the parent's threads do not exist)."""
    global _POOL, _POOL_PID
    with _POOL_LOCK:
        if _POOL is None or _POOL_PID != os.getpid():
            _POOL = ThreadPoolExecutor(
                max_workers=max(1, numba.config.NUMBA_NUM_THREADS - 1),
                thread_name_prefix="gmoe-kernel")
            _POOL_PID = os.getpid()
        return _POOL


def _run_tasks(task, n_tasks, args):
    """Run ``task(t0, t1, *args)`` on contiguous runs ``t0 .. t1`` of the tasks.

    The runs go to ``numba.get_num_threads()`` threads (the calling thread takes
    the first run).  ``task`` is a compiled function that releases the GIL
    (``nogil``), so the runs execute in parallel; each task writes to its own
    slots of the partial sums only, so the result does not depend on the number
    of threads.  Python threads rather than numba's ``parallel=True``: a parallel
    function re-optimises the whole compiled loop body once for its parallel
    region and once more for every compiled caller, which tripled the compile
    time, for no run-time gain (the tasks are coarse).
    """
    n_threads = 1 if n_tasks <= 1 else min(numba.get_num_threads(), n_tasks)
    if n_threads <= 1:
        task(0, n_tasks, *args)
        return
    bounds = [n_tasks * r // n_threads for r in range(n_threads + 1)]
    pool = _pool()
    futures = [pool.submit(task, bounds[r], bounds[r + 1], *args)
               for r in range(1, n_threads)]
    try:
        task(bounds[0], bounds[1], *args)
    finally:
        for future in futures:
            future.result()


@jit
def _normal_constants(var, log_norm, inv_var):
    """``log_norm[i] = -(log 2 pi + log var_i) / 2`` and ``inv_var[i] = 1 / var_i``."""
    for i in range(var.shape[0]):
        log_norm[i] = -0.5 * (LOG_2PI + math.log(var[i]))
        inv_var[i] = 1.0 / var[i]


@jit_inline
def _expert_hessian(hess, i, w, lo, mc, TAU, XT, R, inv_var, m, q):
    """Add expert ``i``'s own second derivatives over a chunk (its row
    ``m .. q - 2`` and log-variance ``q - 1`` coordinates) to ``hess`` (k, q, k,
    q): ``-sum_n w_n tau_ni x_n x_n' / sigma_i``, ``-sum_n w_n tau_ni r_ni x_n /
    sigma_i`` and ``-sum_n w_n tau_ni r_ni^2 / (2 sigma_i)``, with ``TAU`` the
    responsibilities, ``XT`` the design and ``R`` the residuals of the chunk
    (samples last)."""
    p = XT.shape[0]
    for a in range(p):
        for b in range(p):
            acc = 0.0
            for j in range(mc):
                acc += w[lo + j] * TAU[i, j] * XT[a, j] * XT[b, j]
            hess[i, m + a, i, m + b] -= acc * inv_var[i]
        acc = 0.0
        for j in range(mc):
            acc += (w[lo + j] * TAU[i, j] * R[i, j] * inv_var[i]
                    * XT[a, j])
        hess[i, m + a, i, q - 1] -= acc
        hess[i, q - 1, i, m + a] -= acc
    acc = 0.0
    for j in range(mc):
        acc += w[lo + j] * TAU[i, j] * R[i, j] * R[i, j] * inv_var[i]
    hess[i, q - 1, i, q - 1] -= 0.5 * acc


@jit
def _expert_log_pdf(y, lo, m, log_norm, inv_var, LJ):
    """Overwrite the experts' means ``LJ`` (k, m) of the chunk starting at ``lo``
    with ``log N(y_n; mean, var_i)``."""
    for i in range(LJ.shape[0]):
        for j in range(m):
            r = y[lo + j] - LJ[i, j]
            LJ[i, j] = log_norm[i] - 0.5 * r * r * inv_var[i]


@jit
def _e_step_tasks(t0, t1, Xt, y, w, gate, coef, var, resp_prev, resp,
                  ll_c, q_prev_c, A_c, B_c, C_c, q_c, grad_c, info_c):
    """Tasks ``t0 .. t1`` of :func:`e_step`, one after the other.

    The chunks are dealt to ``n_tasks = len(ll_c)`` tasks in contiguous runs; task
    ``t`` adds its chunks' sums, in order, to ``ll_c[t]``, ``A_c[t]`` and so on.
    """
    n, p = Xt.shape
    k = coef.shape[0]
    n_tasks = ll_c.shape[0]
    n_chunks = (n + CHUNK_SIZE - 1) // CHUNK_SIZE
    log_norm = np.empty(k)
    inv_var = np.empty(k)
    _normal_constants(var, log_norm, inv_var)
    XT = np.empty((p, CHUNK_SIZE))
    LP = np.empty((k, CHUNK_SIZE))
    P = np.empty((k, CHUNK_SIZE))
    LJ = np.empty((k, CHUNK_SIZE))
    WT = np.empty((k, CHUNK_SIZE))
    WP = np.empty((k, CHUNK_SIZE))
    LSE = np.empty(CHUNK_SIZE)
    TMP = np.empty(CHUNK_SIZE)
    for t in range(t0, t1):
        for c in range(t * n_chunks // n_tasks, (t + 1) * n_chunks // n_tasks):
            lo = c * CHUNK_SIZE
            m = min(n, lo + CHUNK_SIZE) - lo
            _load_chunk(Xt, lo, m, XT)
            _linear_predictors(gate, XT, m, LP)
            _linear_predictors(coef, XT, m, LJ)
            _expert_log_pdf(y, lo, m, log_norm, inv_var, LJ)
            _softmax_columns(LP, m, P, LP, LSE, TMP)
            q_prev = 0.0
            for i in range(k):
                for j in range(m):
                    LJ[i, j] += LP[i, j]
                    q_prev += w[lo + j] * resp_prev[lo + j, i] * LP[i, j]
            _softmax_columns(LJ, m, WT, LJ, LSE, TMP)
            ll = 0.0
            for j in range(m):
                ll += w[lo + j] * LSE[j]
            for i in range(k):
                for j in range(m):
                    resp[lo + j, i] = WT[i, j]
                    WT[i, j] *= w[lo + j]
                    WP[i, j] = w[lo + j] * P[i, j]
            ll_c[t] += ll
            q_prev_c[t] += q_prev
            _expert_moments(WT, XT, y, lo, m, A_c[t], B_c[t], C_c[t])
            q_c[t] += _gate_moments(WT, WP, P, LP, XT, m, grad_c[t], info_c[t])


@jit
def _e_step_sums(ll_c, q_prev_c, A_c, B_c, C_c, q_c, grad_c, info_c,
                 A, B, C, grad, info):
    """Add the tasks' partial sums of :func:`e_step` in order into the zeroed
    ``A``, ``B``, ``C``, ``grad``, ``info``; return ``loglik, gate_q, gate_q_prev``.

    The outputs are allocated by the caller and the arrays added through flat views
    (:func:`_add_tasks`): allocations and array expressions of each shape cost
    compile time.
    """
    n_tasks, k, p, _ = A_c.shape
    loglik = 0.0
    gate_q = 0.0
    gate_q_prev = 0.0
    for c in range(n_tasks):
        loglik += ll_c[c]
        gate_q += q_c[c]
        gate_q_prev += q_prev_c[c]
    _add_tasks(A_c.reshape((n_tasks, -1)), A.reshape(-1))
    _add_tasks(B_c.reshape((n_tasks, -1)), B.reshape(-1))
    _add_tasks(C_c.reshape((n_tasks, -1)), C.reshape(-1))
    _add_tasks(grad_c.reshape((n_tasks, -1)), grad.reshape(-1))
    _add_tasks(info_c.reshape((n_tasks, -1)), info.reshape(-1))
    for i in range(k):
        for a in range(p):
            for b in range(a + 1, p):
                A[i, b, a] = A[i, a, b]
    _symmetrize_info(info)
    return loglik, gate_q, gate_q_prev


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

    Each chunk of samples is copied once, transposed, into buffers of the thread
    that handles it; every step is then a loop over the chunk's samples that the
    compiler vectorises, the soft-maxes included (two ``exp`` per sample and
    expert, by :func:`_exp_nonpositive`, and two ``log`` per sample).

    The arrays are float64; C-contiguous ones are used as they are (the compiled
    code is specialised for them), others are copied first.
    """
    if not _compile._READY:
        _compile.ensure_compiled()
    Xt, y, w, gate, coef, var, resp_prev = _as_c_float64(
        Xt, y, w, gate, coef, var, resp_prev)
    out = resp if _is_c_float64(resp) else np.empty(resp.shape)
    n, p = Xt.shape
    k = coef.shape[0]
    n_tasks = _n_tasks(n)
    ll_c = np.zeros(n_tasks)
    q_prev_c = np.zeros(n_tasks)
    A_c = np.zeros((n_tasks, k, p, p))
    B_c = np.zeros((n_tasks, k, p))
    C_c = np.zeros((n_tasks, k))
    q_c = np.zeros(n_tasks)
    grad_c = np.zeros((n_tasks, k, p))
    info_c = np.zeros((n_tasks, k, k, p, p))
    _run_tasks(_e_step_tasks, n_tasks,
               (Xt, y, w, gate, coef, var, resp_prev, out,
                ll_c, q_prev_c, A_c, B_c, C_c, q_c, grad_c, info_c))
    if out is not resp:
        resp[...] = out
    A = np.zeros((k, p, p))
    B = np.zeros((k, p))
    C = np.zeros(k)
    grad = np.zeros((k, p))
    info = np.zeros((k, k, p, p))
    loglik, gate_q, gate_q_prev = _e_step_sums(
        ll_c, q_prev_c, A_c, B_c, C_c, q_c, grad_c, info_c, A, B, C, grad, info)
    return loglik, A, B, C, gate_q, grad, info, gate_q_prev


@jit
def _gate_stats_tasks(t0, t1, Xt, w, resp, gate, q_c, grad_c, info_c):
    """Tasks ``t0 .. t1`` of :func:`gate_stats` (see :func:`_e_step_tasks`).

    The first lines of the loop repeat those of :func:`_e_step_tasks` on purpose:
    a helper shared by both changed the order of the loops in the E-step and made
    it 30 % slower.
    """
    n, p = Xt.shape
    k = gate.shape[0]
    n_tasks = q_c.shape[0]
    n_chunks = (n + CHUNK_SIZE - 1) // CHUNK_SIZE
    XT = np.empty((p, CHUNK_SIZE))
    LP = np.empty((k, CHUNK_SIZE))
    P = np.empty((k, CHUNK_SIZE))
    WT = np.empty((k, CHUNK_SIZE))
    WP = np.empty((k, CHUNK_SIZE))
    LSE = np.empty(CHUNK_SIZE)
    TMP = np.empty(CHUNK_SIZE)
    for t in range(t0, t1):
        for c in range(t * n_chunks // n_tasks, (t + 1) * n_chunks // n_tasks):
            lo = c * CHUNK_SIZE
            m = min(n, lo + CHUNK_SIZE) - lo
            _load_chunk(Xt, lo, m, XT)
            _linear_predictors(gate, XT, m, LP)
            _softmax_columns(LP, m, P, LP, LSE, TMP)
            for i in range(k):
                for j in range(m):
                    WT[i, j] = w[lo + j] * resp[lo + j, i]
                    WP[i, j] = w[lo + j] * P[i, j]
            q_c[t] += _gate_moments(WT, WP, P, LP, XT, m, grad_c[t], info_c[t])


@jit
def _gate_stats_sums(q_c, grad_c, info_c, grad, info):
    """Add the tasks' partial sums of :func:`gate_stats` in order into the zeroed
    ``grad`` and ``info``; return ``q`` (see :func:`_e_step_sums`)."""
    n_tasks = grad_c.shape[0]
    gate_q = 0.0
    for c in range(n_tasks):
        gate_q += q_c[c]
    _add_tasks(grad_c.reshape((n_tasks, -1)), grad.reshape(-1))
    _add_tasks(info_c.reshape((n_tasks, -1)), info.reshape(-1))
    _symmetrize_info(info)
    return gate_q


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
    if not _compile._READY:
        _compile.ensure_compiled()
    Xt, w, resp, gate = _as_c_float64(Xt, w, resp, gate)
    n, p = Xt.shape
    k = gate.shape[0]
    n_tasks = _n_tasks(n)
    q_c = np.zeros(n_tasks)
    grad_c = np.zeros((n_tasks, k, p))
    info_c = np.zeros((n_tasks, k, k, p, p))
    _run_tasks(_gate_stats_tasks, n_tasks, (Xt, w, resp, gate, q_c, grad_c, info_c))
    grad = np.zeros((k, p))
    info = np.zeros((k, k, p, p))
    gate_q = _gate_stats_sums(q_c, grad_c, info_c, grad, info)
    return gate_q, grad, info


def _as_c_float64(*arrays):
    """The arrays as writeable C-contiguous float64 arrays (no copy when they
    already are): the one type the kernels are compiled for
    (:mod:`gmoe.kernels._compile`), so that other inputs (Fortran order, views,
    read-only arrays) do not trigger a compile of their own."""
    out = []
    for a in arrays:
        a = np.ascontiguousarray(a, dtype=np.float64)
        out.append(a if a.flags.writeable else a.copy())
    return tuple(out)


def _is_c_float64(out):
    """Whether the kernels can write into ``out`` directly."""
    return (isinstance(out, np.ndarray) and out.dtype == np.float64
            and out.flags.c_contiguous and out.flags.writeable)
