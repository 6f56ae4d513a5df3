"""Standard errors and intervals of GaussianMoERegressor: coverage, speed, flexmix.

Three studies, one sub-command each:

``coverage``
    Many data sets from a known exact-fitted truth (k0 = 2); each is fitted from
    the truth (``init_params``, ``n_init=1``: the local maximum-likelihood estimate
    near the truth, whose sampling distribution the intervals describe), then
    Wald, sandwich and (optionally) bootstrap intervals are made and checked
    against the true parameters.  Coverage is reported per method and parameter
    group with a 95 % Wilson interval; rows that came out NaN are counted apart.
``timing``
    ``summary()`` of a fit at n = 1e5, k = 3 (Wald and sandwich), and a
    200-replicate bootstrap at n = 1e4, k = 3 on ``--n-jobs`` workers.
``flexmix``
    One shared data set fitted by gmoe and by R flexmix (started from gmoe's
    responsibilities, ``cluster =``), flexmix's ``summary(refit(fit))`` standard
    errors against gmoe's Wald ones, mapped to the same parameterisation.

Examples::

    nice -n 10 python benchmarks/bench_inference.py coverage --truth mild \\
        --n 2000 --n-datasets 200 --n-boot 200 --output /tmp/cov_mild
    python benchmarks/bench_inference.py timing --n-jobs 2
    python benchmarks/bench_inference.py flexmix --output /tmp/flexmix_se
"""

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
import scipy.stats

from gmoe import GaussianMoERegressor, InferenceWarning
from gmoe.datasets import N23_TRUTH, PARAM_NAMES, make_moe_regression
from gmoe.inference._align import align_experts

HERE = Path(__file__).resolve().parent

#: A mild exact-fitted truth (k0 = 2, d = 1, X ~ U[-2, 2]): the gate switches
#: over about one unit of x, the experts cross at x = 0.5.
MILD_TRUTH = {
    "gate_intercept": np.array([-1.0, 0.0]),
    "gate_coef": np.array([[2.0], [0.0]]),
    "expert_intercept": np.array([1.0, -1.0]),
    "expert_coef": np.array([[-2.0], [2.0]]),
    "expert_variance": np.array([0.25, 0.16]),
}

#: A k = 3, d = 2 truth for the timings (the test suite's TRUTH_3X2).
TRUTH_3X2 = {
    "gate_intercept": np.array([0.5, -0.5, 0.0]),
    "gate_coef": np.array([[2.0, -1.0], [-2.0, 1.5], [0.0, 0.0]]),
    "expert_intercept": np.array([4.0, -3.0, 0.0]),
    "expert_coef": np.array([[1.0, 2.0], [-2.0, 0.5], [0.0, -1.0]]),
    "expert_variance": np.array([0.25, 0.09, 0.16]),
}

TRUTHS = {"mild": (MILD_TRUTH, -2.0, 2.0), "n23": (N23_TRUTH, 0.0, 1.0)}

GROUPS = {
    "gate_intercept": "gate",
    "gate_coef": "gate",
    "expert_intercept": "expert",
    "expert_coef": "expert",
    "expert_variance": "variance",
}


def _wilson(successes, total, level=0.95):
    if total == 0:
        return np.nan, np.nan
    z = scipy.stats.norm.ppf(0.5 + level / 2)
    phat = successes / total
    centre = (phat + z * z / (2 * total)) / (1 + z * z / total)
    half = z * np.sqrt(phat * (1 - phat) / total + z * z / (4 * total * total)) / (
        1 + z * z / total)
    return centre - half, centre + half


def _markdown(table, digits=4):
    """A DataFrame as a markdown table (no tabulate dependency)."""
    def cell(value):
        if isinstance(value, float):
            return f"{value:.{digits}g}"
        return str(value)

    lines = ["| " + " | ".join(map(str, table.columns)) + " |",
             "|" + "---|" * len(table.columns)]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)


def _true_column(truth, table):
    values = []
    for name, expert, feature in zip(table["parameter"], table["expert"],
                                     table["feature"], strict=True):
        value = np.asarray(truth[name])
        values.append(float(value[expert] if value.ndim == 1
                            else value[expert, int(feature)]))
    return np.array(values)


def coverage(args):
    truth, low, high = TRUTHS[args.truth]
    methods = ["wald", "sandwich"] + (["bootstrap"] if args.n_boot > 0 else [])
    rows = []
    start = time.perf_counter()
    n_warned = 0
    for index in range(args.n_datasets):
        seed = np.random.SeedSequence(args.seed, spawn_key=(index,))
        X, y = make_moe_regression(args.n, truth, low=low, high=high,
                                   random_state=np.random.default_rng(seed))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            moe = GaussianMoERegressor(2, init_params=truth, n_init=1,
                                       random_state=0).fit(X, y)
            fitted = {name: getattr(moe, name + "_") for name in PARAM_NAMES}
            aligned, perm = align_experts(fitted, truth)
            if not np.array_equal(perm, np.arange(2)):
                print(f"data set {index}: fit relabelled {perm}", file=sys.stderr)
            tables = {}
            for method in methods:
                options = {}
                if method == "bootstrap":
                    options = {"n_boot": args.n_boot, "bootstrap": args.bootstrap,
                               "random_state": seed.spawn(1)[0], "n_jobs": 1}
                tables[method] = moe.summary(X, y, level=args.level, method=method,
                                             **options)
        n_warned += any(issubclass(w.category, InferenceWarning) for w in caught)
        for method, table in tables.items():
            true = _true_column(truth, table)
            reference = table["std_error"].isna() & (table["estimate"] == 0)
            for r in np.flatnonzero(~reference.to_numpy()):
                lo, hi = table["lower"].iloc[r], table["upper"].iloc[r]
                rows.append({
                    "dataset": index, "method": method,
                    "parameter": table["parameter"].iloc[r],
                    "expert": int(table["expert"].iloc[r]),
                    "truth": true[r], "estimate": table["estimate"].iloc[r],
                    "std_error": table["std_error"].iloc[r], "lower": lo,
                    "upper": hi, "nan": bool(np.isnan(lo)),
                    "covered": bool(lo <= true[r] <= hi),
                })
        if (index + 1) % 10 == 0:
            print(f"{index + 1}/{args.n_datasets} data sets, "
                  f"{time.perf_counter() - start:.0f} s", file=sys.stderr)
    elapsed = time.perf_counter() - start
    results = pd.DataFrame(rows)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    results.to_csv(out / "coverage_rows.csv", index=False)
    results["group"] = results["parameter"].map(GROUPS)
    summary = []
    for keys, part in results.groupby(["method", "group", "parameter", "expert"]):
        valid = part[~part["nan"]]
        lo, hi = _wilson(int(valid["covered"].sum()), len(valid), args.level)
        summary.append({
            "method": keys[0], "parameter": keys[2], "expert": keys[3],
            "n_intervals": len(valid), "n_nan": int(part["nan"].sum()),
            "coverage": valid["covered"].mean(), "wilson_low": lo,
            "wilson_high": hi,
            "mean_se": valid["std_error"].mean(),
            "sd_estimate": part.drop_duplicates("dataset")["estimate"].std(),
        })
    summary = pd.DataFrame(summary)
    groups = []
    for keys, part in results.groupby(["method", "group"]):
        valid = part[~part["nan"]]
        lo, hi = _wilson(int(valid["covered"].sum()), len(valid), args.level)
        groups.append({"method": keys[0], "group": keys[1],
                       "n_intervals": len(valid), "n_nan": int(part["nan"].sum()),
                       "coverage": valid["covered"].mean(), "wilson_low": lo,
                       "wilson_high": hi})
    groups = pd.DataFrame(groups)
    summary.to_csv(out / "coverage_by_parameter.csv", index=False)
    groups.to_csv(out / "coverage_by_group.csv", index=False)
    header = (f"truth={args.truth}, n={args.n}, {args.n_datasets} data sets, "
              f"level={args.level}, bootstrap={args.bootstrap} x {args.n_boot}, "
              f"{n_warned} data set(s) with an InferenceWarning, "
              f"{elapsed:.0f} s")
    text = "\n\n".join([header, _markdown(groups, 3),
                        _markdown(summary)])
    (out / "coverage.md").write_text(text + "\n")
    print(text)


def timing(args):
    X, y = make_moe_regression(100_000, TRUTH_3X2, low=-2, high=2, random_state=3)
    moe = GaussianMoERegressor(3, init_params=TRUTH_3X2, n_init=1,
                               random_state=0).fit(X, y)
    moe.summary(X, y, method="sandwich")  # compile, warm the caches
    for method in ("wald", "sandwich"):
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            moe.summary(X, y, method=method)
            times.append(time.perf_counter() - t0)
        print(f"summary(method={method!r}) at n=1e5, k=3, d=2: median "
              f"{np.median(times):.3f} s, min {np.min(times):.3f} s over 5")
    X, y = make_moe_regression(10_000, TRUTH_3X2, low=-2, high=2, random_state=4)
    moe = GaussianMoERegressor(3, init_params=TRUTH_3X2, n_init=1,
                               random_state=0).fit(X, y)
    for kind in ("nonparametric", "parametric"):
        t0 = time.perf_counter()
        table = moe.summary(X, y, method="bootstrap", n_boot=args.n_boot,
                            bootstrap=kind, random_state=0, n_jobs=args.n_jobs)
        elapsed = time.perf_counter() - t0
        print(f"{kind} bootstrap, {args.n_boot} refits at n=1e4, k=3, d=2, "
              f"n_jobs={args.n_jobs}: {elapsed:.1f} s")
        print("  " + table.attrs["notes"][-1])


def flexmix(args):
    truth, low, high = TRUTHS[args.truth]
    X, y = make_moe_regression(args.n, truth, low=low, high=high,
                               random_state=args.seed)
    moe = GaussianMoERegressor(2, random_state=0).fit(X, y)
    ours = moe.summary(X, y)
    resp = moe.predict_responsibilities(X, y)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.csv"
        pd.DataFrame({"x": X[:, 0], "y": y, "p1": resp[:, 0],
                      "p2": resp[:, 1]}).to_csv(data, index=False)
        result = Path(tmp) / "refit.json"
        subprocess.run(["Rscript", str(HERE / "flexmix_refit.R"), str(data),
                        str(result)], check=True)
        fm = json.loads(result.read_text())
    rows = _compare_flexmix(moe, ours, fm)
    table = pd.DataFrame(rows)
    table.to_csv(out / "flexmix_se.csv", index=False)
    text = (f"truth={args.truth}, n={args.n}; gmoe log-likelihood "
            f"{moe.log_likelihood_:.4f}, flexmix {fm['loglik']:.4f} "
            f"({fm['iter']} EM iterations from gmoe's responsibilities)\n\n"
            + _markdown(table, 5))
    (out / "flexmix_se.md").write_text(text + "\n")
    print(text)


def _compare_flexmix(moe, ours, fm):
    """Rows of gmoe's Wald table next to flexmix's refit standard errors.

    flexmix's gate ("concomitant") reference is its FIRST component and its
    experts report sigma (a standard deviation); gmoe's reference is the last
    expert and it reports the variance.  With k = 2, gmoe's gate row of expert 0
    is minus flexmix's gate row of component 2 (same standard error); flexmix's
    sigma standard error converts to the variance's by the delta method,
    se(sigma^2) = 2 sigma se(sigma).
    """
    se = ours.set_index(["parameter", "expert"])
    rows = []

    def add(name, label, ours_value, ours_se, fm_value, fm_se):
        rows.append({"parameter": name, "expert": label, "gmoe_estimate": ours_value,
                     "flexmix_estimate": fm_value, "gmoe_se": ours_se,
                     "flexmix_se": fm_se,
                     "se_ratio": fm_se / ours_se if ours_se else np.nan})

    for i in range(2):
        comp = fm["experts"][i]
        for name, key in (("expert_intercept", "(Intercept)"),
                          ("expert_coef", "x")):
            r = se.loc[(name, i)]
            add(name, i, r["estimate"], r["std_error"], comp["estimate"][key],
                comp["se"][key])
        r = se.loc[("expert_variance", i)]
        sigma, sigma_se = comp["estimate"]["sigma"], comp["se"]["sigma"]
        add("expert_variance", i, r["estimate"], r["std_error"], sigma**2,
            2 * sigma * sigma_se)
    gate = fm["gate"]
    for name, key in (("gate_intercept", "(Intercept)"), ("gate_coef", "x")):
        r = se.loc[(name, 0)]
        add(name, 0, r["estimate"], r["std_error"], -gate["estimate"][key],
            gate["se"][key])
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cov = sub.add_parser("coverage", help="coverage of the intervals")
    cov.add_argument("--truth", choices=sorted(TRUTHS), default="mild")
    cov.add_argument("--n", type=int, default=2000)
    cov.add_argument("--n-datasets", type=int, default=200)
    cov.add_argument("--n-boot", type=int, default=200,
                     help="bootstrap refits per data set (0: no bootstrap)")
    cov.add_argument("--bootstrap", choices=("nonparametric", "parametric"),
                     default="nonparametric")
    cov.add_argument("--level", type=float, default=0.95)
    cov.add_argument("--seed", type=int, default=2026)
    cov.add_argument("--output", default="/tmp/bench_inference_coverage")
    tim = sub.add_parser("timing", help="summary and bootstrap times")
    tim.add_argument("--n-boot", type=int, default=200)
    tim.add_argument("--n-jobs", type=int, default=2)
    fmx = sub.add_parser("flexmix", help="standard errors against flexmix refit")
    fmx.add_argument("--truth", choices=sorted(TRUTHS), default="mild")
    fmx.add_argument("--n", type=int, default=2000)
    fmx.add_argument("--seed", type=int, default=7)
    fmx.add_argument("--output", default="/tmp/bench_inference_flexmix")
    args = parser.parse_args(argv)
    {"coverage": coverage, "timing": timing, "flexmix": flexmix}[args.command](args)


if __name__ == "__main__":
    main()
