"""The scikit-learn estimator: ``GaussianMoERegressor``."""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    validate_data,
)

from gmoe.engine._gated_model import GatedGaussianMoE
from gmoe.engine._model import MoEParams, SoftmaxGaussianMoE
from gmoe.engine._search import (
    _irregular_experts,
    _separated_pairs,
    refine,
    regular_floor,
    regularity,
    run_search,
)
from gmoe.engine._solvers import SOLVERS, SolverOptions
from gmoe.engine._starts import INITIALIZERS
from gmoe.estimator._fitted import FittedMixtureMixin
from gmoe.estimator._validation import (
    _ALL_GATE_ATTRIBUTES,
    EXPERT_PARAM_NAMES,
    _check_init_dict,
    check_balance,
    grouped_expert_order,
    resolve_experts,
    resolve_gate,
)
from gmoe.estimator._warnings import warn_about_fit
from gmoe.experts import EXPERT_FAMILIES, ExpertFamily
from gmoe.gates import GATES, Gate, Softmax
from gmoe.model._conditional import ConditionalMixture
from gmoe.model._order import canonical_rows
from gmoe.model._scaling import _Scaling


class GaussianMoERegressor(FittedMixtureMixin, ConditionalMixture, RegressorMixin,
                           BaseEstimator):
    """Gated mixture of Gaussian linear experts (softmax gate by default), fitted
    by maximum likelihood.

    The conditional density of ``y`` given ``x`` (d features) is

    .. math::

        g(y \\mid x) = \\sum_{i=1}^{k} \\pi_i(x)\\,
            \\mathcal N\\!\\left(y;\\, a_i^\\top x + b_i,\\, \\sigma_i\\right),
        \\qquad
        \\pi_i(x) = \\frac{\\exp(\\beta_{1i}^\\top x + \\beta_{0i})}
                         {\\sum_j \\exp(\\beta_{1j}^\\top x + \\beta_{0j})},

    with :math:`\\sigma_i` a variance.  The parameters maximise the weighted
    conditional log-likelihood :math:`\\sum_n w_n \\log g(y_n \\mid x_n)`, found by
    EM: a fused, compiled E-step; weighted least squares for the experts; a Newton
    (IRLS) step with the full Hessian and step halving for the gate.  X and y are
    standardised internally and every fitted parameter is reported in the original
    units.  No expert is ever dropped: an expert whose weight vanishes keeps finite
    parameters (see ``degenerate_experts_``).

    Parameters
    ----------
    n_experts : int, default=2
        Number of experts ``k``.
    solver : {"newton", "em"}, default="newton"
        ``"newton"``: EM as a warm-up (stopped by ``tol``), then damped Newton
        steps on all parameters with the exact Hessian until the gradient vanishes
        (``gtol``): the fit ends at a stationary point of the likelihood.
        ``"em"``: EM only, stopped by ``tol`` (as in the EM-based papers).
    max_iter : int, default=1000
        Maximum number of iterations of each phase (EM, Newton) per start.
    tol : float, default=1e-6
        EM stops when the mean log-likelihood per unit of sample weight changes by
        at most ``tol`` between two iterations.
    gtol : float, default=1e-8
        Newton stops when the largest entry of the gradient of the log-likelihood
        (standardised parameters; entries held at a bound excluded) divided by the
        total sample weight is at most ``gtol``.
    n_init : int or None, default=None
        Number of starts; each draws its own seed from ``random_state``.  The
        best regular start (see ``degenerate_experts_``) is kept.  None: 30, or
        60 on at most 2000 samples, where starts are cheap.
    init_params : {"auto", "kmeans", "lines", "local", "partition", "random"} \
            or dict, default="auto"
        How a start is made.  ``"kmeans"``: k-means on the standardised ``(X, y)``
        gives hard responsibilities.  ``"lines"``: each expert a line through
        ``d + 2`` random samples, each sample to the closest line.  ``"local"``:
        each expert a line through a random sample's neighbourhood.
        ``"partition"``: a random partition.  ``"random"``: uniform random
        responsibilities.  ``"auto"``: the starts cycle through these kinds.  All
        are followed by one M-step.  A dict (or a
        :class:`gmoe.MixingMeasure`) with the keys ``gate_intercept`` (k,),
        ``gate_coef`` (k, d), ``expert_intercept`` (k,), ``expert_coef`` (k, d) and
        ``expert_variance`` (k,), in the original units, starts EM there (every
        start is then the same).
    n_screen_iter : int, default=50
        With more than ``n_refine`` starts, each start first gets
        ``n_screen_iter`` EM iterations, and only the ``n_refine`` most promising
        (regular first, then by log-likelihood) are run to the end ("emEM").
    n_refine : int or None, default=None
        Number of screened starts run to the end.  None: 10, or 20 on at most
        2000 samples.
    n_split_merge : int or None, default=None
        Rounds of moves from the best, then the second best distinct end of the
        search (the better result kept).  A round tries every merge of two
        experts with a split of a third (SMEM, Ueda et al. 2000), runs the 3
        most promising to the end and keeps the best if it beats the fit; then
        sweeps of sample moves (samples across a sharp gate step, into or out of
        a small expert, a small expert seated on the samples tightest along a
        line) while one gains.  They find optima that random starts miss (one
        expert across two regimes, a gate step or a small expert a few samples
        off).  None: 1 round with the default search (``n_init=None``) on at
        most 2000 samples, none otherwise (an explicit ``n_init`` gets no
        moves unless asked).
    reg_variance : float, default=1e-6
        Floor of the expert variances, as a fraction of the (weighted) variance of
        y.  Keeps EM finite when an expert collapses onto a few points.
    variance_bounds : (float, float) or None, default=None
        Lower and upper bounds of the expert variances, in the units of y
        squared (the floor ``reg_variance`` still applies).
    gate_bound : float, array-like of shape (n_features,) or None, default=None
        Bound of the absolute gate slopes :math:`|\\beta_{1i}|` (reference form,
        units of the features): the compact parameter set of the theory.
    gate_penalty : float, default=0
        Ridge penalty :math:`\\alpha` on the gate slopes (standardised units):
        the fit maximises :math:`\\ell - \\alpha/2 \\sum_i \\lVert
        \\beta_{1i} \\rVert^2`, which is finite even when the gate separates
        the experts.
    balance_penalty : float, default=0
        Weight :math:`\\alpha` of a load-balancing penalty: the fit maximises
        :math:`\\ell / W - \\alpha \\sum_i P_i \\log(k P_i)`, ``P`` the mean
        gate weights (KL from equal loads: smooth, 0 at balance, convex, at
        most :math:`\\log k`; see :ref:`user-guide-load-balancing`).  Dense
        gates only; ``objective_`` is the penalised value.
    top_k : int or None, default=None
        ``None``: the dense softmax gate.  An int ``K`` with ``1 <= K <=
        n_experts``: the top-K sparse softmax gate [N24k]_, whose weight of expert
        ``i`` at ``x`` is the softmax of the ``K`` largest gate scores
        :math:`s_j(x) = \\beta_{0j} + \\beta_{1j}^\\top x`, restricted to them,
        and 0 for the other experts (ties broken by the lower expert index).
        ``K == n_experts`` is the dense gate.  The shorthand of
        ``gate=gmoe.gates.TopK(K)``.  The fit maximises the likelihood of
        this model: a generalised EM whose gate step holds each sample's top-K
        set fixed and is kept only if the log-likelihood does not decrease, then
        (``solver="newton"``) Newton steps on the smooth piece of the current
        top-K sets that hold the samples at the boundaries they must not cross;
        ``converged_`` then means a Karush-Kuhn-Tucker point of its piece from
        which no crossing gains (see the theory page of the gates).  With
        ``K = 1`` the gate's gradient vanishes (a hard partition): the gate
        keeps the regions of its start.
    random_state : int, RandomState instance or None, default=None
        Seeds the starts.  A fixed value makes ``fit`` deterministic (also across
        numbers of threads).
    warm_start : bool, default=False
        If True and the model is fitted, ``fit`` starts from the fitted parameters
        (``n_init`` and ``init_params`` are ignored): a fit with ``max_iter=m`` and
        a warm-started one with ``max_iter=m'`` equal one fit with
        ``max_iter=m + m'``.
    accelerate : bool, default=False
        Accelerate EM by SQUAREM extrapolation [VR08]_: each
        iteration is then a cycle of two EM iterations, an extrapolation along
        their differences and one more EM iteration, kept only if it does not lower
        the log-likelihood (3 or 4 passes over the data).  Worth it where EM
        creeps, as in over-fitted models run to a tight ``tol``; it may reach a
        different local maximum than plain EM from the same start.  ``max_iter``,
        ``n_iter_`` and the trace then count cycles.
    verbose : int, default=0
        1 prints a line per start, 2 also one per EM iteration.
    gate : str or gmoe.gates.Gate, default="softmax"
        The gate: a name of :data:`gmoe.gates.GATES` (``"softmax"``,
        ``"constant"`` for the mixture of linear regressions, ``"sigmoid"``,
        ``"cosine"``, ``"laplace"``, ``"top_k"``, ``"top_p"``), a gate object
        such as ``gmoe.gates.Cosine(perturbation=0.05)`` or
        ``gmoe.gates.TopP(0.8)``, or ``"gaussian"``.  Every gate is fitted by
        the same engine (see :ref:`user_gates`); its parameters are reported as
        ``gate_intercept_`` and, where the scores read x, ``gate_coef_``
        (slopes, cosine directions or Laplace centres), in reference form where
        the gate has one.  ``"gaussian"``: the Gaussian gate of [N24g]_,
        :math:`\\pi_i(x) \\propto \\pi_i N(x; c_i, \\Gamma_i)`
        (:class:`gmoe.gates.Gaussian`, see :ref:`theory-gaussian-gate`),
        reported as ``gate_weight_``, ``gate_mean_`` and ``gate_covariance_``.
        ``top_k``, ``gate_bound`` and ``gate_penalty`` apply to the softmax gate
        only.
    likelihood : {"conditional", "joint"}, default="conditional"
        With ``gate="gaussian"``: maximise the conditional likelihood of y given
        x (the gate parameters reported are the representative whose Gaussian
        mixture has the mean and second moment of X), or the joint likelihood of
        ``(x, y)``, x drawn from the gate's Gaussian mixture (the estimator of
        [N24g]_'s code; ``solver``, ``converged_`` and ``gradient_norm_`` then
        refer to the joint likelihood).  Shorthand for
        ``gate=gmoe.gates.Gaussian(likelihood)``; other gates have only the
        conditional likelihood.
    experts : {"gaussian_linear"} or gmoe.experts.ExpertFamily, \
default="gaussian_linear"
        The experts' family: Gaussian linear experts, each with its own variance;
        ``gmoe.experts.GaussianLinear(shared_variance=True)`` for one variance
        shared by the experts (see :ref:`user-guide-experts`).
    shared_features : list of int or str, or None, default=None
        Features (indices, or names of a DataFrame's columns) whose coefficient
        is common to every expert; shorthand (with ``shared_variance``) for
        ``experts=gmoe.experts.GaussianLinear(shared_features, shared_variance)``.
    shared_variance : bool, default=False
        One variance shared by the experts (see ``shared_features``).
    n_shared_experts : int, default=0
        Shared experts ``k1`` (arXiv 2505.10860, eq. 1): experts of constant weights
        :math:`c\\,\\omega_i` beside the ``n_experts`` routed by ``gate`` (a dense
        gate), whose weights are :math:`(1 - c)\\,g_i(x)`
        (:class:`gmoe.gates.SharedRouted`).  The shared experts come first in
        the fitted arrays; ``0`` is the plain model.
    shared_fraction : float, default=0.5
        The total weight ``c`` of the shared experts, ``0 < c < 1`` (the paper
        fixes ``1/2``).

    Attributes
    ----------
    gate_ : gmoe.gates.Gate
        The fitted gate (absent for the Gaussian gate).
    experts_ : gmoe.experts.ExpertFamily
        The fitted expert family.
    gate_coef_ : ndarray of shape (n_experts, n_features)
        Gate slopes :math:`\\beta_{1i}` (absent for the constant gate; the
        directions of the cosine gate, the centres of the Laplace gate).
    shared_weights_ : ndarray of shape (n_shared_experts,)
        With shared experts only: their weights :math:`\\omega_i` (summing to 1);
        every other array then covers the ``n_shared_experts + n_experts``
        experts, shared first, except the routed gate's, over the routed ones.
    gate_intercept_ : ndarray of shape (n_experts,)
        Gate intercepts :math:`\\beta_{0i}`.  The gate is identified only up to a
        common translation of all ``(beta_0i, beta_1i)``; the canonical form
        reported here takes the LAST expert as reference:
        ``gate_intercept_[-1] == 0`` and ``gate_coef_[-1] == 0`` (the
        normalised sigmoid gate has no reference: every row is free).  The
        experts come in a canonical order, by increasing ``expert_weight_``, so
        the reference is the largest expert.
    expert_coef_ : ndarray of shape (n_experts, n_features)
        Expert slopes :math:`a_i`.
    expert_intercept_ : ndarray of shape (n_experts,)
        Expert intercepts :math:`b_i`.
    expert_variance_ : ndarray of shape (n_experts,)
        Expert noise variances :math:`\\sigma_i` (variances, not standard
        deviations).
    gate_weight_, gate_mean_, gate_covariance_ : ndarray
        With ``gate="gaussian"`` only: :math:`\\pi_i` (n_experts,), :math:`c_i`
        (n_experts, n_features) and :math:`\\Gamma_i` (n_experts, n_features,
        n_features).
    joint_log_likelihood_ : float
        With a gate that defines a density of x (``gate="gaussian"``) only: the
        weighted joint log-likelihood of ``(X, y)`` at the fitted parameters.
    log_likelihood_ : float
        Weighted conditional log-likelihood of the training data at the fitted
        parameters; equals ``score_samples(X, y) @ sample_weight``.
    objective_ : float
        What the fit maximised (data's units): ``log_likelihood_`` minus the
        gate penalties (``gate_penalty``, ``balance_penalty * W * KL(P || u)``).
    log_likelihood_trace_ : ndarray of shape (n_iter_ + 1,)
        Log-likelihood (penalised, with ``gate_penalty`` or
        ``balance_penalty``; the joint one with ``likelihood="joint"``): the
        ``objective_`` at the start and after each EM, then each Newton
        iteration of the kept start.
    n_iter_ : int
        Iterations of the kept start, ``n_iter_em_ + n_iter_newton_``.
    n_iter_em_, n_iter_newton_ : int
        Iterations of each phase.
    converged_ : bool
        With ``solver="newton"``: the kept start reached a stationary point:
        ``gradient_norm_ <= gtol``, or, where rounding stops Newton first, a
        negative definite Hessian with a full Newton step that would gain at
        most 1e-12 of the log-likelihood (a maximum to working precision; the
        gradient is then as small as floating point allows there, and may
        exceed ``gtol`` on badly scaled data); with ``"em"``: it met ``tol``.
        With a sparse gate (top-K, top-P): a Karush-Kuhn-Tucker point of its
        piece, the samples held at their boundaries on them, from which no
        crossing of a boundary raises the likelihood.
    solver_status_ : str
        Why the kept start's solver stopped: ``"tol"`` or ``"max_iter"`` (EM);
        ``"gradient"``, ``"precision"`` (converged), ``"max_iter"``,
        ``"stalled"`` (no step raises the log-likelihood by more than rounding
        error), for a sparse gate ``"boundary"``, ``"held"`` or ``"crawling"``
        (steps from boundary to boundary gaining less than ``tol``), and for a gate
        with kinks ``"kink"`` (converged: the one-sided derivatives at the kinks
        certify the maximum; see the theory of gates) (Newton).
    gradient_norm_ : float
        Largest entry of the gradient (see ``gtol``) at the fitted parameters,
        the gate's reference row included (its gradient is minus the sum of the
        other gate rows'), so that it does not depend on the order of the
        experts.
    separated_experts_ : list of (int, int)
        Pairs of experts the gate separates completely (its MLE does not exist;
        a :class:`GateSeparationWarning` is raised).
    n_split_merge_accepted_ : int
        Moves of any kind that improved the fit after the search (see
        ``n_split_merge``).
    expert_weight_ : ndarray of shape (n_experts,)
        Share of the training weight each expert is responsible for (sums to 1).
    degenerate_experts_ : ndarray of shape (n_experts,), dtype=bool
        Experts whose effective number of samples (``expert_weight_`` times the
        total weight) is below ``n_features + 3`` (their ``n_features + 2``
        parameters and one more), or whose variance sits at the floor, below
        1e-4 times the variance of y, or below the variance ``h**2 / 12`` that
        rounding to the grid of y adds (``h`` the smallest gap between distinct
        values of y: such an expert fits the recording grid).  They are kept,
        with finite parameters, and a warning names them.
    mixing_measure_ : MixingMeasure
        The fitted gate and parameters as a mixing measure, for every dense
        gate (a ``GaussianGateMixingMeasure`` for the Gaussian gate).
    top_k_ : int or None
        ``K`` of the fitted top-K gate (``None``: the dense softmax gate, also
        when ``top_k == n_experts``).  Every prediction method uses it.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, when X has string column names.

    See Also
    --------
    gmoe.MixingMeasure : The fitted parameters as a mixing measure.

    Notes
    -----
    ``score`` is the coefficient of determination :math:`R^2` of ``predict`` (the
    conditional mean), as for every scikit-learn regressor; the log-likelihood is
    ``score_samples``.

    References
    ----------
    .. [JJ94] M. I. Jordan and R. A. Jacobs, "Hierarchical mixtures of experts and
       the EM algorithm", Neural Computation 6(2), 1994.
    .. [N23] H. Nguyen, T. Nguyen, N. Ho, "Demystifying Softmax Gating Function in
       Gaussian Mixture of Experts", NeurIPS 2023.
    .. [N24g] H. Nguyen, T. Nguyen, K. Nguyen, N. Ho, "Towards Convergence Rates
       for Parameter Estimation in Gaussian-gated Mixture of Experts",
       AISTATS 2024.
    .. [N24k] H. Nguyen, P. Akbarian, F. Yan, N. Ho, "Statistical Perspective of
       Top-K Sparse Softmax Gating Mixture of Experts", ICLR 2024, arXiv
       2309.13850.
    .. [VR08] R. Varadhan and C. Roland, "Simple and globally convergent methods
       for accelerating the convergence of any EM algorithm", Scandinavian Journal
       of Statistics 35(2), 2008.

    Examples
    --------
    >>> import numpy as np
    >>> from gmoe import GaussianMoERegressor
    >>> from gmoe.datasets import make_moe_regression
    >>> X, y = make_moe_regression(2000, random_state=0)  # the [N23] truth
    >>> moe = GaussianMoERegressor(n_experts=2, random_state=0).fit(X, y)
    >>> np.sort(moe.expert_coef_.ravel()).round(1)
    array([-19.9,  20.2])
    >>> moe.converged_  # a stationary point: the gradient vanishes
    True
    >>> moe.predict_gate(X[:3]).shape
    (3, 2)
    """

    _parameter_constraints = {
        "n_experts": [Interval(numbers.Integral, 1, None, closed="left")],
        "solver": [StrOptions(set(SOLVERS))],
        "max_iter": [Interval(numbers.Integral, 0, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "gtol": [Interval(numbers.Real, 0, None, closed="left")],
        "n_init": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "init_params": [StrOptions(set(INITIALIZERS) | {"auto"}), dict,
                        HasMethods(["to_params"])],
        "n_screen_iter": [Interval(numbers.Integral, 0, None, closed="left")],
        "n_refine": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "n_split_merge": [Interval(numbers.Integral, 0, None, closed="left"), None],
        "reg_variance": [Interval(numbers.Real, 0, None, closed="neither")],
        "variance_bounds": [None, tuple, list],
        "gate_bound": [None, Interval(numbers.Real, 0, None, closed="neither"),
                       "array-like"],
        "gate_penalty": [Interval(numbers.Real, 0, None, closed="left")],
        "balance_penalty": [Interval(numbers.Real, 0, None, closed="left")],
        "top_k": [None, Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "accelerate": ["boolean"],
        "verbose": ["verbose"],
        "gate": [StrOptions(set(GATES)), Gate],
        "likelihood": [StrOptions({"conditional", "joint"})],
        "experts": [StrOptions(set(EXPERT_FAMILIES)), ExpertFamily],
        "shared_features": [None, "array-like"],
        "shared_variance": ["boolean"],
        "n_shared_experts": [Interval(numbers.Integral, 0, None, closed="left")],
        "shared_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
    }

    def __init__(
        self,
        n_experts=2,
        *,
        solver="newton",
        max_iter=1000,
        tol=1e-6,
        gtol=1e-8,
        n_init=None,
        init_params="auto",
        n_screen_iter=50,
        n_refine=None,
        n_split_merge=None,
        reg_variance=1e-6,
        variance_bounds=None,
        gate_bound=None,
        gate_penalty=0.0,
        balance_penalty=0.0,
        top_k=None,
        random_state=None,
        warm_start=False,
        accelerate=False,
        verbose=0,
        gate="softmax",
        likelihood="conditional",
        experts="gaussian_linear",
        shared_features=None,
        shared_variance=False,
        n_shared_experts=0,
        shared_fraction=0.5,
    ):
        self.n_experts = n_experts
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.gtol = gtol
        self.n_init = n_init
        self.init_params = init_params
        self.n_screen_iter = n_screen_iter
        self.n_refine = n_refine
        self.n_split_merge = n_split_merge
        self.reg_variance = reg_variance
        self.variance_bounds = variance_bounds
        self.gate_bound = gate_bound
        self.gate_penalty = gate_penalty
        self.balance_penalty = balance_penalty
        self.top_k = top_k
        self.random_state = random_state
        self.warm_start = warm_start
        self.accelerate = accelerate
        self.verbose = verbose
        self.gate = gate
        self.likelihood = likelihood
        self.experts = experts
        self.shared_features = shared_features
        self.shared_variance = shared_variance
        self.n_shared_experts = n_shared_experts
        self.shared_fraction = shared_fraction

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y, sample_weight=None):
        """Fit the model by maximum likelihood.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Covariates.  Finite values only.
        y : array-like of shape (n_samples,)
            Responses.  Finite values only.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, not all zero; a weight of 2 counts a sample twice.

        Returns
        -------
        self : GaussianMoERegressor
            The fitted estimator.

        Raises
        ------
        ValueError
            On bad input or parameters.  A model that was fitted before is left as
            it was.
        """
        state = self.__dict__.copy()
        try:
            return self._fit(X, y, sample_weight)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(state)
            raise

    def _check_bounds(self, scaling, n_features):
        """Variance bounds and gate bound in standardised units."""
        var_lower, var_upper = self.reg_variance, np.inf
        if self.variance_bounds is not None:
            bounds = np.asarray(self.variance_bounds, dtype=float)
            if bounds.shape != (2,) or np.isnan(bounds).any():
                raise ValueError(
                    "variance_bounds must be a pair (lower, upper) of variances in "
                    f"the units of y squared; got {self.variance_bounds!r}.")
            lower, upper = bounds / scaling.y_scale**2
            if not (0 <= lower < upper):
                raise ValueError(
                    "variance_bounds must satisfy 0 <= lower < upper; got "
                    f"{self.variance_bounds!r}.")
            var_lower, var_upper = max(var_lower, lower), upper
            if var_lower >= var_upper:
                raise ValueError(
                    f"variance_bounds upper={self.variance_bounds[1]!r} is below the "
                    "variance floor set by reg_variance (a fraction of the variance "
                    "of y); raise the upper bound or lower reg_variance.")
        gate_bound = None
        if self.gate_bound is not None:
            bound = np.broadcast_to(np.asarray(self.gate_bound, dtype=float),
                                    (n_features,)) if np.ndim(self.gate_bound) == 0 \
                else np.asarray(self.gate_bound, dtype=float)
            if bound.shape != (n_features,) or not np.all(bound > 0):
                raise ValueError(
                    "gate_bound must be a positive number or one positive number per "
                    f"feature ({n_features}); got {self.gate_bound!r}.")
            gate_bound = bound * scaling.x_scale
        return var_lower, var_upper, gate_bound

    def _fit(self, X, y, sample_weight):
        self._validate_params()
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64,
                             order="C")
        w = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                 ensure_non_negative=True)
        if not np.all(np.isfinite(w)):
            raise ValueError("sample_weight contains NaN or infinity.")
        if not w.sum() > 0:
            raise ValueError("sample_weight sums to zero; give at least one sample "
                             "a positive weight.")
        k = self.n_experts + self.n_shared_experts
        n_positive = int(np.count_nonzero(w))
        if n_positive < k:
            raise ValueError(
                f"n_samples={n_positive} (with positive weight) is smaller than "
                f"n_experts={k}; use fewer experts or more data."
            )
        # the fit sees the data as a weighted set of distinct rows in a canonical
        # order: shuffled rows, and integer weights or repeated rows, fit the same
        X, y, w = canonical_rows(X, y, w)
        n_samples, n_features = X.shape
        if n_samples < k:
            raise ValueError(
                f"X and y hold {n_samples} distinct rows (with positive weight), "
                f"fewer than n_experts={k}; use fewer experts or more data.")
        gate, top_k = resolve_gate(self, k, X)
        experts = resolve_experts(self.experts, self.shared_features,
                                  self.shared_variance, n_features,
                                  getattr(self, "feature_names_in_", None))
        softmax = type(gate) is Softmax
        balance = check_balance(self.balance_penalty, gate, k)
        names = gate.attributes + EXPERT_PARAM_NAMES
        init = self.init_params
        if not isinstance(init, str):
            init = _check_init_dict(init, k, n_features, names, gate)
        warm = (self.warm_start and hasattr(self, "expert_variance_")
                and getattr(self, "gate_", None) is not None
                and type(self.gate_) is type(gate))
        if warm and self.expert_variance_.shape != (k,):
            raise ValueError(
                f"warm_start: the fitted model has {self.expert_variance_.shape[0]} "
                f"experts but n_experts={k}; set warm_start=False or keep n_experts."
            )
        if warm and self.expert_coef_.shape[1] != n_features:
            raise ValueError(
                f"warm_start: X has {n_features} features but the fitted model "
                f"{self.expert_coef_.shape[1]}; set warm_start=False."
            )

        scaling = _Scaling(X, y, w)
        var_lower, var_upper, gate_bound = self._check_bounds(scaling, n_features)
        if softmax:
            model = SoftmaxGaussianMoE(
                scaling.design(X), scaling.response(y), w, var_lower=var_lower,
                var_upper=var_upper, gate_bound=gate_bound,
                gate_penalty=self.gate_penalty, experts=experts, balance=balance)
        else:
            model = GatedGaussianMoE(
                gate.features(X, scaling), scaling.design(X), scaling.response(y), w,
                gate, var_lower=var_lower, var_upper=var_upper, experts=experts,
                balance=balance)
        log_y_scale = np.log(scaling.y_scale) * w.sum()
        model.loglik_offset = -log_y_scale
        rng = check_random_state(self.random_state)

        options = SolverOptions(max_iter=self.max_iter, tol=self.tol, gtol=self.gtol,
                                accelerate=self.accelerate,
                                verbose=max(self.verbose - 1, 0) * 2)
        solve = SOLVERS[self.solver]
        # the variance floor that makes a fit irregular is reg_variance's (or the
        # rounding variance of y), not a user's lower bound (an expert held at a
        # chosen bound is not spurious)
        floor = regular_floor(self.reg_variance, model.y)
        if warm or isinstance(init, dict):
            source = self._params_dict() if warm else init
            coef, var = experts.project(*scaling.experts_to_standardized(source),
                                        0.0, np.inf)
            start = MoEParams(gate.from_original(source, scaling), coef, var)
            explicit = self.variance_bounds is not None or self.gate_bound is not None
            if explicit and model.violates_bounds(start):
                raise ValueError(
                    "the starting parameters lie outside the bounds (variance_bounds "
                    "/ reg_variance, gate_bound); widen the bounds or start inside "
                    "them.")
            fit = refine(model, [start], solve, options,
                         regularity(w, floor, n_features),
                         verbose=self.verbose, offset=log_y_scale)
            n_starts, n_moves = 1, 0
        else:
            fit, n_starts, n_moves = run_search(
                self, model, rng, n_features, gate, k, solve, options, floor,
                offset=log_y_scale)
        best, best_key, best_resp = fit

        order = grouped_expert_order(gate, w @ best_resp, best.params.coef,
                                     best.params.var,
                                     fixed_last=model.reference_dependent)
        best.params = MoEParams(best.params.gate[order], best.params.coef[order],
                                best.params.var[order])
        best_resp = best_resp[:, order]
        params = {**gate.to_original(best.params.gate, scaling),
                  **scaling.experts_to_original(best.params.coef, best.params.var)}
        for name in _ALL_GATE_ATTRIBUTES:
            self.__dict__.pop(name + "_", None)
        for name, value in params.items():
            setattr(self, name + "_", value)
        self.gate_ = gate
        self.experts_ = experts
        self.top_k_ = top_k
        ll = best.objective + model.penalty(best.params.gate)
        self.log_likelihood_ = float(ll - log_y_scale)
        # the objective in the data's units (with an x-marginal, also x's)
        offset = log_y_scale + (w.sum() * np.sum(np.log(scaling.x_scale))
                                if gate.marginal else 0.0)
        self.objective_ = float(best.objective - offset)
        self.log_likelihood_trace_ = np.asarray(best.trace) - offset
        self.n_iter_em_ = best.n_iter_em
        self.n_iter_newton_ = best.n_iter_newton
        self.n_iter_ = best.n_iter_em + best.n_iter_newton
        self.gradient_norm_ = best.grad_norm
        self.converged_ = best.converged
        self.solver_status_ = best.status
        self.expert_weight_ = (w @ best_resp) / w.sum()
        self.degenerate_experts_ = _irregular_experts(best.params, best_resp, w,
                                                      floor, n_features)
        self.separated_experts_ = _separated_pairs(
            model.gate_scores(best.params.gate), w)
        density = gate.x_log_density(X, params)
        self.__dict__.pop("joint_log_likelihood_", None)
        if density is not None:
            self.joint_log_likelihood_ = self.log_likelihood_ + float(w @ density)
        self.n_split_merge_accepted_ = n_moves
        warn_about_fit(self, n_starts, best_key[0])
        return self
