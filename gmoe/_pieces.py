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

So a fit of a sparse gate is certified (:func:`gmoe._newton.run_newton`) when
the gradient of its piece's likelihood, less a non-negative combination of the
gradients of the margins it is held at (the Karush-Kuhn-Tucker conditions of
the piece, with the margins as constraints ``c >= 0``), is below ``gtol``, and
moving any held sample across its boundary lowers its log-likelihood.

Newton holds a sample's margin (its step keeps the margin's linearisation
constant) when a step across its boundary was rejected while the sample sat
within :data:`AT_BOUNDARY` of it; it releases the margin when the gradient pulls
the sample back inside (a negative multiplier).
"""

import numpy as np
import scipy.optimize

#: A sample whose margin is below this fraction of the step's change of it is
#: at its boundary: the step crosses it almost at once.
AT_BOUNDARY = 1e-3


def margin_rows(model, params, samples):
    """The margins of ``samples`` at ``params`` and their gradients over the
    free parameters.

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
    margin, dmargin, other = model.gate.boundary(S)
    q = model.m + p + 1
    full = np.zeros((len(samples), k, q))
    full[:, :, :model.m] = dmargin[:, :, None] * D1
    rows = full.reshape(len(samples), -1)[:, model._free_order(k, p)]
    return margin, rows, other


def crossed(model, params, candidate):
    """Samples whose selection differs between ``params`` and ``candidate``
    and that sit at their boundary at ``params`` (:data:`AT_BOUNDARY`)."""
    Z = model.Z
    now = model.gate.active(model.gate.scores(Z, model.project_gate(params.gate)))
    new_scores = model.gate.scores(Z, model.project_gate(candidate.gate))
    changed = np.flatnonzero(np.any(now != model.gate.active(new_scores), axis=1))
    if changed.size == 0:
        return changed
    margin, rows, _ = margin_rows(model, params, changed)
    # the margin's change along the step, to first order: crossing happens
    # after a fraction margin / |change| of it
    change = rows @ (model.to_vector(candidate) - model.to_vector(params))
    near = margin <= AT_BOUNDARY * np.abs(change)
    return changed[near]


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


def multipliers(grad, rows):
    """Least-squares multipliers of the held margins, signs free: a negative
    one marks a margin the gradient pulls back inside (to release)."""
    return np.linalg.lstsq(rows.T, -grad, rcond=None)[0]
