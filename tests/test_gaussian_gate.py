"""The Gaussian-gated MoE: conversions, joint EM, conditional fit, loss, estimator."""

import itertools

import numpy as np
import pytest
import scipy.integrate
import scipy.special
import scipy.stats
from sklearn.exceptions import ConvergenceWarning

from gmoe import GaussianMoERegressor
from gmoe._gaussian_gate import (
    N24G_TRUTH_TYPE1,
    N24G_TRUTH_TYPE2,
    GaussianGateMoE,
    GaussianGateParams,
    augmented_design,
    draw_gaussian_gate_data,
    gaussian_log_gate,
    gaussian_log_scores,
    gaussian_to_quadratic,
    moe_params_from_gaussian,
    moment_matched_representative,
    n_gaussian_gate_parameters,
    quadratic_to_gaussian,
    run_joint_em,
)
from gmoe._voronoi_gaussian import (
    GaussianGateMixingMeasure,
    gaussian_gate_loss,
    gaussian_gate_voronoi_cells,
)


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
    w2, m2, c2 = moment_matched_representative(moved, first, second)
    np.testing.assert_allclose(w2, weight, rtol=1e-6)
    np.testing.assert_allclose(m2, mean, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(c2, cov, rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------ joint EM
def test_joint_em_never_decreases_its_objective(type1_data):
    X, y = type1_data
    rng = np.random.default_rng(3)
    k = 4
    start = GaussianGateParams(np.full(k, 1 / k), rng.normal(0.2, 0.3, (k, 1)),
                               np.full((k, 1, 1), 0.05), rng.normal(size=(k, 2)),
                               np.full(k, 0.05))
    fit = run_joint_em(X, y, np.ones(len(y)), start, max_iter=150, tol=0.0)
    trace = np.asarray(fit.trace)
    assert fit.n_iter >= 30
    assert np.all(np.diff(trace) >= -1e-8 * np.abs(trace[1:]))
    assert trace[-1] > trace[0] + 100  # it did move
    # the trace holds the weighted joint log-likelihood, computed independently
    p = fit.params
    final = {"gate_weight": p.weight, "gate_mean": p.mean, "gate_covariance":
             p.covariance, "expert_intercept": p.coef[:, 0],
             "expert_coef": p.coef[:, 1:], "expert_variance": p.var}
    assert np.isclose(trace[-1], _truth_joint_loglik(X, y, final), rtol=1e-10)


def test_conditional_model_e_step_matches_numpy_reference(type1_data):
    X, y = type1_data
    truth = N24G_TRUTH_TYPE1
    params = GaussianGateParams(
        truth["gate_weight"], truth["gate_mean"], truth["gate_covariance"],
        np.column_stack([truth["expert_intercept"], truth["expert_coef"]]),
        truth["expert_variance"])
    model = GaussianGateMoE(augmented_design(X), y, np.ones(len(y)),
                            n_expert_columns=2, var_lower=1e-8)
    moe = moe_params_from_gaussian(params)
    resp = np.empty((len(y), 3))
    stats = model.e_step(moe, resp, resp)
    scores, dens = _truth_log_terms(X, y, truth)
    gate = scores - scipy.special.logsumexp(scores, axis=1, keepdims=True)
    joint = gate + dens
    assert np.isclose(stats.loglik, scipy.special.logsumexp(joint, axis=1).sum(),
                      rtol=1e-10)
    np.testing.assert_allclose(
        resp, np.exp(joint - scipy.special.logsumexp(joint, axis=1, keepdims=True)),
        atol=1e-10)
    # the experts' quadratic coefficients are held at zero by the model
    lo, hi = model.vector_bounds(3)
    fixed = (lo == 0) & (hi == 0)
    assert fixed.sum() == 3  # one quadratic column per expert (d = 1)


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
    model.set_params(gate="softmax").fit(X, y)
    assert not hasattr(model, "gate_covariance_")
    np.testing.assert_array_equal(model.gate_coef_, default.gate_coef_)
    np.testing.assert_array_equal(model.predict(X), default.predict(X))


def test_gaussian_init_and_warm_start_continue_from_given_parameters(type1_data):
    X, y = type1_data
    options = {"gate": "gaussian", "likelihood": "joint",
               "init_params": N24G_TRUTH_TYPE1, "tol": 0.0}
    with pytest.warns(ConvergenceWarning, match="joint-likelihood EM"):
        model = GaussianMoERegressor(3, max_iter=3, **options).fit(X, y)
    assert model.n_iter_ == 3
    with pytest.warns(ConvergenceWarning):
        more = GaussianMoERegressor(3, max_iter=6, **options).fit(X, y)
    with pytest.warns(ConvergenceWarning):
        model.set_params(warm_start=True).fit(X, y)
    np.testing.assert_allclose(model.gate_mean_, more.gate_mean_, rtol=1e-8)


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
