"""Coverage of the piece-Wald intervals of top-K fits.

Data from the top-2 truth :data:`gmoe.datasets.TOPK_TRUTH` (k0 = 4, d = 2), a
top-2 fit with k = 4 started at the truth, and the 95 % Wald intervals of
``summary`` (the information of the fit's piece: every sample's selection held).
The fitted experts are matched to the true ones by
:func:`gmoe.inference._align.align_experts`; the gate slopes are compared relative to
the expert matched to the fit's reference.  Prints the share of intervals that
cover the truth, for the experts' intercepts and slopes and for the gate slopes.

Run from the repository root::

    python benchmarks/bench_sparse_coverage.py --n 2000 --reps 40
    python benchmarks/bench_sparse_coverage.py --n 10000 --reps 40
"""

import argparse
import warnings

import numpy as np

from gmoe import GaussianMoERegressor
from gmoe.datasets import TOPK_TRUTH, TOPK_TRUTH_K, make_moe_regression
from gmoe.inference._align import align_experts


def coverage(n, reps, first_seed=1000, level=0.95):
    truth = {name: np.asarray(value, dtype=float) for name, value in
             TOPK_TRUTH.items()}
    hits = {"expert": [], "gate": []}
    for r in range(reps):
        X, y = make_moe_regression(n, TOPK_TRUTH, random_state=first_seed + r,
                                   top_k=TOPK_TRUTH_K)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = GaussianMoERegressor(4, top_k=TOPK_TRUTH_K, random_state=0,
                                         init_params=TOPK_TRUTH).fit(X, y)
        table = model.summary(X, y, level=level)
        _, perm = align_experts(model._params_dict(), truth, gate=model.gate_)
        inverse = np.argsort(perm)
        for name in ("expert_intercept", "expert_coef", "gate_coef"):
            rows = table[(table["parameter"] == name) & table["std_error"].notna()]
            true = truth[name][inverse[rows["expert"].to_numpy()]]
            if name == "gate_coef":
                true = true - truth[name][inverse[-1]]
            if true.ndim == 2:
                true = true[np.arange(len(rows)), rows["feature"].to_numpy(int)]
            kind = "gate" if name.startswith("gate") else "expert"
            hits[kind].extend((rows["lower"] <= true) & (true <= rows["upper"]))
    return {kind: (float(np.mean(h)), len(h)) for kind, h in hits.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=40)
    args = parser.parse_args(argv)
    result = coverage(args.n, args.reps)
    for kind, (share, count) in result.items():
        print(f"n = {args.n}, {args.reps} data sets: {kind} intervals cover the "
              f"truth {100 * share:.1f} % of {count}")


if __name__ == "__main__":
    main()
