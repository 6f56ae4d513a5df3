"""Best-known maxima of the conditional log-likelihood on the real-data panel.

For each case of ``benchmarks/panel_reference/cases.csv`` (data set of
``tests/data/panel/``, target, features, number of experts k) this collects
candidate maximisers of the conditional log-likelihood of the k-expert
softmax-gated Gaussian mixture of experts

    (a) R flexmix's answer (``benchmarks/panel_reference/flexmix_reference.json``,
        made by ``Rscript benchmarks/flexmix_panel.R``; stepFlexmix, nrep = 10),
    (b) 50 gmoe EM runs from random responsibilities
        (``init_params="random", n_init=1, random_state=s, max_iter=5000,
        tol=1e-10``, and ``solver="em"`` where gmoe has that option, s = 0..49),
    (c) gmoe EM started at flexmix's answer (same max_iter and tol),
    (d) gmoe's default fit (``random_state=0``) and ``n_init=10``,
    (e) where gmoe has split-and-merge moves, four long searches
        (``n_init=120, n_refine=40, n_split_merge=6``, ``random_state``
        1000..1003), and the default fit at ``random_state`` 0..19 (the seeds of
        ``benchmarks/bench_panel.py --seeds 20``),
    (f) the best regular optimum of the previous output file, when there is one
        (so that a best-known value never falls from one run to the next: long
        EM runs from the same random start can end at different optima after
        a change of round-off),

and POLISHES every end point with scipy (BFGS, then trust-exact with a
finite-difference Hessian of the analytic gradient) on the log-likelihood written
here in plain numpy, in standardised units (x and y centred and scaled; the
log-likelihood in original units is the standardised one minus n log sd(y)).
Free parameters: the gate rows of experts 1..k-1 relative to the last expert
(intercept, slopes), the expert intercepts and slopes, the log-variances.

Distinct optima (polished log-likelihood rounded to 1e-3) are listed with, per
expert, the effective number of samples (sum of responsibilities) and the
variance divided by var(y) (ddof 0). An optimum is "spurious" when an expert has
an effective size below d + 3, a variance below 1e-4 var(y), or a variance below
h^2 / 12, the variance that rounding to the grid of y adds (h the smallest gap
between distinct values of y; gmoe's rule, ``gmoe.engine._search``). A polish that
drives a variance below 1e-10 var(y) is stopped and called "degenerate" (the
likelihood is unbounded there); its EM end point is kept as a spurious optimum.

Writes ``tests/data/panel/best_known.json`` and
``benchmarks/panel_reference/summary.md``.  Deterministic given its seeds.

Usage (repository root):
    python benchmarks/panel_reference/compute_best_known.py [--cases a,b] [--starts 50]

With --cases and an existing output, only those cases are recomputed and replaced.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import logsumexp

from gmoe.engine._search import rounding_variance

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / "tests" / "data" / "panel"
REF_DIR = ROOT / "benchmarks" / "panel_reference"

SPURIOUS_MIN_EFF = 3  # effective size below d + 3
SPURIOUS_MIN_VAR = 1e-4  # variance below 1e-4 var(y)
DEGENERATE_VAR = 1e-10  # polish stopped below this variance / var(y)
N_LONG_SEARCHES = 4  # source (e)
N_DEFAULT_SEEDS = 20  # source (e)
REACH_TOL = 0.01
GATE_STEEP = 20.0  # gate slope (standardised units) called steep


# ----------------------------------------------------------------------------
# The log-likelihood in plain numpy (standardised units)
# ----------------------------------------------------------------------------


class Degenerate(Exception):
    pass


class Problem:
    def __init__(self, X, y, k):
        self.X_orig = np.asarray(X, float)
        self.y_orig = np.asarray(y, float)
        self.n, self.d = self.X_orig.shape
        self.k = k
        self.mx = self.X_orig.mean(0)
        self.sx = self.X_orig.std(0)
        self.my = self.y_orig.mean()
        self.sy = self.y_orig.std()
        Xs = (self.X_orig - self.mx) / self.sx
        self.Xt = np.hstack([np.ones((self.n, 1)), Xs])  # (n, p)
        self.ys = (self.y_orig - self.my) / self.sy
        self.p = self.d + 1
        self.n_gate = (k - 1) * self.p
        self.n_par = self.n_gate + k * self.p + k
        self.check_degenerate = True
        # the rounding variance of y, as a fraction of var(y) (ddof 0)
        self.rounding_ratio = rounding_variance(self.y_orig) / self.sy**2

    # parameter vector <-> arrays (standardised units)
    def unpack(self, theta):
        k, p = self.k, self.p
        G = np.zeros((k, p))
        G[:-1] = theta[: self.n_gate].reshape(k - 1, p)
        B = theta[self.n_gate : self.n_gate + k * p].reshape(k, p)
        lv = theta[self.n_gate + k * p :]
        return G, B, lv

    def pack(self, G, B, lv):
        G = G - G[-1]
        return np.concatenate([G[:-1].ravel(), B.ravel(), lv])

    def from_original(self, prm):
        """gmoe-convention dict (original units) -> theta (standardised)."""
        g0 = np.asarray(prm["gate_intercept"], float)
        g1 = np.asarray(prm["gate_coef"], float).reshape(self.k, self.d)
        b = np.asarray(prm["expert_intercept"], float)
        a = np.asarray(prm["expert_coef"], float).reshape(self.k, self.d)
        v = np.asarray(prm["expert_variance"], float)
        G = np.column_stack([g0 + g1 @ self.mx, g1 * self.sx])
        a_s = a * self.sx / self.sy
        b_s = (b + a @ self.mx - self.my) / self.sy
        B = np.column_stack([b_s, a_s])
        lv = np.log(v / self.sy**2)
        return self.pack(G, B, lv)

    def to_original(self, theta):
        G, B, lv = self.unpack(theta)
        g1 = G[:, 1:] / self.sx
        g0 = G[:, 0] - g1 @ self.mx
        a = B[:, 1:] * self.sy / self.sx
        b = self.my + self.sy * B[:, 0] - a @ self.mx
        return {
            "gate_intercept": g0.tolist(),
            "gate_coef": g1.tolist(),
            "expert_intercept": b.tolist(),
            "expert_coef": a.tolist(),
            "expert_variance": (np.exp(lv) * self.sy**2).tolist(),
        }

    def _parts(self, theta):
        G, B, lv = self.unpack(theta)
        eta = self.Xt @ G.T
        logpi = eta - logsumexp(eta, axis=1, keepdims=True)
        r = self.ys[:, None] - self.Xt @ B.T
        s2 = np.exp(lv)
        logN = -0.5 * (np.log(2 * np.pi) + lv) - 0.5 * r**2 / s2
        lj = logpi + logN
        lln = logsumexp(lj, axis=1)
        tau = np.exp(lj - lln[:, None])
        return lln, tau, np.exp(logpi), r, s2

    def loglik_std(self, theta):
        return self._parts(theta)[0].sum()

    def loglik(self, theta):
        """Conditional log-likelihood in original units."""
        return self.loglik_std(theta) - self.n * np.log(self.sy)

    def grad_std(self, theta):
        lln, tau, pi, r, s2 = self._parts(theta)
        gG = ((tau - pi)[:, :-1]).T @ self.Xt
        gB = (tau * r / s2).T @ self.Xt
        glv = (tau * (-0.5 + 0.5 * r**2 / s2)).sum(0)
        return lln.sum(), np.concatenate([gG.ravel(), gB.ravel(), glv])

    def neg(self, theta):
        _, _, lv = self.unpack(theta)
        if self.check_degenerate and lv.min() < np.log(DEGENERATE_VAR):
            raise Degenerate
        ll, g = self.grad_std(theta)
        if not np.isfinite(ll):
            return np.inf, np.zeros_like(g)
        return -ll, -g

    def hess_std(self, theta, h=1e-5):
        """Hessian of the standardised log-likelihood (central differences of
        the analytic gradient), symmetrised."""
        H = np.empty((self.n_par, self.n_par))
        for j in range(self.n_par):
            e = np.zeros(self.n_par)
            e[j] = h * max(1.0, abs(theta[j]))
            H[:, j] = (self.grad_std(theta + e)[1] - self.grad_std(theta - e)[1]) / (
                2 * e[j]
            )
        return 0.5 * (H + H.T)

    def responsibilities(self, theta):
        return self._parts(theta)[1]


def polish(prob, theta0):
    """BFGS then trust-exact from theta0.  Returns (theta, info)."""
    info = {"degenerate": False}
    theta = np.array(theta0, float)
    try:
        r = minimize(
            prob.neg,
            theta,
            jac=True,
            method="BFGS",
            options={"gtol": 1e-9, "maxiter": 20000},
        )
        theta = r.x
        r2 = minimize(
            prob.neg,
            theta,
            jac=True,
            method="trust-exact",
            hess=lambda t: -prob.hess_std(t),
            options={"gtol": 1e-9, "maxiter": 40},
        )
        if np.isfinite(r2.fun) and r2.fun <= prob.neg(theta)[0] + 1e-9:
            theta = r2.x
    except Degenerate:
        info["degenerate"] = True
        return np.array(theta0, float), info
    except (np.linalg.LinAlgError, ValueError, FloatingPointError):
        pass
    _, g = prob.grad_std(theta)
    info["grad_norm"] = float(np.linalg.norm(g))
    return theta, info


def describe(prob, theta):
    tau = prob.responsibilities(theta)
    _, _, lv = prob.unpack(theta)
    G, _, _ = prob.unpack(theta)
    eff = tau.sum(0)
    var_ratio = np.exp(lv)  # y standardised with ddof 0: variance / var(y)
    spurious = bool(
        (eff < prob.d + SPURIOUS_MIN_EFF).any()
        or (var_ratio < SPURIOUS_MIN_VAR).any()
        or (var_ratio < prob.rounding_ratio).any()
    )
    return {
        "expert_eff_size": eff.round(4).tolist(),
        "expert_var_ratio": [float(f"{v:.6g}") for v in var_ratio],
        "max_abs_gate_slope_std": float(np.abs(G[:, 1:]).max()),
        "spurious": spurious,
    }


def params_of(model):
    return {
        "gate_intercept": np.asarray(model.gate_intercept_, float),
        "gate_coef": np.asarray(model.gate_coef_, float),
        "expert_intercept": np.asarray(model.expert_intercept_, float),
        "expert_coef": np.asarray(model.expert_coef_, float),
        "expert_variance": np.asarray(model.expert_variance_, float),
    }


def load_case_data(row):
    data = pd.read_csv(DATA_DIR / f"{row.dataset}.csv")
    features = row.features.split("+")
    return data[features].to_numpy(float), data[row.target].to_numpy(float), features


def git_state():
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "gmoe"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        return head, bool(dirty)
    except OSError:
        return None, None


def run_case(row, fx, GMoE, n_starts, previous=None):
    X, y, features = load_case_data(row)
    k = int(row.k)
    prob = Problem(X, y, k)
    cands = []  # (source, start index or None, raw loglik, theta_raw)

    def add(source, model_or_params, raw_ll, seed=None, extra=None):
        prm = (
            model_or_params
            if isinstance(model_or_params, dict)
            else params_of(model_or_params)
        )
        theta = prob.from_original(prm)
        own = prob.loglik(theta)
        if not isinstance(model_or_params, dict):
            ss = float(model_or_params.score_samples(X, y).sum())
            assert abs(ss - own) <= 1e-6 * max(1.0, abs(own)), (ss, own)
        cands.append(
            {
                "source": source,
                "seed": seed,
                "raw_loglik": own,
                "theta_raw": theta,
                **(extra or {}),
            }
        )

    kw = dict(max_iter=5000, tol=1e-10)
    if "solver" in GMoE().get_params():
        kw["solver"] = "em"  # plain EM (later gmoe versions default to EM + Newton)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # (d) gmoe defaults as they are now
        t0 = time.perf_counter()
        m_def = GMoE(k, random_state=0).fit(X, y)
        t_def = time.perf_counter() - t0
        add("gmoe_default", m_def, m_def.log_likelihood_)
        t0 = time.perf_counter()
        m_10 = GMoE(k, random_state=0, n_init=10).fit(X, y)
        t_10 = time.perf_counter() - t0
        add("gmoe_default_ninit10", m_10, m_10.log_likelihood_)
        # (e) long searches with split-and-merge moves
        if "n_split_merge" in GMoE().get_params():
            for s in range(N_LONG_SEARCHES):
                m = GMoE(k, random_state=1000 + s, n_init=120, n_refine=40,
                         n_split_merge=6).fit(X, y)
                add("gmoe_long_search", m, m.log_likelihood_, seed=1000 + s)
            for s in range(N_DEFAULT_SEEDS):
                m = GMoE(k, random_state=s).fit(X, y)
                add("gmoe_default_seeds", m, m.log_likelihood_, seed=s)
        # (f) the previous best-known regular optimum
        if previous is not None:
            add("previous_best_known",
                {key: np.asarray(v, float) for key, v in previous.items()}, None)
        # (a) flexmix and (c) gmoe from flexmix
        fx_ok = fx is not None and int(fx["k_kept"]) == k
        if fx_ok:
            fx_params = {key: np.asarray(v, float) for key, v in fx["params"].items()}
        if fx_ok:
            add("flexmix", fx_params, None)
            m_fx = GMoE(k, init_params=fx_params, **kw).fit(X, y)
            add("gmoe_from_flexmix", m_fx, m_fx.log_likelihood_)
        # (b) random starts
        random_raw = []
        for s in range(n_starts):
            m = GMoE(k, init_params="random", n_init=1, random_state=s, **kw).fit(X, y)
            add(
                "random",
                m,
                m.log_likelihood_,
                seed=s,
                extra={"converged": bool(m.converged_), "n_iter": int(m.n_iter_)},
            )
            random_raw.append(float(m.log_likelihood_))

    # polish every candidate (end points with the same raw log-likelihood, to
    # 1e-7 relative, are polished once: label switches of one EM fixed point)
    cache = {}
    for c in cands:
        key = float(f"{c['raw_loglik']:.8g}")
        if key in cache:
            theta, info = cache[key]
        else:
            theta, info = cache[key] = polish(prob, c["theta_raw"])
        c["degenerate"] = info["degenerate"]
        if info["degenerate"]:
            c["theta"] = c["theta_raw"]
            c["loglik"] = c["raw_loglik"]
            _, g = prob.grad_std(c["theta"])
            c["grad_norm"] = float(np.linalg.norm(g))
        else:
            c["theta"] = theta
            c["loglik"] = prob.loglik(theta)
            c["grad_norm"] = info["grad_norm"]
        c.update(describe(prob, c["theta"]))
        if c["degenerate"]:
            c["spurious"] = True

    # distinct optima
    groups = {}
    for c in cands:
        key = round(c["loglik"], 3)
        groups.setdefault(key, []).append(c)
    optima = []
    for key in sorted(groups, reverse=True):
        g = groups[key]
        rep = min(g, key=lambda c: c["grad_norm"])
        theta = rep["theta"]
        eig = None
        if not rep["degenerate"]:
            eig = float(np.linalg.eigvalsh(prob.hess_std(theta)).max())
        optima.append(
            {
                "loglik": float(rep["loglik"]),
                "spurious": rep["spurious"],
                # a (nearly) step-shaped gate on a flat direction: the supremum lies at
                # infinity along the gate (separation), not at a strict local maximum
                "gate_separated": bool(
                    eig is not None
                    and eig > -1e-7
                    and rep["max_abs_gate_slope_std"] > GATE_STEEP
                ),
                "degenerate": rep["degenerate"],
                "grad_norm": rep["grad_norm"],
                "hessian_max_eig_std": eig,
                "expert_eff_size": rep["expert_eff_size"],
                "expert_var_ratio": rep["expert_var_ratio"],
                "max_abs_gate_slope_std": rep["max_abs_gate_slope_std"],
                "n_random_starts": sum(c["source"] == "random" for c in g),
                "sources": sorted({c["source"] for c in g}),
                "_theta": theta,
            }
        )
    best = optima[0]
    regular = [o for o in optima if not o["spurious"]]
    best_reg = regular[0] if regular else None
    brl = best_reg["loglik"] if best_reg else None

    def by_source(name):
        return next((c for c in cands if c["source"] == name), None)

    rnd = [c for c in cands if c["source"] == "random"]
    entry = {
        "case": row.case,
        "dataset": row.dataset,
        "target": row.target,
        "features": features,
        "k": k,
        "n": prob.n,
        "var_y": float(prob.sy**2),
        "best_loglik": best["loglik"],
        "best_loglik_spurious": best["spurious"],
        "best_regular_loglik": brl,
        "best_regular_params": prob.to_original(best_reg["_theta"])
        if best_reg
        else None,
        "best_regular_grad_norm": best_reg["grad_norm"] if best_reg else None,
        "best_regular_hessian_max_eig": best_reg["hessian_max_eig_std"]
        if best_reg
        else None,
        "best_regular_expert_eff_size": best_reg["expert_eff_size"]
        if best_reg
        else None,
        "best_regular_expert_var_ratio": best_reg["expert_var_ratio"]
        if best_reg
        else None,
        "best_regular_sources": best_reg["sources"] if best_reg else None,
        "flexmix_loglik": float(fx["loglik"]) if fx else None,
        "flexmix_k_kept": int(fx["k_kept"]) if fx else None,
        "flexmix_seconds": float(fx["seconds"]) if fx else None,
        "flexmix_nrep": int(fx["nrep"]) if fx else None,
        "flexmix_loglik_numpy": by_source("flexmix")["raw_loglik"] if fx_ok else None,
        "flexmix_polished_loglik": by_source("flexmix")["loglik"] if fx_ok else None,
        "gmoe_from_flexmix_loglik": by_source("gmoe_from_flexmix")["raw_loglik"]
        if fx_ok
        else None,
        "gmoe_from_flexmix_polished_loglik": by_source("gmoe_from_flexmix")["loglik"]
        if fx_ok
        else None,
        "random_starts": len(rnd),
        "random_reached_best_regular": (
            sum(abs(c["raw_loglik"] - brl) <= REACH_TOL for c in rnd)
            if brl is not None
            else None
        ),
        "random_reached_best_regular_after_polish": (
            sum(abs(c["loglik"] - brl) <= REACH_TOL for c in rnd)
            if brl is not None
            else None
        ),
        "random_reached_best_regular_or_above": (
            sum(c["raw_loglik"] >= brl - REACH_TOL for c in rnd)
            if brl is not None
            else None
        ),
        "random_not_converged": sum(not c["converged"] for c in rnd),
        "random_raw_logliks": [round(c["raw_loglik"], 6) for c in rnd],
        "spurious_found": any(o["spurious"] for o in optima),
        "n_optima": len(optima),
        "n_spurious_optima": sum(o["spurious"] for o in optima),
        "n_gate_separated_optima": sum(o["gate_separated"] for o in optima),
        "best_regular_gate_separated": best_reg["gate_separated"] if best_reg else None,
        "default_loglik_at_run": float(m_def.log_likelihood_),
        "default_converged_at_run": bool(m_def.converged_),
        "default_n_iter_at_run": int(m_def.n_iter_),
        "default_seconds_at_run": t_def,
        "default_ninit10_loglik_at_run": float(m_10.log_likelihood_),
        "default_ninit10_seconds_at_run": t_10,
        "optima": [{k_: v for k_, v in o.items() if k_ != "_theta"} for o in optima],
    }
    return entry


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))


def fmt(v, nd=3):
    return "" if v is None else f"{v:.{nd}f}"


def write_summary(entries, path, meta):
    lines = [
        "# Real-data panel: best-known maxima of the conditional log-likelihood",
        "",
        "Made by `python benchmarks/panel_reference/compute_best_known.py` "
        f"(gmoe at commit `{meta['gmoe_commit']}`"
        f"{', with uncommitted changes under gmoe/' if meta['gmoe_dirty'] else ''}; "
        f'{meta["n_starts"]} random starts per case; "before" columns: gmoe at '
        f"commit `{meta.get('default_before_commit', '-')}`). Full record: "
        "`tests/data/panel/best_known.json`.",
        "",
        "Columns: best regular = best non-spurious polished optimum; best all = best "
        "optimum of any kind (spurious ones marked *); flexmix = stepFlexmix logLik "
        "(nrep 10, its own n/(n-p) variances); fx polished = flexmix's answer polished "
        "by BFGS/trust-exact; default / n_init=10 = gmoe "
        "`GaussianMoERegressor(k, random_state=0)` (and `n_init=10`) at the commit "
        "above; before = the same at the commit in `meta.default_before_commit` "
        "(`default_at_commit.py`); "
        "reached = of the random starts (max_iter 5000, tol 1e-10), how many ended "
        "within 0.01 of the best regular value (before polishing / after); optima = "
        "distinct polished optima (of which spurious: an expert with effective size "
        "< d + 3 or variance < 1e-4 var(y); gate separated: gate slope > 20 in "
        "standardised units on a flat Hessian direction, supremum at infinity); "
        "grad norm = gradient norm at the best regular optimum (standardised units).",
        "",
        "| case | n | k | best regular | best all | flexmix | fx polished | default | "
        "n_init=10 | default before | n_init=10 before | reached | "
        "optima (spurious, gate separated) | grad norm |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        star = "*" if e["best_loglik_spurious"] else ""
        lines.append(
            f"| {e['case']} | {e['n']} | {e['k']} | {fmt(e['best_regular_loglik'])} | "
            f"{fmt(e['best_loglik'])}{star} | {fmt(e['flexmix_loglik'])} | "
            f"{fmt(e['flexmix_polished_loglik'])} | "
            f"{fmt(e['default_loglik_at_run'])} | "
            f"{fmt(e['default_ninit10_loglik_at_run'])} | "
            f"{fmt(e.get('default_loglik_before'))} | "
            f"{fmt(e.get('default_ninit10_loglik_before'))} | "
            f"{e['random_reached_best_regular']}/{e['random_reached_best_regular_after_polish']}"
            f" of {e['random_starts']} | {e['n_optima']} ({e['n_spurious_optima']}, "
            f"{e.get('n_gate_separated_optima', '?')}) | "
            f"{e['best_regular_grad_norm']:.1e} |"
        )
    lines.append("")
    lines.append(
        "Per-expert effective sizes and variance / var(y) of the best regular optimum:"
    )
    lines.append("")
    for e in entries:
        lines.append(
            f"- {e['case']}: eff = {e['best_regular_expert_eff_size']}, "
            f"var/var(y) = {e['best_regular_expert_var_ratio']}"
        )
    lines.append("")
    Path(path).write_text("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", help="comma-separated case names (default: all)")
    ap.add_argument("--starts", type=int, default=50)
    ap.add_argument("--flexmix", default=str(REF_DIR / "flexmix_reference.json"))
    ap.add_argument("--out", default=str(DATA_DIR / "best_known.json"))
    ap.add_argument("--summary", default=str(REF_DIR / "summary.md"))
    args = ap.parse_args()

    from gmoe import GaussianMoERegressor as GMoE
    cases = pd.read_csv(REF_DIR / "cases.csv")
    if args.cases:
        cases = cases[cases.case.isin(args.cases.split(","))]
    fx_all = {}
    for path in args.flexmix.split(","):
        if Path(path).exists():
            fx_all.update({r["case"]: r for r in json.loads(Path(path).read_text())})
        else:
            print(
                f"no flexmix reference {path}: flexmix candidates skipped",
                file=sys.stderr,
            )
    commit, dirty = git_state()
    # warm-up so that numba compilation is not inside the timed default fits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        GMoE(2, random_state=0).fit(
            np.linspace(0, 1, 50)[:, None], np.linspace(0, 1, 50)
        )
    previous = {}
    if Path(args.out).exists():
        previous = {e["case"]: e.get("best_regular_params")
                    for e in json.loads(Path(args.out).read_text())["cases"]}
    entries = []
    for row in cases.itertuples():
        t0 = time.perf_counter()
        e = run_case(row, fx_all.get(row.case), GMoE, args.starts,
                     previous.get(row.case))
        entries.append(e)
        print(
            f"{e['case']:13s} best_regular={fmt(e['best_regular_loglik'])} "
            f"best={fmt(e['best_loglik'])}{'*' if e['best_loglik_spurious'] else ''} "
            f"flexmix={fmt(e['flexmix_loglik'])} "
            f"default={fmt(e['default_loglik_at_run'])} "
            f"ninit10={fmt(e['default_ninit10_loglik_at_run'])} "
            f"reached={e['random_reached_best_regular']}/{e['random_starts']} "
            f"optima={e['n_optima']}({e['n_spurious_optima']}) "
            f"[{time.perf_counter() - t0:.0f} s]",
            flush=True,
        )
    meta = {
        "gmoe_commit": commit,
        "gmoe_dirty": dirty,
        "n_starts": args.starts,
        "spurious_rule": (
            "an expert with effective size < d + 3, variance < 1e-4 var(y) or "
            "variance < h^2 / 12 (h the smallest gap between distinct values of y)"
        ),
        "reach_tol": REACH_TOL,
        "loglik": "conditional log-likelihood, natural log, original units",
        "grad_norm": "Euclidean norm of the gradient in standardised units "
        "(x, y centred and scaled; gate relative to the last expert; "
        "log-variances)",
    }
    if args.cases and Path(args.out).exists():
        # update the chosen cases, keep the others (in the order of cases.csv)
        old = {e["case"]: e for e in json.loads(Path(args.out).read_text())["cases"]}
        old.update({e["case"]: e for e in entries})
        order = list(pd.read_csv(REF_DIR / "cases.csv").case)
        entries = [old[c] for c in order if c in old]
    Path(args.out).write_text(
        json.dumps({"meta": meta, "cases": entries}, indent=1, default=_json_default)
    )
    write_summary(entries, args.summary, meta)


if __name__ == "__main__":
    main()
