"""Standard errors, intervals, the summary table and mean-function bands."""

import copy
import pickle
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from scipy.special import log_softmax, logsumexp
from scipy.stats import norm
from sklearn.exceptions import NotFittedError
from warnings_helpers import expect_warnings

from gmoe import (
    GateSeparationWarning,
    GaussianMoERegressor,
    InferenceWarning,
    MoEInference,
    format_summary,
)
from gmoe.datasets import PARAM_NAMES, make_moe_regression
from gmoe.engine._model import MoEParams
from gmoe.gates import Softmax
from gmoe.inference._align import align_experts, fitted_engine
from gmoe.inference._bootstrap import _bootstrap_one

#: A mild exact-fitted truth (k0 = 2, X ~ U[-2, 2]).
MILD = {
    "gate_intercept": np.array([-1.0, 0.0]),
    "gate_coef": np.array([[2.0], [0.0]]),
    "expert_intercept": np.array([1.0, -1.0]),
    "expert_coef": np.array([[-2.0], [2.0]]),
    "expert_variance": np.array([0.25, 0.16]),
}


def mild_fit(n, seed, **kwargs):
    X, y = make_moe_regression(n, MILD, low=-2, high=2, random_state=seed)
    moe = GaussianMoERegressor(2, init_params=MILD, n_init=1, random_state=0,
                               **kwargs).fit(X, y)
    return moe, X, y


@pytest.fixture(scope="module")
def mild_500():
    return mild_fit(500, 3)


def _params_arrays(params):
    """(gate, coef, var) of a softmax-gate parameter dict, last gate row zero."""
    gate = np.column_stack([params["gate_intercept"], params["gate_coef"]])
    coef = np.column_stack([params["expert_intercept"], params["expert_coef"]])
    return gate - gate[-1], coef, np.asarray(params["expert_variance"], dtype=float)


def _as_dict(params):
    return {"gate_intercept": params.gate[:, 0], "gate_coef": params.gate[:, 1:],
            "expert_intercept": params.coef[:, 0], "expert_coef": params.coef[:, 1:],
            "expert_variance": params.var}


# ------------------------------------------------------------ numpy references
def log_density(Xt, y, theta, k):
    """Per-sample log-density at the free-parameter vector ``theta`` (numpy)."""
    params = MoEParams.from_vector(theta, k, Xt.shape[1])
    log_pi = log_softmax(Xt @ params.gate.T, axis=1)
    log_joint = log_pi + norm.logpdf(y[:, None], Xt @ params.coef.T,
                                     np.sqrt(params.var))
    return logsumexp(log_joint, axis=1)


def fd_scores(Xt, y, theta, k, h=1e-6):
    """Central finite differences of each sample's log-density, (n, m)."""
    out = np.empty((Xt.shape[0], theta.size))
    for j in range(theta.size):
        step = h * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += step
        down[j] -= step
        out[:, j] = (log_density(Xt, y, up, k) - log_density(Xt, y, down, k)) / (
            2 * step)
    return out


def fd_hessian(Xt, y, theta, k, h=1e-4):
    """Second-order central differences of the total log-likelihood."""
    def f(t):
        return log_density(Xt, y, t, k).sum()

    m = theta.size
    steps = h * np.maximum(1.0, np.abs(theta))
    H = np.empty((m, m))
    for a in range(m):
        for b in range(a, m):
            ea = np.zeros(m)
            eb = np.zeros(m)
            ea[a] = steps[a]
            eb[b] = steps[b]
            H[a, b] = H[b, a] = (f(theta + ea + eb) - f(theta + ea - eb)
                                 - f(theta - ea + eb) + f(theta - ea - eb)) / (
                4 * steps[a] * steps[b])
    return H


def fitted_vector(moe):
    params = {name: getattr(moe, name + "_") for name in PARAM_NAMES}
    return MoEParams(*_params_arrays(params)).to_vector()


def permuted(moe, perm):
    """A copy of a fitted estimator with its experts relabelled (gate re-referenced
    to the new last expert)."""
    other = copy.deepcopy(moe)
    gate = np.column_stack([moe.gate_intercept_, moe.gate_coef_])[perm]
    gate = gate - gate[-1]
    other.gate_intercept_, other.gate_coef_ = gate[:, 0], gate[:, 1:]
    for name in ("expert_intercept_", "expert_coef_", "expert_variance_",
                 "expert_weight_", "degenerate_experts_"):
        setattr(other, name, getattr(moe, name)[perm])
    return other


# --------------------------------------------------------------------- scores
def test_per_sample_scores_match_finite_differences():
    rng = np.random.default_rng(0)
    n, d, k = 40, 2, 3
    Xt = np.column_stack([np.ones(n), rng.normal(size=(n, d))])
    y = rng.normal(size=n)
    params = MoEParams(rng.normal(size=(k, d + 1)), rng.normal(size=(k, d + 1)),
                       rng.uniform(0.3, 2.0, size=k))
    params.gate[-1] = 0
    theta = params.to_vector()
    model, fitted = fitted_engine(Softmax(), _as_dict(params), Xt[:, 1:], y)
    np.testing.assert_allclose(model.to_vector(fitted), theta)
    scores = model.per_sample_gradient(fitted)
    np.testing.assert_allclose(scores, fd_scores(Xt, y, theta, k), rtol=1e-5,
                               atol=1e-7)


def test_mean_function_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    n, d, k = 10, 2, 3
    Xt = np.column_stack([np.ones(n), rng.normal(size=(n, d))])
    params = MoEParams(rng.normal(size=(k, d + 1)), rng.normal(size=(k, d + 1)),
                       np.ones(k))
    theta = params.to_vector()

    def mean(t):
        p = MoEParams.from_vector(t, k, d + 1)
        pi = np.exp(log_softmax(Xt @ p.gate.T, axis=1))
        return np.sum(pi * (Xt @ p.coef.T), axis=1)

    params.gate[-1] = 0
    theta = params.to_vector()
    model, fitted = fitted_engine(Softmax(), _as_dict(params), Xt[:, 1:])
    value, grad = model.mean_and_gradient(fitted)
    np.testing.assert_allclose(value, mean(theta))
    fd = np.empty_like(grad)
    for j in range(theta.size):
        e = np.zeros(theta.size)
        e[j] = 1e-6
        fd[:, j] = (mean(theta + e) - mean(theta - e)) / 2e-6
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------- Wald, sandwich
def test_wald_and_sandwich_match_finite_difference_references(mild_500):
    moe, X, y = mild_500
    Xt = np.column_stack([np.ones(len(y)), X])
    theta = fitted_vector(moe)
    info = -fd_hessian(Xt, y, theta, 2)
    cov = np.linalg.inv(info)
    S = fd_scores(Xt, y, theta, 2)
    sandwich = cov @ (S.T @ S) @ cov
    for method, reference in (("wald", cov), ("sandwich", sandwich)):
        table = moe.summary(X, y, method=method)
        free = table.dropna(subset=["std_error"])
        se_free = np.sqrt(np.diag(reference))
        # free order: gate row 0 (intercept, slope), experts 0, 1, log-variances
        expected = np.concatenate([se_free[:6],
                                   np.exp(theta[6:]) * se_free[6:]])
        order = [0, 1, 2, 4, 3, 5, 6, 7]  # table: intercepts before slopes
        np.testing.assert_allclose(free["std_error"].to_numpy(),
                                   expected[order], rtol=2e-3, err_msg=method)
        z = norm.ppf(0.975)
        var_rows = free[free["parameter"] == "expert_variance"]
        np.testing.assert_allclose(
            var_rows["lower"], np.exp(theta[6:] - z * se_free[6:]), rtol=1e-3)
        coef_rows = free[free["parameter"] == "expert_coef"]
        np.testing.assert_allclose(
            coef_rows["upper"] - coef_rows["estimate"],
            z * coef_rows["std_error"], rtol=1e-12)


def test_sandwich_is_close_to_wald_when_the_model_is_true():
    moe, X, y = mild_fit(20000, 5)
    wald = moe.summary(X, y)["std_error"].to_numpy()
    sandwich = moe.summary(X, y, method="sandwich")["std_error"].to_numpy()
    ok = np.isfinite(wald)
    assert ok.sum() == 8
    ratio = sandwich[ok] / wald[ok]
    assert np.all((ratio > 0.9) & (ratio < 1.1)), ratio


def test_summary_table_layout(mild_500):
    moe, X, y = mild_500
    table = moe.summary(X, y, level=0.9)
    assert list(table.columns) == ["parameter", "expert", "feature", "estimate",
                                   "std_error", "lower", "upper"]
    assert list(table["parameter"].unique()) == list(PARAM_NAMES)
    for name in PARAM_NAMES:
        np.testing.assert_array_equal(
            table.loc[table["parameter"] == name, "estimate"],
            np.ravel(getattr(moe, name + "_")))
    reference = table[(table["expert"] == 1)
                      & table["parameter"].str.startswith("gate")]
    assert reference["std_error"].isna().all()
    assert (reference["estimate"] == 0).all()
    assert table["std_error"].isna().sum() == 2
    assert table.attrs["level"] == 0.9 and table.attrs["n_samples"] == 500
    text = format_summary(table)
    assert text.startswith("Gaussian MoE, gate Softmax(): n = 500, k = 2")
    assert "relative to expert 1" in text


def test_feature_names_from_a_dataframe():
    X, y = make_moe_regression(400, MILD, low=-2, high=2, random_state=1)
    frame = pd.DataFrame({"dose": X[:, 0]})
    moe = GaussianMoERegressor(2, init_params=MILD, n_init=1).fit(frame, y)
    table = moe.summary(frame, y)
    assert table.loc[table["parameter"] == "gate_coef", "feature"].tolist() == [
        "dose", "dose"]
    assert table.loc[table["parameter"] == "gate_intercept", "feature"].isna().all()


def test_penalised_fit_is_stationary_in_original_units_and_says_so():
    moe, X, y = mild_fit(500, 3, gate_penalty=20.0)
    result = moe.inference(X, y)
    # the penalty written in the original units: its gradient cancels the score
    assert np.abs(result.gradient).max() < 1e-5
    assert any("penalised" in note for note in result.notes)
    free_fit = mild_fit(500, 3)[0]
    assert abs(moe.gate_coef_[0, 0]) < abs(free_fit.gate_coef_[0, 0])


def test_summary_does_not_change_the_estimator(mild_500):
    moe, X, y = mild_500
    state = pickle.dumps(moe)
    moe.summary(X, y, method="sandwich")
    assert pickle.dumps(moe) == state


# ------------------------------------------------------------------- bootstrap
def test_align_experts_undoes_a_permutation():
    rng = np.random.default_rng(2)
    k, d = 4, 2
    params = {"gate_intercept": rng.normal(size=k), "gate_coef": rng.normal(
        size=(k, d)), "expert_intercept": rng.normal(size=k),
        "expert_coef": rng.normal(size=(k, d)),
        "expert_variance": rng.uniform(0.1, 1, size=k)}
    params["gate_intercept"][-1] = 0
    params["gate_coef"][-1] = 0
    perm = np.array([2, 0, 3, 1])
    gate = np.column_stack([params["gate_intercept"], params["gate_coef"]])[perm]
    gate -= gate[-1]
    shuffled = {"gate_intercept": gate[:, 0], "gate_coef": gate[:, 1:]}
    for name in ("expert_intercept", "expert_coef", "expert_variance"):
        shuffled[name] = params[name][perm]
    aligned, found = align_experts(shuffled, params, X=rng.normal(size=(50, d)))
    np.testing.assert_array_equal(perm[found], np.arange(k))
    for name in PARAM_NAMES:
        np.testing.assert_allclose(aligned[name], params[name], atol=1e-12)


def test_bootstrap_refits_from_a_permuted_start_align_to_the_same_draw(mild_500):
    moe, X, y = mild_500
    from gmoe.model._scaling import _Scaling

    reference = {name: getattr(moe, name + "_") for name in PARAM_NAMES}
    start_swapped = {name: getattr(permuted(moe, [1, 0]), name + "_")
                     for name in PARAM_NAMES}
    w = np.ones(len(y))
    scaling = _Scaling(X, y, w)
    seed = np.random.SeedSequence(4)
    plain, _ = _bootstrap_one(moe, X, y, w, "nonparametric", seed, reference,
                              reference, scaling)
    swapped, _ = _bootstrap_one(moe, X, y, w, "nonparametric", seed,
                                start_swapped, reference, scaling)
    for name in PARAM_NAMES:
        np.testing.assert_allclose(swapped[name], plain[name], rtol=1e-5,
                                   atol=1e-6, err_msg=name)
    assert not np.allclose(plain["expert_coef"], reference["expert_coef"])


def test_permuting_the_experts_of_a_fit_does_not_change_the_summary(mild_500):
    moe, X, y = mild_500
    other = permuted(moe, [1, 0])
    for method, options in (("wald", {}), ("bootstrap", {"n_boot": 8,
                                                         "random_state": 3})):
        a = moe.summary(X, y, method=method, **options).set_index(
            ["parameter", "expert"])
        b = other.summary(X, y, method=method, **options).set_index(
            ["parameter", "expert"])
        for name in ("expert_intercept", "expert_coef", "expert_variance"):
            for i in range(2):
                np.testing.assert_allclose(
                    b.loc[(name, 1 - i), ["estimate", "std_error", "lower",
                                          "upper"]].to_numpy(float),
                    a.loc[(name, i), ["estimate", "std_error", "lower",
                                      "upper"]].to_numpy(float),
                    rtol=1e-5, err_msg=f"{method} {name} {i}")
        # k = 2: the gate row of the other expert is minus this one
        for name in ("gate_intercept", "gate_coef"):
            np.testing.assert_allclose(b.loc[(name, 0), "std_error"],
                                       a.loc[(name, 0), "std_error"], rtol=1e-5)
            np.testing.assert_allclose(b.loc[(name, 0), "lower"],
                                       -a.loc[(name, 0), "upper"], rtol=1e-5)


def bootstrap_tables(n_jobs_values, backend):
    moe, X, y = mild_fit(300, 8)
    with joblib.parallel_config(backend=backend):
        tables = [moe.summary(X, y, method="bootstrap", n_boot=6, random_state=11,
                              n_jobs=n_jobs, bootstrap="parametric")
                  for n_jobs in n_jobs_values]
    return moe, X, y, tables


@pytest.mark.slow
def test_bootstrap_does_not_depend_on_n_jobs_with_processes():
    _, _, _, tables = bootstrap_tables((1, 2), "loky")
    pd.testing.assert_frame_equal(tables[0], tables[1])


def test_bootstrap_does_not_depend_on_n_jobs():
    # threads in the fast suite (worker processes take seconds to start; the slow
    # test above runs the default process backend)
    moe, X, y, tables = bootstrap_tables((1, 2, 3), "threading")
    pd.testing.assert_frame_equal(tables[0], tables[1])
    pd.testing.assert_frame_equal(tables[0], tables[2])
    again = moe.summary(X, y, method="bootstrap", n_boot=6, random_state=12,
                        bootstrap="parametric")
    assert not np.allclose(again["lower"].dropna(), tables[0]["lower"].dropna())


def test_bootstrap_standard_errors_agree_with_wald(mild_500):
    moe, X, y = mild_500
    result = moe.inference(X, y, method="bootstrap", n_boot=60, random_state=0)
    boot = result.summary()
    wald = moe.summary(X, y)
    ratio = (boot["std_error"] / wald["std_error"]).dropna()
    assert len(ratio) == 8
    assert np.all((ratio > 0.6) & (ratio < 1.6)), ratio.to_numpy()
    assert boot.attrs["method"].startswith("bootstrap (nonparametric, 60")
    inside = (boot["lower"] <= boot["estimate"]) & (boot["estimate"] <= boot["upper"])
    assert inside[boot["std_error"].notna()].all()
    band = result.predict_mean_interval(np.array([[-1.0], [0.5], [1.5]]))
    mean = moe.predict(np.array([[-1.0], [0.5], [1.5]]))
    assert np.all((band[:, 0] < mean) & (mean < band[:, 1]))


# ------------------------------------------------------------ mean-function bands
def test_wald_band_is_the_delta_method(mild_500):
    moe, X, y = mild_500
    result = moe.inference(X, y)
    X_new = np.linspace(-2, 2, 7)[:, None]
    band = result.predict_mean_interval(X_new, level=0.9)
    Xt = np.column_stack([np.ones(7), X_new])
    theta = fitted_vector(moe)

    def mean(t):
        p = MoEParams.from_vector(t, 2, 2)
        pi = np.exp(log_softmax(Xt @ p.gate.T, axis=1))
        return np.sum(pi * (Xt @ p.coef.T), axis=1)

    grad = np.column_stack([
        (mean(theta + e) - mean(theta - e)) / 2e-6 for e in 1e-6 * np.eye(8)])
    se = np.sqrt(np.einsum("na,ab,nb->n", grad, result.covariance, grad))
    z = norm.ppf(0.95)
    np.testing.assert_allclose(band, np.column_stack([mean(theta) - z * se,
                                                      mean(theta) + z * se]),
                               rtol=1e-5)
    predictive = moe.predict_interval(X_new, coverage=0.9)
    assert np.all(band[:, 1] - band[:, 0] < predictive[:, 1] - predictive[:, 0])
    via_estimator = moe.predict_mean_interval(X_new, X, y, level=0.9)
    np.testing.assert_allclose(via_estimator, band)


# --------------------------------------------------------------- invalid cases
def line_data():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(600, 1))
    return X, 1 + 2 * X[:, 0] + 0.5 * rng.standard_normal(600)


def test_overfitted_fit_gives_nan_and_a_warning():
    X, y = line_data()
    # two experts on one line: the likelihood may keep rising as the gate
    # between them sharpens, and whether EM follows that path depends on
    # round-off, so a separation warning is allowed
    with expect_warnings([], allowed=[GateSeparationWarning]):
        moe = GaussianMoERegressor(2, n_init=5, random_state=0).fit(X, y)
    with pytest.warns(InferenceWarning) as record:
        table = moe.summary(X, y)
    messages = " ".join(str(w.message) for w in record)
    assert "cannot be told apart" in messages and "redundant" in messages
    assert table["std_error"].isna().all()
    with pytest.warns(InferenceWarning):
        band = moe.predict_mean_interval([[0.0]], X, y)
    assert np.isnan(band).all()


def test_redundant_expert_gives_nan_and_a_warning():
    # data whose 3-expert fit ends at the same optimum from every seed tried; the
    # redundant expert has the smallest share, so it comes first in the
    # canonical order
    X, y = make_moe_regression(500, MILD, low=-2, high=2, random_state=506)
    moe = GaussianMoERegressor(3, n_init=5, random_state=0).fit(X, y)
    with pytest.warns(InferenceWarning, match=r"experts \[0\] are redundant"):
        result = moe.inference(X, y)
    Xt = np.column_stack([np.ones(500), X])
    gate, coef, var = _params_arrays(result.params)
    # the numpy reference: the log-likelihood without expert 0, gate renormalised
    log_pi = log_softmax(Xt @ gate.T, axis=1)
    dens = np.exp(log_pi) * norm.pdf(y[:, None], Xt @ coef.T, np.sqrt(var))
    without = np.log(dens[:, 1:].sum(axis=1) / np.exp(log_pi[:, 1:]).sum(axis=1))
    drop = 2 * (np.log(dens.sum(axis=1)).sum() - without.sum())
    assert drop < 5 * np.log(500)
    table = result.summary()
    rows = table.set_index(["parameter", "expert"])
    assert rows.xs(0, level="expert")["std_error"].isna().all()
    assert rows.xs(1, level="expert")["std_error"].notna().all()


def test_collinear_features_make_the_information_singular():
    X, y = make_moe_regression(500, MILD, low=-2, high=2, random_state=0)
    X2 = np.column_stack([X, 2 * X])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        moe = GaussianMoERegressor(2, n_init=2, random_state=0).fit(X2, y)
    with pytest.warns(InferenceWarning, match="singular"):
        table = moe.summary(X2, y)
    assert table["std_error"].isna().all()


def test_separated_gate_rows_are_nan():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(0, 0.4, 100), rng.uniform(0.6, 1, 100)])
    y = np.where(x < 0.5, 2 * x, 3 - x) + 0.05 * rng.normal(size=200)
    X = x[:, None]
    with pytest.warns(GateSeparationWarning):
        moe = GaussianMoERegressor(2, random_state=0).fit(X, y)
    with pytest.warns(InferenceWarning, match="separates experts"):
        table = moe.summary(X, y)
    gate = table["parameter"].str.startswith("gate")
    assert table.loc[gate, "std_error"].isna().all()
    assert table.loc[~gate, "std_error"].notna().all()


def test_parameter_at_the_variance_bound_is_nan(mild_500):
    moe, X, y = mild_500
    lower = 1.2 * moe.expert_variance_[1]
    start = {name: getattr(moe, name + "_").copy() for name in PARAM_NAMES}
    start["expert_variance"] = np.maximum(start["expert_variance"], lower)
    bounded = GaussianMoERegressor(2, init_params=start, n_init=1,
                                   variance_bounds=(lower, 10.0)).fit(X, y)
    assert bounded.expert_variance_[1] == pytest.approx(lower)
    with pytest.warns(InferenceWarning, match="held at a bound"):
        table = bounded.summary(X, y)
    rows = table.set_index(["parameter", "expert"])
    assert np.isnan(rows.loc[("expert_variance", 1), "std_error"])
    assert table["std_error"].isna().sum() == 3


# ------------------------------------------------------------------ bad input
def test_bad_input(mild_500):
    moe, X, y = mild_500
    with pytest.raises(ValueError, match="method must be one of"):
        moe.summary(X, y, method="profile")
    for level in (0, 1, 1.5, -0.1, True, "0.95"):
        with pytest.raises(ValueError, match="level must be a number in"):
            moe.summary(X, y, level=level)
    with pytest.raises(ValueError, match="level must be"):
        moe.predict_mean_interval([[0.0]], X, y, level=95)
    with pytest.raises(ValueError, match="the data the model was fitted on"):
        moe.summary(X, y + 0.1)
    with pytest.raises(ValueError, match="n_boot must be an integer"):
        moe.summary(X, y, method="bootstrap", n_boot=1)
    with pytest.raises(ValueError, match="bootstrap must be one of"):
        moe.summary(X, y, method="bootstrap", bootstrap="wild")
    with pytest.raises(ValueError, match="y has shape"):
        moe.summary(X, y[:-1])
    with pytest.raises(NotFittedError):
        GaussianMoERegressor(2).summary(X, y)
    with pytest.raises(NotFittedError):
        MoEInference(GaussianMoERegressor(2), X, y)
    result = moe.inference(X, y)
    with pytest.raises(ValueError, match="level must be"):
        result.summary(level=2)
    with pytest.raises(ValueError, match="X must have shape"):
        result.predict_mean_interval(np.zeros((3, 2)))


# ---------------------------------------------------------------- slow: coverage
@pytest.mark.slow
def test_wald_and_sandwich_coverage_on_the_mild_truth():
    """95 % intervals over 100 data sets of n = 2000: coverage of every parameter
    group within 0.90-0.99 (the benchmark script runs the full study)."""
    hits = {"wald": [], "sandwich": []}
    for seed in range(100):
        moe, X, y = mild_fit(2000, 1000 + seed)
        truth = np.concatenate([np.ravel(MILD[name]) for name in PARAM_NAMES])
        for method in hits:
            table = moe.summary(X, y, method=method)
            ok = table["std_error"].notna().to_numpy()
            covered = (table["lower"] <= truth) & (truth <= table["upper"])
            hits[method].append(covered.to_numpy()[ok])
    for method, rows in hits.items():
        rate = np.mean(rows, axis=0)
        group = np.array([0, 0, 1, 1, 1, 1, 2, 2])
        for g in range(3):
            assert 0.90 <= rate[group == g].mean() <= 0.99, (method, g, rate)


def test_one_expert_is_least_squares_with_the_ml_variance():
    X, y = make_moe_regression(300, MILD, low=-2, high=2, random_state=6)
    moe = GaussianMoERegressor(1, n_init=1).fit(X, y)
    table = moe.summary(X, y).set_index("parameter")
    Xt = np.column_stack([np.ones(300), X])
    coef, rss = np.linalg.lstsq(Xt, y, rcond=None)[:2]
    var = rss[0] / 300
    se = np.sqrt(np.diag(var * np.linalg.inv(Xt.T @ Xt)))
    np.testing.assert_allclose(table.loc["expert_intercept", "std_error"], se[0],
                               rtol=1e-6)
    np.testing.assert_allclose(table.loc["expert_coef", "std_error"], se[1],
                               rtol=1e-6)
    np.testing.assert_allclose(table.loc["expert_variance", "std_error"],
                               var * np.sqrt(2 / 300), rtol=1e-6)


def test_bootstrap_progress_bar_does_not_change_the_draws(capsys):
    moe, X, y = mild_fit(300, 8)
    quiet = moe.summary(X, y, method="bootstrap", n_boot=4, random_state=1)
    shown = moe.summary(X, y, method="bootstrap", n_boot=4, random_state=1,
                        progress=True)
    assert "nonparametric bootstrap" in capsys.readouterr().err
    pd.testing.assert_frame_equal(quiet, shown)
