"""Check of Figure 10: is a fitted selection boundary the likelihood's best position?

For the exact-fitted top-K fits of ``results/topk.csv`` at the sizes given, moves
each fitted boundary of ``_common.TOPK_BOUNDARIES`` parallel to itself (the two
matched experts' gate intercepts by +delta/2 and -delta/2, delta on a grid of
[-0.6, 0.6]) and prints the best gain of the log-likelihood along that line and
the boundary shift there.  The log-likelihood is a plain numpy one (top-K
selection by a stable sort, softmax on the selected scores, Gaussian experts),
checked against the stored one of each fit.

    python -m paper_figures.topk_boundary_check 1000 10000 --replications 4
"""

import argparse
import json

import numpy as np

from gmoe.datasets import TOPK_TRUTH, TOPK_TRUTH_K
from gmoe.simulation import draw_replication
from paper_figures._common import RANDOM_STATE, TOPK_BOUNDARIES, load
from paper_figures.fig10_topk import boundary_shift, match_experts


def log_likelihood(params, X, y, top_k):
    """Top-K Gaussian MoE log-likelihood, summed over the samples (plain numpy)."""
    scores = params["gate_intercept"] + X @ params["gate_coef"].T
    order = np.argsort(-scores, axis=1, kind="stable")
    keep = np.zeros(scores.shape, bool)
    np.put_along_axis(keep, order[:, :top_k], True, axis=1)
    scores = np.where(keep, scores, -np.inf)
    log_w = scores - np.logaddexp.reduce(scores, axis=1, keepdims=True)
    mean = params["expert_intercept"] + X @ params["expert_coef"].T
    var = params["expert_variance"]
    log_f = -0.5 * np.log(2 * np.pi * var) - 0.5 * (y[:, None] - mean) ** 2 / var
    return float(np.logaddexp.reduce(log_w + log_f, axis=1).sum())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", type=int, nargs="+")
    parser.add_argument("--replications", type=int, default=4)
    parser.add_argument("--points", type=int, default=1201)
    args = parser.parse_args(argv)
    results = load("topk")
    exact = results[results["regime"] == "exact"]
    for n in args.sizes:
        for r in range(args.replications):
            row = exact[(exact["n"] == n) & (exact["replication"] == r)].iloc[0]
            params = {key: np.asarray(value, float)
                      for key, value in json.loads(row["params"]).items()}
            X, y = draw_replication(TOPK_TRUTH, n, r, random_state=RANDOM_STATE,
                                    top_k=TOPK_TRUTH_K)
            base = log_likelihood(params, X, y, TOPK_TRUTH_K)
            match = match_experts(params, TOPK_TRUTH)
            line = [f"n={n} r={r}: log-likelihood {base:.4f} "
                    f"(stored {row['log_likelihood']:.4f}), shift "
                    f"{boundary_shift(params):.5f}"]
            for i, j in TOPK_BOUNDARIES:
                best = (0.0, 0.0, boundary_shift(params))
                for delta in np.linspace(-0.6, 0.6, args.points):
                    moved = {key: value.copy() for key, value in params.items()}
                    moved["gate_intercept"][match[i]] += delta / 2
                    moved["gate_intercept"][match[j]] -= delta / 2
                    gain = log_likelihood(moved, X, y, TOPK_TRUTH_K) - base
                    if gain > best[1]:
                        best = (delta, gain, boundary_shift(moved))
                line.append(f"boundary {i + 1}-{j + 1}: best delta {best[0]:+.4f}, "
                            f"gain {best[1]:.3f} nats, shift {best[2]:.5f}")
            print("; ".join(line))


if __name__ == "__main__":
    main()
