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
    k, p = params.coef.shape
    Z = model.Z[samples]
    blocks = model.project_gate(params.gate)
    S, D1, _ = model.gate.score_derivatives(Z, blocks, order=1)
    margin, dmargin, other = model.gate.boundary(S, towards)
    q = model.m + p + 1
    full = np.zeros((len(samples), k, q))
    full[:, :, :model.m] = dmargin[:, :, None] * D1
    rows = model.free_rows(full.reshape(len(samples), k * q), k)
    return margin, rows, other


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


def flip_gains(model, params, samples, other):
    """Change of each sample's weighted log-likelihood when its selection is
    replaced by ``other`` (r, k) at the same parameters: the jump across its
    boundary."""
    blocks = model.project_gate(params.gate)
    S = model.gate.scores(model.Z[samples], blocks)
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
