"""The Gaussian gate of [N24g]: ``pi_i(x) \\propto pi_i N(x; c_i, Gamma_i)``.

Its scores ``s_i(z) = log pi_i + log N(z; c_i, Gamma_i)`` are linear in the
block ``theta_i`` of coefficients on ``phi(z) = (1, z, quad(z))``
(:func:`gmoe.gates._gaussian_maths.gaussian_to_quadratic`): a softmax gate on quadratic
features, which the compiled kernels fit through :meth:`Gaussian.linear_design`.
Affine maps of x map Gaussians onto Gaussians, so the gate reads the
standardised covariates and reports its parameters in the data's units.  The
maths is in :mod:`gmoe.gates._gaussian_maths` (conversions) and
:mod:`gmoe.gates._gaussian_mixture` (normaliser, closed-form M-step, representative).
"""

import warnings

import numpy as np
import scipy.special

from gmoe.gates._base import Gate
from gmoe.gates._gaussian_maths import (
    COVARIANCE_FLOOR,
    CovarianceFloorWarning,
    RepresentativeWarning,
    _quad_matrix,
    augmented_design,
    gaussian_log_scores,
    gaussian_to_quadratic,
    quadratic_to_gaussian,
)
from gmoe.gates._gaussian_mixture import (
    gaussian_m_step,
    log_partition,
    moment_matched_representative,
)

#: The likelihoods the Gaussian gate is fitted by.
LIKELIHOODS = ("conditional", "joint")

#: A representative whose moments miss those of X by more than this
#: (standardised units) is reported with a :class:`RepresentativeWarning`.
REPRESENTATIVE_TOLERANCE = 1e-6


def _concave(blocks):
    """Whether every block's quadratic part is negative definite."""
    d = int(round((-3 + np.sqrt(9 + 8 * (blocks.shape[1] - 1))) / 2))
    quad = _quad_matrix(blocks[:, 1 + d:], d)
    return bool(np.all(np.linalg.eigvalsh(quad) < 0))


class Gaussian(Gate):
    """The Gaussian gate of [N24g]_: :math:`\\pi_i(x) \\propto \\pi_i N(x; c_i,
    \\Gamma_i)`.

    The scores :math:`s_i(x) = \\log \\pi_i + \\log N(x; c_i, \\Gamma_i)` are a
    quadratic in x; a block holds their ``1 + d + d (d + 1) / 2`` coefficients
    on :math:`(1, x, \\mathrm{quad}(x))` (standardised x).  The fitted
    attributes are ``gate_weight`` (k,), ``gate_mean`` (k, d) and
    ``gate_covariance`` (k, d, d), in the data's units.

    Parameters
    ----------
    likelihood : {"conditional", "joint"}, default="conditional"
        ``"conditional"``: the likelihood of y given x, which is unchanged when
        the same quadratic of x is added to every score: that whole translation
        is the gauge (the last expert's block is zero), and the parameters
        reported are the representative whose Gaussian mixture has the mean and
        second moment of the training X
        (:func:`gmoe.gates._gaussian_mixture.moment_matched_representative`; a
        :class:`~gmoe.RepresentativeWarning` when none has).  ``"joint"``: the
        likelihood of ``(x, y)``, x drawn from the mixture :math:`\\sum_i \\pi_i
        N(c_i, \\Gamma_i)`; the x-marginal term joins the objective
        (:meth:`log_partition`), the gauge is the common constant alone, and the
        gate's M-step is the weighted Gaussian-mixture M-step
        (:meth:`m_step`), its covariances' eigenvalues floored at
        ``COVARIANCE_FLOOR`` (standardised units; a
        :class:`~gmoe.CovarianceFloorWarning` when the fit holds one there).

    References
    ----------
    .. [N24g] H. Nguyen, T. Nguyen, K. Nguyen, N. Ho, "Towards Convergence
       Rates for Parameter Estimation in Gaussian-gated Mixture of Experts",
       AISTATS 2024.

    Examples
    --------
    >>> import numpy as np
    >>> gate = Gaussian()
    >>> blocks = gaussian_to_quadratic(np.array([0.5, 0.5]),
    ...                                np.array([[-1.0], [1.0]]), np.ones((2, 1, 1)))
    >>> np.exp(gate.log_weights(np.array([[0.0], [1.0]]), blocks)).round(3)
    array([[0.5  , 0.5  ],
           [0.119, 0.881]])
    >>> gate.n_parameters(3, 1), Gaussian("joint").n_parameters(3, 1)
    (6, 8)
    """

    name = "gaussian"
    attributes = ("gate_weight", "gate_mean", "gate_covariance")

    def __init__(self, likelihood="conditional"):
        self.likelihood = likelihood

    def __repr__(self):
        return f"{type(self).__name__}(likelihood={self.likelihood!r})"

    @property
    def marginal(self):
        return self.likelihood == "joint"

    def with_likelihood(self, likelihood):
        return type(self)(likelihood)

    # ------------------------------------------------------------ structure
    def n_block(self, n_features):
        return 1 + n_features + n_features * (n_features + 1) // 2

    def block_names(self, n_features):
        rows, cols = np.triu_indices(n_features)
        return (["intercept"] + [f"x{j}" for j in range(n_features)]
                + [f"x{a}*x{b}" for a, b in zip(rows, cols, strict=True)])

    def gauge(self, n_features):
        gauge = np.full(self.n_block(n_features), not self.marginal)
        gauge[0] = True
        return gauge

    def n_parameters(self, n_experts, n_features):
        """Conditional: ``(k - 1)(1 + d + d (d + 1) / 2)``; joint: the Gaussian
        mixture's ``(k - 1) + k d + k d (d + 1) / 2`` (also for one expert,
        whose Gaussian the x-marginal fits)."""
        if self.marginal:
            return n_experts * self.n_block(n_features) - 1
        return super().n_parameters(n_experts, n_features)

    def attribute_shapes(self, n_experts, n_features):
        return {"gate_weight": (n_experts,),
                "gate_mean": (n_experts, n_features),
                "gate_covariance": (n_experts, n_features, n_features)}

    def check_data(self, X):
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}; got "
                             f"likelihood={self.likelihood!r}.")
        X = np.asarray(X, dtype=float)
        constant = np.flatnonzero(np.ptp(X, axis=0) == 0) if X.shape[0] else []
        if len(constant):
            raise ValueError(
                f"features {list(map(int, constant))} are constant: a Gaussian gate "
                "needs a non-singular covariance of X; drop the constant features.")

    # ---------------------------------------------------------------- scores
    def linear_design(self, Z):
        return augmented_design(Z), "identity"

    def score_derivatives(self, Z, blocks, order=2):
        Zt = augmented_design(Z)
        S = Zt @ np.asarray(blocks, dtype=float).T
        D1 = np.broadcast_to(Zt[:, None, :], S.shape + (Zt.shape[1],)) \
            if order >= 1 else None
        return S, D1, None

    def flat(self, n_experts, Z):
        """Equal weights and every component the Gaussian of ``Z`` (its mean and
        covariance, eigenvalues floored): a point of the joint likelihood's
        domain."""
        d = Z.shape[1]
        mean = Z.mean(axis=0) if Z.shape[0] else np.zeros(d)
        centred = Z - mean
        cov = centred.T @ centred / max(Z.shape[0], 1)
        eigval, eigvec = np.linalg.eigh(cov)
        cov = (eigvec * np.maximum(eigval, COVARIANCE_FLOOR)) @ eigvec.T
        return gaussian_to_quadratic(np.full(n_experts, 1.0 / n_experts),
                                     np.tile(mean, (n_experts, 1)),
                                     np.tile(cov, (n_experts, 1, 1)))

    # ------------------------------------------------------------- marginal
    def log_partition(self, blocks, order=0):
        """The log-normaliser of the mixture on x (see
        :func:`gmoe.gates._gaussian_mixture.log_partition`)."""
        return log_partition(blocks, order)

    def m_step(self, blocks, stats, total):
        """Joint likelihood: the weighted Gaussian-mixture M-step
        (:func:`gmoe.gates._gaussian_mixture.gaussian_m_step`); conditional: None."""
        if not self.marginal:
            return None
        return gaussian_m_step(stats, total, blocks, COVARIANCE_FLOOR)[0]

    def screening_gate(self):
        """Conditional likelihood: the joint one, whose closed-form EM fits the
        mixture on x (the basins a Gaussian-gated truth's gate lies in); its end
        points, ranked by the conditional likelihood, start the conditional
        fits."""
        return self if self.marginal else type(self)("joint")

    def x_log_density(self, X, values):
        return scipy.special.logsumexp(gaussian_log_scores(
            X, values["gate_weight"], values["gate_mean"],
            values["gate_covariance"]), axis=1)

    def mixing_measure(self, values):
        from gmoe.theory._voronoi_gaussian import GaussianGateMixingMeasure

        return GaussianGateMixingMeasure.from_params(**values)

    # ----------------------------------------------------------------- units
    def to_original(self, blocks, scaling):
        """Weights, means and covariances in the data's units.

        Joint likelihood: the Gaussians of the blocks.  Conditional: the
        moment-matched representative of the blocks' class, for the weighted
        second moment ``scaling.x_second`` of the standardised covariates (mean
        zero); without it (a ``scaling`` of the data's own units), the Gaussians
        of the blocks where they are concave, else the representative for mean
        zero and second moment the identity."""
        blocks = np.asarray(blocks, dtype=float)
        d = scaling.x_mean.shape[0]
        second = getattr(scaling, "x_second", None)
        if self.marginal or (second is None and _concave(blocks)):
            weight, mean, cov, _ = quadratic_to_gaussian(blocks)
        else:
            second = np.eye(d) if second is None else second
            weight, mean, cov, gap = moment_matched_representative(
                blocks, np.zeros(d), second)
            if gap > REPRESENTATIVE_TOLERANCE:
                warnings.warn(
                    "no Gaussian representative of the fitted gate has the mean "
                    f"and second moment of X (closest: off by {gap:.2g} in "
                    "standardised units); the gate nearly separates the experts. "
                    "gate_weight_, gate_mean_ and gate_covariance_ are the closest "
                    "member found; predict_gate is exact. likelihood='joint' "
                    "identifies them.", RepresentativeWarning, stacklevel=4)
        if self.marginal and np.min(np.linalg.eigvalsh(cov)) <= (
                COVARIANCE_FLOOR * (1 + 1e-6)):
            warnings.warn(
                "a gate covariance is held at its eigenvalue floor "
                f"({COVARIANCE_FLOOR:g} of the variance of each feature): the data "
                "give a component a (nearly) singular covariance in X. Fewer "
                "experts may suit these data.", CovarianceFloorWarning,
                stacklevel=4)
        s = scaling.x_scale
        return {"gate_weight": weight,
                "gate_mean": scaling.x_mean + mean * s,
                "gate_covariance": cov * np.outer(s, s)}

    def from_original(self, values, scaling):
        weight = np.asarray(values["gate_weight"], dtype=float)
        mean = np.asarray(values["gate_mean"], dtype=float)
        cov = np.asarray(values["gate_covariance"], dtype=float)
        if not (np.all(weight >= 0) and np.any(weight > 0)):
            raise ValueError("gate_weight must be non-negative and not all zero (the "
                             f"mixture weights of the Gaussian gate); got {weight!r}.")
        # a weight that underflowed to zero in a fit: the smallest positive
        # float keeps its score finite (its expert is never used either way)
        weight = np.maximum(weight, np.finfo(float).tiny)
        if (not np.allclose(cov, np.swapaxes(cov, 1, 2))
                or np.any(np.linalg.eigvalsh(cov) <= 0)):
            raise ValueError("gate_covariance must hold symmetric positive definite "
                             "matrices.")
        s = scaling.x_scale
        return gaussian_to_quadratic(weight / weight.sum(),
                                     (mean - scaling.x_mean) / s,
                                     cov / np.outer(s, s))
