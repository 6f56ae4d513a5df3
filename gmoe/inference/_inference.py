"""Standard errors, confidence intervals and a summary table of a fitted MoE.

Three routes to the sampling variability of the maximum-likelihood estimate
:math:`\\hat\\theta` of a :class:`gmoe.GaussianMoERegressor`:

- ``"wald"``: the observed information :math:`I = -\\nabla^2 \\ell(\\hat\\theta)`,
  the exact Hessian of the observed log-likelihood (one pass of the compiled
  kernel, :meth:`gmoe.engine._model.SoftmaxGaussianMoE.derivatives`), and
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
from threadpoolctl import threadpool_limits

from gmoe.gates._base import identity_scaling
from gmoe.inference._align import fitted_engine
from gmoe.inference._bootstrap import BOOTSTRAP_KINDS, bootstrap_draws
from gmoe.inference._covariance import covariance
from gmoe.model._conditional import require_dense_gate

__all__ = [
    "InferenceWarning",
    "MoEInference",
]

METHODS = ("wald", "sandwich", "bootstrap")

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
        :meth:`gmoe.engine._model.MoEParams.to_vector`), from the observed information
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
                           conditional_gaussian=True, joint=True, sparse=True)
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
            covariance(self, estimator, data, method)
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
            fixed = self.gate.fixed_coordinates(k, d)
            for experts, coords in self.gate.translations(k, d):
                block = blocks[experts]
                block[:, coords] -= block[-1, coords]
                blocks[experts] = block
            labels = self.gate.block_names(d)
            shared = self.gate.shared_mask(k)
            for i in range(k):
                for a, label in enumerate(labels):
                    if not fixed[i, a]:
                        rows.append(("shared_score" if shared[i] else "gate_score",
                                     i, label, float(blocks[i, a]),
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
