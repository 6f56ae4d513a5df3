"""Time ``GaussianMoERegressor`` fits, and the same fits in R flexmix.

For every (k, d) a true mixture of experts is drawn with a fixed seed
(:func:`make_truth`); for every n the data are drawn from it.  Both tools start
from the SAME point: gmoe's k-means start (one k-means run, one M-step) is
computed once, gmoe's EM starts there (``init_params``), and flexmix starts from
the responsibilities at that point (``cluster =``), so that its first M-step is
gmoe's first M-step.  The time of the start itself is not counted for either
tool.

Stopping rules.  gmoe stops when the change of the mean log-likelihood per
sample is at most ``tol``; flexmix when ``|dL| / (|L| + 0.1) < tol_rel`` with
``L`` the total log-likelihood.  With ``L ~ n * l`` (``l`` the mean
log-likelihood) the two agree when ``tol = tol_rel * |l|``; gmoe's ``tol`` is set
so, with ``l`` the mean log-likelihood of the data at the true parameters.

Results: a CSV and a markdown table (``--output PREFIX``), one row per tool and
cell, with the time ratio flexmix / gmoe and the log-likelihood difference
gmoe - flexmix on the flexmix rows; then the time of one EM iteration of gmoe in
ns per (sample x expert), with its breakdown (E-step kernel, gate Newton passes,
the rest).

Examples::

    python benchmarks/bench_fit.py --quick
    python benchmarks/bench_fit.py --n 1e3 1e4 1e5 1e6 --k 2 3 10 --d 1 5 \\
        --flexmix-time-limit 900 --output /tmp/bench_fit
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.special
import scipy.stats
from sklearn.exceptions import ConvergenceWarning

from gmoe import GaussianMoERegressor
from gmoe.datasets import make_moe_regression

ROOT = Path(__file__).resolve().parents[1]
R_SCRIPT = ROOT / "benchmarks" / "flexmix_fit.R"
NAMES = ("gate_intercept", "gate_coef", "expert_intercept", "expert_coef",
         "expert_variance")
COLUMNS = ["tool", "n", "k", "d", "status", "time_s", "cpu_s", "iterations",
           "ms_per_iter", "converged", "loglik", "time_ratio_flexmix_over_gmoe",
           "cpu_ratio_flexmix_over_gmoe", "loglik_diff_gmoe_minus_flexmix"]


# ----------------------------------------------------------------------- models
def make_truth(k, d, seed=0):
    """A k-expert, d-covariate mixture of experts, fixed by ``(seed, k, d)``.

    Covariates live on [0, 1]^d.  Expert means are ``b_i + a_i . x`` with
    intercepts spread 2 apart and slopes N(0, 1); standard deviations uniform in
    [0.25, 0.5]; the gate has slopes N(0, 3^2) and intercepts N(0, 1), the last
    expert being the reference.
    """
    rng = np.random.default_rng([seed, k, d])
    gate_coef = rng.normal(0.0, 3.0, size=(k, d))
    gate_intercept = rng.normal(0.0, 1.0, size=k)
    gate_coef[-1] = 0.0
    gate_intercept[-1] = 0.0
    return {
        "gate_intercept": gate_intercept,
        "gate_coef": gate_coef,
        "expert_intercept": 2.0 * np.arange(k) + rng.normal(0.0, 0.25, size=k),
        "expert_coef": rng.normal(0.0, 1.0, size=(k, d)),
        "expert_variance": rng.uniform(0.25, 0.5, size=k) ** 2,
    }


def log_likelihood(params, X, y):
    """Conditional log-likelihood of (X, y) at ``params`` (plain numpy)."""
    logits = X @ params["gate_coef"].T + params["gate_intercept"]
    log_gate = logits - scipy.special.logsumexp(logits, axis=1, keepdims=True)
    means = X @ params["expert_coef"].T + params["expert_intercept"]
    log_density = scipy.stats.norm.logpdf(
        y[:, None], means, np.sqrt(params["expert_variance"])
    )
    return float(scipy.special.logsumexp(log_gate + log_density, axis=1).sum())


def start_params(X, y, k, seed):
    """gmoe's k-means start (k-means, then one M-step), in original units."""
    moe = GaussianMoERegressor(k, max_iter=0, solver="em", n_init=1,
                               init_params="kmeans", random_state=seed).fit(X, y)
    return {name: getattr(moe, name + "_").copy() for name in NAMES}


# -------------------------------------------------------------------- the tools
def fit_gmoe(X, y, k, start, tol, max_iter):
    """Time one gmoe fit from ``start``; return the row of the table."""
    moe = GaussianMoERegressor(k, init_params=start, tol=tol, max_iter=max_iter,
                               solver="em")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        t0, c0 = time.perf_counter(), time.process_time()
        moe.fit(X, y)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "tool": "gmoe", "status": "ok", "time_s": elapsed, "cpu_s": cpu,
        "iterations": moe.n_iter_,
        "converged": bool(moe.converged_), "loglik": moe.log_likelihood_,
    }


def write_bin(path, X, y):
    """The data in the binary layout ``flexmix_fit.R`` reads (fast for big n)."""
    n, d = X.shape
    values = np.concatenate([[n, d + 1], X.T.ravel(), y])
    values.astype("<f8").tofile(path)


def write_start(path, params):
    """Starting parameters as the CSV ``flexmix_fit.R --start`` reads."""
    d = params["gate_coef"].shape[1]
    columns = {"gate_intercept": params["gate_intercept"]}
    for j in range(d):
        columns[f"gate_coef_{j + 1}"] = params["gate_coef"][:, j]
    columns["expert_intercept"] = params["expert_intercept"]
    for j in range(d):
        columns[f"expert_coef_{j + 1}"] = params["expert_coef"][:, j]
    columns["expert_variance"] = params["expert_variance"]
    pd.DataFrame(columns).to_csv(path, index=False, float_format="%.17g")


def flexmix_available():
    """Whether ``Rscript`` exists and loads flexmix."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return False
    done = subprocess.run([rscript, "-e", "library(flexmix)"], capture_output=True)
    return done.returncode == 0


def fit_flexmix(X, y, k, start, tol_rel, max_iter, time_limit, workdir):
    """Run flexmix from ``start`` through ``flexmix_fit.R``; return the row."""
    workdir = Path(workdir)
    data, start_csv, out = (workdir / "data.bin", workdir / "start.csv",
                            workdir / "fit.json")
    write_bin(data, X, y)
    write_start(start_csv, start)
    out.unlink(missing_ok=True)
    command = [shutil.which("Rscript"), str(R_SCRIPT), "--data", str(data),
               "--k", str(k), "--start", str(start_csv), "--tol", repr(tol_rel),
               "--iter-max", str(max_iter), "--out", str(out)]
    try:
        subprocess.run(command, check=True, timeout=time_limit, capture_output=True)
    except subprocess.TimeoutExpired:
        return {"tool": "flexmix", "status": f"timeout > {time_limit:g} s"}
    except subprocess.CalledProcessError as error:
        message = error.stderr.decode(errors="replace").strip().splitlines()
        return {"tool": "flexmix",
                "status": "failed: " + (message[-1] if message else "unknown")}
    result = json.loads(out.read_text())
    status = "ok" if result["k_final"] == k else f"dropped to k={result['k_final']}"
    return {
        "tool": "flexmix", "status": status, "time_s": result["time"],
        "cpu_s": result["cpu_time"],
        "iterations": result["iterations"], "converged": result["converged"],
        "loglik": result["loglik"],
    }


# ------------------------------------------------------------ per-iteration cost
def _best_time(fit, clock, repeats=3):
    """Smallest of ``repeats`` timings of ``fit()`` on ``clock``."""
    times = []
    for _ in range(repeats):
        t0 = clock()
        fit()
        times.append(clock() - t0)
    return min(times)


def per_iteration(n, k, d, n_iter, seed):
    """gmoe's cost of one EM iteration, in ns per (sample x expert).

    A fit of exactly ``n_iter`` iterations (``tol = 0``) from a fixed start,
    timed as a whole (best of 3) and divided by ``n_iter * n * k``: in wall time
    with numba's threads, and in CPU time with one thread (which a busy machine
    disturbs less).  An instrumented one-thread run then splits the CPU time
    between the E-step kernel, the gate-statistics passes of the Newton M-step of
    the gate, and the rest (expert M-step, Newton solves, Python, start-up).
    """
    import numba

    import gmoe.engine._em as em
    import gmoe.engine._model as model_module

    truth = make_truth(k, d, seed)
    X, y = make_moe_regression(n, truth, random_state=np.random.default_rng([seed, n]))
    start = start_params(X, y, k, seed)
    moe = GaussianMoERegressor(k, init_params=start, tol=0.0, max_iter=n_iter,
                               solver="em")
    scale = 1e9 / (n_iter * n * k)
    threads = numba.get_num_threads()

    spent = {"e_step": [0.0, 0], "gate_stats": [0.0, 0]}
    # the modules whose names the EM loop calls: e_step through the model, the
    # gate statistics through the start-up and M-step code of gmoe.engine._em
    owners = {"e_step": model_module, "gate_stats": em}
    originals = {name: getattr(owners[name], name) for name in spent}

    def timed(name):
        func = originals[name]

        def wrapper(*args):
            t0 = time.process_time()
            out = func(*args)
            spent[name][0] += time.process_time() - t0
            spent[name][1] += 1
            return out
        return wrapper

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wall = _best_time(lambda: moe.fit(X, y), time.perf_counter)
        try:
            numba.set_num_threads(1)
            cpu = _best_time(lambda: moe.fit(X, y), time.process_time)
            for name in spent:
                setattr(owners[name], name, timed(name))
            t0 = time.process_time()
            moe.fit(X, y)
            instrumented = time.process_time() - t0
        finally:
            numba.set_num_threads(threads)
            for name, func in originals.items():
                setattr(owners[name], name, func)
    e_time, e_calls = spent["e_step"]
    g_time, g_calls = spent["gate_stats"]
    per_call = 1e9 / (n * k)
    return {
        "n": n, "k": k, "d": d, "iterations": moe.n_iter_, "threads": threads,
        "wall_s": wall,
        "wall_ns_per_sample_expert": wall * scale,
        "cpu_1thread_s": cpu,
        "cpu_1thread_ns_per_sample_expert": cpu * scale,
        "e_step_calls": e_calls,
        "e_step_ns_per_call": e_time / max(e_calls, 1) * per_call,
        "e_step_share": e_time / instrumented,
        "gate_stats_calls": g_calls,
        "gate_passes_per_iteration": g_calls / max(moe.n_iter_, 1),
        "gate_stats_ns_per_call": g_time / max(g_calls, 1) * per_call,
        "gate_stats_share": g_time / instrumented,
        "other_share": 1 - (e_time + g_time) / instrumented,
    }


def per_iteration_text(cost):
    """The per-iteration result in words."""
    e_per_iter = cost["e_step_calls"] / max(cost["iterations"], 1)
    return (
        f"One gmoe EM iteration at n = {cost['n']}, k = {cost['k']}, d = {cost['d']} "
        f"({cost['iterations']} iterations from a fixed start, tol = 0):\n"
        f"- wall time, {cost['threads']} numba threads: "
        f"{cost['wall_ns_per_sample_expert']:.1f} ns per (sample x expert);\n"
        f"- CPU time, 1 thread: {cost['cpu_1thread_ns_per_sample_expert']:.1f} ns per "
        f"(sample x expert), of which the E-step kernel "
        f"{100 * cost['e_step_share']:.0f}% ({cost['e_step_calls']} calls = "
        f"{e_per_iter:.2f} per EM iteration, {cost['e_step_ns_per_call']:.1f} ns per "
        f"(sample x expert) each), separate gate-statistics passes "
        f"{100 * cost['gate_stats_share']:.0f}% ({cost['gate_stats_calls']} calls, "
        f"{cost['gate_stats_ns_per_call']:.1f} ns each), the rest (expert and gate "
        f"solves, Python, start-up) {100 * cost['other_share']:.0f}%."
    )


# ----------------------------------------------------------------------- driver
def run_header(argv):
    """Command, machine, threads and load of this run, as markdown lines."""
    import numba

    model = "unknown"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True,
                                   text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    command = " ".join(["python benchmarks/bench_fit.py",
                        *(sys.argv[1:] if argv is None else argv)])
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        layer = numba.config.THREADING_LAYER
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short",
                                "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                                "gmoe"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit, dirty = "unknown", ""
    return (
        f"Command: `{command}`  \n"
        f"gmoe at commit {commit}"
        f"{' (with uncommitted changes in gmoe/)' if dirty else ''}.  \n"
        f"Date: {time.strftime('%Y-%m-%d %H:%M')}; CPU: {model}, "
        f"{os.cpu_count()} logical CPUs; numba threads: {numba.get_num_threads()} "
        f"({layer} layer); load average at the start: "
        f"{os.getloadavg()[0]:.2f}."
    )


def warm_up():
    """Compile (or load from numba's cache) the kernels before any timing."""
    X, y = make_moe_regression(200, make_truth(2, 1), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        GaussianMoERegressor(2, max_iter=3, random_state=0).fit(X, y)


def run_cell(n, k, d, args, use_flexmix, flexmix_history, workdir):
    """Both tools on one (n, k, d); returns the rows."""
    truth = make_truth(k, d, args.seed)
    X, y = make_moe_regression(n, truth,
                               random_state=np.random.default_rng([args.seed, n, k, d]))
    mean_ll_truth = log_likelihood(truth, X, y) / n
    start = start_params(X, y, k, args.seed)
    gmoe_tol = args.tol * abs(mean_ll_truth)
    rows = [fit_gmoe(X, y, k, start, gmoe_tol, args.max_iter)]
    if use_flexmix:
        previous = flexmix_history.get((k, d))
        projected = None if previous is None else previous[1] * n / previous[0]
        if n > args.flexmix_max_n:
            rows.append({"tool": "flexmix",
                         "status": f"skipped (n > {args.flexmix_max_n:g})"})
        elif projected is not None and math.isinf(projected):
            rows.append({"tool": "flexmix",
                         "status": "skipped (failed at a smaller n)"})
        elif projected is not None and projected > args.flexmix_time_limit:
            rows.append({"tool": "flexmix",
                         "status": f"skipped (projected {projected:.0f} s > limit)"})
        else:
            t0 = time.perf_counter()
            row = fit_flexmix(X, y, k, start, args.tol, args.max_iter,
                              args.flexmix_time_limit, workdir)
            wall = time.perf_counter() - t0
            flexmix_history[(k, d)] = (n, wall if row["status"] == "ok" else math.inf)
            rows.append(row)
    for row in rows:
        row.update(n=n, k=k, d=d)
        if "time_s" in row and row["iterations"]:
            row["ms_per_iter"] = 1e3 * row["time_s"] / row["iterations"]
    if len(rows) == 2 and "time_s" in rows[1]:
        rows[1]["time_ratio_flexmix_over_gmoe"] = rows[1]["time_s"] / rows[0]["time_s"]
        rows[1]["cpu_ratio_flexmix_over_gmoe"] = rows[1]["cpu_s"] / rows[0]["cpu_s"]
        rows[1]["loglik_diff_gmoe_minus_flexmix"] = (rows[0]["loglik"]
                                                     - rows[1]["loglik"])
    return rows


def markdown_table(frame):
    """A pipe table of ``frame`` (numbers rounded for reading)."""
    def fmt(column, value):
        if isinstance(value, float) and math.isnan(value):
            return ""
        if column in ("time_s", "cpu_s"):
            return f"{value:.4g}"
        if column == "ms_per_iter":
            return f"{value:.3g}"
        if column == "loglik":
            return f"{value:.6f}"
        if column in ("time_ratio_flexmix_over_gmoe", "cpu_ratio_flexmix_over_gmoe"):
            return f"{value:.1f}"
        if column == "loglik_diff_gmoe_minus_flexmix":
            return f"{value:.3g}"
        if column in ("n", "k", "d", "iterations"):
            return f"{int(value)}"
        return str(value)

    lines = ["| " + " | ".join(frame.columns) + " |",
             "|" + "|".join("---" for _ in frame.columns) + "|"]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(fmt(c, row[c]) for c in frame.columns) + " |")
    return "\n".join(lines)


def build_parser():
    parser = argparse.ArgumentParser(
        description="Time GaussianMoERegressor fits against R flexmix.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--n", type=float, nargs="+", default=[1e3, 1e4, 1e5, 1e6],
                        help="sample sizes")
    parser.add_argument("--k", type=int, nargs="+", default=[2, 3, 10],
                        help="numbers of experts")
    parser.add_argument("--d", type=int, nargs="+", default=[1, 5],
                        help="numbers of covariates")
    parser.add_argument("--quick", action="store_true",
                        help="preset: n = 1e3 1e4, k = 2 3, d = 1, "
                             "flexmix limit 120 s, per-iteration timing at n = 1e4")
    parser.add_argument("--tol", type=float, default=1e-6,
                        help="relative tolerance, flexmix's semantics (gmoe's tol is "
                             "derived from it, see the module docstring)")
    parser.add_argument("--max-iter", type=int, default=1000,
                        help="maximum number of EM iterations, both tools")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-flexmix", action="store_true", help="gmoe only")
    parser.add_argument("--flexmix-time-limit", type=float, default=600.0,
                        help="seconds per flexmix run; a run that would take longer "
                             "(killed, or projected linearly in n from the previous n) "
                             "is marked skipped")
    parser.add_argument("--flexmix-max-n", type=float, default=math.inf,
                        help="no flexmix run above this n")
    parser.add_argument("--per-iter-n", type=float, default=1e5)
    parser.add_argument("--per-iter-k", type=int, default=3)
    parser.add_argument("--per-iter-d", type=int, default=1)
    parser.add_argument("--per-iter-iterations", type=int, default=50)
    parser.add_argument("--no-per-iter", action="store_true",
                        help="skip the per-iteration timing")
    parser.add_argument("--no-table", action="store_true",
                        help="skip the table (per-iteration timing only)")
    parser.add_argument("--threads", type=int, default=None,
                        help="numba threads for gmoe (default: numba's default)")
    parser.add_argument("--output", type=Path, default=Path("bench_fit"),
                        help="prefix of the output files PREFIX.csv, PREFIX.md, "
                             "PREFIX_per_iteration.json")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.quick:
        args.n, args.k, args.d = [1e3, 1e4], [2, 3], [1]
        args.flexmix_time_limit = min(args.flexmix_time_limit, 120.0)
        args.per_iter_n = 1e4
    if args.threads is not None:
        import numba
        numba.set_num_threads(args.threads)
    sizes = sorted(int(n) for n in args.n)
    use_flexmix = not args.no_flexmix and flexmix_available()
    if not args.no_flexmix and not use_flexmix:
        print("Rscript with flexmix not found: timing gmoe only.", file=sys.stderr)

    warm_up()
    csv_path, md_path = Path(f"{args.output}.csv"), Path(f"{args.output}.md")
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    header = run_header(argv)
    rows = []
    flexmix_history = {}
    cells = [] if args.no_table else [(n, k, d) for k in args.k for d in args.d
                                      for n in sizes]
    with tempfile.TemporaryDirectory() as workdir:
        for n, k, d in cells:
            cell = run_cell(n, k, d, args, use_flexmix, flexmix_history, workdir)
            rows.extend(cell)
            for row in cell:
                print(", ".join(f"{c}={row[c]}" for c in COLUMNS if c in row),
                      flush=True)
            # Written after every cell, so that a long run can be read as it goes.
            pd.DataFrame(rows).reindex(columns=COLUMNS).to_csv(csv_path, index=False)
    text = header
    if rows:
        text += "\n\n" + markdown_table(pd.DataFrame(rows).reindex(columns=COLUMNS))

    if not args.no_per_iter:
        cost = per_iteration(int(args.per_iter_n), args.per_iter_k, args.per_iter_d,
                             args.per_iter_iterations, args.seed)
        Path(f"{args.output}_per_iteration.json").write_text(json.dumps(cost, indent=2))
        text += "\n\n" + per_iteration_text(cost)
    text += f"\n\nLoad average at the end: {os.getloadavg()[0]:.2f}."
    md_path.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
