"""The expert-family interface: what the fitting engine asks of the experts.

A mixture of experts of ``k`` experts on a design ``xt = (1, z)`` of ``p``
columns has, for the engine, per-expert coordinates

.. math::

    (c_i, \\log \\sigma_i), \\qquad c_i \\in \\mathbb{R}^p,\\ i = 0, \\dots, k - 1,

the expert rows and log-variances of Gaussian experts ``N(y; c_i' xt,
sigma_i)``: the compiled passes compute the densities, the log-likelihood, its
gradient and exact Hessian in them (the "full" expert coordinates, laid out as
``coef`` row by row, then the ``k`` log-variances).  An expert family says
which of these coordinates are free: a LINEAR map

.. math::

    (c_0, \\dots, c_{k-1}, \\log\\sigma_0, \\dots, \\log\\sigma_{k-1})
    = J \\, \\eta, \\qquad J \\in \\mathbb{R}^{k(p+1) \\times q},

from its ``q`` free parameters ``eta`` (:meth:`ExpertFamily.jacobian`).  The
engine then works with ``eta``: the gradient of the objective over it is
``J' g`` and its Hessian ``J' H J`` (``g``, ``H`` over the full coordinates;
:meth:`ExpertFamily.free_rows`), and the inference its covariance.  The family
also owns the closed-form M-step from the E-step's weighted statistics
(:meth:`ExpertFamily.m_step`), the count of its parameters for BIC/AIC
(:meth:`ExpertFamily.n_parameters`) and the labels of its free parameters
(:meth:`ExpertFamily.free_layout`).

This is the pattern of statsmodels' GLM families behind one IRLS engine and of
flexmix's driver and its ``FLXM`` expert models (Leisch 2004, Journal of
Statistical Software 11(8); Gruen and Leisch 2008, 28(4)): the engine never
asks which family it has.
"""

import numpy as np

#: An expert whose total responsibility is below this fraction of the total sample
#: weight keeps its previous expert parameters in the M-step (its least-squares
#: problem carries no information); it is never removed.
EMPTY_EXPERT_FRACTION = 1e-12


class ExpertFamily:
    """Base class of the expert families: the experts' free parameters and M-step.

    A subclass sets :attr:`name` and implements :meth:`n_free`,
    :meth:`jacobian`, :meth:`to_free`, :meth:`from_free`, :meth:`free_layout`
    and :meth:`m_step`; it may override :meth:`check`, :meth:`for_features`,
    :meth:`project`,
    :meth:`free_bounds`, :meth:`n_parameters` and :meth:`summary_note`.  The
    engine uses the generic :meth:`free_rows` to write its derivatives over the
    free parameters.

    The free-parameter vector of the engine is the gate's free coordinates
    (``n_gate`` of them) followed by the family's ``q = n_free(k, p)``
    parameters; the full vector the compiled passes differentiate is the gate's
    followed by the ``k (p + 1)`` full expert coordinates (see the module
    docstring).

    Examples
    --------
    >>> import numpy as np
    >>> from gmoe.experts import ExpertFamily, GaussianLinear
    >>> family = GaussianLinear(shared_variance=True)
    >>> isinstance(family, ExpertFamily), family.n_free(2, 2)
    (True, 5)
    >>> coef, var = family.from_free(np.array([0.0, 1.0, 2.0, 3.0, 0.0]), 2, 2)
    >>> var
    array([1., 1.])
    >>> family.free_layout(2, 2)[0]   # the variance is every expert's: -1
    array([ 0,  0,  1,  1, -1])
    """

    #: Short name, as accepted by ``GaussianMoERegressor(experts=...)``.
    name = "experts"
    #: Names of the estimator's fitted expert attributes (without the trailing
    #: underscore).
    attributes = ("expert_intercept", "expert_coef", "expert_variance")
    #: Whether :meth:`jacobian` is the identity (every full coordinate free):
    #: the engine then skips the products.
    identity = False

    # ------------------------------------------------------------ structure
    def check(self):
        """Raise a ValueError that says what to fix when the options are bad
        (called by :func:`gmoe.experts.get_experts`, at fit time)."""

    def for_features(self, n_features, feature_names=None):
        """The family bound to the data: options that name features (indices
        or, with ``feature_names`` the columns of a DataFrame, names) checked
        against ``n_features`` and resolved to column indices; a ValueError
        says what to fix (the default: nothing to bind, the family itself)."""
        return self

    def n_free(self, k, p):
        """Number ``q`` of free expert parameters of ``k`` experts on ``p``
        design columns."""
        raise NotImplementedError

    def jacobian(self, k, p):
        """The linear map ``J`` (k (p + 1), q) from the free parameters to the
        full expert coordinates (coef row by row, then the log-variances)."""
        raise NotImplementedError

    def to_free(self, coef, var):
        """The free parameters (q,) of experts ``coef`` (k, p), ``var`` (k,): a
        left inverse of :meth:`jacobian` (exact on its range)."""
        raise NotImplementedError

    def from_free(self, eta, k, p):
        """``coef`` (k, p) and ``var`` (k,) of the free parameters ``eta``."""
        raise NotImplementedError

    def free_layout(self, k, p):
        """For each free parameter: its expert (``-1`` for a parameter every
        expert shares), kind (``"coef"`` or ``"logvar"``) and coordinate, as
        three arrays of length q (the labels of the inference)."""
        raise NotImplementedError

    def m_step(self, A, B, C, coef, var, var_lower, var_upper, total):
        """The experts maximising the M-step objective
        ``sum_n w_n sum_i tau_ni log N(y_n; c_i' x_n, sigma_i)`` within the
        variance bounds, from its weighted statistics ``A`` (k, p, p) ``= sum w
        tau x x'``, ``B`` (k, p) ``= sum w tau y x``, ``C`` (k,) ``= sum w tau
        y^2``; ``coef``, ``var`` the current experts (kept for an empty
        expert), ``total`` the total sample weight.  Returns ``coef``, ``var``."""
        raise NotImplementedError

    def n_parameters(self, n_experts, n_features):
        """Free parameters of the experts (what BIC and AIC count)."""
        return self.n_free(n_experts, n_features + 1)

    def project(self, coef, var, var_lower, var_upper):
        """The nearest experts the family allows, variances within the bounds
        (the default: variances clipped)."""
        return np.array(coef, dtype=float), np.clip(var, var_lower, var_upper)

    def free_bounds(self, k, p, var_lower, var_upper):
        """Lower and upper bounds (q,) of the free parameters: those of the
        log-variances, none for the others."""
        _, kind, _ = self.free_layout(k, p)
        lo = np.full(kind.size, -np.inf)
        hi = np.full(kind.size, np.inf)
        logvar = kind == "logvar"
        lo[logvar] = np.log(var_lower)
        hi[logvar] = np.log(var_upper) if np.isfinite(var_upper) else np.inf
        return lo, hi

    def summary_note(self, feature_labels=None):
        """A note for the parameter table (None: nothing to say);
        ``feature_labels`` name the columns of X (default: their indices)."""
        return None

    # -------------------------------------------------- the engine's use
    def free_rows(self, rows, n_gate, k, p):
        """``rows @ blockdiag(I_n_gate, J)``: derivatives over the gate's free
        coordinates and the full expert coordinates (last axis of length
        ``n_gate + k (p + 1)``) written over the free parameters (last axis
        ``n_gate + q``).  For a Hessian ``H`` the free one is
        ``free_rows(free_rows(H).T)``, that is ``J' H J``.

        Examples
        --------
        >>> import numpy as np
        >>> from gmoe.experts import GaussianLinear
        >>> rows = np.arange(7.0)[None, :]          # 1 gate, 2 experts, p = 2
        >>> GaussianLinear(shared_variance=True).free_rows(rows, 1, 2, 2)
        array([[ 0.,  1.,  2.,  3.,  4., 11.]])
        """
        if self.identity:
            return rows
        J = self.jacobian(k, p)
        gate = rows[..., :n_gate]
        return np.concatenate([gate, rows[..., n_gate:] @ J], axis=-1)

    def __eq__(self, other):
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(vars(self).items()))))

    def __repr__(self):
        return f"{type(self).__name__}()"
