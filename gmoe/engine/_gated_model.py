"""The model's maths for any gate of :mod:`gmoe.gates`: objective, derivatives,
EM statistics.

:class:`GatedGaussianMoE` has the interface of
:class:`gmoe.engine._model.SoftmaxGaussianMoE`, so that EM (:mod:`gmoe.engine._em`),
Newton (:mod:`gmoe.engine._newton`) and the search run on it unchanged, but it knows
the gate only through the :class:`gmoe.gates.Gate` interface: the scores ``S`` (n, k),
their derivatives ``D1`` (n, k, m) and ``D2`` (n, k, m, m) with respect to each
expert's block, and the gauge (the block coordinates a common translation of
which leaves the weights unchanged).  With ``pi = softmax(S)``,
``u_ni = log pi_ni + log N(y_n; c_i' x_n, sigma_i)`` and ``tau = softmax(u)``:

- gate objective of the M-step ``Q = sum_n w_n sum_i tau_ni log pi_ni``, its
  gradient ``sum_n w_n (tau_ni - pi_ni) D1_ni`` (block ``i``) and the
  information ``sum_n w_n pi_ni (delta_ij - pi_nj) D1_ni D1_nj'`` (Fisher
  scoring: positive semi-definite, exact for scores linear in the blocks);
- the log-likelihood's exact Hessian: with ``V_ni = (D1_ni, r_ni x_n / sigma_i,
  (r_ni^2 / sigma_i - 1) / 2)`` the derivatives of ``u_ni`` with respect to
  expert ``i``'s gate block, expert row and log-variance (``r = y - c_i' x``),

  .. math::

      H = \\sum_n w_n \\Big[ \\sum_i \\tau_{ni} V_{ni} V_{ni}^\\top
          - \\Big(\\sum_i \\tau_{ni} V_{ni}\\Big)\\Big(\\sum_i \\tau_{ni}
          V_{ni}\\Big)^\\top + \\sum_i \\tau_{ni} \\nabla^2 \\log N_{ni}
          + \\mathrm{gate}_n \\Big],

  ``gate_n`` holding ``(tau_ni - pi_ni) D2_ni`` on block ``i`` and
  ``-pi_ni (delta_ij - pi_nj) D1_ni D1_nj'`` between blocks ``i`` and ``j``.

A gate with an x-marginal (:attr:`gmoe.gates.Gate.marginal`: the joint
likelihood of a gate whose scores are log-densities of x) adds the term
``M = sum_n w_n log sum_i exp s_ni - W N(theta)`` (``N`` the gate's
:meth:`~gmoe.gates.Gate.log_partition`) to the objective: held, like the
softmax gate's penalty, as minus :meth:`GatedGaussianMoE.penalty`, so that EM
and Newton maximise ``loglik - penalty`` and the estimator reports ``loglik``.
The E-step computes the data term of ``M`` in its pass; the gate's M-step
objective is then ``sum_n w_n sum_i tau_ni s_ni - W N(theta)``, maximised by the
gate's closed form (:meth:`~gmoe.gates.Gate.m_step`) where it has one.

With ``balance > 0`` the load-balancing penalty ``balance * W * KL(P || u)``
of the mean gate weights (:mod:`gmoe.engine._balance`) is part of
:meth:`GatedGaussianMoE.penalty` too: EM's gate step adds its gradient and
the positive semi-definite part of its Hessian to the Fisher scoring, Newton
its exact Hessian (dense gates without an x-marginal only).
A gate normalised in groups of fixed masses (:meth:`gmoe.gates.Gate.groups`:
shared and routed experts) has ``log pi_i = log m_g + s_i - logsumexp_{j in g}
s_j``: the passes then normalise within the groups (:mod:`gmoe.kernels._grouped`
for the Hessian), each group with its own reference
(:meth:`gmoe.gates.Gate.translations`).

Free parameters, in this order: the gate blocks row by row without the gauge
coordinates of the last expert (held at zero: the reference; of each
translation's reference, and without the gate's fixed coordinates,
:meth:`gmoe.gates.Gate.fixed_coordinates`), the expert rows,
the log-variances (the expert family's free parameters in place of the
last two, :meth:`GatedGaussianMoE.free_rows`).  The passes over the data are
compiled (:mod:`gmoe.kernels._scores`), in chunks of :data:`CHUNK` samples; a gate with
a compiled form (:meth:`gmoe.gates.Gate.compiled_form`: the linear-predictor,
cosine and Laplace gates) enters them by its design, form and constant, any
other gate by its score arrays.  The inference helpers
(:meth:`GatedGaussianMoE.per_sample_gradient`, :meth:`mean_and_gradient`,
:meth:`removal_deviance`) are numpy.
"""

import numpy as np

from gmoe.engine._balance import BalanceTerms, balance_slopes
from gmoe.engine._model import EStats, solve_psd
from gmoe.experts import GaussianLinear
from gmoe.gates import log_softmax_active, log_softmax_groups
from gmoe.kernels._grouped import grouped_loglik_hessian
from gmoe.kernels._scores import (
    e_step_from_scores,
    gate_stats_from_scores,
    loglik_from_scores,
    loglik_hessian_from_scores,
)
from gmoe.kernels._sources import array_source, compiled_source

#: Samples per chunk of a pass (bounds the memory of the derivative arrays).
CHUNK = 65536


def _gate_information(w, pi, D1):
    """``sum_n w_n pi_ni (delta_ij - pi_nj) D1_ni D1_nj'``, shape (k, k, m, m):
    minus the Hessian of ``log pi`` averaged with any weights summing to one,
    without the second derivatives of the scores."""
    k = pi.shape[1]
    P = pi[:, :, None] * D1
    info = -np.einsum("n,nia,njb->ijab", w, P, P)
    info[np.arange(k), np.arange(k)] += np.einsum("n,nia,nib->iab", w, P, D1)
    return info


class GatedGaussianMoE:
    """A data set, a gate and the bounds of a fit: the model's maths.

    Parameters
    ----------
    Z : ndarray of shape (n, d)
        The gate's covariates (:meth:`gmoe.gates.Gate.features`).
    Xt : ndarray of shape (n, p)
        Expert design with a leading column of ones (standardised).
    y, w : ndarray of shape (n,)
        Standardised responses and non-negative sample weights.
    gate : gmoe.gates.Gate
        Kept as ``gate.prepare(Z, w)`` (any constant of the gate that depends
        on the data fixed).
    var_lower : float
        Floor of the variances, positive.
    var_upper : float, default=inf
    experts : gmoe.experts.ExpertFamily or None
        The experts' free parameters and M-step (None: Gaussian linear experts
        with variances of their own); the passes differentiate the per-expert
        rows and log-variances, :meth:`free_rows` maps to the family's.
    balance : float, default=0
        Weight ``alpha`` of the load-balancing penalty ``alpha W KL(P || u)``
        (:mod:`gmoe.engine._balance`); a dense gate without an x-marginal only.

    Examples
    --------
    >>> import numpy as np
    >>> from gmoe.gates import Constant
    >>> from gmoe.engine._model import MoEParams
    >>> rng = np.random.default_rng(0)
    >>> Z = rng.normal(size=(100, 1))
    >>> model = GatedGaussianMoE(Z, np.column_stack([np.ones(100), Z]),
    ...                          rng.normal(size=100), np.ones(100), Constant(),
    ...                          var_lower=1e-6)
    >>> params = MoEParams(np.zeros((2, 1)), np.zeros((2, 2)), np.ones(2))
    >>> value, grad, hess = model.derivatives(params)
    >>> grad.shape, hess.shape
    ((7,), (7, 7))
    """

    gate_bound = None
    gate_penalty = 0.0
    reference_dependent = False

    def __init__(self, Z, Xt, y, w, gate, *, var_lower, var_upper=np.inf,
                 experts=None, balance=0.0):
        self.Z = np.ascontiguousarray(Z, dtype=np.float64)
        self.Xt = np.ascontiguousarray(Xt, dtype=np.float64)
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.w = np.ascontiguousarray(w, dtype=np.float64)
        self.total = float(self.w.sum())
        self.gate = gate.prepare(self.Z, self.w)
        self.var_lower = float(var_lower)
        self.var_upper = float(var_upper)
        self.experts = GaussianLinear() if experts is None else experts
        self.balance = float(balance)
        if self.balance and (gate.sparse or gate.marginal):
            raise ValueError(
                f"balance_penalty applies to dense gates fitted by the conditional "
                f"likelihood; gate={gate!r} is sparse or has an x-marginal. Leave "
                "balance_penalty=0 with it.")
        self.gauge = np.asarray(gate.gauge(self.Z.shape[1]), dtype=bool)
        # a sparse gate's likelihood is smooth only piece by piece: Newton then
        # holds the samples at their boundaries (gmoe.engine._pieces)
        self.piecewise = bool(gate.sparse)
        self.m = int(gate.n_block(self.Z.shape[1]))
        self.marginal = bool(gate.marginal)
        # the x-marginal's data term of the last pass, keyed by its blocks
        self._score_lse = (None, 0.0)
        # a gate with a compiled form: the kernels compute its scores
        form = self.gate.compiled_form(self.Z)
        self._Zt, self._link, self._constant = (None, None, 0.0) if form is None \
            else form

    @property
    def top_k(self):
        """Not None for a sparse gate: EM then takes the generalised steps of a
        piecewise-smooth likelihood (:func:`gmoe.engine._em._em_update_top_k`: every
        gate step checked on the observed likelihood, the selections' boundaries
        moved by a compass search)."""
        return getattr(self.gate, "k", -1) if self.gate.sparse else None

    def top_k_objective(self, params):
        """The log-likelihood (the light pass of a sparse gate's EM)."""
        return self.objective(params)

    def subset(self, rows):
        """The same model on the samples ``rows``."""
        return GatedGaussianMoE(self.Z[rows], self.Xt[rows], self.y[rows],
                                self.w[rows], self.gate, var_lower=self.var_lower,
                                var_upper=self.var_upper, experts=self.experts,
                                balance=self.balance)

    def with_gate(self, gate):
        """The same data and bounds with another gate (on the same blocks)."""
        return GatedGaussianMoE(self.Z, self.Xt, self.y, self.w, gate,
                                var_lower=self.var_lower, var_upper=self.var_upper,
                                experts=self.experts, balance=self.balance)

    @property
    def n_samples(self):
        return self.Xt.shape[0]

    @property
    def p(self):
        return self.Xt.shape[1]

    def penalty(self, gate):
        """Minus the x-marginal term ``M`` at the blocks ``gate`` for a gate with
        an x-marginal, the load-balancing penalty ``balance * W * KL(P || u)``
        (:meth:`balance_derivatives`) with ``balance > 0``, 0 for any other
        gate.  The data term of ``M`` is the last pass's when it was at these
        blocks, else one pass here."""
        if self.balance:
            return self.balance_derivatives(gate, 0)[0]
        if not self.marginal:
            return 0.0
        key, data = self._score_lse
        if key != gate.tobytes():
            data = 0.0
            for rows in self._chunks():
                S = self.gate.scores(self.Z[rows], gate)
                top = np.max(S, axis=1, keepdims=True)
                lse = top[:, 0] + np.log(np.sum(np.exp(S - top), axis=1))
                data += float(self.w[rows] @ lse)
        return -(data - self.total * self.gate.log_partition(gate)[0])

    def balance_derivatives(self, gate, order=2, alpha=None):
        """The load-balancing penalty ``alpha * W * KL(P || u)`` (``alpha`` the
        model's ``balance`` by default) at the blocks ``gate``
        (:func:`gmoe.engine._balance.balance_terms`): ``(value, grad, info,
        hess)``, the derivatives over the blocks, (k, m) and (k, k, m, m), up to
        ``order`` (the last value kept: EM asks for the same blocks twice)."""
        alpha = self.balance if alpha is None else float(alpha)
        if getattr(self, "_balance_terms", None) is None:
            self._balance_terms = BalanceTerms(self.gate, self.Z, self.w)
        return self._balance_terms(self.project_gate(gate), order, alpha)

    def balance_slopes(self, gate, rows):
        """The load-balancing penalty's share of the one-sided derivatives at a
        kink: ``balance pi_ni e_ni`` on the samples ``rows``, (len(rows), k)
        (:func:`gmoe.engine._balance.balance_slopes`); zeros without it."""
        k = gate.shape[0]
        if not self.balance:
            return np.zeros((len(np.arange(self.n_samples)[rows]), k))
        return balance_slopes(self.gate, self.Z, self.w, self.project_gate(gate),
                              self.balance, rows)

    def balance_free(self, params, alpha=None):
        """The load-balancing penalty, its gradient (n_free,) and Hessian
        (n_free, n_free) over the free parameters (zero outside the gate's);
        ``alpha`` as in :meth:`balance_derivatives`."""
        k, p = params.coef.shape
        q = self.m + p + 1
        value, g, _, h = self.balance_derivatives(params.gate, 2, alpha)
        grad = np.zeros((k, q))
        hess = np.zeros((k, q, k, q))
        grad[:, :self.m] = g
        hess[:, :self.m, :, :self.m] = h.transpose(0, 2, 1, 3)
        hess = self.free_rows(self.free_rows(hess.reshape(k * q, k * q), k).T, k)
        return value, self.free_rows(grad.reshape(-1), k), 0.5 * (hess + hess.T)

    def gate_scores(self, blocks):
        """Gate scores, shape (n, k), whose differences are the log-odds of two
        experts (the log-weights of a gate normalised in groups)."""
        S = self.gate.scores(self.Z, blocks)
        return S if self.gate.groups(S.shape[1]) is None else self._log_weights(S)

    def flat_gate(self, k):
        """Blocks of equal gate weights, in reference form (start of a gate fit)."""
        return self.project_gate(self.gate.flat(k, self.Z))

    # ----------------------------------------------------------------- passes
    def _chunks(self):
        for lo in range(0, self.n_samples, CHUNK):
            yield slice(lo, min(lo + CHUNK, self.n_samples))

    def _pieces(self, rows, blocks, coef, var, order):
        """log pi, pi, log N, D1, D2 on the samples ``rows``."""
        S, D1, D2 = self.gate.score_derivatives(self.Z[rows], blocks, order=order)
        log_pi = self._log_weights(S)
        resid = self.y[rows, None] - self.Xt[rows] @ coef.T
        log_norm = -0.5 * (np.log(2 * np.pi * var) + resid**2 / var)
        return log_pi, np.exp(log_pi), log_norm, resid, D1, D2

    def _log_weights(self, S):
        """``log pi`` (n, k) from the scores: the softmax over the active
        experts, or within the gate's groups (:meth:`gmoe.gates.Gate.groups`)."""
        groups = self.gate.groups(S.shape[1])
        if groups is not None:
            return log_softmax_groups(S, *groups)
        return log_softmax_active(S, self.gate.active(S))

    def _source(self, rows, blocks, order, dense=False):
        """The gate on the samples ``rows`` as the kernels take it, with a sparse
        gate's selection (unless ``dense``): the kernels apply the selections
        they know (:meth:`gmoe.gates.Gate.selection`), any other one is applied
        here, to the scores."""
        selection = None if dense else self.gate.selection()
        groups = self.gate.groups(blocks.shape[0])
        if self._Zt is not None and (selection is not None or dense
                                     or not self.gate.sparse):
            return compiled_source(self._Zt[rows], blocks, self._link,
                                   self._constant, selection, self.marginal, groups)
        S, D1, D2 = self.gate.score_derivatives(self.Z[rows], blocks, order=order)
        if D1 is None:
            D1 = np.zeros((0,) + blocks.shape)
        if self.gate.sparse and selection is None and not dense:
            S = np.where(self.gate.active(S), S, -np.inf)
        return array_source(S, D1, D2 if order >= 2 else None, selection,
                            self.marginal, groups)

    def e_step(self, params, resp_prev, resp):
        """One E-step at ``params``: writes ``resp`` (n, k), returns
        :class:`gmoe.engine._model.EStats` (see :func:`gmoe.kernels._em.e_step`);
        compiled (:func:`gmoe.kernels._scores.e_step_from_scores`) chunk by chunk."""
        k, p = params.coef.shape
        total = [0.0, np.zeros((k, p, p)), np.zeros((k, p)), np.zeros(k), 0.0,
                 np.zeros((k, self.m)), np.zeros((k, k, self.m, self.m)), 0.0, 0.0]
        for rows in self._chunks():
            out = e_step_from_scores(self._source(rows, params.gate, 1),
                                     self.Xt[rows], self.y[rows], self.w[rows],
                                     params.coef, params.var, resp_prev[rows],
                                     resp[rows])
            total = [a + b for a, b in zip(total, out, strict=True)]
        self._score_lse = (params.gate.tobytes(), total.pop())
        self._drop_fixed(total[5], total[6])
        return EStats(*total)

    def gate_stats(self, resp, blocks):
        """Gate objective ``sum_n w_n sum_i resp_ni log pi_ni``, its gradient
        (k, m) and Fisher information (k, k, m, m) at ``blocks``: the gate fit
        of a start.  A sparse gate is fitted there as its dense softmax (at a
        flat gate its selection is a tie everywhere), as on the top-K path."""
        k, m = blocks.shape
        total = [0.0, np.zeros((k, m)), np.zeros((k, k, m, m)), 0.0]
        for rows in self._chunks():
            out = gate_stats_from_scores(self._source(rows, blocks, 1, dense=True),
                                         self.w[rows], resp[rows])
            total = [a + b for a, b in zip(total, out, strict=True)]
        self._score_lse = (blocks.tobytes(), total.pop())
        self._drop_fixed(total[1], total[2])
        return tuple(total)

    def _drop_fixed(self, grad, info):
        """Zero the gate's fixed coordinates (held at zero, their scores' slopes
        none) in a gradient (k, m) and information (k, k, m, m), in place."""
        fixed = self.gate.fixed_coordinates(grad.shape[0], self.Z.shape[1])
        if fixed.any():
            grad[fixed] = 0.0
            rows, coords = np.nonzero(fixed)
            info[rows, :, coords, :] = 0.0
            info[:, rows, :, coords] = 0.0

    def objective(self, params):
        """Log-likelihood at ``params`` minus :meth:`penalty` (the x-marginal
        term added); compiled (:func:`gmoe.kernels._scores.loglik_from_scores`)."""
        loglik = 0.0
        for rows in self._chunks():
            loglik += loglik_from_scores(self._source(rows, params.gate, 0),
                                         self.Xt[rows], self.y[rows], self.w[rows],
                                         params.coef, params.var)
        return loglik - self.penalty(params.gate)

    def derivatives(self, params):
        """Log-likelihood minus :meth:`penalty`, gradient and exact Hessian over
        the free parameters (the order of :meth:`to_vector`); compiled
        (:func:`gmoe.kernels._scores.loglik_hessian_from_scores`)."""
        k, p = params.coef.shape
        q = self.m + p + 1
        blocks = self.project_gate(params.gate)
        value = 0.0
        grad = np.zeros((k, q))
        hess = np.zeros((k, q, k, q))
        # a gate normalised in groups has a pass of its own
        hessian = (loglik_hessian_from_scores if self.gate.groups(k) is None
                   else grouped_loglik_hessian)
        for rows in self._chunks():
            v, g, h = hessian(self._source(rows, blocks, 2), self.Xt[rows],
                              self.y[rows], self.w[rows], params.coef, params.var)
            value, grad, hess = value + v, grad + g, hess + h
        if self.marginal:
            # the data-free part of the x-marginal term, -W N(theta)
            n_val, n_grad, n_hess = self.gate.log_partition(blocks, 2)
            m = self.m
            value -= self.total * n_val
            grad[:, :m] -= self.total * n_grad
            hess[:, :m, :, :m] -= self.total * n_hess.transpose(0, 2, 1, 3)
        hess = self.free_rows(self.free_rows(hess.reshape(k * q, k * q), k).T, k)
        grad = self.free_rows(grad.reshape(-1), k)
        if self.balance:
            b_val, b_grad, b_hess = self.balance_free(params)
            value, grad, hess = value - b_val, grad - b_grad, hess - b_hess
        return value, grad, 0.5 * (hess + hess.T)

    # ------------------------------------------------------------- inference
    def per_sample_gradient(self, params):
        """Gradient of each sample's log-density over the free parameters,
        shape (n, n_free): ``(tau_nj - pi_nj) D1_nj`` for gate block ``j``,
        ``tau_ni r_ni x_n / sigma_i`` for expert row ``i``, ``tau_ni (r_ni^2 /
        sigma_i - 1) / 2`` for its log-variance (the rows of the sandwich's
        meat, and what :meth:`derivatives` sums)."""
        k, p = params.coef.shape
        log_pi, pi, log_norm, resid, D1, _ = self._pieces(
            slice(None), self.project_gate(params.gate), params.coef, params.var,
            order=1)
        u = log_pi + log_norm
        tau = np.exp(u - np.logaddexp.reduce(u, axis=1, keepdims=True))
        z = resid / params.var
        n, m = self.n_samples, self.m
        G = np.empty((n, k, m + p + 1))
        G[:, :, :m] = (tau - self._gate_pull(tau, pi))[:, :, None] * D1
        G[:, :, m:m + p] = (tau * z)[:, :, None] * self.Xt[:, None, :]
        G[:, :, -1] = 0.5 * tau * (resid * z - 1.0)
        return self.free_rows(G.reshape(n, -1), k)

    def mean_and_gradient(self, params):
        """The conditional mean ``m(x_n) = sum_i pi_ni mu_ni`` and its gradient
        over the free parameters, shape (n, n_free): ``pi_nl (mu_nl - m_n)
        D1_nl`` for gate block ``l``, ``pi_ni x_n`` for expert row ``i``, zero
        for the log-variances.  Only ``Z`` and ``Xt`` of the model are read."""
        k, p = params.coef.shape
        S, D1, _ = self.gate.score_derivatives(
            self.Z, self.project_gate(params.gate), order=1)
        pi = np.exp(self._log_weights(S))
        mu = self.Xt @ params.coef.T
        mean = np.sum(pi * mu, axis=1)
        n, m = self.n_samples, self.m
        G = np.zeros((n, k, m + p + 1))
        # d mean / d s_l = pi_l mu_l - (sum over l's group of pi_i mu_i) tilde pi_l
        if self.gate.groups(k) is None:
            G[:, :, :m] = (pi * (mu - mean[:, None]))[:, :, None] * D1
        else:
            pull = self._gate_pull(pi * mu, pi)
            G[:, :, :m] = (pi * mu - pull)[:, :, None] * D1
        G[:, :, m:m + p] = pi[:, :, None] * self.Xt[:, None, :]
        return mean, self.free_rows(G.reshape(n, -1), k)

    def _gate_pull(self, tau, pi):
        """``T_g(j) tilde pi_j`` (n, k): what the normalisers take from
        ``d sum_i tau_i log pi_i / d s_j``, for ``tau`` summing to 1 (then
        ``pi_j`` for a single group; :mod:`gmoe.kernels._grouped`)."""
        groups = self.gate.groups(pi.shape[1])
        if groups is None:
            return pi  # the responsibilities sum to 1
        group, log_mass = groups
        totals = np.zeros_like(tau)
        for g in range(len(log_mass)):
            totals[:, group == g] = tau[:, group == g].sum(axis=1, keepdims=True)
        return totals * pi / np.exp(log_mass)[group]

    def removal_deviance(self, params):
        """Twice the log-likelihood lost by removing each expert, the gate
        renormalised over the others and nothing refitted, shape (k,); ``inf``
        for a single expert.  Below the BIC penalty of the expert's parameters,
        BIC prefers fewer experts even before any refit."""
        k = params.n_experts
        if k == 1:
            return np.full(1, np.inf)
        log_pi, _, log_norm, _, _, _ = self._pieces(
            slice(None), self.project_gate(params.gate), params.coef, params.var,
            order=0)
        log_joint = log_pi + log_norm
        full = np.logaddexp.reduce(log_joint, axis=1)
        deviance = np.empty(k)
        for i in range(k):
            others = np.delete(np.arange(k), i)
            # a sample of a sparse gate whose only selected expert is i has no
            # expert left: its density, and so the deviance, is that of -inf
            mass = np.logaddexp.reduce(log_pi[:, others], axis=1)
            left = np.isfinite(mass)
            without = np.full(mass.shape, -np.inf)
            without[left] = (np.logaddexp.reduce(log_joint[left][:, others], axis=1)
                             - mass[left])
            deviance[i] = 2.0 * float(self.w @ (full - without))
        return deviance

    def free_layout(self, k):
        """For every free parameter: its expert, and its kind and coordinate
        (``("gate", a)`` block coordinate ``a``, ``("coef", a)``, or
        ``("logvar", 0)``), as three arrays of length n_free; expert ``-1`` for
        a parameter every expert shares
        (:meth:`gmoe.experts.ExpertFamily.free_layout`)."""
        free = self._free_gate(k)
        expert = [i for i in range(k) for a in range(self.m) if free[i, a]]
        coord = [a for i in range(k) for a in range(self.m) if free[i, a]]
        family = self.experts.free_layout(k, self.p)
        return (np.concatenate([np.array(expert, dtype=int), family[0]]),
                np.concatenate([np.array(["gate"] * len(expert)), family[1]]),
                np.concatenate([np.array(coord, dtype=int), family[2]]))

    # ------------------------------------------------------- free parameters
    def _free_gate(self, k):
        """(k, m) bool: the gate coordinates that are free: all but the gate's
        fixed ones and the gauge coordinates of each translation's reference
        (:meth:`gmoe.gates.Gate.translations`; by default the last expert's)."""
        d = self.Z.shape[1]
        free = ~np.asarray(self.gate.fixed_coordinates(k, d), dtype=bool)
        for experts, coords in self.gate.translations(k, d):
            if len(experts):
                free[experts[-1], coords] = False
        if k == 1 and not self.gate.marginal:
            # a single expert has weight 1 whatever its block; with an
            # x-marginal its block is still the density of x, and is fitted
            free[:] = False
        return free

    def _free_order(self, k, p):
        """Positions, in the per-expert blocks ``(gate, coef, log-variance)``,
        of the free parameters in the order of :meth:`to_vector`."""
        q = self.m + p + 1
        gate = [i * q + a for i in range(k) for a in range(self.m)
                if self._free_gate(k)[i, a]]
        coef = [i * q + self.m + a for i in range(k) for a in range(p)]
        logvar = [i * q + q - 1 for i in range(k)]
        return np.array(gate + coef + logvar, dtype=np.intp)

    def free_rows(self, rows, k):
        """Derivatives over the per-expert blocks ``(gate, coef, log-variance)``
        (last axis ``k (m + p + 1)``) written over the free parameters (the
        order of :meth:`to_vector`): the free gate coordinates, then the expert
        family's parameters (:meth:`gmoe.experts.ExpertFamily.free_rows`)."""
        rows = rows[..., self._free_order(k, self.p)]
        return self.experts.free_rows(rows, self.n_gate_free(k), k, self.p)

    def reference_gradient(self, grad, k):
        """The gradient of the reference's gauge coordinates implied by
        ``grad`` (free parameters, ``k`` experts): minus the sum over the other
        experts'."""
        if k == 1:
            return np.zeros(0)
        blocks = np.zeros((k, self.m))
        blocks[self._free_gate(k)] = grad[:self.n_gate_free(k)]
        parts = [-blocks[experts[:-1]][:, coords].sum(axis=0)
                 for experts, coords in self.gate.translations(k, self.Z.shape[1])
                 if len(experts)]
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def n_gate_free(self, k):
        return int(self._free_gate(k).sum())

    def to_vector(self, params):
        """The free parameters as one vector (see the module docstring)."""
        blocks = self.project_gate(params.gate)
        return np.concatenate([blocks[self._free_gate(blocks.shape[0])],
                               self.experts.to_free(params.coef, params.var)])

    def from_vector(self, theta, k):
        """Inverse of :meth:`to_vector`."""
        from gmoe.engine._model import MoEParams

        p = self.p
        free = self._free_gate(k)
        n_gate = int(free.sum())
        blocks = np.zeros((k, self.m))
        blocks[free] = theta[:n_gate]
        return MoEParams(blocks, *self.experts.from_free(theta[n_gate:], k, p))

    def vector_bounds(self, k):
        """Bounds of the free-parameter vector: only the log-variances have
        them."""
        size = self.n_gate_free(k)
        lo, hi = self.experts.free_bounds(k, self.p, self.var_lower, self.var_upper)
        return (np.concatenate([np.full(size, -np.inf), lo]),
                np.concatenate([np.full(size, np.inf), hi]))

    # ------------------------------------------------------------ projections
    def project_gate(self, gate):
        """``gate`` in reference form: the gauge coordinates of each
        translation's reference (by default the last expert) subtracted from
        those of its experts, the fixed coordinates zero."""
        gate = np.array(gate, dtype=float)
        k, d = gate.shape[0], self.Z.shape[1]
        translations = self.gate.translations(k, d)
        if len(translations) == 1 and len(translations[0][0]) == k:
            gate[:, translations[0][1]] -= gate[-1, translations[0][1]]
            return gate
        gate[self.gate.fixed_coordinates(k, d)] = 0.0
        for experts, coords in translations:
            if len(experts):
                block = gate[experts]
                block[:, coords] -= block[-1, coords]
                gate[experts] = block
        return gate

    def project(self, params):
        """``params`` in reference form, variances clipped to the bounds."""
        from gmoe.engine._model import MoEParams

        return MoEParams(self.project_gate(params.gate),
                         *self.experts.project(params.coef, params.var,
                                               self.var_lower, self.var_upper))

    def violates_bounds(self, params, rtol=1e-9):
        return bool(np.any(params.var < self.var_lower * (1 - rtol))
                    or np.any(params.var > self.var_upper * (1 + rtol)))

    # ---------------------------------------------------------------- M-step
    def m_step_experts(self, stats, params):
        """Closed-form expert update (the expert family's
        :meth:`~gmoe.experts.ExpertFamily.m_step`)."""
        return self.experts.m_step(stats.A, stats.B, stats.C, params.coef,
                                   params.var, self.var_lower, self.var_upper,
                                   self.total)

    def gate_direction(self, gate, grad, info):
        """Direction of the M-step: to the gate's closed-form maximiser where it
        has one (:meth:`gmoe.gates.Gate.m_step`), else the Fisher-scoring
        direction of the gate objective over the free coordinates, zero on the
        reference's gauge coordinates; (k, m).  With ``balance > 0`` the
        objective is minus the load-balancing penalty, whose gradient and
        positive semi-definite curvature are added."""
        if self.balance:
            _, b_grad, b_info, _ = self.balance_derivatives(gate, 1)
            grad = grad - b_grad
            info = info + b_info
        target = self.gate.m_step(gate, grad, self.total)
        if target is not None:
            return target - gate
        if self.marginal:
            # the gradient and information of the data-free term -W N(theta)
            _, n_grad, n_hess = self.gate.log_partition(gate, 2)
            grad = grad - self.total * n_grad
            info = self.total * n_hess
        k, m = grad.shape
        free = self._free_gate(k).ravel()
        g = grad.reshape(-1)[free]
        H = info.transpose(0, 2, 1, 3).reshape(k * m, k * m)[np.ix_(free, free)]
        step = np.zeros(k * m)
        step[free] = solve_psd(H, g)
        return step.reshape(k, m)


__all__ = ["GatedGaussianMoE"]
