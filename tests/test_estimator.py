"""GaussianMoERegressor: EM invariants, recovery, prediction and bad input."""

import itertools
import pickle
import warnings

import numpy as np
import pytest
import scipy.stats
from sklearn.exceptions import ConvergenceWarning
from warnings_helpers import expect_warnings

from gmoe import (
    GateSeparationWarning,
    GaussianMoERegressor,
    LikelihoodDecreaseWarning,
    SpuriousFitWarning,
)
from gmoe.datasets import N23_TRUTH, PARAM_NAMES, make_moe_regression
from gmoe.inference._align import align_experts

FITTED = [name + "_" for name in PARAM_NAMES] + [
    "log_likelihood_", "log_likelihood_trace_", "n_iter_", "converged_",
    "expert_weight_", "degenerate_experts_", "n_features_in_",
]


def params_of(model):
    return {name: getattr(model, name + "_") for name in PARAM_NAMES}


def best_permutation(fitted, truth):
    """The permutation of fitted experts closest to the true ones."""
    k = len(truth["expert_intercept"])
    centre = np.column_stack([truth["expert_intercept"], truth["expert_coef"]])
    est = np.column_stack([fitted["expert_intercept"], fitted["expert_coef"]])
    return min(itertools.permutations(range(k)),
               key=lambda perm: np.abs(est[list(perm)] - centre).sum())


def assert_same_fit(a, b, rtol=1e-7, atol=1e-9):
    for name in PARAM_NAMES:
        np.testing.assert_allclose(getattr(a, name + "_"), getattr(b, name + "_"),
                                   rtol=rtol, atol=atol, err_msg=name)


# ---------------------------------------------------------------- EM invariants
def test_log_likelihood_trace_is_monotone(truth_3x2_data):
    _, X, y = truth_3x2_data
    # tol=0: EM runs all max_iter iterations and says it did not converge
    with pytest.warns(ConvergenceWarning,
                      match=r"\(tol=0\) for the best of .*max_iter=200"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", LikelihoodDecreaseWarning)
            model = GaussianMoERegressor(4, solver="em", init_params="random",
                                         n_init=1, max_iter=200, tol=0,
                                         random_state=3).fit(X, y)
    trace = model.log_likelihood_trace_
    assert len(trace) == model.n_iter_ + 1 == 201
    assert np.all(np.diff(trace) >= -1e-9 * np.abs(trace[1:]))
    assert trace[-1] == pytest.approx(model.log_likelihood_)


def test_newton_trace_is_monotone_and_counts_both_phases(truth_3x2_data):
    _, X, y = truth_3x2_data
    with warnings.catch_warnings():
        warnings.simplefilter("error", LikelihoodDecreaseWarning)
        model = GaussianMoERegressor(4, init_params="random", n_init=1, max_iter=50,
                                     random_state=3).fit(X, y)
    trace = model.log_likelihood_trace_
    assert model.n_iter_ == model.n_iter_em_ + model.n_iter_newton_
    assert model.n_iter_newton_ > 0
    assert len(trace) == model.n_iter_ + 1
    assert np.all(np.diff(trace) >= -1e-9 * np.abs(trace[1:]))
    assert trace[-1] == pytest.approx(model.log_likelihood_)


def test_log_likelihood_equals_score_samples(truth_3x2_data):
    _, X, y = truth_3x2_data
    w = np.random.default_rng(0).uniform(0, 3, size=len(y))
    model = GaussianMoERegressor(3, random_state=0).fit(X, y, sample_weight=w)
    assert model.score_samples(X, y) @ w == pytest.approx(model.log_likelihood_,
                                                          rel=1e-10)


def test_warm_start_equals_continued_fit(n23_data):
    _, X, y = n23_data
    options = dict(n_experts=3, tol=0, random_state=4, solver="em", n_init=1)
    # tol=0: every fit runs its max_iter iterations and says it did not converge
    with pytest.warns(ConvergenceWarning,
                      match=r"\(tol=0\) for the best of .*max_iter=30"):
        full = GaussianMoERegressor(max_iter=30, **options).fit(X, y)
    with pytest.warns(ConvergenceWarning,
                      match=r"\(tol=0\) for the best of .*max_iter=10"):
        warm = GaussianMoERegressor(max_iter=10, warm_start=True, **options).fit(X, y)
    with pytest.warns(ConvergenceWarning,
                      match=r"\(tol=0\) for the best of .*max_iter=20"):
        warm.set_params(max_iter=20).fit(X, y)
    assert_same_fit(full, warm, rtol=1e-6, atol=1e-6)
    assert warm.log_likelihood_ == pytest.approx(full.log_likelihood_, rel=1e-10)


def test_n_init_is_at_least_as_good_as_one_start(truth_3x2_data):
    _, X, y = truth_3x2_data
    one = GaussianMoERegressor(3, init_params="random", random_state=7).fit(X, y)
    many = GaussianMoERegressor(3, init_params="random", n_init=4,
                                random_state=7).fit(X, y)
    assert many.log_likelihood_ >= one.log_likelihood_ - 1e-9 * abs(one.log_likelihood_)


@pytest.mark.parametrize("n, refined", [(300, 20), (2500, 10)])
def test_default_search_is_twice_as_large_on_small_data(n, refined, capsys):
    # n_init=None, n_refine=None: 60 starts screened down to 20 on at most 2000
    # samples, 30 down to 10 above; the refined starts are those the verbose
    # fit reports; explicit values are kept as given
    from gmoe.engine._search import search_sizes

    X, y = make_moe_regression(n, random_state=3)[:2]
    GaussianMoERegressor(2, random_state=0, verbose=1, max_iter=5).fit(X, y)
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith("start ")]
    assert len(lines) == refined and lines[-1].startswith(f"start {refined}/")
    rounds = 1 if n <= 2000 else 0
    assert search_sizes(GaussianMoERegressor(2), n) == (3 * refined, refined, rounds)
    assert search_sizes(GaussianMoERegressor(2, n_init=5), n) == (5, refined, 0)
    assert search_sizes(GaussianMoERegressor(2, n_init=1), n) == (1, refined, 0)
    assert search_sizes(GaussianMoERegressor(2, n_init=4, n_refine=2,
                                             n_split_merge=1), n) == (4, 2, 1)


def test_fixed_random_state_is_deterministic(truth_3x2_data):
    _, X, y = truth_3x2_data
    a = GaussianMoERegressor(3, n_init=2, random_state=11).fit(X, y)
    b = GaussianMoERegressor(3, n_init=2, random_state=11).fit(X, y)
    assert_same_fit(a, b, rtol=0, atol=0)
    assert a.log_likelihood_ == b.log_likelihood_


def test_recovers_n23_parameters_up_to_permutation():
    X, y = make_moe_regression(20_000, random_state=5)
    model = GaussianMoERegressor(2, n_init=3, tol=1e-8, random_state=0).fit(X, y)
    fitted = params_of(model)
    perm = list(best_permutation(fitted, N23_TRUTH))
    # the gate's reference must follow the permutation: re-centre on the true reference
    gate_b0 = fitted["gate_intercept"][perm] - fitted["gate_intercept"][perm][-1]
    gate_b1 = fitted["gate_coef"][perm] - fitted["gate_coef"][perm][-1]
    np.testing.assert_allclose(gate_b0, N23_TRUTH["gate_intercept"], atol=0.6)
    np.testing.assert_allclose(gate_b1, N23_TRUTH["gate_coef"], atol=1.5)
    np.testing.assert_allclose(fitted["expert_intercept"][perm],
                               N23_TRUTH["expert_intercept"], atol=0.05)
    np.testing.assert_allclose(fitted["expert_coef"][perm], N23_TRUTH["expert_coef"],
                               atol=0.1)
    np.testing.assert_allclose(fitted["expert_variance"][perm],
                               N23_TRUTH["expert_variance"], rtol=0.06)


def test_start_from_given_parameters(n23_data):
    truth, X, y = n23_data
    model = GaussianMoERegressor(2, init_params=truth, tol=1e-10).fit(X, y)
    assert model.n_iter_ < 100
    # the fit reports its experts in the canonical order; matched to the truth's
    fitted, _ = align_experts(params_of(model), truth)
    np.testing.assert_allclose(fitted["expert_intercept"], truth["expert_intercept"],
                               atol=0.05)
    np.testing.assert_allclose(fitted["gate_intercept"], truth["gate_intercept"],
                               atol=1.0)


def test_over_fitted_model_keeps_every_expert_finite(n23_data):
    _, X, y = n23_data
    model = GaussianMoERegressor(7, max_iter=300, random_state=0).fit(X, y)
    for name in PARAM_NAMES:
        value = getattr(model, name + "_")
        assert value.shape[0] == 7
        assert np.all(np.isfinite(value)), name
    assert np.all(model.expert_variance_ > 0)
    assert model.expert_weight_.sum() == pytest.approx(1.0)


def test_degenerate_experts_are_kept_and_reported():
    """Two well separated lines and 4 experts on 12 points: some experts starve."""
    X = np.repeat(np.linspace(0, 1, 6), 2)[:, None]
    y = np.where(np.arange(12) % 2 == 0, 3 * X[:, 0], -2 * X[:, 0] + 5)
    with pytest.warns(UserWarning, match="degenerate"):
        model = GaussianMoERegressor(4, random_state=0).fit(X, y)
    assert model.degenerate_experts_.any()
    assert all(np.all(np.isfinite(getattr(model, n + "_"))) for n in PARAM_NAMES)


# ------------------------------------------------------------------- invariance
def test_rescaling_x_does_not_change_predictions(truth_3x2_data):
    _, X, y = truth_3x2_data
    # one start: with several, starts that tie up to rounding may swap the labels
    a = GaussianMoERegressor(3, n_init=1, random_state=1).fit(X, y)
    b = GaussianMoERegressor(3, n_init=1, random_state=1).fit(X * 1e6, y)
    np.testing.assert_allclose(a.predict(X), b.predict(X * 1e6), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(a.gate_coef_, b.gate_coef_ * 1e6, rtol=1e-5, atol=1e-6)
    assert a.log_likelihood_ == pytest.approx(b.log_likelihood_, rel=1e-8)


def test_rescaling_y_rescales_the_experts(truth_3x2_data):
    _, X, y = truth_3x2_data
    # one start: with several, starts that tie up to rounding may swap the labels
    a = GaussianMoERegressor(3, n_init=1, random_state=1).fit(X, y)
    b = GaussianMoERegressor(3, n_init=1, random_state=1).fit(X, 1000 * y + 7)
    np.testing.assert_allclose(b.expert_coef_, 1000 * a.expert_coef_, rtol=1e-6)
    np.testing.assert_allclose(b.expert_variance_, 1e6 * a.expert_variance_, rtol=1e-6)
    assert b.log_likelihood_ == pytest.approx(a.log_likelihood_ - len(y) * np.log(1000))


def test_integer_weights_equal_repeated_rows(n23_data):
    truth, X, y = n23_data
    X, y = X[:800], y[:800]
    w = np.random.default_rng(0).integers(0, 4, size=len(y))
    options = dict(n_experts=2, init_params=truth, tol=0, max_iter=50)
    weighted = GaussianMoERegressor(**options).fit(X, y, sample_weight=w)
    repeated = GaussianMoERegressor(**options).fit(np.repeat(X, w, axis=0),
                                                   np.repeat(y, w))
    assert_same_fit(weighted, repeated, rtol=1e-8, atol=1e-8)


# ------------------------------------------------------------------ predictions
@pytest.fixture(scope="module")
def fitted(truth_3x2_data):
    _, X, y = truth_3x2_data
    return GaussianMoERegressor(3, random_state=0).fit(X, y), X, y


def test_predictions_agree_with_each_other(fitted):
    model, X, y = fitted
    gate = model.predict_gate(X)
    means = model.predict_experts(X)
    np.testing.assert_allclose(gate.sum(axis=1), 1.0)
    np.testing.assert_allclose(model.predict(X), (gate * means).sum(axis=1))
    resp = model.predict_responsibilities(X, y)
    dens = gate * scipy.stats.norm.pdf(y[:, None], means,
                                       np.sqrt(model.expert_variance_))
    np.testing.assert_allclose(resp, dens / dens.sum(axis=1, keepdims=True), atol=1e-12)
    np.testing.assert_allclose(model.score_samples(X, y), np.log(dens.sum(axis=1)))
    assert 0.5 < model.score(X, y) <= 1.0


def test_score_samples_is_row_wise(fitted):
    """Per-sample methods give the same rows whatever the order or subset."""
    model, X, y = fitted
    order = np.random.default_rng(0).permutation(len(y))[:500]
    np.testing.assert_allclose(model.score_samples(X, y)[order],
                               model.score_samples(X[order], y[order]), rtol=1e-12)
    np.testing.assert_allclose(model.predict_responsibilities(X, y)[order],
                               model.predict_responsibilities(X[order], y[order]))
    np.testing.assert_allclose(model.predict_quantile(X, 0.3)[order],
                               model.predict_quantile(X[order], 0.3), rtol=1e-9)


def test_quantiles_invert_the_mixture_cdf(fitted):
    model, X, _ = fitted
    q = np.array([0.001, 0.05, 0.5, 0.9, 0.999])
    quantiles = model.predict_quantile(X[:200], q)
    gate = model.predict_gate(X[:200])[:, :, None]
    means = model.predict_experts(X[:200])[:, :, None]
    sd = np.sqrt(model.expert_variance_)[None, :, None]
    cdf = np.sum(gate * scipy.stats.norm.cdf((quantiles[:, None, :] - means) / sd),
                 axis=1)
    np.testing.assert_allclose(cdf, np.broadcast_to(q, cdf.shape), atol=1e-9)
    assert model.predict_quantile(X[:5], 0.5).shape == (5,)
    lo, hi = model.predict_interval(X[:200], coverage=0.8).T
    np.testing.assert_allclose(lo, quantiles[:, 1] * 0
                               + model.predict_quantile(X[:200], 0.1))
    assert np.all(lo < hi)


def test_sample_variance_and_coverage_agree_with_the_model(fitted):
    model, X, _ = fitted
    x = np.repeat(X[:3], 40_000, axis=0)
    draws, experts = model.sample(x, random_state=0)
    draws = draws.reshape(3, -1)
    np.testing.assert_allclose(draws.mean(axis=1), model.predict(X[:3]), atol=0.05)
    np.testing.assert_allclose(draws.var(axis=1), model.predict_variance(X[:3]),
                               rtol=0.03)
    lo, hi = model.predict_interval(X[:3], coverage=0.9).T
    coverage = np.mean((draws >= lo[:, None]) & (draws <= hi[:, None]), axis=1)
    np.testing.assert_allclose(coverage, 0.9, atol=0.01)
    assert set(np.unique(experts)) <= {0, 1, 2}


def test_information_criteria(fitted):
    model, X, y = fitted
    ll = model.score_samples(X, y).sum()
    m = (3 - 1) * (2 + 1) + 3 * (2 + 2)
    assert model.n_parameters() == m
    assert model.bic(X, y) == pytest.approx(-2 * ll + m * np.log(len(y)))
    assert model.aic(X, y) == pytest.approx(-2 * ll + 2 * m)


def test_information_criteria_choose_the_true_number_of_experts(truth_3x2_data):
    _, X, y = truth_3x2_data
    bics = [GaussianMoERegressor(k, n_init=2, random_state=0).fit(X, y).bic(X, y)
            for k in (1, 2, 3)]
    assert np.argmin(bics) == 2


def test_pickle_round_trip(fitted):
    model, X, y = fitted
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict(X), model.predict(X))
    np.testing.assert_array_equal(clone.score_samples(X, y), model.score_samples(X, y))


# -------------------------------------------------------------------- bad input
BAD_FITS = [
    ({}, lambda X, y: (np.where(np.arange(len(X))[:, None] == 3, np.nan, X), y), "NaN"),
    ({}, lambda X, y: (X, np.where(np.arange(len(y)) == 3, np.inf, y)), "infinity|NaN"),
    ({}, lambda X, y: (X, y[:-1]), "inconsistent numbers of samples"),
    ({}, lambda X, y: (X[:, 0], y), "2D array"),
    ({"n_experts": 5}, lambda X, y: (X[:4], y[:4]), "n_samples=4"),
    ({"n_experts": 0}, lambda X, y: (X, y), "n_experts"),
    ({"tol": -1.0}, lambda X, y: (X, y), "tol"),
    ({"init_params": "spectral"}, lambda X, y: (X, y), "init_params"),
    ({"init_params": {"gate_intercept": [0, 0]}}, lambda X, y: (X, y), "missing"),
    ({"reg_variance": 0.0}, lambda X, y: (X, y), "reg_variance"),
]


@pytest.mark.parametrize("params, corrupt, message", BAD_FITS)
def test_bad_input_raises_and_keeps_the_fitted_model(fitted, params, corrupt, message):
    model, X, y = fitted
    before = {name: np.copy(getattr(model, name)) for name in FITTED}
    old = model.get_params()
    model.set_params(**params)
    try:
        with pytest.raises(ValueError, match=message):
            model.fit(*corrupt(X, y))
    finally:
        model.set_params(**old)
    for name in FITTED:
        np.testing.assert_array_equal(getattr(model, name), before[name], err_msg=name)


@pytest.mark.parametrize("weights, message", [
    (lambda n: -np.ones(n), "(?i)negative"),
    (lambda n: np.zeros(n), "non-zero|sums to zero"),
    (lambda n: np.r_[np.nan, np.ones(n - 1)], "NaN"),
    (lambda n: np.ones(n + 1), "sample_weight"),
])
def test_bad_sample_weight(weights, message, n23_data):
    _, X, y = n23_data
    with pytest.raises(ValueError, match=message):
        GaussianMoERegressor().fit(X, y, sample_weight=weights(len(y)))


def test_bad_init_dict_shape(n23_data):
    truth, X, y = n23_data
    bad = {**truth, "gate_coef": np.zeros((2, 3))}
    with pytest.raises(ValueError, match=r"must have shape \(2, 1\)"):
        GaussianMoERegressor(init_params=bad).fit(X, y)


def test_bad_prediction_input(fitted):
    model, X, y = fitted
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :1])
    with pytest.raises(ValueError, match="one value per row"):
        model.score_samples(X, y[:-1])
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        model.predict_quantile(X, 1.5)
    with pytest.raises(ValueError, match="coverage"):
        model.predict_interval(X, coverage=1.0)


def test_constant_y_and_exact_lines_give_finite_fits():
    X = np.linspace(0, 1, 200)[:, None]
    # Zero residuals put every expert at the variance floor.  Experts that are
    # equal leave the gate between them free, so whether it drifts to a step
    # depends on round-off: a separation warning is allowed, not required.
    spurious = [(SpuriousFitWarning, "spurious maximum")]
    with expect_warnings(spurious, allowed=[GateSeparationWarning]):
        constant = GaussianMoERegressor(2, random_state=0).fit(X, np.full(200, 3.0))
    with expect_warnings(spurious, allowed=[GateSeparationWarning]):
        # started near the two lines (interleaved in x, so no gate separates
        # them), EM puts both experts on their lines at the variance floor
        near_lines = {"gate_intercept": [0.0, 0.0], "gate_coef": [[0.0], [0.0]],
                      "expert_intercept": [0.1, 0.9], "expert_coef": [[1.8], [-0.9]],
                      "expert_variance": [0.01, 0.01]}
        lines = GaussianMoERegressor(2, init_params=near_lines).fit(
            X, np.where(np.arange(200) % 2 == 0, 2 * X[:, 0], 1 - X[:, 0]))
    for model in (constant, lines):
        for name in PARAM_NAMES:
            assert np.all(np.isfinite(getattr(model, name + "_"))), name
        assert np.isfinite(model.log_likelihood_)
    np.testing.assert_allclose(constant.predict(X), 3.0)
    np.testing.assert_allclose(np.sort(lines.expert_coef_.ravel()), [-1, 2], atol=1e-6)


def test_convergence_warning(n23_data):
    _, X, y = n23_data
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        model = GaussianMoERegressor(3, solver="em", max_iter=2, n_init=1,
                                     random_state=0).fit(X, y)
    assert not model.converged_
    assert model.n_iter_ == 2
    with pytest.warns(ConvergenceWarning, match="gradient below gtol"):
        model = GaussianMoERegressor(3, max_iter=2, n_init=1, random_state=0).fit(X, y)
    assert not model.converged_
    assert model.n_iter_em_ <= 2 and model.n_iter_newton_ <= 2
    assert model.gradient_norm_ > model.gtol


def test_convergence_warning_says_why_the_solver_stopped():
    X, y = make_moe_regression(300, random_state=0)
    with pytest.warns(ConvergenceWarning, match="reached max_iter=3"):
        model = GaussianMoERegressor(2, n_init=1, max_iter=3, random_state=0).fit(X, y)
    assert model.solver_status_ == "max_iter" and not model.converged_
    model = GaussianMoERegressor(2, n_init=1, random_state=0).fit(X, y)
    assert model.converged_ and model.solver_status_ in ("gradient", "precision")
    em = GaussianMoERegressor(2, n_init=1, solver="em", random_state=0).fit(X, y)
    assert em.solver_status_ == "tol"
