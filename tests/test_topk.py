"""The top-K sparse softmax gate: kernels, model, EM, estimator, sampling, studies."""

import dataclasses
import warnings

import numpy as np
import pytest
import scipy.integrate
from naive import e_step as naive_e_step
from naive import log_gate as naive_log_gate
from naive import loglik as naive_loglik
from naive import loglik_hessian as naive_loglik_hessian
from naive import top_k_keep
from scipy.special import logsumexp
from scipy.stats import norm

from gmoe import GaussianMoERegressor
from gmoe.datasets import (
    TOPK_TRUTH,
    TOPK_TRUTH_K,
    draw_covariates,
    draw_response,
    make_moe_regression,
)
from gmoe.engine._em import params_from_responsibilities, run_em
from gmoe.engine._gated_model import GatedGaussianMoE
from gmoe.engine._model import MoEParams, log_gate_weights
from gmoe.gates import Softmax, TopK
from gmoe.gates._sparse import top_k_mask
from gmoe.kernels._numba_config import CHUNK_SIZE
from gmoe.kernels._scores import loglik_hessian_from_scores
from gmoe.kernels._sources import linear_source


def random_problem(n, k, d, seed, ties=False):
    rng = np.random.default_rng(seed)
    Xt = np.column_stack([np.ones(n), rng.normal(size=(n, d))])
    y = rng.normal(size=n) * 2
    w = rng.uniform(0, 2, size=n)
    w[rng.random(n) < 0.1] = 0.0
    gate = rng.normal(size=(k, d + 1))
    if ties and k > 2:
        gate[2] = gate[0]  # equal scores everywhere: the tie rule decides
    coef = rng.normal(size=(k, d + 1))
    var = rng.uniform(0.1, 2.0, size=k)
    return Xt, y, w, gate, coef, var


def truth_loglik(X, y, params, top_k):
    scores = X @ params["gate_coef"].T + params["gate_intercept"]
    means = X @ params["expert_coef"].T + params["expert_intercept"]
    log_joint = naive_log_gate(np.column_stack([np.ones(len(X)), X]),
                               np.column_stack([params["gate_intercept"],
                                                params["gate_coef"]]), top_k)
    assert np.allclose(np.isfinite(log_joint), top_k_keep(scores, top_k))
    log_joint = log_joint + norm.logpdf(y[:, None], means,
                                        np.sqrt(params["expert_variance"]))
    return float(logsumexp(log_joint, axis=1).sum())


@pytest.fixture(scope="module")
def topk_data():
    X, y = make_moe_regression(2000, TOPK_TRUTH, random_state=3, top_k=TOPK_TRUTH_K)
    return X, y


@pytest.fixture(scope="module")
def topk_fit(topk_data):
    X, y = topk_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMoERegressor(4, top_k=2, solver="em", n_init=4,
                                    random_state=0).fit(X, y)


# ------------------------------------------------------------------ kernels
def test_top_k_mask_matches_sorting_reference():
    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=(300, 6)), 1)  # many exact ties
    for K in range(1, 7):
        np.testing.assert_array_equal(top_k_mask(scores, K), top_k_keep(scores, K))
    assert top_k_mask(scores, None).all()


def test_log_gate_weights_match_reference():
    rng = np.random.default_rng(1)
    Xt = np.column_stack([np.ones(50), rng.normal(size=(50, 2))])
    gate = rng.normal(size=(5, 3))
    for K in (1, 2, 4, None):
        want = naive_log_gate(Xt, gate, K)
        got = log_gate_weights(Xt @ gate.T, K)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def engine(Xt, y, w, K, var_lower=1e-6):
    """The engine every gate shares, with the top-K gate: its blocks are the
    rows ``(intercept, slopes)`` of the softmax gate on the covariates
    ``Xt[:, 1:]``."""
    return GatedGaussianMoE(Xt[:, 1:], Xt, y, w, TopK(K), var_lower=var_lower)


@pytest.mark.parametrize("n, k, d, ties", [(7, 3, 1, False), (7, 3, 1, True),
                                           (CHUNK_SIZE + 13, 3, 2, True),
                                           (300, 8, 2, False), (300, 8, 2, True)])
def test_top_k_e_step_matches_reference(n, k, d, ties):
    Xt, y, w, gate, coef, var = random_problem(n, k, d, seed=n + k, ties=ties)
    resp_prev = np.random.default_rng(n).dirichlet(np.ones(k), size=n)
    for K in range(1, k):
        resp = np.empty((n, k))
        stats = engine(Xt, y, w, K).e_step(MoEParams(gate, coef, var), resp_prev,
                                           resp)
        got = [getattr(stats, field.name) for field in dataclasses.fields(stats)]
        want = naive_e_step(Xt, y, w, gate, coef, var, resp_prev, top_k=K)
        for g, e in zip(got, want[:8], strict=True):
            np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-9)
        np.testing.assert_allclose(resp, want[8], rtol=1e-10, atol=1e-14)
        assert np.all(np.count_nonzero(resp, axis=1) <= K)


@pytest.mark.parametrize("n, k, K", [(7, 3, 1), (CHUNK_SIZE + 13, 4, 2), (300, 8, 3)])
def test_top_k_log_likelihood_pass_matches_reference_and_the_e_step(n, k, K):
    Xt, y, w, gate, coef, var = random_problem(n, k, 2, seed=11 * n + k, ties=True)
    model = engine(Xt, y, w, K)
    params = MoEParams(gate, coef, var)
    got = model.objective(params)
    assert got == pytest.approx(naive_loglik(Xt, y, w, gate, coef, var, K),
                                rel=1e-12, abs=1e-10)
    resp = np.empty((n, k))
    assert got == pytest.approx(model.e_step(params, resp, resp).loglik,
                                rel=1e-13, abs=1e-11)


def test_top_k_equal_to_k_is_the_dense_e_step_bit_for_bit():
    # the selection keeps every expert and leaves the arithmetic untouched
    Xt, y, w, gate, coef, var = random_problem(3000, 4, 2, seed=4)
    resp_prev = np.full((3000, 4), 0.25)
    dense, top = np.empty((3000, 4)), np.empty((3000, 4))
    params = MoEParams(gate, coef, var)
    softmax = GatedGaussianMoE(Xt[:, 1:], Xt, y, w, Softmax(), var_lower=1e-6)
    a = softmax.e_step(params, resp_prev, dense)
    b = engine(Xt, y, w, 4).e_step(params, resp_prev, top)
    for field in dataclasses.fields(a):
        np.testing.assert_array_equal(getattr(a, field.name), getattr(b, field.name))
    np.testing.assert_array_equal(dense, top)


@pytest.mark.parametrize("K", [1, 2, 3])
def test_top_k_hessian_matches_reference(K):
    Xt, y, w, gate, coef, var = random_problem(200, 4, 2, seed=9, ties=True)
    value, grad, hess = loglik_hessian_from_scores(
        linear_source(Xt, gate, "identity", TopK(K).selection()), Xt, y, w, coef,
        var)
    want = naive_loglik_hessian(Xt, y, w, gate, coef, var, top_k=K)
    q = grad.shape[1]
    for g, e in zip((value, grad.ravel(), hess.reshape(4 * q, 4 * q)), want,
                    strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-9)


def test_top_k_gradient_is_that_of_the_fixed_set_piece():
    """Away from the set boundaries, central differences of the true top-K
    objective equal the model's gradient."""
    Xt, y, w, gate, coef, var = random_problem(400, 4, 1, seed=2)
    model = engine(Xt, y, w, 2)
    params = model.project(MoEParams(gate, coef, var))
    value, grad, _ = model.derivatives(params)
    assert value == pytest.approx(naive_loglik(Xt, y, w, gate - gate[-1], coef, var,
                                               2), rel=1e-12)
    theta = model.to_vector(params)
    h = 1e-7
    k = coef.shape[0]
    for j in range(theta.size):
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        f_up = model.objective(model.from_vector(up, k))
        f_down = model.objective(model.from_vector(down, k))
        assert (f_up - f_down) / (2 * h) == pytest.approx(grad[j], rel=1e-5, abs=1e-4)


def test_top_k_em_never_decreases_the_log_likelihood():
    X, y = make_moe_regression(1500, TOPK_TRUTH, random_state=5, top_k=2)
    Xt = np.column_stack([np.ones(len(y)), (X - X.mean(0)) / X.std(0)])
    ys = (y - y.mean()) / y.std()
    model = engine(Xt, ys, np.ones(len(y)), 2)
    rng = np.random.default_rng(0)
    start = MoEParams(rng.normal(size=(5, 3)), rng.normal(size=(5, 3)), np.ones(5))
    result = run_em(model, start, max_iter=300, tol=1e-9)
    trace = np.asarray(result.trace)
    assert trace.size > 10
    assert np.all(np.diff(trace) >= -1e-9 * np.abs(trace[1:]))
    assert trace[-1] > trace[0] + 100


# ---------------------------------------------------------------- estimator
@pytest.mark.parametrize("bad", [0, 5, -1, 1.5, "2", 2.0])
def test_bad_top_k_is_a_value_error_and_keeps_the_fitted_model(bad, topk_data,
                                                             topk_fit):
    X, y = topk_data
    model = GaussianMoERegressor(4, top_k=2, solver="em", n_init=1, max_iter=5,
                                 random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X[:300], y[:300])
    before = model.expert_coef_.copy()
    model.set_params(top_k=bad)
    with pytest.raises(ValueError, match="top_k"):
        model.fit(X, y)
    np.testing.assert_array_equal(model.expert_coef_, before)
    assert model.top_k_ == 2


def test_top_k_equal_to_n_experts_gives_the_dense_fit():
    X, y = make_moe_regression(600, random_state=1)
    dense = GaussianMoERegressor(2, n_init=3, random_state=0).fit(X, y)
    top = GaussianMoERegressor(2, n_init=3, random_state=0, top_k=2).fit(X, y)
    for name in ("gate_coef_", "gate_intercept_", "expert_coef_",
                 "expert_intercept_", "expert_variance_", "log_likelihood_"):
        np.testing.assert_array_equal(getattr(dense, name), getattr(top, name))
    np.testing.assert_array_equal(dense.predict_gate(X), top.predict_gate(X))
    assert top.top_k_ is None


def test_top_k_fit_is_at_least_as_likely_as_the_truth(topk_data, topk_fit):
    X, y = topk_data
    truth = truth_loglik(X, y, TOPK_TRUTH, TOPK_TRUTH_K)
    assert topk_fit.log_likelihood_ >= truth
    assert topk_fit.score_samples(X, y).sum() == pytest.approx(
        topk_fit.log_likelihood_, rel=1e-9)


def test_top_k_predictions_are_consistent(topk_data, topk_fit):
    X, y = topk_data
    moe = topk_fit
    gate = moe.predict_gate(X)
    assert np.all(np.count_nonzero(gate, axis=1) <= 2)
    np.testing.assert_allclose(gate.sum(axis=1), 1.0, rtol=1e-12)
    scores = X @ moe.gate_coef_.T + moe.gate_intercept_
    np.testing.assert_array_equal(gate > 0, top_k_keep(scores, 2))
    means = moe.predict_experts(X)
    np.testing.assert_allclose(moe.predict(X), np.sum(gate * means, axis=1))
    resp = moe.predict_responsibilities(X, y)
    assert np.all(resp[gate == 0] == 0)
    lo, hi = moe.predict_interval(X, coverage=0.8).T
    assert 0.76 < np.mean((lo <= y) & (y <= hi)) < 0.84


def test_top_k_score_samples_integrates_to_one(topk_fit):
    X = draw_covariates(3, 2, random_state=2)
    for x in X:
        def density(v, x=x):
            return float(np.exp(topk_fit.score_samples(x[None, :], [v])[0]))
        total, _ = scipy.integrate.quad(density, -30, 30, limit=400, points=list(
            topk_fit.predict_experts(x[None, :])[0]))
        assert total == pytest.approx(1.0, abs=1e-7)


def test_top_k_sample_draws_from_the_top_k_gate(topk_fit):
    X = np.repeat(draw_covariates(4, 2, random_state=7), 5000, axis=0)
    y, experts = topk_fit.sample(X, random_state=0)
    gate = topk_fit.predict_gate(X)
    for row in range(4):
        rows = slice(row * 5000, (row + 1) * 5000)
        counts = np.bincount(experts[rows], minlength=4) / 5000
        assert np.all(counts[gate[row * 5000] == 0] == 0)
        np.testing.assert_allclose(counts, gate[row * 5000], atol=0.03)


def test_draw_response_top_k_matches_the_gate():
    X = np.repeat(draw_covariates(3, 2, random_state=1), 2000, axis=0)
    _, experts = draw_response(TOPK_TRUTH, X, random_state=0, top_k=2)
    scores = X @ TOPK_TRUTH["gate_coef"].T + TOPK_TRUTH["gate_intercept"]
    gate = np.exp(naive_log_gate(np.column_stack([np.ones(len(X)), X]), np.column_stack(
        [TOPK_TRUTH["gate_intercept"], TOPK_TRUTH["gate_coef"]]), 2))
    assert np.all(top_k_keep(scores, 2)[np.arange(len(X)), experts])
    for row in range(3):
        rows = slice(row * 2000, (row + 1) * 2000)
        counts = np.bincount(experts[rows], minlength=4) / 2000
        np.testing.assert_allclose(counts, gate[row * 2000], atol=0.04)


def test_top_k_rate_study_path(topk_data):
    from gmoe.simulation import draw_replication, run_rate_study

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = run_rate_study(TOPK_TRUTH, 4, [600], 1, random_state=0,
                                 truth_top_k=2, estimator_params={"top_k": 2,
                                                                  "solver": "em"},
                                 losses=("D1",), translation="reference",
                                 progress=False)
    row = results.iloc[0]
    assert row["error"] == ""
    X, y = draw_replication(TOPK_TRUTH, 600, 0, random_state=0, top_k=2)
    assert row["log_likelihood"] >= truth_loglik(X, y, TOPK_TRUTH, 2)
    assert row["routing_mean_active"] <= 2
    assert 1 <= row["routing_effective_load"] <= 4
    with pytest.raises(ValueError, match="truth_top_k"):
        run_rate_study(TOPK_TRUTH, 4, [600], 1, random_state=0, truth_top_k=7,
                       progress=False)


def test_top_k_truth_in_a_study_configuration():
    from gmoe.simulation._config import ConfigError, parse_config

    table = {"study": {"n_experts": 5, "sample_sizes": [1000], "n_replications": 1,
                       "random_state": 0},
             "truth": {"preset": "TOPK", "top_k": 2},
             "fit": {"estimator_params": {"top_k": 3}},
             "loss": {"translation": "reference"}}
    config = parse_config(table)
    assert config.study["truth_top_k"] == 2
    np.testing.assert_array_equal(config.study["truth"]["gate_coef"],
                                  TOPK_TRUTH["gate_coef"])
    table["truth"]["top_k"] = 9
    with pytest.raises(ConfigError, match="truth_top_k"):
        parse_config(table)


def test_newton_reports_the_gradient_of_the_fixed_set_piece(topk_data):
    from gmoe.engine._newton import projected_gradient_norm
    from gmoe.engine._solvers import SolverOptions, solve_em, solve_newton

    X, y = topk_data
    X, y = X[:800], y[:800]
    Xs = (X - X.mean(axis=0)) / X.std(axis=0)
    ys = (y - y.mean()) / y.std()
    model = engine(np.column_stack([np.ones(len(y)), Xs]), ys, np.ones(len(y)), 2)
    resp = np.random.default_rng(0).dirichlet(np.ones(4), size=len(y))
    start = params_from_responsibilities(model, resp)
    options = SolverOptions(max_iter=1000, tol=1e-6, gtol=1e-8)
    em = solve_em(model, start, options)
    newton = solve_newton(model, start, options)
    assert newton.objective >= em.objective - 1e-6
    # the reported gradient is that of the smooth piece at the returned
    # parameters less the pushes of the samples held at their boundaries: at
    # most the piece's own gradient, and below gtol when certified
    assert newton.grad_norm <= projected_gradient_norm(model, newton.params) * (
        1 + 1e-9)
    if newton.converged:
        assert newton.grad_norm <= options.gtol


def test_newton_stops_crawling_on_a_sparse_gate_only(topk_data, monkeypatch):
    """A run whose recent steps gain less than ``crawl_tol`` each stops as
    "crawling", not converged, above its start; a smooth model ignores it."""
    import gmoe.engine._newton as newton_module
    from gmoe.engine._newton import run_newton

    X, y = topk_data
    X, y = X[:800], y[:800]
    Xt = np.column_stack([np.ones(len(y)), (X - X.mean(axis=0)) / X.std(axis=0)])
    ys = (y - y.mean()) / y.std()
    resp = np.random.default_rng(0).dirichlet(np.ones(4), size=len(y))
    monkeypatch.setattr(newton_module, "CRAWL_WINDOW", 2)
    sparse = engine(Xt, ys, np.ones(len(y)), 2)
    start = params_from_responsibilities(sparse, resp)
    first = sparse.derivatives(sparse.project(start))[0]
    # every step gains less than 1e6 nats per sample: the third step stops it
    run = run_newton(sparse, start, max_iter=100, gtol=1e-8, crawl_tol=1e6)
    assert run.status == "crawling" and not run.converged
    assert run.n_iter == 3 and run.objective > first
    free = run_newton(sparse, start, max_iter=100, gtol=1e-8)
    assert free.status != "crawling" and free.n_iter > 3
    dense = GatedGaussianMoE(Xt[:, 1:], Xt, ys, np.ones(len(y)), Softmax(),
                             var_lower=1e-6)
    start = params_from_responsibilities(dense, resp)
    plain = run_newton(dense, start, max_iter=100, gtol=1e-8)
    told = run_newton(dense, start, max_iter=100, gtol=1e-8, crawl_tol=1e6)
    assert told.status == plain.status and told.n_iter == plain.n_iter > 3
    assert told.objective == plain.objective


def test_piece_wald_intervals_of_a_top_k_fit_cover_the_truth():
    # The top-K likelihood is piecewise smooth; the Wald intervals of the fit's
    # piece (selections held) cover the true expert parameters about 95% of the
    # time over repeated data sets, and the gate's at least that often.
    from gmoe.inference._align import align_experts

    truth = {name: np.asarray(value, dtype=float) for name, value in
             TOPK_TRUTH.items()}
    hits_expert, hits_gate = [], []
    for seed in range(20):
        X, y = make_moe_regression(1000, TOPK_TRUTH, random_state=500 + seed,
                                   top_k=TOPK_TRUTH_K)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = GaussianMoERegressor(4, top_k=TOPK_TRUTH_K, random_state=0,
                                         init_params=TOPK_TRUTH).fit(X, y)
        table = model.summary(X, y)
        assert "piecewise smooth" in table.attrs["notes"][0]
        aligned, perm = align_experts(model._params_dict(), truth,
                                      gate=model.gate_)
        inverse = np.argsort(perm)      # fitted expert i is true expert inverse[i]
        for name in ("expert_intercept", "expert_coef"):
            rows = table[table["parameter"] == name]
            true = truth[name][inverse[rows["expert"].to_numpy()]]
            if true.ndim == 2:
                true = true[np.arange(len(rows)), rows["feature"].to_numpy(int)]
            hits_expert.extend((rows["lower"] <= true) & (true <= rows["upper"]))
        rows = table[(table["parameter"] == "gate_coef") & table["std_error"].notna()]
        reference = truth["gate_coef"][inverse[-1]]
        true = (truth["gate_coef"][inverse[rows["expert"].to_numpy()]]
                - reference)[np.arange(len(rows)), rows["feature"].to_numpy(int)]
        hits_gate.extend((rows["lower"] <= true) & (true <= rows["upper"]))
    assert 0.88 <= np.mean(hits_expert) <= 0.99, np.mean(hits_expert)
    assert np.mean(hits_gate) >= 0.88, np.mean(hits_gate)


@pytest.mark.slow
def test_top_p_fit_at_large_n_is_certified():
    """At n = 2e4 a top-P fit crosses more than 20 boundaries upwards before it
    is stationary on its piece with no crossing left that raises the
    likelihood: the number of such moves grows with the run, not a fixed cap."""
    from gmoe import GaussianMoERegressor
    from gmoe.datasets import make_moe_regression
    from gmoe.gates import TopP

    X, y = make_moe_regression(20000, random_state=1)[:2]
    moe = GaussianMoERegressor(4, gate=TopP(0.9), random_state=0).fit(X, y)
    assert moe.converged_ and moe.solver_status_ == "gradient"
