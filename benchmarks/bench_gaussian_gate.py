"""Cost of the Gaussian gate's E-step against the softmax gate's.

The conditional fit of the Gaussian gate runs the softmax machinery on the
augmented design ``[1, x, quad(x)]`` (``P = 1 + d + d (d + 1) / 2`` columns for
both the gate and, with zero coefficients on the quadratic columns, the experts),
so its E-step costs more than the softmax gate's on ``[1, x]`` (``p = 1 + d``).
Prints, for each (n, k, d), the median time of one fused E-step
(``model.e_step``) of each model, in nanoseconds per sample and expert, their
ratio (target: at most 2), and the time of one joint-EM iteration (plain numpy,
closed form) and one exact-Hessian pass of the conditional model.

Example::

    python benchmarks/bench_gaussian_gate.py                      # about a minute
    python benchmarks/bench_gaussian_gate.py --n 100000 --k 5 --d 1 2 --repeat 20
"""

import argparse
import time

import numpy as np

from gmoe._gaussian_gate import (
    GaussianGateMoE,
    GaussianGateParams,
    augmented_design,
    moe_params_from_gaussian,
    run_joint_em,
)
from gmoe._model import MoEParams, SoftmaxGaussianMoE


def _median_time(func, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def bench(n, k, d, repeat, rng):
    X = rng.normal(size=(n, d))
    y = rng.normal(size=n)
    w = np.ones(n)
    cov = np.tile(np.eye(d), (k, 1, 1))
    gauss = GaussianGateParams(np.full(k, 1 / k), rng.normal(size=(k, d)), cov,
                               rng.normal(size=(k, d + 1)), np.ones(k))
    soft = SoftmaxGaussianMoE(np.column_stack([np.ones(n), X]), y, w,
                              var_lower=1e-6)
    soft_params = MoEParams(rng.normal(size=(k, d + 1)), gauss.coef.copy(),
                            np.ones(k))
    quad = GaussianGateMoE(augmented_design(X), y, w, n_expert_columns=d + 1,
                           var_lower=1e-6)
    quad_params = moe_params_from_gaussian(gauss)
    resp = np.empty((n, k))
    soft.e_step(soft_params, resp, resp)  # compile / warm up
    quad.e_step(quad_params, resp, resp)
    t_soft = _median_time(lambda: soft.e_step(soft_params, resp, resp), repeat)
    t_quad = _median_time(lambda: quad.e_step(quad_params, resp, resp), repeat)
    t_joint = _median_time(
        lambda: run_joint_em(X, y, w, gauss, max_iter=1, tol=0.0), max(3, repeat // 4))
    quad.derivatives(quad_params)
    t_hess = _median_time(lambda: quad.derivatives(quad_params), max(3, repeat // 4))
    scale = 1e9 / (n * k)
    print(f"| {n} | {k} | {d} | {t_soft * scale:.1f} | {t_quad * scale:.1f} | "
          f"{t_quad / t_soft:.2f} | {t_joint * scale:.1f} | {t_hess * scale:.1f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--k", type=int, nargs="+", default=[3, 5])
    parser.add_argument("--d", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print("| n | k | d | softmax E-step (ns per sample and expert) | Gaussian-gate "
          "E-step | ratio | joint EM iteration | conditional Hessian pass |")
    print("|---|---|---|---|---|---|---|---|")
    for n in args.n:
        for k in args.k:
            for d in args.d:
                bench(n, k, d, args.repeat, rng)


if __name__ == "__main__":
    main()
