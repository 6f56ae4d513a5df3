"""The model's maths in one place: parameters, objective, derivatives, EM statistics.

Both solvers (:mod:`gmoe.engine._em` and :mod:`gmoe.engine._newton`) and the estimator
work through :class:`SoftmaxGaussianMoE`, which holds one (standardised) data set, the
regularisation of the fit (variance bounds, gate bound, gate penalty) and computes,
for a :class:`MoEParams`:

- the E-step and its sufficient statistics (:meth:`SoftmaxGaussianMoE.e_step`);
- the closed-form expert update and the gate's Newton direction of the M-step;
- the penalised log-likelihood, its gradient and Hessian over the free
  parameters (:meth:`SoftmaxGaussianMoE.derivatives`);
- the projection onto the bounds, and the bounds of the free-parameter vector.

Free parameters, in this order (the vector of :meth:`MoEParams.to_vector`): the
gate rows of all experts but the last (the reference, whose row is zero), row by
row; the expert rows ``coef`` row by row; the log-variances.  With an expert
family other than the default (:mod:`gmoe.experts`), the expert part is the
family's free parameters (:meth:`SoftmaxGaussianMoE.to_vector`).
"""

from dataclasses import dataclass

import numpy as np
import scipy.special

from gmoe.engine._balance import BalanceTerms
from gmoe.experts import GaussianLinear, weighted_least_squares
from gmoe.gates import Softmax
from gmoe.gates._sparse import top_k_mask
from gmoe.kernels._em import e_step, gate_stats
from gmoe.kernels._hessian import loglik_hessian
from gmoe.kernels._linalg import ridge_cholesky_solve


@dataclass
class MoEParams:
    """Parameters of a softmax-gated Gaussian MoE on a design with a column of ones.

    Attributes
    ----------
    gate : ndarray of shape (k, p)
        Row ``i`` is ``(beta_0i, beta_1i)``; the last row is the reference (zero)
        in the canonical form.
    coef : ndarray of shape (k, p)
        Row ``i`` is ``(b_i, a_i)``.
    var : ndarray of shape (k,)
        Expert variances.

    Examples
    --------
    >>> import numpy as np
    >>> params = MoEParams(np.zeros((2, 2)), np.ones((2, 2)), np.ones(2))
    >>> theta = params.to_vector()
    >>> theta.shape
    (8,)
    >>> bool(np.array_equal(MoEParams.from_vector(theta, 2, 2).coef, params.coef))
    True
    """

    gate: np.ndarray
    coef: np.ndarray
    var: np.ndarray

    @property
    def n_experts(self):
        return self.coef.shape[0]

    def canonical(self):
        """The same parameters with the last gate row subtracted from every row."""
        return MoEParams(self.gate - self.gate[-1], self.coef.copy(), self.var.copy())

    def to_vector(self):
        """The free parameters as one vector (see the module docstring)."""
        gate = self.gate - self.gate[-1]
        return np.concatenate([gate[:-1].ravel(), self.coef.ravel(), np.log(self.var)])

    @classmethod
    def from_vector(cls, theta, k, p):
        """Inverse of :meth:`to_vector`."""
        n_gate = (k - 1) * p
        gate = np.vstack([theta[:n_gate].reshape(k - 1, p), np.zeros((1, p))])
        coef = theta[n_gate:n_gate + k * p].reshape(k, p).copy()
        var = np.exp(np.minimum(theta[n_gate + k * p:], 700.0))
        return cls(gate, coef, var)


def log_gate_weights(scores, top_k=None):
    """Log gate weights of the (top-K sparse) softmax gate.

    .. math::

        \\log \\pi_i(x) = s_i(x) - \\log \\sum_{j \\in T(x)} e^{s_j(x)}
        \\ \\text{for}\\ i \\in T(x),\\qquad -\\infty\\ \\text{otherwise},

    with :math:`T(x)` the ``top_k`` largest scores
    (:func:`~gmoe.gates._sparse.top_k_mask`; all the experts when ``top_k`` is None).

    Parameters
    ----------
    scores : ndarray of shape (n, k)
    top_k : int or None, default=None

    Returns
    -------
    log_gate : ndarray of shape (n, k)

    Examples
    --------
    >>> import numpy as np
    >>> np.exp(log_gate_weights(np.array([[0.0, np.log(3.0), -1.0]]), 2)).round(2)
    array([[0.25, 0.75, 0.  ]])
    """
    scores = np.asarray(scores, dtype=float)
    if top_k is None or top_k >= scores.shape[1]:
        return scipy.special.log_softmax(scores, axis=1)
    masked = np.where(top_k_mask(scores, top_k), scores, -np.inf)
    return scipy.special.log_softmax(masked, axis=1)


def n_free_parameters(k, p):
    """Number of free parameters: ``(k - 1) p`` gate, ``k p`` expert, ``k`` variances.

    Examples
    --------
    >>> n_free_parameters(2, 2)
    8
    """
    return (k - 1) * p + k * p + k


def _block_order(k, p):
    """Positions, in the per-expert blocks of :func:`loglik_hessian`, of the free
    parameters in the order of :meth:`MoEParams.to_vector`."""
    q = 2 * p + 1
    gate = [i * q + a for i in range(k - 1) for a in range(p)]
    coef = [i * q + p + a for i in range(k) for a in range(p)]
    logvar = [i * q + 2 * p for i in range(k)]
    return np.array(gate + coef + logvar, dtype=np.intp)


#: The closed-form M-step of Gaussian linear experts with variances of their own
#: (:func:`gmoe.experts.weighted_least_squares`).
m_step_experts = weighted_least_squares


def solve_psd(H, g):
    """``H^{-1} g`` for a symmetric positive semi-definite ``H`` (m, m).

    Cholesky with a tiny ridge (1e-10 of the mean diagonal); least squares when
    that fails.  Ill-conditioning is not an error here: the callers check that
    the step they take improves their objective.
    """
    if H.shape[0] == 0:
        return np.zeros(0)
    H, g = (np.ascontiguousarray(a, dtype=np.float64) for a in (H, g))
    # a compiled Cholesky: numpy's and scipy's per-call overheads cost more than
    # these small solves
    step = np.empty(H.shape[0])
    if ridge_cholesky_solve(H, g, 1e-10, step):
        return step
    return np.linalg.lstsq(H, g, rcond=None)[0]


def _held_at_bound(theta, grad, lo, hi, rtol=1e-12):
    """Entries of ``theta`` at a bound whose ascent direction ``grad`` points out."""
    finite_lo = np.isfinite(lo)
    finite_hi = np.isfinite(hi)
    lo0 = np.where(finite_lo, lo, 0.0)
    hi0 = np.where(finite_hi, hi, 0.0)
    near_lo = np.where(finite_lo, lo0 + rtol * np.abs(lo0), -np.inf)
    near_hi = np.where(finite_hi, hi0 - rtol * np.abs(hi0), np.inf)
    return ((theta <= near_lo) & (grad < 0)) | ((theta >= near_hi) & (grad > 0))


@dataclass
class EStats:
    """What one E-step pass returns (standardised units; see :func:`e_step`)."""

    loglik: float
    A: np.ndarray
    B: np.ndarray
    C: np.ndarray
    gate_q: float
    gate_grad: np.ndarray
    gate_info: np.ndarray
    gate_q_prev: float


class SoftmaxGaussianMoE:
    """A data set and the regularisation of its fit: the model's maths.

    The objective is the penalised weighted log-likelihood

    .. math::

        F(\\theta) = \\sum_n w_n \\log \\sum_i \\pi_i(x_n) N(y_n; c_i^T \\tilde x_n,
        \\sigma_i) - \\frac{\\alpha}{2} \\sum_{i < k} \\lVert \\beta_{1i} \\rVert^2,

    maximised subject to ``var_lower <= sigma_i <= var_upper`` and
    ``|beta_1i[a]| <= gate_bound[a]`` (the gate in reference form, slopes only);
    with ``balance > 0``, minus also the load-balancing penalty ``balance * W *
    KL(P || u)`` of the mean gate weights (:mod:`gmoe.engine._balance`).

    Parameters
    ----------
    Xt : ndarray of shape (n, p)
        Design with a leading column of ones (C-contiguous float64).
    y, w : ndarray of shape (n,)
        Responses and non-negative sample weights.
    var_lower : float
        Lower bound (floor) of the variances, positive.
    var_upper : float, default=inf
        Upper bound of the variances.
    gate_bound : ndarray of shape (p - 1,) or None
        Bound of the absolute gate slopes; ``None`` for none.
    gate_penalty : float, default=0
        Ridge penalty ``alpha`` on the gate slopes.
    experts : gmoe.experts.ExpertFamily or None
        The experts' free parameters and M-step (None: Gaussian linear experts
        with variances of their own).
    balance : float, default=0
        Weight ``alpha`` of the load-balancing penalty.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Xt = np.column_stack([np.ones(100), rng.normal(size=100)])
    >>> model = SoftmaxGaussianMoE(Xt, rng.normal(size=100), np.ones(100),
    ...                            var_lower=1e-6)
    >>> params = MoEParams(np.zeros((2, 2)), np.zeros((2, 2)), np.ones(2))
    >>> value, grad, hess = model.derivatives(params)
    >>> grad.shape, hess.shape
    ((8,), (8, 8))
    """

    #: A dense gate: EM's plain steps (a sparse gate's model sets the K).
    top_k = None

    def __init__(self, Xt, y, w, *, var_lower, var_upper=np.inf, gate_bound=None,
                 gate_penalty=0.0, experts=None, balance=0.0):
        self.Xt = np.ascontiguousarray(Xt, dtype=np.float64)
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.w = np.ascontiguousarray(w, dtype=np.float64)
        self.total = float(self.w.sum())
        self.var_lower = float(var_lower)
        self.var_upper = float(var_upper)
        self.gate_bound = None if gate_bound is None else np.asarray(gate_bound, float)
        self.gate_penalty = float(gate_penalty)
        self.experts = GaussianLinear() if experts is None else experts
        self.balance = float(balance)

    def subset(self, rows):
        """The same model on the samples ``rows`` (same bounds and penalty)."""
        return SoftmaxGaussianMoE(
            self.Xt[rows], self.y[rows], self.w[rows], var_lower=self.var_lower,
            var_upper=self.var_upper, gate_bound=self.gate_bound,
            gate_penalty=self.gate_penalty, experts=self.experts,
            balance=self.balance)

    @property
    def n_samples(self):
        return self.Xt.shape[0]

    @property
    def p(self):
        return self.Xt.shape[1]

    # ------------------------------------------------------------- objective
    # ------------------------------------------------ the engine's interface
    def to_vector(self, params):
        """The free parameters as one vector: the gate's of
        :meth:`MoEParams.to_vector`, then the expert family's."""
        gate = params.gate - params.gate[-1]
        return np.concatenate([gate[:-1].ravel(),
                               self.experts.to_free(params.coef, params.var)])

    def from_vector(self, theta, k):
        """Inverse of :meth:`to_vector`."""
        n_gate = (k - 1) * self.p
        gate = np.vstack([theta[:n_gate].reshape(k - 1, self.p),
                          np.zeros((1, self.p))])
        return MoEParams(gate, *self.experts.from_free(theta[n_gate:], k, self.p))

    def gate_scores(self, gate):
        """Gate scores ``Xt @ gate.T``, shape (n, k)."""
        return self.Xt @ gate.T

    def flat_gate(self, k):
        """The gate of equal weights (zero rows)."""
        return np.zeros((k, self.p))

    def gate_stats(self, resp, gate):
        """Gate objective for ``resp``, its gradient and information at ``gate``
        (:func:`gmoe.kernels._em.gate_stats`)."""
        return gate_stats(self.Xt, self.w, resp, gate)

    def reference_gradient(self, grad, k):
        """The gradient of the reference expert's gate row implied by ``grad``
        (free parameters, ``k`` experts): minus the sum of the other rows' (the
        likelihood does not change under a common translation of the rows)."""
        return -grad[:(k - 1) * self.p].reshape(k - 1, self.p).sum(axis=0)

    @property
    def reference_dependent(self):
        """Whether the objective depends on which expert is the reference (the
        gate penalty and the gate bound are written in the reference form)."""
        return self.gate_penalty > 0 or self.gate_bound is not None

    def penalty(self, gate):
        """The gate penalty ``alpha / 2 * sum of squared slopes`` (reference form)
        plus the load-balancing penalty (:meth:`balance_derivatives`)."""
        value = 0.0
        if self.balance:
            value = self.balance_derivatives(gate, 0)[0]
        if self.gate_penalty == 0.0:
            return value
        slopes = gate[:-1, 1:] - gate[-1, 1:]
        return value + 0.5 * self.gate_penalty * float(np.sum(slopes * slopes))

    def balance_derivatives(self, gate, order=2):
        """The load-balancing penalty ``balance * W * KL(P || u)`` and its
        derivatives over the gate rows (:func:`gmoe.engine._balance.balance_terms`,
        the softmax gate on ``Xt``): ``(value, grad (k, p), info (k, k, p, p),
        hess (k, k, p, p))`` up to ``order``; the last value kept."""
        if getattr(self, "_balance_terms", None) is None:
            self._balance_terms = BalanceTerms(Softmax(), self.Xt[:, 1:], self.w)
        return self._balance_terms(gate - gate[-1], order, self.balance)

    def e_step(self, params, resp_prev, resp):
        """One fused E-step at ``params``; writes ``resp`` (n, k), returns
        :class:`EStats` (the log-likelihood is not penalised)."""
        return EStats(*e_step(self.Xt, self.y, self.w, params.gate, params.coef,
                              params.var, resp_prev, resp))

    def objective(self, params):
        """Penalised log-likelihood at ``params`` (one pass over the data)."""
        n, k = self.n_samples, params.n_experts
        resp = np.empty((n, k))
        stats = self.e_step(params, resp, resp)
        return stats.loglik - self.penalty(params.gate)

    def derivatives(self, params):
        """Penalised log-likelihood, gradient and Hessian over the free parameters.

        One pass over the data (:func:`gmoe.kernels._hessian.loglik_hessian`).

        Returns
        -------
        value : float
        grad : ndarray of shape (m,)
        hess : ndarray of shape (m, m)
            ``m = (k - 1) p`` gate parameters plus the expert family's, in the
            order of :meth:`to_vector`.
        """
        k, p = params.coef.shape
        gate = params.gate - params.gate[-1]
        ll, grad, hess = loglik_hessian(self.Xt, self.y, self.w, gate, params.coef,
                                        params.var)
        order = _block_order(k, p)
        n_gate = (k - 1) * p
        grad = self.experts.free_rows(grad[order], n_gate, k, p)
        hess = self.experts.free_rows(
            self.experts.free_rows(hess[np.ix_(order, order)], n_gate, k, p).T,
            n_gate, k, p)
        value = ll - self.penalty(gate)
        if self.balance:
            _, b_grad, _, b_hess = self.balance_derivatives(gate, 2)
            m = (k - 1) * p
            grad[:m] -= b_grad[:-1].ravel()
            hess[:m, :m] -= b_hess[:-1, :-1].transpose(0, 2, 1, 3).reshape(m, m)
        if self.gate_penalty:
            slopes = np.zeros((k - 1, p))
            slopes[:, 1:] = 1.0
            mask = slopes.ravel()
            n_gate = (k - 1) * p
            grad[:n_gate] -= self.gate_penalty * mask * gate[:-1].ravel()
            hess[np.arange(n_gate), np.arange(n_gate)] -= self.gate_penalty * mask
        return value, grad, hess

    # ----------------------------------------------------------------- bounds
    def vector_bounds(self, k):
        """Lower and upper bounds of the free-parameter vector, shape (m,) each."""
        p = self.p
        n_gate = (k - 1) * p
        lo = np.full(n_gate, -np.inf)
        hi = np.full(n_gate, np.inf)
        if self.gate_bound is not None:
            bound = np.concatenate([[np.inf], self.gate_bound])
            lo[:] = -np.tile(bound, k - 1)
            hi[:] = np.tile(bound, k - 1)
        lo_e, hi_e = self.experts.free_bounds(k, p, self.var_lower, self.var_upper)
        return np.concatenate([lo, lo_e]), np.concatenate([hi, hi_e])

    def project_gate(self, gate):
        """``gate`` in reference form with its slopes clipped to the gate bound."""
        gate = gate - gate[-1]
        if self.gate_bound is not None:
            gate[:, 1:] = np.clip(gate[:, 1:], -self.gate_bound, self.gate_bound)
        return gate

    def project(self, params):
        """``params`` in reference form, clipped to the bounds."""
        return MoEParams(self.project_gate(params.gate),
                         *self.experts.project(params.coef, params.var,
                                               self.var_lower, self.var_upper))

    def violates_bounds(self, params, rtol=1e-9):
        """Whether ``params`` lie outside the bounds (beyond a relative ``rtol``)."""
        gate = params.gate - params.gate[-1]
        bad = (np.any(params.var < self.var_lower * (1 - rtol))
               or np.any(params.var > self.var_upper * (1 + rtol)))
        if self.gate_bound is not None:
            bad = bad or np.any(np.abs(gate[:, 1:]) > self.gate_bound * (1 + rtol))
        return bool(bad)

    # ---------------------------------------------------------------- M-step
    def m_step_experts(self, stats, params):
        """Closed-form expert update from the statistics of an E-step (the
        expert family's :meth:`~gmoe.experts.ExpertFamily.m_step` with this
        model's variance bounds)."""
        return self.experts.m_step(stats.A, stats.B, stats.C, params.coef,
                                   params.var, self.var_lower, self.var_upper,
                                   self.total)

    def gate_direction(self, gate, grad, info):
        """Newton direction of the (penalised) gate objective of the M-step.

        ``grad`` (k, p) and ``info`` (k, k, p, p) are the gradient and minus the
        Hessian of ``Q(beta) = sum_n w_n sum_i tau_ni log pi_i`` at ``gate`` (from
        the E-step).  Solves over the free rows (all but the last); returns a
        (k, p) step whose last row is zero.  Slopes held at the gate bound with
        the gradient pointing outwards stay where they are (a projected Newton
        step).
        """
        k, p = grad.shape
        if k == 1:
            return np.zeros_like(grad)
        m = (k - 1) * p
        gate = gate - gate[-1]
        g = grad[:-1].reshape(m).copy()
        H = info[:-1, :-1].transpose(0, 2, 1, 3).reshape(m, m).copy()
        if self.balance:
            # minus the load-balancing penalty: its gradient, and the positive
            # semi-definite part of its curvature
            _, b_grad, b_info, _ = self.balance_derivatives(gate, 1)
            g -= b_grad[:-1].ravel()
            H += b_info[:-1, :-1].transpose(0, 2, 1, 3).reshape(m, m)
        if self.gate_penalty:
            mask = np.zeros((k - 1, p))
            mask[:, 1:] = 1.0
            mask = mask.ravel()
            g -= self.gate_penalty * mask * gate[:-1].ravel()
            H[np.arange(m), np.arange(m)] += self.gate_penalty * mask
        step = np.zeros(m)
        if self.gate_bound is None:
            step[:] = solve_psd(H, g)
        else:
            lo, hi = self.vector_bounds(k)
            free = ~_held_at_bound(gate[:-1].ravel(), g, lo[:m], hi[:m])
            step[free] = solve_psd(H[np.ix_(free, free)], g[free])
        full = np.zeros((k, p))
        full[:-1] = step.reshape(k - 1, p)
        return full
