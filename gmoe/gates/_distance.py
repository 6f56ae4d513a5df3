"""Gates whose scores are not functions of a linear predictor of x: the
(perturbed) cosine router and the Laplace gate.

Their scores read the covariates in the data's units: the families are not
closed under affine maps of x (the cosine of ``x`` and ``w`` changes when x is
shifted, the Euclidean distance ``|w - x|`` when the coordinates of x are scaled
unequally), so standardising x would change the model.  :meth:`features`
returns X as given, and the blocks are reported unchanged (intercepts in
reference form).
"""

import numpy as np

from gmoe.gates._base import Gate
from gmoe.gates._linear import Softmax
from gmoe.kernels._distance import NORM_FLOOR


class _InterceptAndVectorGate(Gate):
    """Blocks ``(b_i, w_i)``, ``m = d + 1``, on the covariates as given; the
    gauge is the intercept alone."""

    attributes = ("gate_intercept", "gate_coef")

    def n_block(self, n_features):
        return n_features + 1

    def block_names(self, n_features):
        return ["intercept"] + [f"w{j}" for j in range(n_features)]

    def gauge(self, n_features):
        gauge = np.zeros(n_features + 1, dtype=bool)
        gauge[0] = True
        return gauge

    def features(self, X, scaling):
        """The covariates as given (the data's units): these scores are not
        closed under affine maps of x."""
        return np.asarray(X, dtype=float)

    def to_original(self, blocks, scaling):
        blocks = np.asarray(blocks, dtype=float)
        return {"gate_intercept": blocks[:, 0] - blocks[-1, 0],
                "gate_coef": blocks[:, 1:].copy()}

    def from_original(self, values, scaling):
        return np.column_stack([np.asarray(values["gate_intercept"], dtype=float),
                                np.asarray(values["gate_coef"], dtype=float)])


class Cosine(_InterceptAndVectorGate):
    """The (perturbed) cosine router of [NAP25]_.

    .. math::

        s_i(x) = \\frac{x^\\top w_i}{(\\|x\\| + \\theta)(\\|w_i\\| + \\theta)}
                 + b_i, \\qquad \\pi_i(x) \\propto e^{s_i(x)},

    with Euclidean norms and ``theta = perturbation``: ``theta = 0`` is the
    plain cosine router, ``theta = 0.1`` (the default) the perturbed router of
    the public LibMoE code.  A block is ``(b_i, w_i)``; x is read in the data's
    units (:meth:`features`).

    Parameters
    ----------
    perturbation : float, default=0.1
        ``theta >= 0``; validated by :meth:`check_data`.

    Notes
    -----
    Identifiability.  A common translation of the intercepts ``b_i`` leaves the
    weights unchanged (the gauge: the last expert's intercept is the reference,
    0).  The weights identify less than that suggests:

    - with ``theta = 0`` the score depends on ``w_i`` only through its
      direction, so the norm of every ``w_i`` is free (the score derivatives
      satisfy ``D1 . w_i = 0``) and ``w_i = 0`` is singular;
    - with ``theta > 0`` the score is linear in ``v_i = w_i / (|w_i| + theta)``
      (a bijection of ``R^d`` onto the open unit ball), so translating every
      ``v_i`` by the same ``t`` (keeping them in the ball) adds
      ``t' x / (|x| + theta)`` to every score and leaves the weights unchanged:
      a curved ``d``-dimensional set of equivalent blocks that a common
      translation of the blocks does not describe.

    Both the slow rates of the plain router and their repair by the
    perturbation are the subject of [NAP25]_.  With ``theta = 0`` a sample at
    ``x = 0`` has no score (:meth:`check_data` refuses it).  At ``w_i = 0``
    (``theta > 0``) the score is not twice differentiable; the derivatives use
    ``max(|w_i|, NORM_FLOOR)`` for the norm that divides them.

    References
    ----------
    .. [NAP25] "Statistical advantages of perturbing cosine router in mixture
       of experts", arXiv 2405.14131, ICLR 2025; the scores above and
       ``theta = 0.1`` as in the public LibMoE code (``smoe_perturbed``).

    Examples
    --------
    >>> import numpy as np
    >>> gate = Cosine(perturbation=0.0)
    >>> blocks = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    >>> gate.scores(np.array([[3.0, 0.0], [1.0, 1.0]]), blocks).round(4)
    array([[1.    , 0.    ],
           [0.7071, 0.7071]])
    >>> Cosine()
    Cosine(perturbation=0.1)
    """

    name = "cosine"

    def __init__(self, perturbation=0.1):
        self.perturbation = perturbation

    def __repr__(self):
        return f"{type(self).__name__}(perturbation={self.perturbation!r})"

    def check_data(self, X):
        theta = self.perturbation
        try:
            theta = float(theta)
        except (TypeError, ValueError):
            theta = np.nan
        if not np.isfinite(theta) or theta < 0:
            raise ValueError(f"perturbation must be >= 0 (and finite); got "
                             f"perturbation={self.perturbation!r}.")
        if theta == 0 and np.any(np.all(np.asarray(X) == 0, axis=1)):
            raise ValueError(
                "a row of X is all zeros: its cosine score is undefined with "
                "perturbation=0; use perturbation > 0 or drop the row.")

    def n_parameters(self, n_experts, n_features):
        """Free parameters: the blocks less the reference's intercept, less the
        ``d`` dimensions of the common translation of the ``v_i`` (``theta >
        0``) or the ``k`` free norms (``theta = 0``) that leave the weights
        unchanged (see Notes)."""
        if n_experts == 1:
            return 0
        free = super().n_parameters(n_experts, n_features)
        return free - (n_features if float(self.perturbation) > 0 else n_experts)

    def identified_gate(self):
        """:class:`CosineScores`: the same weights as a softmax gate on
        ``a(x) = x / (|x| + theta)`` with slopes ``v_i = w_i / (|w_i| +
        theta)``, identified up to a common translation of the ``(b_i, v_i)``
        (``theta > 0``) or, with ``theta = 0``, of the ``b_i`` alone (the
        ``v_i = w_i / |w_i|`` are unit vectors, which a translation does not
        keep)."""
        return CosineScores(self.perturbation)

    def summary_gate(self):
        """With ``theta > 0``: :meth:`identified_gate`, the same weights as a
        softmax gate on ``x / (|x| + theta)`` with slopes ``v_i``, identified
        relative to the reference expert.  With ``theta = 0`` the estimates of
        the directions converge more slowly than any power of n (arXiv
        2405.14131), so no Wald theory applies: ValueError."""
        if float(self.perturbation) == 0:
            raise ValueError(
                "the plain cosine router (perturbation=0) identifies only the "
                "directions of its w_i, and their estimates converge more slowly "
                "than any power of n (arXiv 2405.14131): no standard errors are "
                "defined. Fit the perturbed router (perturbation > 0, e.g. the "
                "default 0.1).")
        return self.identified_gate()

    def flat(self, n_experts, Z):
        """Equal weights: ``b_i = 0`` and every ``w_i`` the same unit vector
        (the direction of the mean of ``Z``, or the first axis), not 0, which
        is singular with ``theta = 0``."""
        d = Z.shape[1]
        direction = np.mean(Z, axis=0) if Z.shape[0] else np.zeros(d)
        norm = np.linalg.norm(direction)
        if norm > 0 and np.isfinite(norm):
            direction = direction / norm
        else:
            direction = np.zeros(d)
            direction[0] = 1.0
        return np.column_stack([np.zeros(n_experts),
                                np.tile(direction, (n_experts, 1))])

    def compiled_form(self, Z):
        """The kernels compute the cosine scores from the covariates
        (:func:`gmoe.kernels._sources.compiled_source`, form ``"cosine"``)."""
        return np.asarray(Z, dtype=float), "cosine", float(self.perturbation)

    def score_derivatives(self, Z, blocks, order=2):
        # s = p / g + b with a = z / (|z| + theta), p = a'w, g = |w| + theta,
        # u = w / |w|:  ds/dw = a / g - p u / g^2,
        # d2s/dw2 = -(a u' + u a') / g^2 - p (I - u u') / (|w| g^2)
        #           + 2 p u u' / g^3.
        theta = float(self.perturbation)
        Z = np.asarray(Z, dtype=float)
        blocks = np.asarray(blocks, dtype=float)
        W = blocks[:, 1:]
        a = Z / (np.linalg.norm(Z, axis=1) + theta)[:, None]          # (n, d)
        norm_w = np.linalg.norm(W, axis=1)                             # (k,)
        g = norm_w + theta
        p = a @ W.T                                                    # (n, k)
        S = p / g + blocks[:, 0]
        D1 = D2 = None
        if order >= 1:
            safe = np.maximum(norm_w, NORM_FLOOR)
            u = W / safe[:, None]                                      # (k, d)
            n, d = Z.shape
            k = W.shape[0]
            D1 = np.empty((n, k, d + 1))
            D1[:, :, 0] = 1.0
            D1[:, :, 1:] = (a[:, None, :] / g[None, :, None]
                            - p[:, :, None] * u[None, :, :] / (g ** 2)[None, :, None])
            if order >= 2:
                au = a[:, None, :, None] * u[None, :, None, :]         # (n, k, d, d)
                uu = u[:, :, None] * u[:, None, :]                     # (k, d, d)
                proj = np.eye(d)[None] - uu
                curv = (2.0 * uu / (g ** 3)[:, None, None]
                        - proj / (safe * g ** 2)[:, None, None])       # (k, d, d)
                D2 = np.zeros((n, k, d + 1, d + 1))
                D2[:, :, 1:, 1:] = (
                    -(au + np.swapaxes(au, 2, 3)) / (g ** 2)[None, :, None, None]
                    + p[:, :, None, None] * curv[None])
        return S, D1, D2


class CosineScores(Softmax):
    """The cosine gate in the parameters its likelihood identifies.

    The score of :class:`Cosine` is linear in ``v_i = w_i / (|w_i| + theta)``:

    .. math::

        s_i(x) = a(x)^\\top v_i + b_i, \\qquad a(x) = \\frac{x}{\\|x\\| + \\theta},

    the softmax gate on the features ``a(x)``.  With ``theta > 0`` its blocks
    ``(b_i, v_i)`` are identified up to a common translation (the reference
    expert's block is zero); :meth:`from_original` reads the cosine gate's
    fitted attributes (``gate_intercept``, ``gate_coef`` = ``w``) and
    :meth:`to_original` maps blocks whose ``v_i`` lie in the open unit ball
    back to them, ``w_i = theta v_i / (1 - |v_i|)`` (a ``v_i`` outside the ball
    is a ValueError).  The parameter table of a cosine fit reports these blocks
    (rows ``gate_score``, coordinates ``v0, v1, ...``).  With ``theta = 0`` (the
    mixing measure's atoms only: no Wald theory) ``v_i = w_i / |w_i|`` is the
    unit vector of ``w_i``, only the intercepts translate (:meth:`gauge`), and
    :meth:`to_original` gives ``w_i = v_i`` (the router reads its direction).

    Parameters
    ----------
    perturbation : float
        ``theta >= 0``.

    Examples
    --------
    >>> import numpy as np
    >>> cosine = Cosine(0.5)
    >>> values = {"gate_intercept": np.array([0.3, 0.0]),
    ...           "gate_coef": np.array([[1.5, 0.0], [0.0, -0.5]])}
    >>> scores = cosine.summary_gate()
    >>> scores.from_original(values, None).round(3)
    array([[ 0.3 ,  0.75,  0.  ],
           [ 0.  ,  0.  , -0.5 ]])
    >>> X = np.array([[1.0, 2.0], [-0.5, 0.1]])
    >>> bool(np.allclose(cosine.original_log_weights(X, values),
    ...                  scores.original_log_weights(X, values)))
    True
    """

    name = "cosine"

    def __init__(self, perturbation):
        self.perturbation = perturbation

    def __repr__(self):
        return f"{type(self).__name__}(perturbation={self.perturbation!r})"

    def block_names(self, n_features):
        return ["intercept"] + [f"v{j}" for j in range(n_features)]

    def features(self, X, scaling):
        """``a(x) = x / (|x| + theta)`` in the data's units (``scaling`` is
        not used)."""
        X = np.asarray(X, dtype=float)
        return X / (np.linalg.norm(X, axis=1) + float(self.perturbation))[:, None]

    def gauge(self, n_features):
        """The intercepts and (``theta > 0``) the ``v_i``: a translation of
        unit vectors (``theta = 0``) does not keep them unit."""
        gauge = np.ones(n_features + 1, dtype=bool)
        gauge[1:] = float(self.perturbation) > 0
        return gauge

    def from_original(self, values, scaling):
        """Blocks ``(b_i, v_i)`` from the cosine gate's attributes; with
        ``theta = 0`` a ``w_i = 0`` (no direction) is a ValueError."""
        theta = float(self.perturbation)
        w = np.asarray(values["gate_coef"], dtype=float)
        norm = np.linalg.norm(w, axis=1)
        if theta == 0 and np.any(norm == 0):
            raise ValueError(
                "a gate_coef row w_i is zero: with perturbation=0 the cosine "
                "router reads only the direction of w_i, and 0 has none; give "
                "every w_i a nonzero direction.")
        v = w / (norm + theta)[:, None]
        return np.column_stack([np.asarray(values["gate_intercept"], dtype=float), v])

    def to_original(self, blocks, scaling):
        """The cosine gate's attributes (intercepts in reference form) from
        blocks whose ``v_i`` lie in the open unit ball (``theta = 0``: ``w_i =
        v_i``, whose direction is all the router reads)."""
        blocks = np.asarray(blocks, dtype=float)
        v = blocks[:, 1:]
        theta = float(self.perturbation)
        radius = np.linalg.norm(v, axis=1)
        if theta > 0 and np.any(radius >= 1):
            worst = int(np.argmax(radius))
            raise ValueError(
                f"v_{worst} = w_{worst} / (|w_{worst}| + theta) has norm "
                f"{radius[worst]:.6g} >= 1, outside the open unit ball: no "
                "cosine w has it. A translation of the v_i (or a merge) must keep "
                "every v_i inside the ball; use a smaller translation.")
        w = v.copy() if theta == 0 else theta * v / (1.0 - radius)[:, None]
        return {"gate_intercept": blocks[:, 0] - blocks[-1, 0], "gate_coef": w}


class Laplace(_InterceptAndVectorGate):
    """The Laplace gate of [FuseMoE]_: a softmax over minus the Euclidean
    distances to per-expert centres.

    .. math::

        s_i(x) = -\\|w_i - x\\| + b_i, \\qquad \\pi_i(x) \\propto e^{s_i(x)}.

    A block is ``(b_i, w_i)``; x is read in the data's units (:meth:`features`:
    Euclidean distances change when the coordinates are scaled unequally).

    Parameters
    ----------
    bandwidth : float or None, default=None
        One covariate only: the scale ``h > 0`` of the kink curvature of the
        score's second derivative (see Notes); None: chosen from the data of each
        fit by Silverman's rule, ``1.06 sd(x) n^(-1/5)`` (:meth:`prepare`); 0: no
        kink curvature, the exact second derivative of the pieces between the
        samples (:meth:`exact_curvature`).  Ignored with two or more covariates.

    Notes
    -----
    Identifiability.  A common translation of the intercepts leaves the weights
    unchanged (the gauge: the last expert's intercept is the reference, 0); a
    common translation of the centres does not.  Along a constant feature
    ``x_j = c`` the scores see only ``|w_ij - c|``, so ``w_ij`` and
    ``2 c - w_ij`` are equivalent: :meth:`check_data` refuses constant features.

    Derivatives.  The score is not differentiable at a sample on a centre
    (``x = w_i``): the derivatives there use ``max(|w_i - x|, NORM_FLOOR)`` for
    the distance that divides them (first derivative 0).  With two or more
    covariates the second derivative ``-(I - v v') / |w_i - x|``
    (``v = (w_i - x) / |w_i - x|``) is integrable and is the whole curvature.
    With one covariate it is zero away from the samples, and the curvature of
    ``-|w - x|`` is all in its kink, ``-2 delta(w - x)``: the log-likelihood is
    piecewise smooth in the centres, with a break at every sample, and a
    Hessian without the kinks tells Newton's method nothing of the curvature
    that holds a centre among the data.  So with one covariate the second
    derivative is the kink's, smoothed by a Gaussian kernel of bandwidth ``h``:
    ``-2 K_h(w_i - x) = -2 exp(-(w_i - x)^2 / (2 h^2)) / (h sqrt(2 pi))``.  Summed
    over the samples it estimates the curvature of the expected log-likelihood
    (as a kernel density estimates the density that sets the variance of a
    median).  The scores and first derivatives are exact.

    References
    ----------
    .. [FuseMoE] "FuseMoE: mixture-of-experts transformers for fleximodal
       fusion", arXiv 2402.03226, NeurIPS 2024; the Laplace gate is also studied
       in the hierarchical MoE of arXiv 2410.02935.  The scores above are as read
       in their summaries.

    Examples
    --------
    >>> import numpy as np
    >>> gate = Laplace()
    >>> blocks = np.array([[0.0, 1.0, 0.0], [0.0, 3.0, 4.0]])
    >>> gate.scores(np.array([[0.0, 0.0]]), blocks)
    array([[-1., -5.]])
    >>> np.exp(gate.log_weights(np.array([[2.0, 2.0]]), blocks)).round(3)
    array([[0.5, 0.5]])
    >>> round(Laplace().prepare(np.array([[0.0], [1.0], [2.0]]), np.ones(3))
    ...       .bandwidth, 4)
    0.6948
    """

    name = "laplace"

    def __init__(self, bandwidth=None):
        self.bandwidth = bandwidth

    def __repr__(self):
        if self.bandwidth is None:
            return f"{type(self).__name__}()"
        return f"{type(self).__name__}(bandwidth={self.bandwidth!r})"

    def check_data(self, X):
        X = np.asarray(X, dtype=float)
        if self.bandwidth is not None:
            try:
                value = float(self.bandwidth)
                valid = value >= 0 and np.isfinite(value)
            except (TypeError, ValueError):
                valid = False
            if not valid:
                raise ValueError(f"bandwidth must be None or a finite number >= 0; "
                                 f"got bandwidth={self.bandwidth!r}.")
        constant = np.flatnonzero(np.ptp(X, axis=0) == 0) if X.shape[0] else []
        if len(constant):
            raise ValueError(
                f"features {np.asarray(constant).tolist()} are constant: a Laplace "
                "gate's centres are not identified along a constant feature; drop "
                "the constant features.")

    def prepare(self, Z, w):
        """With one covariate and no bandwidth given: the gate with Silverman's
        bandwidth ``1.06 sd(z) n^(-1/5)`` of the features, the standard
        deviation weighted by ``w`` and ``n`` the effective sample size
        ``(sum w)^2 / sum w^2``.  Otherwise the gate itself."""
        Z = np.asarray(Z, dtype=float)
        w = np.asarray(w, dtype=float)
        if self.bandwidth is not None or Z.ndim != 2 or Z.shape[1] != 1:
            return self
        total = w.sum()
        if not total > 0:
            return self
        mean = float(w @ Z[:, 0]) / total
        sd = np.sqrt(float(w @ (Z[:, 0] - mean) ** 2) / total)
        n_eff = total**2 / float(w @ w)
        if not sd > 0:
            return self
        return type(self)(bandwidth=float(1.06 * sd * n_eff ** -0.2))

    def exact_curvature(self):
        """The gate without the kink curvature (``bandwidth=0``): its Hessian is
        the log-likelihood's own between the samples."""
        return type(self)(bandwidth=0.0)

    def kinks(self, Z):
        """With one covariate the score ``-|w_i - x| + b_i`` has a kink at every
        sample, in the centre (block coordinate 1); with two or more it is
        differentiable but at a sample exactly: None."""
        Z = np.asarray(Z, dtype=float)
        return {1: Z[:, 0]} if Z.ndim == 2 and Z.shape[1] == 1 else None

    def _kink_bandwidth(self, d):
        """The bandwidth of the kink curvature, or 0.0 for none (``d >= 2``, or
        no bandwidth yet)."""
        return float(self.bandwidth) if d == 1 and self.bandwidth is not None else 0.0

    def flat(self, n_experts, Z):
        """Equal weights: ``b_i = 0`` and every centre the mean of ``Z``."""
        return np.column_stack([np.zeros(n_experts),
                                np.tile(np.mean(Z, axis=0), (n_experts, 1))])

    def compiled_form(self, Z):
        """The kernels compute the Laplace scores from the covariates
        (:func:`gmoe.kernels._sources.compiled_source`, form ``"laplace"``, the
        constant the kink bandwidth, 0 for none)."""
        Z = np.asarray(Z, dtype=float)
        return Z, "laplace", self._kink_bandwidth(Z.shape[1])

    def score_derivatives(self, Z, blocks, order=2):
        # s = -rho + b, r = w - z, rho = |r|, v = r / rho:
        # ds/dw = -v = (z - w) / rho,  d2s/dw2 = -(I - v v') / rho, or in one
        # dimension with a bandwidth h the kink's -2 K_h(r)
        Z = np.asarray(Z, dtype=float)
        blocks = np.asarray(blocks, dtype=float)
        r = blocks[None, :, 1:] - Z[:, None, :]                        # (n, k, d)
        rho = np.linalg.norm(r, axis=2)                                # (n, k)
        S = blocks[:, 0] - rho
        D1 = D2 = None
        if order >= 1:
            n, k, d = r.shape
            safe = np.maximum(rho, NORM_FLOOR)
            v = r / safe[:, :, None]
            D1 = np.empty((n, k, d + 1))
            D1[:, :, 0] = 1.0
            D1[:, :, 1:] = -v
            if order >= 2:
                D2 = np.zeros((n, k, d + 1, d + 1))
                h = self._kink_bandwidth(d)
                if h > 0:
                    D2[:, :, 1, 1] = (-2.0 * np.exp(-0.5 * (r[:, :, 0] / h) ** 2)
                                      / (h * np.sqrt(2.0 * np.pi)))
                else:
                    D2[:, :, 1:, 1:] = -((np.eye(d) - v[:, :, :, None]
                                          * v[:, :, None, :])
                                         / safe[:, :, None, None])
        return S, D1, D2
