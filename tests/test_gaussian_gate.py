"""The Gaussian-gated MoE: conversions, the x-marginal and its closed-form
M-step, the engine's passes, the estimator, the loss."""

import itertools
import types
import warnings

import naive
import numpy as np
import pytest
import scipy.integrate
import scipy.special
import scipy.stats
from sklearn.exceptions import ConvergenceWarning

from gmoe import CovarianceFloorWarning, GaussianMoERegressor
from gmoe.datasets import N24G_TRUTH_TYPE1, N24G_TRUTH_TYPE2, draw_gaussian_gate_data
from gmoe.engine._gated_model import GatedGaussianMoE
from gmoe.engine._model import MoEParams
from gmoe.gates import Gaussian
from gmoe.gates._gaussian_maths import (
    augmented_design,
    gaussian_log_gate,
    gaussian_log_scores,
    gaussian_to_quadratic,
    n_gaussian_gate_parameters,
    quadratic_to_gaussian,
)
from gmoe.gates._gaussian_mixture import (
    block_moments,
    feature_moments,
    gaussian_m_step,
    log_partition,
    moment_matched_representative,
)
from gmoe.kernels._scores import e_step_from_scores, loglik_hessian_from_scores
from gmoe.kernels._sources import array_source, linear_source
from gmoe.theory._voronoi_gaussian import (
    GaussianGateMixingMeasure,
    gaussian_gate_loss,
    gaussian_gate_voronoi_cells,
)

IDENTITY = types.SimpleNamespace(x_mean=np.zeros(2), x_scale=np.ones(2))


def _random_gaussian_gate(rng, k=3, d=2):
    weight = rng.dirichlet(np.ones(k))
    mean = rng.normal(size=(k, d))
    factors = rng.normal(size=(k, d, d))
    cov = factors @ np.swapaxes(factors, 1, 2) + 0.5 * np.eye(d)
    return weight, mean, cov


def _reference_log_scores(X, weight, mean, cov):
    """log pi_i + log N(x; c_i, Gamma_i) with scipy."""
    return np.column_stack([
        np.log(w) + scipy.stats.multivariate_normal(m, c).logpdf(X).reshape(-1)
        for w, m, c in zip(weight, mean, cov, strict=True)])


def _truth_log_terms(X, y, truth):
    """Joint log terms of a truth, with scipy only."""
    scores = _reference_log_scores(X, truth["gate_weight"], truth["gate_mean"],
                                   truth["gate_covariance"])
    means = X @ truth["expert_coef"].T + truth["expert_intercept"]
    dens = scipy.stats.norm.logpdf(y[:, None], means,
                                   np.sqrt(truth["expert_variance"]))
    return scores, dens


def _truth_conditional_loglik(X, y, truth):
    scores, dens = _truth_log_terms(X, y, truth)
    gate = scores - scipy.special.logsumexp(scores, axis=1, keepdims=True)
    return scipy.special.logsumexp(gate + dens, axis=1).sum()


def _truth_joint_loglik(X, y, truth):
    scores, dens = _truth_log_terms(X, y, truth)
    return scipy.special.logsumexp(scores + dens, axis=1).sum()


@pytest.fixture(scope="module")
def type1_data():
    return draw_gaussian_gate_data(N24G_TRUTH_TYPE1, 3000, random_state=7)


# ------------------------------------------------------------- conversions
def test_gate_and_scores_match_scipy_reference():
    rng = np.random.default_rng(0)
    weight, mean, cov = _random_gaussian_gate(rng)
    X = rng.normal(size=(40, 2))
    reference = _reference_log_scores(X, weight, mean, cov)
    np.testing.assert_allclose(gaussian_log_scores(X, weight, mean, cov), reference,
                               rtol=1e-10, atol=1e-10)
    gate = np.exp(reference - scipy.special.logsumexp(reference, axis=1,
                                                      keepdims=True))
    np.testing.assert_allclose(np.exp(gaussian_log_gate(X, weight, mean, cov)), gate,
                               rtol=1e-10, atol=1e-12)


def test_quadratic_rows_reproduce_scores_and_invert():
    rng = np.random.default_rng(1)
    weight, mean, cov = _random_gaussian_gate(rng)
    X = rng.normal(size=(30, 2))
    rows = gaussian_to_quadratic(weight, mean, cov)
    np.testing.assert_allclose(augmented_design(X) @ rows.T,
                               _reference_log_scores(X, weight, mean, cov),
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(Gaussian().scores(X, rows),
                               naive.gaussian_scores(X, weight, mean, cov),
                               rtol=1e-10, atol=1e-10)
    w2, m2, c2, log_mass = quadratic_to_gaussian(rows)
    np.testing.assert_allclose(w2, weight, rtol=1e-10)
    np.testing.assert_allclose(m2, mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c2, cov, rtol=1e-10, atol=1e-12)
    assert abs(log_mass) < 1e-10  # normalised weights: total mass one


def test_quadratic_to_gaussian_rejects_convex_scores():
    rows = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]])  # +x^2: not a Gaussian
    with pytest.raises(ValueError, match="not concave"):
        quadratic_to_gaussian(rows)


def test_common_quadratic_leaves_gate_unchanged_and_representative_undoes_it():
    rng = np.random.default_rng(2)
    weight, mean, cov = _random_gaussian_gate(rng)
    rows = gaussian_to_quadratic(weight, mean, cov)
    shift = np.array([0.3, -1.0, 2.0, 0.9, 0.4, 1.5])  # constant, linear, quad
    moved = rows + shift
    X = rng.normal(size=(25, 2))
    design = augmented_design(X)
    np.testing.assert_allclose(scipy.special.softmax(design @ moved.T, axis=1),
                               scipy.special.softmax(design @ rows.T, axis=1),
                               rtol=1e-10)
    # the moments of the true mixture pick the true member of the class
    first = weight @ mean
    second = np.einsum("i,iab->ab", weight,
                       cov + np.einsum("ia,ib->iab", mean, mean))
    w2, m2, c2, gap = moment_matched_representative(moved, first, second)
    assert gap < 1e-8
    np.testing.assert_allclose(w2, weight, rtol=1e-6)
    np.testing.assert_allclose(m2, mean, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(c2, cov, rtol=1e-6, atol=1e-8)


# ------------------------------------------------------- the x-marginal
def test_log_partition_is_the_log_mass_and_its_derivatives_are_exact():
    rng = np.random.default_rng(3)
    weight, mean, cov = _random_gaussian_gate(rng)
    rows = gaussian_to_quadratic(weight, mean, cov)
    rows[:, 0] += np.log(2.5)  # total mass 2.5
    log_mass, c, G = block_moments(rows)
    np.testing.assert_allclose(np.exp(log_mass), 2.5 * weight, rtol=1e-12)
    np.testing.assert_allclose(c, mean, atol=1e-12)
    np.testing.assert_allclose(G, cov, atol=1e-12)
    value, grad, hess = log_partition(rows, order=2)
    assert np.isclose(value, np.log(2.5), rtol=1e-12)
    h = 1e-6
    k, m = rows.shape
    for i in range(k):
        for a in range(m):
            up, down = rows.copy(), rows.copy()
            up[i, a] += h
            down[i, a] -= h
            fd = (log_partition(up)[0] - log_partition(down)[0]) / (2 * h)
            assert np.isclose(grad[i, a], fd, rtol=1e-6, atol=1e-8)
            fd2 = (log_partition(up, 1)[1] - log_partition(down, 1)[1]) / (2 * h)
            np.testing.assert_allclose(hess[i, :, a, :], fd2, rtol=1e-5, atol=1e-7)
    convex = rows.copy()
    convex[0, 3] = 1.0  # +x0^2: no finite integral
    assert log_partition(convex)[0] == np.inf


def test_feature_moments_match_monte_carlo():
    rng = np.random.default_rng(4)
    mean = np.array([0.5, -1.0])
    cov = np.array([[1.0, 0.4], [0.4, 0.6]])
    first, second = feature_moments(mean, cov, order=2)
    mc_first, mc_cov = naive.gaussian_feature_moments(mean, cov, 400_000, rng)
    # Monte-Carlo error: about 1% of the fourth moments with these draws
    np.testing.assert_allclose(first, mc_first, rtol=0.02, atol=0.01)
    np.testing.assert_allclose(second, mc_cov, rtol=0.05, atol=0.02)


def test_closed_form_m_step_is_the_weighted_mixture_fit():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 2))
    w = rng.uniform(0.5, 2.0, 300)
    resp = rng.dirichlet(np.ones(3), size=300)
    T = (w[:, None] * resp).T @ augmented_design(X)
    rows, floored = gaussian_m_step(T, w.sum(), np.zeros((3, 6)), 1e-6)
    assert not floored
    weight, mean, cov, _ = quadratic_to_gaussian(rows)
    for i in range(3):
        wi = w * resp[:, i]
        np.testing.assert_allclose(weight[i], wi.sum() / w.sum(), rtol=1e-10)
        np.testing.assert_allclose(mean[i], np.average(X, axis=0, weights=wi),
                                   rtol=1e-10)
        np.testing.assert_allclose(cov[i], np.cov(X.T, aweights=wi, bias=True),
                                   rtol=1e-9)
    # the maximiser of sum_i theta_i . T_i - W N(theta): a zero gradient
    grad = T - w.sum() * log_partition(rows, 1)[1]
    np.testing.assert_allclose(grad, 0.0, atol=1e-8 * w.sum())
    # a component on a line: its covariance held at the floor
    on_line = np.column_stack([X[:, 0], 2 * X[:, 0]])
    T = (w[:, None] * resp).T @ augmented_design(on_line)
    rows, floored = gaussian_m_step(T, w.sum(), np.zeros((3, 6)), 1e-6)
    assert floored
    assert np.allclose(np.linalg.eigvalsh(block_moments(rows)[2])[:, 0], 1e-6)


@pytest.mark.parametrize("likelihood", ["conditional", "joint"])
def test_engine_passes_match_the_numpy_reference(likelihood):
    rng = np.random.default_rng(6)
    n, k = 400, 3
    X = rng.normal(size=(n, 2))
    y = rng.normal(size=n)
    w = rng.uniform(0.5, 1.5, n)
    weight, mean, cov = _random_gaussian_gate(rng, k, 2)
    truth = {"gate_weight": weight, "gate_mean": mean, "gate_covariance": cov,
             "expert_intercept": rng.normal(size=k),
             "expert_coef": rng.normal(size=(k, 2)),
             "expert_variance": rng.uniform(0.5, 2.0, k)}
    gate = Gaussian(likelihood)
    model = GatedGaussianMoE(X, np.column_stack([np.ones(n), X]), y, w, gate,
                             var_lower=1e-8)
    params = model.project(MoEParams(
        gate.from_original(truth, IDENTITY),
        np.column_stack([truth["expert_intercept"], truth["expert_coef"]]),
        truth["expert_variance"]))
    resp = np.empty((n, k))
    stats = model.e_step(params, resp, resp)
    scores, dens = _truth_log_terms(X, y, truth)
    gate_log = scores - scipy.special.logsumexp(scores, axis=1, keepdims=True)
    terms = gate_log + dens
    conditional = w @ scipy.special.logsumexp(terms, axis=1)
    assert np.isclose(stats.loglik, conditional, rtol=1e-12)
    np.testing.assert_allclose(
        resp, np.exp(terms - scipy.special.logsumexp(terms, axis=1, keepdims=True)),
        atol=1e-12)
    marginal = naive.x_marginal(X, w, weight, mean, cov) if gate.marginal else 0.0
    # the objective: the conditional log-likelihood plus the x-marginal term;
    # the E-step's data term (cached) and a fresh pass agree
    assert np.isclose(model.objective(params), conditional + marginal, rtol=1e-12)
    cached = model.penalty(params.gate)
    model.e_step(MoEParams(params.gate + 0.1, params.coef, params.var), resp, resp)
    assert np.isclose(model.penalty(params.gate), cached, rtol=1e-12)
    assert np.isclose(cached, -marginal, rtol=1e-12)
    # derivatives of the objective against finite differences
    theta = model.to_vector(params)
    value, grad, hess = model.derivatives(params)
    assert np.isclose(value, conditional + marginal, rtol=1e-12)

    def at(t):
        return model.derivatives(model.from_vector(t, k))

    h = 1e-6
    for j in range(theta.size):
        e = np.zeros(theta.size)
        e[j] = h
        up, down = at(theta + e), at(theta - e)
        assert np.isclose(grad[j], (up[0] - down[0]) / (2 * h), rtol=1e-6,
                          atol=1e-6), j
        np.testing.assert_allclose(hess[:, j], (up[1] - down[1]) / (2 * h),
                                   rtol=1e-5, atol=1e-5)


def test_a_joint_fit_at_the_covariance_floor_warns():
    rng = np.random.default_rng(9)
    weight, mean, cov = _random_gaussian_gate(rng, 2, 2)
    cov[0] = np.diag([1.0, 1e-6])  # held at the floor (standardised units)
    rows = gaussian_to_quadratic(weight, mean, cov)
    unit = types.SimpleNamespace(x_mean=np.zeros(2), x_scale=np.ones(2))
    with pytest.warns(CovarianceFloorWarning, match="eigenvalue floor"):
        values = Gaussian("joint").to_original(rows, unit)
    np.testing.assert_allclose(values["gate_covariance"], cov, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Gaussian("joint").to_original(gaussian_to_quadratic(
            *_random_gaussian_gate(rng, 2, 2)), unit)


@pytest.mark.parametrize("marginal", [False, True])
def test_kernels_take_the_gate_as_design_or_as_arrays_alike(marginal):
    rng = np.random.default_rng(8)
    n, k = 300, 3
    X = rng.normal(size=(n, 2))
    Xt = np.column_stack([np.ones(n), X])
    y, w = rng.normal(size=n), rng.uniform(0.5, 1.5, n)
    coef, var = rng.normal(size=(k, 3)), rng.uniform(0.5, 2.0, k)
    blocks = gaussian_to_quadratic(*_random_gaussian_gate(rng, k, 2))
    gate = Gaussian()
    Zt, link = gate.linear_design(X)
    S, D1, _ = gate.score_derivatives(X, blocks)
    sources = (linear_source(Zt, blocks, link, marginal=marginal),
               array_source(S, D1, None, marginal=marginal))
    prev = rng.dirichlet(np.ones(k), size=n)
    outs = []
    for source in sources:
        resp = np.empty((n, k))
        outs.append((resp, e_step_from_scores(source, Xt, y, w, coef, var, prev, resp),
                     loglik_hessian_from_scores(source, Xt, y, w, coef, var)))
    (r1, e1, h1), (r2, e2, h2) = outs
    np.testing.assert_allclose(r1, r2, rtol=1e-12)
    for a, b in zip(list(e1) + list(h1), list(e2) + list(h2), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
    # the x-marginal's data term: the weighted log-sum-exp of the scores
    lse = w @ scipy.special.logsumexp(S, axis=1)
    assert np.isclose(e1[-1], lse if marginal else 0.0, rtol=1e-12)


# ----------------------------------------------------------- the estimator
@pytest.mark.parametrize("likelihood", ["conditional", "joint"])
def test_fit_beats_the_truth_on_its_own_objective(type1_data, likelihood):
    X, y = type1_data
    truth = N24G_TRUTH_TYPE1
    model = GaussianMoERegressor(3, gate="gaussian", likelihood=likelihood,
                                 n_init=3, random_state=0).fit(X, y)
    cond_truth = _truth_conditional_loglik(X, y, truth)
    joint_truth = _truth_joint_loglik(X, y, truth)
    if likelihood == "conditional":
        assert model.log_likelihood_ >= cond_truth - 1e-6
    else:
        assert model.joint_log_likelihood_ >= joint_truth - 1e-6
    fitted = model._params_dict()
    assert np.isclose(model.log_likelihood_,
                      _truth_conditional_loglik(X, y, fitted), rtol=1e-9)
    assert np.isclose(model.joint_log_likelihood_,
                      _truth_joint_loglik(X, y, fitted), rtol=1e-9)
    assert np.isclose(model.score_samples(X, y).sum(), model.log_likelihood_,
                      rtol=1e-10)
    assert model.gate_covariance_.shape == (3, 1, 1)
    assert not hasattr(model, "gate_coef_")
    assert model.n_parameters() == n_gaussian_gate_parameters(3, 1, likelihood)
    assert np.isfinite(model.bic(X, y))


def test_score_samples_is_a_density_in_y(type1_data):
    X, y = type1_data
    model = GaussianMoERegressor(3, gate="gaussian", n_init=1,
                                 random_state=0).fit(X[:800], y[:800])
    grid = np.linspace(-4, 4, 40001)
    for x in (-0.3, 0.05, 0.5):
        density = np.exp(model.score_samples(np.full((grid.size, 1), x), grid))
        total = scipy.integrate.simpson(density, x=grid)
        assert abs(total - 1) < 1e-6


def test_sample_draws_from_the_fitted_conditional(type1_data):
    X, y = type1_data
    model = GaussianMoERegressor(3, gate="gaussian", likelihood="joint", n_init=1,
                                 random_state=0).fit(X, y)
    x = np.full((20000, 1), 0.1)
    draws, experts = model.sample(x, random_state=1)
    gate = model.predict_gate(x[:1])[0]
    np.testing.assert_allclose(np.bincount(experts, minlength=3) / 20000, gate,
                               atol=0.015)
    sd = np.sqrt(model.predict_variance(x[:1])[0] / 20000)
    assert abs(draws.mean() - model.predict(x[:1])[0]) < 4 * sd


def test_bad_input_is_rejected_and_leaves_fit_intact(type1_data):
    X, y = type1_data
    with pytest.raises(ValueError, match="gate"):
        GaussianMoERegressor(2, gate="gaussain").fit(X, y)
    model = GaussianMoERegressor(2, gate="gaussian", n_init=1,
                                 random_state=0).fit(X[:300], y[:300])
    before = model.gate_mean_.copy()
    Xc = np.column_stack([X[:300], np.ones(300)])
    with pytest.raises(ValueError, match="constant"):
        model.fit(Xc, y[:300])
    np.testing.assert_array_equal(model.gate_mean_, before)
    with pytest.raises(ValueError, match="gate_bound"):
        GaussianMoERegressor(2, gate="gaussian", gate_bound=5.0).fit(X, y)
    with pytest.raises(ValueError, match="gate_covariance"):
        GaussianMoERegressor(2, gate="gaussian", init_params={
            "gate_weight": [0.5, 0.5], "gate_mean": [[0.0], [1.0]],
            "gate_covariance": [[[1.0]], [[-1.0]]], "expert_intercept": [0, 0],
            "expert_coef": [[0.0], [0.0]], "expert_variance": [1, 1]}).fit(X, y)


def test_softmax_default_is_unchanged_and_refit_clears_gaussian_attributes():
    rng = np.random.default_rng(4)
    X = rng.uniform(size=(300, 1))
    y = np.where(X[:, 0] < 0.5, 2 * X[:, 0], -X[:, 0]) + 0.05 * rng.normal(size=300)
    options = {"n_init": 2, "solver": "em", "max_iter": 200, "random_state": 0}
    default = GaussianMoERegressor(2, **options).fit(X, y)
    model = GaussianMoERegressor(2, gate="gaussian", likelihood="joint", **options)
    model.fit(X, y)
    model.set_params(gate="softmax", likelihood="conditional").fit(X, y)
    assert not hasattr(model, "gate_covariance_")
    np.testing.assert_array_equal(model.gate_coef_, default.gate_coef_)
    np.testing.assert_array_equal(model.predict(X), default.predict(X))


def test_gaussian_init_and_warm_start_continue_from_given_parameters(type1_data):
    X, y = type1_data
    options = {"gate": "gaussian", "likelihood": "joint", "solver": "em",
               "init_params": N24G_TRUTH_TYPE1, "tol": 0.0}
    with pytest.warns(ConvergenceWarning, match="em solver did not converge"):
        model = GaussianMoERegressor(3, max_iter=3, **options).fit(X, y)
    assert model.n_iter_ == 3
    with pytest.warns(ConvergenceWarning):
        more = GaussianMoERegressor(3, max_iter=6, **options).fit(X, y)
    with pytest.warns(ConvergenceWarning):
        model.set_params(warm_start=True).fit(X, y)
    np.testing.assert_allclose(model.gate_mean_, more.gate_mean_, rtol=1e-8)


def test_joint_em_never_decreases_its_objective(type1_data):
    X, y = type1_data
    rng = np.random.default_rng(3)
    k = 4
    start = {"gate_weight": np.full(k, 1 / k),
             "gate_mean": rng.normal(0.2, 0.3, (k, 1)),
             "gate_covariance": np.full((k, 1, 1), 0.05),
             "expert_intercept": rng.normal(size=k),
             "expert_coef": rng.normal(size=(k, 1)),
             "expert_variance": np.full(k, 0.05)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not converged; an expert may degenerate
        model = GaussianMoERegressor(k, gate="gaussian", likelihood="joint",
                                     solver="em", init_params=start, tol=0.0,
                                     max_iter=150).fit(X, y)
    trace = model.log_likelihood_trace_
    assert model.n_iter_ == 150 and trace.size == 151
    assert np.all(np.diff(trace) >= -1e-8 * np.abs(trace[1:]))
    assert trace[-1] > trace[0] + 100  # it did move
    # the trace holds the weighted joint log-likelihood, computed independently
    assert np.isclose(trace[-1], _truth_joint_loglik(X, y, model._params_dict()),
                      rtol=1e-10)
    assert np.isclose(trace[-1], model.joint_log_likelihood_, rtol=1e-10)


def test_joint_likelihood_needs_a_gate_that_models_x(type1_data):
    X, y = type1_data
    with pytest.raises(ValueError, match="densities of x"):
        GaussianMoERegressor(2, likelihood="joint").fit(X, y)
    with pytest.raises(ValueError, match="disagrees"):
        GaussianMoERegressor(2, gate=Gaussian(), likelihood="joint").fit(X, y)
    model = GaussianMoERegressor(2, gate=Gaussian("joint"), n_init=1,
                                 random_state=0).fit(X[:500], y[:500])
    assert model.gate_.likelihood == "joint"


def test_joint_fit_has_wald_inference(type1_data):
    X, y = type1_data[0][:500], type1_data[1][:500]
    model = GaussianMoERegressor(2, gate=Gaussian("joint"), n_init=1,
                                 random_state=0).fit(X, y)
    table = model.summary(X, y)
    assert "joint" in table.attrs["gate"]
    assert table.attrs["log_likelihood"] == model.joint_log_likelihood_
    se = table["std_error"]
    assert np.all(se[se.notna()] > 0) and np.all(np.isfinite(se[se.notna()]))
    # only the gauge is held: the reference's intercept (the joint likelihood
    # identifies every other coordinate of the quadratic scores)
    held = table[se.isna()]
    assert list(held["feature"]) == ["intercept"] and list(held["expert"]) == [1]
    with pytest.raises(ValueError, match="the data the model was fitted on"):
        model.summary(X[:400], y[:400])


#: A Gaussian-gate truth with k0 = 3 and d = 2.
TRUTH_2D = {
    "gate_weight": np.array([0.3, 0.4, 0.3]),
    "gate_mean": np.array([[-1.0, 0.0], [1.0, 1.0], [0.0, -1.5]]),
    "gate_covariance": np.array([[[1.0, 0.3], [0.3, 0.5]],
                                 [[0.6, -0.2], [-0.2, 0.8]],
                                 [[0.5, 0.0], [0.0, 0.4]]]),
    "expert_intercept": np.array([-2.0, 1.0, 3.0]),
    "expert_coef": np.array([[1.5, 0.0], [-1.0, 1.0], [0.0, -2.0]]),
    "expert_variance": np.array([0.1, 0.2, 0.15]),
}


@pytest.fixture(scope="module")
def data_2d():
    return draw_gaussian_gate_data(TRUTH_2D, 5000, random_state=21)


@pytest.mark.parametrize("likelihood", ["conditional", "joint"])
def test_fit_of_a_two_feature_truth_is_certified(data_2d, likelihood):
    X, y = data_2d
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = GaussianMoERegressor(3, gate="gaussian", likelihood=likelihood,
                                     n_init=10, random_state=0).fit(X, y)
    assert model.converged_ and model.gradient_norm_ <= 1e-8
    assert model.log_likelihood_ >= _truth_conditional_loglik(X, y, TRUTH_2D) - 1e-6 \
        or likelihood == "joint"
    assert model.joint_log_likelihood_ >= _truth_joint_loglik(X, y, TRUTH_2D) - 1e-6 \
        or likelihood == "conditional"
    assert not model.degenerate_experts_.any()
    if likelihood == "conditional":
        table = model.summary(X, y)
        free = ~((table["parameter"] == "gate_score") & (table["expert"] == 2))
        assert np.all(np.isfinite(table.loc[free, "std_error"]))
        assert np.all(table.loc[free, "std_error"] > 0)
        assert (table["parameter"] == "gate_score").sum() == 3 * 6
        # the representative has the moments of X
        first = model.gate_weight_ @ model.gate_mean_
        second = np.einsum("i,iab->ab", model.gate_weight_, model.gate_covariance_
                           + np.einsum("ia,ib->iab", model.gate_mean_,
                                       model.gate_mean_))
        np.testing.assert_allclose(first, X.mean(axis=0), atol=1e-8)
        np.testing.assert_allclose(second, X.T @ X / len(X), rtol=1e-8)
    else:
        # the joint fit's gate is the x-mixture: its moments are those of X
        np.testing.assert_allclose(model.gate_weight_ @ model.gate_mean_,
                                   X.mean(axis=0), atol=1e-6)


# --------------------------------------------------------------------- loss
def _measure(truth):
    return GaussianGateMixingMeasure.from_params(**truth)


def test_loss_is_zero_iff_equal_and_permutation_invariant():
    G0 = _measure(N24G_TRUTH_TYPE1)
    assert gaussian_gate_loss(G0, G0) == 0.0
    moved = dict(N24G_TRUTH_TYPE1, expert_variance=G0.expert_variance * 1.01)
    assert gaussian_gate_loss(moved, G0) > 0
    rng = np.random.default_rng(5)
    fitted = {key: np.asarray(value) * np.exp(0.05 * rng.normal(size=np.shape(value)))
              for key, value in N24G_TRUTH_TYPE1.items()}
    value = gaussian_gate_loss(fitted, G0)
    for perm in itertools.permutations(range(3)):
        permuted = {key: np.asarray(v)[list(perm)] for key, v in fitted.items()}
        assert np.isclose(gaussian_gate_loss(permuted, G0), value, rtol=1e-12)


@pytest.mark.parametrize("truth", [N24G_TRUTH_TYPE1, N24G_TRUTH_TYPE2])
def test_loss_by_hand_on_a_split_atom(truth):
    """Atom 0 split in two, atoms 1 and 2 exact; computed independently here."""
    t = {key: np.asarray(value, dtype=float) for key, value in truth.items()}
    dc, dG, dA, db, dnu = 0.01, 0.002, 0.03, -0.02, 0.001
    fitted = {
        "gate_weight": np.array([0.1, 0.25, 0.4, 0.3]),
        "gate_mean": np.vstack([t["gate_mean"][0] + dc, t["gate_mean"][0] - dc,
                                t["gate_mean"][1:]]),
        "gate_covariance": np.concatenate([t["gate_covariance"][:1] + dG,
                                           t["gate_covariance"][:1],
                                           t["gate_covariance"][1:]]),
        "expert_coef": np.vstack([t["expert_coef"][0] + dA, t["expert_coef"][0],
                                  t["expert_coef"][1:]]),
        "expert_intercept": np.concatenate([t["expert_intercept"][:1] + db,
                                            t["expert_intercept"][:1],
                                            t["expert_intercept"][1:]]),
        "expert_variance": np.concatenate([t["expert_variance"][:1] + dnu,
                                           t["expert_variance"][:1],
                                           t["expert_variance"][1:]]),
    }
    r = 4.0  # rbar(2)
    a_exp = r / 2 if truth is N24G_TRUTH_TYPE2 else 2.0  # c*_0 = 0 in Type II
    first = 0.1 * (abs(dc) ** r + abs(dG) ** (r / 2) + abs(dA) ** a_exp
                   + abs(db) ** r + abs(dnu) ** (r / 2))
    second = 0.25 * abs(dc) ** r
    weights = abs(0.35 - 0.3)
    details = gaussian_gate_loss(fitted, truth, return_details=True)
    assert list(details["cells"]) == [0, 0, 1, 2]
    assert np.isclose(details["value"], first + second + weights, rtol=1e-12)
    np.testing.assert_array_equal(gaussian_gate_voronoi_cells(fitted, truth),
                                  [0, 0, 1, 2])


# ------------------------------------------------------------- large n
@pytest.mark.slow
def test_joint_fit_recovers_the_truth_up_to_permutation():
    X, y = draw_gaussian_gate_data(N24G_TRUTH_TYPE1, 50000, random_state=11)
    model = GaussianMoERegressor(3, gate="gaussian", likelihood="joint", n_init=4,
                                 random_state=0).fit(X, y)
    order = np.argsort(model.gate_mean_[:, 0])
    truth = N24G_TRUTH_TYPE1
    np.testing.assert_allclose(model.gate_weight_[order], truth["gate_weight"],
                               atol=0.02)
    np.testing.assert_allclose(model.gate_mean_[order], truth["gate_mean"],
                               atol=0.01)
    np.testing.assert_allclose(model.gate_covariance_[order],
                               truth["gate_covariance"], rtol=0.1)
    np.testing.assert_allclose(model.expert_coef_[order], truth["expert_coef"],
                               atol=0.03)
    np.testing.assert_allclose(model.expert_intercept_[order],
                               truth["expert_intercept"], atol=0.01)
    np.testing.assert_allclose(model.expert_variance_[order],
                               truth["expert_variance"], rtol=0.1)


@pytest.mark.slow
def test_conditional_fit_recovers_the_gate_function():
    truth = N24G_TRUTH_TYPE1
    X, y = draw_gaussian_gate_data(truth, 50000, random_state=12)
    model = GaussianMoERegressor(3, gate="gaussian", n_init=4,
                                 random_state=0).fit(X, y)
    grid = np.linspace(-0.3, 0.7, 101)[:, None]
    reference = np.exp(gaussian_log_gate(grid, truth["gate_weight"],
                                         truth["gate_mean"],
                                         truth["gate_covariance"]))
    fitted = model.predict_gate(grid)
    best = min(np.max(np.abs(fitted[:, list(perm)] - reference))
               for perm in itertools.permutations(range(3)))
    assert best < 0.06
