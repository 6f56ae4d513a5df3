"""What a fitted estimator offers beyond prediction: its mixing measure,
draws, routing diagnostics, information criteria and inference (the methods of
:class:`gmoe.GaussianMoERegressor` that read its fitted parameters)."""

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from gmoe.estimator._validation import EXPERT_PARAM_NAMES
from gmoe.experts import GaussianLinear
from gmoe.gates import Softmax
from gmoe.inference._inference import MoEInference, _check_level
from gmoe.inference._routing import routing_diagnostics
from gmoe.theory._measure import MixingMeasure


class NoMixingMeasureError(ValueError, AttributeError):
    """A fitted model with no mixing measure (a sparse gate's).

    Both a :class:`ValueError` (what it is) and an :class:`AttributeError`, as
    scikit-learn's ``NotFittedError``: ``hasattr(estimator, "mixing_measure_")``
    is then False and ``dir(estimator)`` works.
    """


class FittedMixtureMixin:
    """The methods of a fitted :class:`gmoe.GaussianMoERegressor` that read its
    fitted parameters (mixed into the estimator)."""

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
        ``TopK``, ``TopP``) have none here (``NoMixingMeasureError``, a
        ``ValueError`` that is also an ``AttributeError``).

        Examples
        --------
        >>> from gmoe import GaussianMoERegressor
        >>> from gmoe.datasets import make_moe_regression
        >>> X, y = make_moe_regression(500, random_state=0)
        >>> GaussianMoERegressor(random_state=0).fit(X, y).mixing_measure_.n_atoms
        2
        """
        check_is_fitted(self)
        measure = self._fitted_gate().mixing_measure(self._params_dict())
        if measure is not None:
            return measure
        try:
            return MixingMeasure.from_estimator(self)
        except ValueError as error:
            raise NoMixingMeasureError(str(error)) from None

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
        >>> from gmoe import GaussianMoERegressor
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
        >>> from gmoe import GaussianMoERegressor
        >>> from gmoe.datasets import TOPK_TRUTH, make_moe_regression
        >>> X, y = make_moe_regression(1000, TOPK_TRUTH, random_state=0, top_k=2)
        >>> moe = GaussianMoERegressor(4, top_k=2, n_init=2, solver="em",
        ...                            random_state=0).fit(X, y)
        >>> moe.routing_report(X).summary["mean_active"] <= 2
        True
        """
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
        >>> from gmoe import GaussianMoERegressor
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
        ``m = n_parameters()`` and ``n`` the number of samples.  After a
        penalised fit (``gate_penalty``, ``balance_penalty``) it is that of the
        plain log-likelihood at the penalised estimate (the penalty is not
        counted).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        bic : float

        Examples
        --------
        >>> from gmoe import GaussianMoERegressor
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
        ``m = n_parameters()``; after a penalised fit, of the plain
        log-likelihood at the penalised estimate, as :meth:`bic`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        aic : float

        Examples
        --------
        >>> from gmoe import GaussianMoERegressor
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
        >>> from gmoe import GaussianMoERegressor
        >>> from gmoe.datasets import make_moe_regression
        >>> X, y = make_moe_regression(1000, random_state=0)
        >>> moe = GaussianMoERegressor(2, n_init=3, random_state=1).fit(X, y)
        >>> result = moe.inference(X, y, method="sandwich")
        >>> result.covariance.shape
        (8, 8)
        """
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
        ``v_i = w_i / (|w_i| + theta)``).  For a sparse gate the intervals are
        those of the fit's piece (every sample's selection held as fitted; see
        the user guide).  After a fit with ``balance_penalty`` (or
        ``gate_penalty``) they are those of the penalised estimate (Wald: the
        inverse Hessian of the penalised objective), and a note says so.  The
        plain cosine router raises a ``ValueError`` that says why.

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
        >>> from gmoe import GaussianMoERegressor
        >>> from gmoe.datasets import make_moe_regression
        >>> X, y = make_moe_regression(1000, random_state=0)
        >>> moe = GaussianMoERegressor(2, n_init=3, random_state=1).fit(X, y)
        >>> table = moe.summary(X, y)
        >>> list(table.columns)
        ['parameter', 'expert', 'feature', 'estimate', 'std_error', 'lower', 'upper']
        """
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
        >>> from gmoe import GaussianMoERegressor
        >>> import numpy as np
        >>> from gmoe.datasets import make_moe_regression
        >>> X, y = make_moe_regression(1000, random_state=0)
        >>> moe = GaussianMoERegressor(2, n_init=3, random_state=1).fit(X, y)
        >>> band = moe.predict_mean_interval([[0.2], [0.8]], X, y)
        >>> band.shape
        (2, 2)
        """
        _check_level(level)
        X = self._check_X(X)
        return self.inference(X_fit, y_fit, sample_weight, method=method,
                              **options).predict_mean_interval(X, level)
