"""Every gate on data drawn from it: the optimum, the certificate, inference, selection.

For each gate of :mod:`gmoe.gates`, a truth with k0 = 3 experts and d = 2
covariates, n samples drawn from it, and the default fit with k0 experts.  A row
per gate reports:

- ``ll_fit - ll_truth``: the fitted log-likelihood less the truth's on the same
  data (the maximum likelihood is at least the truth's: >= 0 up to the fit's
  tolerance); for the joint Gaussian-gate fit both are joint log-likelihoods;
- ``converged``: the fit's certificate (``converged_``);
- ``finite_se``: whether ``summary(X, y)`` gives finite standard errors for every
  free parameter (the reference expert's gate rows are NaN by design), or the
  reason the summary is refused;
- ``selected``: the number of experts ``select_n_experts`` (BIC over k = 1..5)
  picks; the target is k0;
- ``time``: the default fit's time (after a warm-up fit that compiles the gate's
  kernels), and ``ratio`` to the softmax gate's fit on its own truth in the same
  run.

Run from the repository root::

    python benchmarks/bench_gate_truths.py              # n = 5000, seed 0
    python benchmarks/bench_gate_truths.py --n 5000 --seeds 0 1 2
"""

import argparse
import time
import warnings

import numpy as np
from scipy.special import logsumexp

import gmoe
from gmoe import GaussianMoERegressor, select_n_experts
from gmoe.gates import Cosine, Gaussian, TopK, TopP

K0 = 3
EXPERTS = {
    "expert_intercept": np.array([0.0, 1.5, -1.5]),
    "expert_coef": np.array([[2.0, -1.0], [-1.5, 1.0], [0.5, 2.0]]),
    "expert_variance": np.array([0.10, 0.15, 0.20]),
}
#: Gate parameters of each truth; X ~ U[-1, 1]^2 except for the Gaussian gate,
#: whose truth draws x from its own Gaussian mixture.
SLOPES = np.array([[3.0, -2.0], [-2.0, 3.0], [0.0, 0.0]])
DIRECTIONS = np.array([[3.0, 0.0], [-1.5, 2.6], [-1.5, -2.6]])
CENTRES = np.array([[0.5, 0.5], [-0.5, 0.5], [0.0, -0.5]])
TRUTHS = {
    "softmax": ("softmax", {"gate_intercept": [0.5, 0.0, 0.0], "gate_coef": SLOPES}),
    "constant": ("constant", {"gate_intercept": np.log([0.3, 0.3, 0.4])}),
    "sigmoid": ("sigmoid", {"gate_intercept": [0.5, 0.0, 0.0], "gate_coef": SLOPES}),
    "cosine(0.1)": (Cosine(0.1), {"gate_intercept": [0.0, 0.0, 0.0],
                                  "gate_coef": DIRECTIONS}),
    "cosine(0)": (Cosine(0.0), {"gate_intercept": [0.0, 0.0, 0.0],
                                "gate_coef": DIRECTIONS / 3.0}),
    "laplace": ("laplace", {"gate_intercept": [0.0, 0.0, 0.0],
                            "gate_coef": 2.0 * CENTRES}),
    "top_k=2": (TopK(2), {"gate_intercept": [0.5, 0.0, 0.0], "gate_coef": SLOPES}),
    "TopP(0.9)": (TopP(0.9), {"gate_intercept": [0.5, 0.0, 0.0],
                              "gate_coef": SLOPES}),
}
GAUSSIAN = {
    "gate_weight": np.array([0.3, 0.3, 0.4]),
    "gate_mean": CENTRES,
    "gate_covariance": np.array([0.08 * np.eye(2)] * 3),
}
for likelihood in ("conditional", "joint"):
    TRUTHS[f"gaussian({likelihood})"] = (Gaussian(likelihood=likelihood), GAUSSIAN)


def draw(gate, values, n, rng):
    """X, y from the truth, and the truth's log-likelihood on them."""
    gate = gmoe.gates.get_gate(gate)
    if gate.marginal:
        X = gmoe.draw_gaussian_gate_data({**values, **EXPERTS}, n, random_state=rng)[0]
    else:
        X = rng.uniform(-1.0, 1.0, size=(n, 2))
    log_pi = gate.original_log_weights(X, values)
    means = X @ EXPERTS["expert_coef"].T + EXPERTS["expert_intercept"]
    var = EXPERTS["expert_variance"]
    u = rng.uniform(size=(n, 1))
    labels = np.minimum((u > np.cumsum(np.exp(log_pi), axis=1)).sum(axis=1), K0 - 1)
    y = means[np.arange(n), labels] + np.sqrt(var[labels]) * rng.standard_normal(n)
    log_normal = -0.5 * (np.log(2 * np.pi * var) + (y[:, None] - means) ** 2 / var)
    ll = logsumexp(log_pi + log_normal, axis=1).sum()
    if gate.marginal:
        ll += gate.x_log_density(X, values).sum()
    return X, y, float(ll)


def check_gate(name, gate, values, n, seed):
    rng = np.random.default_rng([seed, n])
    X, y, ll_truth = draw(gate, values, n, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # compile the gate's kernels first
        GaussianMoERegressor(K0, gate=gate, n_init=1, random_state=0).fit(
            X[:300], y[:300])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        fit = GaussianMoERegressor(K0, gate=gate, random_state=seed).fit(X, y)
        elapsed = time.perf_counter() - t0
    ll_fit = (fit.joint_log_likelihood_ if fit.gate_.marginal and
              fit.gate_.likelihood == "joint" else fit.log_likelihood_)
    try:
        table = fit.summary(X, y)
        free = ~((table["parameter"].str.startswith("gate"))
                 & (table["expert"] == table["expert"].max())
                 & table["std_error"].isna())
        finite = bool(np.isfinite(table.loc[free, "std_error"]).all())
        inference = "yes" if finite else "NaN/inf"
    except ValueError as error:
        inference = "refused: " + str(error).split(".")[0][:60]
    try:
        selected = select_n_experts(X, y, range(1, 6), gate=gate,
                                    random_state=seed).n_experts_
    except ValueError as error:
        selected = "refused: " + str(error).split(";")[0][:60]
    return {
        "gate": name, "seed": seed, "ll_fit - ll_truth": ll_fit - ll_truth,
        "converged": fit.converged_, "warnings": len(caught),
        "finite_se": inference, "selected": selected, "time": elapsed,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--gates", nargs="+", default=list(TRUTHS),
                        choices=list(TRUTHS))
    args = parser.parse_args(argv)
    gates = ["softmax"] + [g for g in args.gates if g != "softmax"]
    print(f"n = {args.n}, k0 = {K0}, d = 2; gmoe {gmoe.__version__}")
    header = ("| gate | seed | ll_fit - ll_truth | converged | warnings | summary SEs "
              "| selected k | fit time | ratio to softmax |")
    print(header)
    print("|" + "---|" * 9)
    base = {}
    for seed in args.seeds:
        for name in gates:
            gate, values = TRUTHS[name]
            row = check_gate(name, gate, values, args.n, seed)
            base.setdefault(seed, row["time"])
            print(f"| {name} | {seed} | {row['ll_fit - ll_truth']:.3f} | "
                  f"{row['converged']} | {row['warnings']} | {row['finite_se']} | "
                  f"{row['selected']} | {row['time']:.1f} s | "
                  f"{row['time'] / base[seed]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
