"""The load-balancing penalty ``balance_penalty = alpha``: the fit maximises
``loglik / W - alpha KL(P || u)``, ``P`` the mean gate weights.

The penalty's value, gradient and Hessian against finite differences of a
direct numpy implementation (``tests/naive.py``), the penalised objective's
derivatives against finite differences of itself, EM monotone in the penalised
objective, the Newton certificate at the fit, the loads pulled to uniform as
alpha grows, bad input, determinism, and alpha = 0 leaving the fit untouched."""

import warnings

import numpy as np
import pytest
from naive import balance_penalty

from gmoe import GaussianMoERegressor
from gmoe.datasets import make_moe_regression
from gmoe.engine._balance import balance_divergence, balance_terms, gate_loads
from gmoe.engine._em import (
    LikelihoodDecreaseWarning,
    params_from_responsibilities,
    run_em,
)
from gmoe.engine._gated_model import GatedGaussianMoE
from gmoe.engine._model import MoEParams, SoftmaxGaussianMoE
from gmoe.engine._newton import projected_gradient_norm, run_newton
from gmoe.gates import Constant, Cosine, Laplace, Sigmoid, Softmax

GATES = {"softmax": Softmax(), "sigmoid": Sigmoid(), "constant": Constant(),
         "cosine": Cosine(0.1), "laplace": Laplace()}

#: Three lines in x, each taking over a third of [0, 1]: the truth of the
#: over-fitted case (ten experts on three lines).
THREE_LINES = {
    "gate_intercept": np.array([-4.0, 4.0, 0.0]),
    "gate_coef": np.array([[12.0], [-12.0], [0.0]]),
    "expert_intercept": np.array([0.0, 1.0, -1.0]),
    "expert_coef": np.array([[2.0], [-2.0], [0.5]]),
    "expert_variance": np.array([0.05, 0.05, 0.05]),
}


def _data(n=40, d=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.uniform(0.5, 2.0, size=n)


def _fd_gradient(f, x, h=1e-5):
    out = np.zeros(x.size)
    for a in range(x.size):
        e = np.zeros(x.size)
        e[a] = h
        out[a] = (f(x + e) - f(x - e)) / (2 * h)
    return out


def _fd_hessian(f, x, h=1e-4):
    """Second differences of the scalar ``f``."""
    m = x.size
    out = np.zeros((m, m))
    for a in range(m):
        for b in range(a, m):
            ea = np.zeros(m)
            eb = np.zeros(m)
            ea[a] = h
            eb[b] = h
            out[a, b] = out[b, a] = (f(x + ea + eb) - f(x + ea - eb)
                                     - f(x - ea + eb) + f(x - ea - eb)) / (4 * h * h)
    return out


# ------------------------------------------------------------- the penalty
@pytest.mark.parametrize("name", sorted(GATES))
def test_penalty_against_naive(name):
    Z, w = _data()
    gate = GATES[name].prepare(Z, w)
    k, m = 3, gate.n_block(Z.shape[1])
    blocks = np.random.default_rng(1).normal(size=(k, m))
    alpha = 0.7
    value, grad, info, hess = balance_terms(gate, Z, w, blocks, alpha, order=2)

    def naive(x):
        return balance_penalty(name, Z, w, x.reshape(k, m), alpha)

    x = blocks.ravel()
    scale = max(1.0, abs(value))
    assert value == pytest.approx(naive(x), rel=1e-12)
    np.testing.assert_allclose(grad.ravel(), _fd_gradient(naive, x),
                               atol=1e-6 * scale)
    flat = hess.transpose(0, 2, 1, 3).reshape(k * m, k * m)
    np.testing.assert_allclose(flat, _fd_hessian(naive, x), atol=1e-4 * scale)
    # the curvature of KL in P carried to the parameters: positive semi-definite
    flat_info = info.transpose(0, 2, 1, 3).reshape(k * m, k * m)
    assert np.linalg.eigvalsh(flat_info).min() >= -1e-10 * np.abs(flat_info).max()


def test_penalty_zero_at_equal_loads_and_bounded_by_log_k():
    Z, w = _data(n=30, d=1)
    k = 4
    equal = np.zeros((k, 2))
    value, grad, _, _ = balance_terms(Softmax(), Z, w, equal, 2.0, order=1)
    assert value == 0.0
    np.testing.assert_allclose(grad, 0.0, atol=1e-12)
    # all the weight on one expert: KL -> log k
    one = np.zeros((k, 1))
    one[0] = 50.0
    loads = gate_loads(Constant(), Z, w, one)
    assert balance_divergence(loads) == pytest.approx(np.log(k), rel=1e-9)
    assert balance_divergence(loads) <= np.log(k)


@pytest.mark.parametrize("name", ["softmax", "sigmoid", "cosine", "laplace",
                                  "constant"])
def test_penalised_objective_derivatives(name):
    """The model's derivatives (log-likelihood minus the penalty, over the free
    parameters) against finite differences of its objective."""
    rng = np.random.default_rng(3)
    n, d, k = 60, 2, 3
    X = rng.normal(size=(n, d))
    Xt = np.column_stack([np.ones(n), X])
    y = rng.normal(size=n)
    w = rng.uniform(0.5, 2.0, size=n)
    if name == "softmax":
        model = SoftmaxGaussianMoE(Xt, y, w, var_lower=1e-6, balance=0.8)
        m = d + 1
    else:
        model = GatedGaussianMoE(X, Xt, y, w, GATES[name], var_lower=1e-6,
                                 balance=0.8)
        m = model.m
    params = MoEParams(rng.normal(size=(k, m)), rng.normal(size=(k, d + 1)),
                       rng.uniform(0.5, 1.5, size=k))
    params = model.project(params)
    theta = model.to_vector(params)

    def f(x):
        return model.objective(model.from_vector(x, k))

    value, grad, hess = model.derivatives(params)
    scale = max(1.0, abs(value))
    assert value == pytest.approx(f(theta), rel=1e-10)
    # the penalty is part of it
    assert model.penalty(params.gate) > 0
    np.testing.assert_allclose(grad, _fd_gradient(f, theta), atol=1e-6 * scale)
    np.testing.assert_allclose(hess, _fd_hessian(f, theta), atol=1e-4 * scale)


# ----------------------------------------------------------------- EM, Newton
def _engine(name, alpha, n=300, k=5, seed=0):
    X, y = make_moe_regression(n, THREE_LINES, random_state=seed)
    Xt = np.column_stack([np.ones(n), (X - X.mean()) / X.std()])
    ys = (y - y.mean()) / y.std()
    w = np.ones(n)
    if name == "softmax":
        model = SoftmaxGaussianMoE(Xt, ys, w, var_lower=1e-6, balance=alpha)
    else:
        model = GatedGaussianMoE(Xt[:, 1:], Xt, ys, w, GATES[name], var_lower=1e-6,
                                 balance=alpha)
    resp = np.random.default_rng(seed).dirichlet(np.ones(k), size=n)
    return model, params_from_responsibilities(model, resp)


@pytest.mark.parametrize("name", ["softmax", "sigmoid", "constant", "cosine"])
@pytest.mark.parametrize("accelerate", [False, True])
def test_em_monotone_in_penalised_objective(name, accelerate):
    model, start = _engine(name, alpha=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LikelihoodDecreaseWarning)
        result = run_em(model, start, max_iter=60, tol=0.0, accelerate=accelerate)
    trace = np.asarray(result.trace)
    assert np.all(np.diff(trace) >= -1e-10 * np.abs(trace[1:]))
    assert trace[-1] > trace[0]
    # the trace is the penalised objective: log-likelihood minus the penalty
    penalty = model.penalty(result.params.gate)
    assert penalty > 0
    assert result.objective == pytest.approx(result.log_likelihood - penalty,
                                             rel=1e-12)
    assert result.objective == pytest.approx(model.objective(result.params),
                                             rel=1e-10)
    assert np.all(np.isfinite(result.params.coef))


@pytest.mark.parametrize("name", ["softmax", "sigmoid", "constant", "cosine"])
def test_newton_certificate_on_penalised_objective(name):
    model, start = _engine(name, alpha=0.5, k=4)
    em = run_em(model, start, max_iter=300, tol=1e-8)
    fit = run_newton(model, em.params, gtol=1e-8, max_iter=200)
    assert fit.converged
    assert projected_gradient_norm(model, fit.params) <= 1e-8
    # a maximum of the penalised objective, not of the log-likelihood alone:
    # no small move raises it, and the plain log-likelihood's gradient does
    # not vanish there
    k = fit.params.n_experts
    theta = model.to_vector(fit.params)
    value = model.objective(fit.params)
    rng = np.random.default_rng(0)
    for _ in range(20):
        move = rng.normal(size=theta.size)
        move *= 1e-3 / np.linalg.norm(move)
        assert model.objective(model.from_vector(theta + move, k)) <= value + 1e-9
    _, b_grad, _ = _balance_free(model, fit.params)
    assert np.max(np.abs(b_grad)) / model.total > 1e-6


def _balance_free(model, params):
    """The penalty's gradient over the free parameters (the softmax model's
    gate rows, or the gated model's free coordinates)."""
    if isinstance(model, GatedGaussianMoE):
        return model.balance_free(params)
    value, grad, _, _ = model.balance_derivatives(params.gate, 1)
    return value, grad[:-1].ravel(), None


# ------------------------------------------------------------ the estimator
def _fit(alpha, gate="softmax", k=10, n=300, n_init=4, **options):
    X, y = make_moe_regression(n, THREE_LINES, random_state=0)
    moe = GaussianMoERegressor(k, gate=gate, balance_penalty=alpha, n_init=n_init,
                               random_state=0, **options)
    return moe.fit(X, y), X, y


def _divergence(moe, X):
    return balance_divergence(moe.predict_gate(X).mean(axis=0))


@pytest.mark.parametrize("gate", ["softmax", "constant"])
def test_loads_pulled_to_uniform_as_alpha_grows(gate):
    """Ten experts on three lines.  Along the path of fits (each alpha started
    from the previous fit), KL(P || u) does not increase (along a path of
    maxima, dKL/dalpha = W grad KL' H^-1 grad KL <= 0) and tends to 0."""
    moe, X, y = _fit(0.0, gate)
    kl = [_divergence(moe, X)]
    loglik = [moe.log_likelihood_]
    assert kl[0] > 0.05  # the over-fitted fit's loads are unequal
    for alpha in (0.03, 0.3, 3.0, 30.0):
        moe.set_params(balance_penalty=alpha, warm_start=True)
        moe.fit(X, y)
        assert moe.converged_
        kl.append(_divergence(moe, X))
        loglik.append(moe.log_likelihood_)
        # the penalised value the fit reports
        W = X.shape[0]
        assert moe.objective_ == pytest.approx(
            moe.log_likelihood_ - alpha * W * kl[-1], rel=1e-9, abs=1e-9)
    kl = np.array(kl)
    assert np.all(np.diff(kl) <= 1e-9)
    assert kl[-1] < 1e-3 * kl[0]
    # the price: the log-likelihood does not rise along the path either
    assert np.all(np.diff(loglik) <= 1e-6 * np.abs(loglik[1:]))
    report = moe.routing_report(X)
    assert report.summary["effective_experts_load"] > 9.9
    if gate == "constant":  # the mixing weights pulled to 1/k
        weights = np.exp(moe.gate_intercept_) / np.exp(moe.gate_intercept_).sum()
        np.testing.assert_allclose(weights, 0.1, atol=5e-3)


def test_fresh_fits_balance_more_at_larger_alpha():
    """Independent multistart fits: at a large alpha the loads are near equal,
    and the log-likelihood is below the unpenalised fit's."""
    plain, X, _ = _fit(0.0, n_init=3)
    strong, _, _ = _fit(10.0, n_init=3)
    assert _divergence(strong, X) < 1e-2 * _divergence(plain, X)
    assert strong.log_likelihood_ < plain.log_likelihood_
    assert strong.objective_ < strong.log_likelihood_
    assert plain.objective_ == plain.log_likelihood_


def test_alpha_zero_takes_no_balance_path(monkeypatch):
    """alpha = 0 never computes the penalty: the fit is the unpenalised one."""
    reference, X, y = _fit(0.0, k=3, n_init=2)
    default = GaussianMoERegressor(3, n_init=2, random_state=0).fit(X, y)

    def refuse(*args, **kwargs):
        raise AssertionError("the balance penalty was computed at alpha = 0")

    monkeypatch.setattr("gmoe.engine._balance.balance_terms", refuse)
    monkeypatch.setattr("gmoe.engine._balance.gate_loads", refuse)
    again, _, _ = _fit(0.0, k=3, n_init=2)
    sigmoid, _, _ = _fit(0.0, gate="sigmoid", k=3, n_init=2)
    for moe in (default, again):
        for name in ("gate_intercept_", "gate_coef_", "expert_coef_",
                     "expert_variance_", "log_likelihood_trace_"):
            assert np.array_equal(getattr(moe, name), getattr(reference, name))
    assert sigmoid.objective_ == sigmoid.log_likelihood_


@pytest.mark.parametrize("gate", ["softmax", "cosine"])
def test_deterministic(gate):
    first, _, _ = _fit(0.5, gate, k=4, n_init=3)
    second, _, _ = _fit(0.5, gate, k=4, n_init=3)
    for name in ("gate_intercept_", "gate_coef_", "expert_coef_",
                 "expert_variance_"):
        assert np.array_equal(getattr(first, name), getattr(second, name))
    assert first.objective_ == second.objective_


@pytest.mark.parametrize("bad", [-0.1, np.nan, np.inf, "strong", None, True])
def test_bad_alpha_raises_and_keeps_the_fit(bad):
    moe, X, y = _fit(0.1, k=3, n_init=2)
    before = {name: np.copy(value) for name, value in vars(moe).items()
              if name.endswith("_") and isinstance(value, np.ndarray)}
    moe.set_params(balance_penalty=bad)
    with pytest.raises(ValueError, match="balance_penalty"):
        moe.fit(X, y)
    for name, value in before.items():
        assert np.array_equal(getattr(moe, name), value, equal_nan=True)


@pytest.mark.parametrize("gate", ["top_k", "top_p", "gaussian"])
def test_sparse_and_gaussian_gates_refused(gate):
    X, y = make_moe_regression(200, random_state=0)
    moe = GaussianMoERegressor(3, gate=gate, balance_penalty=0.1, n_init=1)
    with pytest.raises(ValueError, match="balance_penalty applies to dense gates"):
        moe.fit(X, y)
    # alpha = 0 is accepted with any gate
    moe.set_params(balance_penalty=0.0, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # five iterations do not converge
        moe.fit(X, y)
    assert moe.balance_penalty == 0.0 and hasattr(moe, "expert_coef_")


def test_summary_note_and_information_criteria():
    moe, X, y = _fit(0.5, k=3, n_init=2)
    table = moe.summary(X, y)
    notes = " ".join(table.attrs["notes"])
    assert "balance_penalty=0.5" in notes
    assert "penalised estimate" in notes
    # bic / aic: of the plain log-likelihood at the penalised estimate
    n = X.shape[0]
    assert moe.bic(X, y) == pytest.approx(
        -2 * moe.log_likelihood_ + moe.n_parameters() * np.log(n), rel=1e-10)
    assert moe.aic(X, y) == pytest.approx(
        -2 * moe.log_likelihood_ + 2 * moe.n_parameters(), rel=1e-10)
    assert moe.log_likelihood_ == pytest.approx(moe.score_samples(X, y).sum(),
                                                rel=1e-10)
    # the Wald intervals use the penalised Hessian: the estimate's gradient of
    # the penalised objective vanishes
    result = moe.inference(X, y)
    assert np.max(np.abs(result.gradient)) / n < 1e-6


def test_kink_one_sided_derivatives():
    """The Laplace gate on one covariate: with a centre on a sample, the
    penalised objective's one-sided derivatives in that centre are ``g - U`` and
    ``g + U`` with ``U = sum_m w_m (tau_mi - pi_mi - alpha pi_mi e_mi)`` over
    the samples at the kink (what the kink certificate reads)."""
    rng = np.random.default_rng(5)
    n, k, alpha = 80, 3, 2.0
    X = np.sort(rng.uniform(-1, 1, size=(n, 1)), axis=0)
    Xt = np.column_stack([np.ones(n), X])
    y = np.sin(3 * X[:, 0]) + 0.1 * rng.normal(size=n)
    w = rng.uniform(0.5, 2.0, size=n)
    model = GatedGaussianMoE(X, Xt, y, w, Laplace(), var_lower=1e-6, balance=alpha)
    gate = np.array([[0.3, X[20, 0]], [-0.2, 0.1], [0.0, 0.5]])
    params = model.project(MoEParams(gate, rng.normal(size=(k, 2)),
                                     np.full(k, 0.2)))
    expert, kind, coordinate = model.free_layout(k)
    index = int(np.flatnonzero((expert == 0) & (kind == "gate")
                               & (coordinate == 1))[0])
    theta = model.to_vector(params)
    _, grad, _ = model.derivatives(params)
    rows = np.array([20])
    tau = np.empty((1, k))
    model.subset(rows).e_step(params, tau, tau)
    pi = np.exp(Laplace().log_weights(X[rows], params.gate))
    e = model.balance_slopes(params.gate, rows)
    U = float(w[rows] @ (tau[:, 0] - pi[:, 0] - e[:, 0]))
    assert abs(float(w[rows] @ e[:, 0])) > 1e-4  # the penalty's share counts

    def f(t):
        x = theta.copy()
        x[index] = t
        return model.objective(model.from_vector(x, k))

    h = 1e-7
    t0 = theta[index]
    right = (f(t0 + h) - f(t0)) / h
    left = (f(t0) - f(t0 - h)) / h
    assert right == pytest.approx(grad[index] - U, abs=1e-4)
    assert left == pytest.approx(grad[index] + U, abs=1e-4)


def test_alpha_means_the_same_at_every_sample_size():
    """The penalty is per unit of weight: the data set twice over (or every
    weight tripled) gives the same fit, with twice (three times) the totals."""
    X, y = make_moe_regression(200, THREE_LINES, random_state=1)
    options = dict(balance_penalty=0.3, n_init=2, random_state=0)
    once = GaussianMoERegressor(4, **options).fit(X, y)
    twice = GaussianMoERegressor(4, **options).fit(np.vstack([X, X]),
                                                   np.concatenate([y, y]))
    heavy = GaussianMoERegressor(4, **options).fit(
        X, y, sample_weight=np.full(len(y), 3.0))
    for other, factor in ((twice, 2.0), (heavy, 3.0)):
        np.testing.assert_allclose(other.expert_coef_, once.expert_coef_,
                                   rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(other.predict_gate(X), once.predict_gate(X),
                                   atol=1e-7)
        assert other.objective_ == pytest.approx(factor * once.objective_,
                                                 rel=1e-8)
