"""Paths, the declared studies and shared helpers of the figure scripts.

Everything a figure shows is declared here, before any result is looked at: the
truth, the sample-size grid, the replications, the initialisation, the EM
settings and the window of the rate fits (always the whole grid).
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from gmoe import MixingMeasure, voronoi_loss
from gmoe.datasets import N23_TRUTH
from gmoe.simulation import sample_size_grid

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
FIGURES = ROOT / "figures"
CACHE = ROOT / ".cache"

#: EM settings of every study.  The tolerance is on the change of the mean
#: log-likelihood per sample (see GaussianMoERegressor): 1e-10, with at most the
#: 2000 iterations of [N23]'s code, because over-fitted EM creeps: a looser
#: tolerance stops it next to its (near-truth) start, long before the parameters
#: settle (see the README).
#: Plain EM, as in [N23]'s code (the committed results were computed with it; the
#: estimator's default is EM followed by a Newton finish).
PLAIN_EM = {"estimator_params": {"solver": "em"}}
EM = {"tol": 1e-10, "max_iter": 2000, **PLAIN_EM}

#: The certified MLE: the estimator's default solver, EM stopped by tol = 1e-6 (the
#: ``early_stop`` fit, exactly), then damped Newton with the exact Hessian until the
#: largest gradient entry per sample is at most gtol = 1e-8 (the default).
#: ``max_iter`` = 2000 bounds each phase.
NEWTON = {"estimator_params": {"solver": "newton"}}

#: The MLE over a compact set, as in the theory: gate slopes bounded by twice the
#: true slope (|beta_1i| <= 50 in reference form, original units; the truth's 25
#: is well inside) and expert variances in [0.01, 1] (the true variances 0.09 and
#: 0.16 are inside, a factor 9 above the floor and 6 below the ceiling; the floor
#: also rules out the spurious maximisers of an expert collapsing onto a few
#: points).  The gate intercepts and the experts' means are left unbounded (the
#: estimator has no bound for them).
GATE_BOUND = 50.0
VARIANCE_BOUNDS = (0.01, 1.0)
BOUNDED_NEWTON = {"estimator_params": {"solver": "newton", "gate_bound": GATE_BOUND,
                                       "variance_bounds": VARIANCE_BOUNDS}}

#: Every EM curve spans [N23]'s range, 1e3 to 1e5, on 10 log-spaced sizes.  (The
#: first version of these studies stopped the over-fitted grid at 1e4, because an
#: over-fitted fit run to convergence then cost ~100 s at n = 1e5; with the
#: vectorised E-step it costs a few seconds.)  The two MLE regimes of Figure 6
#: run on ``"large"``: the same sizes continued with the same spacing to
#: 1.29e6 (15 sizes), with 40 replications (``REPLICATIONS``), so that the
#: slope of the over-fitted MLE is measured two decades further and its interval
#: narrows; below 1e5 their data sets are those of the EM regimes.
SIZES = {
    "full": {"exact": sample_size_grid(1_000, 100_000, 10),
             "over": sample_size_grid(1_000, 100_000, 10),
             "large": sample_size_grid(1_000, 1_291_550, 15)},
    "quick": {"exact": sample_size_grid(300, 3_000, 4),
              "over": sample_size_grid(300, 3_000, 4),
              "large": sample_size_grid(300, 6_463, 5)},
}

#: The studies behind the figures, by name: the grid ("exact" or "over") and the
#: options of run_rate_study.  ``early_stop`` repeats ``over_fitted`` on the same
#: data (the data depend only on the seed, n and the replication) with a loose
#: tolerance close to the stopping rule of [N23]'s code; ``certified_mle`` and
#: ``bounded_mle`` repeat it on the same data and from the same starts with the
#: Newton solver, unbounded and bounded.
STUDIES = {
    "exact_fitted": ("exact", {"n_experts": 2, "init": "near_truth", "n_init": 1,
                               **EM}),
    "over_fitted": ("over", {"n_experts": [3, 4], "init": "near_truth", "n_init": 1,
                             **EM}),
    "early_stop": ("over", {"n_experts": [3, 4], "init": "near_truth", "n_init": 1,
                            "tol": 1e-6, "max_iter": 2000, **PLAIN_EM}),
    "realistic_init": ("over", {"n_experts": 3, "init": "kmeans", "n_init": 2, **EM}),
    "certified_mle": ("large", {"n_experts": [3, 4], "init": "near_truth", "n_init": 1,
                               "tol": 1e-6, "max_iter": 2000, **NEWTON}),
    "bounded_mle": ("large", {"n_experts": [3, 4], "init": "near_truth", "n_init": 1,
                             "tol": 1e-6, "max_iter": 2000, **BOUNDED_NEWTON}),
}

#: The four regimes of the over-fitted near-truth study (Figure 6), on the same
#: data and from the same starts: (study, label).
REGIMES = [
    ("early_stop", "EM stopped at tol 1e-6"),
    ("over_fitted", "EM to 2000 iterations (tol 1e-10)"),
    ("certified_mle", "certified MLE (Newton, gtol 1e-8)"),
    ("bounded_mle", f"bounded MLE (gate slopes in [-{GATE_BOUND:g}, {GATE_BOUND:g}], "
                    f"variances in [{VARIANCE_BOUNDS[0]:g}, {VARIANCE_BOUNDS[1]:g}])"),
]

#: Figure 9: the exact-fitted study (k = k0 = 2, d = 1, X ~ U[0, 1], certified
#: fits) of the [N23] truth with its gate swapped; the experts are [N23]'s
#: (``a = (-20, 20)``, ``b = (15, -5)``, variances 0.09 and 0.16), and in
#: every truth the first expert takes over from the second near x = 0.32, where
#: the [N23] softmax gate ``(-8 + 25 x, 0)`` switches.  The gate parameters:
#:
#: - softmax and normalised sigmoid: [N23]'s, ``beta_0 = (-8, 0)``,
#:   ``beta_1 = (25, 0)`` (distinct slopes);
#: - cosine (perturbation 0.1 and 0): ``w = (0.1, -0.1)``, ``beta_0 = (-0.76, 0)``.
#:   With one covariate and x > 0 the score is ``x / (x + theta) * w / (|w| +
#:   theta) + beta_0``: ``w`` is identified through ``w / (|w| + theta)``,
#:   one-to-one for theta > 0 (distinct ``w`` give distinct gates), and
#:   ``|w| = theta`` puts it at 1/2, half way to its limit 1 (a first choice,
#:   ``w = (1, -1)``, put it at 0.91: fits at n <= 4642 then ran ``|w|`` off to
#:   1e5 and more, see the README).  With theta = 0 the score is ``sign(w) +
#:   beta_0``, a constant gate: only the signs of ``w`` are identified, and the
#:   curve shows what a fit does without the perturbation (the sizes of ``w``
#:   move only with the start's noise).  ``beta_0`` puts the switch of the
#:   perturbed gate at x = 0.32 (``x / (x + 0.1) = 0.76``);
#: - Laplace: ``w = (0.75, 0.25)``, ``beta_0 = (0.36, 0)``: both centres inside
#:   the covariate range (a centre outside it acts as a linear score, whose
#:   centre trades with the intercept), so the kinks identify them; between the
#:   centres the score difference is ``0.36 - 1 + 2 x``, zero at x = 0.32;
#: - constant: ``beta_0 = (0.754, 0)``, the mean weights of the [N23] gate over
#:   U[0, 1] (0.68 and 0.32); [N23]'s intercepts alone would leave the first
#:   expert a weight of 3e-4.
_EXPERTS = {name: N23_TRUTH[name] for name in
            ("expert_intercept", "expert_coef", "expert_variance")}
GATE_TRUTHS = {
    "softmax": MixingMeasure(gate="softmax", **N23_TRUTH),
    "sigmoid": MixingMeasure(gate="sigmoid", **N23_TRUTH),
    "cosine (perturbation 0.1)": MixingMeasure(
        gate={"name": "cosine", "perturbation": 0.1}, gate_intercept=[-0.76, 0.0],
        gate_coef=[[0.1], [-0.1]], **_EXPERTS),
    "cosine (perturbation 0)": MixingMeasure(
        gate={"name": "cosine", "perturbation": 0.0}, gate_intercept=[-0.76, 0.0],
        gate_coef=[[0.1], [-0.1]], **_EXPERTS),
    "laplace": MixingMeasure(gate="laplace", gate_intercept=[0.36, 0.0],
                             gate_coef=[[0.75], [0.25]], **_EXPERTS),
    "constant": MixingMeasure(gate="constant", gate_intercept=[0.754, 0.0],
                              **_EXPERTS),
}
#: The options of run_rate_study of every gate's study: exact-fitted, one start
#: near the truth, the certified fit (Newton after EM, default gtol), D1 only.
GATE_STUDY = {"n_experts": 2, "init": "near_truth", "n_init": 1, "tol": 1e-6,
              "max_iter": 2000, "losses": ("D1",), **NEWTON}
GATE_SIZES = {"full": sample_size_grid(1_000, 100_000, 7),
              "quick": sample_size_grid(300, 3_000, 3)}
GATE_PRESETS = {"full": {"n_replications": 20},
                "quick": {"n_replications": 2, "max_iter": 200}}

#: Figure 10: the top-K sparse softmax gate on :data:`gmoe.datasets.TOPK_TRUTH`
#: (k0 = 4 experts, d = 2 covariates on [0, 1]^2, top-2 gate), data drawn from it
#: with its top-2 gate, by :func:`gmoe.simulation.run_topk_study` (every draw from
#: ``SeedSequence(entropy=RANDOM_STATE, spawn_key=(n, r))``, so both regimes fit
#: the same data sets).  Two regimes, by name: (fitted k, fitted K, loss)
#:
#: - ``exact``: k = k0 = 4 with the truth's top-2 gate, loss D1;
#: - ``over``: k = 5 with a top-3 gate (the default of ``run_topk_study``: one
#:   true atom's cell of two fitted atoms takes two of the selected slots, so
#:   K = 2 cannot fit the truth's density), loss D2.
#:
#: Certified fits (EM to tol 1e-6, then the Newton finish whose ``converged_`` is
#: the piecewise certificate), one start near the truth.
#: The over-fitted regimes: with the truth's K (a fifth expert that is never
#: selected reproduces the truth, so the model nests it) and with K + 1 (a top-3
#: gate always weights a third expert: it does not nest a top-2 truth).
TOPK_REGIMES = {"exact": (4, 2, "D1"), "over": (5, 2, "D2"),
                "over_top3": (5, 3, "D2")}
#: The selection boundaries of TOPK_TRUTH: its top-2 set changes where the scores
#: of two opposite experts tie, expert 1 and 3 on the line x_1 = 0.5, expert 2 and
#: 4 on x_2 = 0.5 (0-based pairs below).  Two opposite experts are never selected
#: together, so the difference of their scores enters the likelihood only through
#: where the selection changes (Figure 10 measures how far the fitted lines are
#: from these).
TOPK_BOUNDARIES = ((0, 2), (1, 3))
TOPK_STUDY = {"solver": "newton", "tol": 1e-6, "max_iter": 2000}
TOPK_SIZES = {"full": sample_size_grid(1_000, 100_000, 7),
              "quick": sample_size_grid(300, 3_000, 3)}
TOPK_PRESETS = {"full": {"n_replications": 20},
                "quick": {"n_replications": 2, "max_iter": 200}}

PRESETS = {
    "full": {"n_replications": 20},
    "quick": {"n_replications": 3, "max_iter": 200},
}

#: Replications of a grid where they differ from the preset's.
REPLICATIONS = {"full": {"large": 40}, "quick": {}}

RANDOM_STATE = 2023

#: The picture of three true linear experts and ten fitted ones
#: (Figure 5), and of the load-balancing study (Figure 11).
CELLS_TRUTH = {
    "gate_intercept": np.array([0.0, 1.0, 0.0]),
    "gate_coef": np.array([[-6.0], [0.0], [0.0]]),
    "expert_intercept": np.array([4.0, 0.0, -4.0]),
    "expert_coef": np.array([[-3.0], [2.0], [4.0]]),
    "expert_variance": np.array([0.09, 0.09, 0.09]),
}
TRUTH = MixingMeasure.from_params(**N23_TRUTH)


def results_path(name, quick=False):
    """The CSV of study ``name`` (the quick preset writes beside the full one)."""
    return RESULTS / (f"{name}_quick.csv" if quick else f"{name}.csv")


def load(name, quick=False):
    """The tidy results of study ``name``."""
    path = results_path(name, quick)
    if not path.exists():
        raise SystemExit(
            f"{path} is missing: run `python -m paper_figures.compute"
            f"{' --quick' if quick else ''}` first."
        )
    return pd.read_csv(path)


def reference_losses(results, kind):
    """``kind`` loss of every fit under the official code's convention.

    The reference convention of [N23]'s code: the last expert's gate is the
    reference (0, 0) in both measures and no infimum over translations is taken.
    Recomputed from the fitted parameters stored with each fit.
    """
    values = []
    for text in results["params"]:
        if not isinstance(text, str):
            values.append(np.nan)
            continue
        params = {key: np.asarray(value) for key, value in json.loads(text).items()}
        values.append(voronoi_loss(MixingMeasure.from_params(**params), TRUTH,
                                   kind=kind, translation="reference"))
    return np.asarray(values)


def save_study(name, table, seconds, n_jobs, quick=False):
    """Write a study's ``table`` to ``results/<name>[_quick].csv`` and its wall
    time to ``results/<name>_timing[_quick].json``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    table.to_csv(results_path(name, quick), index=False)
    suffix = "_quick" if quick else ""
    (RESULTS / f"{name}_timing{suffix}.json").write_text(json.dumps(
        {"seconds": seconds, "fits": len(table), "n_jobs": n_jobs}, indent=1))


def save(fig, name, quick=False):
    """Write ``fig`` as a PNG under figures/ and return its path."""
    FIGURES.mkdir(parents=True, exist_ok=True)
    path = FIGURES / (f"{name}_quick.png" if quick else f"{name}.png")
    fig.savefig(path, dpi=130, bbox_inches="tight")
    return path


def quick_flag(argv=None):
    """``--quick`` on the command line of a figure script."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true",
                        help="draw from the quick preset's results")
    return parser.parse_args(argv).quick
