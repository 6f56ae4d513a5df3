"""Gates whose scores are a function of a linear predictor of x: softmax,
normalised sigmoid and constant.

Their blocks are ``(beta_0i, beta_1i)`` of the linear predictor
``eta_i = beta_0i + beta_1i' z`` in the standardised covariates ``z``, and the
score is ``s_i = h(eta_i)``: ``h`` the identity (softmax) or ``log sigma``
(normalised sigmoid).  Affine maps of x map such gates onto themselves, so they
are fitted on the standardised covariates and reported in the data's units.
"""

import numpy as np
import scipy.special

from gmoe.gates._base import Gate


class _LinearPredictorGate(Gate):
    """Scores ``h(beta_0i + beta_1i' z)``; subclasses give ``h`` and its first two
    derivatives (:meth:`_link`)."""

    attributes = ("gate_intercept", "gate_coef")

    def n_block(self, n_features):
        return n_features + 1

    def block_names(self, n_features):
        return ["intercept"] + [f"x{j}" for j in range(n_features)]

    #: The link's name in :data:`gmoe.kernels._sources.LINKS`.
    link = "identity"

    def _link(self, eta, order):
        """``h(eta)``, ``h'(eta)``, ``h''(eta)`` (None where not asked, or where
        ``h`` is linear)."""
        raise NotImplementedError

    def linear_design(self, Z):
        return np.column_stack([np.ones(Z.shape[0]), Z]), self.link

    def score_derivatives(self, Z, blocks, order=2):
        Zt = np.column_stack([np.ones(Z.shape[0]), Z])
        eta = Zt @ blocks.T
        S, h1, h2 = self._link(eta, order)
        D1 = D2 = None
        if order >= 1:
            D1 = Zt[:, None, :] if h1 is None else h1[:, :, None] * Zt[:, None, :]
            D1 = np.broadcast_to(D1, eta.shape + (Zt.shape[1],))
        if order >= 2 and h2 is not None:
            D2 = h2[:, :, None, None] * (Zt[:, None, :, None] * Zt[:, None, None, :])
        return S, D1, D2

    def to_original(self, blocks, scaling):
        shift = scaling.x_mean / scaling.x_scale
        coef = blocks[:, 1:] / scaling.x_scale
        intercept = blocks[:, 0] - blocks[:, 1:] @ shift
        gauge = self.gauge(blocks.shape[1] - 1)
        if gauge[0]:
            intercept = intercept - intercept[-1]
        if gauge[1:].all():
            coef = coef - coef[-1]
        return {"gate_intercept": intercept, "gate_coef": coef}

    def from_original(self, values, scaling):
        coef = np.asarray(values["gate_coef"], dtype=float)
        intercept = np.asarray(values["gate_intercept"], dtype=float)
        return np.column_stack([intercept + coef @ scaling.x_mean,
                                coef * scaling.x_scale])


class Softmax(_LinearPredictorGate):
    """The softmax gate: :math:`\\pi_i(x) \\propto \\exp(\\beta_{0i} +
    \\beta_{1i}^\\top x)`.

    A common translation of every ``(beta_0i, beta_1i)`` leaves the weights
    unchanged: the last expert is the reference (its row is zero).

    Examples
    --------
    >>> import numpy as np
    >>> gate = Softmax()
    >>> S, D1, D2 = gate.score_derivatives(np.array([[0.5]]),
    ...                                    np.array([[1.0, 2.0], [0.0, 0.0]]))
    >>> S, D1.shape, D2
    (array([[2., 0.]]), (1, 2, 2), None)
    """

    name = "softmax"

    def gauge(self, n_features):
        return np.ones(n_features + 1, dtype=bool)

    def _link(self, eta, order):
        return eta, None, None


class Sigmoid(_LinearPredictorGate):
    """The normalised sigmoid gate of [DS25]_: :math:`\\pi_i(x) =
    \\sigma(\\eta_i) / \\sum_j \\sigma(\\eta_j)`, :math:`\\eta_i = \\beta_{0i} +
    \\beta_{1i}^\\top x`.

    It is the softmax of the scores :math:`\\log \\sigma(\\eta_i) =
    -\\log(1 + e^{-\\eta_i})`.  Unlike the softmax gate it is not invariant to a
    common translation of the ``eta_i`` (:math:`\\sigma(\\eta + t)` is not
    proportional to :math:`\\sigma(\\eta)`), so every expert's row is free and
    none is a reference.

    References
    ----------
    .. [DS25] "On DeepSeekMoE: statistical benefits of shared experts and
       normalized sigmoid gating", arXiv 2505.10860, 2025.

    Examples
    --------
    >>> import numpy as np
    >>> gate = Sigmoid()
    >>> blocks = np.array([[0.0, 1.0], [0.0, -1.0]])
    >>> np.exp(gate.log_weights(np.array([[2.0]]), blocks)).round(3)
    array([[0.881, 0.119]])
    """

    name = "sigmoid"
    link = "log_sigmoid"

    def gauge(self, n_features):
        return np.zeros(n_features + 1, dtype=bool)

    def _link(self, eta, order):
        # log sigma(eta) = -log(1 + exp(-eta)); its derivatives sigma(-eta) and
        # -sigma(eta) sigma(-eta)
        S = -np.logaddexp(0.0, -eta)
        h1 = h2 = None
        if order >= 1:
            h1 = scipy.special.expit(-eta)
        if order >= 2:
            h2 = -scipy.special.expit(eta) * h1
        return S, h1, h2

    def flat(self, n_experts, Z):
        # equal weights, with sigmoids away from saturation
        return np.zeros((n_experts, Z.shape[1] + 1))


class Constant(Gate):
    """The constant gate: weights :math:`\\pi_i \\propto e^{\\beta_{0i}}` that do
    not depend on x.

    This is the plain mixture of linear regressions (flexmix's default
    concomitant model ``FLXPconstant``, mixtools' ``regmixEM``).  The last
    expert is the reference (``beta_0k = 0``).

    Examples
    --------
    >>> import numpy as np
    >>> gate = Constant()
    >>> np.exp(gate.log_weights(np.zeros((2, 1)), np.array([[np.log(3.0)], [0.0]])))
    array([[0.75, 0.25],
           [0.75, 0.25]])
    """

    name = "constant"
    attributes = ("gate_intercept",)

    def n_block(self, n_features):
        return 1

    def block_names(self, n_features):
        return ["intercept"]

    def gauge(self, n_features):
        return np.ones(1, dtype=bool)

    def linear_design(self, Z):
        return np.ones((Z.shape[0], 1)), "identity"

    def score_derivatives(self, Z, blocks, order=2):
        n, k = Z.shape[0], blocks.shape[0]
        S = np.broadcast_to(blocks[:, 0], (n, k))
        D1 = np.ones((n, k, 1)) if order >= 1 else None
        return S, D1, None

    def to_original(self, blocks, scaling):
        return {"gate_intercept": blocks[:, 0] - blocks[-1, 0]}

    def from_original(self, values, scaling):
        return np.asarray(values["gate_intercept"], dtype=float)[:, None].copy()
