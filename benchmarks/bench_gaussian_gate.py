"""Default fits of the Gaussian gate (conditional and joint likelihood) against
the softmax gate's, on the [N23] data and on data drawn from a Gaussian-gate
truth.

For each data set and number of experts ``k``: the default
``GaussianMoERegressor(k, random_state=0)`` (softmax gate) and the same with
``gate="gaussian"``, ``likelihood="conditional"`` and ``"joint"``; the wall time
of each fit and its ratio to the softmax fit's in the same run,
``converged_``, the number of degenerate experts (``degenerate_experts_``), the
conditional log-likelihood ``log_likelihood_`` and, for the Gaussian gate,
``joint_log_likelihood_``.  Data sets: ``make_moe_regression(n,
random_state=1)`` ([N23]) and ``draw_gaussian_gate_data(N24G_TRUTH_TYPE1, n,
random_state=1)`` (k0 = 3, d = 1).  ``--json`` writes the rows to a file.

Example::

    python benchmarks/bench_gaussian_gate.py --n 20000 --k 2 3 4
"""

import argparse
import json
import time
import warnings

from gmoe import N24G_TRUTH_TYPE1, GaussianMoERegressor, draw_gaussian_gate_data
from gmoe.datasets import make_moe_regression

#: (label, estimator options) of the fits.
FITS = [
    ("softmax", {}),
    ("gaussian, conditional", {"gate": "gaussian"}),
    ("gaussian, joint", {"gate": "gaussian", "likelihood": "joint"}),
]


def _data(name, n):
    if name == "N23":
        return make_moe_regression(n, random_state=1)
    return draw_gaussian_gate_data(N24G_TRUTH_TYPE1, n, random_state=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--k", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--data", nargs="+", default=["N23", "gaussian"])
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args(argv)
    X, y = make_moe_regression(500, random_state=0)
    for _, options in FITS:  # compile before timing
        GaussianMoERegressor(2, n_init=2, random_state=0, **options).fit(X, y)
    rows = []
    print(f"n = {args.n}")
    print(f"{'data':9s} {'k':>2s} {'gate':24s} {'time':>7s} {'ratio':>6s} "
          f"{'converged':9s} {'degenerate':>10s} {'log-likelihood':>15s} "
          f"{'joint':>15s}")
    for name in args.data:
        X, y = _data(name, args.n)
        for k in args.k:
            reference = None
            for label, options in FITS:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    start = time.perf_counter()
                    model = GaussianMoERegressor(k, random_state=0,
                                                 **options).fit(X, y)
                    seconds = time.perf_counter() - start
                reference = reference or seconds
                joint = getattr(model, "joint_log_likelihood_", float("nan"))
                row = {"data": name, "k": k, "gate": label, "seconds": seconds,
                       "ratio": seconds / reference,
                       "converged": bool(model.converged_),
                       "degenerate": int(model.degenerate_experts_.sum()),
                       "log_likelihood": float(model.log_likelihood_),
                       "joint_log_likelihood": float(joint)}
                rows.append(row)
                print(f"{name:9s} {k:2d} {label:24s} {seconds:6.1f}s "
                      f"{row['ratio']:6.1f} {str(row['converged']):9s} "
                      f"{row['degenerate']:10d} {row['log_likelihood']:15.3f} "
                      f"{joint:15.3f}", flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1)


if __name__ == "__main__":
    main()
