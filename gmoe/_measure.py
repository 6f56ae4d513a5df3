"""The mixing measure of a softmax-gated Gaussian mixture of experts [N23]."""

import numbers

import numpy as np
import scipy.special

from gmoe.datasets import (
    DESIGNS,
    PARAM_NAMES,
    _generator,
    draw_covariates,
    draw_response,
)

_LOG_2PI = np.log(2.0 * np.pi)


def _as_float_array(name, value):
    try:
        array = np.array(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array of numbers; got {value!r}.") from exc
    return array


def _check_params(gate_intercept, gate_coef, expert_intercept, expert_coef,
                  expert_variance):
    """Validate the five arrays; return them as read-only float copies."""
    arrays = {
        "gate_intercept": _as_float_array("gate_intercept", gate_intercept),
        "gate_coef": _as_float_array("gate_coef", gate_coef),
        "expert_intercept": _as_float_array("expert_intercept", expert_intercept),
        "expert_coef": _as_float_array("expert_coef", expert_coef),
        "expert_variance": _as_float_array("expert_variance", expert_variance),
    }
    for name in ("gate_coef", "expert_coef"):
        if arrays[name].ndim != 2:
            raise ValueError(
                f"{name} must be 2-D of shape (n_atoms, n_features); got shape "
                f"{arrays[name].shape}. With one feature pass a column, e.g. "
                "np.reshape(values, (-1, 1))."
            )
    k, d = arrays["gate_coef"].shape
    if k < 1 or d < 1:
        raise ValueError(
            f"gate_coef has shape {(k, d)}; a mixing measure needs at least one atom "
            "and one feature."
        )
    shapes = {
        "gate_intercept": (k,),
        "gate_coef": (k, d),
        "expert_intercept": (k,),
        "expert_coef": (k, d),
        "expert_variance": (k,),
    }
    for name, shape in shapes.items():
        if arrays[name].shape != shape:
            raise ValueError(
                f"{name} has shape {arrays[name].shape}; gate_coef has shape "
                f"{(k, d)} (n_atoms={k}, n_features={d}), so {name} must have "
                f"shape {shape}."
            )
        if not np.all(np.isfinite(arrays[name])):
            raise ValueError(f"{name} contains NaN or infinity; all parameters "
                             "must be finite.")
    if np.any(arrays["expert_variance"] <= 0):
        raise ValueError(
            "expert_variance must be positive (these are variances sigma_i, not "
            f"standard deviations); got {arrays['expert_variance'].tolist()}."
        )
    for array in arrays.values():
        array.flags.writeable = False
    return arrays


class MixingMeasure:
    """The mixing measure of a softmax-gated Gaussian mixture of experts.

    .. math::

        G = \\sum_{i=1}^{k} \\exp(\\beta_{0i})\\,
            \\delta_{(\\beta_{1i},\\, a_i,\\, b_i,\\, \\sigma_i)}

    The weights :math:`\\exp(\\beta_{0i})` are not normalised; the atom
    :math:`\\theta_i = (\\beta_{1i}, a_i, b_i, \\sigma_i)` holds the gate slope,
    the expert slope, the expert intercept and the expert VARIANCE.  The measure
    defines the conditional density

    .. math::

        g_G(y \\mid x) = \\sum_{i=1}^{k} \\pi_i(x)\\,
            \\mathcal N(y;\\, a_i^\\top x + b_i,\\, \\sigma_i), \\qquad
        \\pi_i(x) = \\frac{\\exp(\\beta_{1i}^\\top x + \\beta_{0i})}
                         {\\sum_l \\exp(\\beta_{1l}^\\top x + \\beta_{0l})},

    which does not change when every :math:`(\\beta_{0i}, \\beta_{1i})` is
    translated by the same :math:`(t_0, t_1)` (see :meth:`translated`).  The
    object is immutable: its arrays are read-only.  All constructor arguments are
    keyword-only (as for :meth:`from_params`).

    Parameters
    ----------
    gate_intercept : array-like of shape (n_atoms,)
        :math:`\\beta_{0i}`.
    gate_coef : array-like of shape (n_atoms, n_features)
        :math:`\\beta_{1i}`.
    expert_intercept : array-like of shape (n_atoms,)
        :math:`b_i`.
    expert_coef : array-like of shape (n_atoms, n_features)
        :math:`a_i`.
    expert_variance : array-like of shape (n_atoms,)
        :math:`\\sigma_i > 0`, variances.

    Attributes
    ----------
    gate_intercept, gate_coef, expert_intercept, expert_coef, expert_variance : ndarray
        The parameters (read-only float arrays, shapes as above).

    See Also
    --------
    gmoe.voronoi_cells, gmoe.voronoi_loss

    References
    ----------
    .. [N23] H. Nguyen, T. Nguyen, N. Ho, "Demystifying Softmax Gating Function in
       Gaussian Mixture of Experts", NeurIPS 2023.

    Examples
    --------
    >>> from gmoe import MixingMeasure
    >>> from gmoe.datasets import N23_TRUTH
    >>> G = MixingMeasure.from_params(**N23_TRUTH)
    >>> G.n_atoms, G.n_features
    (2, 1)
    >>> G.weights.round(6)
    array([3.35e-04, 1.00e+00])
    >>> X, y = G.sample(1000, random_state=0)
    >>> X.shape, y.shape
    ((1000, 1), (1000,))
    """

    def __init__(self, *, gate_intercept, gate_coef, expert_intercept, expert_coef,
                 expert_variance):
        arrays = _check_params(gate_intercept, gate_coef, expert_intercept,
                               expert_coef, expert_variance)
        self._arrays = arrays

    # ------------------------------------------------------------ construction
    @classmethod
    def from_params(cls, *, gate_intercept, gate_coef, expert_coef,
                    expert_intercept, expert_variance):
        """Build a measure from the five parameter arrays (keywords only).

        Parameters
        ----------
        gate_intercept : array-like of shape (n_atoms,)
        gate_coef : array-like of shape (n_atoms, n_features)
        expert_coef : array-like of shape (n_atoms, n_features)
        expert_intercept : array-like of shape (n_atoms,)
        expert_variance : array-like of shape (n_atoms,)
            Variances, positive.

        Returns
        -------
        G : MixingMeasure

        Examples
        --------
        >>> from gmoe.datasets import N23_TRUTH
        >>> MixingMeasure.from_params(**N23_TRUTH).expert_intercept
        array([15., -5.])
        """
        return cls(gate_intercept=gate_intercept, gate_coef=gate_coef,
                   expert_intercept=expert_intercept, expert_coef=expert_coef,
                   expert_variance=expert_variance)

    @classmethod
    def from_estimator(cls, estimator):
        """The mixing measure of a fitted :class:`gmoe.GaussianMoERegressor`.

        Parameters
        ----------
        estimator : GaussianMoERegressor
            Fitted; its attributes ``gate_intercept_``, ``gate_coef_``,
            ``expert_intercept_``, ``expert_coef_`` and ``expert_variance_`` are
            read.

        Returns
        -------
        G : MixingMeasure

        Examples
        --------
        >>> from gmoe import GaussianMoERegressor
        >>> from gmoe.datasets import make_moe_regression
        >>> X, y = make_moe_regression(500, random_state=0)
        >>> est = GaussianMoERegressor(n_experts=2, random_state=0).fit(X, y)
        >>> MixingMeasure.from_estimator(est).n_atoms
        2
        """
        missing = [name + "_" for name in PARAM_NAMES
                   if not hasattr(estimator, name + "_")]
        if missing:
            raise ValueError(
                f"the estimator has no attributes {missing}; fit it first."
            )
        return cls.from_params(
            **{name: getattr(estimator, name + "_") for name in PARAM_NAMES}
        )

    @classmethod
    def from_dict(cls, data):
        """Inverse of :meth:`to_dict` (also accepts arrays instead of lists).

        Parameters
        ----------
        data : mapping
            With exactly the keys ``gate_intercept``, ``gate_coef``,
            ``expert_intercept``, ``expert_coef``, ``expert_variance``.

        Returns
        -------
        G : MixingMeasure

        Examples
        --------
        >>> import json
        >>> from gmoe.datasets import N23_TRUTH
        >>> G = MixingMeasure.from_params(**N23_TRUTH)
        >>> MixingMeasure.from_dict(json.loads(json.dumps(G.to_dict()))) == G
        True
        """
        if not hasattr(data, "keys"):
            raise ValueError(
                f"from_dict needs a mapping with the keys {list(PARAM_NAMES)}; got "
                f"{type(data).__name__}."
            )
        keys = set(data.keys())
        missing = [name for name in PARAM_NAMES if name not in keys]
        extra = sorted(str(key) for key in keys - set(PARAM_NAMES))
        if missing or extra:
            raise ValueError(
                f"from_dict needs exactly the keys {list(PARAM_NAMES)}; missing "
                f"{missing}, unexpected {extra}."
            )
        return cls.from_params(**{name: data[name] for name in PARAM_NAMES})

    # ------------------------------------------------------------- attributes
    @property
    def gate_intercept(self):
        """ndarray of shape (n_atoms,): gate intercepts :math:`\\beta_{0i}`."""
        return self._arrays["gate_intercept"]

    @property
    def gate_coef(self):
        """ndarray of shape (n_atoms, n_features): gate slopes :math:`\\beta_{1i}`."""
        return self._arrays["gate_coef"]

    @property
    def expert_intercept(self):
        """ndarray of shape (n_atoms,): expert intercepts :math:`b_i`."""
        return self._arrays["expert_intercept"]

    @property
    def expert_coef(self):
        """ndarray of shape (n_atoms, n_features): expert slopes :math:`a_i`."""
        return self._arrays["expert_coef"]

    @property
    def expert_variance(self):
        """ndarray of shape (n_atoms,): expert variances :math:`\\sigma_i`."""
        return self._arrays["expert_variance"]

    @property
    def weights(self):
        """ndarray of shape (n_atoms,): :math:`\\exp(\\beta_{0i})`, NOT normalised."""
        return np.exp(self.gate_intercept)

    @property
    def n_atoms(self):
        """int: number of atoms (experts) ``k``."""
        return self.gate_coef.shape[0]

    @property
    def n_features(self):
        """int: dimension ``d`` of the covariate."""
        return self.gate_coef.shape[1]

    @property
    def atoms(self):
        """ndarray of shape (n_atoms, 2 * n_features + 2): the atoms.

        Row ``i`` is :math:`\\theta_i = (\\beta_{1i}, a_i, b_i, \\sigma_i)`
        flattened: gate slopes, expert slopes, expert intercept, expert variance.
        The gate intercept is the weight, not part of the atom.
        """
        return np.column_stack([self.gate_coef, self.expert_coef,
                                self.expert_intercept, self.expert_variance])

    # ----------------------------------------------------------- conversions
    def to_params(self):
        """The five parameter arrays as a dict of fresh, writable arrays.

        The dict is what :func:`gmoe.datasets.draw_response` and
        ``GaussianMoERegressor(init_params=...)`` accept.

        Returns
        -------
        params : dict of str to ndarray

        Examples
        --------
        >>> from gmoe.datasets import N23_TRUTH
        >>> params = MixingMeasure.from_params(**N23_TRUTH).to_params()
        >>> params["gate_coef"]
        array([[25.],
               [ 0.]])
        """
        return {name: np.array(self._arrays[name]) for name in PARAM_NAMES}

    def to_dict(self):
        """The parameters as plain (JSON-serialisable) nested lists of floats.

        Returns
        -------
        data : dict of str to list

        Examples
        --------
        >>> from gmoe.datasets import N23_TRUTH
        >>> MixingMeasure.from_params(**N23_TRUTH).to_dict()["gate_coef"]
        [[25.0], [0.0]]
        """
        return {name: self._arrays[name].tolist() for name in PARAM_NAMES}

    def translated(self, t0=0.0, t1=None):
        """The same model with translated gate parameters.

        Every gate intercept becomes :math:`\\beta_{0i} + t_0` and every gate slope
        :math:`\\beta_{1i} + t_1`.  The conditional density is unchanged; the
        weights are all multiplied by :math:`e^{t_0}`.

        Parameters
        ----------
        t0 : float, default=0.0
        t1 : array-like of shape (n_features,) or float or None, default=None
            A float is used for every feature; None means zero.

        Returns
        -------
        G : MixingMeasure

        Examples
        --------
        >>> from gmoe.datasets import N23_TRUTH
        >>> G = MixingMeasure.from_params(**N23_TRUTH).translated(8.0, [-25.0])
        >>> G.gate_intercept, G.gate_coef.ravel()
        (array([0., 8.]), array([  0., -25.]))
        """
        if not isinstance(t0, numbers.Real) or not np.isfinite(t0):
            raise ValueError(f"t0 must be a finite number; got {t0!r}.")
        d = self.n_features
        t1 = np.zeros(d) if t1 is None else _as_float_array("t1", t1)
        if t1.ndim == 0:
            t1 = np.full(d, float(t1))
        if t1.shape != (d,) or not np.all(np.isfinite(t1)):
            raise ValueError(
                f"t1 must be a finite number or have shape ({d},) (n_features); got "
                f"{t1!r}."
            )
        params = self.to_params()
        params["gate_intercept"] = params["gate_intercept"] + float(t0)
        params["gate_coef"] = params["gate_coef"] + t1
        return type(self).from_params(**params)

    def canonical(self, reference=-1):
        """The translate whose atom ``reference`` has gate ``(0, 0)``.

        This is the form :class:`gmoe.GaussianMoERegressor` reports (reference =
        last expert) and the form the official code of [N23] compares measures in.

        Parameters
        ----------
        reference : int, default=-1
            Index of the reference atom.

        Returns
        -------
        G : MixingMeasure

        Examples
        --------
        >>> G = MixingMeasure(gate_intercept=[1.0, 2.0], gate_coef=[[3.0], [5.0]],
        ...                   expert_intercept=[0.0, 0.0], expert_coef=[[0.0], [1.0]],
        ...                   expert_variance=[1.0, 1.0])
        >>> C = G.canonical()
        >>> C.gate_intercept, C.gate_coef.ravel()
        (array([-1.,  0.]), array([-2.,  0.]))
        """
        if not isinstance(reference, numbers.Integral) or not (
            -self.n_atoms <= reference < self.n_atoms
        ):
            raise ValueError(
                f"reference must be an atom index in [-{self.n_atoms}, "
                f"{self.n_atoms}); got {reference!r}."
            )
        return self.translated(-float(self.gate_intercept[reference]),
                               -self.gate_coef[reference])

    # ---------------------------------------------------------------- model
    def _check_X(self, X):
        X = _as_float_array("X", X)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(
                f"X has shape {X.shape}; it must be 2-D with {self.n_features} "
                "column(s) (n_features)."
            )
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or infinity.")
        return X

    def _check_Xy(self, X, y):
        X = self._check_X(X)
        y = _as_float_array("y", y)
        if y.shape != (X.shape[0],):
            raise ValueError(
                f"y has shape {y.shape}; it must be 1-D with one value per row of X "
                f"({X.shape[0]})."
            )
        return X, y

    def gate_probabilities(self, X):
        """Gate probabilities :math:`\\pi_i(x)`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        gate : ndarray of shape (n_samples, n_atoms)
            Rows sum to 1.

        Examples
        --------
        >>> from gmoe.datasets import N23_TRUTH
        >>> G = MixingMeasure.from_params(**N23_TRUTH)
        >>> G.gate_probabilities([[0.0], [1.0]]).round(4)
        array([[3.000e-04, 9.997e-01],
               [1.000e+00, 0.000e+00]])
        """
        X = self._check_X(X)
        logits = X @ self.gate_coef.T + self.gate_intercept
        return np.exp(scipy.special.log_softmax(logits, axis=1))

    def expert_means(self, X):
        """Mean of each expert, :math:`a_i^\\top x + b_i`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        means : ndarray of shape (n_samples, n_atoms)

        Examples
        --------
        >>> from gmoe.datasets import N23_TRUTH
        >>> MixingMeasure.from_params(**N23_TRUTH).expert_means([[0.5]])
        array([[5., 5.]])
        """
        X = self._check_X(X)
        return X @ self.expert_coef.T + self.expert_intercept

    def log_density(self, X, y):
        """Log conditional density :math:`\\log g_G(y_n \\mid x_n)`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        log_density : ndarray of shape (n_samples,)

        Examples
        --------
        >>> G = MixingMeasure(gate_intercept=[0.0], gate_coef=[[0.0]],
        ...                   expert_intercept=[0.0], expert_coef=[[0.0]],
        ...                   expert_variance=[1.0])
        >>> bool(np.isclose(G.log_density([[0.0]], [0.0])[0], -0.5 * np.log(2 * np.pi)))
        True
        """
        X, y = self._check_Xy(X, y)
        logits = X @ self.gate_coef.T + self.gate_intercept
        log_gate = scipy.special.log_softmax(logits, axis=1)
        means = X @ self.expert_coef.T + self.expert_intercept
        var = self.expert_variance
        log_normal = -0.5 * (_LOG_2PI + np.log(var) + (y[:, None] - means) ** 2 / var)
        return scipy.special.logsumexp(log_gate + log_normal, axis=1)

    def density(self, X, y):
        """Conditional density :math:`g_G(y_n \\mid x_n)`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        density : ndarray of shape (n_samples,)

        Examples
        --------
        >>> from gmoe.datasets import N23_TRUTH
        >>> G = MixingMeasure.from_params(**N23_TRUTH)
        >>> G.density([[0.2], [0.9]], [0.0, 2.0]).shape
        (2,)
        """
        return np.exp(self.log_density(X, y))

    def conditional_mean(self, X):
        """Conditional mean :math:`E[y \\mid x] = \\sum_i \\pi_i(x)(a_i^\\top x + b_i)`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        mean : ndarray of shape (n_samples,)

        Examples
        --------
        >>> from gmoe.datasets import N23_TRUTH
        >>> MixingMeasure.from_params(**N23_TRUTH).conditional_mean([[0.5]])
        array([5.])
        """
        return np.sum(self.gate_probabilities(X) * self.expert_means(X), axis=1)

    def sample(self, n_samples=None, *, design="uniform", low=0.0, high=1.0, X=None,
               random_state=None):
        """Draw covariates and responses from the model.

        X is drawn by :func:`gmoe.datasets.draw_covariates` (unless given) and y by
        :func:`gmoe.datasets.draw_response`, both from one random generator, so
        ``G.sample(n, random_state=s)`` equals
        ``make_moe_regression(n, G.to_params(), random_state=s)``.

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
        y, _ = draw_response(self.to_params(), X, rng)
        return X, y

    # ----------------------------------------------------------- protocol
    def __eq__(self, other):
        if not isinstance(other, MixingMeasure):
            return NotImplemented
        return all(
            self._arrays[name].shape == other._arrays[name].shape
            and np.array_equal(self._arrays[name], other._arrays[name])
            for name in PARAM_NAMES
        )

    __hash__ = None

    def __repr__(self):
        def fmt(a):
            return np.array2string(a, separator=", ", precision=6,
                                   suppress_small=False, max_line_width=10**6,
                                   threshold=60)

        body = ",\n    ".join(f"{name}={fmt(self._arrays[name])}"
                               for name in PARAM_NAMES)
        return f"{type(self).__name__}(\n    {body},\n)"
