"""The fitted model rebuilt on the data in their own units
(:func:`fitted_engine`), and the matching of one fit's experts to another's
(:func:`align_experts`)."""

import numpy as np
import scipy.optimize

from gmoe.engine._model import MoEParams
from gmoe.gates._base import identity_scaling


def _design(X):
    return np.column_stack([np.ones(X.shape[0]), X])


def fitted_engine(gate, params, X, y=None, w=None, experts=None):
    """The model of any gate on data in the ORIGINAL units, and the fitted
    parameters as its :class:`gmoe.engine._model.MoEParams`.

    The gate reads ``X`` as given (no standardisation), so that the free
    parameters of :class:`gmoe.engine._gated_model.GatedGaussianMoE` are the reported
    ones: the gate blocks ``(gate_intercept_i, gate_coef_i)`` without the
    reference's gauge coordinates, the expert rows ``(b_i, a_i)`` and the
    log-variances.

    Parameters
    ----------
    gate : gmoe.gates.Gate
    params : dict
        The fitted attributes (the gate's and the experts', original units).
    X : ndarray of shape (n, d)
    y, w : ndarray of shape (n,) or None
        Responses and weights (zeros and ones when None: enough for the mean
        function).
    experts : gmoe.experts.ExpertFamily or None
        The fitted expert family (None: variances of their own).

    Returns
    -------
    model : GatedGaussianMoE
    theta : MoEParams
    """
    from gmoe.engine._gated_model import GatedGaussianMoE

    X = np.asarray(X, dtype=float)
    n, d = X.shape
    identity = identity_scaling(d)
    y = np.zeros(n) if y is None else y
    w = np.ones(n) if w is None else w
    model = GatedGaussianMoE(gate.features(X, identity), _design(X), y, w, gate,
                             var_lower=1e-300, experts=experts)
    coef = np.column_stack([params["expert_intercept"], params["expert_coef"]])
    theta = MoEParams(model.project_gate(gate.from_original(params, identity)),
                      coef, np.asarray(params["expert_variance"], dtype=float))
    return model, theta


def align_experts(params, reference, *, scale_x=None, scale_y=1.0, X=None,
                  sample_weight=None, gate=None):
    """Relabel the experts of ``params`` to match those of ``reference``.

    The experts are matched by an optimal assignment
    (:func:`scipy.optimize.linear_sum_assignment`) on the cost

    .. math::

        C_{ij} = \\lVert D (c_i - c^{\\mathrm{ref}}_j) \\rVert^2
            + (\\log \\sigma_i - \\log \\sigma^{\\mathrm{ref}}_j)^2
            + (\\bar\\pi_i - \\bar\\pi^{\\mathrm{ref}}_j)^2,

    with :math:`c_i = (b_i, a_i)` an expert row made unit-free by
    :math:`D = \\mathrm{diag}(1, \\mathrm{scale\\_x}) / \\mathrm{scale\\_y}` (the
    standard deviations of the features and of y: the rows are compared in
    standardised units), and :math:`\\bar\\pi_i` the average gate probability of
    expert ``i`` over ``X`` (left out when ``X`` is None).  The gate rows are then
    re-expressed in the reference convention AFTER the relabelling: the expert
    matched to the reference's last expert becomes the last one, with a zero gate
    row.

    Parameters
    ----------
    params, reference : dict
        Parameter dicts (the gate's attributes and the experts'), ``k`` experts
        each.
    scale_x : ndarray of shape (d,) or None, default=None
        Feature scales (None: ones).
    scale_y : float, default=1.0
        Response scale.
    X : ndarray of shape (n, d) or None, default=None
        Covariates over which the average gate probabilities are taken.
    sample_weight : ndarray of shape (n,) or None, default=None
    gate : gmoe.gates.Gate or None, default=None
        The gate of both parameter dicts (None: the softmax gate).

    Returns
    -------
    aligned : dict
        ``params`` with its experts reordered.
    permutation : ndarray of shape (k,), dtype=int
        ``aligned`` expert ``j`` is expert ``permutation[j]`` of ``params``.

    Examples
    --------
    >>> from gmoe.datasets import N23_TRUTH
    >>> swapped = {name: value[::-1] for name, value in N23_TRUTH.items()}
    >>> aligned, perm = align_experts(swapped, N23_TRUTH)
    >>> perm
    array([1, 0])
    >>> aligned["gate_coef"].ravel(), aligned["expert_intercept"]
    (array([25.,  0.]), array([15., -5.]))
    """
    from gmoe.gates import Softmax

    gate = Softmax() if gate is None else gate
    coef = np.column_stack([params["expert_intercept"], params["expert_coef"]])
    rcoef = np.column_stack([reference["expert_intercept"],
                             reference["expert_coef"]])
    var = np.asarray(params["expert_variance"], dtype=float)
    rvar = np.asarray(reference["expert_variance"], dtype=float)
    k, p = coef.shape
    identity = identity_scaling(p - 1)
    scale = np.ones(p) if scale_x is None else np.concatenate([[1.0], scale_x])
    scale = scale / scale_y
    diff = (coef[:, None, :] - rcoef[None, :, :]) * scale
    cost = np.sum(diff**2, axis=2)
    cost += (np.log(var)[:, None] - np.log(rvar)[None, :]) ** 2
    if X is not None:
        X = np.asarray(X, dtype=float)
        w = (np.ones(X.shape[0]) if sample_weight is None
             else np.asarray(sample_weight, dtype=float))
        Z = gate.features(X, identity)

        def mean_gate(values):
            log_pi = gate.log_weights(Z, gate.from_original(values, identity))
            return w @ np.exp(log_pi) / w.sum()

        cost += (mean_gate(params)[:, None] - mean_gate(reference)[None, :]) ** 2
    rows, cols = scipy.optimize.linear_sum_assignment(cost)
    permutation = np.empty(k, dtype=int)
    permutation[cols] = rows
    aligned = {name: np.array(value, dtype=float)[permutation]
               for name, value in params.items()}
    # the gate's gauge coordinates re-expressed against the new last expert
    aligned.update(gate.to_original(gate.from_original(aligned, identity),
                                    identity))
    return aligned, permutation
