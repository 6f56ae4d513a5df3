"""Does gmoe's default fit reach the best-known maxima of the real-data panel?

For every case of ``tests/data/panel/best_known.json`` (data set, target, features,
k) this fits ``GaussianMoERegressor(k, random_state=0)`` with the DEFAULT settings
of the installed gmoe, after one warm-up fit (numba compilation excluded), and
reports its conditional log-likelihood, the gap to the case's
``best_regular_loglik`` (best known non-spurious maximum), whether it is reached
(gap <= 0.01), whether the fit is spurious (an expert with effective size below
d + 3 or variance below 1e-4 var(y): a negative gap then means a spurious maximum
above the best regular one, not a better fit), ``converged_``, ``n_iter_`` and the
wall-clock time (median of
``--repeat`` fits).  R flexmix is timed on the same cases in the same run
(``Rscript benchmarks/flexmix_panel.R``: stepFlexmix with ``--flexmix-nrep``
random starts, iter.max 2000, tol 1e-10, minprior 0; R start-up and data reading
excluded), and the ratio flexmix time / gmoe time is given both for flexmix's
whole stepFlexmix call and per flexmix start.  A gap below zero means gmoe beat
the stored best-known value (then re-run compute_best_known.py).

Usage (repository root):
    python benchmarks/bench_panel.py                  # all 18 cases, flexmix nrep 10
    python benchmarks/bench_panel.py --quick          # 6 cases, flexmix nrep 1
    python benchmarks/bench_panel.py --cases mcycle_k3,CO2data_k3 --no-flexmix
    python benchmarks/bench_panel.py --seeds 20 --no-flexmix --n-split-merge 0
Writes a CSV (``--output``, default /tmp/bench_panel.csv) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from gmoe.engine._search import rounding_variance

ROOT = Path(__file__).resolve().parents[1]
BEST = ROOT / "tests" / "data" / "panel" / "best_known.json"
QUICK = ["mcycle_k2", "mcycle_k3", "faithful_k2", "CO2data_k3", "NPreg_k2", "cars_k2"]
REACH_TOL = 0.01


def run_flexmix(cases, nrep):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "fx.json"
        cmd = [
            "Rscript",
            str(ROOT / "benchmarks" / "flexmix_panel.R"),
            "--cases",
            ",".join(cases),
            "--nrep",
            str(nrep),
            "--out",
            str(out),
        ]
        print("running:", " ".join(cmd), flush=True)
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if res.returncode != 0:
            print("flexmix failed:\n" + res.stderr, file=sys.stderr)
            return {}
        print(res.stdout, end="")
        return {r["case"]: r for r in json.loads(out.read_text())}


def _outcome(model, X, y, best_regular):
    """(log-likelihood, gap to the best-known regular optimum, spurious) of a fit:
    spurious when an expert has an effective size below d + 3 or a variance below
    1e-4 var(y) or below the rounding variance h^2 / 12 of y (h the smallest gap
    between distinct values of y)."""
    ll = float(model.log_likelihood_)
    eff = np.asarray(model.expert_weight_) * len(y)
    var = np.asarray(model.expert_variance_)
    spurious = bool((eff < X.shape[1] + 3).any() or (var < 1e-4 * y.var()).any()
                    or (var < rounding_variance(y)).any())
    return ll, best_regular - ll, spurious


def _reached(gap, spurious):
    """The best-known regular optimum is reached: within REACH_TOL of it, or
    above it with a regular fit."""
    return bool(abs(gap) <= REACH_TOL or (gap < 0 and not spurious))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help=f"only {', '.join(QUICK)}; flexmix with nrep 1",
    )
    ap.add_argument("--cases", help="comma-separated case names")
    ap.add_argument("--no-flexmix", action="store_true", help="time gmoe only")
    ap.add_argument(
        "--flexmix-nrep",
        type=int,
        default=None,
        help="flexmix random starts (default 10, 1 with --quick)",
    )
    ap.add_argument("--repeat", type=int, default=3, help="timed gmoe fits per case")
    ap.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="fit random_state 0..SEEDS-1 per case (one fit each) and report how "
        "many reach the best-known regular optimum, and the gaps of the others",
    )
    ap.add_argument("--n-split-merge", type=int, default=None,
                    help="n_split_merge of the fits (default: the estimator's; 0 "
                    "turns the split-and-merge moves off)")
    ap.add_argument("--output", default="/tmp/bench_panel.csv")
    args = ap.parse_args()
    options = ({} if args.n_split_merge is None
               else {"n_split_merge": args.n_split_merge})

    import gmoe
    from gmoe import GaussianMoERegressor as GMoE
    best = {e["case"]: e for e in json.loads(BEST.read_text())["cases"]}
    names = list(best)
    if args.quick:
        names = [c for c in QUICK if c in best]
    if args.cases:
        names = args.cases.split(",")
        unknown = [c for c in names if c not in best]
        if unknown:
            ap.error(f"unknown case(s): {unknown}")
    nrep = args.flexmix_nrep or (1 if args.quick else 10)
    fx = {} if args.no_flexmix else run_flexmix(names, nrep)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # warm-up: numba compiles (or loads its cache) outside the timed fits
        GMoE(2, random_state=0).fit(
            np.linspace(0, 1, 50)[:, None], np.linspace(0, 1, 50)
        )
        rows = []
        for name in names:
            e = best[name]
            data = pd.read_csv(
                ROOT / "tests" / "data" / "panel" / f"{e['dataset']}.csv"
            )
            X = data[e["features"]].to_numpy(float)
            y = data[e["target"]].to_numpy(float)
            times, seeds = [], []
            for seed in range(args.seeds or 1):
                for _ in range(1 if args.seeds else max(1, args.repeat)):
                    t0 = time.perf_counter()
                    m = GMoE(e["k"], random_state=seed, **options).fit(X, y)
                    times.append(time.perf_counter() - t0)
                seeds.append(_outcome(m, X, y, e["best_regular_loglik"]))
            ll, gap, spurious = seeds[0]
            f = fx.get(name)
            sec = float(np.median(times))
            hits = [_reached(g, sp) for _, g, sp in seeds]
            misses = sorted({round(g, 2) for _, g, sp in seeds
                             if not _reached(g, sp)})
            rows.append(
                {
                    "case": name,
                    "n": e["n"],
                    "k": e["k"],
                    "best_regular_loglik": e["best_regular_loglik"],
                    "gmoe_loglik": ll,
                    "gap": gap,
                    "reached": _reached(gap, spurious),
                    **({"hits": f"{sum(hits)}/{len(hits)}",
                        "missed_gaps": " ".join(f"{g:g}" for g in misses)}
                       if args.seeds else {}),
                    "spurious": spurious,
                    "converged": bool(m.converged_),
                    "n_iter": int(m.n_iter_),
                    "gmoe_seconds": sec,
                    "flexmix_loglik": f["loglik"] if f else np.nan,
                    "flexmix_nrep": nrep if f else np.nan,
                    "flexmix_seconds": f["seconds"] if f else np.nan,
                    "ratio_flexmix_total": f["seconds"] / sec if f else np.nan,
                    "ratio_flexmix_per_start": f["seconds"] / nrep / sec
                    if f
                    else np.nan,
                }
            )
    df = pd.DataFrame(rows)
    df.to_csv(args.output, index=False)
    print(
        f"\ngmoe {getattr(gmoe, '__version__', '?')} ({gmoe.__file__}), "
        f"default GaussianMoERegressor(k, random_state=0); flexmix nrep {nrep}"
    )
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(
            df.drop(columns=["flexmix_nrep"]).to_string(
                index=False, float_format=lambda v: f"{v:.3f}"
            )
        )
    if args.seeds:
        hit = sum(int(h.split("/")[0]) for h in df.hits)
        print(f"\nover {args.seeds} seeds per case: {hit}/{args.seeds * len(df)} fits "
              f"({100 * hit / (args.seeds * len(df)):.1f} %) reach the best-known "
              "regular optimum")
    print(
        f"\nreached {int(df.reached.sum())}/{len(df)} (gap <= {REACH_TOL}); "
        f"spurious fits (an expert with effective size < d + 3, or variance "
        f"< 1e-4 var(y) or < h^2 / 12): {int(df.spurious.sum())}; wrote {args.output}"
    )


if __name__ == "__main__":
    main()
