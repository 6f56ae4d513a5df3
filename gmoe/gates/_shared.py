"""Shared and routed experts: a fixed fraction of the weight on experts whose
weights do not depend on x, the rest routed by a dense gate.

The model of Nguyen et al., "On DeepSeekMoE: statistical benefits of shared
experts and normalized sigmoid gating", arXiv 2505.10860, 2025 (their eq. 1),
with ``k1`` shared experts and ``k2`` routed ones,

.. math::

    f(y | x) = c \\sum_{i \\le k_1} \\omega_i N(y; \\kappa_i' \\tilde x, \\tau_i)
    + (1 - c) \\sum_{i \\le k_2} g_i(x) N(y; \\eta_i' \\tilde x, \\nu_i),

is a mixture of ``k1 + k2`` experts whose weights are a softmax normalised
within two groups of fixed masses ``c`` and ``1 - c``: the shared experts'
scores are the constant gate's (``s_i = b_i``, ``omega = softmax(b)``), the
routed experts' those of the routed gate (``g = softmax`` of its scores).  Each
group has its own reference expert (its last), the fraction ``c`` is fixed
(the paper's choice is ``c = 1/2``).
"""

import numpy as np

from gmoe.gates._base import Gate
from gmoe.gates._linear import Softmax


class SharedRouted(Gate):
    """Shared experts of constant weights and routed experts of a dense gate.

    Expert ``i < n_shared`` has weight :math:`c\\,\\omega_i`, :math:`\\omega =
    \\mathrm{softmax}(b)` (the fitted ``shared_weights``, summing to 1); expert
    ``n_shared + j`` has weight :math:`(1 - c)\\,g_j(x)`, ``g`` the ``routed``
    gate over the routed experts (its fitted attributes are the routed gate's,
    over the routed experts).  Every block has the routed gate's size; a shared
    expert uses its first coordinate (the intercept ``b_i``) only.

    Parameters
    ----------
    n_shared : int
        Number of shared experts, at least 1.
    routed : gmoe.gates.Gate, default=Softmax()
        A dense gate without an x-marginal (softmax, normalised sigmoid,
        constant, cosine, Laplace).
    shared_fraction : float, default=0.5
        The total weight ``c`` of the shared experts, ``0 < c < 1``.

    The model of arXiv 2505.10860 (eq. 1), ``c = 1/2`` there.

    Examples
    --------
    >>> import numpy as np
    >>> gate = SharedRouted(1)
    >>> blocks = np.array([[0.0, 0.0], [1.0, 2.0], [0.0, 0.0]])
    >>> pi = np.exp(gate.log_weights(np.array([[0.0], [1.0]]), blocks))
    >>> pi.round(3)
    array([[0.5  , 0.366, 0.134],
           [0.5  , 0.476, 0.024]])
    """

    name = "shared_routed"

    def __init__(self, n_shared, routed=None, shared_fraction=0.5):
        routed = Softmax() if routed is None else routed
        if not isinstance(routed, Gate):
            raise ValueError(f"routed={routed!r} must be a gmoe.gates.Gate object.")
        if (routed.sparse or routed.marginal or routed.groups(2) is not None
                or routed.screening_gate() is not routed):
            raise ValueError(
                f"shared experts need a dense gate for the routed experts; "
                f"routed={routed!r} is not one (use Softmax(), Sigmoid(), "
                "Constant(), Cosine() or Laplace()).")
        if not (isinstance(n_shared, (int, np.integer)) and n_shared >= 1):
            raise ValueError(f"n_shared={n_shared!r} must be an integer >= 1.")
        fraction = float(shared_fraction)
        if not 0.0 < fraction < 1.0:
            raise ValueError(
                f"shared_fraction={shared_fraction!r} must lie strictly between "
                "0 and 1 (the total weight of the shared experts).")
        self.n_shared = int(n_shared)
        self.routed = routed
        self.shared_fraction = fraction

    @property
    def attributes(self):
        return ("shared_weights",) + tuple(self.routed.attributes)

    def __repr__(self):
        return (f"SharedRouted(n_shared={self.n_shared}, routed={self.routed!r}, "
                f"shared_fraction={self.shared_fraction!r})")

    def __eq__(self, other):
        return (type(other) is type(self) and self.n_shared == other.n_shared
                and self.shared_fraction == other.shared_fraction
                and type(self.routed) is type(other.routed)
                and vars(self.routed) == vars(other.routed))

    __hash__ = None

    def _with(self, routed):
        return SharedRouted(self.n_shared, routed, self.shared_fraction)

    def _n_routed(self, n_experts):
        k2 = n_experts - self.n_shared
        if k2 < 1:
            raise ValueError(
                f"{self!r} needs at least one routed expert; got {n_experts} "
                f"experts in all.")
        return k2

    # ------------------------------------------------------------ structure
    def n_block(self, n_features):
        return self.routed.n_block(n_features)

    def block_names(self, n_features):
        return self.routed.block_names(n_features)

    def gauge(self, n_features):
        return self.routed.gauge(n_features)

    def groups(self, n_experts):
        k2 = self._n_routed(n_experts)
        group = np.repeat([0, 1], [self.n_shared, k2])
        c = self.shared_fraction
        return group, np.log([c, 1.0 - c])

    def translations(self, n_experts, n_features):
        k1 = self.n_shared
        m = self.n_block(n_features)
        intercept = np.zeros(m, dtype=bool)
        intercept[0] = True
        routed = np.asarray(self.routed.gauge(n_features), dtype=bool)
        return [(np.arange(k1), intercept),
                (np.arange(k1, n_experts), routed)]

    def fixed_coordinates(self, n_experts, n_features):
        fixed = np.zeros((n_experts, self.n_block(n_features)), dtype=bool)
        fixed[:self.n_shared, 1:] = True
        return fixed

    def n_parameters(self, n_experts, n_features):
        """``k1 - 1`` shared weights and the routed gate's parameters."""
        return (self.n_shared - 1
                + self.routed.n_parameters(self._n_routed(n_experts), n_features))

    def attribute_shapes(self, n_experts, n_features):
        shapes = self.routed.attribute_shapes(self._n_routed(n_experts), n_features)
        return {"shared_weights": (self.n_shared,), **shapes}

    def additive_intercept(self):
        return False

    def identified_gate(self):
        routed = self.routed.identified_gate()
        return self if routed is self.routed else self._with(routed)

    def summary_gate(self):
        routed = self.routed.summary_gate()
        return self if routed is self.routed else self._with(routed)

    def mixing_measure(self, values):
        raise ValueError(
            "a fit with shared experts has no mixing measure here: its shared and "
            "routed experts are two measures of fixed masses (see the user guide, "
            "'Shared experts').")

    def shared_mask(self, n_experts):
        """(k,) bool: which experts are shared (the first ``n_shared``)."""
        mask = np.zeros(n_experts, dtype=bool)
        mask[:self.n_shared] = True
        return mask

    # ----------------------------------------------------------------- units
    def features(self, X, scaling):
        return self.routed.features(X, scaling)

    def to_original(self, blocks, scaling):
        k1 = self.n_shared
        b = blocks[:k1, 0]
        omega = np.exp(b - np.max(b))
        return {"shared_weights": omega / omega.sum(),
                **self.routed.to_original(blocks[k1:], scaling)}

    def from_original(self, values, scaling):
        omega = np.asarray(values["shared_weights"], dtype=float)
        routed = self.routed.from_original(values, scaling)
        shared = np.zeros((self.n_shared, routed.shape[1]))
        with np.errstate(divide="ignore"):
            shared[:, 0] = np.log(np.maximum(omega, 1e-300))
        shared[:, 0] -= shared[-1, 0]
        return np.vstack([shared, routed])

    def flat(self, n_experts, Z):
        routed = self.routed.flat(self._n_routed(n_experts), Z)
        return np.vstack([np.zeros((self.n_shared, routed.shape[1])), routed])

    def check_data(self, X):
        self.routed.check_data(X)

    def prepare(self, Z, w):
        routed = self.routed.prepare(Z, w)
        return self if routed is self.routed else self._with(routed)

    def kinks(self, Z):
        return None

    # ---------------------------------------------------------------- scores
    def compiled_form(self, Z):
        # a softmax routed gate: every score is the linear predictor of the
        # block (the shared experts' slopes are held at zero)
        linear = self.routed.linear_design(Z)
        if linear is None or linear[1] != "identity":
            return None
        return linear[0], "identity", 0.0

    def score_derivatives(self, Z, blocks, order=2):
        k1 = self.n_shared
        n, (k, m) = Z.shape[0], blocks.shape
        S_r, D1_r, D2_r = self.routed.score_derivatives(Z, blocks[k1:], order=order)
        S = np.empty((n, k))
        S[:, :k1] = blocks[:k1, 0]
        S[:, k1:] = S_r
        D1 = D2 = None
        if order >= 1:
            D1 = np.zeros((n, k, m))
            D1[:, :k1, 0] = 1.0
            D1[:, k1:] = D1_r
        if order >= 2 and D2_r is not None:
            D2 = np.zeros((n, k, m, m))
            D2[:, k1:] = D2_r
        return S, D1, D2

    def original_log_weights(self, X, values):
        routed = self.routed.original_log_weights(X, values)
        omega = np.asarray(values["shared_weights"], dtype=float)
        c = self.shared_fraction
        with np.errstate(divide="ignore"):
            shared = np.broadcast_to(np.log(c * omega), (routed.shape[0],
                                                         omega.size))
        return np.hstack([shared, np.log(1.0 - c) + routed])


def shared_routed(n_shared, routed, shared_fraction=0.5):
    """The gate of ``n_shared`` shared experts and ``routed`` (a gate object),
    or ``routed`` itself when ``n_shared == 0`` (no shared experts).

    Parameters
    ----------
    n_shared : int
        Number ``k1`` of shared experts, 0 or more.
    routed : gmoe.gates.Gate
        The gate of the routed experts (a dense gate when ``n_shared > 0``).
    shared_fraction : float, default=0.5
        The shared experts' total weight ``c``, ``0 < c < 1``.

    Returns
    -------
    gate : gmoe.gates.Gate
        :class:`SharedRouted` (weights ``c omega_i`` and ``(1 - c) g_i(x)``), or
        ``routed``.

    Examples
    --------
    >>> shared_routed(0, Softmax())
    Softmax()
    >>> from gmoe.gates import Constant
    >>> shared_routed(2, Constant(), 0.3)
    SharedRouted(n_shared=2, routed=Constant(), shared_fraction=0.3)
    """
    if n_shared == 0:
        return routed
    return SharedRouted(n_shared, routed, shared_fraction)
