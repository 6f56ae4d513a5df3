"""Common coefficients across experts: gmoe against R flexmix's FLXMRglmfix.

On simulated data with a slope common to two experts (and on ``Boston``,
``medv ~ lstat`` per expert with a common coefficient of ``rm``), fits
``GaussianMoERegressor(2, gate="constant", shared_features=["x2"])`` (and with
``shared_variance=True``), then flexmix

    flexmix(y ~ x1, k = 2, model = FLXMRglmfix(fixed = ~ x2, varFix = ...),
            cluster = <gmoe's responsibilities>)

(``benchmarks/flexmix_glmfix.R``: flexmix's default constant concomitant
model, EM started from gmoe's optimum) and ``refit()`` (the log-likelihood
re-maximised by optim, standard errors from its numerical Hessian).  Prints
the log-likelihoods (gmoe's; flexmix's EM; the numpy log-likelihood at
refit's optimum) and, per parameter in refit's coordinates (the common
coefficient, each expert's intercept and x1 coefficient, log sigma with sigma
a standard deviation, alpha = log(prior_2 / prior_1)), the estimates and
standard errors side by side with their relative differences.

Example::

    python benchmarks/bench_glmfix.py --output /tmp/glmfix
"""

import argparse
import json
import subprocess
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import logsumexp
from scipy.stats import norm

from gmoe import GaussianMoERegressor

HERE = Path(__file__).resolve().parent
PANEL = HERE.parent / "tests" / "data" / "panel"


def simulated(n=500, seed=0):
    """Two experts with constant priors (0.4, 0.6), a common coefficient 0.7
    of x2, noise standard deviations 0.5 and 0.4."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 2))
    z = (rng.uniform(size=n) > 0.4).astype(int)
    intercept, slope, sd = np.array([1.0, -1.0]), np.array([2.0, -1.5]), \
        np.array([0.5, 0.4])
    y = (intercept[z] + slope[z] * X[:, 0] + 0.7 * X[:, 1]
         + sd[z] * rng.normal(size=n))
    return pd.DataFrame(X, columns=["x1", "x2"]), y


def boston():
    """``medv`` on ``lstat`` (x1, per expert) and ``rm`` (x2, common)."""
    data = pd.read_csv(PANEL / "Boston.csv")
    return (data[["lstat", "rm"]].set_axis(["x1", "x2"], axis=1),
            data["medv"].to_numpy(float))


def _fit_gmoe(X, y, shared_variance):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = GaussianMoERegressor(2, gate="constant", shared_features=["x2"],
                                   shared_variance=shared_variance, n_init=20,
                                   random_state=0).fit(X, y)
        table = fit.summary(X, y)
    return fit, table


def _gmoe_vector(fit, table, shared_variance):
    """gmoe's estimates and standard errors in refit's coordinates."""
    rows = table.set_index(["parameter", "expert", "feature"])

    def row(name, expert, feature=None):
        r = rows.loc[(name, expert, feature)] if feature is not None else \
            table[(table.parameter == name) & (table.expert == expert)].iloc[0]
        return float(r["estimate"]), float(r["std_error"])

    names, est, se = ["x2"], [], []
    value, error = row("expert_coef", 0, "x2")
    est.append(value), se.append(error)
    for i in range(2):
        for label, (name, feature) in (("(Intercept)", ("expert_intercept", None)),
                                       ("x1", ("expert_coef", "x1"))):
            value, error = row(name, i, feature)
            names.append(f"{label} {i + 1}"), est.append(value), se.append(error)
    for i in range(1 if shared_variance else 2):
        value, error = row("expert_variance", i)
        # log sd = log(var) / 2: its standard error se(var) / (2 var)
        names.append("log(sigma)" + ("" if shared_variance else f" {i + 1}"))
        est.append(0.5 * np.log(value)), se.append(error / (2 * value))
    # alpha = log(prior_2 / prior_1) = -gate_intercept_0 (expert 1 the reference)
    value, error = row("gate_intercept", 0)
    names.append("alpha"), est.append(-value), se.append(error)
    return names, np.array(est), np.array(se)


def _loglik_at(X, y, vector, shared_variance):
    """The log-likelihood of the constant-gate model at a vector of refit's
    coordinates."""
    x1, x2 = X["x1"].to_numpy(), X["x2"].to_numpy()
    gamma = vector[0]
    means = np.column_stack([vector[1 + 2 * i] + vector[2 + 2 * i] * x1 + gamma * x2
                             for i in range(2)])
    log_sd = vector[5:6].repeat(2) if shared_variance else vector[5:7]
    log_prior = np.log([1.0, np.exp(vector[-1])]) - np.log1p(np.exp(vector[-1]))
    joint = log_prior + norm.logpdf(y[:, None], means, np.exp(log_sd))
    return float(logsumexp(joint, axis=1).sum())


def compare(label, X, y, shared_variance):
    fit, table = _fit_gmoe(X, y, shared_variance)
    resp = fit.predict_responsibilities(X, y)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.csv"
        pd.DataFrame({"x1": X["x1"], "x2": X["x2"], "y": y, "p1": resp[:, 0],
                      "p2": resp[:, 1]}).to_csv(data, index=False)
        out = Path(tmp) / "out.json"
        subprocess.run(["Rscript", str(HERE / "flexmix_glmfix.R"), str(data),
                        str(out), str(int(shared_variance))], check=True)
        fm = json.loads(out.read_text())
    names, est, se = _gmoe_vector(fit, table, shared_variance)
    fm_est, fm_se = np.array(fm["refit"]["estimate"]), np.array(fm["refit"]["se"])
    if len(fm_est) != len(est):
        raise RuntimeError(f"refit has {len(fm_est)} parameters, gmoe {len(est)}")
    rows = pd.DataFrame({
        "parameter": names, "gmoe": est, "flexmix_refit": fm_est,
        "rel_diff_est": np.abs(est - fm_est) / np.maximum(np.abs(fm_est), 1e-12),
        "gmoe_se": se, "flexmix_se": fm_se,
        "rel_diff_se": np.abs(se - fm_se) / fm_se})
    header = {
        "case": label, "shared_variance": shared_variance, "n": len(y),
        "gmoe_loglik": fit.log_likelihood_, "flexmix_em_loglik": fm["loglik"],
        "flexmix_em_iter": fm["iter"],
        "loglik_at_refit": _loglik_at(X, y, fm_est, shared_variance),
        "max_rel_diff_est": rows.rel_diff_est.max(),
        "max_rel_diff_se": rows.rel_diff_se.max()}
    return header, rows


def _markdown(table):
    """A markdown table, numbers to 6 significant digits."""
    def cell(v):
        return f"{v:.6g}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(table.columns) + " |",
             "|" + "---|" * table.shape[1]]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |"
              for row in table.itertuples(index=False)]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default=None,
                        help="folder for glmfix.md and glmfix.csv")
    args = parser.parse_args()
    cases = [("simulated", *simulated()), ("Boston", *boston())]
    text, frames = [], []
    for label, X, y in cases:
        for shared_variance in (False, True):
            header, rows = compare(label, X, y, shared_variance)
            text.append(
                f"{label} (n={header['n']}), shared_variance={shared_variance}: "
                f"log-likelihood gmoe {header['gmoe_loglik']:.6f}, flexmix EM "
                f"{header['flexmix_em_loglik']:.6f} ({header['flexmix_em_iter']} "
                f"iterations), at refit's optimum {header['loglik_at_refit']:.6f}; "
                f"largest relative differences: estimates "
                f"{header['max_rel_diff_est']:.2e}, standard errors "
                f"{header['max_rel_diff_se']:.2e}\n\n"
                + _markdown(rows) + "\n")
            frames.append(rows.assign(case=label, shared_variance=shared_variance))
    report = "\n".join(text)
    print(report)
    if args.output:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        (out / "glmfix.md").write_text(report)
        pd.concat(frames).to_csv(out / "glmfix.csv", index=False)


if __name__ == "__main__":
    main()
