"""Time to a certified maximum-likelihood fit, and the cost of one Hessian pass.

For the over-fitted [N23] study (k = 3 and 4 experts fitted to the 2-expert truth),
from the near-truth starts of the paper, this compares

- plain EM stopped by the paper's rule (relative change 1e-6) and EM run for 2000
  iterations, with the log-likelihood a BFGS run from their answer still gains;
- gmoe's default solver (EM warm-up, then Newton until the gradient vanishes): its
  time, iterations, final gradient and the BFGS gain from its answer.

It also times one pass of the E-step kernel and one of the Hessian kernel on the
same data (their ratio is the cost of a Newton iteration in E-steps).

Run from the repository root::

    python benchmarks/bench_mle.py            # n = 1e4, 3e4, 1e5; 3 data sets each
    python benchmarks/bench_mle.py --quick    # n = 1e4 only
"""

import argparse
import time
import warnings

import numpy as np

from gmoe.datasets import N23_TRUTH, make_moe_regression
from gmoe.engine._em import run_em
from gmoe.engine._model import MoEParams, SoftmaxGaussianMoE
from gmoe.engine._newton import bfgs_gain
from gmoe.engine._solvers import SolverOptions, solve_newton
from gmoe.kernels._em import e_step
from gmoe.kernels._hessian import loglik_hessian
from gmoe.model._scaling import _Scaling
from gmoe.simulation import near_truth_start


def timed(func, *args, repeat=1, **kwargs):
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        out = func(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return out, best


def pass_costs(model, params, repeat=20):
    """Seconds of one E-step and one Hessian pass (best of ``repeat``)."""
    n, k = model.n_samples, params.n_experts
    resp = np.empty((n, k))
    args = (model.Xt, model.y, model.w, params.gate, params.coef, params.var)
    e_step(*args, resp, resp)
    loglik_hessian(*args)
    _, t_e = timed(e_step, *args, resp, resp, repeat=repeat)
    _, t_h = timed(loglik_hessian, *args, repeat=repeat)
    return t_e, t_h


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--replications", type=int, default=3)
    args = parser.parse_args(argv)
    sizes = [10_000] if args.quick else [10_000, 30_000, 100_000]
    warnings.simplefilter("ignore")
    print(f"{'k':>2} {'n':>7} {'rep':>3} | {'EM 1e-6':>18} | {'EM 2000':>18} | "
          f"{'default (EM + Newton)':>36} | pass cost")
    print(f"{'':>15}| {'s':>6} {'BFGS gain':>11} | {'s':>6} {'BFGS gain':>11} | "
          f"{'s':>6} {'EM':>5} {'Nt':>4} {'gradient':>9} {'BFGS gain':>9} | "
          "Hessian / E-step")
    for k in (3, 4):
        for n in sizes:
            for rep in range(args.replications):
                X, y = make_moe_regression(n, N23_TRUTH, random_state=100 + rep)
                w = np.ones(n)
                scaling = _Scaling(X, y, w)
                model = SoftmaxGaussianMoE(scaling.design(X), scaling.response(y), w,
                                           var_lower=1e-6)
                start = MoEParams(*scaling.to_standardized(
                    near_truth_start(N23_TRUTH, k, n, random_state=rep)))
                em_paper, t_paper = timed(run_em, model, start, max_iter=2000,
                                          tol=1e-6)
                em_long, t_long = timed(run_em, model, start, max_iter=2000, tol=0.0)
                options = SolverOptions(max_iter=1000, tol=1e-6, gtol=1e-8)
                fit, t_fit = timed(solve_newton, model, start, options)
                t_e, t_h = pass_costs(model, fit.params)
                print(f"{k:>2} {n:>7} {rep:>3} | {t_paper:6.2f} "
                      f"{bfgs_gain(model, em_paper.params):11.3e} | {t_long:6.2f} "
                      f"{bfgs_gain(model, em_long.params):11.3e} | {t_fit:6.2f} "
                      f"{fit.n_iter_em:5d} {fit.n_iter_newton:4d} "
                      f"{fit.grad_norm:9.1e} {bfgs_gain(model, fit.params):9.1e} | "
                      f"{t_h / t_e:.2f} ({1e3 * t_e:.1f} ms, {1e3 * t_h:.1f} ms)",
                      flush=True)


if __name__ == "__main__":
    main()
