"""Second-order finish: damped Newton on the full (penalised) log-likelihood.

All free parameters at once (gate in reference form, expert rows, log-variances;
:meth:`gmoe.engine._model.MoEParams.to_vector`), with the exact gradient and Hessian of
the observed log-likelihood from one compiled pass over the data
(:meth:`gmoe.engine._model.SoftmaxGaussianMoE.derivatives`).

Each iteration solves ``(-H + lambda D) step = g`` over the parameters that are
not held at a bound (``D`` the absolute diagonal of ``-H``: Levenberg-Marquardt's
scaling), clips the step to the bounds, and keeps it only if the objective rises;
``lambda`` shrinks after a step the quadratic model predicted well and grows after
a poor or rejected one, so that the method is Newton's near a regular maximum and
a scaled gradient ascent where the Hessian is indefinite or nearly singular (the
flat ridges of over-fitted models).  The run stops on the gradient: when the
largest entry of the projected gradient of the objective divided by the total
sample weight is at most ``gtol``.
"""

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize

from gmoe.engine._model import MoEParams, _held_at_bound
from gmoe.engine._pieces import (
    cross_up,
    crossed,
    kkt_residual,
    margin_rows,
    multipliers,
    settle_ties,
)

#: Damping at the first iteration, relative to the scaling ``D``.
LAMBDA_START = 1e-3
#: Below this, the damping is set to zero (a pure Newton step).
LAMBDA_MIN = 1e-12
#: Rejected steps in a row after which the run gives up.
MAX_REJECTIONS = 40
#: Moves across a boundary that raise a sparse gate's likelihood, at most, per
#: run: as many as Newton steps (``max_iter``), and this many at least.  Each
#: move gains more than the tie tolerance, so the run ends; a cap that does not
#: grow with the data would leave large samples at "boundary" with gains left
#: (at n = 2e4, a top-P(0.9) fit of four experts needs more than 20 moves).
MIN_ESCAPES = 20
#: A sparse gate's run stops as ``"crawling"`` when its last ``CRAWL_WINDOW``
#: accepted steps gained less, on average, than the EM tolerance each (see
#: :func:`run_newton`'s ``crawl_tol``).
CRAWL_WINDOW = 50
#: A run that stalls (no step gains more than rounding error) still ends at a
#: maximum when the Hessian is negative definite and a full Newton step would
#: gain at most this fraction of ``max(1, |objective|)``: the gradient is then as
#: small as floating point can make it at this point (status ``"precision"``).
PRECISION_GAIN = 1e-12


@dataclass
class NewtonResult:
    """The outcome of a Newton run (standardised units).

    ``trace`` holds the objective after each accepted step; ``grad_norm`` is the
    largest entry of the projected gradient of the
    objective, divided by the total sample weight; ``status`` is
    ``"gradient"`` (the criterion was met), ``"precision"`` (no step can raise
    the objective by more than rounding error, and a full Newton step, the
    Hessian being negative definite, would gain at most :data:`PRECISION_GAIN`
    of it: a maximum to working precision), ``"max_iter"`` or ``"stalled"``
    (no step raised the objective by more than rounding error, elsewhere).
    ``converged`` is true for ``"gradient"`` and ``"precision"``.
    """

    params: MoEParams
    objective: float
    trace: list
    n_iter: int
    grad_norm: float
    converged: bool
    status: str


def _gradient_norm(model, grad, held, k):
    """Largest entry of the projected gradient per unit of weight, the gate's
    reference coordinates included.

    ``grad`` is over the free parameters.  The gradient of the reference
    expert's gauge coordinates in the over-parametrised gate is minus the sum of
    the other experts' (the likelihood does not change under a common
    translation of them; :meth:`reference_gradient` of the model); counting it
    makes the norm the same whichever expert is the reference, so that
    relabelling a fit does not change it.  Entries ``held`` at a bound count as
    zero.
    """
    g = np.where(held, 0.0, grad)
    norm = max(np.max(np.abs(g), initial=0.0),
               np.max(np.abs(model.reference_gradient(g, k)), initial=0.0))
    return float(norm / model.total)


def projected_gradient_norm(model, params):
    """Largest entry of the projected gradient of the objective per unit of weight.

    Entries held at a bound with the gradient pointing outwards count as zero;
    the gate's reference row counts too (its gradient is minus the sum of the
    other gate rows'), so that the norm does not depend on which expert is the
    reference.

    Examples
    --------
    >>> import numpy as np
    >>> from gmoe.engine._model import MoEParams, SoftmaxGaussianMoE
    >>> Xt = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
    >>> model = SoftmaxGaussianMoE(Xt, np.array([0.0, 1.0, 2.0, 3.0]), np.ones(4),
    ...                            var_lower=1e-6)
    >>> exact = MoEParams(np.zeros((1, 2)), np.array([[0.0, 1.0]]), np.array([1e-6]))
    >>> float(projected_gradient_norm(model, exact))
    0.0
    """
    k = params.n_experts
    _, grad, _ = model.derivatives(params)
    lo, hi = model.vector_bounds(k)
    held = _held_at_bound(model.to_vector(params), grad, lo, hi)
    return _gradient_norm(model, grad, held, k)


def bfgs_gain(model, params, max_iter=5000):
    """Nats of objective a BFGS run from ``params`` still gains: a check of a fit
    by an optimiser that shares nothing with Newton's steps but the derivatives.

    scipy's BFGS on the mean objective (unbounded), ``gtol=1e-12``.  Near zero at a
    local maximum; large where a solver stopped short of one.

    Examples
    --------
    >>> import numpy as np
    >>> from gmoe.engine._model import MoEParams, SoftmaxGaussianMoE
    >>> Xt = np.column_stack([np.ones(50), np.linspace(-1, 1, 50)])
    >>> y = np.linspace(-1, 1, 50) + np.tile([-0.1, 0.1], 25)
    >>> model = SoftmaxGaussianMoE(Xt, y, np.ones(50), var_lower=1e-6)
    >>> start = MoEParams(np.zeros((1, 2)), np.array([[0.0, 0.5]]), np.array([1.0]))
    >>> bool(bfgs_gain(model, start) > 1.0)
    True
    >>> mle = run_newton(model, start).params
    >>> bool(bfgs_gain(model, mle) < 1e-8)
    True
    """
    k = params.n_experts

    def negative(theta):
        value, grad, _ = model.derivatives(model.from_vector(theta, k))
        return -value / model.total, -grad / model.total

    start = model.to_vector(params)
    result = scipy.optimize.minimize(negative, start, jac=True, method="BFGS",
                                     options={"gtol": 1e-12, "maxiter": max_iter})
    return (negative(start)[0] - result.fun) * model.total


def _null_space(rows):
    """An orthonormal basis (m, m - rank) of the null space of ``rows`` (r, m),
    from the eigenvectors of ``rows' rows`` (m x m, whatever r is)."""
    gram = rows.T @ rows
    values, vectors = np.linalg.eigh(gram)
    tol = max(values[-1], 0.0) * len(values) * np.finfo(float).eps
    return vectors[:, values <= tol]


def _damped_step(A, g, lam, scale, hold=None):
    """Solve ``(A + lam diag(scale)) s = g``; with ``hold = (rows, target)``
    ((r, m), (r,)), maximise ``g' s - s' (A + lam diag(scale)) s / 2`` subject
    to ``rows @ s = target`` instead.  None if the matrix is not positive
    definite (on the null space of ``rows``)."""
    M = A + lam * np.diag(scale)
    if hold is None:
        basis, base = None, np.zeros(len(g))
    else:
        rows, target = hold
        base = np.linalg.lstsq(rows, target, rcond=None)[0]
        basis = _null_space(rows)
        if basis.shape[1] == 0:
            return base
        M, g = basis.T @ M @ basis, basis.T @ (g - M @ base)
    try:
        factor = scipy.linalg.cho_factor(M, check_finite=False)
    except (np.linalg.LinAlgError, ValueError):
        return None
    step = scipy.linalg.cho_solve(factor, g, check_finite=False)
    if basis is not None:
        step = base + basis @ step
    return step if np.all(np.isfinite(step)) else None


def _bounded_step(A, g, theta, lo, hi, held, lam, hold=None):
    """A damped Newton step that respects the bounds (an active-set move).

    Solves ``(A + lam D) s = g`` over the parameters not ``held`` at a bound
    (``A`` minus the Hessian, ``D`` its absolute diagonal).  Parameters whose step
    would cross a bound are moved onto it and held there, and the others are
    solved for again with that displacement taken into account (a few rounds),
    so that a parameter near its bound does not cut every step short.  Returns
    the step (m,), zero for held parameters, or None when the damped matrix is
    not positive definite.  ``hold = (rows, target)``: the step's changes of
    held margins (a sparse gate's held samples, :mod:`gmoe.engine._pieces`), to first
    order.
    """
    diag = np.abs(np.diag(A))
    scale = np.maximum(diag, 1e-12 * max(diag.max(initial=0.0), 1e-300))
    fixed = held.copy()
    delta = np.zeros_like(theta)
    for _ in range(len(theta) + 1):
        free = ~fixed
        rhs = g[free] - A[np.ix_(free, fixed)] @ delta[fixed]
        step = _damped_step(A[np.ix_(free, free)], rhs, lam, scale[free],
                            None if hold is None else (hold[0][:, free], hold[1]))
        if step is None:
            return None
        delta[free] = step
        crossing = free & ((theta + delta < lo) | (theta + delta > hi))
        if not crossing.any():
            return delta
        target = np.clip(theta + delta, lo, hi)
        delta[crossing] = target[crossing] - theta[crossing]
        fixed |= crossing
    return delta


def run_newton(model, params, *, max_iter=100, gtol=1e-7, verbose=0, bounds=None,
               kinks=True, crawl_tol=None):
    """Maximise the model's objective by damped, projected Newton from ``params``.

    Parameters
    ----------
    model : SoftmaxGaussianMoE
    params : MoEParams
        Start (projected on the bounds first).
    max_iter : int, default=100
        Accepted steps at most.
    gtol : float, default=1e-7
        Stop when the largest entry of the projected gradient divided by the total
        sample weight is at most ``gtol``.
    verbose : int, default=0
        2 prints a line per iteration (log-likelihood in the units of the data).
    bounds : (ndarray, ndarray) or None, default=None
        Bounds of the free parameters (default: the model's).
    kinks : bool, default=True
        Whether a run that stalls or reaches ``max_iter`` tries
        :func:`kink_certificate`.
    crawl_tol : float or None, default=None
        A sparse gate only (``model.piecewise``): stop with status
        ``"crawling"`` when the last :data:`CRAWL_WINDOW` accepted steps gained
        at most ``crawl_tol`` per unit of sample weight each, on average (EM's
        ``tol``).  Each step on a piecewise objective may stop at the next
        selection boundary, one sample further, so a run toward a distant
        point can take a number of steps that grows with n, each gaining
        almost nothing; such a run is not converged.  Smooth models never
        crawl this way, and ignore it.

    Returns
    -------
    NewtonResult
    """
    k = params.n_experts
    offset = getattr(model, "loglik_offset", 0.0)
    lo, hi = model.vector_bounds(k) if bounds is None else bounds
    piecewise = getattr(model, "piecewise", False)
    start = model.project(params)
    if piecewise:  # no selection decided by rounding
        start = settle_ties(model, start, HOLD_MARGIN)
    theta = np.clip(model.to_vector(start), lo, hi)
    value, grad, hess = model.derivatives(model.from_vector(theta, k))
    pinned = _none_held(k)  # a sparse gate's held samples, and where they go
    recent = pinned[0]  # held since the last accepted step
    hold = None
    upward = False  # whether holds only keep margins from falling
    escapes = 0
    lam = LAMBDA_START
    status = "max_iter"
    n_iter = 0
    rejections = 0
    grad_norm = np.inf
    trace = []
    while True:
        held = _held_at_bound(theta, grad, lo, hi)
        current = model.from_vector(theta, k)
        hold = _hold(model, current, pinned, upward)
        grad_norm = _gradient_norm(
            model, kkt_residual(np.where(held, 0.0, grad),
                                None if hold is None else hold[0])[0], held, k)
        if grad_norm <= gtol and hold is None:
            status = "gradient"
            break
        if grad_norm <= gtol and _on_boundary(model, current, pinned, grad, held):
            # a maximum on a boundary only if crossing lowers the likelihood
            crossing, moved = cross_up(model, current, pinned, value)
            if moved is not None and escapes < max(MIN_ESCAPES, max_iter):
                escapes += 1
                theta = moved
                value, grad, hess = model.derivatives(model.from_vector(theta, k))
                pinned = _none_held(k)
                continue
            status = "boundary" if crossing else "gradient"
            break
        if grad_norm <= gtol:
            status = "held"  # held off its boundary: the next step takes it there
        if n_iter >= max_iter:
            break
        delta = _bounded_step(-hess, grad, theta, lo, hi, held, lam, hold)
        if hold is not None and delta is not None:
            # release the held samples the step's quadratic model pulls inside
            # (not those held since the last accepted step: no cycling)
            keep = (multipliers(grad, hold[0], -hess, delta) >= 0) | np.isin(
                pinned[0], recent)
            if not keep.all():
                pinned = (pinned[0][keep], pinned[1][keep])
                hold = _hold(model, current, pinned, upward)
                delta = _bounded_step(-hess, grad, theta, lo, hi, held, lam, hold)
        accepted = False
        if delta is not None:
            candidate = np.clip(theta + delta, lo, hi)
            delta = candidate - theta
            predicted = float(grad @ delta - 0.5 * delta @ (-hess) @ delta)
            trial = model.from_vector(candidate, k)
            pending = None
            if piecewise and not model.objective(trial) > value:
                # across boundaries: go as far as the first one (HOLD_MARGIN
                # short of it), and hold that sample there if that step is
                # taken; a step too short to take means the sample sits at its
                # boundary already: hold it at once
                samples, fraction, other = crossed(model, current, trial,
                                                   short_of=HOLD_MARGIN)
                fresh = ~_is_held(pinned, samples, other) & (fraction < 1)
                if fresh.any():
                    first = fraction[fresh][0]
                    add = fresh & (fraction <= first * (1 + 1e-6))
                    pending = (samples[add], other[add])
                    if first * np.max(np.abs(delta)) <= 1e-9 * max(
                            1.0, np.max(np.abs(theta))):
                        pinned, recent = _add_held(pinned, recent, pending)
                        rejections += 1
                        if rejections <= MAX_REJECTIONS:
                            continue
                    candidate = theta + first * delta
                    delta = candidate - theta
                    predicted = float(grad @ delta - 0.5 * delta @ (-hess) @ delta)
                    trial = model.from_vector(candidate, k)
            new_value, new_grad, new_hess = model.derivatives(trial)
            actual = new_value - value
            accepted = bool(np.isfinite(new_value) and actual > 0)
            if not accepted and predicted <= 1e-15 * max(1.0, abs(value)):
                if hold is not None and not upward:
                    # the held margins' targets forced the loss: from now on
                    # they only keep margins from falling below HOLD_MARGIN
                    upward = True
                    continue
                status = "stalled"  # no step can gain more than rounding error
                break
        if not accepted:
            # no positive definite damped system, or no gain: damp more
            lam = max(4.0 * lam, LAMBDA_START)
            rejections += 1
            if rejections > MAX_REJECTIONS:
                status = "stalled"
                break
            continue
        rejections = 0
        recent = pinned[0][:0]
        if pending is not None:  # the step went up to these samples' boundaries
            pinned, recent = _add_held(pinned, recent, pending)
        n_iter += 1
        rho = actual / predicted if predicted > 0 else 0.0
        if rho > 0.75:
            lam = 0.25 * lam if lam > LAMBDA_MIN else 0.0
        elif rho < 0.25:
            lam = max(2.0 * lam, LAMBDA_START)
        theta, value, grad, hess = candidate, new_value, new_grad, new_hess
        trace.append(value)
        if (piecewise and crawl_tol is not None and len(trace) > CRAWL_WINDOW
                and trace[-1] - trace[-1 - CRAWL_WINDOW]
                <= CRAWL_WINDOW * crawl_tol * model.total):
            status = "crawling"
            break
        if verbose >= 2:
            ll = value + model.penalty(model.from_vector(theta, k).gate)
            print(f"  Newton iteration {n_iter:3d}  log-likelihood {ll + offset:.6f}"
                  f"  gradient {grad_norm:.2e}  damping {lam:.1e}")
    if status in ("stalled", "max_iter") and hold is None and kinks:
        kink = kink_certificate(model, theta, value, gtol, k)
        if kink is not None:
            theta, value, grad_norm = kink
            status = "kink"
    if status == "stalled" and hold is None and _newton_gain(
            hess, grad, theta, lo, hi) <= PRECISION_GAIN * max(1.0, abs(value)):
        status = "precision"
    return NewtonResult(model.from_vector(theta, k), value, trace, n_iter,
                        grad_norm, status in ("gradient", "precision", "kink"),
                        status)


def kink_certificate(model, theta, value, gtol, k):
    """Certify a fit that stalls where the scores have kinks
    (:meth:`gmoe.gates.Gate.kinks`: the Laplace gate on one covariate).

    Each such block coordinate is moved to the nearest kink, a sample, and held
    there while Newton maximises over the other parameters (a smooth problem).
    At that point the log-likelihood has one-sided derivatives ``g - U``
    (right) and ``g + U`` (left) in each kink coordinate, with ``g`` the
    derivative without the samples at the kink and ``U = sum w_m (tau_mi -
    pi_mi)`` over them; it is stationary in that coordinate when the interval
    ``[g - U, g + U]`` holds 0.  With a load-balancing penalty (the model's
    ``balance``) each sample at the kink adds ``-w_m balance pi_mi e_mi`` to
    ``U`` (:meth:`gmoe.engine._gated_model.GatedGaussianMoE.balance_slopes`).
    Where it is not, the coordinate moves to the next kink along its ascent
    (at most :data:`MAX_KINK_MOVES` times).  When a move would go back to kinks
    already tried, or lowers the objective, the maximiser lies between kinks:
    :func:`_between_kinks` looks for it there.  Returns
    ``(theta, value, residual)`` at that point when its objective is not below
    ``value`` (up to rounding) and the
    residual (the gradient, each kink coordinate's entry replaced by the
    distance of 0 from its interval, per unit of weight) is at most ``gtol``;
    None otherwise.
    """
    from gmoe.engine._model import MoEParams

    gate = getattr(model, "gate", None)
    kinks = None if gate is None else gate.kinks(model.Z)
    if not kinks:
        return None
    places = {a: np.unique(positions) for a, positions in kinks.items()}
    params = model.from_vector(theta, k)
    blocks = params.gate.copy()
    for a, where in places.items():
        for i in range(k):
            j = int(np.clip(np.searchsorted(where, blocks[i, a]), 1,
                            len(where) - 1))
            near = where[j - 1:j + 1]
            blocks[i, a] = near[np.argmin(np.abs(near - blocks[i, a]))]
    expert, kind, coordinate = model.free_layout(k)
    on_kink = (kind == "gate") & np.isin(coordinate, list(kinks))
    no_bound = np.zeros(len(theta), dtype=bool)
    current = MoEParams(model.project_gate(blocks), params.coef, params.var)
    best = value
    visited = set()
    # the stalled point (its gradient computed only if needed), and the best
    # point of the kink walk so far
    first = last = (params, None)
    for _ in range(MAX_KINK_MOVES):
        visited.add(current.gate[:, list(kinks)].tobytes())
        lo, hi = model.vector_bounds(k)
        fixed = model.to_vector(current)
        lo, hi = np.where(on_kink, fixed, lo), np.where(on_kink, fixed, hi)
        current = run_newton(model, current, gtol=gtol, bounds=(lo, hi),
                             kinks=False).params
        new_value, grad, _ = model.derivatives(current)
        if not new_value >= best - 1e-12 * max(1.0, abs(best)):
            # the move to these kinks went down: the maximiser lies before them
            return _between_kinks(model, [last, first], value, gtol, kinks, places,
                                  on_kink)
        best, last = new_value, (current, grad)
        residual = _kink_residual(model, current, grad, kinks, on_kink)
        norm = _gradient_norm(model, residual, no_bound, k)
        if norm <= gtol:
            return model.to_vector(current), new_value, norm
        blocks = current.gate.copy()
        for index in np.flatnonzero((np.abs(residual) > gtol * model.total) & on_kink):
            # the next kink along the ascent of this coordinate
            i, a = int(expert[index]), int(coordinate[index])
            where = places[a]
            j = int(np.searchsorted(where, blocks[i, a])) + (
                1 if grad[index] > 0 else -1)
            if 0 <= j < len(where):
                blocks[i, a] = where[j]
        if blocks[:, list(kinks)].tobytes() in visited:
            # back to kinks already tried: the maximiser lies between two kinks
            return _between_kinks(model, [last, first], value, gtol, kinks, places,
                                  on_kink)
        current = MoEParams(model.project_gate(blocks), current.coef, current.var)
    return None


def _kink_residual(model, params, grad, kinks, on_kink):
    """The gradient with each kink coordinate (``on_kink``) that sits on a kink
    replaced by the distance of 0 from its one-sided derivatives' interval
    ``[g - U, g + U]`` (see :func:`kink_certificate`); a kink coordinate between
    kinks keeps its derivative."""
    k = params.n_experts
    expert, _, coordinate = model.free_layout(k)
    residual = grad.copy()
    for index in np.flatnonzero(on_kink):
        i, a = int(expert[index]), int(coordinate[index])
        rows = np.flatnonzero(kinks[a] == params.gate[i, a])
        if rows.size == 0:
            continue
        sub = model.subset(rows)
        tau = np.empty((rows.size, k))
        sub.e_step(params, tau, tau)
        pi = np.exp(model.gate.log_weights(sub.Z, params.gate))
        share = tau[:, i] - pi[:, i]
        if getattr(model, "balance", 0.0):
            share = share - model.balance_slopes(params.gate, rows)[:, i]
        jump = max(float(sub.w @ share), 0.0)
        residual[index] = np.sign(grad[index]) * max(abs(grad[index]) - jump, 0.0)
    return residual


def _between_kinks(model, points, value, gtol, kinks, places, on_kink):
    """Certify a fit whose maximiser lies between kinks, tried from each of
    ``points`` (``(params, gradient)`` pairs, the gradient None when not yet
    computed) in turn: see :func:`_piece_maximum`.  ``places``: the sorted
    distinct kinks of each kink coordinate."""
    for params, grad in points:
        if grad is None:
            grad = model.derivatives(params)[1]
        found = _piece_maximum(model, params, grad, value, gtol, kinks, places,
                               on_kink)
        if found is not None:
            return found
    return None


def _piece_maximum(model, params, grad, value, gtol, kinks, places, on_kink):
    """Newton from ``params`` (gradient ``grad``) with the gate's exact curvature
    (:meth:`gmoe.gates.Gate.exact_curvature`; the smoothed kink curvature that
    guides the finish across the samples is not the Hessian of a smooth piece),
    each kink coordinate held in an interval between two neighbouring kinks:
    the two around it, or, on a kink, from there to the next kink along its
    ascent.  The log-likelihood is smooth inside these intervals, so the run
    ends at a stationary point of the piece or with some coordinates on the
    kinks that bound it, where :func:`_kink_residual` checks the one-sided
    derivatives.  Returns ``(theta, value, residual norm)`` when that norm is at
    most ``gtol`` and the objective is not below ``value``; None otherwise."""
    from gmoe.engine._model import MoEParams

    k = params.n_experts
    expert, _, coordinate = model.free_layout(k)
    exact = model.with_gate(model.gate.exact_curvature())
    lo, hi = (bound.copy() for bound in exact.vector_bounds(k))
    for index in np.flatnonzero(on_kink):
        i, a = int(expert[index]), int(coordinate[index])
        where = places[a]
        at = params.gate[i, a]
        j = int(np.searchsorted(where, at, side="right"))  # where[j-1] <= at
        if j > 0 and where[j - 1] == at and grad[index] < 0:
            j -= 1  # on a kink, ascending to the left: the interval below it
        lo[index] = where[j - 1] if j > 0 else lo[index]
        hi[index] = where[j] if j < len(where) else hi[index]
    run = run_newton(exact, params, gtol=gtol, bounds=(lo, hi), kinks=False)
    blocks = run.params.gate.copy()
    for index in np.flatnonzero(on_kink):
        # a coordinate held at a kink sits on it up to the rounding of the
        # parameter vector: put it there exactly
        i, a = int(expert[index]), int(coordinate[index])
        for edge in (lo[index], hi[index]):
            if abs(blocks[i, a] - edge) <= 1e-9 * max(1.0, abs(edge)):
                blocks[i, a] = edge
    end = MoEParams(blocks, run.params.coef, run.params.var)
    new_value, grad, _ = model.derivatives(end)
    residual = _kink_residual(model, end, grad, kinks, on_kink)
    norm = _gradient_norm(model, residual, np.zeros(len(residual), dtype=bool), k)
    if norm > gtol or not new_value >= value - 1e-12 * max(1.0, abs(value)):
        return None
    return model.to_vector(end), new_value, norm


#: Moves from kink to kink that :func:`kink_certificate` tries at most.
MAX_KINK_MOVES = 20


#: Margin at which Newton holds a sample, in the units of the gate's
#: :meth:`gmoe.gates.Gate.boundary` (standardised scores, or weights): small
#: enough for the fit to lie on the boundary to any statistical purpose, far
#: enough above round-off that no tie decides the sample's selection.
HOLD_MARGIN = 1e-8
#: A held sample counts as on its boundary when its margin is at most this.
ON_BOUNDARY = 1e-6


def _none_held(k):
    """No sample held: (samples, the selections across their boundaries)."""
    return np.zeros(0, dtype=np.intp), np.zeros((0, k), dtype=bool)


def _is_held(pinned, samples, other):
    """Whether each boundary ``(samples[i], other[i])`` is held already (a
    sample may be held at several boundaries: ties of several experts)."""
    def keys(index, masks):
        bits = masks.astype(np.int64) @ (2 ** np.arange(masks.shape[1]))
        return index.astype(np.int64) * 2 ** masks.shape[1] + bits

    return np.isin(keys(samples, other), keys(*pinned))


def _add_held(pinned, recent, new):
    """``pinned`` and ``recent`` with the samples ``new = (samples, other)``."""
    return ((np.concatenate([pinned[0], new[0]]),
             np.concatenate([pinned[1], new[1]])),
            np.concatenate([recent, new[0]]))


def _hold(model, params, pinned, upward=False):
    """``(rows, target)`` of the held samples: their margins' gradients and the
    change that brings each margin to :data:`HOLD_MARGIN` (with ``upward``,
    only up to it: no change for a margin above); None when none is held.  A
    sample is held near that margin, so the change is small."""
    if pinned[0].size == 0:
        return None
    margin, rows, _ = margin_rows(model, params, *pinned)
    target = HOLD_MARGIN - margin
    return rows, np.maximum(target, 0.0) if upward else target


def _on_boundary(model, params, pinned, grad, held):
    """Whether every held sample that carries a positive multiplier in the
    piece's stationarity (:func:`gmoe.engine._pieces.kkt_residual`) sits on its
    boundary (margin at most :data:`ON_BOUNDARY`)."""
    margin, rows, _ = margin_rows(model, params, *pinned)
    _, lam = kkt_residual(np.where(held, 0.0, grad), rows)
    return bool(np.all((lam <= 0) | (margin <= ON_BOUNDARY)))


def _newton_gain(hess, grad, theta, lo, hi):
    """The gain ``g' (-H)^-1 g / 2`` a full Newton step predicts over the
    parameters not held at a bound (the Newton decrement, invariant to the
    parametrisation); infinity unless ``-H`` is positive definite there."""
    free = ~_held_at_bound(theta, grad, lo, hi)
    g = grad[free]
    step = _damped_step(-hess[np.ix_(free, free)], g, 0.0, np.ones(g.size))
    return np.inf if step is None else 0.5 * float(g @ step)
