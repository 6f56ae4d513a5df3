"""Solvers of the maximum-likelihood problem, chosen by name (:data:`SOLVERS`).

Each solver takes a :class:`gmoe.engine._model.SoftmaxGaussianMoE`, a start
(:class:`gmoe.engine._model.MoEParams`) and :class:`SolverOptions`, and returns a
:class:`FitResult`.  ``"em"`` is plain EM (:func:`gmoe.engine._em.run_em`), stopped on
the change of the log-likelihood; ``"newton"`` runs EM as a warm-up, then damped
Newton on all parameters (:func:`gmoe.engine._newton.run_newton`) until the gradient
vanishes, and falls back to more EM iterations when Newton stalls; a sparse
gate's run that ends uncertified with two experts tied is run again from the
tie inflated (:func:`_untie`).
"""

from dataclasses import dataclass

import numpy as np

from gmoe.engine._em import run_em
from gmoe.engine._newton import projected_gradient_norm, run_newton
from gmoe.engine._pieces import TIE_INFLATIONS, inflate_ties
from gmoe.model._order import SAME_END_RTOL

#: Times ``"newton"`` goes back to EM (``FALLBACK_EM_ITER`` iterations) when
#: Newton stalls before its gradient criterion is met.
MAX_FALLBACKS = 2
FALLBACK_EM_ITER = 100


@dataclass
class SolverOptions:
    """Options shared by the solvers (see :class:`gmoe.GaussianMoERegressor`)."""

    max_iter: int
    tol: float
    gtol: float
    accelerate: bool = False
    verbose: int = 0


@dataclass
class FitResult:
    """A solver's answer (standardised units).

    ``objective`` is the penalised log-likelihood; ``trace`` its value at the
    start and after each EM iteration, then after each Newton iteration;
    ``grad_norm`` the largest entry of the projected gradient per unit of sample
    weight at ``params``; ``converged`` whether the solver's own criterion was
    met (the gradient for ``"newton"``, the log-likelihood change for ``"em"``);
    ``status`` why the solver stopped: ``"tol"`` or ``"max_iter"`` for EM, the
    Newton run's :attr:`~gmoe.engine._newton.NewtonResult.status` otherwise.
    """

    params: object
    objective: float
    trace: list
    n_iter_em: int
    n_iter_newton: int
    grad_norm: float
    converged: bool
    status: str


def solve_em(model, params, options):
    """Plain EM from ``params`` (see :func:`gmoe.engine._em.run_em`)."""
    em = run_em(model, params, max_iter=options.max_iter, tol=options.tol,
                accelerate=options.accelerate, verbose=options.verbose)
    return FitResult(em.params, em.objective, list(em.trace), em.n_iter, 0,
                     projected_gradient_norm(model, em.params), em.converged,
                     "tol" if em.converged else "max_iter")


def solve_newton(model, params, options):
    """EM warm-up, then damped Newton to a stationary point (gradient ``gtol``)."""
    em = run_em(model, params, max_iter=options.max_iter, tol=options.tol,
                accelerate=options.accelerate, verbose=options.verbose)
    trace = list(em.trace)
    n_em, n_newton = em.n_iter, 0
    current = em.params
    for attempt in range(MAX_FALLBACKS + 1):
        newton = run_newton(model, current, max_iter=options.max_iter,
                            gtol=options.gtol, verbose=options.verbose,
                            crawl_tol=options.tol)
        n_newton += newton.n_iter
        trace.extend(newton.trace)
        current = newton.params
        if newton.status != "stalled" or attempt == MAX_FALLBACKS:
            break
        em = run_em(model, current, max_iter=FALLBACK_EM_ITER, tol=0.0,
                    accelerate=options.accelerate, verbose=options.verbose)
        n_em += em.n_iter
        trace.extend(em.trace[1:])
        current = em.params
    if getattr(model, "piecewise", False) and not newton.converged:
        retry = _untie(model, newton, options)
        if retry is not None:
            n_newton += retry.n_iter
            trace.extend(retry.trace)
            newton = retry
    return FitResult(newton.params, newton.objective, trace, n_em, n_newton,
                     newton.grad_norm, newton.converged, newton.status)


def _untie(model, end, options):
    """A certified Newton run from ``end`` (an uncertified run of a sparse
    gate) with its tied experts' difference inflated
    (:func:`gmoe.engine._pieces.inflate_ties`, each factor of
    :data:`~gmoe.engine._pieces.TIE_INFLATIONS` in turn), ending no lower than
    ``end`` but for :data:`~gmoe.model._order.SAME_END_RTOL` times the total
    weight (the same optimum: the tied end's gate is a limit the inflated run
    stops short of); None when no pair is tied or no run qualifies."""
    for factor in TIE_INFLATIONS:
        start = inflate_ties(model, end.params, factor)
        if start is None:
            return None
        retry = run_newton(model, start, max_iter=options.max_iter, gtol=options.gtol,
                           verbose=options.verbose, crawl_tol=options.tol)
        if retry.converged and (retry.objective
                                >= end.objective - SAME_END_RTOL * model.total):
            return retry
    return None


#: Solvers by name: ``f(model, params, options) -> FitResult``.
SOLVERS = {"em": solve_em, "newton": solve_newton}


def screen(model, starts, *, n_iter, n_keep, is_regular, twin=None):
    """Short EM runs from every start; the ``n_keep`` most promising end points.

    The "emEM" strategy of Biernacki, Celeux and Govaert (2003): ``n_iter`` EM
    iterations from each start, then the end points ranked by
    ``(is_regular(params, resp), objective)`` (regular fits first); ties keep the
    order of ``starts``.  With a ``twin`` (another model on the same parameters:
    another likelihood), the EM runs are the twin's, and their end points,
    projected on ``model``, are ranked by ``model``'s objective.

    Returns the kept end points (:class:`gmoe.engine._model.MoEParams`), best first, and
    the objectives of all screened runs.
    """
    ends = []
    for params in starts:
        if twin is None:
            em = run_em(model, params, max_iter=n_iter, tol=0.0)
            ends.append((em.params, em.objective, is_regular(em.params, em.resp)))
            continue
        end = model.project(run_em(twin, params, max_iter=n_iter, tol=0.0).params)
        resp = np.empty((model.n_samples, end.n_experts))
        stats = model.e_step(end, resp, resp)
        ends.append((end, stats.loglik - model.penalty(end.gate),
                     is_regular(end, resp)))
    objectives = np.array([end[1] for end in ends])
    order = sorted(range(len(ends)),
                   key=lambda i: (not ends[i][2], -ends[i][1], i))
    return [ends[i][0] for i in order[:n_keep]], objectives
