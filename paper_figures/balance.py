"""What a load-balancing penalty does to an over-fitted mixture of experts.

``python -m paper_figures.balance [--quick] [--jobs 2]`` writes
``results/balance[_quick].csv`` (one row per fit) and its wall time to
``results/balance_timing[_quick].json``; ``python -m paper_figures.fig11_balance``
draws the figure from it.

Two over-fitted cases, declared before any result was looked at:

- ``three_lines``: ten experts fitted to three true lines (the truth of the
  Voronoi-cell picture, :data:`paper_figures._common.CELLS_TRUTH`, X ~ U[-1, 1],
  n = 2000): the "3 lines, 10 experts: data collapse" example of the notes the
  project grew from;
- ``n23_k4``: four experts fitted to the two-expert [N23] truth (X ~ U[0, 1],
  n = 2000), the over-fitted case of the rate studies.

For each case, replication and penalty ``alpha`` of :data:`ALPHAS`, the default
fit ``GaussianMoERegressor(k, balance_penalty=alpha)`` (its default start
search, certified by Newton) on the same data for every ``alpha``; recorded: the
plain log-likelihood per sample, the penalised objective, the routing of
:func:`gmoe.routing_diagnostics` (effective number of experts by load, largest
load, experts with a load below 1 %, collapse), ``KL(P || u)`` of the loads and
the Voronoi losses of the fit's mixing measure against the truth
(:func:`gmoe.voronoi_loss`: D1, and D2 where rbar is known for every cell, at
most three atoms per cell; NaN otherwise).  Every draw flows from
``SeedSequence(RANDOM_STATE, spawn_key=(case, replication))``: the data from its
first child, the fit's ``random_state`` from its second, so the table does not
depend on ``--jobs``.
"""

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from gmoe import GaussianMoERegressor, MixingMeasure, voronoi_loss
from gmoe.datasets import N23_TRUTH, draw_covariates, draw_response
from gmoe.theory._voronoi_atoms import UnknownRbarWarning
from paper_figures import _common

#: Penalties compared (``balance_penalty``), 0 the maximum-likelihood fit.
ALPHAS = (0.0, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
#: Case name: (truth, fitted experts, covariate box, sample size).
CASES = {
    "three_lines": (_common.CELLS_TRUTH, 10, (-1.0, 1.0), 2000),
    "n23_k4": (N23_TRUTH, 4, (0.0, 1.0), 2000),
}
REPLICATIONS = {"full": 10, "quick": 1}
QUICK_ALPHAS = (0.0, 0.1, 3.0)
QUICK_N = 300


def _known_d2(fitted, truth):
    """D2 of ``fitted`` against ``truth`` when rbar is known for every cell
    size (``gmoe.theory._voronoi_atoms.RBAR_KNOWN``: cells of at most three
    atoms), else NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownRbarWarning)
        try:
            return voronoi_loss(fitted, truth, "D2")
        except UnknownRbarWarning:
            return float("nan")


def _fit_case(case, replication, alphas, n):
    """Every fit of one (case, replication): a list of records."""
    truth, k, (low, high), _ = CASES[case]
    index = list(CASES).index(case)
    data_seq, fit_seq = np.random.SeedSequence(
        _common.RANDOM_STATE, spawn_key=(index, replication)).spawn(2)
    rng = np.random.default_rng(data_seq)
    X = draw_covariates(n, design="uniform", low=low, high=high, random_state=rng)
    y, _ = draw_response(truth, X, rng)
    seed = int(fit_seq.generate_state(1)[0])
    true_measure = MixingMeasure.from_params(**truth)
    records = []
    for alpha in alphas:
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = GaussianMoERegressor(k, balance_penalty=alpha,
                                         random_state=seed).fit(X, y)
        elapsed = time.perf_counter() - start
        report = model.routing_report(X)
        load = report.experts["load"].to_numpy()
        records.append({
            "case": case, "k": k, "n": n, "replication": replication,
            "alpha": alpha, "seed": seed,
            "log_likelihood": model.log_likelihood_ / n,
            "objective": model.objective_ / n,
            "kl_uniform": float(np.sum(load * np.log(k * load))),
            "effective_experts": report.summary["effective_experts_load"],
            "max_load": float(load.max()),
            "n_below_1pc": report.summary["n_never_used"],
            "collapsed": report.summary["collapsed"],
            "D1": voronoi_loss(model.mixing_measure_, true_measure, "D1"),
            "D2": _known_d2(model.mixing_measure_, true_measure),
            "converged": bool(model.converged_),
            "degenerate": int(np.sum(model.degenerate_experts_)),
            "fit_time": elapsed,
            "warnings": "; ".join(sorted({w.category.__name__ for w in caught})),
        })
    return records


def compute(quick=False, n_jobs=1):
    """Run the study; returns the table (also written under ``results/``)."""
    from joblib import Parallel, delayed

    preset = "quick" if quick else "full"
    alphas = QUICK_ALPHAS if quick else ALPHAS
    tasks = [(case, r) for case in CASES for r in range(REPLICATIONS[preset])]
    start = time.perf_counter()
    parts = Parallel(n_jobs=n_jobs)(
        delayed(_fit_case)(case, r, alphas,
                           QUICK_N if quick else CASES[case][3])
        for case, r in tasks)
    elapsed = time.perf_counter() - start
    table = pd.DataFrame([record for part in parts for record in part])
    _common.save_study("balance", table, elapsed, n_jobs, quick)
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    table = compute(args.quick, args.jobs)
    print(table.groupby(["case", "alpha"])[
        ["log_likelihood", "kl_uniform", "effective_experts", "max_load", "D1", "D2",
         "converged"]].mean().to_string(float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    main()
