"""Shared and routed experts (arXiv 2505.10860, eq. 1): the grouped gate against
numpy twins, the fit on data drawn from the model, and the estimator's API."""

import numpy as np
import pytest
from naive import (
    group_log_weight_jacobian,
    group_log_weights,
    grouped_loglik_hessian,
    shared_routed_density,
)

from gmoe import GaussianMoERegressor, select_n_experts
from gmoe.datasets import make_moe_regression
from gmoe.engine._gated_model import GatedGaussianMoE
from gmoe.engine._model import MoEParams
from gmoe.gates import Constant, Cosine, SharedRouted, Sigmoid, Softmax
from gmoe.kernels._grouped import grouped_loglik_hessian as compiled_hessian

#: The truth: one shared expert, two routed experts of a softmax gate, d = 1.
TRUTH = dict(shared_weights=np.array([1.0]),
             gate_intercept=np.array([0.5, 0.0]), gate_coef=np.array([[-2.0], [0.0]]),
             expert_intercept=np.array([1.0, 3.0, -2.0]),
             expert_coef=np.array([[0.5], [-1.0], [2.0]]),
             expert_variance=np.array([0.25, 0.36, 0.16]))


def draw(n, seed, c=0.5, truth=TRUTH):
    """Samples of eq. 1 with the truth above (expert 0 shared)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, n)
    eta = truth["gate_intercept"] + np.outer(x, truth["gate_coef"][:, 0])
    g = np.exp(eta - eta.max(axis=1, keepdims=True))
    g /= g.sum(axis=1, keepdims=True)
    routed = 1 + (rng.uniform(size=n) > g[:, 0]).astype(int)
    expert = np.where(rng.uniform(size=n) < c, 0, routed)
    mean = truth["expert_intercept"][expert] + truth["expert_coef"][expert, 0] * x
    y = mean + np.sqrt(truth["expert_variance"][expert]) * rng.normal(size=n)
    return x[:, None], y


def density(moe, X, y):
    """Eq. 1 at the fitted attributes of ``moe`` (softmax routed gate)."""
    k1 = moe.shared_weights_.size
    rows = np.column_stack([moe.expert_intercept_, moe.expert_coef_[:, 0]])
    gate = np.column_stack([moe.gate_intercept_, moe.gate_coef_[:, 0]])
    return shared_routed_density(X[:, 0], y, moe.shared_fraction, moe.shared_weights_,
                                 rows[:k1], moe.expert_variance_[:k1], gate,
                                 rows[k1:], moe.expert_variance_[k1:])


@pytest.fixture(scope="module")
def data():
    return draw(5000, 0)


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return GaussianMoERegressor(2, n_shared_experts=1, random_state=0).fit(X, y)


def engine(gate, n=300, seed=0):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, 1))
    Xt = np.column_stack([np.ones(n), Z])
    model = GatedGaussianMoE(Z, Xt, rng.normal(size=n), rng.uniform(0.5, 1.5, n),
                             gate, var_lower=1e-6)
    return model, rng


# ------------------------------------------------------------ the grouped gate
@pytest.mark.parametrize("routed", [Softmax(), Sigmoid(), Constant()])
@pytest.mark.parametrize("c", [0.5, 0.3])
def test_log_weights_and_derivatives_match_the_twin(routed, c):
    gate = SharedRouted(2, routed, c)
    model, rng = engine(gate)
    k = 5
    blocks = model.project_gate(rng.normal(size=(k, gate.n_block(1))))
    S, D1, _ = gate.score_derivatives(model.Z, blocks, order=1)
    group, log_mass = gate.groups(k)
    mass = np.exp(log_mass)
    log_pi = gate.log_weights(model.Z, blocks)
    np.testing.assert_allclose(log_pi, group_log_weights(S, group, mass), atol=1e-12)
    np.testing.assert_allclose(np.exp(log_pi)[:, :2].sum(axis=1), c)
    # the gate objective's gradient and Fisher information, against the twin's
    # Jacobian of log pi over the scores times the scores' derivatives
    resp = rng.dirichlet(np.ones(k), size=model.n_samples)
    q, grad, info = model.gate_stats(resp, blocks)
    jac = group_log_weight_jacobian(S, group, mass)
    w = model.w
    g = np.einsum("nij,nja->nija", jac, D1)  # d log pi_i / d block j
    np.testing.assert_allclose(q, w @ np.sum(resp * log_pi, axis=1))
    np.testing.assert_allclose(grad, np.einsum("n,ni,nija->ja", w, resp, g),
                               atol=1e-9)
    pi = np.exp(log_pi)
    twin = np.einsum("n,ni,nija,nilb->jlab", w, pi, g, g)
    np.testing.assert_allclose(info, twin, atol=1e-9)


@pytest.mark.parametrize("routed", [Softmax(), Sigmoid()])
def test_exact_derivatives_match_finite_differences(routed):
    gate = SharedRouted(2, routed, 0.4)
    model, rng = engine(gate, seed=1)
    k = 5
    params = model.project(MoEParams(rng.normal(size=(k, 2)), rng.normal(size=(k, 2)),
                                     rng.uniform(0.5, 2.0, k)))
    theta = model.to_vector(params)
    value, grad, hess = model.derivatives(params)
    assert np.isclose(value, model.objective(params))
    # two shared experts: one free intercept; the routed gate's free rows
    assert model.n_gate_free(k) == 1 + (2 if routed.gauge(1).all() else 3) * 2

    def f(t):
        return model.objective(model.from_vector(t, k))

    def df(t):
        return model.derivatives(model.from_vector(t, k))[1]

    eps = 1e-5
    basis = np.eye(theta.size)
    numeric = np.array([(f(theta + eps * e) - f(theta - eps * e)) / (2 * eps)
                        for e in basis])
    np.testing.assert_allclose(grad, numeric, atol=1e-6 * max(1, np.abs(grad).max()))
    numeric = np.array([(df(theta + eps * e) - df(theta - eps * e)) / (2 * eps)
                        for e in basis])
    np.testing.assert_allclose(hess, numeric, atol=1e-6 * np.abs(hess).max())
    # the per-sample scores add up to the gradient; the mean's gradient
    np.testing.assert_allclose(model.w @ model.per_sample_gradient(params), grad,
                               atol=1e-8 * max(1, np.abs(grad).max()))
    mean, dmean = model.mean_and_gradient(params)

    def mean_at(t):
        return model.mean_and_gradient(model.from_vector(t, k))[0]

    numeric = np.column_stack([(mean_at(theta + eps * e) - mean_at(theta - eps * e))
                               / (2 * eps) for e in basis])
    np.testing.assert_allclose(dmean, numeric, atol=1e-7)
    # the E-step's log-likelihood is the objective's
    resp = np.empty((model.n_samples, k))
    stats = model.e_step(params, np.full((model.n_samples, k), 1 / k), resp)
    assert np.isclose(stats.loglik, value)
    # its gate statistics are those of the gate objective at its responsibilities
    q, grad, info = model.gate_stats(resp, params.gate)
    assert np.isclose(stats.gate_q, q)
    np.testing.assert_allclose(stats.gate_grad, grad, atol=1e-9)
    np.testing.assert_allclose(stats.gate_info, info, atol=1e-9)


@pytest.mark.parametrize("routed", [Softmax(), Sigmoid(), Cosine()])
def test_compiled_hessian_matches_the_twin(routed):
    gate = SharedRouted(2, routed, 0.3)
    model, rng = engine(gate, n=400, seed=2)
    k = 5
    params = model.project(MoEParams(rng.normal(size=(k, 2)), rng.normal(size=(k, 2)),
                                     rng.uniform(0.5, 2.0, k)))
    S, D1, D2 = gate.score_derivatives(model.Z, params.gate, order=2)
    group, log_mass = gate.groups(k)
    twin = grouped_loglik_hessian(S, D1, D2, group, np.exp(log_mass), model.Xt,
                                  model.y, model.w, params.coef, params.var)
    value, grad, hess = compiled_hessian(model._source(slice(None), params.gate, 2),
                                         model.Xt, model.y, model.w, params.coef,
                                         params.var)
    # every coordinate but the shared experts' fixed ones
    used = np.ones((k, 2 + 2 + 1), dtype=bool)
    used[:2, 1] = False
    assert np.isclose(value, twin[0], rtol=1e-12)
    np.testing.assert_allclose(grad[used], twin[1][used], atol=1e-9)
    np.testing.assert_allclose(hess[used][:, used], twin[2][used][:, used], atol=1e-9)


def test_each_group_has_its_reference():
    gate = SharedRouted(2)
    model, rng = engine(gate)
    blocks = model.project_gate(rng.normal(size=(5, 2)))
    assert blocks[1, 0] == 0 and np.all(blocks[:2, 1] == 0)
    assert np.all(blocks[-1] == 0) and np.all(blocks[2:4] != 0)
    # the weights do not depend on the reference form
    raw = rng.normal(size=(5, 2))
    raw[:2, 1] = 0.0
    np.testing.assert_allclose(gate.log_weights(model.Z, raw),
                               gate.log_weights(model.Z, model.project_gate(raw)))


# ------------------------------------------------------------------ the fits
def test_loglik_is_that_of_eq1(fitted, data):
    X, y = data
    direct = np.log(density(fitted, X, y))
    np.testing.assert_allclose(fitted.score_samples(X, y), direct, rtol=1e-9)
    assert np.isclose(fitted.log_likelihood_, direct.sum(), rtol=1e-9)


class _Truth:
    """The truth as a fitted model's attributes (what :func:`density` reads)."""

    shared_fraction = 0.5

    def __init__(self, truth=TRUTH):
        for name, value in truth.items():
            setattr(self, name + "_", value)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fit_reaches_the_truth(seed):
    X, y = draw(5000, seed)
    moe = GaussianMoERegressor(2, n_shared_experts=1, random_state=seed).fit(X, y)
    truth_ll = np.log(density(_Truth(), X, y)).sum()
    assert moe.converged_
    assert moe.log_likelihood_ >= truth_ll
    assert moe.gradient_norm_ < 1e-3


def _routed_match(moe, truth, k1):
    """The permutation of the fit's routed experts closest to the truth's."""
    import itertools

    k = truth["expert_intercept"].size
    best = min(itertools.permutations(range(k1, k)),
               key=lambda perm: np.sum((moe.expert_intercept_[list(perm)]
                                        - truth["expert_intercept"][k1:])**2))
    return list(range(k1)) + list(best)


def test_parameters_recovered_within_groups(fitted):
    np.testing.assert_allclose(fitted.shared_weights_, [1.0])
    order = _routed_match(fitted, TRUTH, 1)
    np.testing.assert_allclose(fitted.expert_intercept_[order],
                               TRUTH["expert_intercept"], atol=0.1)
    np.testing.assert_allclose(fitted.expert_coef_[order], TRUTH["expert_coef"],
                               atol=0.05)
    np.testing.assert_allclose(fitted.expert_variance_[order],
                               TRUTH["expert_variance"], atol=0.03)
    grid = np.linspace(-3, 3, 61)[:, None]
    np.testing.assert_allclose(fitted.predict_gate(grid)[:, order],
                               np.exp(fitted.gate_.original_log_weights(grid, TRUTH)),
                               atol=0.05)
    # the shared expert first, then the routed ones by increasing weight
    assert np.all(np.diff(fitted.expert_weight_[1:]) >= 0)


def test_two_shared_experts_recovered_up_to_permutation():
    truth = dict(TRUTH, shared_weights=np.array([0.3, 0.7]),
                 expert_intercept=np.array([4.0, 1.0, 3.0, -2.0]),
                 expert_coef=np.array([[0.0], [0.5], [-1.0], [2.0]]),
                 expert_variance=np.array([0.2, 0.25, 0.36, 0.16]))
    rng = np.random.default_rng(5)
    n = 6000
    x = rng.uniform(-3, 3, n)
    eta = truth["gate_intercept"] + np.outer(x, truth["gate_coef"][:, 0])
    g = np.exp(eta - eta.max(axis=1, keepdims=True))
    g /= g.sum(axis=1, keepdims=True)
    routed = 2 + (rng.uniform(size=n) > g[:, 0]).astype(int)
    shared = (rng.uniform(size=n) < 0.7).astype(int)
    expert = np.where(rng.uniform(size=n) < 0.3, shared, routed)
    y = (truth["expert_intercept"][expert] + truth["expert_coef"][expert, 0] * x
         + np.sqrt(truth["expert_variance"][expert]) * rng.normal(size=n))
    moe = GaussianMoERegressor(2, n_shared_experts=2, shared_fraction=0.3,
                               random_state=0).fit(x[:, None], y)
    assert moe.converged_
    # each group in the canonical order: by increasing weight
    np.testing.assert_allclose(moe.shared_weights_, [0.3, 0.7], atol=0.05)
    order = _routed_match(moe, truth, 2)
    np.testing.assert_allclose(moe.expert_intercept_[order],
                               truth["expert_intercept"], atol=0.15)
    np.testing.assert_allclose(moe.expert_coef_[order], truth["expert_coef"],
                               atol=0.08)
    weights = moe.predict_gate(x[:5, None])
    np.testing.assert_allclose(weights[:, :2], 0.3 * moe.shared_weights_[None, :]
                               * np.ones((5, 1)))


def test_em_is_monotone(data):
    X, y = data
    moe = GaussianMoERegressor(2, n_shared_experts=1, solver="em", n_init=2,
                               max_iter=200, random_state=3).fit(X, y)
    trace = moe.log_likelihood_trace_
    assert np.all(np.diff(trace) >= -1e-8 * np.abs(trace[1:]))
    assert np.all(np.isfinite(trace))


def test_sigmoid_routed_gate(data):
    X, y = data
    moe = GaussianMoERegressor(2, n_shared_experts=1, gate="sigmoid", n_init=6,
                               random_state=0).fit(X, y)
    assert moe.converged_ and np.all(np.isfinite(moe.gate_coef_))
    weights = moe.predict_gate(X[:50])
    np.testing.assert_allclose(weights[:, 0], 0.5)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)


def test_other_fraction(data):
    X, y = draw(4000, 7, c=0.3)
    moe = GaussianMoERegressor(2, n_shared_experts=1, shared_fraction=0.3, n_init=6,
                               random_state=0).fit(X, y)
    np.testing.assert_allclose(moe.predict_gate(X[:10])[:, 0], 0.3)
    order = _routed_match(moe, TRUTH, 1)
    np.testing.assert_allclose(moe.expert_intercept_[order], TRUTH["expert_intercept"],
                               atol=0.15)
    default = GaussianMoERegressor(2, n_shared_experts=1, n_init=6,
                                   random_state=0).fit(X, y)
    assert default.shared_fraction == 0.5
    assert moe.log_likelihood_ > default.log_likelihood_


def test_no_shared_experts_is_the_plain_model(data):
    X, y = data
    plain = GaussianMoERegressor(2, n_init=4, random_state=0).fit(X[:1000], y[:1000])
    zero = GaussianMoERegressor(2, n_shared_experts=0, shared_fraction=0.3, n_init=4,
                                random_state=0).fit(X[:1000], y[:1000])
    for name in ("gate_intercept_", "gate_coef_", "expert_intercept_",
                 "expert_coef_", "expert_variance_", "log_likelihood_trace_"):
        assert np.array_equal(getattr(plain, name), getattr(zero, name))
    assert not hasattr(zero, "shared_weights_")


def test_deterministic(data):
    X, y = data[0][:1500], data[1][:1500]
    a = GaussianMoERegressor(2, n_shared_experts=1, n_init=5, random_state=4).fit(X, y)
    b = GaussianMoERegressor(2, n_shared_experts=1, n_init=5, random_state=4).fit(X, y)
    for name in ("shared_weights_", "gate_coef_", "expert_coef_", "expert_variance_"):
        assert np.array_equal(getattr(a, name), getattr(b, name))


# ----------------------------------------------------------------- the API
def test_prediction_sampling_and_criteria(fitted, data):
    X, y = data
    k, d = 3, 1
    assert fitted.n_parameters() == 0 + (2 - 1) * (d + 1) + k * (d + 2)
    n = X.shape[0]
    assert np.isclose(fitted.bic(X, y), -2 * fitted.score_samples(X, y).sum()
                      + fitted.n_parameters() * np.log(n))
    weights = fitted.predict_gate(X)
    mean = np.sum(weights * (fitted.expert_intercept_ + X @ fitted.expert_coef_.T),
                  axis=1)
    np.testing.assert_allclose(fitted.predict(X), mean)
    draws, experts = fitted.sample(np.repeat(X[:1], 20000, axis=0), random_state=0)
    assert abs(np.mean(experts == 0) - 0.5) < 0.02
    assert draws.shape == (20000,)


def test_summary_and_routing_report_say_which_experts_are_shared(fitted, data):
    X, y = data
    table = fitted.summary(X, y)
    assert np.all(np.isfinite(table.loc[table.parameter.str.startswith("expert"),
                                        "std_error"]))
    gate_rows = table[table.parameter == "gate_score"]
    assert np.all(np.isfinite(gate_rows[gate_rows.expert == 1].std_error))
    assert set(table[table.parameter == "shared_score"].expert) == {0}
    inference = fitted.inference(X, y)
    assert any("shared" in note for note in inference.notes)
    report = fitted.routing_report(X, y)
    assert report.experts["shared"].tolist() == [True, False, False]
    assert report.experts.loc[0, "active_share"] == 1.0
    assert not report.summary["collapsed"]


@pytest.mark.parametrize("options", [
    {"n_shared_experts": -1},
    {"n_shared_experts": 1, "shared_fraction": 0.0},
    {"n_shared_experts": 1, "shared_fraction": 1.0},
    {"n_shared_experts": 1, "shared_fraction": 1.5},
    {"n_shared_experts": 1, "top_k": 2},
    {"n_shared_experts": 1, "gate": "top_k"},
    {"n_shared_experts": 1, "gate": "gaussian"},
    {"gate": SharedRouted(1)},
])
def test_bad_input_raises_and_keeps_the_fit(fitted, data, options):
    X, y = data
    before = fitted.expert_coef_.copy(), fitted.shared_weights_.copy()
    with pytest.raises(ValueError):
        fitted.set_params(**options).fit(X, y)
    fitted.set_params(n_shared_experts=1, shared_fraction=0.5, top_k=None,
                      gate="softmax")
    assert np.array_equal(fitted.expert_coef_, before[0])
    assert np.array_equal(fitted.shared_weights_, before[1])


def test_select_n_experts_refuses_shared_experts(data):
    X, y = data
    with pytest.raises(ValueError, match="shared experts"):
        select_n_experts(X, y, [1, 2], n_shared_experts=1)


def test_gate_refuses_bad_options():
    for args in [(0,), (1.5,), (1, Softmax(), 0.0), (1, Softmax(), 1.0)]:
        with pytest.raises(ValueError):
            SharedRouted(*args)
    from gmoe.gates import Gaussian, TopK
    for routed in (TopK(2), Gaussian(), Gaussian("joint")):
        with pytest.raises(ValueError, match="dense gate"):
            SharedRouted(1, routed)


def test_balance_penalty_refused_with_shared_experts():
    X, y = make_moe_regression(200, random_state=0)
    moe = GaussianMoERegressor(2, n_shared_experts=1, n_init=1, max_iter=5)
    with pytest.raises(ValueError, match="n_shared_experts"):
        moe.set_params(balance_penalty=0.1).fit(X, y)
