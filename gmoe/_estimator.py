"""The scikit-learn estimator: ``GaussianMoERegressor``."""

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from gmoe._conditional import ConditionalMixture
from gmoe._em import params_from_responsibilities
from gmoe._gated_model import GatedGaussianMoE
from gmoe._measure import MixingMeasure
from gmoe._model import MoEParams, SoftmaxGaussianMoE
from gmoe._order import better_fit, canonical_expert_order, canonical_rows
from gmoe._solvers import SOLVERS, SolverOptions, screen
from gmoe.datasets import PARAM_NAMES
from gmoe.experts import EXPERT_FAMILIES, ExpertFamily, GaussianLinear, get_experts
from gmoe.gates import GATES, Gate, Softmax, TopK, get_gate


class GateSeparationWarning(UserWarning):
    """The gate separates two experts completely: its MLE does not exist.

    The fitted gate is (numerically) a step between the experts named in the
    message: every sample that either of them could explain goes wholly to one of
    them, and the likelihood keeps rising as the gate slopes grow, so the gate
    parameters reported are large and arbitrary (the predictions are not).  A
    gate penalty (``gate_penalty``) or bound (``gate_bound``) makes them finite.
    """


class SpuriousFitWarning(UserWarning):
    """Every start ended at an irregular fit (an expert at the variance floor or
    with fewer effective samples than its parameters).

    Such a maximum is driven by the variance floor (``reg_variance``) rather than
    by the data; fewer experts, or more starts, usually remove it.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from gmoe import GaussianMoERegressor, SpuriousFitWarning
    >>> X = np.linspace(0, 1, 6)[:, None]
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     model = GaussianMoERegressor(3, random_state=0).fit(X, 2 * X[:, 0])
    >>> any(issubclass(w.category, SpuriousFitWarning) for w in caught)
    True
    """


def _kmeans_responsibilities(Z, w, k, rng):
    """Hard responsibilities from k-means on the standardised ``(X, y)``."""
    labels = KMeans(n_clusters=k, n_init=1, random_state=rng).fit(
        Z, sample_weight=w
    ).labels_
    return np.eye(k)[labels]


def _random_responsibilities(Z, w, k, rng):
    """Responsibilities drawn uniformly at random and normalised per sample."""
    resp = rng.uniform(size=(Z.shape[0], k))
    return resp / resp.sum(axis=1, keepdims=True)


def _partition_responsibilities(Z, w, k, rng):
    """A random partition: each sample wholly to an expert drawn uniformly."""
    return np.eye(k)[rng.randint(k, size=Z.shape[0])]


def _lines_responsibilities(Z, w, k, rng):
    """Random lines: each expert fitted to ``d + 2`` random samples, each sample
    given to the expert whose line passes closest to it.

    ``Z`` is ``(x, y)`` standardised; the lines are least-squares fits of y on x
    through their few samples, so the starts differ in slope and intercept and
    cover regimes that k-means on the ``(x, y)`` cloud merges.
    """
    n, d1 = Z.shape
    design = np.column_stack([np.ones(n), Z[:, :-1]])
    y = Z[:, -1]
    positive = np.flatnonzero(w > 0)
    size = min(d1 + 1, positive.size)
    residuals = np.empty((n, k))
    for i in range(k):
        rows = rng.choice(positive, size=size, replace=False)
        coef = np.linalg.lstsq(design[rows], y[rows], rcond=None)[0]
        residuals[:, i] = np.abs(y - design @ coef)
    return np.eye(k)[np.argmin(residuals, axis=1)]


def _local_lines_responsibilities(Z, w, k, rng):
    """Local lines: each expert fitted to a random sample and its nearest
    neighbours in the standardised ``(x, y)``, each sample given to the expert
    under whose line (with the residual variance of its neighbourhood) it is
    most likely.

    A neighbourhood holds ``max(d + 3, n / (4 k))`` samples, so that a line follows
    a dense stretch of the data (a regime, or many tied responses) rather than a
    chance pair of points; its own residual variance lets a tight line (tied
    responses) claim only the samples it fits.
    """
    n, d1 = Z.shape
    design = np.column_stack([np.ones(n), Z[:, :-1]])
    y = Z[:, -1]
    positive = np.flatnonzero(w > 0)
    size = min(max(d1 + 2, positive.size // (4 * k)), positive.size)
    log_density = np.empty((n, k))
    for i in range(k):
        centre = Z[rng.choice(positive)]
        distance = np.sum((Z[positive] - centre) ** 2, axis=1)
        rows = positive[np.argsort(distance, kind="stable")[:size]]
        coef = np.linalg.lstsq(design[rows], y[rows], rcond=None)[0]
        local = y[rows] - design[rows] @ coef
        var = max(local @ local / max(size - d1, 1), 1e-6)
        resid = y - design @ coef
        log_density[:, i] = -0.5 * (np.log(var) + resid**2 / var)
    return np.eye(k)[np.argmax(log_density, axis=1)]


#: Initialisation strategies by name: ``f(Z, w, k, rng) -> resp (n, k)`` where
#: ``Z`` (n, d + 1) is the standardised ``(X, y)``.
INITIALIZERS = {
    "kmeans": _kmeans_responsibilities,
    "random": _random_responsibilities,
    "partition": _partition_responsibilities,
    "lines": _lines_responsibilities,
    "local": _local_lines_responsibilities,
}

#: The screening stage of a search works on a random subsample of at most this
#: many samples (see ``GaussianMoERegressor._search``).
SCREEN_MAX_SAMPLES = 5000

#: The kinds of start that ``init_params="auto"`` cycles through, start by start.
AUTO_CYCLE = ("kmeans", "lines", "random", "local",
              "partition", "lines", "random", "local")


#: An expert whose variance is below this fraction of the (weighted) variance of y
#: is irregular: on the real-data panel, such experts fit a handful of points
#: (spurious maxima), while real narrow regimes (tonedata's correctly tuned trials,
#: mcycle's pre-impact stretch) sit at 2e-4 to 1e-3.
SPURIOUS_VARIANCE_RATIO = 1e-4


def _irregular_experts(params, resp, w, var_lower, n_features):
    """Experts with a variance at the floor or below ``SPURIOUS_VARIANCE_RATIO``
    (the variances are in standardised units, those of y being 1), or with fewer
    effective samples (``sum_n w_n tau_ni``) than ``n_features + 3`` (their
    ``n_features + 2`` parameters and one more); (k,) bool."""
    effective = w @ resp
    floor = max(var_lower * (1 + 1e-9), SPURIOUS_VARIANCE_RATIO)
    return (effective < n_features + 3) | (params.var <= floor)


#: A pair of experts is separated by the gate when, at every sample where they
#: are the two most probable experts, the smaller of their two probabilities is
#: below this fraction of their sum.
SEPARATION_RATIO = 1e-6


def _separated_pairs(scores, w):
    """Pairs ``(i, j)`` of experts that the gate separates completely.

    At every sample (of positive weight) where ``i`` and ``j`` are the two most
    probable experts, ``min(pi_i, pi_j) / (pi_i + pi_j) < SEPARATION_RATIO``, and
    each of them wins at one such sample at least: the gate is a step between them.
    """
    k = scores.shape[1]
    if k < 2:
        return []
    logits = scores[w > 0]
    top = np.argsort(logits, axis=1)[:, -2:]
    pairs = []
    for i in range(k):
        for j in range(i + 1, k):
            rows = ((top[:, 0] == i) & (top[:, 1] == j)) | (
                (top[:, 0] == j) & (top[:, 1] == i))
            if not rows.any():
                continue
            gap = logits[rows, i] - logits[rows, j]
            sharp = np.abs(gap) > -np.log(SEPARATION_RATIO)
            if sharp.all() and (gap > 0).any() and (gap < 0).any():
                pairs.append((i, j))
    return pairs


class _Scaling:
    """Affine standardisation of X and y, and the map of parameters through it.

    Internally ``x_s = (x - x_mean) / x_scale`` and ``y_s = (y - y_mean) / y_scale``.
    A standardised parameter set ``(gate, coef, var)`` (rows ``(intercept, slopes)``)
    maps to the original units as

    - gate slopes ``beta_1 / x_scale``,
      intercept ``beta_0 - beta_1 . x_mean / x_scale``;
    - expert slopes ``y_scale a / x_scale``,
      intercept ``y_mean + y_scale (b - a . x_mean / x_scale)``;
    - variance ``y_scale^2 var``.
    """

    def __init__(self, X, y, w):
        total = w.sum()
        self.x_mean = w @ X / total
        x_scale = np.sqrt(w @ (X - self.x_mean) ** 2 / total)
        self.x_scale = np.where(x_scale > 0, x_scale, 1.0)
        #: weighted second moment of the standardised covariates (their mean is 0)
        Z = (X - self.x_mean) / self.x_scale
        self.x_second = (w[:, None] * Z).T @ Z / total
        self.y_mean = w @ y / total
        y_scale = np.sqrt(w @ (y - self.y_mean) ** 2 / total)
        self.y_scale = y_scale if y_scale > 0 else 1.0

    def design(self, X):
        return np.column_stack([np.ones(X.shape[0]), (X - self.x_mean) / self.x_scale])

    def response(self, y):
        return (y - self.y_mean) / self.y_scale

    def experts_to_original(self, coef, var):
        """Expert rows ``(b, a)`` and variances in the original units."""
        shift = self.x_mean / self.x_scale
        expert_coef = self.y_scale * coef[:, 1:] / self.x_scale
        expert_intercept = self.y_mean + self.y_scale * (coef[:, 0]
                                                         - coef[:, 1:] @ shift)
        return {
            "expert_intercept": expert_intercept,
            "expert_coef": expert_coef,
            "expert_variance": self.y_scale**2 * var,
        }

    def to_standardized(self, params):
        """Softmax-gate parameters (a dict in the original units) as standardised
        ``(gate, coef, var)`` arrays."""
        return (Softmax().from_original(params, self),
                *self.experts_to_standardized(params))

    def experts_to_standardized(self, params):
        """Inverse of :meth:`experts_to_original` (from a parameter dict)."""
        expert_coef = (
            np.asarray(params["expert_coef"], dtype=float) * self.x_scale / self.y_scale
        )
        expert_intercept = (
            np.asarray(params["expert_intercept"], dtype=float)
            + np.asarray(params["expert_coef"], dtype=float) @ self.x_mean
            - self.y_mean
        ) / self.y_scale
        coef = np.column_stack([expert_intercept, expert_coef])
        var = np.asarray(params["expert_variance"], dtype=float) / self.y_scale**2
        return coef, var


#: The expert parameters of every fit (the gate's are ``gate.attributes``).
EXPERT_PARAM_NAMES = ("expert_intercept", "expert_coef", "expert_variance")

#: Every gate attribute a fit may set (removed before a refit sets its own).
_ALL_GATE_ATTRIBUTES = tuple(sorted({name for gate in GATES.values()
                                     for name in gate().attributes}))

def _check_init_dict(params, k, d, names=PARAM_NAMES, gate=None):
    """Validate user-supplied starting parameters ``names`` (original units);
    the shapes of the gate's attributes are ``gate``'s (default: the softmax
    gate's)."""
    if hasattr(params, "to_params"):
        params = params.to_params()
    missing = [name for name in names if name not in params]
    if missing:
        raise ValueError(
            f"init_params is missing {missing}; a dict of starting parameters needs "
            f"the keys {list(names)}."
        )
    shapes = {
        "gate_intercept": (k,),
        "gate_coef": (k, d),
        "expert_intercept": (k,),
        "expert_coef": (k, d),
        "expert_variance": (k,),
        **(Softmax() if gate is None else gate).attribute_shapes(k, d),
    }
    checked = {}
    for name in names:
        shape = shapes[name]
        value = np.asarray(params[name], dtype=float)
        if value.shape != shape:
            raise ValueError(
                f"init_params[{name!r}] has shape {value.shape}; with n_experts={k} "
                f"and {d} features it must have shape {shape}."
            )
        if not np.all(np.isfinite(value)):
            raise ValueError(f"init_params[{name!r}] contains NaN or infinity.")
        checked[name] = value
    if np.any(checked["expert_variance"] <= 0):
        raise ValueError("init_params['expert_variance'] must be positive.")
    return checked


class GaussianMoERegressor(ConditionalMixture, RegressorMixin, BaseEstimator):
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
    n_init : int, default=30
        Number of starts; each draws its own seed from ``random_state``.  The
        best regular start (see ``degenerate_experts_``) is kept.
    init_params : {"auto", "kmeans", "lines", "partition", "random"} or dict, \
            default="auto"
        How a start is made.  ``"kmeans"``: k-means on the standardised ``(X, y)``
        gives hard responsibilities.  ``"lines"``: each expert a line through
        ``d + 2`` random samples, each sample to the closest line.
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
    n_refine : int, default=10
        Number of screened starts run to the end.
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

    Attributes
    ----------
    gate_ : gmoe.gates.Gate
        The fitted gate (absent for the Gaussian gate).
    experts_ : gmoe.experts.ExpertFamily
        The fitted expert family.
    gate_coef_ : ndarray of shape (n_experts, n_features)
        Gate slopes :math:`\\beta_{1i}` (absent for the constant gate; the
        directions of the cosine gate, the centres of the Laplace gate).
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
    log_likelihood_trace_ : ndarray of shape (n_iter_ + 1,)
        Log-likelihood (penalised, with ``gate_penalty``; the joint one with
        ``likelihood="joint"``) at the start and after each EM, then each Newton
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
    gradient_norm_ : float
        Largest entry of the gradient (see ``gtol``) at the fitted parameters,
        the gate's reference row included (its gradient is minus the sum of the
        other gate rows'), so that it does not depend on the order of the
        experts.
    separated_experts_ : list of (int, int)
        Pairs of experts the gate separates completely (its MLE does not exist;
        a :class:`GateSeparationWarning` is raised).
    expert_weight_ : ndarray of shape (n_experts,)
        Share of the training weight each expert is responsible for (sums to 1).
    degenerate_experts_ : ndarray of shape (n_experts,), dtype=bool
        Experts whose effective number of samples (``expert_weight_`` times the
        total weight) is below ``n_features + 3`` (their ``n_features + 2``
        parameters and one more), or whose variance sits at the floor or below
        1e-4 times the variance of y.  They are kept, with finite parameters, and
        a warning names them.
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
        "n_init": [Interval(numbers.Integral, 1, None, closed="left")],
        "init_params": [StrOptions(set(INITIALIZERS) | {"auto"}), dict,
                        HasMethods(["to_params"])],
        "n_screen_iter": [Interval(numbers.Integral, 0, None, closed="left")],
        "n_refine": [Interval(numbers.Integral, 1, None, closed="left")],
        "reg_variance": [Interval(numbers.Real, 0, None, closed="neither")],
        "variance_bounds": [None, tuple, list],
        "gate_bound": [None, Interval(numbers.Real, 0, None, closed="neither"),
                       "array-like"],
        "gate_penalty": [Interval(numbers.Real, 0, None, closed="left")],
        "top_k": [None, Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "accelerate": ["boolean"],
        "verbose": ["verbose"],
        "gate": [StrOptions(set(GATES)), Gate],
        "likelihood": [StrOptions({"conditional", "joint"})],
        "experts": [StrOptions(set(EXPERT_FAMILIES)), ExpertFamily],
    }

    def __init__(
        self,
        n_experts=2,
        *,
        solver="newton",
        max_iter=1000,
        tol=1e-6,
        gtol=1e-8,
        n_init=30,
        init_params="auto",
        n_screen_iter=50,
        n_refine=10,
        reg_variance=1e-6,
        variance_bounds=None,
        gate_bound=None,
        gate_penalty=0.0,
        top_k=None,
        random_state=None,
        warm_start=False,
        accelerate=False,
        verbose=0,
        gate="softmax",
        likelihood="conditional",
        experts="gaussian_linear",
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
        self.reg_variance = reg_variance
        self.variance_bounds = variance_bounds
        self.gate_bound = gate_bound
        self.gate_penalty = gate_penalty
        self.top_k = top_k
        self.random_state = random_state
        self.warm_start = warm_start
        self.accelerate = accelerate
        self.verbose = verbose
        self.gate = gate
        self.likelihood = likelihood
        self.experts = experts

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
        k = self.n_experts
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
        top_k = self._check_top_k(k)
        gate = get_gate(self.gate, self.likelihood)
        experts = get_experts(self.experts)
        if top_k is not None:
            # the shorthand of the top-K gate, fitted on the engine every gate
            # shares
            if type(gate) is not Softmax:
                raise ValueError(
                    f"top_k applies to the softmax gate; leave top_k=None with "
                    f"gate={gate!r} (or pass gate=gmoe.gates.TopK(K)).")
            gate = TopK(top_k)
        softmax = type(gate) is Softmax
        if not softmax:
            if self.gate_bound is not None:
                raise ValueError(
                    f"gate_bound applies to the dense softmax gate; leave "
                    f"gate_bound=None with gate={gate!r}.")
            if self.gate_penalty:
                raise ValueError("gate_penalty applies to the dense softmax gate; "
                                 f"leave it at 0 with gate={gate!r}.")
            gate.check_data(X)
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
                gate_penalty=self.gate_penalty, experts=experts)
        else:
            model = GatedGaussianMoE(
                gate.features(X, scaling), scaling.design(X), scaling.response(y), w,
                gate, var_lower=var_lower, var_upper=var_upper, experts=experts)
        log_y_scale = np.log(scaling.y_scale) * w.sum()
        model.loglik_offset = -log_y_scale
        rng = check_random_state(self.random_state)

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
            starts = [start]
        else:
            starts = self._search(model, rng, n_features, gate)
        # the variance floor that makes a fit irregular is reg_variance's, not a
        # user's lower bound (an expert held at a chosen bound is not spurious)
        floor = self.reg_variance
        options = SolverOptions(max_iter=self.max_iter, tol=self.tol, gtol=self.gtol,
                                accelerate=self.accelerate,
                                verbose=max(self.verbose - 1, 0) * 2)
        best = best_key = best_resp = None
        for index, start in enumerate(starts):
            result = SOLVERS[self.solver](model, start, options)
            resp = np.empty((n_samples, k))
            model.e_step(result.params, resp, resp)
            regular = not np.any(_irregular_experts(result.params, resp, w, floor,
                                                    n_features))
            if self.verbose:
                print(
                    f"start {index + 1}/{len(starts)}: {result.n_iter_em} EM and "
                    f"{result.n_iter_newton} Newton iterations, "
                    f"converged={result.converged}, regular={regular}, "
                    f"log-likelihood {result.objective - log_y_scale:.6f}"
                )
            key = (regular, result.objective)
            if better_fit(key, best_key, scale=w.sum()):
                best, best_key, best_resp = result, key, resp

        order = canonical_expert_order(w @ best_resp, best.params.coef,
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
        self.log_likelihood_trace_ = np.asarray(best.trace) - offset
        self.n_iter_em_ = best.n_iter_em
        self.n_iter_newton_ = best.n_iter_newton
        self.n_iter_ = best.n_iter_em + best.n_iter_newton
        self.gradient_norm_ = best.grad_norm
        self.converged_ = best.converged
        self.expert_weight_ = (w @ best_resp) / w.sum()
        self.degenerate_experts_ = _irregular_experts(best.params, best_resp, w,
                                                      floor, n_features)
        self.separated_experts_ = _separated_pairs(
            model.gate_scores(best.params.gate), w)
        density = gate.x_log_density(X, params)
        self.__dict__.pop("joint_log_likelihood_", None)
        if density is not None:
            self.joint_log_likelihood_ = self.log_likelihood_ + float(w @ density)
        self._warn_about_fit(len(starts), best_key[0])
        return self

    def _check_top_k(self, k):
        """``top_k`` checked against ``n_experts``; None for the dense gate."""
        top_k = self.top_k
        if top_k is None:
            return None
        if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral):
            raise ValueError(
                f"top_k must be None or an integer from 1 to n_experts={k}; got "
                f"{top_k!r}.")
        if not 1 <= top_k <= k:
            raise ValueError(
                f"top_k={top_k} must lie between 1 and n_experts={k}; lower top_k "
                "or raise n_experts (top_k=None is the dense softmax gate).")
        return None if top_k == k else int(top_k)

    def _search(self, model, rng, n_features, gate):
        """The starts to run to the end: ``n_init`` starts, screened ("emEM") down
        to ``n_refine`` when there are more.

        The screening stage (making the starts and their ``n_screen_iter`` EM
        iterations) works on a random subsample of at most
        ``SCREEN_MAX_SAMPLES`` samples, so that its cost does not grow with n.
        A gate whose :meth:`~gmoe.gates.Gate.screening_gate` is another one
        (another likelihood on the same blocks) has its starts made and screened
        by that one's M-step and EM, the end points ranked by this model's
        likelihood.
        """
        k = self.n_experts
        screening = self.n_init > self.n_refine and self.n_screen_iter > 0
        search = model
        if screening and model.n_samples > SCREEN_MAX_SAMPLES:
            rows = np.sort(rng.choice(model.n_samples, SCREEN_MAX_SAMPLES,
                                      replace=False))
            search = model.subset(rows)
        Z = np.column_stack([search.Xt[:, 1:], search.y])
        kinds = AUTO_CYCLE if self.init_params == "auto" else (self.init_params,)
        screener = gate.screening_gate()
        twin = None if screener is gate else search.with_gate(screener)
        starts = []
        for index in range(self.n_init):
            start_rng = np.random.RandomState(rng.randint(np.iinfo(np.int32).max))
            resp = INITIALIZERS[kinds[index % len(kinds)]](Z, search.w, k, start_rng)
            starts.append(params_from_responsibilities(
                search if twin is None else twin, resp))
        if not screening:
            return starts if twin is None else [model.project(p) for p in starts]

        def is_regular(params, resp):
            return not np.any(_irregular_experts(params, resp, search.w,
                                                 self.reg_variance, n_features))

        kept, _ = screen(search, starts, n_iter=self.n_screen_iter,
                         n_keep=self.n_refine, is_regular=is_regular, twin=twin)
        return kept

    def _warn_about_fit(self, n_starts, regular):
        """The warnings of a finished fit: convergence, separation, degeneracy."""
        if not self.converged_ and self.max_iter > 0:
            criterion = (f"gradient below gtol={self.gtol} (reached "
                         f"{self.gradient_norm_:.2g})" if self.solver == "newton"
                         else f"tol={self.tol}")
            warnings.warn(
                f"the {self.solver} solver did not converge ({criterion}) within "
                f"max_iter={self.max_iter} for the best of {n_starts} start(s); "
                "raise max_iter, or try other starts.",
                ConvergenceWarning,
                stacklevel=4,
            )
        if self.separated_experts_:
            warnings.warn(
                f"the gate separates experts {self.separated_experts_} completely "
                "(a step gate): the maximum likelihood estimate of the gate does not "
                "exist and its slopes are large and arbitrary (predictions are not). "
                "Set gate_penalty > 0 or gate_bound for finite gate parameters.",
                GateSeparationWarning,
                stacklevel=4,
            )
        if not regular:
            warnings.warn(
                f"every one of the {n_starts} fitted start(s) has degenerate experts; "
                f"in the best, {np.flatnonzero(self.degenerate_experts_).tolist()} "
                "(a tiny variance, or fewer effective samples than their "
                "parameters): a spurious maximum. Fewer experts, more starts "
                "(n_init) or a larger reg_variance may suit these data.",
                SpuriousFitWarning,
                stacklevel=4,
            )
        elif np.any(self.degenerate_experts_):
            warnings.warn(
                f"experts {np.flatnonzero(self.degenerate_experts_).tolist()} are "
                "degenerate (too little weight, or variance at the floor); they are "
                "kept with finite parameters. Fewer experts may suit these data.",
                UserWarning,
                stacklevel=4,
            )

    def _params_dict(self):
        names = self._fitted_gate().attributes + EXPERT_PARAM_NAMES
        return {name: getattr(self, name + "_") for name in names}

    def _fitted_gate(self):
        """The fitted gate object (the softmax gate for a model fitted before
        gates were objects, or built by hand with its attributes set)."""
        return getattr(self, "gate_", None) or Softmax()

    def _fitted_experts(self):
        """The fitted expert family (Gaussian linear experts by default)."""
        return getattr(self, "experts_", None) or GaussianLinear()

    @property
    def mixing_measure_(self):
        """The fitted parameters as a mixing measure.

        For a dense gate of :mod:`gmoe.gates`, the :class:`gmoe.MixingMeasure`
        :math:`G = \\sum_i \\exp(\\beta_{0i}) \\delta_{\\theta_i}` of the gate and
        the experts (the gate part of the atom :math:`\\theta_i` depends on the
        gate; see :ref:`theory_mixing_measure`); for the Gaussian gate a
        :class:`gmoe.GaussianGateMixingMeasure`.  Sparse gates (``top_k``,
        ``TopK``, ``TopP``) have none here.

        Examples
        --------
        >>> from gmoe.datasets import make_moe_regression
        >>> X, y = make_moe_regression(500, random_state=0)
        >>> GaussianMoERegressor(random_state=0).fit(X, y).mixing_measure_.n_atoms
        2
        """
        check_is_fitted(self)
        measure = self._fitted_gate().mixing_measure(self._params_dict())
        if measure is not None:
            return measure
        return MixingMeasure.from_estimator(self)

    # --------------------------------------------------------------- prediction
    def _check_X(self, X):
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=np.float64)

    def _log_gate(self, X):
        return self._fitted_gate().original_log_weights(X, self._params_dict())

    def _experts(self):
        return self.expert_coef_, self.expert_intercept_, self.expert_variance_

    def sample(self, X, random_state=None):
        """Draw y given x from the fitted model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        random_state : int, RandomState, Generator or None, default=None

        Returns
        -------
        y : ndarray of shape (n_samples,)
            One draw per row of X.
        experts : ndarray of shape (n_samples,), dtype=int
            The expert each draw came from.

        Examples
        --------
        >>> from gmoe.datasets import make_moe_regression
        >>> X, y = make_moe_regression(500, random_state=0)
        >>> moe = GaussianMoERegressor(random_state=0).fit(X, y)
        >>> y_new, experts = moe.sample(X, random_state=1)
        >>> y_new.shape, experts.shape
        ((500,), (500,))
        """
        return self._draw(self._check_X(X), random_state)

    def routing_report(self, X, y=None, *, min_load=0.01, collapse_share=0.95):
        """Routing diagnostics of the fitted gate on ``X``.

        Per-expert load, top-expert share, gate entropy, effective numbers of
        experts and flags for never-used and collapsed experts: see
        :func:`gmoe.routing_diagnostics`, which this calls.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or None, default=None
            Adds the mean posterior responsibility of each expert.
        min_load, collapse_share : float
            See :func:`gmoe.routing_diagnostics`.

        Returns
        -------
        report : gmoe.RoutingDiagnostics

        Examples
        --------
        >>> from gmoe.datasets import TOPK_TRUTH, make_moe_regression
        >>> X, y = make_moe_regression(1000, TOPK_TRUTH, random_state=0, top_k=2)
        >>> moe = GaussianMoERegressor(4, top_k=2, n_init=2, solver="em",
        ...                            random_state=0).fit(X, y)
        >>> moe.routing_report(X).summary["mean_active"] <= 2
        True
        """
        from gmoe._routing import routing_diagnostics

        check_is_fitted(self)
        return routing_diagnostics(self, X, y, min_load=min_load,
                                   collapse_share=collapse_share)

    # ---------------------------------------------------------- model selection
    def n_parameters(self):
        """Number of free parameters: the gate's plus the experts'.

        With the softmax gate, ``(k - 1)(d + 1) + k (d + 2)``: the gate has
        ``k - 1`` free rows of ``d + 1`` (one row is fixed by the translation
        invariance); each expert has ``d`` slopes, an intercept and a variance.
        Other gates count their own free parameters
        (:meth:`gmoe.gates.Gate.n_parameters`: every block but the reference's
        gauge coordinates); the experts' are ``k (d + 2)``, ``k (d + 1) + 1``
        with a shared variance (:meth:`gmoe.experts.ExpertFamily.n_parameters`).

        Returns
        -------
        n : int

        Examples
        --------
        >>> from gmoe.datasets import make_moe_regression
        >>> X, y = make_moe_regression(500, random_state=0)
        >>> GaussianMoERegressor(n_experts=2, random_state=0).fit(X, y).n_parameters()
        8
        """
        check_is_fitted(self)
        k, d = self.expert_coef_.shape
        return (self._fitted_gate().n_parameters(k, d)
                + self._fitted_experts().n_parameters(k, d))

    def bic(self, X, y):
        """Bayesian information criterion; smaller is better.

        :math:`\\mathrm{BIC} = -2 \\sum_n \\log g(y_n \\mid x_n) + m \\log n`, with
        ``m = n_parameters()`` and ``n`` the number of samples.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        bic : float

        Examples
        --------
        >>> from gmoe.datasets import make_moe_regression
        >>> X, y = make_moe_regression(1000, random_state=0)
        >>> fits = [GaussianMoERegressor(k, random_state=0).fit(X, y) for k in (1, 2)]
        >>> bool(fits[1].bic(X, y) < fits[0].bic(X, y))
        True
        """
        n = np.asarray(X).shape[0]
        return -2 * self.score_samples(X, y).sum() + self.n_parameters() * np.log(n)

    def aic(self, X, y):
        """Akaike information criterion; smaller is better.

        :math:`\\mathrm{AIC} = -2 \\sum_n \\log g(y_n \\mid x_n) + 2 m`, with
        ``m = n_parameters()``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        aic : float

        Examples
        --------
        >>> from gmoe.datasets import make_moe_regression
        >>> X, y = make_moe_regression(1000, random_state=0)
        >>> moe = GaussianMoERegressor(random_state=0).fit(X, y)
        >>> bool(moe.aic(X, y) < moe.bic(X, y))
        True
        """
        return -2 * self.score_samples(X, y).sum() + 2 * self.n_parameters()

    # ---------------------------------------------------------------- inference
    def inference(self, X, y, sample_weight=None, *, method="wald", n_boot=200,
                  bootstrap="nonparametric", random_state=None, n_jobs=1,
                  progress=False):
        """Sampling variability of the fitted parameters.

        Computes, once, what :meth:`summary` and :meth:`predict_mean_interval`
        need: the covariance of the parameters from the observed information
        (``"wald"``) or the sandwich (``"sandwich"``), or ``n_boot`` bootstrap
        refits (``"bootstrap"``).  The estimator does not keep its training data:
        pass the data it was fitted on (checked through the log-likelihood).  See
        :ref:`inference` for what each method means and when it holds.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
            The training data and weights (weights count samples).
        method : {"wald", "sandwich", "bootstrap"}, default="wald"
        n_boot : int, default=200
            Bootstrap refits (``method="bootstrap"`` only).
        bootstrap : {"nonparametric", "parametric"}, default="nonparametric"
            Resample the rows, or draw y from the fitted model.
        random_state : int, numpy.random.SeedSequence or None, default=None
            Seeds the bootstrap; the result does not depend on ``n_jobs``.
        n_jobs : int, default=1
            Worker processes of the bootstrap (joblib); -1 uses every core.
        progress : bool, default=False
            Progress bar of the bootstrap (tqdm).

        Returns
        -------
        result : gmoe.MoEInference

        Raises
        ------
        ValueError
            On an unknown method or bootstrap kind, or data that are not the
            training data.
        sklearn.exceptions.NotFittedError
            Before ``fit``.

        Warns
        -----
        gmoe.InferenceWarning
            When some standard errors are not valid (NaN rows; the message says
            why).

        Examples
        --------
        >>> from gmoe.datasets import make_moe_regression
        >>> X, y = make_moe_regression(1000, random_state=0)
        >>> moe = GaussianMoERegressor(2, n_init=3, random_state=1).fit(X, y)
        >>> result = moe.inference(X, y, method="sandwich")
        >>> result.covariance.shape
        (8, 8)
        """
        from gmoe._inference import MoEInference

        return MoEInference(self, X, y, sample_weight, method=method, n_boot=n_boot,
                            bootstrap=bootstrap, random_state=random_state,
                            n_jobs=n_jobs, progress=progress)

    def summary(self, X, y, sample_weight=None, *, level=0.95, method="wald",
                **options):
        """Table of estimates, standard errors and confidence intervals.

        One row per parameter (original units; gate rows relative to the last
        expert, whose gate row is zero with NaN standard error).  ``"wald"``:
        :math:`\\hat\\theta \\pm z\\,\\mathrm{se}` from the inverse observed
        information; ``"sandwich"``: the same with the robust covariance
        :math:`I^{-1} J I^{-1}`; ``"bootstrap"``: percentile intervals and the
        standard deviation of the refits.  Variances: delta-method standard
        error, interval :math:`\\exp(\\log\\hat\\sigma \\pm z\\,\\mathrm{se}(\\log
        \\sigma))` (Wald, sandwich).

        The estimator keeps no copy of its training data (as in scikit-learn),
        so pass the data given to :meth:`fit` again; other data raise a
        ``ValueError``.  Defined for every dense gate of :mod:`gmoe.gates`, by the
        likelihood the model was fitted by; a gate whose blocks are not
        identified is reported in a parametrisation that is
        (:meth:`gmoe.gates.Gate.summary_gate`: the cosine gate's
        ``v_i = w_i / (|w_i| + theta)``).  The sparse gates and the plain cosine
        router raise a ``ValueError`` that says why.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The training data, as passed to :meth:`fit`.
        y : array-like of shape (n_samples,)
            The training targets.
        sample_weight : array-like of shape (n_samples,), default=None
            The sample weights passed to :meth:`fit`, if any.
        level : float, default=0.95
            Confidence level, in (0, 1).
        method : {"wald", "sandwich", "bootstrap"}, default="wald"
        **options
            ``n_boot``, ``bootstrap``, ``random_state``, ``n_jobs``, ``progress``
            of :meth:`inference`.

        Returns
        -------
        table : pandas.DataFrame
            Columns ``parameter``, ``expert``, ``feature``, ``estimate``,
            ``std_error``, ``lower``, ``upper``; ``table.attrs`` holds
            ``n_samples``, ``n_experts``, ``log_likelihood``, ``method``,
            ``level`` and ``notes``.  ``print(gmoe.format_summary(table))``
            shows it with a header.

        Examples
        --------
        >>> from gmoe.datasets import make_moe_regression
        >>> X, y = make_moe_regression(1000, random_state=0)
        >>> moe = GaussianMoERegressor(2, n_init=3, random_state=1).fit(X, y)
        >>> table = moe.summary(X, y)
        >>> list(table.columns)
        ['parameter', 'expert', 'feature', 'estimate', 'std_error', 'lower', 'upper']
        """
        from gmoe._inference import _check_level

        _check_level(level)
        return self.inference(X, y, sample_weight, method=method,
                              **options).summary(level)

    def predict_mean_interval(self, X, X_fit, y_fit, sample_weight=None, *,
                              level=0.95, method="wald", **options):
        """Confidence band of the mean function :math:`E[y \\mid x]` at ``X``.

        An interval for the conditional MEAN :meth:`predict` (where the true
        mean function lies), not for a new y (that is :meth:`predict_interval`,
        much wider).  ``"wald"``/``"sandwich"``: delta method,
        :math:`\\hat m(x) \\pm z \\sqrt{\\nabla m^\\top \\widehat{\\mathrm{Cov}}
        \\nabla m}`; ``"bootstrap"``: percentiles of the refitted means.  To
        compute the covariance or the refits once for several calls, use
        ``self.inference(X_fit, y_fit).predict_mean_interval(X)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Where the band is wanted.
        X_fit, y_fit : array-like
            The data the model was fitted on (with ``sample_weight``).
        sample_weight : array-like of shape (n_fit,), default=None
        level : float, default=0.95
        method : {"wald", "sandwich", "bootstrap"}, default="wald"
        **options
            Bootstrap options of :meth:`inference`.

        Returns
        -------
        interval : ndarray of shape (n_samples, 2)
            Lower and upper bounds.

        Examples
        --------
        >>> import numpy as np
        >>> from gmoe.datasets import make_moe_regression
        >>> X, y = make_moe_regression(1000, random_state=0)
        >>> moe = GaussianMoERegressor(2, n_init=3, random_state=1).fit(X, y)
        >>> band = moe.predict_mean_interval([[0.2], [0.8]], X, y)
        >>> band.shape
        (2, 2)
        """
        from gmoe._inference import _check_level

        _check_level(level)
        X = self._check_X(X)
        return self.inference(X_fit, y_fit, sample_weight, method=method,
                              **options).predict_mean_interval(X, level)
