"""The EM algorithm of a softmax-gated Gaussian mixture of experts.

Everything here works on standardised data (see ``GaussianMoERegressor``) and on
plain arrays, with the conventions of :mod:`gmoe.kernels._em`: ``Xt`` (n, p) with a
leading column of ones, ``gate`` (k, p), ``coef`` (k, p), ``var`` (k,).  The gate is
kept in its reference form: the last row of ``gate`` is zero throughout.

The maths follows [JJ94] and the reference implementation of [N23]:

- E-step: responsibilities in log space, fused with the sufficient statistics
  (:func:`gmoe.kernels._em.e_step`);
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

from gmoe.engine._model import MoEParams
from gmoe.kernels._linalg import expert_moments

#: Halvings of a gate step before EM keeps the gate as it is for this iteration.
MAX_HALVINGS = 30

#: Halvings of a top-K gate step before EM keeps the gate for this iteration (a
#: step that crosses the boundaries of the top-K sets often cannot be rescued).
MAX_HALVINGS_TOP_K = 8
#: Smallest first fraction of a top-K gate step (see :func:`_em_update_top_k`).
MIN_GATE_SCALE = 2.0**-20

#: Newton steps and relative tolerance of the gate fit made at start-up, from a flat
#: gate to the starting responsibilities.
START_GATE_MAX_ITER = 25
START_GATE_TOL = 1e-8

#: Top-K gate: hops across the boundaries of the top-K sets tried per EM run
#: (see :func:`run_em`).
MAX_ESCAPES = 5

#: A decrease of the mean log-likelihood larger than this (in nats per unit of
#: sample weight) is reported as a warning: EM must never decrease it.
DECREASE_TOLERANCE = 1e-9


class LikelihoodDecreaseWarning(RuntimeWarning):
    """EM decreased the log-likelihood by more than rounding error."""


@dataclass
class EMResult:
    """The outcome of one EM run (standardised units).

    ``objective`` is the penalised log-likelihood (equal to ``log_likelihood``
    without a gate penalty); ``trace`` holds it at the start and after each
    iteration.
    """

    params: MoEParams
    resp: np.ndarray
    log_likelihood: float
    objective: float
    trace: list = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False


def expert_statistics(Xt, y, w, resp):
    """Weighted least-squares statistics of every expert from responsibilities
    (the M-steps outside EM: starts, moves), compiled
    (:func:`gmoe.kernels._linalg.expert_moments`).

    Returns ``A`` (k, p, p), ``B`` (k, p), ``C`` (k,) as :func:`gmoe.kernels._em.e_step`
    does.
    """
    Xt, y, w, resp = (np.ascontiguousarray(a, dtype=np.float64)
                      for a in (Xt, y, w, resp))
    k, p = resp.shape[1], Xt.shape[1]
    A, B, C = np.empty((k, p, p)), np.empty((k, p)), np.empty(k)
    expert_moments(Xt, y, w, resp, A, B, C)
    return A, B, C


def m_step_gate(model, resp, gate, *, max_iter=25, tol=1e-8):
    """Newton/IRLS update of the gate for fixed responsibilities.

    Maximises :math:`Q(\\beta) = \\sum_n w_n \\sum_i \\tau_{ni} \\log \\pi_i(x_n;
    \\beta)` minus the model's gate penalty over the first ``k - 1`` rows of
    ``gate`` (the last row stays zero), starting from ``gate``, within the model's
    gate bound.  Each Newton step is halved until the objective does not
    decrease, from twice the fraction the previous step kept (at most 1), as in
    :func:`_em_update`; the loop stops when a step raises it by at most
    ``tol * |Q|``, after ``max_iter`` steps, or when no halving helps.

    Returns the new gate (k, p) and the number of Newton steps taken.
    """
    if gate.shape[0] == 1:
        return gate.copy(), 0
    def penalised(candidate):
        q, grad, info = model.gate_stats(resp, candidate)
        return q - model.penalty(candidate), grad, info

    q, grad, info = penalised(gate)
    n_steps = 0
    t = 1.0
    for _ in range(max_iter):
        step = model.gate_direction(gate, grad, info)
        for _ in range(40):
            candidate = model.project_gate(gate + t * step)
            q_new, grad_new, info_new = penalised(candidate)
            if q_new >= q:
                break
            t *= 0.5
        else:
            break
        n_steps += 1
        t = min(1.0, 2.0 * t)
        gain = q_new - q
        gate, q, grad, info = candidate, q_new, grad_new, info_new
        if gain <= tol * abs(q):
            break
    return gate, n_steps


def m_step(model, resp, params, gate_iter=START_GATE_MAX_ITER):
    """One M-step from responsibilities ``resp`` (n, k), warm from ``params``:
    the experts in closed form (an expert that receives no weight keeps its
    parameters), the gate by at most ``gate_iter`` Newton steps from
    ``params.gate``.  Returns a :class:`MoEParams`."""
    A, B, C = expert_statistics(model.Xt, model.y, model.w, resp)
    coef, var = model.experts.m_step(A, B, C, params.coef, params.var,
                                     model.var_lower, model.var_upper, model.total)
    gate, _ = m_step_gate(model, resp, params.gate, max_iter=gate_iter,
                          tol=START_GATE_TOL)
    return MoEParams(gate, coef, var)


def params_from_responsibilities(model, resp, gate=None,
                                 gate_iter=START_GATE_MAX_ITER):
    """Starting parameters from responsibilities: one M-step (:func:`m_step`),
    the gate's from ``gate`` (default: a flat gate).

    Experts that receive no weight start from the pooled least-squares fit.
    Returns a :class:`MoEParams`.
    """
    Xt, y, w = model.Xt, model.y, model.w
    k = resp.shape[1]
    A, B, C = expert_statistics(Xt, y, w, np.ones((len(y), 1)))
    pooled_coef, pooled_var = model.experts.m_step(
        A, B, C, np.zeros((1, Xt.shape[1])), np.ones(1), model.var_lower,
        model.var_upper, model.total)
    start = MoEParams(model.flat_gate(k) if gate is None else gate,
                      np.repeat(pooled_coef, k, axis=0), np.repeat(pooled_var, k))
    return m_step(model, resp, start, gate_iter)


@dataclass
class _State:
    """Parameters, the E-step's statistics at them and the gate penalty there."""

    params: MoEParams
    stats: object
    penalty: float
    #: The fraction of the gate's Newton step that the next iteration tries
    #: first (see :func:`_em_update` and :func:`_em_update_top_k`).
    gate_scale: float = 1.0

    @property
    def objective(self):
        """Penalised log-likelihood."""
        return self.stats.loglik - self.penalty

    @property
    def gate_q(self):
        """Penalised gate objective of the state's own responsibilities."""
        return self.stats.gate_q - self.penalty


def _e_state(model, params, resp_prev, resp):
    """The E-step at ``params``, writing ``resp``, as a :class:`_State`."""
    return _State(params, model.e_step(params, resp_prev, resp),
                  model.penalty(params.gate))


def _em_update(model, state, resp_now, resp_out):
    """One EM iteration from ``state``, whose responsibilities are in ``resp_now``.

    The experts are updated in closed form from the state's statistics; the gate
    takes one Newton step, and the E-step at the new parameters (which writes
    ``resp_out``) checks in the same pass that the step raised the (penalised)
    gate objective of ``resp_now``; if not, the step is halved and the E-step
    redone.  The fraction of the step tried first is the state's
    ``gate_scale``, twice the fraction last kept (at most 1): where the Newton
    step of a gate objective overshoots for many iterations in a row (a gate
    whose parameters drift along a direction of nearly equal weights, as the
    normalised sigmoid gate's common intercept toward its softmax limit), the
    iterations do not repeat the same failing halvings.

    With a top-K gate (``model.top_k``) the gate's Newton step is that of the
    gate objective with every sample's top-K set held at the current parameters,
    and the check is on the observed (penalised) log-likelihood instead: the
    step is halved until the log-likelihood at the new parameters is at least
    the current one (:func:`_em_update_top_k`).
    """
    if model.top_k is not None:
        return _em_update_top_k(model, state, resp_now, resp_out)
    params = state.params
    coef, var = model.m_step_experts(state.stats, params)
    step = model.gate_direction(params.gate, state.stats.gate_grad,
                                state.stats.gate_info)
    scale = state.gate_scale
    for _ in range(MAX_HALVINGS):
        candidate = MoEParams(model.project_gate(params.gate + scale * step), coef,
                              var)
        new = _e_state(model, candidate, resp_now, resp_out)
        if new.stats.gate_q_prev - new.penalty >= state.gate_q:
            new.gate_scale = min(1.0, 2.0 * scale)
            return new
        scale *= 0.5
    new = _e_state(model, MoEParams(params.gate, coef, var), resp_now, resp_out)
    new.gate_scale = max(scale, MIN_GATE_SCALE)
    return new


def _em_update_top_k(model, state, resp_now, resp_out):
    """One generalised EM iteration for the top-K sparse softmax gate.

    The experts are updated in closed form (the E-step's responsibilities are
    zero outside each sample's top-K set, so the update is that of the top-K
    model).  The gate objective :math:`\\sum_n w_n \\sum_{i \\in T_n}
    \\tau_{ni} \\log \\pi_i(x_n)` is concave for fixed top-K sets
    :math:`T_n`, and the E-step returns its gradient and information at the
    current gate for the sets there; one Newton step of it is tried.  A step
    that changes some :math:`T_n` can lower the likelihood (the objective is
    only piecewise smooth), so the step is kept only if the observed
    (penalised) log-likelihood at the new parameters is at least the current
    one, and halved otherwise.  When no halving helps, the gate stays where it
    is: the new experts with the old gate (top-K sets unchanged) never lower the
    log-likelihood (the EM inequality), so no iteration does.

    The candidates are tried with the light log-likelihood pass
    (:meth:`gmoe.engine._model.SoftmaxGaussianMoE.top_k_objective`); the first
    fraction tried is the state's ``gate_scale``, the last fraction kept times
    two (at most 1), so that iterations near boundaries do not repeat the same
    failing halvings.
    """
    params = state.params
    coef, var = model.m_step_experts(state.stats, params)
    step = model.gate_direction(params.gate, state.stats.gate_grad,
                                state.stats.gate_info)
    scale = state.gate_scale
    for _ in range(MAX_HALVINGS_TOP_K):
        candidate = MoEParams(model.project_gate(params.gate + scale * step), coef,
                              var)
        if model.top_k_objective(candidate) >= state.objective:
            new = _e_state(model, candidate, resp_now, resp_out)
            if new.objective >= state.objective:
                new.gate_scale = min(1.0, 2.0 * scale)
                return new
        scale *= 0.5
    new = _e_state(model, MoEParams(params.gate, coef, var), resp_now, resp_out)
    new.gate_scale = max(scale, MIN_GATE_SCALE)
    return new


#: Compass search of the top-K gate (:func:`_top_k_compass`): first and last
#: step length (standardised gate units) and the most evaluations per search.
COMPASS_START = 0.25
COMPASS_STOP = 1e-2
COMPASS_MAX_EVAL = 200


def _top_k_compass(model, state, resp_now, resp_out, min_gain):
    """A compass search on the gate of a top-K model, experts fixed.

    The top-K log-likelihood jumps where a sample's top-K set changes (at a tie
    of the scores of the ``K``-th and the ``(K+1)``-th expert, two different
    experts get the same weight), and EM cannot move those boundaries: the
    responsibilities vanish outside the sets, so the gate objective sees no gain
    there.  This search evaluates the observed log-likelihood itself: each free
    gate parameter in turn is moved by ``+h`` and ``-h`` (``h`` from
    :data:`COMPASS_START`, halved after a sweep without gain, down to
    :data:`COMPASS_STOP`); a move is kept when it raises the objective by more
    than ``min_gain``.  Returns the improved state (its E-step wrote
    ``resp_out``; ``resp_now`` is scratch) or None when no move helped.
    """
    params = state.params
    k, p = params.gate.shape
    gate = model.project_gate(params.gate)
    best_value = state.objective
    h = COMPASS_START
    n_eval = 0
    improved = False
    while h >= COMPASS_STOP and n_eval < COMPASS_MAX_EVAL:
        gained = False
        for i in range(k - 1):
            for a in range(p):
                for sign in (1.0, -1.0):
                    trial = gate.copy()
                    trial[i, a] += sign * h
                    trial = model.project_gate(trial)
                    value = model.top_k_objective(
                        MoEParams(trial, params.coef, params.var))
                    n_eval += 1
                    if value > best_value + min_gain:
                        best_value, gate, gained, improved = value, trial, True, True
                        break
        if not gained:
            h *= 0.5
    if not improved:
        return None
    new = _e_state(model, MoEParams(gate, params.coef, params.var), resp_now,
                   resp_out)
    return new if new.objective > state.objective else None


def _squarem_cycle(model, state, bufs):
    """One SQUAREM cycle [VR08] around :func:`_em_update`; returns the new state.

    Two EM iterations give ``r = theta1 - theta0`` and ``v = theta2 - theta1 - r``
    (free-parameter vectors, :meth:`MoEParams.to_vector`); the extrapolated point
    ``theta0 - 2 alpha r + alpha^2 v``, ``alpha = -|r| / |v|`` (at most -1;
    ``alpha = -1`` gives ``theta2``), projected on the bounds, is then improved by
    one more EM iteration.  The result is kept only if its objective is at least
    that of ``theta2``; otherwise the cycle returns ``theta2``.  So a cycle never
    decreases the objective, and costs three or four passes over the data.

    ``bufs`` holds three (n, k) responsibility arrays, the first with those of
    ``state``; on return, its first one holds those of the returned state.
    """
    k = state.params.n_experts
    s1 = _em_update(model, state, bufs[0], bufs[1])
    s2 = _em_update(model, s1, bufs[1], bufs[2])
    theta0 = model.to_vector(state.params)
    r = model.to_vector(s1.params) - theta0
    v = model.to_vector(s2.params) - model.to_vector(s1.params) - r
    norm_v = np.linalg.norm(v)
    alpha = -np.linalg.norm(r) / norm_v if norm_v > 0 else -1.0
    if alpha < -1.0 and np.isfinite(alpha):
        jump = model.project(model.from_vector(
            theta0 - 2 * alpha * r + alpha**2 * v, k))
        jumped = _e_state(model, jump, bufs[2], bufs[0])
        if np.isfinite(jumped.objective):
            s3 = _em_update(model, jumped, bufs[0], bufs[1])
            if s3.objective >= s2.objective:
                bufs[0], bufs[1] = bufs[1], bufs[0]
                return s3
    bufs[0], bufs[2] = bufs[2], bufs[0]
    return s2


def run_em(model, params, *, max_iter, tol, accelerate=False, verbose=0,
           max_escapes=MAX_ESCAPES):
    """Run EM from ``params`` until the mean objective settles.

    One iteration is one pass over the data in the common case
    (:func:`_em_update`).  Both M-step updates raise their part of the expected
    complete-data objective, so the (penalised) log-likelihood never decreases (a
    generalised EM).  With ``accelerate=True`` one iteration is a SQUAREM cycle
    (:func:`_squarem_cycle`, three or four passes), which never decreases it either.

    Convergence: the change of ``objective / sum(w)`` between two iterations is at
    most ``tol``.  The loop ends on an E-step, so the returned log-likelihood and
    responsibilities belong to the returned parameters.  A decrease beyond
    rounding raises a :class:`LikelihoodDecreaseWarning`.  ``verbose >= 2`` prints
    the log-likelihood of each iteration in the units of the data
    (``model.loglik_offset`` added).

    Parameters
    ----------
    model : SoftmaxGaussianMoE
    params : MoEParams
        Start; projected on the model's bounds.
    max_iter : int
    tol : float
    accelerate : bool, default=False
    verbose : int, default=0

    Returns
    -------
    EMResult
    """
    n = model.n_samples
    k = params.n_experts
    total = model.total
    offset = getattr(model, "loglik_offset", 0.0)
    bufs = [np.empty((n, k)), np.empty((n, k)), np.empty((n, k))]
    state = _e_state(model, model.project(params), np.full((n, k), 1.0 / k), bufs[0])
    trace = [state.objective]
    converged = False
    n_iter = 0
    escapes = 0
    for n_iter in range(1, max_iter + 1):
        previous = state.objective
        if accelerate:
            state = _squarem_cycle(model, state, bufs)
        else:
            state = _em_update(model, state, bufs[0], bufs[1])
            bufs[0], bufs[1] = bufs[1], bufs[0]
        trace.append(state.objective)
        change = (state.objective - previous) / total
        if verbose >= 2:
            print(f"  EM iteration {n_iter:5d}  log-likelihood "
                  f"{state.stats.loglik + offset:.6f}")
        if change < -DECREASE_TOLERANCE * max(1.0, abs(state.objective) / total):
            warnings.warn(
                f"EM decreased the mean log-likelihood by {-change:.3g} at iteration "
                f"{n_iter}; this should not happen and suggests ill-conditioned data.",
                LikelihoodDecreaseWarning,
                stacklevel=3,
            )
        if abs(change) <= tol:
            if model.top_k is not None and escapes < max_escapes and n_iter < max_iter:
                # Top-K gate: move the boundaries of the top-K sets, which EM
                # cannot (see _top_k_compass), then go on with EM.
                escapes += 1
                moved = _top_k_compass(model, state, bufs[1], bufs[2],
                                       tol * total)
                if moved is not None:
                    state = moved
                    bufs[0], bufs[2] = bufs[2], bufs[0]
                    trace[-1] = state.objective
                    continue
            converged = True
            break
    return EMResult(state.params, bufs[0], state.stats.loglik, state.objective, trace,
                    n_iter, converged)
