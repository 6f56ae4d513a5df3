"""The conditional distribution of y given x of a Gaussian mixture of experts.

.. math::

    g(y \\mid x) = \\sum_{i=1}^k \\pi_i(x)\\, \\mathcal N(y;\\, a_i^\\top x + b_i,\\,
    \\sigma_i)

Everything a model says about y given x (the conditional mean, variance,
quantiles and density, the responsibilities, draws) follows from the gate
weights :math:`\\pi_i(x)` and the experts :math:`(a_i, b_i, \\sigma_i)`.
:class:`ConditionalMixture` computes it once for the fitted
:class:`gmoe.GaussianMoERegressor` and for :class:`gmoe.MixingMeasure`, which
supply the gate weights and the experts.
"""

import numpy as np
import scipy.special
import scipy.stats

from gmoe.datasets import _draw_given_gate, _generator

__all__ = ["ConditionalMixture", "require_dense_gate"]

_LOG_2PI = np.log(2.0 * np.pi)


class ConditionalMixture:
    """Predictions of a Gaussian mixture of experts from its gate and experts.

    A subclass supplies :meth:`_check_X` (X validated, shape ``(n, d)``),
    :meth:`_log_gate` (``log pi_i(x_n)``, shape ``(n, k)``) and
    :meth:`_experts` (``(coef (k, d), intercept (k,), variance (k,))``, the
    variances :math:`\\sigma_i`).
    """

    def _check_X(self, X):
        raise NotImplementedError

    def _log_gate(self, X):
        raise NotImplementedError

    def _experts(self):
        raise NotImplementedError

    def _check_y(self, X, y):
        y = np.asarray(y, dtype=np.float64)
        if y.shape != (X.shape[0],):
            raise ValueError(
                f"y has shape {y.shape}; it must be 1-D with one value per row of X "
                f"({X.shape[0]})."
            )
        if not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or infinity.")
        return y

    def _expert_means(self, X):
        coef, intercept, _ = self._experts()
        return X @ np.asarray(coef).T + intercept

    def _log_joint(self, X, y):
        """``log pi_i(x_n) + log N(y_n; mu_i(x_n), sigma_i)``, shape (n, k)."""
        X = self._check_X(X)
        y = self._check_y(X, y)
        var = np.asarray(self._experts()[2])
        resid = y[:, None] - self._expert_means(X)
        log_normal = -0.5 * (_LOG_2PI + np.log(var) + resid**2 / var)
        return self._log_gate(X) + log_normal

    def predict(self, X):
        """Conditional mean
        :math:`E[y \\mid x] = \\sum_i \\pi_i(x) (a_i^\\top x + b_i)`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_mean : ndarray of shape (n_samples,)

        Examples
        --------
        >>> from gmoe import MixingMeasure
        >>> from gmoe.datasets import N23_TRUTH
        >>> MixingMeasure.from_params(**N23_TRUTH).predict([[0.5]])
        array([5.])
        """
        X = self._check_X(X)
        return np.sum(np.exp(self._log_gate(X)) * self._expert_means(X), axis=1)

    def predict_gate(self, X):
        """Gate probabilities :math:`\\pi_i(x)`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        gate : ndarray of shape (n_samples, n_experts)
            Rows sum to 1.

        Examples
        --------
        >>> from gmoe import MixingMeasure
        >>> from gmoe.datasets import N23_TRUTH
        >>> MixingMeasure.from_params(**N23_TRUTH).predict_gate([[0.0], [1.0]]).round(4)
        array([[3.000e-04, 9.997e-01],
               [1.000e+00, 0.000e+00]])
        """
        return np.exp(self._log_gate(self._check_X(X)))

    def predict_experts(self, X):
        """Mean of each expert, :math:`a_i^\\top x + b_i`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        means : ndarray of shape (n_samples, n_experts)

        Examples
        --------
        >>> from gmoe import MixingMeasure
        >>> from gmoe.datasets import N23_TRUTH
        >>> MixingMeasure.from_params(**N23_TRUTH).predict_experts([[0.5]])
        array([[5., 5.]])
        """
        return self._expert_means(self._check_X(X))

    def predict_responsibilities(self, X, y):
        """Posterior probability that expert ``i`` generated ``y_n`` given ``x_n``.

        :math:`\\tau_{ni} \\propto \\pi_i(x_n) \\mathcal N(y_n; a_i^\\top x_n + b_i,
        \\sigma_i)`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        resp : ndarray of shape (n_samples, n_experts)
            Rows sum to 1.

        Examples
        --------
        >>> from gmoe import MixingMeasure
        >>> from gmoe.datasets import N23_TRUTH
        >>> G = MixingMeasure.from_params(**N23_TRUTH)
        >>> G.predict_responsibilities([[0.3], [0.3]], [9.0, 1.0]).round(3)
        array([[1., 0.],
               [0., 1.]])
        """
        log_joint = self._log_joint(X, y)
        return np.exp(log_joint - scipy.special.logsumexp(log_joint, axis=1,
                                                          keepdims=True))

    def score_samples(self, X, y):
        """Log conditional density :math:`\\log g(y_n \\mid x_n)` of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            For a fitted model, at the training data, ``log_density @
            sample_weight`` equals ``log_likelihood_``.

        Examples
        --------
        >>> import numpy as np
        >>> from gmoe import MixingMeasure
        >>> G = MixingMeasure(gate_intercept=[0.0], gate_coef=[[0.0]],
        ...                   expert_intercept=[0.0], expert_coef=[[0.0]],
        ...                   expert_variance=[1.0])
        >>> bool(np.isclose(G.score_samples([[0.0]], [0.0])[0],
        ...                 -0.5 * np.log(2 * np.pi)))
        True
        """
        return scipy.special.logsumexp(self._log_joint(X, y), axis=1)

    def predict_variance(self, X):
        """Conditional variance of y given x (law of total variance).

        :math:`\\sum_i \\pi_i(x) (\\sigma_i + \\mu_i(x)^2) - (\\sum_i \\pi_i(x)
        \\mu_i(x))^2` with :math:`\\mu_i(x) = a_i^\\top x + b_i`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        variance : ndarray of shape (n_samples,)

        Examples
        --------
        >>> from gmoe import MixingMeasure
        >>> from gmoe.datasets import N23_TRUTH
        >>> G = MixingMeasure.from_params(**N23_TRUTH)
        >>> G.predict_variance([[1.0]]).round(4)   # expert 1 alone: its variance
        array([0.09])
        """
        X = self._check_X(X)
        gate = np.exp(self._log_gate(X))
        means = self._expert_means(X)
        mean = np.sum(gate * means, axis=1)
        second = np.sum(gate * (self._experts()[2] + means**2), axis=1)
        return np.maximum(second - mean**2, 0.0)

    def predict_quantile(self, X, q):
        """Quantiles of the conditional distribution of y given x.

        Solves :math:`\\sum_i \\pi_i(x) \\Phi((y - \\mu_i(x)) / \\sqrt{\\sigma_i}) = q`
        for y, to about 1e-10 relative precision, within the bracket of the experts'
        own quantiles (the mixture quantile lies between their minimum and maximum).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        q : float or array-like of shape (n_quantiles,)
            Probabilities in (0, 1).

        Returns
        -------
        quantiles : ndarray of shape (n_samples,) or (n_samples, n_quantiles)
            The first when ``q`` is a scalar.

        Examples
        --------
        >>> from gmoe import MixingMeasure
        >>> from gmoe.datasets import N23_TRUTH
        >>> G = MixingMeasure.from_params(**N23_TRUTH)
        >>> G.predict_quantile([[0.1], [0.9]], [0.1, 0.5, 0.9]).shape
        (2, 3)
        >>> float(G.predict_quantile([[1.0]], 0.5)[0].round(6))  # expert 1's mean
        -5.0
        """
        q_arr = np.asarray(q, dtype=float)
        if q_arr.ndim > 1 or not np.all((q_arr > 0) & (q_arr < 1)):
            raise ValueError("q must be a probability or a 1-D array of them in "
                             f"(0, 1); got {q!r}.")
        X = self._check_X(X)
        gate = np.exp(self._log_gate(X))[:, :, None]
        means = self._expert_means(X)[:, :, None]
        sd = np.sqrt(self._experts()[2])[None, :, None]
        qs = np.atleast_1d(q_arr)[None, :]
        expert_q = means + sd * scipy.stats.norm.ppf(qs)[:, None, :]
        lo = expert_q.min(axis=1)
        hi = expert_q.max(axis=1)

        def cdf_gap(yv):
            z = (yv[:, None, :] - means) / sd
            return np.sum(gate * scipy.stats.norm.cdf(z), axis=1) - qs

        y_cur = 0.5 * (lo + hi)
        for _ in range(200):
            gap = cdf_gap(y_cur)
            lo = np.where(gap < 0, y_cur, lo)
            hi = np.where(gap >= 0, y_cur, hi)
            z = (y_cur[:, None, :] - means) / sd
            density = np.sum(gate * scipy.stats.norm.pdf(z) / sd, axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                newton = y_cur - gap / density
            inside = np.isfinite(newton) & (newton > lo) & (newton < hi)
            y_new = np.where(inside, newton, 0.5 * (lo + hi))
            done = np.abs(y_new - y_cur) <= 1e-12 * (1 + np.abs(y_cur))
            y_cur = y_new
            if np.all(done):
                break
        return y_cur[:, 0] if q_arr.ndim == 0 else y_cur

    def predict_interval(self, X, coverage=0.9):
        """Central prediction interval of y given x.

        The interval between the ``(1 - coverage) / 2`` and ``(1 + coverage) / 2``
        conditional quantiles (see :meth:`predict_quantile`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        coverage : float, default=0.9
            Probability in (0, 1) that y falls in the interval.

        Returns
        -------
        interval : ndarray of shape (n_samples, 2)
            Lower and upper bounds.

        Examples
        --------
        >>> import numpy as np
        >>> from gmoe import MixingMeasure
        >>> from gmoe.datasets import N23_TRUTH
        >>> G = MixingMeasure.from_params(**N23_TRUTH)
        >>> X, y = G.sample(2000, random_state=0)
        >>> lo, hi = G.predict_interval(X, coverage=0.9).T
        >>> bool(0.87 < np.mean((lo <= y) & (y <= hi)) < 0.93)
        True
        """
        if not 0 < coverage < 1:
            raise ValueError(f"coverage must be in (0, 1); got {coverage!r}.")
        return self.predict_quantile(X, [(1 - coverage) / 2, (1 + coverage) / 2])

    def _draw(self, X, random_state=None):
        """One draw of y per row of (validated) X, and the expert it came from."""
        rng = _generator(random_state)
        _, _, var = self._experts()
        return _draw_given_gate(np.exp(self._log_gate(X)), self._expert_means(X),
                                np.asarray(var), rng)


def require_dense_gate(estimator, what, *, conditional_gaussian=False, joint=False,
                       sparse=False):
    """Raise a ValueError unless ``estimator`` was fitted with a dense gate of
    :mod:`gmoe.gates` by the conditional likelihood (with
    ``conditional_gaussian``, the Gaussian gate included; with ``joint``, also
    a gate fitted by the joint likelihood; with ``sparse``, also the sparse
    gates): what ``what`` is defined for."""
    gate = getattr(estimator, "gate_", None)
    if gate is not None and gate.marginal and not joint:
        raise ValueError(
            f"{what} is defined for the conditional likelihood of y given x; this "
            f"model has gate={gate!r}, fitted by the joint likelihood of (x, y). "
            "Fit with likelihood='conditional'.")
    if not conditional_gaussian and hasattr(estimator, "gate_covariance_"):
        raise ValueError(
            f"{what} is defined for the dense gates of gmoe.gates but the Gaussian "
            "gate; this model has a Gaussian gate (weights, means, covariances), "
            "whose parameters with likelihood='conditional' are identified only up "
            "to a common quadratic in x. Fit with another gate, e.g. "
            "gate='softmax'.")
    gate = getattr(estimator, "gate_", None)
    if sparse:
        return
    if gate is not None and gate.sparse:
        raise ValueError(
            f"{what} is defined for the dense gates of gmoe.gates; this model has "
            f"the sparse gate {gate!r}, whose likelihood jumps where the selected "
            "sets change, so its maximum need not be a smooth stationary point.")
    if getattr(estimator, "top_k_", None) is not None:
        raise ValueError(
            f"{what} is defined for the dense gates of gmoe.gates; this model has a "
            f"top-K gate (top_k={estimator.top_k_}), whose likelihood jumps where "
            "the top-K sets change, so its maximum need not be a smooth stationary "
            "point. Fit with top_k=None.")
