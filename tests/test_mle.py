"""Maximum likelihood: exact derivatives, the Newton finish, bounds, penalties,
separation and spurious fits."""

import warnings

import numpy as np
import pytest
from naive import loglik as naive_loglik
from naive import loglik_hessian as naive_loglik_hessian
from sklearn.exceptions import ConvergenceWarning

from gmoe import GateSeparationWarning, GaussianMoERegressor, SpuriousFitWarning
from gmoe.datasets import N23_TRUTH, PARAM_NAMES, make_moe_regression
from gmoe.engine._model import MoEParams, SoftmaxGaussianMoE
from gmoe.engine._newton import bfgs_gain, projected_gradient_norm, run_newton
from gmoe.kernels._hessian import loglik_hessian
from gmoe.simulation import near_truth_start


def random_problem(n, k, d, seed):
    rng = np.random.default_rng(seed)
    Xt = np.column_stack([np.ones(n), rng.normal(size=(n, d))])
    y = rng.normal(size=n)
    w = rng.uniform(0.5, 1.5, size=n)
    params = MoEParams(rng.normal(size=(k, d + 1)), rng.normal(size=(k, d + 1)),
                       rng.uniform(0.3, 2.0, size=k))
    return Xt, y, w, params


@pytest.mark.parametrize("n, k, d", [(50, 3, 1), (5000, 2, 2), (300, 4, 3)])
def test_hessian_kernel_matches_reference(n, k, d):
    Xt, y, w, params = random_problem(n, k, d, seed=n + k)
    ll, grad, hess = loglik_hessian(Xt, y, w, params.gate, params.coef, params.var)
    ref_ll, ref_grad, ref_hess = naive_loglik_hessian(Xt, y, w, params.gate,
                                                      params.coef, params.var)
    assert ll == pytest.approx(ref_ll, rel=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(hess, ref_hess, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(hess, hess.T)


def test_model_derivatives_match_finite_differences():
    """Gradient and Hessian over the free parameters, with a gate penalty."""
    Xt, y, w, params = random_problem(400, 3, 2, seed=1)
    model = SoftmaxGaussianMoE(Xt, y, w, var_lower=1e-6, gate_penalty=0.7)
    k, p = params.coef.shape
    theta = params.to_vector()

    def value(t):
        q = MoEParams.from_vector(t, k, p)
        return naive_loglik(Xt, y, w, q.gate, q.coef, q.var) - model.penalty(q.gate)

    def gradient(t):
        return model.derivatives(MoEParams.from_vector(t, k, p))[1]

    f, g, h = model.derivatives(params)
    assert f == pytest.approx(value(theta), rel=1e-12)
    eps = 1e-6
    basis = np.eye(theta.size)
    fd_grad = np.array([(value(theta + eps * e) - value(theta - eps * e)) / (2 * eps)
                        for e in basis])
    fd_hess = np.array([(gradient(theta + eps * e) - gradient(theta - eps * e))
                        / (2 * eps) for e in basis])
    np.testing.assert_allclose(g, fd_grad, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(h, fd_hess, rtol=1e-5, atol=1e-4)


def test_hessian_kernel_is_thread_count_independent():
    import numba

    Xt, y, w, params = random_problem(20_000, 3, 1, seed=3)
    args = (Xt, y, w, params.gate, params.coef, params.var)
    numba.set_num_threads(1)
    try:
        one = loglik_hessian(*args)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    many = loglik_hessian(*args)
    assert one[0] == many[0]
    np.testing.assert_array_equal(one[1], many[1])
    np.testing.assert_array_equal(one[2], many[2])


def n23_model(n, seed):
    from gmoe.model._scaling import _Scaling

    X, y = make_moe_regression(n, N23_TRUTH, random_state=seed)
    w = np.ones(n)
    scaling = _Scaling(X, y, w)
    model = SoftmaxGaussianMoE(scaling.design(X), scaling.response(y), w,
                               var_lower=1e-6)
    return model, scaling


def test_newton_reaches_a_stationary_point_where_em_stops_short():
    """Over-fitted [N23] (k = 3) from a near-truth start: EM's stopping rule leaves
    nats on the table; the Newton finish leaves none that BFGS can find."""
    from gmoe.engine._em import run_em

    model, scaling = n23_model(10_000, seed=100)
    start = MoEParams(*scaling.to_standardized(
        near_truth_start(N23_TRUTH, 3, 10_000, random_state=0)))
    em = run_em(model, start, max_iter=2000, tol=1e-6)
    newton = run_newton(model, em.params, gtol=1e-9)
    assert newton.converged and newton.grad_norm <= 1e-9
    assert newton.objective > em.objective + 0.1
    assert bfgs_gain(model, em.params) > 0.1
    assert bfgs_gain(model, newton.params) < 1e-6
    assert projected_gradient_norm(model, newton.params) == pytest.approx(
        newton.grad_norm, rel=1e-6, abs=1e-15)


def test_default_fit_is_certified_stationary(n23_data):
    _, X, y = n23_data
    model = GaussianMoERegressor(3, random_state=0).fit(X, y)
    assert model.converged_ and model.gradient_norm_ <= model.gtol
    assert model.n_iter_newton_ > 0


@pytest.mark.parametrize("solver", ["em", "newton"])
def test_bounds_are_respected_by_every_solver(n23_data, solver):
    _, X, y = n23_data
    bounds = dict(gate_bound=5.0, variance_bounds=(0.12, 1.0))
    # an expert held at a chosen variance bound is not a spurious fit
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = GaussianMoERegressor(2, solver=solver, random_state=0, n_init=2,
                                     **bounds).fit(X, y)
    assert not model.degenerate_experts_.any()
    assert np.all(np.abs(model.gate_coef_) <= 5.0 * (1 + 1e-9))
    assert np.all(model.expert_variance_ >= 0.12 * (1 - 1e-9))
    assert np.all(model.expert_variance_ <= 1.0 * (1 + 1e-9))
    # the bound binds: the unbounded MLE has gate slope 25 and a variance 0.09
    free = GaussianMoERegressor(2, random_state=0, n_init=2).fit(X, y)
    assert model.log_likelihood_ < free.log_likelihood_
    assert np.isclose(np.abs(model.gate_coef_).max(), 5.0)


def test_bounded_newton_is_stationary_on_its_free_parameters(n23_data):
    _, X, y = n23_data
    model = GaussianMoERegressor(2, gate_bound=5.0, random_state=0).fit(X, y)
    assert model.converged_ and model.gradient_norm_ <= model.gtol


def test_gate_penalty_shrinks_the_gate(n23_data):
    _, X, y = n23_data
    free = GaussianMoERegressor(2, random_state=0).fit(X, y)
    ridge = GaussianMoERegressor(2, gate_penalty=50.0, random_state=0).fit(X, y)
    assert np.abs(ridge.gate_coef_).max() < np.abs(free.gate_coef_).max()
    assert ridge.log_likelihood_ <= free.log_likelihood_ + 1e-9
    assert ridge.converged_


def step_data():
    """Two lines on either side of x = 0.5 with a gap: a separable gate."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(0, 0.4, 100), rng.uniform(0.6, 1, 100)])
    y = np.where(x < 0.5, 2 * x, 3 - x) + 0.05 * rng.normal(size=200)
    return x[:, None], y


def test_separated_gate_is_reported():
    X, y = step_data()
    with pytest.warns(GateSeparationWarning, match="does not exist"):
        model = GaussianMoERegressor(2, random_state=0).fit(X, y)
    assert model.separated_experts_ == [(0, 1)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", GateSeparationWarning)
        ridge = GaussianMoERegressor(2, gate_penalty=1.0, random_state=0).fit(X, y)
    assert ridge.separated_experts_ == []
    assert np.abs(ridge.gate_coef_).max() < np.abs(model.gate_coef_).max()


def test_overlapping_gate_is_not_reported(n23_data):
    _, X, y = n23_data
    with warnings.catch_warnings():
        warnings.simplefilter("error", GateSeparationWarning)
        model = GaussianMoERegressor(2, random_state=0).fit(X, y)
    assert model.separated_experts_ == []


def spurious_setup():
    """Data from one line, a regular 2-expert fit, and a start that puts expert 0
    on the two samples of smallest x with a tiny variance."""
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, 60)
    y = 1 + 2 * x + 0.3 * rng.normal(size=60)
    X = x[:, None]
    regular = GaussianMoERegressor(2, random_state=0).fit(X, y)
    start = {name: getattr(regular, name + "_").copy() for name in PARAM_NAMES}
    a, b = np.argsort(x)[:2]
    slope = (y[b] - y[a]) / (x[b] - x[a])
    start["expert_coef"][0] = slope
    start["expert_intercept"][0] = y[a] - slope * x[a]
    start["expert_variance"][0] = 1e-8
    start["gate_coef"][0] = -40.0
    start["gate_intercept"][0] = 40.0 * x[b] - 3.0
    return X, y, regular, start


def test_spurious_fit_is_flagged():
    X, y, regular, start = spurious_setup()
    with pytest.warns(SpuriousFitWarning, match="spurious"):
        spurious = GaussianMoERegressor(2, init_params=start).fit(X, y)
    assert spurious.degenerate_experts_[0]
    assert spurious.log_likelihood_ > regular.log_likelihood_


def test_spurious_start_ranks_below_regular_ones():
    from gmoe.engine._search import _irregular_experts
    from gmoe.engine._solvers import screen
    from gmoe.model._scaling import _Scaling

    X, y, regular, start = spurious_setup()
    w = np.ones(len(y))
    scaling = _Scaling(X, y, w)
    model = SoftmaxGaussianMoE(scaling.design(X), scaling.response(y), w,
                               var_lower=1e-6)
    starts = [MoEParams(*scaling.to_standardized(source))
              for source in (start, {n: getattr(regular, n + "_")
                                     for n in PARAM_NAMES})]

    def is_regular(params, resp):
        return not _irregular_experts(params, resp, w, 1e-6, 1).any()

    kept, objectives = screen(model, starts, n_iter=5, n_keep=1, is_regular=is_regular)
    assert objectives[0] > objectives[1]      # the spurious start is higher ...
    np.testing.assert_allclose(kept[0].var, starts[1].var, rtol=1e-3)  # ... and loses


def test_bad_bounds_and_solver_leave_a_fitted_model_intact(n23_data):
    _, X, y = n23_data
    model = GaussianMoERegressor(2, random_state=0).fit(X, y)
    before = model.expert_coef_.copy()
    for params, match in [
        (dict(solver="lbfgs"), "solver"),
        (dict(variance_bounds=(1.0, 0.5)), "lower < upper"),
        (dict(variance_bounds=(1.0,)), "pair"),
        (dict(gate_bound=-1.0), "gate_bound"),
        (dict(gate_bound=[1.0, 2.0]), "one positive number per feature"),
        (dict(variance_bounds=(0.5, 2.0), init_params=N23_TRUTH), "outside the bounds"),
        (dict(gate_bound=1.0, init_params=N23_TRUTH), "outside the bounds"),
    ]:
        with pytest.raises(ValueError, match=match):
            model.set_params(**params).fit(X, y)
        model.set_params(solver="newton", variance_bounds=None, gate_bound=None,
                         init_params="auto")
        np.testing.assert_array_equal(model.expert_coef_, before)


def test_start_kinds_are_deterministic_and_differ(truth_3x2_data):
    _, X, y = truth_3x2_data
    fits = {}
    for kind in ("kmeans", "random", "partition", "lines", "local", "auto"):
        a = GaussianMoERegressor(3, init_params=kind, n_init=2, max_iter=5,
                                 solver="em", random_state=3)
        b = GaussianMoERegressor(3, init_params=kind, n_init=2, max_iter=5,
                                 solver="em", random_state=3)
        for model in (a, b):
            with pytest.warns(ConvergenceWarning, match="max_iter=5"):
                model.fit(X, y)
        np.testing.assert_array_equal(a.expert_coef_, b.expert_coef_)
        fits[kind] = a.log_likelihood_
    assert len(set(fits.values())) > 2


def test_verbose_prints_log_likelihood_in_data_units(n23_data, capsys):
    _, X, y = n23_data
    model = GaussianMoERegressor(2, n_init=1, random_state=0, verbose=1).fit(X, y)
    out = capsys.readouterr().out
    assert f"{model.log_likelihood_:.6f}" in out


def test_bounded_newton_does_not_stall_next_to_a_bound():
    """A gate slope that ends just inside its bound: the step moves it onto the
    bound and solves for the rest, instead of being cut short at every iteration."""
    from gmoe.simulation import draw_replication
    from gmoe.simulation._replication import fit_seed_sequence

    n, replication, k = 7743, 3, 3
    X, y = draw_replication(N23_TRUTH, n, replication, random_state=2023)
    _, seq = fit_seed_sequence(2023, n, replication).spawn(2)
    start = near_truth_start(N23_TRUTH, k, n, np.random.default_rng(seq))
    model = GaussianMoERegressor(k, init_params=start, gate_bound=50.0,
                                 variance_bounds=(0.01, 1.0)).fit(X, y)
    assert model.converged_ and model.gradient_norm_ <= model.gtol
    assert np.isclose(np.abs(model.gate_coef_).max(), 50.0)
