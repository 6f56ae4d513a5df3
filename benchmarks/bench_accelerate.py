"""Plain EM against SQUAREM-accelerated EM on the over-fitted [N23] study.

The over-fitted study of ``paper_figures`` (the [N23] truth, k = 3 and 4 experts,
start near the truth, tolerance 1e-10, at most 2000 iterations, 20 replications)
at two sample sizes, fitted with ``accelerate=False`` and ``accelerate=True`` on
the same data.  Prints, per (k, n), the share of fits that converged, the median
number of iterations (SQUAREM cycles when accelerated), the summed fit time and
the mean and median D2; then how the log-likelihoods of the two compare fit by fit.

Example::

    python benchmarks/bench_accelerate.py --jobs 2          # about 17 minutes
"""

import argparse
import time
import warnings

from gmoe.datasets import N23_TRUTH
from gmoe.simulation import run_rate_study


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--k", type=int, nargs="+", default=[3, 4])
    parser.add_argument("--replications", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    results = {}
    for accelerate in (False, True):
        start = time.perf_counter()
        results[accelerate] = run_rate_study(
            N23_TRUTH, args.k, args.n, args.replications, random_state=2023,
            n_jobs=args.jobs, init="near_truth", tol=1e-10, max_iter=2000,
            estimator_params={"accelerate": accelerate}, progress=False,
        )
        print(f"accelerate={accelerate}: {time.perf_counter() - start:.0f} s")
        print(results[accelerate].groupby(["k", "n"]).agg(
            converged=("converged", "mean"), iterations=("n_iter", "median"),
            fit_time_s=("fit_time", "sum"), D2_mean=("D2", "mean"),
            D2_median=("D2", "median"),
        ).to_string())
    keys = ["k", "n", "replication"]
    gain = (results[True].set_index(keys)["log_likelihood"]
            - results[False].set_index(keys)["log_likelihood"])
    print(f"log-likelihood, accelerated minus plain: min {gain.min():.4g}, "
          f"median {gain.median():.4g}, max {gain.max():.4g}; lower by more than "
          f"1e-6 in {(gain < -1e-6).sum()} of {len(gain)} fits")


if __name__ == "__main__":
    main()
