"""The gate interface: every gate is a softmax over per-expert scores.

A gate of ``k`` experts holds one parameter block per expert, ``blocks`` of
shape ``(k, m)``, and gives each sample ``x`` (standardised features, shape
``(d,)``) one score per expert, ``s_i(x) = s(x; theta_i)``, which depends on
expert ``i``'s block only.  The gate weights are

.. math::

    \\pi_i(x) = \\frac{\\exp s_i(x)}{\\sum_{j \\in A(x)} \\exp s_j(x)}
    \\quad (i \\in A(x)), \\qquad \\pi_i(x) = 0 \\quad (i \\notin A(x)),

with ``A(x)`` every expert for a dense gate and the set a sparse gate selects
from the scores (the top ``K`` for top-K routing).  Every gate of the package
has this form:

- softmax: ``s_i = beta_0i + beta_1i' x``;
- constant: ``s_i = beta_0i`` (the mixture of linear regressions);
- normalised sigmoid: ``sigma(eta_i) / sum_j sigma(eta_j)`` is the softmax of
  ``s_i = log sigma(eta_i)``, ``eta_i = beta_0i + beta_1i' x``;
- cosine: ``s_i = x' w_i / ((|x| + theta)(|w_i| + theta)) + beta_0i``;
- Laplace: ``s_i = -|w_i - x| + beta_0i``;
- Gaussian: ``s_i = log pi_i + log N(x; c_i, Gamma_i)``, a quadratic in x.

So the fitting engine needs from a gate only its scores and their first and
second derivatives with respect to the expert's own block (:meth:`Gate.
score_derivatives`), the selection of a sparse gate (:meth:`Gate.active`) and
which directions of the parameters leave every gate weight unchanged
(:meth:`Gate.gauge`): a common translation of the coordinates it marks in
every block.  The engine fixes those coordinates of the LAST expert (the
reference) to zero and works with the others.

A gate whose scores are log-densities of x (the Gaussian gate fitted by the
joint likelihood of ``(x, y)``, :attr:`Gate.marginal`) adds the x-marginal term

.. math::

    M(\\theta) = \\sum_n w_n \\log \\sum_i e^{s_i(x_n)} - W N(\\theta)

to the objective, ``N`` the log-normaliser of the mixture on x the scores
define (:meth:`Gate.log_partition`, ``W = sum_n w_n``); the gate objective of
the M-step is then :math:`\\sum_n w_n \\sum_i \\tau_{ni} s_i(x_n) - W
N(\\theta)`, which such a gate may maximise in closed form
(:meth:`Gate.m_step`).  Other gates have no such term and ignore both methods.
"""

import types

import numpy as np


def identity_scaling(n_features):
    """No standardisation: with it a gate's blocks are its fitted attributes (the
    data's units) side by side, and its features are X as given.

    Examples
    --------
    >>> identity_scaling(2).x_scale
    array([1., 1.])
    """
    return types.SimpleNamespace(x_mean=np.zeros(n_features),
                                 x_scale=np.ones(n_features))


class Gate:
    """Base class of the gates: a softmax over per-expert scores.

    A subclass sets :attr:`name` and :attr:`attributes`, and implements
    :meth:`n_block`, :meth:`gauge`, :meth:`score_derivatives`,
    :meth:`to_original` and :meth:`from_original`; it may override
    :meth:`features` (default: the standardised covariates), :meth:`flat`
    (default: zero blocks), :meth:`check_data` and, for a sparse gate,
    :meth:`active`.  Blocks are in the units of :meth:`features`; the fitted
    attributes of the estimator in the units of the data.

    With :func:`identity_scaling`, :meth:`from_original` must give the
    attributes side by side: first the intercepts :math:`\\beta_{0i}` (an
    attribute of shape ``(k,)``), then arrays of shape ``(k, d)``.  The mixing
    measure (:class:`gmoe.MixingMeasure`) reads :math:`e^{\\beta_{0i}}` as the
    weight of atom ``i`` and the rest of the block as the gate part of the atom,
    and the gauge as the translations of both that leave the model unchanged.
    """

    #: Short name, as accepted by ``GaussianMoERegressor(gate=...)``.
    name = "gate"
    #: Whether :meth:`active` may drop experts (top-K, top-P).
    sparse = False
    #: Names of the estimator's fitted gate attributes (without the trailing
    #: underscore), in the order :meth:`to_original` returns them.
    attributes = ()
    #: Whether the objective holds the x-marginal term (the joint likelihood of
    #: a gate whose scores are log-densities of x; see the module docstring).
    marginal = False
    #: The likelihood the gate is fitted by: ``"conditional"`` (of y given x),
    #: or ``"joint"`` (of ``(x, y)``, for a gate with an x-marginal).
    likelihood = "conditional"

    # ------------------------------------------------------------ structure
    def n_block(self, n_features):
        """Number ``m`` of parameters of one expert's block."""
        raise NotImplementedError

    def block_names(self, n_features):
        """Names of the ``m`` coordinates of a block (for tables)."""
        raise NotImplementedError

    def gauge(self, n_features):
        """Coordinates whose common translation (the same ``t`` added to that
        coordinate of every block) leaves every gate weight unchanged:
        ``(m,)`` bool.  The engine holds them at zero for the last expert (the
        reference)."""
        raise NotImplementedError

    def groups(self, n_experts):
        """Groups of experts whose weights are normalised separately, as
        ``(group, log_mass)``: ``group`` (k,) int, the group of each expert,
        ``log_mass`` (G,) the log of each group's fixed total weight (summing
        to 1), so that ``log pi_i = log_mass[g] + s_i - logsumexp_{j in g} s_j``
        (:func:`log_softmax_groups`).  None (the default): one group of mass 1,
        the softmax over every expert."""
        return None

    def translations(self, n_experts, n_features):
        """The common translations that leave every weight unchanged, as a list
        of ``(experts, coordinates)``: adding the same ``t`` to the
        ``coordinates`` ((m,) bool) of the blocks of every expert in ``experts``
        (int array); the engine holds them at zero for the LAST of ``experts``
        (its reference).  The default: every expert and the :meth:`gauge`."""
        return [(np.arange(n_experts), np.asarray(self.gauge(n_features), bool))]

    def fixed_coordinates(self, n_experts, n_features):
        """Block coordinates held at zero, (k, m) bool: none by default (a gate
        whose experts have blocks of different sizes pads the smaller ones)."""
        return np.zeros((n_experts, self.n_block(n_features)), dtype=bool)

    def shared_mask(self, n_experts):
        """(k,) bool: the experts whose weights do not depend on x and which
        every sample uses (shared experts); none by default."""
        return np.zeros(n_experts, dtype=bool)

    def identified_gate(self):
        """The gate in the parameters its likelihood identifies: a gate with the
        same weights whose blocks are identified up to its own :meth:`gauge` (a
        common translation), whose :meth:`from_original` reads THIS gate's
        fitted attributes (data's units) and whose :meth:`to_original` maps its
        blocks back to them, relative to the last block's gauge coordinates.
        The default is the gate itself; a gate with a curved set of equivalent
        blocks returns a reparametrisation that makes it a translation (the
        cosine gate: the softmax gate on ``x / (|x| + theta)``).  The mixing
        measure's atoms and gauge are the identified gate's."""
        return self

    def kinks(self, Z):
        """Block coordinates in which the scores have kinks at the samples, as
        ``{a: positions}``: ``positions`` (n,) holds, for every sample, the value
        of coordinate ``a`` of a block at which that sample's score has a kink
        whose one-sided slopes are ``-1`` (right) and ``+1`` (left), as
        ``-|w - x|`` at ``w = x``.  None (the default): smooth scores.  The
        Newton finish certifies a fit that stalls at such a kink through the
        one-sided derivatives there (:func:`gmoe.engine._newton.kink_certificate`)."""
        return None

    def summary_gate(self):
        """The gate whose blocks the parameter table of
        :meth:`gmoe.GaussianMoERegressor.summary` reports: one with the same
        weights whose blocks the likelihood identifies (after the reference's
        gauge), and whose :meth:`from_original` reads THIS gate's fitted
        attributes.  The default is :meth:`identified_gate`; a gate whose
        parameters have no Wald theory raises a ValueError that says why."""
        return self.identified_gate()

    def n_parameters(self, n_experts, n_features):
        """Free parameters of the gate: every block but the gauge coordinates of
        the reference; none with a single expert, whose weight is 1."""
        if n_experts == 1:
            return 0
        return (n_experts * self.n_block(n_features)
                - int(np.sum(self.gauge(n_features))))

    # ----------------------------------------------------------------- units
    def features(self, X, scaling):
        """The covariates the scores read, from the data's ``X`` (n, d) and the
        fit's standardisation (``scaling.x_mean``, ``scaling.x_scale``).  The
        default, the standardised covariates, suits gates whose family is
        closed under affine maps of x."""
        return (X - scaling.x_mean) / scaling.x_scale

    def to_original(self, blocks, scaling):
        """The fitted attributes (a dict keyed by :attr:`attributes`) from the
        blocks (k, m), in the data's units and in reference form."""
        raise NotImplementedError

    def from_original(self, values, scaling):
        """Blocks (k, m) from a dict of the fitted attributes (any reference)."""
        raise NotImplementedError

    def flat(self, n_experts, Z):
        """Blocks of a gate that gives every expert the same weight, the start
        of the gate's fit (``Z`` are the :meth:`features`)."""
        return np.zeros((n_experts, self.n_block(Z.shape[1])))

    def check_data(self, X):
        """Raise a ValueError when the gate cannot be fitted on ``X`` (the data's
        units); the default accepts any finite X."""

    def prepare(self, Z, w):
        """The gate a fit on the features ``Z`` (n, d) with sample weights ``w``
        (n,) uses: the gate with any constant that depends on the data fixed
        (the Laplace gate's bandwidth).  The default: the gate itself."""
        return self

    def exact_curvature(self):
        """The gate whose second derivatives are exactly the log-likelihood's
        wherever it is smooth (a gate that spreads a kink's curvature over its
        neighbourhood gives that up; see :meth:`kinks`).  The default: the gate
        itself."""
        return self

    def original_log_weights(self, X, values):
        """``log pi_i(x_n)``, shape ``(n, k)``, from X and the fitted attributes
        (a dict keyed by :attr:`attributes`), both in the data's units."""
        identity = identity_scaling(np.shape(X)[1])
        blocks = self.from_original(values, identity)
        return self.log_weights(self.features(X, identity), blocks)

    def additive_intercept(self):
        """Whether every score is ``f(x; rest of the block) + beta_0i`` with
        ``beta_0i`` the block's first coordinate (then in the gauge): lowering it
        by ``log 2`` halves the expert's gate odds, and two experts with the same
        rest of the block act as one whose intercept is
        ``log(e^beta_0i + e^beta_0j)``.  Default: whether the first coordinate is
        in the gauge."""
        return bool(self.gauge(1)[0])
    def attribute_shapes(self, n_experts, n_features):
        """The shape of each fitted attribute (:attr:`attributes`), to check
        starting values: ``(k,)`` for ``gate_intercept``, ``(k, d)`` for
        ``gate_coef``."""
        shapes = {"gate_intercept": (n_experts,),
                  "gate_coef": (n_experts, n_features)}
        return {name: shapes[name] for name in self.attributes}

    def with_likelihood(self, likelihood):
        """The gate fitted by ``likelihood``: itself for ``"conditional"``; a
        gate without an x-marginal has no joint likelihood (ValueError)."""
        if likelihood == self.likelihood:
            return self
        raise ValueError(
            f"likelihood={likelihood!r} needs a gate whose scores are densities of "
            f"x (gate='gaussian'); gate={self!r} models y given x only. Leave "
            "likelihood='conditional'.")

    # --------------------------------------------------- x-marginal (joint)
    def log_partition(self, blocks, order=0):
        """For a gate with an x-marginal (:attr:`marginal`): ``N(theta) = log
        sum_i integral exp s_i(x) dx`` (float, ``inf`` outside its domain), its
        gradient (k, m) and Hessian (k, k, m, m) up to ``order``."""
        raise NotImplementedError(f"{self!r} has no x-marginal.")

    def m_step(self, blocks, stats, total):
        """The closed-form maximiser of the M-step's gate objective, or None
        (the default: the engine takes Fisher-scoring steps).  ``stats`` (k, m) is
        the gradient the E-step returns (for a gate with an x-marginal,
        ``sum_n w_n tau_ni d s_i(x_n) / d theta_i``), ``total`` the weight."""
        return None

    def screening_gate(self):
        """The gate whose EM screens the starts of a search (itself by default):
        another likelihood on the same blocks, whose end points are then ranked
        by this gate's likelihood and refined by it."""
        return self

    def x_log_density(self, X, values):
        """``log f(x_n)`` (n,) of the mixture on x that the fitted attributes
        ``values`` define (data's units), or None for a gate that defines none."""
        return None

    def mixing_measure(self, values):
        """The mixing measure of a fit (``values``: the gate's and the experts'
        fitted attributes), or None when the gate has no measure of its own."""
        return None

    # ---------------------------------------------------------------- scores
    def linear_design(self, Z):
        """``(Zt, link)`` when the scores are ``h(theta_i . zt)`` for a design
        ``Zt`` (n, m) and a link named in :data:`gmoe.kernels._sources.LINKS`
        (the compiled kernels then compute scores and derivatives themselves);
        None for any other gate."""
        return None

    def compiled_form(self, Z):
        """``(design, form, constant)`` when the compiled kernels compute the
        scores and their derivatives themselves: ``form`` a name of
        :data:`gmoe.kernels._sources.FORMS`, with its ``design`` (n, .) and
        ``constant``; None when they take the arrays of
        :meth:`score_derivatives`.  The default: the :meth:`linear_design`."""
        linear = self.linear_design(Z)
        return None if linear is None else (linear[0], linear[1], 0.0)

    def score_derivatives(self, Z, blocks, order=2):
        """Scores and their derivatives with respect to each expert's block.

        Parameters
        ----------
        Z : ndarray of shape (n, d)
            The :meth:`features`.
        blocks : ndarray of shape (k, m)
        order : {0, 1, 2}

        Returns
        -------
        S : ndarray of shape (n, k)
        D1 : ndarray of shape (n, k, m) or None
            ``D1[n, i] = d s_i(z_n) / d theta_i`` (``order >= 1``).
        D2 : ndarray of shape (n, k, m, m) or None
            ``D2[n, i] = d^2 s_i(z_n) / d theta_i^2`` (``order == 2``); None
            when the scores are linear in the blocks.
        """
        raise NotImplementedError

    def scores(self, Z, blocks):
        """Scores ``s_i(z_n)``, shape ``(n, k)``."""
        return self.score_derivatives(Z, blocks, order=0)[0]

    def active(self, S):
        """Experts each sample's weight is spread over: ``(n, k)`` bool, or None
        (every expert: a dense gate)."""
        return None

    def selection(self):
        """A sparse gate's selection as the compiled kernels know it:
        ``(name, parameter)`` with a name of
        :data:`gmoe.kernels._sources.SELECTIONS` (the kernels then select
        themselves, sample by sample, as :meth:`active` does), or None (a dense
        gate, or a selection only :meth:`active` computes)."""
        return None

    def boundary(self, S, towards=None):
        """For a sparse gate: the boundary of each sample's selection nearest to
        the scores ``S`` (n, k), or, where ``towards`` (n, k) bool differs from
        the selection, the boundary on the way to that selection, as
        ``(margin, dmargin, other)``.

        ``margin`` (n,) is non-negative on the sample's side of the boundary and
        zero on it; ``dmargin`` (n, k) its gradient with respect to the scores;
        ``other`` (n, k) bool the selection just across.  The piecewise fit
        (:mod:`gmoe.engine._pieces`) holds the margins of the samples it must not move
        across, and checks that crossing lowers the likelihood."""
        raise NotImplementedError(f"{self!r} is a dense gate: no boundary.")

    def log_weights(self, Z, blocks):
        """``log pi_i(z_n)``, shape ``(n, k)`` (``-inf`` outside the active set)."""
        S = self.scores(Z, blocks)
        groups = self.groups(S.shape[1])
        if groups is not None:
            return log_softmax_groups(S, *groups)
        return log_softmax_active(S, self.active(S))

    def __repr__(self):
        return f"{type(self).__name__}()"


def log_softmax_active(S, active=None):
    """Row-wise log-softmax of the scores over the active experts.

    Parameters
    ----------
    S : ndarray of shape (n, k)
    active : ndarray of shape (n, k), dtype=bool, or None

    Returns
    -------
    log_pi : ndarray of shape (n, k)
        ``-inf`` where ``active`` is False.

    Examples
    --------
    >>> import numpy as np
    >>> log_softmax_active(np.zeros((1, 2))).round(4)
    array([[-0.6931, -0.6931]])
    >>> np.exp(log_softmax_active(np.array([[0.0, 1.0, 2.0]]),
    ...                           np.array([[False, True, True]]))).round(3)
    array([[0.   , 0.269, 0.731]])
    """
    S = np.asarray(S, dtype=float)
    if active is not None:
        S = np.where(active, S, -np.inf)
    top = np.max(S, axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        shifted = S - top
    return shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))


def log_softmax_groups(S, group, log_mass):
    """Row-wise log-softmax within groups of experts of fixed total weights.

    .. math::

        \\log \\pi_i = \\log m_{g(i)} + s_i - \\log \\sum_{j: g(j) = g(i)} e^{s_j}

    Parameters
    ----------
    S : ndarray of shape (n, k)
    group : ndarray of shape (k,), dtype=int
        The group of each expert, ``0 .. G - 1``.
    log_mass : ndarray of shape (G,)
        ``log m_g``, the logs of the groups' total weights (summing to 1).

    Returns
    -------
    log_pi : ndarray of shape (n, k)

    Examples
    --------
    >>> import numpy as np
    >>> S = np.array([[0.0, 0.0, 1.0]])
    >>> np.exp(log_softmax_groups(S, np.array([0, 1, 1]), np.log([0.5, 0.5]))).round(3)
    array([[0.5  , 0.134, 0.366]])
    """
    S = np.asarray(S, dtype=float)
    out = np.empty_like(S)
    for g, mass in enumerate(log_mass):
        cols = np.flatnonzero(np.asarray(group) == g)
        out[:, cols] = mass + log_softmax_active(S[:, cols])
    return out
