"""The default fit at large n, timed against one plain k-means EM run.

The [N23] data (``make_moe_regression(n, random_state=1)``, one covariate) and,
per (n, k):

- the default fit ``GaussianMoERegressor(k, random_state=0)`` (the start search,
  EM and the Newton finish of every refined start): wall time, EM and Newton
  iterations of the kept start, ``converged_``, the log-likelihood;
- one plain EM run from one k-means start
  (``GaussianMoERegressor(k, n_init=1, init_params="kmeans", solver="em")``),
  timed in the same process: the reference, and the time ratio default / k-means
  EM.

The times are wall-clock after a warm-up fit (numba's compilation excluded); on a
shared machine run it alone.

    python benchmarks/bench_scale.py                      # n = 1e5, 1e6; k = 3, 5
    python benchmarks/bench_scale.py --n 100000 --k 5
"""

import argparse
import time
import warnings

from gmoe import GaussianMoERegressor
from gmoe.datasets import make_moe_regression


def timed_fit(estimator, X, y):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(X, y)
    return time.perf_counter() - start, estimator


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=float, nargs="+", default=[1e5, 1e6])
    parser.add_argument("--k", type=int, nargs="+", default=[3, 5])
    args = parser.parse_args(argv)
    timed_fit(GaussianMoERegressor(2, random_state=0),
              *make_moe_regression(500, random_state=0)[:2])
    print(f"{'n':>9} {'k':>2} | {'default':>9} {'EM+Newton':>10} {'converged':>9} "
          f"{'log-likelihood':>16} | {'k-means EM':>10} {'log-likelihood':>16} | ratio")
    for n in (int(v) for v in args.n):
        X, y = make_moe_regression(n, random_state=1)[:2]
        for k in args.k:
            t_default, default = timed_fit(GaussianMoERegressor(k, random_state=0),
                                           X, y)
            t_em, em = timed_fit(GaussianMoERegressor(
                k, n_init=1, init_params="kmeans", solver="em", random_state=0), X, y)
            print(f"{n:>9} {k:>2} | {t_default:>8.2f}s "
                  f"{default.n_iter_em_:>5}+{default.n_iter_newton_:<4} "
                  f"{str(default.converged_):>9} {default.log_likelihood_:>16.3f} | "
                  f"{t_em:>9.2f}s {em.log_likelihood_:>16.3f} | "
                  f"{t_default / t_em:5.1f}x", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
