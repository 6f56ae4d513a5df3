"""gmoe against a stored R flexmix fit (no R needed at test time).

``tests/data/flexmix_golden.csv`` holds 400 draws from the [N23] model and
``tests/data/flexmix_golden.json`` the best of 10 random flexmix starts on them
(``benchmarks/make_flexmix_golden.py`` remakes both).  flexmix maximises the same
conditional likelihood, except that its variance is the weighted residual mean
square times ``n / (n - p)`` (``p = d + 1``): its parameters are a fixed point
close to, but not at, the maximum, and its log-likelihood sits slightly below it.
"""

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.special
import scipy.stats

from gmoe import GaussianMoERegressor

DATA_DIR = Path(__file__).resolve().parent / "data"
NAMES = ("gate_intercept", "gate_coef", "expert_intercept", "expert_coef",
         "expert_variance")


@pytest.fixture(scope="module")
def golden():
    """(X, y, record): the data and flexmix's stored fit."""
    record = json.loads((DATA_DIR / "flexmix_golden.json").read_text())
    table = np.loadtxt(DATA_DIR / record["data"]["file"], delimiter=",", skiprows=1)
    record["params"] = {name: np.asarray(record["params"][name], dtype=float)
                        for name in NAMES}
    return table[:, :-1], table[:, -1], record


@pytest.fixture(scope="module")
def gmoe_fit(golden):
    X, y, _ = golden
    return GaussianMoERegressor(
        n_experts=2, n_init=5, tol=1e-12, max_iter=5000, random_state=0
    ).fit(X, y)


def plain_log_likelihood(params, X, y):
    """sum_n log sum_i pi_i(x_n) N(y_n; a_i x_n + b_i, sigma_i), in plain numpy."""
    logits = X @ params["gate_coef"].T + params["gate_intercept"]
    log_gate = logits - scipy.special.logsumexp(logits, axis=1, keepdims=True)
    means = X @ params["expert_coef"].T + params["expert_intercept"]
    log_density = scipy.stats.norm.logpdf(
        y[:, None], means, np.sqrt(params["expert_variance"])
    )
    return scipy.special.logsumexp(log_gate + log_density, axis=1).sum()


def ml_variance(record):
    """flexmix's parameters with its variances deflated by (n - p) / n."""
    n, p = record["n"], record["d"] + 1
    params = dict(record["params"])
    params["expert_variance"] = params["expert_variance"] * (n - p) / n
    return params


def relabel(params, order):
    """Reorder the experts and put the gate back in last-reference form."""
    out = {name: np.asarray(params[name])[list(order)] for name in NAMES}
    out["gate_intercept"] = out["gate_intercept"] - out["gate_intercept"][-1]
    out["gate_coef"] = out["gate_coef"] - out["gate_coef"][-1]
    return out


def match_labels(params, reference):
    """``params`` relabelled to be closest to ``reference`` (expert means)."""
    k = len(reference["expert_intercept"])

    def distance(order):
        p = relabel(params, order)
        return (np.sum((p["expert_intercept"] - reference["expert_intercept"]) ** 2)
                + np.sum((p["expert_coef"] - reference["expert_coef"]) ** 2))

    return relabel(params, min(itertools.permutations(range(k)), key=distance))


def test_golden_record_is_consistent(golden):
    """The stored parameters reproduce the stored log-likelihoods."""
    X, y, record = golden
    assert record["k_final"] == record["k"] == 2
    assert record["converged"]
    assert X.shape == (record["n"], record["d"])
    assert plain_log_likelihood(record["params"], X, y) == pytest.approx(
        record["loglik_recomputed"], rel=1e-10
    )
    # flexmix reports the gate of a final refit; its own logLik used the gate of
    # the last iteration: both agree closely at convergence.
    assert record["loglik"] == pytest.approx(record["loglik_recomputed"], rel=1e-8)
    assert plain_log_likelihood(ml_variance(record), X, y) == pytest.approx(
        record["loglik_ml_variance"], rel=1e-10
    )
    # Deflating the variances moves towards the maximum, never away from it.
    assert record["loglik_ml_variance"] > record["loglik"]


def test_gmoe_log_likelihood_at_least_flexmix(golden, gmoe_fit):
    _, _, record = golden
    flexmix_best = max(record["loglik"], record["loglik_recomputed"],
                       record["loglik_ml_variance"])
    slack = 1e-6 * abs(flexmix_best)
    assert gmoe_fit.converged_
    assert gmoe_fit.log_likelihood_ >= flexmix_best - slack


def test_gmoe_parameters_match_flexmix(golden, gmoe_fit):
    """Same fixed point up to labels, within the n / (n - p) variance factor.

    The two fixed points differ only through flexmix's variance factor
    ``n / (n - p)`` (1.005 here), which moves the responsibilities of the few
    samples between experts: every parameter agrees to well within ``p / n``
    relative to its largest value, the tolerance used.
    """
    X, y, record = golden
    n, p = record["n"], record["d"] + 1
    rtol = p / n
    ours = match_labels(
        {name: getattr(gmoe_fit, name + "_") for name in NAMES}, record["params"]
    )
    theirs = ml_variance(record)
    for name in NAMES:
        scale = np.max(np.abs(theirs[name]))
        np.testing.assert_allclose(ours[name], theirs[name], rtol=0,
                                   atol=rtol * scale, err_msg=name)


def test_em_started_at_flexmix_fit_climbs(golden):
    """EM from flexmix's (deflated) parameters only goes up, and stays close."""
    X, y, record = golden
    start = ml_variance(record)
    moe = GaussianMoERegressor(
        n_experts=2, init_params=start, tol=1e-12, max_iter=5000
    ).fit(X, y)
    trace = moe.log_likelihood_trace_
    assert trace[0] == pytest.approx(record["loglik_ml_variance"], rel=1e-10)
    assert np.all(np.diff(trace) >= -1e-9 * abs(trace[0]))
    assert moe.log_likelihood_ >= record["loglik_ml_variance"]
    rtol = (record["d"] + 1) / record["n"]
    for name in NAMES:
        scale = np.max(np.abs(start[name]))
        np.testing.assert_allclose(getattr(moe, name + "_"), start[name], rtol=0,
                                   atol=rtol * scale, err_msg=name)
