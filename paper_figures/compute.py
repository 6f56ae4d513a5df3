"""Recompute the results behind the figures: ``python -m paper_figures.compute``.

Runs every study of ``_common.STUDIES`` (``--quick``: a small preset of the same
pipeline), writes one tidy CSV per study under ``results/`` (one row per fit,
with the fitted parameters), adds the losses under the official code's
convention, fits the 10-expert model of the Voronoi-cell picture, measures the
gradient and the largest Hessian eigenvalue of the log-likelihood at every fit
of the over-fitted regimes (``results/gradient_norms[_quick].csv``), and records
the wall times in ``results/timings[_quick].json``.  Finished fits are cached under
``paper_figures/.cache/``, so an interrupted run resumes where it stopped.

``--only NAME`` (repeatable) runs only the named steps: studies of
``_common.STUDIES``, ``gates`` (the exact-fitted study of every dense gate,
``_common.GATE_TRUTHS``, Figure 9: ``results/gates[_quick].csv``),
``topk`` (the top-K study of Figure 10, both regimes of
``_common.TOPK_REGIMES``: ``results/topk[_quick].csv``), ``voronoi_cells``,
``gradient_norms``, ``consistency``
(the choice of the number of experts by BIC, ICL, AIC and DSC on many data
sets: ``results/consistency[_quick].csv`` and ``consistency_summary``) or
``gaussian_gate`` (the [N24g] study of ``paper_figures/gaussian_gate.py``,
Figure 8) or ``balance`` (the load-balancing penalty on over-fitted fits,
``paper_figures/balance.py``, Figure 11) or ``shared`` (shared and routed
experts, the simulation of [DSM25], ``paper_figures/shared.py``, Figure 12).
"""

import argparse
import json
import platform
import time
import warnings

import numpy as np
import pandas as pd

from gmoe import GaussianMoERegressor
from gmoe.datasets import draw_covariates, draw_response
from gmoe.engine._model import MoEParams, SoftmaxGaussianMoE, _held_at_bound
from gmoe.engine._newton import projected_gradient_norm
from gmoe.model._scaling import _Scaling
from gmoe.simulation import draw_replication, run_rate_study, run_topk_study
from paper_figures import _common, balance, gaussian_gate, shared
from paper_figures._common import (
    CELLS_TRUTH,
    GATE_PRESETS,
    GATE_SIZES,
    GATE_STUDY,
    GATE_TRUTHS,
    PRESETS,
    RANDOM_STATE,
    REGIMES,
    REPLICATIONS,
    SIZES,
    STUDIES,
    TOPK_PRESETS,
    TOPK_REGIMES,
    TOPK_SIZES,
    TOPK_STUDY,
    TRUTH,
    reference_losses,
    results_path,
)

CELLS_N = 4000
CELLS_K = 10


def compute_study(name, preset, quick, n_jobs):
    grid, options = STUDIES[name]
    kwargs = {**options, **PRESETS[preset], "sample_sizes": SIZES[preset][grid]}
    kwargs["n_replications"] = REPLICATIONS[preset].get(grid, kwargs["n_replications"])
    start = time.perf_counter()
    results = run_rate_study(TRUTH, random_state=RANDOM_STATE, n_jobs=n_jobs,
                             cache=_common.CACHE / preset, progress=None,
                             remeasure=True, **kwargs)
    elapsed = time.perf_counter() - start
    for kind in ("D1", "D2"):
        results[f"{kind}_reference"] = reference_losses(results, kind)
    _common.RESULTS.mkdir(parents=True, exist_ok=True)
    results.to_csv(results_path(name, quick), index=False)
    return elapsed, len(results)


def compute_gates(preset, quick, n_jobs):
    """The exact-fitted study of every gate of ``GATE_TRUTHS``, one table."""
    frames = []
    start = time.perf_counter()
    for label, truth in GATE_TRUTHS.items():
        results = run_rate_study(truth, random_state=RANDOM_STATE, n_jobs=n_jobs,
                                 cache=_common.CACHE / preset, progress=None,
                                 remeasure=True, sample_sizes=GATE_SIZES[preset],
                                 **{**GATE_STUDY, **GATE_PRESETS[preset]})
        frames.append(results.assign(gate=label))
    elapsed = time.perf_counter() - start
    table = pd.concat(frames, ignore_index=True)
    _common.RESULTS.mkdir(parents=True, exist_ok=True)
    table.to_csv(results_path("gates", quick), index=False)
    return elapsed, len(table)


def compute_topk(preset, quick, n_jobs):
    """The top-K study of Figure 10: both regimes of ``TOPK_REGIMES``, one table.

    The regimes share their data sets (same seed, n and replication); the
    ``regime`` column names the regime of each row.
    """
    frames = []
    start = time.perf_counter()
    for regime, (k, top_k, _loss) in TOPK_REGIMES.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = run_topk_study(
                n_experts=k, top_k=top_k, sample_sizes=TOPK_SIZES[preset],
                random_state=RANDOM_STATE, n_jobs=n_jobs,
                cache=_common.CACHE / preset, progress=None,
                **{**TOPK_STUDY, **TOPK_PRESETS[preset]})
        frames.append(results.assign(regime=regime, top_k=top_k))
    elapsed = time.perf_counter() - start
    table = pd.concat(frames, ignore_index=True)
    _common.RESULTS.mkdir(parents=True, exist_ok=True)
    table.to_csv(results_path("topk", quick), index=False)
    return elapsed, len(table)


def compute_cells(quick):
    """Fit 10 experts to data from 3 true lines; store data seed and fit."""
    rng = np.random.default_rng(RANDOM_STATE)
    n = CELLS_N // 4 if quick else CELLS_N
    X = draw_covariates(n, design="uniform", low=-1, high=1, random_state=rng)
    y, _ = draw_response(CELLS_TRUTH, X, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GaussianMoERegressor(CELLS_K, n_init=3 if quick else 10, tol=1e-8,
                                     solver="em", init_params="kmeans",
                                     max_iter=300 if quick else 3000,
                                     random_state=RANDOM_STATE).fit(X, y)
    record = {
        "truth": {key: value.tolist() for key, value in CELLS_TRUTH.items()},
        "fitted": model.mixing_measure_.to_dict(),
        "n": n, "random_state": RANDOM_STATE, "n_iter": model.n_iter_,
        "log_likelihood": model.log_likelihood_,
    }
    path = _common.RESULTS / ("voronoi_cells_quick.json" if quick
                              else "voronoi_cells.json")
    path.write_text(json.dumps(record, indent=1))


def fit_gradient_norm(X, y, k, params, estimator_params):
    """Stationarity and curvature of the log-likelihood at a stored fit.

    Returns the largest entry of the projected gradient per sample (the
    criterion of the estimator's ``gtol``: standardised parameters, entries held
    at a bound of the fit's own bounds excluded), evaluated at the fitted
    parameters whatever solver produced them, and the largest eigenvalue of the
    Hessian per sample on the parameters not held at a bound (negative: a strict
    local maximum).
    """
    options = {key: value for key, value in estimator_params.items()
               if key in ("variance_bounds", "gate_bound", "gate_penalty",
                          "reg_variance")}
    estimator = GaussianMoERegressor(k, **options)
    w = np.ones(len(y))
    scaling = _Scaling(X, y, w)
    var_lower, var_upper, gate_bound = estimator._check_bounds(scaling, X.shape[1])
    model = SoftmaxGaussianMoE(scaling.design(X), scaling.response(y), w,
                               var_lower=var_lower, var_upper=var_upper,
                               gate_bound=gate_bound,
                               gate_penalty=estimator.gate_penalty)
    start = MoEParams(*scaling.to_standardized(
        {key: np.asarray(value, dtype=float) for key, value in params.items()}))
    point = model.project(start)
    _, grad, hess = model.derivatives(point)
    lo, hi = model.vector_bounds(k)
    free = ~_held_at_bound(point.to_vector(), grad, lo, hi)
    curvature = np.linalg.eigvalsh(hess[np.ix_(free, free)]).max() / model.total
    return projected_gradient_norm(model, point), float(curvature)


def compute_gradient_norms(quick):
    """Gradient norm of every fit of the four over-fitted regimes (same data)."""
    frames = {name: _common.load(name, quick) for name, _ in REGIMES}
    rows = []
    data_sets = sorted({key for frame in frames.values()
                        for key in zip(frame["n"], frame["replication"],
                                           strict=True)})
    for n, replication in data_sets:
        X, y = draw_replication(TRUTH, int(n), int(replication),
                                random_state=RANDOM_STATE)
        for name, frame in frames.items():
            estimator_params = STUDIES[name][1].get("estimator_params", {})
            fits = frame[(frame["n"] == n) & (frame["replication"] == replication)]
            for row in fits.itertuples():
                norm, curvature = (
                    fit_gradient_norm(X, y, int(row.k), json.loads(row.params),
                                      estimator_params)
                    if isinstance(row.params, str) else (np.nan, np.nan))
                rows.append({"study": name, "k": int(row.k), "n": int(n),
                             "replication": int(replication),
                             "gradient_norm": norm,
                             "hessian_max_eigenvalue": curvature})
    table = pd.DataFrame(rows).sort_values(["study", "k", "n", "replication"])
    path = _common.RESULTS / ("gradient_norms_quick.csv" if quick
                              else "gradient_norms.csv")
    table.to_csv(path, index=False)
    return len(table)


def compute_consistency(quick, n_jobs):
    """Share of data sets on which BIC, ICL, AIC and DSC choose k0 (two truths)."""
    from gmoe.simulation._consistency import (
        CONSISTENCY_GRID,
        consistency_summary,
        run_consistency_study,
    )

    grid = CONSISTENCY_GRID["quick" if quick else "full"]
    results = run_consistency_study(random_state=RANDOM_STATE, n_jobs=n_jobs,
                                    progress=None,
                                    cache=_common.CACHE / "consistency", **grid)
    _common.RESULTS.mkdir(parents=True, exist_ok=True)
    results.to_csv(results_path("consistency", quick), index=False)
    consistency_summary(results, ("bic", "icl", "aic", "dsc")).to_csv(
        results_path("consistency_summary", quick), index=False)
    return len(results)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small preset (CI smoke test)")
    parser.add_argument("--jobs", type=int, default=-1,
                        help="worker processes (default: all cores)")
    parser.add_argument("--only", action="append",
                        choices=[*sorted(STUDIES), "gates", "topk", "voronoi_cells",
                                 "gradient_norms",
                                 "consistency", "gaussian_gate", "balance", "shared"],
                        help="compute only these steps (repeatable)")
    args = parser.parse_args(argv)
    preset = "quick" if args.quick else "full"
    timings = {"machine": f"{platform.processor() or platform.machine()}, "
                          f"{__import__('os').cpu_count()} cores",
               "date": time.strftime("%Y-%m-%d"), "n_jobs": args.jobs, "studies": {}}
    steps = args.only or [*STUDIES, "gates", "topk", "voronoi_cells", "gradient_norms",
                          "consistency", "gaussian_gate", "balance", "shared"]
    for name in steps:
        if name in STUDIES:
            elapsed, n_fits = compute_study(name, preset, args.quick, args.jobs)
            timings["studies"][name] = {"seconds": round(elapsed, 1), "fits": n_fits}
            print(f"{name}: {n_fits} fits in {elapsed:.0f} s")
    if "gates" in steps:
        elapsed, n_fits = compute_gates(preset, args.quick, args.jobs)
        timings["studies"]["gates"] = {"seconds": round(elapsed, 1), "fits": n_fits}
        print(f"gates: {n_fits} fits in {elapsed:.0f} s")
    if "topk" in steps:
        elapsed, n_fits = compute_topk(preset, args.quick, args.jobs)
        timings["studies"]["topk"] = {"seconds": round(elapsed, 1), "fits": n_fits}
        print(f"topk: {n_fits} fits in {elapsed:.0f} s")
    if "voronoi_cells" in steps:
        start = time.perf_counter()
        compute_cells(args.quick)
        timings["studies"]["voronoi_cells"] = {
            "seconds": round(time.perf_counter() - start, 1)}
    if "gradient_norms" in steps:
        start = time.perf_counter()
        n_fits = compute_gradient_norms(args.quick)
        timings["studies"]["gradient_norms"] = {
            "seconds": round(time.perf_counter() - start, 1), "fits": n_fits}
    if "consistency" in steps:
        start = time.perf_counter()
        n_sets = compute_consistency(args.quick, args.jobs)
        timings["studies"]["consistency"] = {
            "seconds": round(time.perf_counter() - start, 1), "data_sets": n_sets}
    if "gaussian_gate" in steps:
        start = time.perf_counter()
        table = gaussian_gate.compute(args.quick, args.jobs)
        timings["studies"]["gaussian_gate"] = {
            "seconds": round(time.perf_counter() - start, 1), "fits": len(table)}
    if "balance" in steps:
        start = time.perf_counter()
        table = balance.compute(args.quick, args.jobs)
        timings["studies"]["balance"] = {
            "seconds": round(time.perf_counter() - start, 1), "fits": len(table)}
    if "shared" in steps:
        start = time.perf_counter()
        table = shared.compute(args.quick, args.jobs)
        timings["studies"]["shared"] = {
            "seconds": round(time.perf_counter() - start, 1), "fits": len(table)}
    path = _common.RESULTS / ("timings_quick.json" if args.quick else "timings.json")
    if args.only and path.exists():
        # Keep the other steps' times; date each step recomputed now.
        old = json.loads(path.read_text())
        for entry in timings["studies"].values():
            entry["date"] = timings["date"]
        timings = {**timings, "date": old.get("date", timings["date"]),
                   "studies": {**old.get("studies", {}), **timings["studies"]}}
    path.write_text(json.dumps(timings, indent=1))


if __name__ == "__main__":
    main()
