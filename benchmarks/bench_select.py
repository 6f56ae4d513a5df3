"""Choosing the number of experts: speed and correctness of select_n_experts / DSC.

Usage (from the repository root; each part prints a table and appends it to
``benchmarks/select_results.md`` with the command and the date)::

    python benchmarks/bench_select.py mcycle [--jobs 2] [--flexmix FILE.csv]
    python benchmarks/bench_select.py large  [--jobs 2]
    python benchmarks/bench_select.py grid   [--jobs 2] [--reps 3] [--n 5000]

- ``mcycle``: the sweep k = 1..8 on mcycle (wall time with ``--jobs`` workers and
  with one), the BIC per k next to flexmix's (``--flexmix``: the CSV of
  ``Rscript benchmarks/flexmix_select_mcycle.R``), and DSC from one 8-expert fit.
- ``large``: n = 1e5 ([N23] truth), the sweep k = 1..6 against DSC from one
  6-expert fit.
- ``grid``: the choice of BIC and DSC at n = 5000 on well separated truths with
  k0 = 2, 3, 4 experts and d = 1, 2, 3 features (sweep k = 1..k0 + 2), and DSC on
  three lines with ten experts fitted.
"""

import argparse
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from gmoe import GaussianMoERegressor, MixingDendrogram, select_n_experts
from gmoe.datasets import load_mcycle, make_moe_regression

OUT = Path(__file__).with_name("select_results.md")

THREE_LINES = {
    "gate_intercept": np.array([0.0, 1.0, 0.0]),
    "gate_coef": np.array([[-6.0], [0.0], [0.0]]),
    "expert_intercept": np.array([4.0, 0.0, -4.0]),
    "expert_coef": np.array([[-3.0], [2.0], [4.0]]),
    "expert_variance": np.array([0.09, 0.09, 0.09]),
}


def separated_truth(k0, d, sharpness=6.0):
    """k0 well separated experts on X ~ U[-1, 1]^d.

    Gate: the softmax of :math:`-\\gamma \\|x - c_i\\|^2`, i.e. slopes
    :math:`2 \\gamma c_i` and intercepts :math:`-\\gamma \\|c_i\\|^2`, whose regions
    are the Voronoi regions of the centres ``c_i`` (on a segment for d = 1, on a
    circle of radius 0.6 in the first two coordinates otherwise).  Experts:
    intercepts 4 apart, slopes of alternating sign, variance 0.09.
    """
    if d == 1:
        centres = np.linspace(-0.7, 0.7, k0)[:, None]
    else:
        angles = 2 * np.pi * np.arange(k0) / k0
        centres = np.zeros((k0, d))
        centres[:, 0], centres[:, 1] = 0.6 * np.cos(angles), 0.6 * np.sin(angles)
    slopes = np.array([(-1) ** i * (1 + i % 2) for i in range(k0)], dtype=float)
    return {
        "gate_intercept": -sharpness * np.sum(centres**2, axis=1),
        "gate_coef": 2 * sharpness * centres,
        "expert_intercept": 4.0 * np.arange(k0) - 2.0 * (k0 - 1),
        "expert_coef": slopes[:, None] * np.ones((k0, d)) / np.sqrt(d),
        "expert_variance": np.full(k0, 0.09),
    }


def record(title, table, command):
    text = (f"\n## {title}\n\n`{command}` ({time.strftime('%Y-%m-%d %H:%M')}, "
            f"{platform.machine()}, load average "
            f"{', '.join(f'{v:.1f}' for v in __import__('os').getloadavg())})\n\n"
            f"```\n{table}\n```\n")
    print(text)
    with OUT.open("a") as handle:
        handle.write(text)


def dsc_from_one_fit(X, y, k_max, seed):
    """``select_n_experts(..., "dsc")``: the k_max fit (the sweep's own, same
    seed), the dendrogram and the refit of the chosen model; wall seconds."""
    start = time.perf_counter()
    selection = select_n_experts(X, y, range(1, k_max + 1), "dsc",
                                 random_state=seed)
    return selection.dendrogram_, time.perf_counter() - start


def bench_mcycle(args, command):
    X, y = load_mcycle(return_X_y=True)
    select_n_experts(X, y, [1, 2], random_state=0, n_jobs=args.jobs)  # warm-up
    start = time.perf_counter()
    selection = select_n_experts(X, y, range(1, 9), random_state=0, n_jobs=args.jobs)
    wall = time.perf_counter() - start
    start = time.perf_counter()
    select_n_experts(X, y, range(1, 9), random_state=0, n_jobs=1)
    wall_one = time.perf_counter() - start
    table = selection.results_[["n_experts", "log_likelihood", "bic", "icl",
                                "icl_map", "aic", "n_degenerate"]].copy()
    if args.flexmix:
        flex = pd.read_csv(args.flexmix).set_index("k")
        table["flexmix_loglik"] = flex.loc[table["n_experts"], "loglik"].to_numpy()
        table["flexmix_BIC"] = flex.loc[table["n_experts"], "BIC"].to_numpy()
        table["flexmix_ICL"] = flex.loc[table["n_experts"], "ICL"].to_numpy()
        flex_choice = int(flex["BIC"].idxmin())
        flex_seconds = float(flex["seconds"].sum())
    tree, dsc_time = dsc_from_one_fit(X, y, 8, 0)  # same seed as the sweep
    lines = [table.round(2).to_string(index=False), "",
             f"gmoe BIC chooses k = {selection.n_experts_}; ICL chooses "
             f"{int(table.loc[table['icl'].idxmin(), 'n_experts'])}",
             f"sweep k = 1..8: {wall:.2f} s with n_jobs={args.jobs}, "
             f"{wall_one:.2f} s with n_jobs=1",
             f"DSC from one 8-expert fit: k = {tree.n_experts_}, {dsc_time:.2f} s "
             "(fit, dendrogram, refit)"]
    if args.flexmix:
        lines.append(f"flexmix BIC chooses k = {flex_choice} "
                     f"(stepFlexmix, {flex_seconds:.0f} s for k = 1..8)")
    record("mcycle: sweep k = 1..8", "\n".join(lines), command)


def bench_large(args, command):
    X, y = make_moe_regression(100_000, random_state=0)
    select_n_experts(X[:500], y[:500], [1, 2], random_state=0, n_jobs=args.jobs)
    start = time.perf_counter()
    selection = select_n_experts(X, y, range(1, 7), random_state=0, n_jobs=args.jobs)
    wall = time.perf_counter() - start
    tree, dsc_time = dsc_from_one_fit(X, y, 6, 0)  # same seed as the sweep
    table = selection.results_[["n_experts", "log_likelihood", "bic", "converged",
                                "n_degenerate", "fit_time"]]
    lines = [table.round(2).to_string(index=False), "",
             f"sweep k = 1..6 at n = 1e5: {wall:.1f} s with n_jobs={args.jobs}; "
             f"BIC chooses k = {selection.n_experts_}",
             f"DSC from one 6-expert fit: {dsc_time:.1f} s (fit, dendrogram, refit); "
             f"DSC chooses k = {tree.n_experts_}"]
    record("n = 1e5, [N23] truth: sweep against DSC", "\n".join(lines), command)


def _grid_case(case, k0, d, rep, n):
    truth = THREE_LINES if k0 == "lines" else separated_truth(k0, d)
    seq = np.random.SeedSequence(2024, spawn_key=(case, rep))
    data_seed, fit_seed = (int(s) for s in seq.generate_state(2))
    X, y = make_moe_regression(n, truth, low=-1, high=1, random_state=data_seed)
    if k0 == "lines":
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = GaussianMoERegressor(10, n_init=10, n_refine=2,
                                         random_state=fit_seed).fit(X, y)
        tree = MixingDendrogram(model, X, y)
        seconds = time.perf_counter() - start
        return {"truth": "three lines, 10 fitted", "k0": 3, "d": 1, "rep": rep,
                "bic": np.nan, "dsc": tree.n_experts_, "sweep_s": np.nan,
                "dsc_s": seconds}
    start = time.perf_counter()
    selection = select_n_experts(X, y, range(1, k0 + 3), random_state=fit_seed)
    sweep = time.perf_counter() - start
    table = selection.results_
    k_max = k0 + 2
    tree = MixingDendrogram(selection.estimators_[k_max], X, y)
    return {"truth": f"k0={k0}, d={d}", "k0": k0, "d": d, "rep": rep,
            "bic": selection.n_experts_, "dsc": tree.n_experts_, "sweep_s": sweep,
            "dsc_s": float(table.loc[table["n_experts"] == k_max,
                                     "fit_time"].iloc[0])}


def bench_grid(args, command):
    from joblib import Parallel, delayed

    cases = [(k0, d) for k0 in (2, 3, 4) for d in (1, 2, 3)] + [("lines", 1)]
    rows = Parallel(n_jobs=args.jobs)(
        delayed(_grid_case)(case, k0, d, rep, args.n)
        for case, (k0, d) in enumerate(cases) for rep in range(args.reps))
    frame = pd.DataFrame(rows)
    summary = frame.groupby("truth", sort=False).agg(
        k0=("k0", "first"), d=("d", "first"), data_sets=("rep", "size"),
        bic_right=("bic", lambda s: int(np.sum(s == frame.loc[s.index, "k0"]))),
        bic_choices=("bic", lambda s: " ".join(str(int(v)) if v == v else "-"
                                               for v in s)),
        dsc_right=("dsc", lambda s: int(np.sum(s == frame.loc[s.index, "k0"]))),
        dsc_choices=("dsc", lambda s: " ".join(str(int(v)) for v in s)),
        sweep_s=("sweep_s", "median"), dsc_s=("dsc_s", "median"))
    record(f"Right k at n = {args.n}: BIC and DSC", summary.round(1).to_string(),
           command)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["mcycle", "large", "grid"])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--flexmix", default=None,
                        help="CSV of benchmarks/flexmix_select_mcycle.R")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--n", type=int, default=5000)
    args = parser.parse_args(argv)
    command = "python benchmarks/bench_select.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    {"mcycle": bench_mcycle, "large": bench_large, "grid": bench_grid}[args.part](
        args, command)


if __name__ == "__main__":
    main()
