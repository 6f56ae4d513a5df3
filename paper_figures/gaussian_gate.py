"""The rate study of [N24g] (Gaussian-gated MoE): declarations and compute.

``python -m paper_figures.gaussian_gate [--quick] [--jobs 2]`` writes
``results/gaussian_gate[_quick].csv`` (one row per fit and estimator) and its wall
time to ``results/gaussian_gate_timing[_quick].json``;
``python -m paper_figures.fig8_gaussian_gate`` draws the figure from it.

Set-up of [N24g]'s official code (Trung-TinNGUYEN/CRPE-GMoE, ``models.py``,
``experiment.py``): the k0 = 3, d = 1 truths of Type I (every gate location
non-zero) and Type II (the first one zero), X drawn from the gate's Gaussian
mixture and y from the experts, fitted k = 4 and 5, 20 replications per sample
size, a start near the truth (each fitted atom a copy of a true atom, every true
atom used, weights split evenly, Gaussian noise of sd ``0.005 n^-0.083`` on
``c, A, b`` and half-normal noise of sd ``0.0005 n^-0.25`` added to ``Gamma`` and
``nu``).  What differs, declared before any result was looked at:

- 8 log-spaced sample sizes from 100 to 1e5 instead of 100 evenly spaced ones
  (compute budget);
- three estimators on the same data from the same start:

  ``one_step``: one EM iteration of the joint likelihood (``solver="em"``,
  ``max_iter=1``).  This is what the official code computes: its EM loop
  compares the new parameters with "previous" ones that are the same arrays
  (updated in place), so its stopping test holds after the first iteration (its
  stored iteration counts are all 0);
  ``joint``: the joint-likelihood EM (``solver="em"``) run to a change of the
  mean log-likelihood of at most ``JOINT_TOL`` or ``JOINT_MAX_ITER`` iterations;
  ``conditional``: the conditional likelihood maximised from the ``joint`` fit
  (EM to ``tol`` 1e-6, then damped Newton to a gradient of ``GTOL`` or
  ``NEWTON_MAX_ITER`` steps), reported through the moment-matched Gaussian
  representative of its gate.

- the loss of the official code
  (:func:`gmoe.theory._voronoi_gaussian.gaussian_gate_loss`, Type I and Type II
  exponents, rbar = (1, 4, 6)), with the cell sizes counted correctly.
"""

import argparse
import json
import os
import time
import warnings

import numpy as np
import pandas as pd

from gmoe import GaussianMoERegressor
from gmoe.datasets import N24G_TRUTH_TYPE1, N24G_TRUTH_TYPE2, draw_gaussian_gate_data
from gmoe.simulation import sample_size_grid
from gmoe.theory._voronoi_gaussian import GaussianGateMixingMeasure, gaussian_gate_loss
from paper_figures import _common

TRUTHS = {"type1": N24G_TRUTH_TYPE1, "type2": N24G_TRUTH_TYPE2}
EXPERTS = (4, 5)
SIZES = {"full": sample_size_grid(100, 100_000, 8),
         "quick": sample_size_grid(100, 1_000, 2)}
REPLICATIONS = {"full": 20, "quick": 2}
ESTIMATORS = ("one_step", "joint", "conditional")
JOINT_TOL = 1e-8
JOINT_MAX_ITER = 100
GTOL = 1e-6
NEWTON_MAX_ITER = 40
RANDOM_STATE = 2024
#: Slopes of the official code's committed plots (d = 1), as [N24g]'s code
#: prints them; recomputed from its stored losses: -0.506 and -0.505 (Type I,
#: k = 4, 5), -0.505 and -0.504 (Type II).
OFFICIAL_SLOPES = {("type1", 4): -0.506, ("type1", 5): -0.505,
                   ("type2", 4): -0.505, ("type2", 5): -0.504}


def near_truth_start(truth, n, k, rng):
    """The official code's start: a random assignment of the k fitted atoms to
    the k0 true atoms using every true atom, then noise (see the module
    docstring).  Returns a dict of Gaussian-gate parameters."""
    k0 = len(truth["gate_weight"])
    while True:
        s = rng.choice(k0, size=k)
        counts = np.bincount(s, minlength=k0)
        if np.all(counts > 0):
            break
    sd, sv = 0.005 * n ** -0.083, 0.0005 * n ** -0.25
    d = truth["gate_mean"].shape[1]
    return {
        "gate_weight": truth["gate_weight"][s] / counts[s],
        "gate_mean": truth["gate_mean"][s] + rng.normal(0, sd, (k, d)),
        "gate_covariance": truth["gate_covariance"][s]
        + np.abs(rng.normal(0, sv, (k, d)))[:, :, None] * np.eye(d),
        "expert_coef": truth["expert_coef"][s] + rng.normal(0, sd, (k, d)),
        "expert_intercept": truth["expert_intercept"][s] + rng.normal(0, sd, k),
        "expert_variance": truth["expert_variance"][s]
        + np.abs(rng.normal(0, sv, k)),
    }


def _seeds(kind, k, n_index, replication):
    """Data seed (shared by k) and start seed."""
    type_index = list(TRUTHS).index(kind)
    data = np.random.SeedSequence(RANDOM_STATE, spawn_key=(type_index, n_index,
                                                           replication))
    start = np.random.SeedSequence(RANDOM_STATE, spawn_key=(type_index, n_index,
                                                            replication, k))
    return np.random.default_rng(data), np.random.default_rng(start)


def _one_step(X, y, start):
    """One joint EM iteration from ``start`` (the closed-form M-step at the
    start's responsibilities)."""
    k = len(start["gate_weight"])
    model = GaussianMoERegressor(k, gate="gaussian", likelihood="joint", solver="em",
                                 init_params=start, max_iter=1, tol=0.0,
                                 reg_variance=1e-12).fit(X, y)
    return model._params_dict()


def fit_one(kind, k, n_index, n, replication):
    """The three estimators on one data set: a list of result rows."""
    truth = TRUTHS[kind]
    G0 = GaussianGateMixingMeasure.from_params(**truth)
    data_rng, start_rng = _seeds(kind, k, n_index, replication)
    X, y = draw_gaussian_gate_data(truth, n, data_rng)
    start = near_truth_start(truth, n, k, start_rng)
    rows = []

    def record(name, params, seconds, model=None):
        row = {"type": kind, "k": k, "n": n, "replication": replication,
               "estimator": name,
               "loss": gaussian_gate_loss(params, G0),
               "seconds": round(seconds, 4),
               "params": json.dumps({key: np.asarray(v).tolist()
                                     for key, v in params.items()})}
        if model is not None:
            row.update(n_iter_em=model.n_iter_em_, n_iter_newton=model.n_iter_newton_,
                       converged=model.converged_,
                       gradient_norm=model.gradient_norm_,
                       log_likelihood=model.log_likelihood_,
                       joint_log_likelihood=model.joint_log_likelihood_)
        rows.append(row)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        record("one_step", _one_step(X, y, start), time.perf_counter() - t)
        t = time.perf_counter()
        joint = GaussianMoERegressor(k, gate="gaussian", likelihood="joint",
                                     solver="em", init_params=start, tol=JOINT_TOL,
                                     max_iter=JOINT_MAX_ITER).fit(X, y)
        record("joint", joint._params_dict(), time.perf_counter() - t, joint)
        t = time.perf_counter()
        cond = GaussianMoERegressor(k, gate="gaussian", likelihood="conditional",
                                    init_params=joint._params_dict(), tol=1e-6,
                                    gtol=GTOL, max_iter=NEWTON_MAX_ITER).fit(X, y)
        record("conditional", cond._params_dict(), time.perf_counter() - t, cond)
    return rows


def _cache_path(preset, kind, k, n, replication):
    name = f"{kind}_k{k}_n{n}_r{replication}.json"
    return _common.CACHE / "gaussian_gate" / preset / name


def _task(args):
    preset, kind, k, n_index, n, replication = args
    path = _cache_path(preset, kind, k, n, replication)
    if path.exists():
        return json.loads(path.read_text())
    try:
        rows = fit_one(kind, k, n_index, n, replication)
    except (ValueError, np.linalg.LinAlgError) as error:  # recorded, not hidden
        rows = [{"type": kind, "k": k, "n": n, "replication": replication,
                 "estimator": name, "loss": np.nan, "error": repr(error)}
                for name in ESTIMATORS]
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = json.loads(json.dumps(rows, default=float))
    path.write_text(json.dumps(rows))
    return rows


def compute(quick=False, n_jobs=1, replications=None):
    """Run the study (replication by replication, every fit cached, so that an
    interrupted run resumes); write the CSV of the first ``replications``
    replications (default: the preset's) and the timing; return the table."""
    preset = "quick" if quick else "full"
    n_rep = REPLICATIONS[preset] if replications is None else replications
    tasks = [(preset, kind, k, i, int(n), r)
             for r in range(n_rep) for kind in TRUTHS for k in EXPERTS
             for i, n in enumerate(SIZES[preset])]
    if n_jobs is None or n_jobs < 1:
        n_jobs = os.cpu_count() or 1
    start = time.perf_counter()
    if n_jobs == 1:
        chunks = [_task(task) for task in tasks]
    else:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(n_jobs) as pool:
            chunks = pool.map(_task, tasks, chunksize=1)
    elapsed = time.perf_counter() - start
    table = pd.DataFrame([row for chunk in chunks for row in chunk])
    _common.RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "_quick" if quick else ""
    table.to_csv(_common.RESULTS / f"gaussian_gate{suffix}.csv", index=False)
    (_common.RESULTS / f"gaussian_gate_timing{suffix}.json").write_text(json.dumps(
        {"seconds": round(elapsed, 1), "fits": len(tasks), "n_jobs": n_jobs,
         "replications": n_rep, "date": time.strftime("%Y-%m-%d"),
         "note": "seconds of this run; fits found in the cache cost nothing"},
        indent=1))
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--replications", type=int, default=None,
                        help="only the first R replications (default: all 20)")
    args = parser.parse_args(argv)
    table = compute(args.quick, args.jobs, args.replications)
    print(f"{len(table)} rows")


if __name__ == "__main__":
    main()
