"""The model side of a mixing measure: its gate probabilities, expert means,
conditional density and draws (:class:`gmoe.MixingMeasure` inherits them)."""

import numbers

import numpy as np

from gmoe.datasets import DESIGNS, _generator, draw_covariates
from gmoe.model._conditional import ConditionalMixture
from gmoe.model._measure_params import as_float_array


class MeasureModel(ConditionalMixture):
    """The conditional law of a mixing measure (a base of
    :class:`gmoe.MixingMeasure`, which holds ``_gate`` and ``_arrays``)."""

    # ---------------------------------------------------------------- model
    def _check_X(self, X):
        X = as_float_array("X", X)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(
                f"X has shape {X.shape}; it must be 2-D with {self.n_features} "
                "column(s) (n_features)."
            )
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or infinity.")
        return X

    def _log_gate(self, X):
        return self._gate.original_log_weights(X, self._arrays)

    def _experts(self):
        return self.expert_coef, self.expert_intercept, self.expert_variance

    def gate_probabilities(self, X):
        """Gate probabilities :math:`\\pi_i(x)`, shape (n_samples, n_atoms): the
        same as :meth:`predict_gate`.

        Examples
        --------
        >>> from gmoe import MixingMeasure
        >>> from gmoe.datasets import N23_TRUTH
        >>> G = MixingMeasure.from_params(**N23_TRUTH)
        >>> G.gate_probabilities([[0.0], [1.0]]).round(4)
        array([[3.000e-04, 9.997e-01],
               [1.000e+00, 0.000e+00]])
        """
        return self.predict_gate(X)

    def expert_means(self, X):
        """Mean of each expert, :math:`a_i^\\top x + b_i`, shape (n_samples,
        n_atoms): the same as :meth:`predict_experts`.

        Examples
        --------
        >>> from gmoe import MixingMeasure
        >>> from gmoe.datasets import N23_TRUTH
        >>> MixingMeasure.from_params(**N23_TRUTH).expert_means([[0.5]])
        array([[5., 5.]])
        """
        return self.predict_experts(X)

    def log_density(self, X, y):
        """Log conditional density :math:`\\log g_G(y_n \\mid x_n)`, shape
        (n_samples,): the same as :meth:`score_samples`.

        Examples
        --------
        >>> from gmoe import MixingMeasure
        >>> G = MixingMeasure(gate_intercept=[0.0], gate_coef=[[0.0]],
        ...                   expert_intercept=[0.0], expert_coef=[[0.0]],
        ...                   expert_variance=[1.0])
        >>> bool(np.isclose(G.log_density([[0.0]], [0.0])[0], -0.5 * np.log(2 * np.pi)))
        True
        """
        return self.score_samples(X, y)

    def density(self, X, y):
        """Conditional density :math:`g_G(y_n \\mid x_n)`, shape (n_samples,).

        Examples
        --------
        >>> from gmoe import MixingMeasure
        >>> from gmoe.datasets import N23_TRUTH
        >>> G = MixingMeasure.from_params(**N23_TRUTH)
        >>> G.density([[0.2], [0.9]], [0.0, 2.0]).shape
        (2,)
        """
        return np.exp(self.score_samples(X, y))

    def conditional_mean(self, X):
        """Conditional mean :math:`E[y \\mid x] = \\sum_i \\pi_i(x)(a_i^\\top x +
        b_i)`, shape (n_samples,): the same as :meth:`predict`.

        Examples
        --------
        >>> from gmoe import MixingMeasure
        >>> from gmoe.datasets import N23_TRUTH
        >>> MixingMeasure.from_params(**N23_TRUTH).conditional_mean([[0.5]])
        array([5.])
        """
        return self.predict(X)

    def sample(self, n_samples=None, *, design="uniform", low=0.0, high=1.0, X=None,
               random_state=None):
        """Draw covariates and responses from the model.

        X is drawn by :func:`gmoe.datasets.draw_covariates` (unless given), then
        each y from the expert drawn with the gate's probabilities, all from one
        random generator; for the softmax gate ``G.sample(n, random_state=s)``
        draws what ``make_moe_regression(n, G.to_params(), random_state=s)`` does.

        Parameters
        ----------
        n_samples : int or None, default=None
            Number of draws; may be None when ``X`` is given.
        design : {"uniform", "grid"}, default="uniform"
            Covariate design (see :func:`gmoe.datasets.draw_covariates`).
        low, high : float, default=0.0, 1.0
            The covariate box ``[low, high]^d``.
        X : array-like of shape (n_samples, n_features) or None, default=None
            Fixed covariates; then only y is drawn.
        random_state : int, RandomState, Generator or None, default=None

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)

        Examples
        --------
        >>> from gmoe import MixingMeasure
        >>> from gmoe.datasets import N23_TRUTH
        >>> G = MixingMeasure.from_params(**N23_TRUTH)
        >>> X, y = G.sample(5, design="grid", random_state=0)
        >>> X.ravel()
        array([0.  , 0.25, 0.5 , 0.75, 1.  ])
        """
        if design not in DESIGNS:
            raise ValueError(f"design must be one of {DESIGNS}; got {design!r}.")
        rng = _generator(random_state)
        if X is None:
            if (not isinstance(n_samples, numbers.Integral) or isinstance(
                    n_samples, bool) or n_samples < 1):
                raise ValueError(
                    f"n_samples must be a positive integer; got {n_samples!r}."
                )
            X = draw_covariates(int(n_samples), self.n_features, design=design,
                                low=low, high=high, random_state=rng)
        else:
            X = self._check_X(X)
            if n_samples is not None and n_samples != X.shape[0]:
                raise ValueError(
                    f"n_samples={n_samples!r} but X has {X.shape[0]} rows; give "
                    "one or make them agree."
                )
        y, _ = self._draw(X, rng)
        return X, y
