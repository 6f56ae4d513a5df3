"""Default fit of every gate, timed against the softmax gate in the same run.

The [N23] data (``make_moe_regression(n, random_state=1)``, one covariate), the
default ``GaussianMoERegressor(k, gate=..., random_state=0)``; per gate the
wall time, its ratio to the softmax gate's, ``converged_`` and the
log-likelihood.  The target of the gate plug-ins: every gate at most 2x the
softmax gate.

    python benchmarks/bench_gate_fits.py --n 20000 --k 4
"""

import argparse
import time
import warnings

from gmoe import GaussianMoERegressor
from gmoe.datasets import make_moe_regression

#: (label, estimator options) of every gate measured.
GATES = [
    ("softmax", {}),
    ("top_k=2", {"top_k": 2}),
    ("gaussian, conditional", {"gate": "gaussian"}),
    ("gaussian, joint", {"gate": "gaussian", "likelihood": "joint"}),
    ("constant", {"gate": "constant"}),
    ("sigmoid", {"gate": "sigmoid"}),
    ("cosine", {"gate": "cosine"}),
    ("laplace", {"gate": "laplace"}),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--only", nargs="*", help="labels of the gates to time")
    args = parser.parse_args(argv)
    X, y = make_moe_regression(args.n, random_state=1)
    GaussianMoERegressor(2, n_init=2, random_state=0).fit(X[:500], y[:500])
    print(f"n = {args.n}, k = {args.k}")
    print(f"{'gate':24s} {'time':>8s} {'ratio':>6s}  converged  log-likelihood")
    reference = None
    for label, options in GATES:
        if args.only and label not in args.only and label != "softmax":
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            model = GaussianMoERegressor(args.k, random_state=0, **options).fit(X, y)
            seconds = time.perf_counter() - start
        reference = reference or seconds
        print(f"{label:24s} {seconds:7.1f}s {seconds / reference:6.1f}  "
              f"{str(model.converged_):9s}  {model.log_likelihood_:.3f}", flush=True)


if __name__ == "__main__":
    main()
