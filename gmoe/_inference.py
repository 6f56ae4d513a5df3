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

from gmoe._conditional import require_dense_gate
from gmoe._model import MoEParams
from gmoe.datasets import draw_response
from gmoe.gates._base import identity_scaling

__all__ = [
    "InferenceWarning",
    "MoEInference",
    "align_experts",
    "fitted_engine",
    "format_summary",
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


def fitted_engine(gate, params, X, y=None, w=None, experts=None):
    """The model of any gate on data in the ORIGINAL units, and the fitted
    parameters as its :class:`gmoe._model.MoEParams`.

    The gate reads ``X`` as given (no standardisation), so that the free
    parameters of :class:`gmoe._gated_model.GatedGaussianMoE` are the reported
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
    from gmoe._gated_model import GatedGaussianMoE

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
        The fitted parameters (original units, the gate in reference form): the
        gate's attributes and the experts'.
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
        ``params`` with a leading axis of length ``n_boot``, plus
        ``"converged"`` (n_boot,) bool.
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
        require_dense_gate(estimator, "inference (standard errors, intervals)",
                           conditional_gaussian=True, joint=True)
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
        self.params = {name: np.array(value, dtype=float)
                       for name, value in estimator._params_dict().items()}
        fitted_gate = estimator._fitted_gate()
        # the gate in the parametrisation the likelihood identifies (the same
        # weights): the blocks of that gate are what the table reports
        self.gate = fitted_gate.summary_gate()
        self._reparametrised = self.gate is not fitted_gate
        self.gate_label = repr(fitted_gate)
        self.experts = estimator._fitted_experts()
        self.n_experts, self.n_features = self.params["expert_coef"].shape
        self.n_samples = data.X.shape[0]
        # the objective the fit maximised: the joint log-likelihood of (x, y)
        # for a gate with an x-marginal
        self.log_likelihood = float(
            estimator.joint_log_likelihood_ if fitted_gate.marginal
            else estimator.log_likelihood_)
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
        model, params = fitted_engine(self.gate, self.params, data.X, data.y,
                                      data.w, self.experts)
        gate, coef, var = params.gate, params.coef, params.var
        self._theta = model.to_vector(params)
        ll, grad, hess = model.derivatives(params)
        target = self.log_likelihood
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
        if self._block_rows():
            self.notes.append(
                f"the {self.gate.name} gate is summarised by the coefficients of its "
                "scores (gate_score rows, one per block coordinate): the parameters "
                "the likelihood identifies; its fitted attributes are functions of "
                "them.")
        if model.gauge.all():
            self.notes.append(
                f"gate rows are relative to expert {k - 1} (the reference: its "
                "gate row is zero by convention, standard error NaN).")
        elif model.gauge.any():
            names = [name for name, held in zip(self.gate.block_names(d),
                                                model.gauge, strict=True) if held]
            self.notes.append(
                f"the gate's {', '.join(names)} are relative to expert {k - 1} (the "
                "reference: zero by convention, standard error NaN); its other "
                "gate coordinates are free.")
        else:
            self.notes.append(f"the {self.gate.name} gate has no reference expert: "
                              "every expert's gate row is free.")
        info = -0.5 * (hess + hess.T)
        expert, kind, coordinate = model.free_layout(k)
        is_gate = kind == "gate"
        self._layout = {(kind[j], int(expert[j]), int(coordinate[j])): j
                        for j in range(m)}
        for j in np.flatnonzero(expert < 0):  # shared by every expert
            self._layout.update({(kind[j], i, int(coordinate[j])): j
                                 for i in range(k)})
        if self.experts.summary_note():
            self.notes.append(self.experts.summary_note())
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
            n_expert = (self.experts.n_parameters(k, d)
                        - self.experts.n_parameters(k - 1, d) + model.m)
            bic_penalty = REDUNDANT_PENALTY * n_expert * np.log(data.w.sum())
            redundant = [int(i) for i in np.flatnonzero(deviance < bic_penalty)
                         if i not in degenerate]
            pairs = _indistinguishable_pairs(coef, var, cov, keep, self._layout)
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
        return self._theta

    def _block_rows(self):
        """Whether the gate's table rows are its blocks (the coefficients of its
        scores, reference form) rather than its fitted attributes: for a gate
        whose attributes are not block coordinates (the Gaussian gate's weights,
        means and covariances are functions of them)."""
        return (self._reparametrised
                or not set(self.gate.attributes) <= {"gate_intercept", "gate_coef"})

    def _table_rows(self, params):
        """For every table row: (parameter, expert, feature, value in ``params``,
        index of the free parameter or -1 where there is none: the reference's
        gate coordinates)."""
        k, d = self.n_experts, self.n_features
        where = {"gate_intercept": ("gate", 0), "gate_coef": ("gate", 1),
                 "expert_intercept": ("coef", 0), "expert_coef": ("coef", 1),
                 "expert_variance": ("logvar", 0)}
        rows = []
        names = list(params)
        if self._block_rows():
            blocks = self.gate.from_original(params, identity_scaling(d))
            gauge = self.gate.gauge(d)
            blocks[:, gauge] -= blocks[-1, gauge]
            labels = self.gate.block_names(d)
            for i in range(k):
                for a, label in enumerate(labels):
                    rows.append(("gate_score", i, label, float(blocks[i, a]),
                                 self._layout.get(("gate", i, a), -1)))
            names = [name for name in names if name not in self.gate.attributes]
        for name in names:
            value = params[name]
            kind, first = where[name]
            for i in range(k):
                if value.ndim == 2:
                    for a in range(d):
                        free = self._layout.get((kind, i, first + a), -1)
                        rows.append((name, i, self.feature_labels[a],
                                     float(value[i, a]), free))
                else:
                    free = self._layout.get((kind, i, first), -1)
                    rows.append((name, i, None, float(value[i]), free))
        return rows

    def _table_index(self):
        return self._table_rows(self.params)

    def _draw_columns(self):
        """Bootstrap draws as columns in the order of the table rows (NaN for a
        refit that failed)."""
        n_boot = len(self.draws["converged"])
        if not self._block_rows():
            return np.hstack([self.draws[name].reshape(n_boot, -1)
                              for name in self.params])
        columns = np.full((n_boot, len(self._table_index())), np.nan)
        for b in np.flatnonzero(np.isfinite(self.draws["expert_variance"][:, 0])):
            draw = {name: self.draws[name][b] for name in self.params}
            columns[b] = [row[3] for row in self._table_rows(draw)]
        return columns

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
            ``params``: the gate's attributes and the experts'), ``expert``,
            ``feature`` (index or name; None for intercepts and variances),
            ``estimate``, ``std_error``, ``lower``, ``upper``.  ``table.attrs``
            holds the fit
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
            "gate": self.gate_label,
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
            return self._mean_interval(X, level)

    def _mean_interval(self, X, level):
        if self.method == "bootstrap":
            ok = np.isfinite(self.draws["expert_variance"][:, 0])
            means = []
            for b in np.flatnonzero(ok):
                model, theta = fitted_engine(
                    self.gate, {name: self.draws[name][b] for name in self.params},
                    X, experts=self.experts)
                means.append(model.mean_and_gradient(theta)[0])
            means = np.array(means)
            band = np.quantile(means, [0.5 - level / 2, 0.5 + level / 2],
                               axis=0).T
            if not self.valid.any():
                band[:] = np.nan
            return band
        model, theta = fitted_engine(self.gate, self.params, X,
                                     experts=self.experts)
        mean, grad = model.mean_and_gradient(theta)
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


# --------------------------------------------------------------------- bootstrap
def _draw_response(gate, params, X, rng):
    """y drawn given X from a fitted model of any gate (the softmax gate's own
    sampler, :func:`gmoe.datasets.draw_response`, for that gate)."""
    from gmoe.gates import Softmax

    if type(gate) is Softmax:
        return draw_response(params, X, rng)[0]
    identity = identity_scaling(X.shape[1])
    pi = np.exp(gate.log_weights(gate.features(X, identity),
                                 gate.from_original(params, identity)))
    cumulative = np.cumsum(pi, axis=1)
    u = rng.uniform(size=(X.shape[0], 1)) * cumulative[:, -1:]
    experts = np.minimum(np.sum(cumulative < u, axis=1), pi.shape[1] - 1)
    means = (params["expert_intercept"][experts]
             + np.sum(X * params["expert_coef"][experts], axis=1))
    sd = np.sqrt(params["expert_variance"][experts])
    return means + sd * rng.standard_normal(X.shape[0])


def _bootstrap_one(estimator, X, y, w, kind, seed, start, reference, scaling):
    """One refit: resample, fit from ``start``, align to ``reference``."""
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    gate = estimator._fitted_gate()
    if kind == "nonparametric":
        counts = np.bincount(rng.integers(0, n, size=n), minlength=n)
        w_b, y_b = w * counts, y
    else:
        y_b = _draw_response(gate, reference, X, rng)
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
    aligned, _ = align_experts(model._params_dict(), reference,
                               scale_x=scaling.x_scale, scale_y=scaling.y_scale,
                               X=X, sample_weight=w, gate=gate)
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
        One array per fitted parameter (the gate's attributes and the
        experts'), with a leading axis of length ``n_boot`` (NaN for a refit
        that failed), and
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
    reference = {name: np.array(value, dtype=float)
                 for name, value in estimator._params_dict().items()}
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
    draws = {name: np.full((n_boot,) + value.shape, np.nan)
             for name, value in reference.items()}
    converged = np.zeros(n_boot, dtype=bool)
    for b, (params, ok) in enumerate(results):
        if params is None:
            continue
        for name in reference:
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
    Gaussian MoE, gate Softmax(): n = 1000, k = 2, log-likelihood = -424.7
    """
    attrs = table.attrs
    lines = []
    if attrs:
        lines.append(
            f"Gaussian MoE, gate {attrs.get('gate', 'Softmax()')}: "
            f"n = {attrs['n_samples']}, "
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
