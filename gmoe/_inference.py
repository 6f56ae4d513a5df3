"""Standard errors, confidence intervals and a summary table of a fitted MoE.

Three routes to the sampling variability of the maximum-likelihood estimate
:math:`\\hat\\theta` of a :class:`gmoe.GaussianMoERegressor`:

- ``"wald"``: the observed information :math:`I = -\\nabla^2 \\ell(\\hat\\theta)`,
  the exact Hessian of the observed log-likelihood (one pass of the compiled
  kernel, :meth:`gmoe._model.SoftmaxGaussianMoE.derivatives`), and
  :math:`\\widehat{\\mathrm{Cov}} = I^{-1}`;
- ``"sandwich"``: the robust covariance :math:`I^{-1} J I^{-1}` with
  :math:`J = \\sum_n w_n (s_n - \\bar s)(s_n - \\bar s)^\\top`, :math:`s_n` the
  score of sample ``n`` (:func:`per_sample_scores`);
- ``"bootstrap"``: refits on resampled rows (non-parametric) or on responses
  drawn from the fitted model (parametric), each started from the original fit,
  its experts matched to the original ones (:func:`align_experts`);
  percentile intervals and bootstrap standard errors.

Everything is computed in the ORIGINAL units of X and y: the model is rebuilt on
the design ``[1, X]`` (the kernels need no standardisation), so that the
free-parameter vector is directly the reported parameterisation: the gate rows
``(beta_0i, beta_1i)`` of experts ``0 .. k-2`` (the last expert is the reference,
its gate row is zero), the expert rows ``(b_i, a_i)`` and the log-variances
``log sigma_i``.  Variances are reported on their own scale: the standard error
by the delta method, :math:`\\mathrm{se}(\\sigma_i) = \\sigma_i\\,
\\mathrm{se}(\\log\\sigma_i)`, the Wald interval as
:math:`\\exp(\\log\\hat\\sigma_i \\pm z\\,\\mathrm{se}(\\log\\sigma_i))` (always
positive, not symmetric).

Rows whose numbers would mislead are NaN and an :class:`InferenceWarning` says
why: parameters held at a bound, every parameter of a degenerate expert, the
gate rows of experts the gate separates completely, the experts of a pair that
the data cannot tell apart (an over-fitted model), or every row when the
information is singular.
"""

import numbers
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.optimize
import scipy.special
import scipy.stats
from sklearn.base import clone
from threadpoolctl import threadpool_limits

from gmoe._model import MoEParams, SoftmaxGaussianMoE
from gmoe.datasets import PARAM_NAMES, draw_response

__all__ = [
    "InferenceWarning",
    "MoEInference",
    "align_experts",
    "format_summary",
    "per_sample_scores",
    "removal_deviance",
]

METHODS = ("wald", "sandwich", "bootstrap")
BOOTSTRAP_KINDS = ("nonparametric", "parametric")

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

#: Relative size below which a gradient entry of the mean function is ignored when
#: deciding whether a NaN parameter spoils a band.
NEGLIGIBLE_GRADIENT = 1e-8

COLUMNS = ["parameter", "expert", "feature", "estimate", "std_error", "lower",
           "upper"]


class InferenceWarning(UserWarning):
    """Standard errors or intervals of some parameters are not valid.

    Raised by :meth:`gmoe.GaussianMoERegressor.summary` and friends when the
    observed information is singular or ill-conditioned, a parameter is held at a
    bound, an expert is degenerate, the gate separates experts, or two experts
    cannot be told apart (an over-fitted model).  The rows concerned are NaN; the
    message says which and why.

    Examples
    --------
    Two experts fitted to data from one line: the second is redundant.

    >>> import warnings
    >>> import numpy as np
    >>> from gmoe import GaussianMoERegressor, InferenceWarning
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-2, 2, size=(600, 1))
    >>> y = 1 + 2 * X[:, 0] + 0.5 * rng.standard_normal(600)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     # the gate between two equal experts is free; it may drift to a step
    ...     moe = GaussianMoERegressor(2, n_init=5, random_state=0).fit(X, y)
    ...     table = moe.summary(X, y)
    >>> any(issubclass(w.category, InferenceWarning) for w in caught)
    True
    """


# ------------------------------------------------------------------ the maths
def _design(X):
    return np.column_stack([np.ones(X.shape[0]), X])


def per_sample_scores(Xt, y, gate, coef, var):
    """Gradient of each sample's log-density over the free parameters.

    With :math:`\\tau_{ni}` the responsibilities, :math:`\\pi_{ni}` the gate
    probabilities and :math:`r_{ni} = y_n - c_i^\\top \\tilde x_n`, the score of
    sample ``n`` has the blocks

    .. math::

        \\frac{\\partial \\log g_n}{\\partial \\beta_l} = (\\tau_{nl} - \\pi_{nl})
            \\tilde x_n \\ (l < k),\\qquad
        \\frac{\\partial \\log g_n}{\\partial c_i} = \\tau_{ni}
            \\frac{r_{ni}}{\\sigma_i} \\tilde x_n,\\qquad
        \\frac{\\partial \\log g_n}{\\partial \\log \\sigma_i} = \\frac{\\tau_{ni}}{2}
            \\Bigl(\\frac{r_{ni}^2}{\\sigma_i} - 1\\Bigr),

    in the order of :meth:`gmoe._model.MoEParams.to_vector` (gate rows but the
    last, expert rows, log-variances).

    Parameters
    ----------
    Xt : ndarray of shape (n, p)
        Design with a leading column of ones.
    y : ndarray of shape (n,)
    gate, coef : ndarray of shape (k, p)
        Gate rows (any reference; the scores do not depend on it) and expert rows.
    var : ndarray of shape (k,)
        Expert variances.

    Returns
    -------
    scores : ndarray of shape (n, (k - 1) p + k p + k)

    Examples
    --------
    >>> import numpy as np
    >>> Xt = np.column_stack([np.ones(4), np.linspace(0, 1, 4)])
    >>> gate = np.array([[1.0, -2.0], [0.0, 0.0]])
    >>> coef = np.array([[0.0, 1.0], [1.0, -1.0]])
    >>> S = per_sample_scores(Xt, np.array([0.1, 0.5, 0.2, 0.9]), gate, coef,
    ...                       np.array([0.5, 0.2]))
    >>> S.shape
    (4, 8)
    """
    n, p = Xt.shape
    k = coef.shape[0]
    pi = scipy.special.softmax(Xt @ gate.T, axis=1)
    resid = y[:, None] - Xt @ coef.T
    # the responsibilities: log pi + log N, normalised (the log-normaliser of the
    # gate cancels)
    tau = scipy.special.softmax(Xt @ gate.T - 0.5 * (np.log(var) + resid**2 / var),
                                axis=1)
    gate_part = ((tau - pi)[:, :k - 1, None] * Xt[:, None, :]).reshape(n, -1)
    z = resid / var
    coef_part = ((tau * z)[:, :, None] * Xt[:, None, :]).reshape(n, -1)
    logvar_part = 0.5 * tau * (resid * z - 1.0)
    return np.hstack([gate_part, coef_part, logvar_part])


def mean_function_gradient(Xt, gate, coef):
    """Gradient of the conditional mean over the free parameters.

    For :math:`m(x) = \\sum_i \\pi_i(x) \\mu_i(x)`, :math:`\\mu_i = c_i^\\top
    \\tilde x`: :math:`\\partial m / \\partial \\beta_l = \\pi_l (\\mu_l - m)
    \\tilde x` (``l < k``), :math:`\\partial m / \\partial c_i = \\pi_i \\tilde x`,
    zero for the log-variances.

    Parameters
    ----------
    Xt : ndarray of shape (n, p)
    gate, coef : ndarray of shape (k, p)

    Returns
    -------
    mean : ndarray of shape (n,)
    grad : ndarray of shape (n, (k - 1) p + k p + k)

    Examples
    --------
    >>> import numpy as np
    >>> Xt = np.column_stack([np.ones(3), np.linspace(0, 1, 3)])
    >>> mean, grad = mean_function_gradient(Xt, np.zeros((2, 2)), np.eye(2))
    >>> mean
    array([0.5 , 0.75, 1.  ])
    >>> grad.shape
    (3, 8)
    """
    n, p = Xt.shape
    k = coef.shape[0]
    pi = scipy.special.softmax(Xt @ gate.T, axis=1)
    mu = Xt @ coef.T
    mean = np.sum(pi * mu, axis=1)
    gate_part = ((pi * (mu - mean[:, None]))[:, :k - 1, None]
                 * Xt[:, None, :]).reshape(n, -1)
    coef_part = (pi[:, :, None] * Xt[:, None, :]).reshape(n, -1)
    return mean, np.hstack([gate_part, coef_part, np.zeros((n, k))])


def _params_arrays(params):
    """``(gate, coef, var)`` arrays (reference = last row) from a parameter dict."""
    gate = np.column_stack([params["gate_intercept"], params["gate_coef"]])
    gate = gate - gate[-1]
    coef = np.column_stack([params["expert_intercept"], params["expert_coef"]])
    return gate, coef, np.asarray(params["expert_variance"], dtype=float)


def _params_dict(gate, coef, var):
    gate = gate - gate[-1]
    return {
        "gate_intercept": gate[:, 0].copy(),
        "gate_coef": gate[:, 1:].copy(),
        "expert_intercept": coef[:, 0].copy(),
        "expert_coef": coef[:, 1:].copy(),
        "expert_variance": np.asarray(var, dtype=float).copy(),
    }


def _free_vector(params):
    return MoEParams(*_params_arrays(params)).to_vector()


def _expert_of_free(k, p):
    """The expert each free parameter belongs to, and whether it is a gate entry."""
    n_gate = (k - 1) * p
    expert = np.concatenate([np.repeat(np.arange(k - 1), p),
                             np.repeat(np.arange(k), p), np.arange(k)])
    is_gate = np.arange(n_gate + k * p + k) < n_gate
    return expert, is_gate


def align_experts(params, reference, *, scale_x=None, scale_y=1.0, X=None,
                  sample_weight=None):
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
        Parameter dicts (keys of :data:`gmoe.datasets.PARAM_NAMES`), ``k``
        experts each.
    scale_x : ndarray of shape (d,) or None, default=None
        Feature scales (None: ones).
    scale_y : float, default=1.0
        Response scale.
    X : ndarray of shape (n, d) or None, default=None
        Covariates over which the average gate probabilities are taken.
    sample_weight : ndarray of shape (n,) or None, default=None

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
    gate, coef, var = _params_arrays(params)
    rgate, rcoef, rvar = _params_arrays(reference)
    k, p = coef.shape
    scale = np.ones(p) if scale_x is None else np.concatenate([[1.0], scale_x])
    scale = scale / scale_y
    diff = (coef[:, None, :] - rcoef[None, :, :]) * scale
    cost = np.sum(diff**2, axis=2)
    cost += (np.log(var)[:, None] - np.log(rvar)[None, :]) ** 2
    if X is not None:
        Xt = _design(np.asarray(X, dtype=float))
        w = (np.ones(Xt.shape[0]) if sample_weight is None
             else np.asarray(sample_weight, dtype=float))
        mean_pi = w @ scipy.special.softmax(Xt @ gate.T, axis=1) / w.sum()
        rmean_pi = w @ scipy.special.softmax(Xt @ rgate.T, axis=1) / w.sum()
        cost += (mean_pi[:, None] - rmean_pi[None, :]) ** 2
    rows, cols = scipy.optimize.linear_sum_assignment(cost)
    permutation = np.empty(k, dtype=int)
    permutation[cols] = rows
    return _params_dict(gate[permutation], coef[permutation],
                        var[permutation]), permutation


# ------------------------------------------------------------ the estimator side
def _check_level(level):
    if (not isinstance(level, numbers.Real) or isinstance(level, bool)
            or not 0 < level < 1):
        raise ValueError(f"level must be a number in (0, 1), e.g. 0.95; got "
                         f"{level!r}.")
    return float(level)


def _check_method(method):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}.")


def _feature_labels(estimator, d):
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        return [str(name) for name in names]
    return list(range(d))


@dataclass
class _Checked:
    X: np.ndarray
    y: np.ndarray
    w: np.ndarray


def _check_data(estimator, X, y, sample_weight):
    """Validate ``X, y, sample_weight`` (that they are the training data is
    checked by :class:`MoEInference` through the log-likelihood)."""
    from sklearn.utils.validation import _check_sample_weight

    X = estimator._check_X(X)
    y = np.asarray(y, dtype=np.float64)
    if y.shape != (X.shape[0],):
        raise ValueError(
            f"y has shape {y.shape}; it must be 1-D with one value per row of X "
            f"({X.shape[0]}).")
    if not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinity.")
    w = _check_sample_weight(sample_weight, X, dtype=np.float64,
                             ensure_non_negative=True)
    return _Checked(X, y, w)


class MoEInference:
    """Sampling variability of a fitted :class:`gmoe.GaussianMoERegressor`.

    Made by :meth:`gmoe.GaussianMoERegressor.inference`; holds the covariance of
    the free parameters (Wald or sandwich) or the bootstrap draws, and gives the
    summary table (:meth:`summary`) and confidence bands of the mean function
    (:meth:`predict_mean_interval`) at any level without recomputing them.

    Attributes
    ----------
    method : {"wald", "sandwich", "bootstrap"}
    params : dict
        The fitted parameters (original units, last expert as gate reference).
    covariance : ndarray of shape (m, m)
        Covariance of the free parameters (gate rows of experts ``0 .. k-2``,
        expert rows, LOG-variances; the order of
        :meth:`gmoe._model.MoEParams.to_vector`), from the observed information
        (``"wald"``; also kept for ``"bootstrap"``) or the sandwich; NaN rows and
        columns for the parameters flagged in ``notes``.
    valid : ndarray of shape (m,), dtype=bool
        Free parameters whose standard errors are reported.
    draws : dict or None
        Bootstrap only: the aligned refitted parameters, one array per name of
        :data:`gmoe.datasets.PARAM_NAMES` with a leading axis of length
        ``n_boot``, plus ``"converged"`` (n_boot,) bool.
    notes : list of str
        Why rows are NaN, what the intervals mean (gate penalty, reference
        expert), how the bootstrap went.
    n_samples, n_experts : int
    log_likelihood : float
    gate_penalty : float
    bootstrap : {"nonparametric", "parametric"} or None

    Examples
    --------
    >>> from gmoe import GaussianMoERegressor
    >>> from gmoe.datasets import make_moe_regression
    >>> X, y = make_moe_regression(1000, random_state=0)
    >>> moe = GaussianMoERegressor(2, n_init=3, random_state=1).fit(X, y)
    >>> result = moe.inference(X, y)
    >>> result.method, result.n_experts, result.n_samples
    ('wald', 2, 1000)
    >>> result.covariance.shape, bool(result.valid.all())
    ((8, 8), True)
    >>> result.summary(level=0.9).columns.tolist()
    ['parameter', 'expert', 'feature', 'estimate', 'std_error', 'lower', 'upper']
    """

    def __init__(self, estimator, X, y, sample_weight=None, *, method="wald",
                 n_boot=200, bootstrap="nonparametric", random_state=None,
                 n_jobs=1, progress=False):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(estimator)
        from gmoe._estimator import require_dense_softmax

        require_dense_softmax(estimator, "inference (standard errors, intervals)")
        _check_method(method)
        if method == "bootstrap":
            if bootstrap not in BOOTSTRAP_KINDS:
                raise ValueError(f"bootstrap must be one of {BOOTSTRAP_KINDS}; got "
                                 f"{bootstrap!r}.")
            if (not isinstance(n_boot, numbers.Integral) or isinstance(n_boot, bool)
                    or n_boot < 2):
                raise ValueError(f"n_boot must be an integer >= 2 (200 or more for "
                                 f"95% intervals); got {n_boot!r}.")
        data = _check_data(estimator, X, y, sample_weight)
        self.method = method
        self.bootstrap = bootstrap if method == "bootstrap" else None
        self.params = {name: np.array(getattr(estimator, name + "_"), dtype=float)
                       for name in PARAM_NAMES}
        self.n_experts, self.n_features = self.params["gate_coef"].shape
        self.n_samples = data.X.shape[0]
        self.log_likelihood = float(estimator.log_likelihood_)
        self.gate_penalty = float(estimator.gate_penalty)
        self.feature_labels = _feature_labels(estimator, self.n_features)
        self.notes = []
        self._warnings = []
        self.draws = None
        # the products here are tall and thin (n x m, m small): one BLAS thread
        # is as fast, and spinning BLAS threads on a busy machine are very slow
        with threadpool_limits(limits=1, user_api="blas"):
            self._covariance(estimator, data, method)
        if method == "bootstrap":
            self.draws = bootstrap_draws(
                estimator, data.X, data.y, data.w, n_boot=n_boot, kind=bootstrap,
                random_state=random_state, n_jobs=n_jobs, progress=progress)
            failed = ~np.isfinite(self.draws["expert_variance"][:, 0])
            n_bad = int(np.sum(~self.draws["converged"] & ~failed))
            self.notes.append(
                f"{bootstrap} bootstrap, {n_boot} refits started from this fit "
                f"(n_init=1), experts matched to this fit's by an optimal "
                f"assignment; percentile intervals; {n_bad} refit(s) stopped "
                f"before converging (kept), {int(failed.sum())} failed (left "
                "out).")
        for message in self._warnings:
            warnings.warn(message, InferenceWarning, stacklevel=3)

    # ------------------------------------------------------------- covariance
    def _covariance(self, estimator, data, method):
        from gmoe._estimator import _Scaling

        k, d = self.n_experts, self.n_features
        p = d + 1
        gate, coef, var = _params_arrays(self.params)
        Xt = _design(data.X)
        model = SoftmaxGaussianMoE(Xt, data.y, data.w, var_lower=1e-300)
        params = MoEParams(gate, coef, var)
        ll, grad, hess = model.derivatives(params)
        target = self.log_likelihood
        if not abs(ll - target) <= DATA_RTOL * max(1.0, abs(target)):
            raise ValueError(
                "X, y (and sample_weight) must be the data the model was fitted "
                f"on: their log-likelihood at the fitted parameters is {ll:.10g}, "
                f"the fit's log_likelihood_ is {target:.10g}. Pass the training "
                "data (the estimator does not keep it).")
        m = hess.shape[0]
        n_gate = (k - 1) * p
        scaling = _Scaling(data.X, data.y, data.w)
        x_scale = scaling.x_scale
        if self.gate_penalty > 0:
            # the fit's penalty alpha/2 sum ||beta_1 x_scale||^2 (standardised
            # slopes), written in the original units
            pen = np.zeros((k - 1, p))
            pen[:, 1:] = self.gate_penalty * x_scale**2
            pen = pen.ravel()
            grad[:n_gate] -= pen * gate[:-1].ravel()
            hess[np.arange(n_gate), np.arange(n_gate)] -= pen
            self.notes.append(
                f"gate_penalty={self.gate_penalty:g}: the fit maximises a penalised "
                "likelihood; the standard errors and intervals are those of the "
                "penalised estimate (its curvature), which is biased towards zero "
                "in the gate slopes: they are not intervals for the unpenalised "
                "parameters.")
        self.notes.append(
            f"gate rows are relative to expert {k - 1} (the reference: its gate "
            "row is zero by convention, standard error NaN).")
        info = -0.5 * (hess + hess.T)
        expert, is_gate = _expert_of_free(k, p)
        removed = np.zeros(m, dtype=bool)

        # parameters held at a bound
        var_lower, var_upper, gate_bound = estimator._check_bounds(scaling, d)
        var_lower *= scaling.y_scale**2
        var_upper *= scaling.y_scale**2
        at_bound = np.zeros(m, dtype=bool)
        logvar = np.arange(m) >= m - k
        at_bound[logvar] = ((var <= var_lower * (1 + 1e-9))
                            | (var >= var_upper * (1 - 1e-9)))
        if gate_bound is not None:
            bound = gate_bound / x_scale
            held = np.abs(gate[:-1, 1:]) >= bound * (1 - 1e-9)
            mask = np.zeros((k - 1, p), dtype=bool)
            mask[:, 1:] = held
            at_bound[:n_gate] = mask.ravel()
        if at_bound.any():
            self._warn(f"{int(at_bound.sum())} parameter(s) of experts "
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
            self._warn(f"experts {degenerate.tolist()} are degenerate (too little "
                       "weight, or a variance at the floor): their rows are NaN"
                       + (" (and every gate row: the reference expert is one of "
                          "them)" if k - 1 in degenerate else "") + ".")
            removed |= bad

        # gate separation: the gate rows of the separated experts are infinite
        separated = list(getattr(estimator, "separated_experts_", []))
        if separated:
            involved = sorted({i for pair in separated for i in pair})
            removed |= is_gate & np.isin(expert, involved)
            self._warn(f"the gate separates experts {separated} completely: the "
                       "maximum likelihood estimate of their gate rows does not "
                       f"exist (gate rows of experts "
                       f"{[i for i in involved if i < k - 1]} are NaN). Refit with "
                       "gate_penalty > 0 for finite, penalised gate estimates.")

        if not getattr(estimator, "converged_", True):
            self._warn("the fit did not converge (converged_ is False): the "
                       "intervals assume a maximum of the likelihood; refit with a "
                       "larger max_iter.")

        keep = ~removed
        cov = np.full((m, m), np.nan)
        inv = _inverse_information(info[np.ix_(keep, keep)])
        if inv is None:
            self._warn("the observed information is singular or not positive "
                       "definite at the fit (an over-fitted model, collinear "
                       "features or a saddle point): every standard error is NaN.")
            keep[:] = False
        else:
            if method == "sandwich":
                scores = per_sample_scores(Xt, data.y, gate, coef, var)[:, keep]
                # centred: at a penalised maximum the scores do not sum to zero
                centre = data.w @ scores / data.w.sum()
                centred = scores - centre
                J = centred.T @ (data.w[:, None] * centred)
                inv = inv @ J @ inv
            cov[np.ix_(keep, keep)] = inv

            # over-fitting: redundant experts, or pairs that cannot be told apart
            deviance = removal_deviance(Xt, data.y, data.w, gate, coef, var)
            bic_penalty = REDUNDANT_PENALTY * (2 * p + 1) * np.log(data.w.sum())
            redundant = [int(i) for i in np.flatnonzero(deviance < bic_penalty)
                         if i not in degenerate]
            pairs = _indistinguishable_pairs(coef, var, cov, keep, k, p)
            if redundant:
                involved = sorted(set(redundant))
                bad = np.isin(expert, involved)
                if k - 1 in involved:
                    bad |= is_gate
                self._warn(
                    f"experts {involved} are redundant: removing one (its gate "
                    "share handed to the others, nothing refitted) lowers twice "
                    f"the log-likelihood by only "
                    f"{', '.join(f'{deviance[i]:.3g}' for i in involved)} (less "
                    f"than the BIC penalty {bic_penalty:.3g} of its {2 * p + 1} "
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
                self._warn(
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
        self.covariance = cov
        self.valid = keep
        self.gradient = grad

    def _warn(self, message):
        self._warnings.append(message)
        self.notes.append(message)

    # ----------------------------------------------------------------- results
    def _free_estimate(self):
        return _free_vector(self.params)

    def _table_index(self):
        """For every table row: (parameter, expert, feature, estimate, index of
        the free parameter or -1 for the reference gate row)."""
        k, d = self.n_experts, self.n_features
        p = d + 1
        n_gate = (k - 1) * p
        rows = []
        for name in PARAM_NAMES:
            value = self.params[name]
            for i in range(k):
                if name in ("gate_coef", "expert_coef"):
                    base = i * p if name == "gate_coef" else n_gate + i * p
                    for a in range(d):
                        free = base + 1 + a
                        if name == "gate_coef" and i == k - 1:
                            free = -1
                        rows.append((name, i, self.feature_labels[a],
                                     float(value[i, a]), free))
                    continue
                if name == "gate_intercept":
                    free = i * p if i < k - 1 else -1
                elif name == "expert_intercept":
                    free = n_gate + i * p
                else:
                    free = n_gate + k * p + i
                rows.append((name, i, None, float(value[i]), free))
        return rows

    def _draw_columns(self):
        """Bootstrap draws as columns in the order of the table rows."""
        columns = []
        for name in PARAM_NAMES:
            values = self.draws[name]
            columns.append(values.reshape(values.shape[0], -1))
        return np.hstack(columns)

    def summary(self, level=0.95):
        """The parameter table: estimates, standard errors, intervals.

        Parameters
        ----------
        level : float, default=0.95
            Confidence level of the intervals, in (0, 1).

        Returns
        -------
        table : pandas.DataFrame
            One row per parameter, columns ``parameter`` (a name of
            :data:`gmoe.datasets.PARAM_NAMES`), ``expert``, ``feature`` (index or
            name; None for intercepts and variances), ``estimate``,
            ``std_error``, ``lower``, ``upper``.  ``table.attrs`` holds the fit
            and method (``n_samples``, ``n_experts``, ``log_likelihood``,
            ``method``, ``level``, ``notes``); :func:`gmoe.format_summary`
            prints it.

        Examples
        --------
        >>> from gmoe import GaussianMoERegressor
        >>> from gmoe.datasets import make_moe_regression
        >>> X, y = make_moe_regression(1000, random_state=0)
        >>> moe = GaussianMoERegressor(2, n_init=3, random_state=1).fit(X, y)
        >>> table = moe.inference(X, y).summary(level=0.9)
        >>> table.shape
        (10, 7)
        """
        level = _check_level(level)
        z = scipy.stats.norm.ppf(0.5 + level / 2)
        theta = self._free_estimate()
        cov_diag = np.diag(self.covariance)
        rows = self._table_index()
        draws = self._draw_columns() if self.draws is not None else None
        records = []
        for index, (name, expert, feature, estimate, free) in enumerate(rows):
            se = lower = upper = np.nan
            valid = free >= 0 and self.valid[free]
            if valid and self.method != "bootstrap":
                se_free = np.sqrt(cov_diag[free])
                if name == "expert_variance":
                    se = estimate * se_free
                    lower = np.exp(theta[free] - z * se_free)
                    upper = np.exp(theta[free] + z * se_free)
                else:
                    se = se_free
                    lower, upper = estimate - z * se, estimate + z * se
            elif valid:
                column = draws[:, index]
                column = column[np.isfinite(column)]
                if column.size >= 2:
                    se = float(np.std(column, ddof=1))
                    lower, upper = np.quantile(column, [0.5 - level / 2,
                                                        0.5 + level / 2])
            records.append((name, expert, feature, estimate, se, lower, upper))
        table = pd.DataFrame.from_records(records, columns=COLUMNS)
        # feature labels stay as given (ints or names; None for intercepts and
        # variances), not coerced to floats
        table["feature"] = pd.Series([r[2] for r in records], dtype=object)
        table.attrs.update({
            "n_samples": self.n_samples,
            "n_experts": self.n_experts,
            "n_features": self.n_features,
            "log_likelihood": self.log_likelihood,
            "method": self.method if self.bootstrap is None
            else f"bootstrap ({self.bootstrap}, {len(self.draws['converged'])} "
                 "refits, percentile)",
            "level": level,
            "notes": list(self.notes),
        })
        return table

    def predict_mean_interval(self, X, level=0.95):
        """Confidence band of the conditional mean :math:`E[y \\mid x]`.

        ``"wald"``/``"sandwich"``: the delta method, :math:`\\hat m(x) \\pm z
        \\sqrt{\\nabla m(x)^\\top \\widehat{\\mathrm{Cov}}\\, \\nabla m(x)}`;
        ``"bootstrap"``: percentiles of the refits' mean functions at ``x``.  NaN
        where the band depends on a parameter whose standard error is NaN.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        level : float, default=0.95

        Returns
        -------
        interval : ndarray of shape (n_samples, 2)
            Lower and upper bounds of the band.

        Examples
        --------
        >>> import numpy as np
        >>> from gmoe import GaussianMoERegressor
        >>> from gmoe.datasets import make_moe_regression
        >>> X, y = make_moe_regression(1000, random_state=0)
        >>> moe = GaussianMoERegressor(2, n_init=3, random_state=1).fit(X, y)
        >>> band = moe.inference(X, y).predict_mean_interval([[0.2], [0.8]])
        >>> bool(np.all(band[:, 0] < band[:, 1]))
        True
        """
        level = _check_level(level)
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X must have shape (n_samples, {self.n_features}); "
                             f"got {X.shape}.")
        with threadpool_limits(limits=1, user_api="blas"):
            return self._mean_interval(_design(X), level)

    def _mean_interval(self, Xt, level):
        gate, coef, _ = _params_arrays(self.params)
        if self.method == "bootstrap":
            ok = np.isfinite(self.draws["expert_variance"][:, 0])
            means = []
            for b in np.flatnonzero(ok):
                g, c, _ = _params_arrays({name: self.draws[name][b]
                                          for name in PARAM_NAMES})
                means.append(mean_function_gradient(Xt, g, c)[0])
            means = np.array(means)
            band = np.quantile(means, [0.5 - level / 2, 0.5 + level / 2],
                               axis=0).T
            if not self.valid.any():
                band[:] = np.nan
            return band
        mean, grad = mean_function_gradient(Xt, gate, coef)
        z = scipy.stats.norm.ppf(0.5 + level / 2)
        valid = self.valid
        cov = self.covariance[np.ix_(valid, valid)]
        se = np.sqrt(np.maximum(np.einsum("na,ab,nb->n", grad[:, valid], cov,
                                          grad[:, valid]), 0.0))
        invalid_grad = np.abs(grad[:, ~valid]).max(axis=1, initial=0.0)
        spoiled = invalid_grad > NEGLIGIBLE_GRADIENT * np.abs(grad).max(axis=1)
        se[spoiled] = np.nan
        return np.column_stack([mean - z * se, mean + z * se])


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


def removal_deviance(Xt, y, w, gate, coef, var):
    """Twice the log-likelihood lost by removing each expert, nothing refitted.

    Without expert ``i`` the gate is renormalised over the others,
    :math:`\\pi_j / (1 - \\pi_i)`, which is a model with ``k - 1`` experts; so the
    loss is an upper bound of the likelihood-ratio statistic of the best
    ``k - 1``-expert model against this fit.  Below the BIC penalty
    :math:`(2p + 1) \\log n` of the expert's parameters, BIC prefers fewer experts
    even before any refit: the fit is over-fitted.

    Parameters
    ----------
    Xt : ndarray of shape (n, p)
    y, w : ndarray of shape (n,)
    gate, coef : ndarray of shape (k, p)
    var : ndarray of shape (k,)

    Returns
    -------
    deviance : ndarray of shape (k,)
        ``2 (loglik - loglik without expert i)``; ``inf`` for ``k = 1``.

    Examples
    --------
    >>> import numpy as np
    >>> Xt = np.column_stack([np.ones(200), np.linspace(-1, 1, 200)])
    >>> y = np.where(Xt[:, 1] < 0, 1.0, -1.0)
    >>> dev = removal_deviance(Xt, y, np.ones(200), np.array([[0, -20.0], [0, 0]]),
    ...                        np.array([[1.0, 0], [-1.0, 0]]), np.array([0.1, 0.1]))
    >>> bool(np.all(dev > 100))
    True
    """
    k = coef.shape[0]
    if k == 1:
        return np.full(1, np.inf)
    eta = Xt @ gate.T
    log_pi = eta - scipy.special.logsumexp(eta, axis=1, keepdims=True)
    resid = y[:, None] - Xt @ coef.T
    log_joint = log_pi - 0.5 * (np.log(2 * np.pi * var) + resid**2 / var)
    full = scipy.special.logsumexp(log_joint, axis=1)
    deviance = np.empty(k)
    for i in range(k):
        others = np.delete(np.arange(k), i)
        without = (scipy.special.logsumexp(log_joint[:, others], axis=1)
                   - scipy.special.logsumexp(log_pi[:, others], axis=1))
        deviance[i] = 2.0 * float(w @ (full - without))
    return deviance


def _indistinguishable_pairs(coef, var, cov, keep, k, p):
    """Pairs of experts whose rows and log-variances do not differ significantly.

    For experts ``i < j`` with all their expert rows and log-variances valid, the
    Wald statistic of :math:`(c_i - c_j, \\log\\sigma_i - \\log\\sigma_j) = 0` with
    ``p + 1`` degrees of freedom; a pair is returned when its p-value exceeds
    :data:`INDISTINGUISHABLE_LEVEL`.
    """
    n_gate = (k - 1) * p
    pairs = []
    for i in range(k):
        for j in range(i + 1, k):
            idx_i = np.r_[n_gate + i * p:n_gate + (i + 1) * p, n_gate + k * p + i]
            idx_j = np.r_[n_gate + j * p:n_gate + (j + 1) * p, n_gate + k * p + j]
            if not (keep[idx_i].all() and keep[idx_j].all()):
                continue
            diff = np.concatenate([coef[i] - coef[j], [np.log(var[i] / var[j])]])
            block = (cov[np.ix_(idx_i, idx_i)] + cov[np.ix_(idx_j, idx_j)]
                     - cov[np.ix_(idx_i, idx_j)] - cov[np.ix_(idx_j, idx_i)])
            try:
                stat = float(diff @ np.linalg.solve(block, diff))
            except np.linalg.LinAlgError:
                stat = 0.0
            if scipy.stats.chi2.sf(stat, p + 1) > INDISTINGUISHABLE_LEVEL:
                pairs.append((i, j))
    return pairs


# --------------------------------------------------------------------- bootstrap
def _bootstrap_one(estimator, X, y, w, kind, seed, start, reference, scaling):
    """One refit: resample, fit from ``start``, align to ``reference``."""
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    if kind == "nonparametric":
        counts = np.bincount(rng.integers(0, n, size=n), minlength=n)
        w_b, y_b = w * counts, y
    else:
        y_b, _ = draw_response(reference, X, rng)
        w_b = w
    fit_seed = int(rng.integers(np.iinfo(np.int32).max))
    model = clone(estimator).set_params(init_params=start, n_init=1,
                                        warm_start=False, random_state=fit_seed,
                                        verbose=0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y_b, sample_weight=w_b)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError):
        return None, False
    fitted = {name: getattr(model, name + "_") for name in PARAM_NAMES}
    aligned, _ = align_experts(fitted, reference, scale_x=scaling.x_scale,
                               scale_y=scaling.y_scale, X=X, sample_weight=w)
    return aligned, bool(model.converged_)


def bootstrap_draws(estimator, X, y, sample_weight=None, *, n_boot=200,
                    kind="nonparametric", random_state=None, n_jobs=1,
                    progress=False):
    """Refit a fitted estimator on ``n_boot`` bootstrap data sets.

    Replicate ``b`` draws its data from ``SeedSequence(random_state).spawn(n_boot)
    [b]``, so the draws do not depend on ``n_jobs``.  ``kind="nonparametric"``
    resamples the rows (with replacement; the sample weights of the drawn rows
    are kept, weights being counts); ``kind="parametric"`` keeps X and draws y
    from the fitted model.  Each refit is a clone of ``estimator`` started from
    its fitted parameters (``init_params`` dict, ``n_init=1``), its experts then
    relabelled by :func:`align_experts`.

    Parameters
    ----------
    estimator : GaussianMoERegressor
        Fitted.
    X : ndarray of shape (n, d)
    y : ndarray of shape (n,)
    sample_weight : ndarray of shape (n,) or None, default=None
    n_boot : int, default=200
    kind : {"nonparametric", "parametric"}, default="nonparametric"
    random_state : int, numpy.random.SeedSequence or None, default=None
    n_jobs : int, default=1
        Worker processes (joblib); -1 uses every core.
    progress : bool, default=False
        Show a progress bar (tqdm).

    Returns
    -------
    draws : dict
        One array per name of :data:`gmoe.datasets.PARAM_NAMES`, with a leading
        axis of length ``n_boot`` (NaN for a refit that failed), and
        ``"converged"`` (n_boot,) bool.

    Examples
    --------
    >>> from gmoe import GaussianMoERegressor
    >>> from gmoe.datasets import make_moe_regression
    >>> X, y = make_moe_regression(500, random_state=0)
    >>> moe = GaussianMoERegressor(2, n_init=3, random_state=1).fit(X, y)
    >>> draws = bootstrap_draws(moe, X, y, n_boot=3, random_state=0)
    >>> draws["expert_coef"].shape
    (3, 2, 1)
    """
    from gmoe._estimator import _Scaling

    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    w = (np.ones(X.shape[0]) if sample_weight is None
         else np.asarray(sample_weight, dtype=float))
    if kind not in BOOTSTRAP_KINDS:
        raise ValueError(f"kind must be one of {BOOTSTRAP_KINDS}; got {kind!r}.")
    if isinstance(random_state, np.random.SeedSequence):
        root = random_state
    elif random_state is None or isinstance(random_state, numbers.Integral):
        root = np.random.SeedSequence(random_state)
    else:
        raise ValueError("random_state must be an int, a numpy.random.SeedSequence "
                         f"or None; got {random_state!r}.")
    seeds = root.spawn(n_boot)
    reference = {name: np.array(getattr(estimator, name + "_"), dtype=float)
                 for name in PARAM_NAMES}
    scaling = _Scaling(X, y, w)
    args = (X, y, w, kind)
    if n_jobs == 1:
        results = (_bootstrap_one(estimator, *args, seed, reference, reference,
                                  scaling) for seed in seeds)
    else:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=n_jobs, return_as="generator")(
            delayed(_bootstrap_one)(estimator, *args, seed, reference, reference,
                                    scaling) for seed in seeds)
    if progress:
        from tqdm.auto import tqdm

        results = tqdm(results, total=n_boot, desc=f"{kind} bootstrap")
    draws = {name: np.full((n_boot,) + reference[name].shape, np.nan)
             for name in PARAM_NAMES}
    converged = np.zeros(n_boot, dtype=bool)
    for b, (params, ok) in enumerate(results):
        if params is None:
            continue
        for name in PARAM_NAMES:
            draws[name][b] = params[name]
        converged[b] = ok
    draws["converged"] = converged
    return draws


# ---------------------------------------------------------------------- printing
def format_summary(table, *, digits=4):
    """The summary table as text, with a header of the fit and the method.

    Parameters
    ----------
    table : pandas.DataFrame
        As returned by :meth:`gmoe.GaussianMoERegressor.summary` (its ``attrs``
        make the header; a table without them prints without header).
    digits : int, default=4
        Significant digits of the numbers.

    Returns
    -------
    text : str

    Examples
    --------
    >>> from gmoe import GaussianMoERegressor, format_summary
    >>> from gmoe.datasets import make_moe_regression
    >>> X, y = make_moe_regression(1000, random_state=0)
    >>> moe = GaussianMoERegressor(2, n_init=3, random_state=1).fit(X, y)
    >>> print(format_summary(moe.summary(X, y)).splitlines()[0])
    Softmax-gated Gaussian MoE: n = 1000, k = 2, log-likelihood = -424.7
    """
    attrs = table.attrs
    lines = []
    if attrs:
        lines.append(
            f"Softmax-gated Gaussian MoE: n = {attrs['n_samples']}, "
            f"k = {attrs['n_experts']}, log-likelihood = "
            f"{attrs['log_likelihood']:.1f}")
        lines.append(f"Method: {attrs['method']}; level {attrs['level']:g}")
    shown = table.copy()
    shown["feature"] = ["" if f is None or f is np.nan else str(f)
                        for f in shown["feature"]]
    body = shown.to_string(index=False, float_format=lambda v: f"{v:.{digits}g}",
                           na_rep="NaN")
    lines.append(body)
    for note in attrs.get("notes", []):
        lines.append(f"Note: {note}")
    return "\n".join(lines)
