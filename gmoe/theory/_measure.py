"""The mixing measure of a gated Gaussian mixture of experts [N23].

A measure holds a dense gate of :mod:`gmoe.gates`, the gate's parameters in the
data's units (the estimator's fitted attributes, e.g. ``gate_intercept`` and
``gate_coef``) and the experts.  With no standardisation the gate's blocks are
its attributes side by side (:func:`gmoe.gates._base.identity_scaling`); the
first coordinate of a block is the gate intercept :math:`\\beta_{0i}`, whose
exponential is the atom's weight, and the other coordinates are the gate part of
the atom.  The blocks are those of the gate's identified parametrisation
(:meth:`gmoe.gates.Gate.identified_gate`: the gate itself but for the cosine
gate), whose gauge (:meth:`gmoe.gates.Gate.gauge`) says which common
translations leave the model unchanged.
"""

import numbers

import numpy as np

from gmoe.datasets import PARAM_NAMES
from gmoe.gates import Softmax, gate_spec, same_gate
from gmoe.gates._base import identity_scaling
from gmoe.model._conditional import require_dense_gate
from gmoe.model._measure_params import (
    EXPERT_NAMES,
    as_float_array,
    check_gate,
    check_params,
)
from gmoe.theory._measure_model import MeasureModel


class MixingMeasure(MeasureModel):
    """The mixing measure of a gated Gaussian mixture of experts.

    .. math::

        G = \\sum_{i=1}^{k} \\exp(\\beta_{0i})\\, \\delta_{\\theta_i}, \\qquad
        \\theta_i = (\\gamma_i,\\, a_i,\\, b_i,\\, \\sigma_i),

    with :math:`\\beta_{0i}` the gate intercept, :math:`\\gamma_i` the rest of the
    gate's parameters of expert ``i`` (the gate part of the atom), :math:`a_i`
    the expert slopes, :math:`b_i` the expert intercept and :math:`\\sigma_i` the
    expert VARIANCE.  For the softmax gate (the default) :math:`\\gamma_i =
    \\beta_{1i}`, the gate slopes, as in [N23]_; for the other dense gates of
    :mod:`gmoe.gates`:

    ==============  =====================  ==========================
    gate            :math:`\\gamma_i`       translations (gauge)
    ==============  =====================  ==========================
    softmax         :math:`\\beta_{1i}`     :math:`t_0` and :math:`t_1`
    constant        none                   :math:`t_0`
    cosine, θ > 0   :math:`v_i`            :math:`t_0` and :math:`t_1`
    cosine, θ = 0   :math:`w_i / |w_i|`    :math:`t_0`
    laplace         :math:`w_i` (centre)   :math:`t_0`
    sigmoid         :math:`\\beta_{1i}`     none
    ==============  =====================  ==========================

    The gate part is that of the gate's identified parametrisation
    (:meth:`gmoe.gates.Gate.identified_gate`): for the cosine gate
    :math:`v_i = w_i / (\\|w_i\\| + \\theta)` in the open unit ball, the
    slopes of the softmax gate on :math:`x / (\\|x\\| + \\theta)`, so that
    the curved set of equivalent :math:`w`'s is a translation of the
    :math:`v`'s (kept in the ball).

    The weights :math:`\\exp(\\beta_{0i})` are not normalised.  The measure
    defines the conditional density

    .. math::

        g_G(y \\mid x) = \\sum_{i=1}^{k} \\pi_i(x)\\,
            \\mathcal N(y;\\, a_i^\\top x + b_i,\\, \\sigma_i),

    with :math:`\\pi_i(x)` the gate's weights (for the softmax gate
    :math:`\\propto \\exp(\\beta_{1i}^\\top x + \\beta_{0i})`).  The density does
    not change when every intercept is translated by the same :math:`t_0`
    (gates whose scores add the intercept) or every :math:`\\gamma_i` by the
    same :math:`t_1` (softmax); see :meth:`translated` and :attr:`gauge`.  The
    predictions (:meth:`predict`, :meth:`predict_quantile`, ...) are those of
    :class:`gmoe.GaussianMoERegressor`, computed by the same code.  The object
    is immutable: its arrays are read-only.  All constructor arguments are
    keyword-only.

    Parameters
    ----------
    gate : str, Gate or dict, default="softmax"
        A dense gate of :mod:`gmoe.gates` (a name, an object, or the dict
        :meth:`to_dict` writes).
    gate_intercept : array-like of shape (n_atoms,)
        :math:`\\beta_{0i}`.
    gate_coef : array-like of shape (n_atoms, n_features)
        :math:`\\gamma_i` (the gate slopes, directions or centres); every gate
        but the constant gate.  The gate's parameters are the keywords named by
        its ``attributes``.
    expert_intercept : array-like of shape (n_atoms,)
        :math:`b_i`.
    expert_coef : array-like of shape (n_atoms, n_features)
        :math:`a_i`.
    expert_variance : array-like of shape (n_atoms,)
        :math:`\\sigma_i > 0`, variances.

    Attributes
    ----------
    gate : Gate
        The gate object.
    gate_intercept, gate_coef, expert_intercept, expert_coef, expert_variance : ndarray
        The parameters (read-only float arrays, shapes as above).

    See Also
    --------
    gmoe.voronoi_cells, gmoe.voronoi_loss, gmoe.dendrogram

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
    >>> mix = MixingMeasure(gate="constant", gate_intercept=[0.0, 0.0],
    ...                     expert_intercept=[1.0, -1.0], expert_coef=[[1.0], [0.0]],
    ...                     expert_variance=[0.1, 0.1])
    >>> mix.atoms                      # (a_i, b_i, sigma_i): no gate part
    array([[ 1. ,  1. ,  0.1],
           [ 0. , -1. ,  0.1]])
    >>> mix.gate_probabilities([[0.3]])
    array([[0.5, 0.5]])
    """

    def __init__(self, *, gate="softmax", expert_intercept, expert_coef,
                 expert_variance, **gate_params):
        gate = check_gate(gate)
        experts = {"expert_intercept": expert_intercept, "expert_coef": expert_coef,
                   "expert_variance": expert_variance}
        self._gate = gate
        self._arrays, _ = check_params(gate, gate_params, experts)
        self._blocks = _identified_blocks(gate, self._arrays)

    # ------------------------------------------------------------ construction
    @classmethod
    def from_params(cls, *, gate="softmax", **params):
        """Build a measure from the parameter arrays (keywords only).

        Parameters
        ----------
        gate : str, Gate or dict, default="softmax"
        **params : array-like
            The gate's attributes (``gate_intercept`` (n_atoms,), ``gate_coef``
            (n_atoms, n_features) for the softmax gate) and ``expert_intercept``
            (n_atoms,), ``expert_coef`` (n_atoms, n_features),
            ``expert_variance`` (n_atoms,), variances.

        Returns
        -------
        G : MixingMeasure

        Examples
        --------
        >>> from gmoe.datasets import N23_TRUTH
        >>> MixingMeasure.from_params(**N23_TRUTH).expert_intercept
        array([15., -5.])
        """
        return cls(gate=gate, **params)

    @classmethod
    def from_identified_params(cls, *, gate="softmax", **params):
        """Inverse of :meth:`identified_params`: the measure whose identified
        gate blocks are the given ones (keywords only).

        Parameters
        ----------
        gate : str, Gate or dict, default="softmax"
        **params : array-like
            As :meth:`from_params`, but the gate's attributes hold the blocks of
            its identified parametrisation (for the cosine gate ``gate_coef``
            holds the :math:`v_i`, inside the open unit ball).

        Returns
        -------
        G : MixingMeasure

        Examples
        --------
        >>> G = MixingMeasure.from_identified_params(
        ...     gate={"name": "cosine", "perturbation": 1.0},
        ...     gate_intercept=[0.0, 0.0], gate_coef=[[0.5], [0.0]],
        ...     expert_intercept=[0.0, 1.0], expert_coef=[[1.0], [0.0]],
        ...     expert_variance=[1.0, 1.0])
        >>> G.gate_coef.ravel()            # w = theta v / (1 - |v|)
        array([1., 0.])
        """
        gate = check_gate(gate)
        names = tuple(gate.attributes)
        missing = [name for name in names + EXPERT_NAMES if name not in params]
        if missing:
            raise ValueError(f"from_identified_params needs the keywords "
                             f"{list(names + EXPERT_NAMES)}; missing {missing}.")
        gate_parts = [as_float_array(name, params[name]) for name in names]
        blocks = np.column_stack(gate_parts)
        experts = {name: value for name, value in params.items() if name not in names}
        return cls(gate=gate, **_original_values(gate, blocks), **experts)

    @classmethod
    def from_estimator(cls, estimator):
        """The mixing measure of a fitted :class:`gmoe.GaussianMoERegressor`.

        Parameters
        ----------
        estimator : GaussianMoERegressor
            Fitted with a dense gate of :mod:`gmoe.gates`; its gate ``gate_`` and
            its fitted attributes (the gate's, ``expert_intercept_``,
            ``expert_coef_``, ``expert_variance_``) are read.

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
        if hasattr(estimator, "gate_covariance_"):
            raise ValueError(
                "this model has a Gaussian gate; its measure is a "
                "GaussianGateMixingMeasure: use estimator.mixing_measure_.")
        gate = getattr(estimator, "gate_", None) or Softmax()
        names = tuple(gate.attributes) + EXPERT_NAMES
        missing = [name + "_" for name in names
                   if not hasattr(estimator, name + "_")]
        if missing:
            raise ValueError(
                f"the estimator has no attributes {missing}; fit it first."
            )
        require_dense_gate(estimator, "a mixing measure")
        return cls(gate=gate,
                   **{name: getattr(estimator, name + "_") for name in names})

    @classmethod
    def from_dict(cls, data):
        """Inverse of :meth:`to_dict` (also accepts arrays instead of lists).

        Parameters
        ----------
        data : mapping
            With exactly the keys of the parameter arrays (``gate_intercept``,
            ``gate_coef``, ``expert_intercept``, ``expert_coef``,
            ``expert_variance`` for the softmax gate) and, for another gate, the
            key ``gate`` (a name, or a dict of the name and options).

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
        gate = check_gate(data.get("gate", "softmax"))
        names = tuple(gate.attributes) + EXPERT_NAMES
        keys = set(data.keys()) - {"gate"}
        missing = [name for name in names if name not in keys]
        extra = sorted(str(key) for key in keys - set(names))
        if missing or extra:
            raise ValueError(
                f"from_dict needs exactly the keys {list(names)} (with "
                f"gate={gate!r}); missing {missing}, unexpected {extra}."
            )
        return cls(gate=gate, **{name: data[name] for name in names})

    # ------------------------------------------------------------- attributes
    @property
    def gate(self):
        """Gate: the dense gate of :mod:`gmoe.gates`."""
        return self._gate

    @property
    def gate_intercept(self):
        """ndarray of shape (n_atoms,): gate intercepts :math:`\\beta_{0i}`."""
        return self._arrays[self._gate.attributes[0]]

    @property
    def gate_coef(self):
        """ndarray of shape (n_atoms, n_features): the gate's ``gate_coef``
        (slopes :math:`\\beta_{1i}`, directions or centres :math:`w_i`); an
        AttributeError for a gate without one (the constant gate)."""
        if "gate_coef" not in self._arrays:
            raise AttributeError(f"gate={self._gate!r} has no gate_coef.")
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
        return self.expert_coef.shape[0]

    @property
    def n_features(self):
        """int: dimension ``d`` of the covariate."""
        return self.expert_coef.shape[1]

    @property
    def gate_atoms(self):
        """ndarray of shape (n_atoms, m - 1): :math:`\\gamma_i`, the gate part of
        the atoms (the identified gate's block without its intercept: the
        cosine gate's :math:`v_i`; ``m - 1 = d`` for the softmax, sigmoid,
        cosine and Laplace gates, 0 for the constant gate)."""
        return self._blocks[:, 1:]

    @property
    def atoms(self):
        """ndarray of shape (n_atoms, m - 1 + n_features + 2): the atoms.

        Row ``i`` is :math:`\\theta_i = (\\gamma_i, a_i, b_i, \\sigma_i)`
        flattened: the gate part (:attr:`gate_atoms`), expert slopes, expert
        intercept, expert variance.  The gate intercept is the weight, not part
        of the atom.
        """
        return np.column_stack([self.gate_atoms, self.expert_coef,
                                self.expert_intercept, self.expert_variance])

    @property
    def gauge(self):
        """(bool, bool): whether a common translation :math:`t_0` of the gate
        intercepts, and :math:`t_1` of the gate parts :math:`\\gamma_i`, leave
        the model unchanged (the gauge of the gate's identified parametrisation,
        :meth:`gmoe.gates.Gate.identified_gate`)."""
        gauge = self._gate.identified_gate().gauge(self.n_features)
        return bool(gauge[0]), bool(gauge[1:].size and gauge[1:].all())

    # ----------------------------------------------------------- conversions
    def _with_blocks(self, blocks):
        """A measure of the same gate and experts with other identified blocks."""
        params = self.to_params()
        params.update(_original_values(self._gate, blocks))
        return type(self)(gate=self._gate, **params)

    def identified_params(self):
        """The parameter arrays with the gate's attributes in its identified
        parametrisation (:attr:`gate_intercept` and :attr:`gate_atoms` in
        place of the gate's attributes; the same as :meth:`to_params` but for
        the cosine gate, whose ``gate_coef`` becomes the :math:`v_i`).

        Returns
        -------
        params : dict of str to ndarray

        Examples
        --------
        >>> G = MixingMeasure(gate={"name": "cosine", "perturbation": 1.0},
        ...                   gate_intercept=[0.0, 0.0], gate_coef=[[1.0], [0.0]],
        ...                   expert_intercept=[0.0, 1.0], expert_coef=[[1.0], [0.0]],
        ...                   expert_variance=[1.0, 1.0])
        >>> G.identified_params()["gate_coef"]
        array([[0.5],
               [0. ]])
        """
        params, column = self.to_params(), 0
        for name in self._gate.attributes:
            width = 1 if params[name].ndim == 1 else params[name].shape[1]
            part = np.array(self._blocks[:, column:column + width])
            params[name] = part[:, 0] if params[name].ndim == 1 else part
            column += width
        return params

    def to_params(self):
        """The parameter arrays as a dict of fresh, writable arrays.

        The gate's attributes, then the experts'.  The dict is what
        ``GaussianMoERegressor(init_params=...)`` accepts (with the same
        ``gate``) and, for the softmax gate, :func:`gmoe.datasets.draw_response`.

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
        return {name: np.array(value) for name, value in self._arrays.items()}

    def to_dict(self):
        """The parameters as plain (JSON-serialisable) nested lists of floats,
        and, for a gate other than the softmax gate, ``"gate"``: its name or a
        dict of its name and options.

        Returns
        -------
        data : dict

        Examples
        --------
        >>> from gmoe.datasets import N23_TRUTH
        >>> MixingMeasure.from_params(**N23_TRUTH).to_dict()["gate_coef"]
        [[25.0], [0.0]]
        """
        data = {name: value.tolist() for name, value in self._arrays.items()}
        spec = gate_spec(self._gate)
        if spec != "softmax":
            data["gate"] = spec
        return data

    def translated(self, t0=0.0, t1=None):
        """The same model with translated gate parameters.

        Every gate intercept becomes :math:`\\beta_{0i} + t_0` and every gate part
        of an atom :math:`\\gamma_i + t_1`, along the gate's :attr:`gauge` only.
        The conditional density is unchanged; the weights are all multiplied by
        :math:`e^{t_0}`.  The gate's attributes are mapped back from the
        translated identified blocks (cosine: the :math:`v_i + t_1` must stay
        in the open unit ball, else a ValueError).

        Parameters
        ----------
        t0 : float, default=0.0
            Must be 0 when the gate has no intercept translation (sigmoid).
        t1 : array-like of shape (n_features,) or float or None, default=None
            A float is used for every coordinate; None means zero.  Must be None
            or zero when the gate has no such translation (every gate but the
            softmax gate and the cosine gate with ``perturbation > 0``).

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
        translate_weights, translate_atoms = self.gauge
        q = self.gate_atoms.shape[1]
        t1 = np.zeros(q) if t1 is None else as_float_array("t1", t1)
        if t1.ndim == 0:
            t1 = np.full(q, float(t1))
        if t1.shape != (q,) or not np.all(np.isfinite(t1)):
            raise ValueError(
                f"t1 must be a finite number or have shape ({q},) (the gate part "
                f"of an atom); got {t1!r}."
            )
        if t0 != 0 and not translate_weights:
            raise ValueError(f"gate={self._gate!r}: translating the gate intercepts "
                             "changes the model (not in its gauge); use t0=0.")
        if np.any(t1 != 0) and not translate_atoms:
            raise ValueError(f"gate={self._gate!r}: translating the gate parts of "
                             "the atoms changes the model (not in its gauge); use "
                             "t1=None.")
        blocks = np.array(self._blocks)
        blocks[:, 0] += float(t0)
        blocks[:, 1:] += t1
        return self._with_blocks(blocks)

    def canonical(self, reference=-1):
        """The translate whose atom ``reference`` has gate ``(0, 0)`` (its
        coordinates in the gate's gauge zero).

        For the softmax gate this is the form :class:`gmoe.GaussianMoERegressor`
        reports (reference = last expert) and the form the official code of
        [N23] compares measures in.  A gate without a gauge (sigmoid) is
        returned unchanged; for the cosine gate (``theta > 0``) the reference's
        :math:`v` becomes 0, a ValueError when another :math:`v_i - v_r` leaves
        the unit ball.

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
        translate_weights, translate_atoms = self.gauge
        t0 = -float(self.gate_intercept[reference]) if translate_weights else 0.0
        t1 = -self.gate_atoms[reference] if translate_atoms else None
        return self.translated(t0, t1)

    # ----------------------------------------------------------- protocol
    def __eq__(self, other):
        if not isinstance(other, MixingMeasure):
            return NotImplemented
        return same_gate(self._gate, other._gate) and self._arrays.keys() == \
            other._arrays.keys() and all(
                value.shape == other._arrays[name].shape
                and np.array_equal(value, other._arrays[name])
                for name, value in self._arrays.items())

    __hash__ = None

    def __repr__(self):
        def fmt(a):
            return np.array2string(a, separator=", ", precision=6,
                                   suppress_small=False, max_line_width=10**6,
                                   threshold=60)

        lines = [] if gate_spec(self._gate) == "softmax" else [f"gate={self._gate!r}"]
        lines += [f"{name}={fmt(value)}" for name, value in self._arrays.items()]
        body = ",\n    ".join(lines)
        return f"{type(self).__name__}(\n    {body},\n)"


# ------------------------------------------------------------------ helpers
def _identified_blocks(gate, arrays):
    """The blocks (read-only, (k, m)) of the gate's identified parametrisation
    from its attributes in the data's units."""
    identified = gate.identified_gate()
    d = arrays["expert_coef"].shape[1]
    blocks = np.array(identified.from_original(arrays, identity_scaling(d)),
                      dtype=float)
    gauge = identified.gauge(d)[1:]
    if gauge.any() and not gauge.all():
        raise ValueError(
            f"gate={gate!r}: its gauge translates some coordinates of the gate part "
            "of an atom and not others; a mixing measure needs all or none.")
    if not np.all(np.isfinite(blocks)):
        raise ValueError(f"gate={gate!r}: the identified gate blocks are not "
                         "finite; check the gate's parameters.")
    blocks.flags.writeable = False
    return blocks


def _original_values(gate, blocks):
    """The gate's attributes whose identified blocks are ``blocks`` (k, m)
    exactly: the identified gate's ``to_original`` gives them relative to the
    last block's gauge coordinates, so a zero block appended as that reference
    leaves them as they are."""
    blocks = np.asarray(blocks, dtype=float)
    n_features = max(blocks.shape[1] - 1, 1)
    padded = np.vstack([blocks, np.zeros((1, blocks.shape[1]))])
    values = gate.identified_gate().to_original(padded, identity_scaling(n_features))
    return {name: np.asarray(values[name])[:-1] for name in gate.attributes}
