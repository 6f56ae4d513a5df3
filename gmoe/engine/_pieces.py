"""The pieces of a sparse gate's likelihood: what Newton holds, and what the
certificate checks.

A sparse gate (top-K, top-P) selects, sample by sample, the experts its weight
is spread over; the selection changes where a sample crosses a boundary of the
gate's scores (:meth:`gmoe.gates.Gate.boundary`: a tie of the K-th and
(K+1)-th scores for top-K).  On each piece of parameter space where no
selection changes, the log-likelihood is smooth; across a boundary it jumps.
Its maxima are of two kinds:

- inside a piece: a stationary point of that piece's likelihood;
- on a boundary: some samples sit at a tie, the piece's likelihood would rise
  by crossing (so its gradient points across), and crossing would lower the
  likelihood (the jump there is down).

So a fit of a sparse gate is certified (:func:`gmoe.engine._newton.run_newton`) when
the gradient of its piece's likelihood, less a non-negative combination of the
gradients of the margins it is held at (the Karush-Kuhn-Tucker conditions of
the piece, with the margins as constraints ``c >= 0``), is below ``gtol``, and
moving any held sample across its boundary lowers its log-likelihood.

When a step crosses boundaries and loses, Newton goes as far as the first of
them, stopping :data:`gmoe.engine._newton.HOLD_MARGIN` short of it, and holds that
sample there: its next steps keep the margin's linearisation at that value, so
that the selection at the fit is decided by a margin far above round-off, never
by a tie.  It releases the sample when the step's quadratic model pulls it
back inside (a negative multiplier, :func:`multipliers`).
"""

import numpy as np
import scipy.optimize

from gmoe.model._order import OBJECTIVE_RTOL


def margin_rows(model, params, samples, towards=None):
    """The margins of ``samples`` at ``params`` and their gradients over the
    free parameters: of their nearest boundaries, or of those on the way to
    the selections ``towards`` (r, k) bool (see :meth:`gmoe.gates.Gate.boundary`).

    Returns
    -------
    margin : ndarray of shape (r,)
    rows : ndarray of shape (r, n_free)
    other : ndarray of shape (r, k), dtype=bool
        The selection across each boundary.
    """
    blocks = model.project_gate(params.gate)
    S, D1, _ = model.gate.score_derivatives(model.Z[samples], blocks, order=1)
    margin, dmargin, other = model.gate.boundary(S, towards)
    return margin, _margin_gradients(model, params, dmargin, D1), other


def _margin_gradients(model, params, dmargin, D1):
    """Gradients (r, n_free) of margins over the free parameters, from their
    derivatives over the scores ``dmargin`` (r, k) and the scores' over the
    gate blocks ``D1`` (r, k, m)."""
    k, p = params.coef.shape
    q = model.m + p + 1
    full = np.zeros((len(dmargin), k, q))
    full[:, :, :model.m] = dmargin[:, :, None] * D1
    return model.free_rows(full.reshape(len(dmargin), k * q), k)


def crossed(model, params, candidate, short_of=0.0):
    """Samples whose selection differs between ``params`` and ``candidate``,
    the fraction of the step at which each comes within ``short_of`` of the
    first boundary on its way (to first order: ``(margin - short_of)`` over the
    step's change of the margin, at least 0; 1 where the margin does not fall
    along the step), and the selection across that boundary; smallest fraction
    first."""
    Z = model.Z
    now = model.gate.active(model.gate.scores(Z, model.project_gate(params.gate)))
    new = model.gate.active(model.gate.scores(Z, model.project_gate(candidate.gate)))
    changed = np.flatnonzero(np.any(now != new, axis=1))
    margin, rows, other = margin_rows(model, params, changed, new[changed])
    change = rows @ (model.to_vector(candidate) - model.to_vector(params))
    fraction = np.ones(changed.size)
    falling = change < 0
    fraction[falling] = np.clip((margin[falling] - short_of) / -change[falling],
                                0.0, 1.0)
    order = np.argsort(fraction, kind="stable")
    return changed[order], fraction[order], other[order]


def flip_gains(model, params, samples, other, now=None):
    """Change of each sample's weighted log-likelihood when its selection
    (``now`` (r, k), by default the gate's at ``params``) is replaced by
    ``other`` (r, k) at the same parameters: the jump across its boundary."""
    blocks = model.project_gate(params.gate)
    S = model.gate.scores(model.Z[samples], blocks)
    if now is None:
        now = model.gate.active(S)
    resid = model.y[samples, None] - model.Xt[samples] @ params.coef.T
    log_norm = -0.5 * (np.log(2 * np.pi * params.var) + resid**2 / params.var)

    def loglik(mask):
        s = np.where(mask, S, -np.inf)
        log_pi = s - np.logaddexp.reduce(s, axis=1, keepdims=True)
        return np.logaddexp.reduce(log_pi + log_norm, axis=1)

    return model.w[samples] * (loglik(other) - loglik(now))


def kkt_residual(grad, rows):
    """The gradient less its best non-negative combination of the held
    margins' gradients: ``g + J' lambda``, ``lambda >= 0`` minimising its norm
    (the piece's stationarity with the margins ``c >= 0`` as constraints), and
    ``lambda``."""
    if rows is None or len(rows) == 0:
        return grad, np.zeros(0)
    lam, _ = scipy.optimize.nnls(rows.T, -grad)
    return grad + rows.T @ lam, lam


def multipliers(grad, rows, A, delta):
    """Multipliers of the held margins at a step ``delta`` that keeps them (the
    maximiser of ``g' s - s' A s / 2`` with ``rows @ s = 0``):
    ``lambda`` solving ``g - A delta + rows' lambda = 0`` in least squares.  A
    negative one marks a margin the quadratic model pulls back inside: to
    release."""
    return np.linalg.lstsq(rows.T, A @ delta - grad, rcond=None)[0]


#: Two experts of a sparse gate are tied when their scores agree to this
#: (standardised units) at every sample: their weights are then equal to that
#: precision wherever both are selected, and only the sign of the difference
#: of their scores decides which one a sample selects.
TIE_SCORES = 1e-4
#: The factors by which a tied pair's difference of scores is inflated
#: (:func:`inflate_ties`), in turn, until a Newton run from there is certified
#: (:func:`gmoe.engine._solvers.solve_newton`): ten times is often enough, and
#: where it is not (the difference at 1e-8, most margins still below the
#: holding margin) a hundred or a thousand times.
TIE_INFLATIONS = (10.0, 100.0, 1000.0)


def tied_pairs(model, params):
    """Disjoint pairs ``(a, b)`` of experts whose gate scores differ by at most
    :data:`TIE_SCORES` at every sample, the closest pairs first.

    Such a pair selects between its two experts by a hyperplane (the zero set
    of the difference of their scores) whose margins are all tiny: every sample
    is near "its boundary", and moving one sample across moves the hyperplane,
    so the least move of :func:`gmoe.engine._newton.run_newton`'s certificate
    that takes one sample across and keeps the others cannot exist.
    """
    S = model.gate.scores(model.Z, model.project_gate(params.gate))
    k = S.shape[1]
    gaps = [(float(np.max(np.abs(S[:, a] - S[:, b]), initial=0.0)), a, b)
            for a in range(k) for b in range(a + 1, k)]
    pairs, used = [], set()
    for gap, a, b in sorted(gaps):
        if gap <= TIE_SCORES and a not in used and b not in used:
            pairs.append((a, b))
            used.update((a, b))
    return pairs


def inflate_ties(model, params, factor):
    """``params`` with the gate difference of every :func:`tied_pairs` pair
    scaled by ``factor`` about its midpoint (each sample keeps its side
    between the two; their weights change by at most about ``factor *
    TIE_SCORES``), or None when no pair is tied.

    A Newton run from there sees the hyperplane of the pair with margins
    ``factor`` times larger, most of them above the holding margins, and can
    move it sample by sample.

    Examples
    --------
    >>> import numpy as np
    >>> from gmoe.engine._gated_model import GatedGaussianMoE
    >>> from gmoe.engine._model import MoEParams
    >>> from gmoe.gates import TopK
    >>> x = np.linspace(-1, 1, 5)
    >>> model = GatedGaussianMoE(x[:, None], np.column_stack([np.ones(5), x]),
    ...                          x, np.ones(5), TopK(1), var_lower=1e-6)
    >>> gate = np.array([[0.0, 1e-6], [0.0, 0.0]])
    >>> params = MoEParams(gate, np.zeros((2, 2)), np.ones(2))
    >>> inflate_ties(model, params, 10.0).gate[0]
    array([0.e+00, 1.e-05])
    """
    pairs = tied_pairs(model, params)
    if not pairs:
        return None
    gate = model.project_gate(params.gate)
    for a, b in pairs:
        middle, half = (gate[a] + gate[b]) / 2, (gate[a] - gate[b]) / 2
        gate[a], gate[b] = middle + factor * half, middle - factor * half
    return type(params)(model.project_gate(gate), params.coef.copy(),
                        params.var.copy())


#: A sample whose margin is at most this (standardised scores, of order 1 to
#: 10) is at a tie to rounding: its selection depends on how its scores were
#: rounded.
ROUNDING_TIE = 1e-12


def settle_ties(model, params, margin_to):
    """``params`` moved so that no sample's selection is decided by rounding:
    every sample within :data:`ROUNDING_TIE` of its boundary is taken
    ``margin_to`` inside the side where its likelihood is higher (its own side
    when both are equal), all at once by the least move that does so to first
    order; ``params`` itself when no sample is that close.

    EM approaches a maximum on a boundary from inside by ever shorter steps
    and can stop with a sample whose two scores agree to rounding.  Which
    selection it has then depends on how its scores were rounded (numpy's
    products and the compiled passes may differ, and so may two processors),
    and a Newton run that holds it by a margin computed on the other side
    loses at every step and stalls.  The sides are decided here on the scores
    of all samples at once, and the likelihoods of both sides compared.
    """
    blocks = model.project_gate(params.gate)
    S = model.gate.scores(model.Z, blocks)
    margin, dmargin, other = model.gate.boundary(S)
    near = np.flatnonzero(margin <= ROUNDING_TIE)
    if near.size == 0:
        return params
    gains = flip_gains(model, params, near, other[near],
                       now=model.gate.active(S[near]))
    target = np.where(gains > 0, -(margin[near] + margin_to),
                      margin_to - margin[near])
    _, D1, _ = model.gate.score_derivatives(model.Z[near], blocks, order=1)
    rows = _margin_gradients(model, params, dmargin[near], D1)
    move = np.linalg.lstsq(rows, target, rcond=None)[0]
    settled = model.from_vector(model.to_vector(params) + move, params.n_experts)
    # kept only if it loses nothing: where other samples lie as close to
    # their boundaries (two experts tied, :func:`tied_pairs`), the move
    # takes them across too
    before = model.objective(params)
    if model.objective(settled) >= before - OBJECTIVE_RTOL * max(abs(before),
                                                                 model.total):
        return settled
    return params


def cross_up(model, params, pinned, value):
    """Where a held sample's crossing raises the likelihood: the parameters
    just across the boundary of the sample whose jump is largest (the least
    move that crosses it and keeps the other held margins), if the likelihood
    there is higher.  ``pinned``: the held samples and the selections across
    their boundaries (see :func:`margin_rows`).  Returns ``(gains, theta)``:
    ``gains`` whether some crossing raises the likelihood (False: a maximum on
    the boundary), ``theta`` the parameters across, or None when the move does
    not reach a higher value."""
    margin, rows, other = margin_rows(model, params, *pinned)
    gains = flip_gains(model, params, pinned[0], other)
    best = int(np.argmax(gains))
    if not gains[best] > OBJECTIVE_RTOL * max(abs(value), model.total):
        return False, None
    theta = model.to_vector(params)
    k = params.n_experts
    for overshoot in (1e-9, 1e-6, 1e-3):
        # the least move that takes this sample across and keeps the others'
        # margins
        target = np.zeros(len(margin))
        target[best] = -(margin[best] + overshoot * (1.0 + margin[best]))
        move = np.linalg.lstsq(rows, target, rcond=None)[0]
        if model.objective(model.from_vector(theta + move, k)) > value:
            return True, theta + move
    return True, None
