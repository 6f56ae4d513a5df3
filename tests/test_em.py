"""The M-steps and the EM loop on standardised arrays."""

import numpy as np
import pytest
import scipy.optimize
from naive import gate_objective
from sklearn.exceptions import ConvergenceWarning

from gmoe.engine._em import (
    expert_statistics,
    m_step_gate,
    params_from_responsibilities,
    run_em,
)
from gmoe.engine._model import SoftmaxGaussianMoE, m_step_experts


def _model(Xt, y, w, **options):
    return SoftmaxGaussianMoE(Xt, y, w, var_lower=options.pop("var_lower", 1e-6),
                              **options)


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    n, k, d = 600, 3, 2
    Xt = np.column_stack([np.ones(n), rng.normal(size=(n, d))])
    y = rng.normal(size=n)
    w = rng.uniform(0.5, 1.5, size=n)
    resp = rng.dirichlet(np.ones(k), size=n)
    return Xt, y, w, resp


def test_expert_m_step_is_weighted_least_squares(problem):
    Xt, y, w, resp = problem
    A, B, C = expert_statistics(Xt, y, w, resp)
    k, p = resp.shape[1], Xt.shape[1]
    coef, var = m_step_experts(A, B, C, np.zeros((k, p)), np.ones(k), 1e-12,
                               np.inf, w.sum())
    for i in range(k):
        sw = np.sqrt(w * resp[:, i])
        ref = np.linalg.lstsq(Xt * sw[:, None], y * sw, rcond=None)[0]
        np.testing.assert_allclose(coef[i], ref, rtol=1e-10)
        rss = np.sum(w * resp[:, i] * (y - Xt @ ref) ** 2)
        assert var[i] == pytest.approx(rss / np.sum(w * resp[:, i]), rel=1e-10)


def test_expert_m_step_keeps_empty_expert_and_floors_variance(problem):
    Xt, y, w, resp = problem
    resp = resp.copy()
    resp[:, 0] = 0.0
    resp /= resp.sum(axis=1, keepdims=True)
    A, B, C = expert_statistics(Xt, y, w, resp)
    coef0 = np.arange(9.0).reshape(3, 3)
    var0 = np.array([0.7, 1.0, 1.0])
    coef, var = m_step_experts(A, B, C, coef0, var0, 10.0, np.inf, w.sum())
    np.testing.assert_array_equal(coef[0], coef0[0])
    assert var[0] == 0.7
    np.testing.assert_array_equal(var[1:], [10.0, 10.0])


def test_expert_statistics_match_numpy(problem):
    Xt, y, w, resp = problem
    A, B, C = expert_statistics(Xt, y, w, resp)
    wr = w[:, None] * resp
    np.testing.assert_allclose(A, np.einsum("ni,na,nb->iab", wr, Xt, Xt),
                               rtol=1e-12)
    np.testing.assert_allclose(B, np.einsum("ni,n,na->ia", wr, y, Xt), rtol=1e-12)
    np.testing.assert_allclose(C, wr.T @ y**2, rtol=1e-12)


def test_expert_m_step_on_one_sample_is_the_minimum_norm_solution(problem):
    # an expert whose weight sits on one sample: its design has rank one, the
    # Cholesky factor's second pivot is round-off (positive or not, depending
    # on the processor); the update must be the minimum-norm least-squares line
    # and the variance floor, never coefficients of order 1 / round-off
    Xt, y, w, resp = problem
    resp = resp.copy()
    resp[:, 2] = 0.0
    resp[7, 2] = 0.97
    resp /= resp.sum(axis=1, keepdims=True)
    A, B, C = expert_statistics(Xt, y, w, resp)
    coef, var = m_step_experts(A, B, C, np.zeros((3, 3)), np.ones(3), 1e-6,
                               np.inf, w.sum())
    ref = np.linalg.lstsq(A[2], B[2], rcond=1e-13)[0]
    np.testing.assert_allclose(coef[2], ref, rtol=1e-6)
    np.testing.assert_allclose(Xt[7] @ coef[2], y[7], rtol=1e-6)
    assert var[2] == 1e-6
    assert np.all(np.abs(coef) < 1e3)


def test_gate_m_step_reaches_the_maximum(problem):
    """Newton/IRLS agrees with a generic optimiser of the concave objective."""
    Xt, y, w, resp = problem
    k, p = resp.shape[1], Xt.shape[1]
    gate, n_steps = m_step_gate(_model(Xt, y, w), resp, np.zeros((k, p)), max_iter=100,
                                tol=1e-14)
    assert 1 < n_steps < 100
    np.testing.assert_array_equal(gate[-1], 0.0)

    def negative(v):
        full = np.vstack([v.reshape(k - 1, p), np.zeros(p)])
        return -gate_objective(Xt, w, resp, full)

    ref = scipy.optimize.minimize(negative, np.zeros((k - 1) * p), method="BFGS",
                                  options={"gtol": 1e-10})
    np.testing.assert_allclose(gate[:-1].ravel(), ref.x, atol=1e-5)
    assert -gate_objective(Xt, w, resp, gate) <= ref.fun + 1e-9


def test_gate_m_step_never_decreases_objective_on_separable_labels(problem):
    """Hard, separable labels push the gate to infinity; every step still helps."""
    Xt, y, w, _ = problem
    model = _model(Xt, y, w)
    labels = (Xt[:, 1] > 0).astype(int)
    resp = np.eye(2)[labels]
    gate = np.zeros((2, Xt.shape[1]))
    values = [gate_objective(Xt, w, resp, gate)]
    for _ in range(10):
        gate, _ = m_step_gate(model, resp, gate, max_iter=1)
        values.append(gate_objective(Xt, w, resp, gate))
    assert np.all(np.diff(values) >= 0)
    assert np.all(np.isfinite(gate))


@pytest.mark.parametrize("accelerate", [False, True])
def test_run_em_is_monotone_and_ends_on_an_e_step(problem, accelerate):
    Xt, y, w, resp = problem
    y = np.where(Xt[:, 1] > 0, 2 * Xt[:, 2], -1 - Xt[:, 1]) + 0.1 * y
    model = _model(Xt, y, w)
    start = params_from_responsibilities(model, resp)
    result = run_em(model, start, max_iter=60, tol=0.0, accelerate=accelerate)
    trace = np.asarray(result.trace)
    assert len(trace) == result.n_iter + 1 == 61
    assert np.all(np.diff(trace) >= -1e-9 * np.abs(trace[1:]))
    assert trace[-1] > trace[0] + 100
    # the reported log-likelihood and responsibilities belong to the final parameters
    from naive import e_step as naive_e_step

    fit = result.params
    ref = naive_e_step(Xt, y, w, fit.gate, fit.coef, fit.var)
    assert result.log_likelihood == pytest.approx(ref[0], rel=1e-12)
    np.testing.assert_allclose(result.resp, ref[-1], atol=1e-12)


def test_squarem_converges_where_plain_em_creeps():
    """Over-fitted [N23] data: plain EM hits the cap, SQUAREM converges higher."""
    from gmoe import GaussianMoERegressor
    from gmoe.datasets import N23_TRUTH, make_moe_regression

    X, y = make_moe_regression(2000, N23_TRUTH, random_state=1)
    options = dict(n_experts=3, tol=1e-10, max_iter=2000, random_state=1, solver="em",
                   n_init=1, init_params="kmeans")
    with pytest.warns(ConvergenceWarning, match="max_iter=2000"):  # plain EM creeps
        plain = GaussianMoERegressor(**options).fit(X, y)
    fast = GaussianMoERegressor(accelerate=True, **options).fit(X, y)
    assert not plain.converged_ and fast.converged_
    assert fast.n_iter_ < 500
    assert fast.log_likelihood_ >= plain.log_likelihood_ - 1e-6
    trace = fast.log_likelihood_trace_
    assert np.all(np.diff(trace) >= -1e-9 * np.abs(trace[1:]))


def test_squarem_reaches_the_same_maximum_when_the_model_is_identified():
    from gmoe import GaussianMoERegressor
    from gmoe.datasets import N23_TRUTH, make_moe_regression

    X, y = make_moe_regression(3000, N23_TRUTH, random_state=4)
    options = dict(n_experts=2, tol=1e-12, max_iter=5000, random_state=4, solver="em",
                   n_init=1, init_params="kmeans")
    plain = GaussianMoERegressor(**options).fit(X, y)
    fast = GaussianMoERegressor(accelerate=True, **options).fit(X, y)
    assert fast.log_likelihood_ == pytest.approx(plain.log_likelihood_, abs=1e-7)
    for name in ("gate_coef_", "gate_intercept_", "expert_coef_", "expert_intercept_",
                 "expert_variance_"):
        np.testing.assert_allclose(getattr(fast, name), getattr(plain, name),
                                   rtol=1e-5, atol=1e-6)
    again = GaussianMoERegressor(accelerate=True, **options).fit(X, y)
    np.testing.assert_array_equal(again.gate_coef_, fast.gate_coef_)


def test_em_starts_each_gate_step_at_twice_the_fraction_last_kept():
    # the normalised sigmoid gate's Newton step overshoots for many iterations in
    # a row near equal predictors; each iteration tries first twice the fraction
    # of the step the previous one kept (at most the full step), halves it until
    # the gate objective does not decrease, and EM stays monotone
    from gmoe.datasets import make_moe_regression
    from gmoe.engine._em import MAX_HALVINGS
    from gmoe.engine._gated_model import GatedGaussianMoE
    from gmoe.gates import Sigmoid

    X, y = make_moe_regression(3000, random_state=1)
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    Xt = np.column_stack([np.ones(len(y)), Z])
    model = GatedGaussianMoE(Z, Xt, (y - y.mean()) / y.std(), np.ones(len(y)),
                             Sigmoid(), var_lower=1e-6)

    class Spy:
        """The model, recording the gate steps and the gates of the E-steps."""

        def __init__(self):
            self.log = []

        def __getattr__(self, name):
            return getattr(model, name)

        def gate_direction(self, gate, grad, info):
            step = model.gate_direction(gate, grad, info)
            self.log.append(("step", gate.copy(), step))
            return step

        def e_step(self, params, resp_prev, resp):
            self.log.append(("e_step", params.gate.copy(), None))
            return model.e_step(params, resp_prev, resp)

    spy = Spy()
    resp = np.random.default_rng(3).dirichlet(np.ones(4), size=len(y))
    start = params_from_responsibilities(model, resp)
    result = run_em(spy, start, max_iter=60, tol=0.0)
    assert np.all(np.diff(result.trace) >= -1e-9 * np.abs(result.trace[1:]))
    # the fractions tried in each iteration, from the recorded steps and gates
    tried = []
    for kind, gate, step in spy.log:
        if kind == "step":
            tried.append([])
            base, direction = gate, step
        elif tried:
            tried[-1].append(np.linalg.norm(gate - base) / np.linalg.norm(direction))
    kept = [fractions[-1] for fractions in tried]
    assert min(kept) < 0.1                            # the steps did overshoot
    for fractions in tried:
        assert len(fractions) <= MAX_HALVINGS + 1
        np.testing.assert_allclose(np.diff(np.log2(fractions)), -1.0, atol=1e-9)
    for previous, fractions in zip(kept[:-1], tried[1:], strict=True):
        assert fractions[0] == pytest.approx(min(1.0, 2.0 * previous), rel=1e-9)


def test_em_rejects_a_gate_step_that_underflows_a_weight():
    # a normalised sigmoid gate near equal predictors, where the Fisher-scoring
    # step is huge ([N23] data, n = 600, k = 2, standardised): the step drives an
    # expert's weight below the smallest double, and EM's check of the gate
    # objective must see its log-weight (the log-likelihood then never drops)
    import warnings

    from gmoe.datasets import make_moe_regression
    from gmoe.engine._gated_model import GatedGaussianMoE
    from gmoe.engine._model import MoEParams
    from gmoe.gates import Sigmoid
    from gmoe.model._order import canonical_rows
    from gmoe.model._scaling import _Scaling

    X, y = make_moe_regression(600, random_state=0)
    X, y, w = canonical_rows(X, y, np.ones(len(y)))
    scaling = _Scaling(X, y, w)
    gate = Sigmoid()
    model = GatedGaussianMoE(gate.features(X, scaling), scaling.design(X),
                             scaling.response(y), w, gate, var_lower=1e-6)
    params = MoEParams(np.array([[-1.45073053018141, -0.29842026446645303],
                                 [0.8063780935624452, 0.2479396418242359]]),
                       np.array([[1.8804015801896443, 0.8294279351552069],
                                 [-0.32527528921010185, 0.01944117329349564]]),
                       np.array([0.3844585206673863, 0.5236145585323544]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # LikelihoodDecreaseWarning
        result = run_em(model, params, max_iter=5, tol=0.0)
    assert np.all(np.diff(result.trace) >= 0)


def test_start_gate_fit_starts_each_step_at_twice_the_fraction_last_kept():
    # the gate fit of a start (m_step_gate) carries the step fraction as EM does:
    # on a normalised sigmoid gate from a flat start its Newton steps overshoot,
    # and each step tries first twice the fraction the previous one kept
    from gmoe.datasets import make_moe_regression
    from gmoe.engine._gated_model import GatedGaussianMoE
    from gmoe.gates import Sigmoid

    X, y = make_moe_regression(3000, random_state=1)
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    model = GatedGaussianMoE(Z, np.column_stack([np.ones(len(y)), Z]), y,
                             np.ones(len(y)), Sigmoid(), var_lower=1e-6)
    resp = np.random.default_rng(4).dirichlet(np.ones(4) * 0.3, size=len(y))
    log = []

    class Spy:
        def __getattr__(self, name):
            return getattr(model, name)

        def gate_direction(self, gate, grad, info):
            step = model.gate_direction(gate, grad, info)
            log.append(("step", gate.copy(), step))
            return step

        def gate_stats(self, resp, blocks):
            log.append(("stats", blocks.copy(), None))
            return model.gate_stats(resp, blocks)

    gate, n_steps = m_step_gate(Spy(), resp, model.flat_gate(4), max_iter=25)
    tried = []
    for kind, blocks, step in log:
        if kind == "step":
            tried.append([])
            base, direction = blocks, step
        elif tried:
            tried[-1].append(np.linalg.norm(blocks - base) / np.linalg.norm(direction))
    kept = [fractions[-1] for fractions in tried[:n_steps]]
    assert min(kept) < 0.5                            # the steps did overshoot
    for previous, fractions in zip(kept[:-1], tried[1:n_steps], strict=True):
        assert fractions[0] == pytest.approx(min(1.0, 2.0 * previous), rel=1e-9)
        np.testing.assert_allclose(np.diff(np.log2(fractions)), -1.0, atol=1e-9)
    q = [model.gate_stats(resp, blocks)[0] for kind, blocks, _ in log
         if kind == "step"]
    assert np.all(np.diff(q) >= 0)
