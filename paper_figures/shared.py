"""The simulation of [DSM25] (shared and routed experts), linear-expert analogue.

``python -m paper_figures.shared [--quick] [--jobs 2]`` writes
``results/shared[_quick].csv`` (one row per fit) and its wall time to
``results/shared_timing[_quick].json``; ``python -m paper_figures.fig12_shared``
draws the figure and writes ``results/shared[_quick].md`` (the slopes).

The set-up of [DSM25]'s Appendix G.1 (as read for ``THEORY.md``, section 10):
X ~ U[-3, 3], d = 1, a truth of ``k1* = 1`` shared and ``k2* = 2`` routed
experts, fitted with ``k1 = 2`` shared and ``k2 = 3`` routed experts, the shared
fraction 1/2, sample sizes from 1e2 to 1e5, 40 replications, EM stopped when the
change is below 1e-6 or after 1000 iterations.  What differs, declared before
any result was looked at:

- the paper's truth has ReLU experts; gmoe's experts are Gaussian linear, so the
  truth here is a linear analogue (:data:`TRUTH`: one shared line, two routed
  lines switched by the gate near x = 0.5), and the loss that the paper proves
  for linear experts is D2 (its exponents ``r(2) = 4`` for the cells of two
  fitted atoms that this over-fit makes); D1, defined for strongly identifiable
  experts, is reported as a formula only;
- 7 log-spaced sample sizes (compute budget);
- three regimes on the same data: ``paper_em`` (the softmax gate, EM from the
  default start search, stopped at tol 1e-6 or 1000 iterations), ``certified``
  (the softmax gate, the default fit: EM then Newton to a gradient below 1e-8)
  and ``sigmoid`` (the normalised sigmoid gate, certified, 20 replications),
  measured with D3 (sparse regime) and D4 (dense regime) as the paper does for
  that gate.

Every draw flows from ``SeedSequence(RANDOM_STATE, spawn_key=(n, replication))``:
the data from its first child, the fit's ``random_state`` from its second; the
table does not depend on ``--jobs``.

.. [DSM25] H. Nguyen, et al., "On DeepSeekMoE: Statistical Benefits of Shared
   Experts and Normalized Sigmoid Gating", arXiv:2505.10860, 2025.
"""

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from gmoe import GaussianMoERegressor, SharedRoutedMeasure, shared_routed_loss
from gmoe.simulation import sample_size_grid
from paper_figures import _common

#: The linear analogue of the paper's truth: one shared expert (weight 1,
#: y = 0.5 x, variance 0.25), two routed experts (y = -2 - x and y = 2 + 1.5 x,
#: variance 0.4) under the gate (intercepts (-1, 0), slopes (2, 0)).
TRUTH = {
    "shared_weights": [1.0],
    "expert_coef": [[0.0, 0.5], [-2.0, -1.0], [2.0, 1.5]],
    "expert_var": [0.25, 0.4, 0.4],
    "gate_intercept": [-1.0, 0.0],
    "gate_coef": [[2.0], [0.0]],
}
#: Fitted experts: (shared, routed).
FITTED = (2, 3)
#: Regime: (gate, estimator options, losses, replications in the full preset).
REGIMES = {
    "paper_em": ("softmax", {"solver": "em", "tol": 1e-6, "max_iter": 1000},
                 ("D1", "D2"), 40),
    "certified": ("softmax", {}, ("D1", "D2"), 40),
    "sigmoid": ("sigmoid", {}, ("D3", "D4"), 20),
}
SIZES = {"full": sample_size_grid(100, 100_000, 7),
         "quick": sample_size_grid(100, 400, 2)}
QUICK_REPLICATIONS = 2
#: The paper's reported slopes, by loss.
REPORTED = {"D1": -0.451, "D2": -0.517, "D3": -0.46, "D4": -0.552}


def truth_measure(gate="softmax"):
    """The true :class:`gmoe.SharedRoutedMeasure` with ``gate`` routing."""
    return SharedRoutedMeasure.from_arrays(
        TRUTH["shared_weights"], TRUTH["expert_coef"], TRUTH["expert_var"],
        gate=gate, gate_intercept=TRUTH["gate_intercept"],
        gate_coef=TRUTH["gate_coef"])


def _fit_one(regime, n, replication):
    """One fit of the study, measured; never raises on a failed fit."""
    gate, options, losses, _ = REGIMES[regime]
    data_seq, fit_seq = np.random.SeedSequence(
        _common.RANDOM_STATE, spawn_key=(n, replication)).spawn(2)
    truth = truth_measure(gate)
    X, y = truth.sample(n, np.random.default_rng(data_seq))
    record = {"regime": regime, "gate": gate, "n": n, "replication": replication}
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = GaussianMoERegressor(
                FITTED[1], n_shared_experts=FITTED[0], gate=gate,
                random_state=int(fit_seq.generate_state(1)[0]), **options).fit(X, y)
            fitted = SharedRoutedMeasure.from_estimator(model)
            for kind in losses:
                record[kind] = float(shared_routed_loss(fitted, truth, kind))
        record.update({
            "log_likelihood": model.log_likelihood_,
            "truth_log_likelihood": truth.log_likelihood(X, y),
            "converged": bool(model.converged_),
            "n_iter": int(model.n_iter_),
            "degenerate": int(np.sum(model.degenerate_experts_)),
            "warnings": "; ".join(sorted({w.category.__name__ for w in caught})),
            "error": "",
        })
    except Exception as exc:  # a failed fit is a result, the study goes on
        record["error"] = f"{type(exc).__name__}: {exc}"
    record["fit_time"] = time.perf_counter() - start
    return record


def compute(quick=False, n_jobs=1):
    """Run the study; returns the table (also written under ``results/``)."""
    from joblib import Parallel, delayed

    preset = "quick" if quick else "full"
    tasks = [(regime, int(n), r) for regime, (*_, reps) in REGIMES.items()
             for n in SIZES[preset]
             for r in range(QUICK_REPLICATIONS if quick else reps)]
    # the largest fits first, so that the workers finish together
    tasks.sort(key=lambda task: -task[1])
    start = time.perf_counter()
    records = Parallel(n_jobs=n_jobs)(delayed(_fit_one)(*task) for task in tasks)
    elapsed = time.perf_counter() - start
    table = pd.DataFrame(records).sort_values(["regime", "n", "replication"])
    _common.save_study("shared", table, elapsed, n_jobs, quick)
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    table = compute(args.quick, args.jobs)
    print(table.groupby(["regime", "n"])[["D2", "D4", "converged"]].mean()
          .to_string(float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    main()
