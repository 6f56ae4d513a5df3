"""How often a sparse gate's default fit is certified, over many data sets.

The [N23] data (``make_moe_regression(n, random_state=s)``, one covariate) for
the seeds ``s`` asked, the default ``GaussianMoERegressor(k, gate=...,
random_state=0)``; per seed the wall time, the Newton finish's status,
``converged_`` and the log-likelihood, then the number of certified fits.
A sparse gate's likelihood is piecewise smooth and its fit is certified only
at a maximum of its piece that no boundary crossing improves (the theory
page's "when a sparse fit counts as converged"); this counts how often the
default fit gets there.

    python benchmarks/bench_sparse_fits.py --n 3000 --seeds 20
    python benchmarks/bench_sparse_fits.py --n 20000 --seeds 8 --gate top_k=2
    python benchmarks/bench_sparse_fits.py --n 3000 --seeds 12 --gate top_p=0.9
"""

import argparse
import time
import warnings

from gmoe import GaussianMoERegressor
from gmoe.datasets import make_moe_regression
from gmoe.gates import TopK, TopP

#: Gates by the name ``--gate`` takes: ``top_k=K`` or ``top_p=P``.
KINDS = {"top_k": lambda v: TopK(int(v)), "top_p": lambda v: TopP(float(v))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=float, default=3000)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--gate", default="top_k=2")
    args = parser.parse_args(argv)
    kind, value = args.gate.split("=")
    gate = KINDS[kind](value)
    n = int(args.n)
    print(f"n = {n}, k = {args.k}, gate = {gate!r}")
    print(f"{'seed':>4} {'time':>7} {'status':>10} {'converged':>9} {'log-likelihood':>15}")
    certified, total = 0, 0.0
    for seed in range(args.seeds):
        X, y = make_moe_regression(n, random_state=seed)[:2]
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = GaussianMoERegressor(args.k, gate=gate, random_state=0).fit(X, y)
        elapsed = time.perf_counter() - start
        total += elapsed
        certified += bool(fit.converged_)
        print(f"{seed:>4} {elapsed:>6.2f}s {fit.solver_status_:>10} "
              f"{str(fit.converged_):>9} {fit.log_likelihood_:>15.4f}", flush=True)
    print(f"certified: {certified}/{args.seeds}, {total:.1f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
