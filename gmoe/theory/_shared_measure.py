"""The mixing measure of a mixture of experts with shared and routed experts
[DS25]: shared experts weighted by constants, routed experts weighted by a gate,
mixed in a fixed proportion.  Its Voronoi losses are in
:mod:`gmoe.theory._voronoi_shared`.
"""

import numbers

import numpy as np

from gmoe.datasets import _generator, draw_covariates
from gmoe.theory._measure import MixingMeasure

__all__ = ["SharedRoutedMeasure"]

#: The covariate box of the simulation of [DS25] (Appendix G.1): X ~ U[-3, 3].
DESIGN_BOX = (-3.0, 3.0)


class SharedRoutedMeasure:
    """Mixing measure of a mixture of shared and routed Gaussian experts.

    The conditional density is eq. (1) of [DS25]_:

    .. math::

        f_G(y \\mid x) = c \\sum_{i=1}^{k_1} \\omega_i\\,
            \\mathcal N(y;\\, \\kappa_{1i}^\\top x + \\kappa_{0i},\\, \\tau_i)
          + (1 - c) \\sum_{i=1}^{k_2} g_i(x)\\,
            \\mathcal N(y;\\, \\eta_{1i}^\\top x + \\eta_{0i},\\, \\nu_i),

    with ``k1`` shared experts of constant weights :math:`\\omega_i > 0`,
    :math:`\\sum_i \\omega_i = 1`, ``k2`` routed experts weighted by the
    routed gate :math:`g` (in [DS25] the softmax gate or the normalised
    sigmoid gate :math:`\\sigma(s_i) / \\sum_j \\sigma(s_j)`, :math:`s_i =
    \\beta_{1i}^\\top x + \\beta_{0i}`), and the shared fraction :math:`c`
    (1/2 in [DS25]).  :math:`\\tau_i` and :math:`\\nu_i` are VARIANCES.

    The measure is a pair of :class:`gmoe.MixingMeasure`: ``shared``, of a gate
    whose weights do not depend on x (the constant gate: :math:`\\omega_i
    \\propto e^{\\beta_{0i}}`, atoms :math:`(\\kappa_{1i}, \\kappa_{0i},
    \\tau_i)`), and ``routed``, of the routed gate (atoms :math:`(\\beta_{1i},
    \\eta_{1i}, \\eta_{0i}, \\nu_i)`, weights :math:`e^{\\beta_{0i}}`).  Any
    dense gate of :mod:`gmoe.gates` may route.

    Parameters
    ----------
    shared : MixingMeasure
        ``k1`` atoms, a gate without a gate part of the atoms
        (``gate="constant"``).  Its weights are normalised:
        :math:`\\omega = e^{\\beta_0} / \\sum e^{\\beta_0}`.
    routed : MixingMeasure
        ``k2`` atoms, the same number of features.
    shared_fraction : float, default=0.5
        :math:`c`, in the open interval (0, 1).

    Attributes
    ----------
    shared, routed : MixingMeasure
    shared_fraction : float

    See Also
    --------
    gmoe.shared_routed_loss

    References
    ----------
    .. [DS25] H. Nguyen, T. T. Doan, Q. Pham, N. D. Q. Bui, N. Ho, A. Rinaldo,
       "On DeepSeekMoE: statistical benefits of shared experts and normalized
       sigmoid gating", arXiv 2505.10860, 2025.

    Examples
    --------
    >>> import numpy as np
    >>> from gmoe import MixingMeasure, SharedRoutedMeasure
    >>> shared = MixingMeasure(gate="constant", gate_intercept=[0.0],
    ...                        expert_intercept=[0.0], expert_coef=[[1.0]],
    ...                        expert_variance=[0.25])
    >>> routed = MixingMeasure(gate_intercept=[-0.5, 0.0], gate_coef=[[5.0], [0.0]],
    ...                        expert_intercept=[-12.0, 4.0],
    ...                        expert_coef=[[12.0], [4.0]],
    ...                        expert_variance=[0.4, 0.4])
    >>> G = SharedRoutedMeasure(shared, routed)
    >>> G.n_shared, G.n_routed, G.n_features
    (1, 2, 1)
    >>> X, y = G.sample(500, random_state=0)
    >>> bool(X.min() >= -3 and X.max() <= 3), y.shape
    (True, (500,))
    >>> G.log_density([[0.0]], [0.0]).shape
    (1,)
    """

    def __init__(self, shared, routed, shared_fraction=0.5):
        for name, measure in (("shared", shared), ("routed", routed)):
            if not isinstance(measure, MixingMeasure):
                raise ValueError(
                    f"{name} must be a MixingMeasure; got {type(measure).__name__}.")
        if shared.gate_atoms.shape[1] != 0:
            raise ValueError(
                f"shared has gate={shared.gate!r}, whose weights depend on x; the "
                "shared experts' weights are constants: use gate='constant'.")
        if shared.n_features != routed.n_features:
            raise ValueError(
                f"shared has n_features={shared.n_features} but routed has "
                f"n_features={routed.n_features}; both parts must have the same "
                "covariate dimension.")
        if (not isinstance(shared_fraction, numbers.Real)
                or isinstance(shared_fraction, bool)
                or not 0.0 < shared_fraction < 1.0):
            raise ValueError(
                "shared_fraction must be a number in the open interval (0, 1); got "
                f"{shared_fraction!r}.")
        self._shared = shared
        self._routed = routed
        self._fraction = float(shared_fraction)

    # ------------------------------------------------------------ construction
    @classmethod
    def from_arrays(cls, shared_weights, expert_coef, expert_var, *, gate="softmax",
                    shared_fraction=0.5, **gate_params):
        """Build the measure from the arrays of a fit (keywords after the first
        three).

        Parameters
        ----------
        shared_weights : array-like of shape (k1,)
            :math:`\\omega_i > 0`; normalised to sum 1.
        expert_coef : array-like of shape (k1 + k2, n_features + 1)
            Shared experts first, then routed ones; column 0 multiplies the 1 of
            :math:`\\tilde x = (1, x)` (the expert intercept :math:`\\kappa_{0i}`
            or :math:`\\eta_{0i}`), the other columns the covariates.
        expert_var : array-like of shape (k1 + k2,)
            Expert variances :math:`\\tau_i`, then :math:`\\nu_i`.
        gate : str, Gate or dict, default="softmax"
            The routed gate (a dense gate of :mod:`gmoe.gates`).
        shared_fraction : float, default=0.5
        **gate_params : array-like
            The routed gate's attributes, ``gate_intercept`` (k2,) and
            ``gate_coef`` (k2, n_features) for the softmax and sigmoid gates.

        Returns
        -------
        G : SharedRoutedMeasure

        Examples
        --------
        >>> G = SharedRoutedMeasure.from_arrays(
        ...     [0.5, 0.5], [[0.0, 1.0], [1.0, 0.0], [-1.0, 2.0]], [1.0, 1.0, 0.5],
        ...     gate_intercept=[0.0], gate_coef=[[0.0]])
        >>> G.shared.expert_intercept, G.routed.expert_coef
        (array([0., 1.]), array([[2.]]))
        """
        omega = np.asarray(shared_weights, dtype=float)
        if omega.ndim != 1 or omega.size < 1 or not np.all(np.isfinite(omega)) \
                or np.any(omega <= 0):
            raise ValueError(
                "shared_weights must be a 1-D array of positive finite weights; got "
                f"{shared_weights!r}.")
        k1 = omega.size
        coef = np.asarray(expert_coef, dtype=float)
        var = np.asarray(expert_var, dtype=float)
        if coef.ndim != 2 or coef.shape[1] < 2 or coef.shape[0] <= k1:
            raise ValueError(
                f"expert_coef must have shape (k1 + k2, n_features + 1) with k1 = "
                f"{k1} shared experts first and k2 >= 1 routed ones; got shape "
                f"{coef.shape}.")
        if var.shape != (coef.shape[0],):
            raise ValueError(
                f"expert_var must have shape ({coef.shape[0]},), one variance per "
                f"row of expert_coef; got shape {var.shape}.")
        shared = MixingMeasure(
            gate="constant", gate_intercept=np.log(omega / omega.sum()),
            expert_intercept=coef[:k1, 0], expert_coef=coef[:k1, 1:],
            expert_variance=var[:k1])
        routed = MixingMeasure(
            gate=gate, expert_intercept=coef[k1:, 0], expert_coef=coef[k1:, 1:],
            expert_variance=var[k1:], **gate_params)
        return cls(shared, routed, shared_fraction)

    @classmethod
    def from_estimator(cls, estimator):
        """The measure of a :class:`gmoe.GaussianMoERegressor` fitted with
        shared experts (``n_shared_experts > 0``).

        Reads ``gate_`` (a :class:`gmoe.gates.SharedRouted` gate: the routed gate
        and the shared fraction), ``shared_weights_`` (k1,), the routed gate's
        attributes (``gate_intercept_`` (k2,), ``gate_coef_`` (k2, d) for the
        softmax and sigmoid gates), ``expert_intercept_`` (k1 + k2,),
        ``expert_coef_`` (k1 + k2, d) and ``expert_variance_`` (k1 + k2,), the
        shared experts first.

        Parameters
        ----------
        estimator : GaussianMoERegressor
            Fitted with shared experts.

        Returns
        -------
        G : SharedRoutedMeasure

        Examples
        --------
        >>> import numpy as np
        >>> from gmoe import GaussianMoERegressor
        >>> truth = SharedRoutedMeasure.from_arrays(
        ...     [1.0], [[0.0, 0.5], [-2.0, -1.0], [2.0, 1.5]], [0.25, 0.4, 0.4],
        ...     gate_intercept=[-1.0, 0.0], gate_coef=[[2.0], [0.0]])
        >>> X, y = truth.sample(2000, random_state=0)
        >>> moe = GaussianMoERegressor(2, n_shared_experts=1, n_init=5,
        ...                            random_state=0).fit(X, y)
        >>> G = SharedRoutedMeasure.from_estimator(moe)
        >>> G.n_shared, G.n_routed, G.shared_fraction
        (1, 2, 0.5)
        >>> bool(np.isclose(G.log_likelihood(X, y), moe.log_likelihood_))
        True
        """
        gate = getattr(estimator, "gate_", None)
        if gate is None or not hasattr(gate, "routed"):
            raise ValueError(
                "from_estimator needs a GaussianMoERegressor fitted with shared "
                "experts (n_shared_experts > 0); fit it first.")
        routed = gate.routed
        names = ("shared_weights", "expert_intercept", "expert_coef",
                 "expert_variance") + tuple(routed.attributes)
        values = {name: np.asarray(getattr(estimator, name + "_"), dtype=float)
                  for name in names}
        coef = np.column_stack([values.pop("expert_intercept"),
                                values.pop("expert_coef")])
        return cls.from_arrays(values.pop("shared_weights"), coef,
                               values.pop("expert_variance"), gate=routed,
                               shared_fraction=gate.shared_fraction, **values)

    # ------------------------------------------------------------- attributes
    @property
    def shared(self):
        """MixingMeasure: the shared experts (constant gate)."""
        return self._shared

    @property
    def routed(self):
        """MixingMeasure: the routed experts and their gate."""
        return self._routed

    @property
    def shared_fraction(self):
        """float: :math:`c`."""
        return self._fraction

    @property
    def shared_weights(self):
        """ndarray of shape (k1,): :math:`\\omega_i`, summing to 1."""
        w = self._shared.weights
        return w / w.sum()

    @property
    def n_shared(self):
        """int: ``k1``."""
        return self._shared.n_atoms

    @property
    def n_routed(self):
        """int: ``k2``."""
        return self._routed.n_atoms

    @property
    def n_features(self):
        """int: ``d``."""
        return self._shared.n_features

    # ------------------------------------------------------------------ model
    def log_density(self, X, y):
        """Log conditional density :math:`\\log f_G(y_n \\mid x_n)`, shape
        (n_samples,), of eq. (1) of [DS25]: the log-sum of the two parts'
        log densities plus :math:`\\log c` and :math:`\\log(1 - c)`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        log_density : ndarray of shape (n_samples,)

        Examples
        --------
        >>> G = SharedRoutedMeasure.from_arrays(
        ...     [1.0], [[0.0, 0.0], [0.0, 0.0]], [1.0, 1.0],
        ...     gate_intercept=[0.0], gate_coef=[[0.0]])
        >>> bool(np.isclose(G.log_density([[1.0]], [0.0])[0], -0.5 * np.log(2 * np.pi)))
        True
        """
        shared = self._shared.score_samples(X, y)
        routed = self._routed.score_samples(X, y)
        return np.logaddexp(np.log(self._fraction) + shared,
                            np.log1p(-self._fraction) + routed)

    def density(self, X, y):
        """Conditional density :math:`f_G(y_n \\mid x_n)`, shape (n_samples,).

        Examples
        --------
        >>> G = SharedRoutedMeasure.from_arrays(
        ...     [1.0], [[0.0, 0.0], [0.0, 0.0]], [1.0, 1.0],
        ...     gate_intercept=[0.0], gate_coef=[[0.0]])
        >>> G.density([[0.0], [1.0]], [0.0, 0.0]).round(4)
        array([0.3989, 0.3989])
        """
        return np.exp(self.log_density(X, y))

    def log_likelihood(self, X, y):
        """Conditional log-likelihood :math:`\\sum_n \\log f_G(y_n \\mid x_n)`.

        Examples
        --------
        >>> G = SharedRoutedMeasure.from_arrays(
        ...     [1.0], [[0.0, 0.0], [0.0, 0.0]], [1.0, 1.0],
        ...     gate_intercept=[0.0], gate_coef=[[0.0]])
        >>> round(G.log_likelihood([[0.0], [1.0]], [0.0, 0.0]), 4)
        -1.8379
        """
        return float(np.sum(self.log_density(X, y)))

    def sample(self, n_or_X, random_state=None, *, low=DESIGN_BOX[0],
               high=DESIGN_BOX[1]):
        """Draw covariates and responses from eq. (1) of [DS25].

        Each row draws whether its expert is shared (probability :math:`c`),
        then an expert of that part with its weights, then y; X is drawn
        uniformly on ``[low, high]^d`` (``[-3, 3]``, the design of the
        simulation of [DS25], Appendix G.1) unless given.

        Parameters
        ----------
        n_or_X : int or array-like of shape (n_samples, n_features)
            The number of draws, or the covariates (then only y is drawn).
        random_state : int, RandomState, Generator or None, default=None
        low, high : float, default=-3.0, 3.0

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)

        Examples
        --------
        >>> G = SharedRoutedMeasure.from_arrays(
        ...     [1.0], [[0.0, 0.0], [0.0, 0.0]], [1.0, 1.0],
        ...     gate_intercept=[0.0], gate_coef=[[0.0]])
        >>> X, y = G.sample([[0.0], [2.0]], random_state=0)
        >>> X.ravel()
        array([0., 2.])
        """
        rng = _generator(random_state)
        if isinstance(n_or_X, numbers.Integral) and not isinstance(n_or_X, bool):
            if n_or_X < 1:
                raise ValueError(
                    f"n_or_X must be a positive integer or an array; got {n_or_X!r}.")
            if not (np.isfinite(low) and np.isfinite(high) and low < high):
                raise ValueError(
                    f"need finite low < high; got low={low!r}, high={high!r}.")
            X = draw_covariates(int(n_or_X), self.n_features, low=low, high=high,
                                random_state=rng)
        else:
            X = self._shared._check_X(n_or_X)
        from_shared = rng.uniform(size=X.shape[0]) < self._fraction
        y_shared, _ = self._shared._draw(X, rng)
        y_routed, _ = self._routed._draw(X, rng)
        return X, np.where(from_shared, y_shared, y_routed)

    # --------------------------------------------------------------- protocol
    def __eq__(self, other):
        if not isinstance(other, SharedRoutedMeasure):
            return NotImplemented
        return (self._fraction == other._fraction and self._shared == other._shared
                and self._routed == other._routed)

    __hash__ = None

    def __repr__(self):
        return (f"{type(self).__name__}(\n  shared={self._shared!r},\n  "
                f"routed={self._routed!r},\n  shared_fraction={self._fraction!r},\n)")
