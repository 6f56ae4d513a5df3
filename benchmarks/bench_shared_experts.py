"""Shared and routed experts timed against the softmax gate in the same run.

Per pass over the data (the E-step, the log-likelihood's Hessian) of the
generic engine (:class:`gmoe.engine._gated_model.GatedGaussianMoE`) with ``k``
experts: the softmax gate, and one shared expert beside ``k - 1`` routed by the
softmax gate (:class:`gmoe.gates.SharedRouted`); then the default fits of both
on the [N23] data (``make_moe_regression(n, random_state=1)``) or, with
``--data shared``, on data drawn from one shared and two routed experts, with
their EM and Newton iterations.  Times are the shortest of ``--repeat`` runs.

    python benchmarks/bench_shared_experts.py --n 20000 --k 4
    python benchmarks/bench_shared_experts.py --n 20000 --k 3 --data shared
"""

import argparse
import time

import numpy as np

from gmoe import GaussianMoERegressor, SharedRoutedMeasure
from gmoe.datasets import make_moe_regression
from gmoe.engine._gated_model import GatedGaussianMoE
from gmoe.engine._model import MoEParams
from gmoe.gates import SharedRouted, Softmax


def shortest(f, repeat):
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - start)
    return best


def passes(n, k, repeat):
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(n, 1))
    Xt = np.column_stack([np.ones(n), Z[:, 0]])
    y = rng.normal(size=n)
    rows = {}
    gates = [("softmax", Softmax()), ("shared 1 + softmax", SharedRouted(1))]
    for label, gate in gates:
        model = GatedGaussianMoE(Z, Xt, y, np.ones(n), gate, var_lower=1e-6)
        params = model.project(MoEParams(rng.normal(size=(k, 2)),
                                         rng.normal(size=(k, 2)), np.ones(k)))
        resp = np.full((n, k), 1.0 / k)

        def e_step(model=model, params=params, resp=resp):
            model.e_step(params, resp, resp.copy())

        def hessian(model=model, params=params):
            model.derivatives(params)

        e_step()
        hessian()
        rows[label] = (shortest(e_step, repeat), shortest(hessian, repeat))
    base = rows["softmax"]
    print(f"passes, n = {n}, k = {k} (shortest of {repeat})")
    print(f"{'gate':22s} {'E-step':>9s} {'ratio':>6s} {'Hessian':>9s} {'ratio':>6s}")
    for label, (e, h) in rows.items():
        print(f"{label:22s} {e * 1e3:7.2f}ms {e / base[0]:6.2f} {h * 1e3:7.2f}ms "
              f"{h / base[1]:6.2f}")


#: Data drawn from shared and routed experts (``--data shared``): one shared
#: line, two routed lines (the linear truth of ``paper_figures/shared.py``).
SHARED_TRUTH = SharedRoutedMeasure.from_arrays(
    [1.0], [[0.0, 0.5], [-2.0, -1.0], [2.0, 1.5]], [0.25, 0.4, 0.4],
    gate_intercept=[-1.0, 0.0], gate_coef=[[2.0], [0.0]])


def fits(n, k, repeat, data="n23"):
    if data == "shared":
        X, y = SHARED_TRUTH.sample(n, random_state=1)
    else:
        X, y = make_moe_regression(n, random_state=1)
    print(f"\nfits, {data} data, n = {n}, {k} experts in all (shortest of {repeat})")
    print(f"{'model':22s} {'time':>7s} {'ratio':>6s}  EM  Newton  converged  "
          "log-likelihood")
    base = None
    for label, options in [("softmax", {"n_experts": k}),
                           ("shared 1 + softmax", {"n_experts": k - 1,
                                                   "n_shared_experts": 1})]:
        moe = GaussianMoERegressor(random_state=0, **options)
        seconds = shortest(lambda moe=moe: moe.fit(X, y), repeat)
        base = seconds if base is None else base
        print(f"{label:22s} {seconds:6.2f}s {seconds / base:6.2f} {moe.n_iter_em_:4d} "
              f"{moe.n_iter_newton_:6d}  {moe.converged_!s:9s}  "
              f"{moe.log_likelihood_:.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", choices=["n23", "shared"], default="n23",
                        help="the [N23] data, or data drawn from one shared and "
                        "two routed experts")
    args = parser.parse_args()
    passes(args.n, args.k, args.repeat)
    fits(args.n, args.k, max(1, args.repeat // 3), args.data)


if __name__ == "__main__":
    main()
