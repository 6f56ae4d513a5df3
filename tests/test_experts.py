"""Expert families: the default reproduces the hard-wired experts; one shared
variance works end to end (EM, Newton and its certificate, BIC, summary)."""

import warnings

import naive
import numpy as np
import pytest

from gmoe import GaussianMoERegressor, select_n_experts
from gmoe.engine._gated_model import GatedGaussianMoE
from gmoe.engine._model import MoEParams, SoftmaxGaussianMoE
from gmoe.experts import ExpertFamily, GaussianLinear, get_experts
from gmoe.gates import Sigmoid
from gmoe.inference._align import fitted_engine

SHARED = GaussianLinear(shared_variance=True)
TRUE_VAR = 0.25


def _common_variance_data(n, seed):
    """Two experts, a softmax gate in x, one noise variance ``TRUE_VAR``."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=n)
    Xt = np.column_stack([np.ones(n), x])
    gate = np.array([[0.5, 3.0], [0.0, 0.0]])
    coef = np.array([[1.0, 2.0], [-1.0, -1.5]])
    pi = np.exp(naive.log_gate(Xt, gate))
    z = (rng.uniform(size=n)[:, None] > np.cumsum(pi, axis=1)).sum(axis=1)
    y = np.sum(Xt * coef[z], axis=1) + np.sqrt(TRUE_VAR) * rng.normal(size=n)
    truth = naive.loglik(Xt, y, np.ones(n), gate, coef, np.full(2, TRUE_VAR))
    return x[:, None], y, truth


@pytest.fixture(scope="module")
def data():
    return _common_variance_data(800, 0)


def _fit(X, y, **params):
    options = {"n_init": 4, "random_state": 0, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMoERegressor(2, **options).fit(X, y)


class _PlainFamily(ExpertFamily):
    """Gaussian linear experts with variances of their own, written through
    the generic path: an explicit identity map and a numpy M-step."""

    name = "plain"

    def n_free(self, k, p):
        return k * (p + 1)

    def jacobian(self, k, p):
        return np.eye(k * (p + 1))

    def to_free(self, coef, var):
        return np.concatenate([np.ravel(coef), np.log(var)])

    def from_free(self, eta, k, p):
        return eta[:k * p].reshape(k, p).copy(), np.exp(eta[k * p:])

    def free_layout(self, k, p):
        expert = np.r_[np.repeat(np.arange(k), p), np.arange(k)]
        kind = np.array(["coef"] * (k * p) + ["logvar"] * k)
        return expert, kind, np.r_[np.tile(np.arange(p), k), np.zeros(k, int)]

    def m_step(self, A, B, C, coef, var, var_lower, var_upper, total):
        coef, var = coef.copy(), var.copy()
        for i in range(len(var)):
            if A[i, 0, 0] > 1e-12 * total:
                coef[i] = np.linalg.solve(A[i], B[i])
                rss = C[i] - 2 * coef[i] @ B[i] + coef[i] @ A[i] @ coef[i]
                var[i] = np.clip(rss / A[i, 0, 0], var_lower, var_upper)
        return coef, var


@pytest.mark.parametrize("gate", ["softmax", "sigmoid"])
def test_default_family_matches_the_generic_path(data, gate):
    X, y, _ = data
    default = _fit(X, y, gate=gate)
    named = _fit(X, y, gate=gate, experts="gaussian_linear")
    plain = _fit(X, y, gate=gate, experts=_PlainFamily())
    assert named.log_likelihood_ == default.log_likelihood_
    assert plain.log_likelihood_ == pytest.approx(default.log_likelihood_,
                                                  rel=1e-10, abs=1e-10)
    np.testing.assert_allclose(plain.expert_variance_, default.expert_variance_,
                               rtol=1e-6)
    assert default.n_parameters() == plain.n_parameters()


@pytest.mark.parametrize("gate", ["softmax", "sigmoid", "top_k"])
def test_shared_variance_fit(data, gate):
    X, y, truth = data
    shared = _fit(X, y, gate=gate, experts=SHARED)
    assert np.ptp(shared.expert_variance_) == 0.0
    assert shared.converged_ and shared.gradient_norm_ <= shared.gtol
    # the maximum likelihood fit is at least as likely as the truth
    assert shared.log_likelihood_ >= truth - 1e-8 * abs(truth)
    # and at most as likely as the unconstrained fit started from it
    free = _fit(X, y, gate=gate, n_init=1,
                init_params={name: getattr(shared, name + "_")
                             for name in shared._params_dict()})
    assert free.log_likelihood_ >= shared.log_likelihood_ - 1e-9 * abs(truth)
    assert np.ptp(free.expert_variance_) > 0
    # BIC counts k - 1 fewer parameters
    assert shared.n_parameters() == free.n_parameters() - 1
    n = len(y)
    assert shared.bic(X, y) == pytest.approx(
        -2 * shared.log_likelihood_ + shared.n_parameters() * np.log(n), rel=1e-9)


@pytest.mark.parametrize("gate", ["softmax", "sigmoid"])
def test_shared_variance_em_is_monotone(data, gate):
    X, y, _ = data
    fit = _fit(X, y, gate=gate, experts=SHARED, solver="em", n_init=1,
               max_iter=200, tol=0.0)
    trace = fit.log_likelihood_trace_
    assert trace.size > 10
    assert np.all(np.diff(trace) >= -1e-10 * np.abs(trace[1:]))
    assert np.ptp(fit.expert_variance_) == 0.0


def test_shared_variance_certificate_in_numpy(data):
    """The gradient of the free parameters at the fit, by finite differences of
    the numpy log-likelihood: zero along every free direction, the one
    log-variance included."""
    X, y, _ = data
    fit = _fit(X, y, experts=SHARED)
    Xt = np.column_stack([np.ones(len(y)), X])
    w = np.ones(len(y))
    gate = np.column_stack([fit.gate_intercept_, fit.gate_coef_])
    coef = np.column_stack([fit.expert_intercept_, fit.expert_coef_])
    theta = np.concatenate([gate[0], coef.ravel(), [np.log(fit.expert_variance_[0])]])

    def loglik(t):
        g = np.vstack([t[:2], np.zeros(2)])
        return naive.loglik(Xt, y, w, g, t[2:6].reshape(2, 2),
                            np.full(2, np.exp(t[6])))

    h = 1e-5
    grad = np.array([(loglik(theta + h * e) - loglik(theta - h * e)) / (2 * h)
                     for e in np.eye(theta.size)])
    assert np.max(np.abs(grad)) / len(y) < 1e-6
    # a direction the family does not allow (the variances apart) is not flat
    def loglik_apart(d):
        return naive.loglik(Xt, y, w, np.vstack([theta[:2], np.zeros(2)]),
                            theta[2:6].reshape(2, 2),
                            np.exp(theta[6] + np.array([d, -d])))

    slope = (loglik_apart(h) - loglik_apart(-h)) / (2 * h)
    assert abs(slope) / len(y) > 1e-4


@pytest.mark.parametrize("model_kind", ["softmax", "sigmoid"])
def test_free_derivatives_match_finite_differences(data, model_kind):
    """``J' g`` and ``J' H J`` of the engine against finite differences of its
    objective over the family's free vector."""
    X, y, _ = data
    Xt = np.column_stack([np.ones(len(y)), X])
    w = np.ones(len(y))
    if model_kind == "softmax":
        model = SoftmaxGaussianMoE(Xt, y, w, var_lower=1e-6, experts=SHARED)
    else:
        model = GatedGaussianMoE(X, Xt, y, w, Sigmoid(), var_lower=1e-6,
                                 experts=SHARED)
    params = model.project(MoEParams(np.array([[0.3, 1.0], [0.0, 0.0]]),
                                     np.array([[0.5, 1.0], [-0.5, -1.0]]),
                                     np.array([0.7, 0.7])))
    theta = model.to_vector(params)
    assert theta.size == model.vector_bounds(2)[0].size
    value, grad, hess = model.derivatives(params)
    assert value == pytest.approx(model.objective(params), rel=1e-12)

    def objective(t):
        return model.objective(model.from_vector(t, 2))

    h = 1e-5
    eye = np.eye(theta.size)
    fd_grad = np.array([(objective(theta + h * e) - objective(theta - h * e))
                        / (2 * h) for e in eye])
    np.testing.assert_allclose(grad, fd_grad, rtol=1e-6, atol=1e-6 * len(y))
    fd_hess = np.array([(model.derivatives(model.from_vector(theta + h * e, 2))[1]
                         - model.derivatives(model.from_vector(theta - h * e, 2))[1])
                        / (2 * h) for e in eye])
    np.testing.assert_allclose(hess, 0.5 * (fd_hess + fd_hess.T), rtol=1e-5,
                               atol=1e-5 * len(y))


def test_summary_variance_se_is_the_profile_curvature(data):
    """The Wald standard error of the shared log-variance is that of the
    profile likelihood in it: ``-1 / l_p''(s)``, the profile by refits with the
    variance held (variance bounds around it), its second derivative by finite
    differences."""
    X, y, _ = data
    fit = _fit(X, y, experts=SHARED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = fit.summary(X, y)
    rows = table[table.parameter == "expert_variance"]
    assert rows.estimate.nunique() == 1 and rows.std_error.nunique() == 1
    var = fit.expert_variance_[0]
    se_log = rows.std_error.iloc[0] / var
    start = {name: getattr(fit, name + "_") for name in fit._params_dict()}
    h = 0.05
    profile = []
    for step in (-h, 0.0, h):
        held = var * np.exp(step)
        refit = _fit(X, y, experts=SHARED, n_init=1,
                     init_params={**start, "expert_variance": np.full(2, held)},
                     variance_bounds=(held * (1 - 1e-12), held * (1 + 1e-12)))
        profile.append(refit.log_likelihood_)
    curvature = (profile[0] - 2 * profile[1] + profile[2]) / h**2
    assert se_log == pytest.approx(1 / np.sqrt(-curvature), rel=0.01)
    # the table notes the shared variance
    assert any("share one variance" in note for note in table.attrs["notes"])


def test_inference_layout_for_shared_variance(data):
    X, y, _ = data
    fit = _fit(X, y, experts=SHARED)
    result = fit.inference(X, y)
    assert result.covariance.shape == (fit.n_parameters(),) * 2
    model, params = fitted_engine(result.gate, result.params, X, y, np.ones(len(y)),
                                  SHARED)
    expert, kind, _ = model.free_layout(2)
    assert list(expert[kind == "logvar"]) == [-1]
    band = result.predict_mean_interval(X[:5])
    assert np.all(band[:, 0] < band[:, 1])
    # the sandwich's scores are over the same free parameters
    sandwich = fit.inference(X, y, method="sandwich").summary()
    variance = sandwich[sandwich.parameter == "expert_variance"].std_error
    assert variance.nunique() == 1 and np.isfinite(variance).all()


def test_select_n_experts_with_shared_variance(data):
    X, y, _ = data
    selection = select_n_experts(X, y, n_experts=[1, 2, 3], random_state=0,
                                 experts=SHARED)
    rows = selection.results_
    assert selection.n_experts_ == 2
    d = X.shape[1]
    expected = [(k - 1) * (d + 1) + k * (d + 1) + 1 for k in rows.n_experts]
    assert rows.n_parameters.tolist() == expected


def test_family_maps():
    family = GaussianLinear(shared_variance=True)
    J = family.jacobian(3, 2)
    eta = np.arange(7.0)
    coef, var = family.from_free(eta, 3, 2)
    np.testing.assert_array_equal(np.concatenate([coef.ravel(), np.log(var)]),
                                  J @ eta)
    np.testing.assert_allclose(family.to_free(coef, var), eta, atol=1e-14)
    assert family.n_parameters(3, 1) == GaussianLinear().n_parameters(3, 1) - 2
    A = np.array([np.eye(2) * 4.0, np.eye(2) * 1.0])
    B = np.array([[4.0, 0.0], [2.0, 1.0]])
    C = np.array([12.0, 10.0])
    coef, var = family.m_step(A, B, C, np.zeros((2, 2)), np.ones(2), 1e-6, np.inf,
                              5.0)
    # rows (1, 0) and (2, 1); residual sums of squares 8 and 5 over weight 5
    np.testing.assert_allclose(coef, [[1.0, 0.0], [2.0, 1.0]])
    np.testing.assert_allclose(var, [13.0 / 5.0] * 2)


def test_bad_experts_are_value_errors(data):
    X, y, _ = data
    fitted = _fit(X, y, n_init=1)
    before = fitted.log_likelihood_
    with pytest.raises(ValueError, match="experts"):
        fitted.set_params(experts="nope").fit(X, y)
    with pytest.raises(ValueError, match="shared_variance"):
        fitted.set_params(experts=GaussianLinear(shared_variance="yes")).fit(X, y)
    assert fitted.log_likelihood_ == before
    with pytest.raises(ValueError, match="not a known expert family"):
        get_experts("nope")
