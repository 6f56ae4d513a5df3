"""The EM algorithm of a softmax-gated Gaussian mixture of experts.

Everything here works on standardised data (see ``GaussianMoERegressor``) and on
plain arrays, with the conventions of :mod:`gmoe._kernels`: ``Xt`` (n, p) with a
leading column of ones, ``gate`` (k, p), ``coef`` (k, p), ``var`` (k,).  The gate is
kept in its reference form: the last row of ``gate`` is zero throughout.

The maths follows [JJ94] and the reference implementation of [N23]:

- E-step: responsibilities in log space, fused with the sufficient statistics
  (:func:`gmoe._kernels.e_step`);
- M-step, experts: closed-form weighted least squares and residual variance, with
  a variance floor;
- M-step, gate: Newton (IRLS) on the soft-label multinomial logistic objective with
  the full cross-expert Hessian, warm-started at the current gate, with step
  halving so that the objective never decreases.  During EM, one Newton step per
  iteration (its check fused into the next E-step); at start-up, Newton to
  convergence (:func:`m_step_gate`);
- optionally, SQUAREM extrapolation of the EM map [VR08] (:func:`_squarem_cycle`).

[VR08] R. Varadhan and C. Roland, Scandinavian Journal of Statistics 35(2), 2008.
"""

import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

from gmoe._kernels import e_step, gate_stats

#: An expert whose total responsibility is below this fraction of the total sample
#: weight keeps its previous expert parameters in the M-step (its least-squares
#: problem carries no information); it is never removed.
EMPTY_EXPERT_FRACTION = 1e-12

#: Halvings of a gate step before EM keeps the gate as it is for this iteration.
MAX_HALVINGS = 30

#: Newton steps and relative tolerance of the gate fit made at start-up, from a flat
#: gate to the starting responsibilities.
START_GATE_MAX_ITER = 25
START_GATE_TOL = 1e-8

#: A decrease of the mean log-likelihood larger than this (in nats per unit of
#: sample weight) is reported as a warning: EM must never decrease it.
DECREASE_TOLERANCE = 1e-9


class LikelihoodDecreaseWarning(RuntimeWarning):
    """EM decreased the log-likelihood by more than rounding error."""


@dataclass
class EMResult:
    """The outcome of one EM run (standardised units)."""

    gate: np.ndarray
    coef: np.ndarray
    var: np.ndarray
    resp: np.ndarray
    log_likelihood: float
    trace: list = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False


def expert_statistics(Xt, y, w, resp):
    """Weighted least-squares statistics of every expert (numpy, used at start-up).

    Returns ``A`` (k, p, p), ``B`` (k, p), ``C`` (k,) as :func:`gmoe._kernels.e_step`
    does.
    """
    wr = w[:, None] * resp
    A = np.einsum("ni,na,nb->iab", wr, Xt, Xt)
    B = np.einsum("ni,na->ia", wr * y[:, None], Xt)
    C = wr.T @ (y * y)
    return A, B, C


def m_step_experts(A, B, C, coef, var, var_floor, total_weight):
    """Closed-form expert update from the statistics of :func:`e_step`.

    For each expert, ``coef_i = argmin sum_n w_n tau_ni (y_n - coef . x_n)^2`` (the
    minimum-norm solution when the weighted design is singular) and
    ``var_i = max(RSS_i / sum_n w_n tau_ni, var_floor)``.  An expert with
    (almost) no weight keeps ``coef`` and ``var``.

    Returns new ``coef`` (k, p) and ``var`` (k,); the inputs are not modified.
    """
    coef = coef.copy()
    var = var.copy()
    for i in range(coef.shape[0]):
        s0 = A[i, 0, 0]
        if not s0 > EMPTY_EXPERT_FRACTION * total_weight:
            continue
        c = np.linalg.lstsq(A[i], B[i], rcond=1e-13)[0]
        rss = C[i] - 2.0 * c @ B[i] + c @ A[i] @ c
        coef[i] = c
        var[i] = max(rss / s0, var_floor)
    return coef, var


def _newton_direction(grad, info):
    """Solve ``info @ step = grad`` over the free rows (all but the last expert)."""
    k, p = grad.shape
    m = (k - 1) * p
    g = grad[:-1].reshape(m)
    H = info[:-1, :-1].transpose(0, 2, 1, 3).reshape(m, m)
    ridge = 1e-10 * max(np.trace(H) / m, 1e-300)
    try:
        step = scipy.linalg.solve(H + ridge * np.eye(m), g, assume_a="pos")
    except (np.linalg.LinAlgError, ValueError):
        step = np.linalg.lstsq(H, g, rcond=None)[0]
    full = np.zeros((k, p))
    full[:-1] = step.reshape(k - 1, p)
    return full


def m_step_gate(Xt, w, resp, gate, stats=None, *, max_iter=25, tol=1e-8):
    """Newton/IRLS update of the gate for fixed responsibilities.

    Maximises :math:`Q(\\beta) = \\sum_n w_n \\sum_i \\tau_{ni} \\log \\pi_i(x_n;
    \\beta)` over the first ``k - 1`` rows of ``gate`` (the last row stays zero),
    starting from ``gate``.  Each Newton step is halved until ``Q`` does not
    decrease; the loop stops when a step raises ``Q`` by at most ``tol * |Q|``,
    after ``max_iter`` steps, or when no halving helps.

    ``stats`` is ``(q, grad, info)`` at ``gate`` when the caller has them (the
    E-step does); otherwise they are computed.

    Returns the new gate (k, p) and the number of Newton steps taken.
    """
    if gate.shape[0] == 1:
        return gate.copy(), 0
    q, grad, info = gate_stats(Xt, w, resp, gate) if stats is None else stats
    n_steps = 0
    for _ in range(max_iter):
        step = _newton_direction(grad, info)
        t = 1.0
        for _ in range(40):
            candidate = gate + t * step
            q_new, grad_new, info_new = gate_stats(Xt, w, resp, candidate)
            if q_new >= q:
                break
            t *= 0.5
        else:
            break
        n_steps += 1
        gain = q_new - q
        gate, q, grad, info = candidate, q_new, grad_new, info_new
        if gain <= tol * abs(q):
            break
    return gate, n_steps


def params_from_responsibilities(Xt, y, w, resp, var_floor):
    """Starting parameters from responsibilities: one M-step from a flat gate.

    Experts that receive no weight start from the pooled least-squares fit.
    """
    k = resp.shape[1]
    p = Xt.shape[1]
    total = w.sum()
    A, B, C = expert_statistics(Xt, y, w, np.ones((len(y), 1)))
    pooled_coef, pooled_var = m_step_experts(
        A, B, C, np.zeros((1, p)), np.ones(1), var_floor, total
    )
    A, B, C = expert_statistics(Xt, y, w, resp)
    coef, var = m_step_experts(
        A, B, C, np.repeat(pooled_coef, k, axis=0), np.repeat(pooled_var, k),
        var_floor, total,
    )
    gate, _ = m_step_gate(Xt, w, resp, np.zeros((k, p)), max_iter=START_GATE_MAX_ITER,
                          tol=START_GATE_TOL)
    return gate, coef, var


def _gate_step(grad, info):
    """The Newton step of the gate (zero for a single expert)."""
    if grad.shape[0] == 1:
        return np.zeros_like(grad)
    return _newton_direction(grad, info)


@dataclass
class _State:
    """Parameters and the E-step's outputs at them (standardised units)."""

    gate: np.ndarray
    coef: np.ndarray
    var: np.ndarray
    ll: float
    A: np.ndarray
    B: np.ndarray
    C: np.ndarray
    q: float
    grad: np.ndarray
    info: np.ndarray


def _e_state(Xt, y, w, gate, coef, var, resp_prev, resp):
    """The E-step at ``(gate, coef, var)``, writing ``resp``, as a :class:`_State`."""
    ll, A, B, C, q, grad, info, _ = e_step(Xt, y, w, gate, coef, var, resp_prev, resp)
    return _State(gate, coef, var, ll, A, B, C, q, grad, info)


def _em_update(Xt, y, w, state, var_floor, total, resp_now, resp_out):
    """One EM iteration from ``state``, whose responsibilities are in ``resp_now``.

    The experts are updated in closed form from the state's statistics; the gate
    takes one Newton step, and the E-step at the new parameters (which writes
    ``resp_out``) checks in the same pass that the step raised the gate objective
    of ``resp_now``; if not, the step is halved and the E-step redone.
    """
    coef, var = m_step_experts(state.A, state.B, state.C, state.coef, state.var,
                               var_floor, total)
    step = _gate_step(state.grad, state.info)
    for _ in range(MAX_HALVINGS):
        candidate = state.gate + step
        out = e_step(Xt, y, w, candidate, coef, var, resp_now, resp_out)
        if out[7] >= state.q:
            break
        step = 0.5 * step
    else:
        candidate = state.gate
        out = e_step(Xt, y, w, candidate, coef, var, resp_now, resp_out)
    return _State(candidate, coef, var, *out[:7])


def _to_vector(state):
    """The free parameters of ``state`` as one vector: gate rows but the last,
    expert coefficients, log-variances."""
    return np.concatenate([state.gate[:-1].ravel(), state.coef.ravel(),
                           np.log(state.var)])


def _from_vector(theta, k, p, var_floor):
    """Inverse of :func:`_to_vector` (variances floored)."""
    n_gate = (k - 1) * p
    gate = np.vstack([theta[:n_gate].reshape(k - 1, p), np.zeros((1, p))])
    coef = theta[n_gate:n_gate + k * p].reshape(k, p)
    var = np.maximum(np.exp(theta[n_gate + k * p:]), var_floor)
    return gate, coef, var


def _squarem_cycle(Xt, y, w, state, var_floor, total, bufs):
    """One SQUAREM cycle [VR08] around :func:`_em_update`; returns the new state.

    Two EM iterations give ``r = theta1 - theta0`` and ``v = theta2 - theta1 - r``;
    the extrapolated point ``theta0 - 2 alpha r + alpha^2 v``, ``alpha = -|r| / |v|``
    (at most -1; ``alpha = -1`` gives ``theta2``), is then improved by one more EM
    iteration.  The result is kept only if its log-likelihood is at least that of
    ``theta2``; otherwise the cycle returns ``theta2``.  So a cycle never decreases
    the log-likelihood, and costs three or four passes over the data.

    ``bufs`` holds three (n, k) responsibility arrays, the first with those of
    ``state``; on return, its first one holds those of the returned state.
    """
    k, p = state.coef.shape
    s1 = _em_update(Xt, y, w, state, var_floor, total, bufs[0], bufs[1])
    s2 = _em_update(Xt, y, w, s1, var_floor, total, bufs[1], bufs[2])
    theta0 = _to_vector(state)
    r = _to_vector(s1) - theta0
    v = _to_vector(s2) - _to_vector(s1) - r
    norm_v = np.linalg.norm(v)
    alpha = -np.linalg.norm(r) / norm_v if norm_v > 0 else -1.0
    if alpha < -1.0 and np.isfinite(alpha):
        gate, coef, var = _from_vector(theta0 - 2 * alpha * r + alpha**2 * v, k, p,
                                       var_floor)
        jump = _e_state(Xt, y, w, gate, coef, var, bufs[2], bufs[0])
        if np.isfinite(jump.ll):
            s3 = _em_update(Xt, y, w, jump, var_floor, total, bufs[0], bufs[1])
            if s3.ll >= s2.ll:
                bufs[0], bufs[1] = bufs[1], bufs[0]
                return s3
    bufs[0], bufs[2] = bufs[2], bufs[0]
    return s2


def run_em(Xt, y, w, gate, coef, var, *, max_iter, tol, var_floor, accelerate=False,
           verbose=0):
    """Run EM from the given parameters until the mean log-likelihood settles.

    One iteration is one pass over the data in the common case
    (:func:`_em_update`).  Both M-step updates raise their part of the expected
    complete-data log-likelihood, so the log-likelihood never decreases (a
    generalised EM).  With ``accelerate=True`` one iteration is a SQUAREM cycle
    (:func:`_squarem_cycle`, three or four passes), which never decreases it either.

    Convergence: the change of ``loglik / sum(w)`` between two iterations is at most
    ``tol``.  The loop ends on an E-step, so the returned log-likelihood and
    responsibilities belong to the returned parameters.  A decrease of the
    log-likelihood beyond rounding raises a :class:`LikelihoodDecreaseWarning`.
    """
    n, _ = Xt.shape
    k = coef.shape[0]
    total = float(w.sum())
    gate = np.array(gate, dtype=float)
    gate -= gate[-1]
    coef = np.array(coef, dtype=float)
    var = np.maximum(np.array(var, dtype=float), var_floor)
    bufs = [np.empty((n, k)), np.empty((n, k)), np.empty((n, k))]
    state = _e_state(Xt, y, w, gate, coef, var, np.full((n, k), 1.0 / k), bufs[0])
    trace = [state.ll]
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        ll = state.ll
        if accelerate:
            state = _squarem_cycle(Xt, y, w, state, var_floor, total, bufs)
        else:
            state = _em_update(Xt, y, w, state, var_floor, total, bufs[0], bufs[1])
            bufs[0], bufs[1] = bufs[1], bufs[0]
        trace.append(state.ll)
        change = (state.ll - ll) / total
        if verbose >= 2:
            print(f"  EM iteration {n_iter:5d}  mean log-likelihood "
                  f"{state.ll / total:.10f}")
        if change < -DECREASE_TOLERANCE * max(1.0, abs(state.ll) / total):
            warnings.warn(
                f"EM decreased the mean log-likelihood by {-change:.3g} at iteration "
                f"{n_iter}; this should not happen and suggests ill-conditioned data.",
                LikelihoodDecreaseWarning,
                stacklevel=3,
            )
        if abs(change) <= tol:
            converged = True
            break
    return EMResult(state.gate, state.coef, state.var, bufs[0], state.ll, trace,
                    n_iter, converged)
