"""The covariance of the fitted parameters of a :class:`gmoe.MoEInference`:
the inverse observed information (Wald) or the sandwich, with the rows whose
numbers would mislead (bounds, degenerate, separated or indistinguishable
experts, a singular information) set to NaN."""

import numpy as np
import scipy.linalg
import scipy.stats

from gmoe.inference._align import fitted_engine
from gmoe.model._scaling import _Scaling

#: The scaled information :math:`D^{-1/2} I D^{-1/2}` (``D`` its diagonal) counts as
#: singular when its smallest eigenvalue is below this fraction of its largest.
RCOND = 1e-10

#: Two experts are "indistinguishable" when the Wald test of equal expert rows and
#: variances does not reject at this level (a p-value above it).
INDISTINGUISHABLE_LEVEL = 0.01

#: An expert is redundant when removing it (its gate share handed to the others in
#: proportion, nothing refitted) lowers twice the log-likelihood by less than
#: ``REDUNDANT_PENALTY * (2 p + 1) * log(n)``: the BIC penalty of its ``2 p + 1``
#: parameters, so that BIC prefers the fit without it even before any refit.
REDUNDANT_PENALTY = 1.0

#: A summary refuses data whose log-likelihood at the fitted parameters differs
#: from ``log_likelihood_`` by more than this (relative) amount.
DATA_RTOL = 1e-6


def covariance(inference, estimator, data, method):
    """Set ``inference.covariance`` (the covariance of the free parameters, NaN
    where the numbers would mislead), ``inference.valid`` and
    ``inference.gradient`` from the observed information (``"wald"``) or the
    sandwich (``"sandwich"``) of ``estimator`` on ``data``."""
    k, d = inference.n_experts, inference.n_features
    p = d + 1
    model, params = fitted_engine(inference.gate, inference.params, data.X, data.y,
                                  data.w, inference.experts)
    gate, coef, var = params.gate, params.coef, params.var
    inference._theta = model.to_vector(params)
    ll, grad, hess = model.derivatives(params)
    target = inference.log_likelihood
    if not abs(ll - target) <= DATA_RTOL * max(1.0, abs(target)):
        raise ValueError(
            "X, y (and sample_weight) must be the data the model was fitted "
            f"on: their log-likelihood at the fitted parameters is {ll:.10g}, "
            f"the fit's log_likelihood_ is {target:.10g}. Pass the training "
            "data (the estimator does not keep it).")
    m = hess.shape[0]
    n_gate = model.n_gate_free(k)
    scaling = _Scaling(data.X, data.y, data.w)
    x_scale = scaling.x_scale
    if inference.gate_penalty > 0:
        # the fit's penalty alpha/2 sum ||beta_1 x_scale||^2 (standardised
        # slopes), written in the original units
        pen = np.zeros((k - 1, p))
        pen[:, 1:] = inference.gate_penalty * x_scale**2
        pen = pen.ravel()
        grad[:n_gate] -= pen * gate[:-1].ravel()
        hess[np.arange(n_gate), np.arange(n_gate)] -= pen
        inference.notes.append(
            f"gate_penalty={inference.gate_penalty:g}: the fit maximises a penalised "
            "likelihood; the standard errors and intervals are those of the "
            "penalised estimate (its curvature), which is biased towards zero "
            "in the gate slopes: they are not intervals for the unpenalised "
            "parameters.")
    balance = float(getattr(estimator, "balance_penalty", 0.0))
    if balance > 0:
        # the load-balancing penalty reads the gate weights only: the same
        # function in the units of the data
        _, b_grad, b_hess = model.balance_free(params, balance)
        grad, hess = grad - b_grad, hess - b_hess
        inference.notes.append(
            f"balance_penalty={balance:g}: the fit maximises the log-likelihood "
            "minus the load-balancing penalty (balance_penalty * W * KL of the "
            "mean gate weights from uniform); the standard errors and intervals "
            "are those of the penalised estimate (Wald: the penalised Hessian), "
            "pulled towards equal loads: they are not intervals for the "
            "unpenalised parameters.")
    if inference.gate.sparse:
        inference.notes.append(
            f"the {inference.gate.name} gate's likelihood is piecewise smooth: the "
            "standard errors are those of the fit's piece (every sample's "
            "selection held as fitted). In simulations the experts' intervals "
            "have their nominal coverage and the gate's are conservative (see "
            "the user guide, 'Other gates').")
    if inference._block_rows():
        inference.notes.append(
            f"the {inference.gate.name} gate is summarised by the coefficients of its "
            "scores (gate_score rows, one per block coordinate): the parameters "
            "the likelihood identifies; its fitted attributes are functions of "
            "them.")
    if model.gauge.all():
        inference.notes.append(
            f"gate rows are relative to expert {k - 1} (the reference: its "
            "gate row is zero by convention, standard error NaN).")
    elif model.gauge.any():
        names = [name for name, held in zip(inference.gate.block_names(d),
                                            model.gauge, strict=True) if held]
        inference.notes.append(
            f"the gate's {', '.join(names)} are relative to expert {k - 1} (the "
            "reference: zero by convention, standard error NaN); its other gate "
            "coordinates are free.")
    else:
        inference.notes.append(f"the {inference.gate.name} gate has no reference "
                               "expert: every expert's gate row is free.")
    shared = np.flatnonzero(inference.gate.shared_mask(k))
    if shared.size:
        which = (f"expert {shared[0]} is" if shared.size == 1 else
                 f"experts {', '.join(map(str, shared))} are")
        inference.notes.append(
            f"{which} shared (constant weights, always active): the shared_score "
            f"rows are log weights relative to expert {shared[-1]} (zero by "
            "convention, standard error NaN); the gate rows are those of the "
            "routed experts.")
    info = -0.5 * (hess + hess.T)
    expert, kind, coordinate = model.free_layout(k)
    is_gate = kind == "gate"
    inference._layout = {(kind[j], int(expert[j]), int(coordinate[j])): j
                         for j in range(m)}
    for j in np.flatnonzero(expert < 0):  # shared by every expert
        inference._layout.update({(kind[j], i, int(coordinate[j])): j
                                  for i in range(k)})
    note = inference.experts.summary_note(inference.feature_labels)
    if note:
        inference.notes.append(note)
    removed = np.zeros(m, dtype=bool)

    # parameters held at a bound
    var_lower, var_upper, gate_bound = estimator._check_bounds(scaling, d)
    var_lower *= scaling.y_scale**2
    var_upper *= scaling.y_scale**2
    at_bound = np.zeros(m, dtype=bool)
    logvar = kind == "logvar"
    var_free = var[expert[logvar]]
    at_bound[logvar] = ((var_free <= var_lower * (1 + 1e-9))
                        | (var_free >= var_upper * (1 - 1e-9)))
    if gate_bound is not None:
        bound = gate_bound / x_scale
        held = np.abs(gate[:-1, 1:]) >= bound * (1 - 1e-9)
        mask = np.zeros((k - 1, p), dtype=bool)
        mask[:, 1:] = held
        at_bound[:n_gate] = mask.ravel()
    if at_bound.any():
        inference._warn(f"{int(at_bound.sum())} parameter(s) of experts "
                   f"{sorted(set(expert[at_bound].tolist()))} are held at a "
                   "bound (variance_bounds / reg_variance floor / gate_bound): "
                   "their standard errors are NaN and the others are "
                   "computed with them fixed.")
        removed |= at_bound

    # degenerate experts
    degenerate = np.flatnonzero(getattr(estimator, "degenerate_experts_",
                                        np.zeros(k, dtype=bool)))
    if degenerate.size:
        bad = np.isin(expert, degenerate)
        if k - 1 in degenerate:
            bad |= is_gate
        inference._warn(f"experts {degenerate.tolist()} are degenerate (too little "
                   "weight, or a variance at the floor): their rows are NaN"
                   + (" (and every gate row: the reference expert is one of "
                      "them)" if k - 1 in degenerate else "") + ".")
        removed |= bad

    # gate separation: the gate rows of the separated experts are infinite
    separated = list(getattr(estimator, "separated_experts_", []))
    if separated:
        involved = sorted({i for pair in separated for i in pair})
        removed |= is_gate & np.isin(expert, involved)
        inference._warn(f"the gate separates experts {separated} completely: the "
                   "maximum likelihood estimate of their gate rows does not "
                   f"exist (gate rows of experts "
                   f"{[i for i in involved if i < k - 1]} are NaN). Refit with "
                   "gate_penalty > 0 for finite, penalised gate estimates.")

    if not getattr(estimator, "converged_", True):
        inference._warn("the fit did not converge (converged_ is False): the "
                   "intervals assume a maximum of the likelihood; refit with a "
                   "larger max_iter.")

    keep = ~removed
    cov = np.full((m, m), np.nan)
    inv = _inverse_information(info[np.ix_(keep, keep)])
    if inv is None:
        inference._warn("the observed information is singular or not positive "
                   "definite at the fit (an over-fitted model, collinear "
                   "features or a saddle point): every standard error is NaN.")
        keep[:] = False
    else:
        if method == "sandwich":
            scores = model.per_sample_gradient(params)[:, keep]
            # centred: at a penalised maximum the scores do not sum to zero
            centre = data.w @ scores / data.w.sum()
            centred = scores - centre
            J = centred.T @ (data.w[:, None] * centred)
            inv = inv @ J @ inv
        cov[np.ix_(keep, keep)] = inv

        # over-fitting: redundant experts, or pairs that cannot be told apart
        deviance = model.removal_deviance(params)
        # an expert's own parameters (row, variance) and gate block
        n_expert = (inference.experts.n_parameters(k, d)
                    - inference.experts.n_parameters(k - 1, d) + model.m)
        bic_penalty = REDUNDANT_PENALTY * n_expert * np.log(data.w.sum())
        redundant = [int(i) for i in np.flatnonzero(deviance < bic_penalty)
                     if i not in degenerate]
        pairs = _indistinguishable_pairs(coef, var, cov, keep, inference._layout)
        if redundant:
            involved = sorted(set(redundant))
            bad = np.isin(expert, involved)
            if k - 1 in involved:
                bad |= is_gate
            inference._warn(
                f"experts {involved} are redundant: removing one (its gate "
                "share handed to the others, nothing refitted) lowers twice "
                f"the log-likelihood by only "
                f"{', '.join(f'{deviance[i]:.3g}' for i in involved)} (less "
                f"than the BIC penalty {bic_penalty:.3g} of its {n_expert} "
                "parameters, so BIC prefers fewer experts): the model looks "
                "over-fitted, where the information is singular and Wald "
                "intervals are invalid. Their rows are NaN"
                + (" (and every gate row: the reference expert is one of them)"
                   if k - 1 in involved else "")
                + "; fewer experts may suit these data.")
            keep &= ~bad
            cov[bad, :] = np.nan
            cov[:, bad] = np.nan
        if pairs:
            involved = sorted({i for pair in pairs for i in pair})
            bad = np.isin(expert, involved)
            if k - 1 in involved:
                bad |= is_gate
            inference._warn(
                f"experts {pairs} cannot be told apart (a Wald test of equal "
                f"expert rows and variances does not reject at the "
                f"{INDISTINGUISHABLE_LEVEL:g} level): the model looks "
                "over-fitted, where the information is singular and Wald "
                "intervals are invalid. Their rows are NaN"
                + (" (and every gate row: the reference expert is one of them)"
                   if k - 1 in involved else "")
                + "; fewer experts may suit these data.")
            keep &= ~bad
            cov[bad, :] = np.nan
            cov[:, bad] = np.nan
    inference.covariance = cov
    inference.valid = keep
    inference.gradient = grad


def _inverse_information(info):
    """Inverse of a positive definite information, or None when it is singular
    (scaled reciprocal condition number below :data:`RCOND`) or indefinite."""
    if info.shape[0] == 0:
        return info.copy()
    diag = np.diag(info)
    if not np.all(np.isfinite(info)) or np.any(diag <= 0):
        return None
    scale = 1.0 / np.sqrt(diag)
    scaled = info * np.outer(scale, scale)
    eigval, eigvec = scipy.linalg.eigh(scaled)
    if eigval[0] <= RCOND * eigval[-1]:
        return None
    inv = (eigvec / eigval) @ eigvec.T
    return inv * np.outer(scale, scale)


def _indistinguishable_pairs(coef, var, cov, keep, layout):
    """Pairs of experts whose rows and log-variances do not differ significantly.

    For experts ``i < j`` with all their expert rows and log-variances valid, the
    Wald statistic of :math:`(c_i - c_j, \\log\\sigma_i - \\log\\sigma_j) = 0` with
    ``p + 1`` degrees of freedom (``p`` when the experts share one variance);
    a pair is returned when its p-value exceeds :data:`INDISTINGUISHABLE_LEVEL`.
    ``layout`` maps ``(kind, expert, coordinate)`` to the index of the free
    parameter in the covariance.
    """
    k, p = coef.shape
    pairs = []
    for i in range(k):
        for j in range(i + 1, k):
            idx_i, idx_j = (np.array([layout[("coef", e, a)] for a in range(p)]
                                     + [layout[("logvar", e, 0)]]) for e in (i, j))
            if not (keep[idx_i].all() and keep[idx_j].all()):
                continue
            diff = np.concatenate([coef[i] - coef[j], [np.log(var[i] / var[j])]])
            # a parameter the two share has no difference to test
            own = idx_i != idx_j
            idx_i, idx_j, diff = idx_i[own], idx_j[own], diff[own]
            block = (cov[np.ix_(idx_i, idx_i)] + cov[np.ix_(idx_j, idx_j)]
                     - cov[np.ix_(idx_i, idx_j)] - cov[np.ix_(idx_j, idx_i)])
            try:
                stat = float(diff @ np.linalg.solve(block, diff))
            except np.linalg.LinAlgError:
                stat = 0.0
            if scipy.stats.chi2.sf(stat, diff.size) > INDISTINGUISHABLE_LEVEL:
                pairs.append((i, j))
    return pairs
