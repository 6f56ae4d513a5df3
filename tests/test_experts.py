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

    _check_against_differences(model, theta, grad, hess, len(y))


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


# ------------------------------------------------------ common coefficients
COMMON = GaussianLinear(shared_features=[1])
TRUE_GAMMA = 0.7


def _common_slope_data(n, seed):
    """Two experts, a softmax gate in x0, a slope ``TRUE_GAMMA`` of x1 common
    to both experts, variances of their own."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 2))
    Xt = np.column_stack([np.ones(n), X])
    gate = np.array([[0.5, 3.0, 0.0], [0.0, 0.0, 0.0]])
    coef = np.array([[1.0, 2.0, TRUE_GAMMA], [-1.0, -1.5, TRUE_GAMMA]])
    var = np.array([0.25, 0.16])
    pi = np.exp(naive.log_gate(Xt, gate))
    z = (rng.uniform(size=n)[:, None] > np.cumsum(pi, axis=1)).sum(axis=1)
    y = np.sum(Xt * coef[z], axis=1) + np.sqrt(var[z]) * rng.normal(size=n)
    truth = naive.loglik(Xt, y, np.ones(n), gate, coef, var)
    return X, y, truth


@pytest.fixture(scope="module")
def common_data():
    return _common_slope_data(800, 1)


def _stacked_twin(Xt, y, w, resp, F, scale):
    """The common-coefficient least squares solved on the expanded data: each
    sample repeated once per expert, its design row with the shared columns
    ``F`` in the common block and the others in expert i's block, weight
    ``w tau_i s_i``."""
    n, p = Xt.shape
    k = resp.shape[1]
    V = [a for a in range(p) if a not in F]
    rows, weights, targets = [], [], []
    for i in range(k):
        row = np.zeros((n, len(F) + k * len(V)))
        row[:, :len(F)] = Xt[:, F]
        row[:, len(F) + i * len(V):len(F) + (i + 1) * len(V)] = Xt[:, V]
        rows.append(row)
        weights.append(w * resp[:, i] * scale[i])
        targets.append(y)
    root = np.sqrt(np.concatenate(weights))
    solved = np.linalg.lstsq(np.vstack(rows) * root[:, None],
                             np.concatenate(targets) * root, rcond=None)[0]
    coef = np.empty((k, p))
    coef[:, F] = solved[:len(F)]
    coef[:, V] = solved[len(F):].reshape(k, len(V))
    return coef


def _m_step_objective(Xt, y, w, resp, coef, var):
    """The M-step objective sum_n w_n sum_i tau_ni log N(y_n; c_i' x_n, var_i)."""
    from scipy.stats import norm
    return float(np.sum(w[:, None] * resp
                        * norm.logpdf(y[:, None], Xt @ coef.T, np.sqrt(var))))


@pytest.mark.parametrize("shared_variance", [False, True])
@pytest.mark.parametrize("shared", [[0], [1], [0, 2], [0, 1, 2]])
def test_common_m_step_is_the_stacked_least_squares(shared, shared_variance):
    rng = np.random.default_rng(len(shared) + 10 * shared_variance)
    n, k = 200, 3
    Xt = np.column_stack([np.ones(n), rng.normal(size=(n, 3))])
    y = rng.normal(size=n) + Xt[:, 1]
    w = rng.uniform(0.5, 2.0, size=n)
    resp = rng.dirichlet(np.ones(k), size=n)
    A = np.einsum("ni,na,nb->iab", w[:, None] * resp, Xt, Xt)
    B = np.einsum("ni,na->ia", w[:, None] * resp * y[:, None], Xt)
    C = (w[:, None] * resp).T @ (y * y)
    family = GaussianLinear(shared_features=shared, shared_variance=shared_variance)
    var = np.full(k, 0.8) if shared_variance else np.array([0.5, 1.0, 2.0])
    start = family.project(rng.normal(size=(k, 4)), var, 1e-6, np.inf)
    coef, new_var = family.m_step(A, B, C, start[0], start[1], 1e-6, np.inf, w.sum())
    F = [j + 1 for j in shared]
    twin = _stacked_twin(Xt, y, w, resp, F, 1.0 / start[1])
    np.testing.assert_allclose(coef, twin, rtol=1e-9, atol=1e-10)
    assert np.ptp(coef[:, F], axis=0).max() == 0.0
    rss = np.sum(w[:, None] * resp * (y[:, None] - Xt @ coef.T) ** 2, axis=0)
    weight = (w[:, None] * resp).sum(axis=0)
    expected = (np.full(k, rss.sum() / weight.sum()) if shared_variance
                else rss / weight)
    np.testing.assert_allclose(new_var, expected, rtol=1e-9)
    # an ECM step: the M-step objective does not decrease, and (a shared
    # variance: the exact maximiser) no feasible perturbation raises it
    before = _m_step_objective(Xt, y, w, resp, *start)
    after = _m_step_objective(Xt, y, w, resp, coef, new_var)
    assert after >= before
    if shared_variance:
        for _ in range(5):
            eta = family.to_free(coef, new_var)
            moved = family.from_free(eta + 1e-3 * rng.normal(size=eta.size), k, 4)
            assert _m_step_objective(Xt, y, w, resp, *moved) <= after


def test_common_m_step_keeps_an_empty_expert():
    rng = np.random.default_rng(3)
    n = 100
    Xt = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    y = rng.normal(size=n)
    resp = np.column_stack([np.ones(n), np.zeros(n)])
    A = np.einsum("ni,na,nb->iab", resp, Xt, Xt)
    B = np.einsum("ni,na->ia", resp * y[:, None], Xt)
    C = resp.T @ (y * y)
    old = np.array([[0.0, 1.0, 2.0], [5.0, 1.0, 6.0]])
    coef, var = COMMON.m_step(A, B, C, old, np.array([1.0, 3.0]), 1e-6, np.inf, n)
    ols = np.linalg.lstsq(Xt, y, rcond=None)[0]
    np.testing.assert_allclose(coef[0], ols, atol=1e-12)
    # the empty expert keeps its own coefficients and variance, takes gamma
    assert coef[1, 0] == 5.0 and coef[1, 1] == 1.0 and coef[1, 2] == coef[0, 2]
    assert coef[0, 2] == pytest.approx(ols[2], abs=1e-12)
    assert var[1] == 3.0 and np.all(np.isfinite(coef))


def test_common_family_maps():
    family = GaussianLinear(shared_features=[0, 2], shared_variance=True)
    k, p = 3, 4
    assert family.n_free(k, p) == 2 + k * 2 + 1
    J = family.jacobian(k, p)
    eta = np.arange(family.n_free(k, p), dtype=float)
    coef, var = family.from_free(eta, k, p)
    np.testing.assert_array_equal(np.concatenate([coef.ravel(), np.log(var)]),
                                  J @ eta)
    assert np.all(coef[:, 1] == eta[0]) and np.all(coef[:, 3] == eta[1])
    np.testing.assert_allclose(family.to_free(coef, var), eta, atol=1e-14)
    expert, kind, coord = family.free_layout(k, p)
    assert list(expert[:2]) == [-1, -1] and list(coord[:2]) == [1, 3]
    assert list(expert[kind == "logvar"]) == [-1]
    # the gamma once: (k - 1) |F| fewer coefficients than free experts
    assert (GaussianLinear(shared_features=[0, 2]).n_parameters(k, 3)
            == GaussianLinear().n_parameters(k, 3) - (k - 1) * 2)
    # a projection makes the shared columns common
    projected, _ = family.project(np.arange(12.0).reshape(3, 4), np.ones(3), 1e-6,
                                  np.inf)
    assert np.ptp(projected[:, [1, 3]], axis=0).max() == 0.0


@pytest.mark.parametrize("gate", ["softmax", "sigmoid", "constant", "top_k",
                                  "gaussian"])
def test_common_slope_fit(common_data, gate):
    X, y, truth = common_data
    fit = _fit(X, y, gate=gate, shared_features=[1])
    assert fit.experts_ == GaussianLinear(shared_features=(1,))
    assert np.ptp(fit.expert_coef_[:, 1]) == 0.0
    assert np.ptp(fit.expert_coef_[:, 0]) > 1.0
    assert fit.converged_ and fit.gradient_norm_ <= fit.gtol
    if gate in ("softmax", "top_k"):
        # the data's model: at least as likely as the truth
        assert fit.log_likelihood_ >= truth - 1e-8 * abs(truth)
        assert fit.expert_coef_[0, 1] == pytest.approx(TRUE_GAMMA, abs=0.05)
    # at most as likely as the unconstrained fit started from it
    free = _fit(X, y, gate=gate, n_init=1,
                init_params={name: getattr(fit, name + "_")
                             for name in fit._params_dict()})
    assert free.log_likelihood_ >= fit.log_likelihood_ - 1e-9 * abs(truth)
    assert np.ptp(free.expert_coef_[:, 1]) > 0
    # BIC counts gamma once
    assert fit.n_parameters() == free.n_parameters() - 1
    assert fit.bic(X, y) == pytest.approx(
        -2 * fit.log_likelihood_ + fit.n_parameters() * np.log(len(y)), rel=1e-9)
    # predictions are those of the fitted parameters
    Xt = np.column_stack([np.ones(len(y)), X])
    means = Xt[:5] @ np.column_stack([fit.expert_intercept_, fit.expert_coef_]).T
    np.testing.assert_allclose(fit.predict_experts(X[:5]), means, rtol=1e-12)


@pytest.mark.parametrize("gate", ["cosine", "laplace", "top_p"])
def test_common_slope_with_other_gates(common_data, gate):
    """The other gates fit common coefficients too: the columns equal, a
    log-likelihood between the truth's and the unconstrained fit's from the
    same start, the certificate's gradient small."""
    X, y, truth = common_data
    fit = _fit(X, y, gate=gate, shared_features=[1])
    assert np.ptp(fit.expert_coef_[:, 1]) == 0.0
    assert fit.converged_ and fit.gradient_norm_ <= fit.gtol
    free = _fit(X, y, gate=gate, n_init=1,
                init_params={name: getattr(fit, name + "_")
                             for name in fit._params_dict()})
    assert free.log_likelihood_ >= fit.log_likelihood_ - 1e-9 * abs(truth)
    assert fit.n_parameters() == free.n_parameters() - 1


def test_common_slope_round_trip_through_the_scaling(common_data):
    """A common coefficient stays common through the standardisation, both
    ways."""
    from gmoe.model._scaling import _Scaling
    X, y, _ = common_data
    X = X * np.array([10.0, 0.01]) + np.array([3.0, -2.0])
    fit = _fit(X, y, shared_features=[1])
    assert np.ptp(fit.expert_coef_[:, 1]) == 0.0
    scaling = _Scaling(X, y, np.ones(len(y)))
    coef, var = scaling.experts_to_standardized(fit._params_dict())
    assert np.ptp(coef[:, 2]) <= 1e-15 * abs(coef[0, 2])
    back = scaling.experts_to_original(coef, var)
    np.testing.assert_allclose(back["expert_coef"], fit.expert_coef_, rtol=1e-13)
    np.testing.assert_allclose(back["expert_intercept"], fit.expert_intercept_,
                               rtol=1e-12)


@pytest.mark.parametrize("gate", ["softmax", "sigmoid"])
@pytest.mark.parametrize("shared_variance", [False, True])
def test_common_slope_em_is_monotone(common_data, gate, shared_variance):
    X, y, _ = common_data
    fit = _fit(X, y, gate=gate, shared_features=[1], shared_variance=shared_variance,
               solver="em", n_init=1, max_iter=200, tol=0.0)
    trace = fit.log_likelihood_trace_
    assert trace.size > 10
    assert np.all(np.diff(trace) >= -1e-10 * np.abs(trace[1:]))
    assert np.ptp(fit.expert_coef_[:, 1]) == 0.0


def test_common_slope_certificate_in_numpy(common_data):
    """Finite differences of the numpy log-likelihood along every free
    direction (gamma moves both experts' slopes) vanish at the fit; moving the
    two slopes apart is not flat."""
    X, y, _ = common_data
    fit = _fit(X, y, shared_features=[1])
    Xt = np.column_stack([np.ones(len(y)), X])
    w = np.ones(len(y))
    gate = np.column_stack([fit.gate_intercept_, fit.gate_coef_])
    coef = np.column_stack([fit.expert_intercept_, fit.expert_coef_])
    var = fit.expert_variance_
    family = fit.experts_
    eta = family.to_free(coef, var)
    theta = np.concatenate([gate[0], eta])

    def loglik(t):
        g = np.vstack([t[:3], np.zeros(3)])
        return naive.loglik(Xt, y, w, g, *family.from_free(t[3:], 2, 3))

    h = 1e-5
    grad = np.array([(loglik(theta + h * e) - loglik(theta - h * e)) / (2 * h)
                     for e in np.eye(theta.size)])
    assert np.max(np.abs(grad)) / len(y) < 1e-6

    def loglik_apart(d):
        moved = coef.copy()
        moved[:, 2] += [d, -d]
        return naive.loglik(Xt, y, w, gate, moved, var)

    slope = (loglik_apart(h) - loglik_apart(-h)) / (2 * h)
    assert abs(slope) / len(y) > 1e-4


@pytest.mark.parametrize("model_kind", ["softmax", "sigmoid"])
def test_common_free_derivatives_match_finite_differences(common_data, model_kind):
    X, y, _ = common_data
    Xt = np.column_stack([np.ones(len(y)), X])
    w = np.ones(len(y))
    family = GaussianLinear(shared_features=[1])
    if model_kind == "softmax":
        model = SoftmaxGaussianMoE(Xt, y, w, var_lower=1e-6, experts=family)
    else:
        model = GatedGaussianMoE(X, Xt, y, w, Sigmoid(), var_lower=1e-6,
                                 experts=family)
    params = model.project(MoEParams(np.array([[0.3, 1.0, 0.2], [0.0, 0.0, 0.0]]),
                                     np.array([[0.5, 1.0, 0.6], [-0.5, -1.0, 0.8]]),
                                     np.array([0.7, 0.4])))
    theta = model.to_vector(params)
    value, grad, hess = model.derivatives(params)

    _check_against_differences(model, theta, grad, hess, len(y))


class _HeldColumns(ExpertFamily):
    """Gaussian linear experts whose design columns ``held`` have coefficient
    zero in every expert (variances of their own): with the response offset by
    ``gamma x_j``, a fit with the common coefficient held at ``gamma``."""

    name = "held"

    def __init__(self, held):
        self.held = tuple(held)

    def _free_columns(self, p):
        return [a for a in range(p) if a not in self.held]

    def n_free(self, k, p):
        return k * (len(self._free_columns(p)) + 1)

    def jacobian(self, k, p):
        free = self._free_columns(p)
        J = np.zeros((k * (p + 1), self.n_free(k, p)))
        for i in range(k):
            for t, a in enumerate(free):
                J[i * p + a, i * len(free) + t] = 1.0
        J[k * p:, k * len(free):] = np.eye(k)
        return J

    def to_free(self, coef, var):
        free = self._free_columns(coef.shape[1])
        return np.concatenate([np.ravel(coef[:, free]), np.log(var)])

    def from_free(self, eta, k, p):
        free = self._free_columns(p)
        coef = np.zeros((k, p))
        coef[:, free] = eta[:k * len(free)].reshape(k, len(free))
        return coef, np.exp(eta[k * len(free):])

    def free_layout(self, k, p):
        free = self._free_columns(p)
        expert = np.r_[np.repeat(np.arange(k), len(free)), np.arange(k)]
        kind = np.array(["coef"] * (k * len(free)) + ["logvar"] * k)
        return expert, kind, np.r_[np.tile(free, k), np.zeros(k, int)]

    def m_step(self, A, B, C, coef, var, var_lower, var_upper, total):
        from gmoe.experts import weighted_least_squares
        free = self._free_columns(A.shape[1])
        sub, new_var = weighted_least_squares(
            A[:, free][:, :, free], B[:, free], C, coef[:, free], var, var_lower,
            var_upper, total)
        coef = np.zeros_like(coef)
        coef[:, free] = sub
        return coef, new_var

    def project(self, coef, var, var_lower, var_upper):
        coef = np.array(coef, dtype=float)
        coef[:, list(self.held)] = 0.0
        return super().project(coef, var, var_lower, var_upper)


def test_summary_common_se_is_the_profile_curvature(common_data):
    """The Wald standard error of gamma is that of the profile likelihood in
    it: refits with gamma held (the response offset by gamma x1, the column's
    coefficient held at zero by a plug-in family), second differences."""
    X, y, _ = common_data
    fit = _fit(X, y, shared_features=[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = fit.summary(X, y)
    rows = table[(table.parameter == "expert_coef") & (table.feature == 1)]
    assert rows.estimate.nunique() == 1 and rows.std_error.nunique() == 1
    assert any("common to the experts" in note for note in table.attrs["notes"])
    gamma = fit.expert_coef_[0, 1]
    se = rows.std_error.iloc[0]
    start = {name: getattr(fit, name + "_") for name in fit._params_dict()}
    start["expert_coef"] = start["expert_coef"].copy()
    start["expert_coef"][:, 1] = 0.0
    h = 0.5 * se
    profile = []
    for step in (-h, 0.0, h):
        held = _fit(X, y - (gamma + step) * X[:, 1], n_init=1, init_params=start,
                    experts=_HeldColumns([2]))
        assert np.all(held.expert_coef_[:, 1] == 0.0)
        profile.append(held.log_likelihood_)
    assert profile[1] == pytest.approx(fit.log_likelihood_, abs=1e-6)
    curvature = (profile[0] - 2 * profile[1] + profile[2]) / h**2
    assert se == pytest.approx(1 / np.sqrt(-curvature), rel=0.01)


def test_select_n_experts_with_common_slope(common_data):
    X, y, _ = common_data
    selection = select_n_experts(X, y, n_experts=[1, 2, 3], random_state=0,
                                 shared_features=[1])
    rows = selection.results_
    assert selection.n_experts_ == 2
    d = X.shape[1]
    expected = [(k - 1) * (d + 1) + 1 + k * (d + 1) for k in rows.n_experts]
    assert rows.n_parameters.tolist() == expected


def test_common_slope_by_name_and_all_shared(common_data):
    pd = pytest.importorskip("pandas")
    X, y, _ = common_data
    frame = pd.DataFrame(X, columns=["a", "b"])
    by_name = _fit(frame, y, n_init=2, shared_features=["b"])
    by_index = _fit(X, y, n_init=2, shared_features=[1])
    assert by_name.experts_ == by_index.experts_
    assert by_name.log_likelihood_ == by_index.log_likelihood_
    # the summary names the shared feature as the data did
    notes = " ".join(by_name.summary(frame, y).attrs["notes"])
    assert "the features ['b'] have a coefficient common" in notes
    notes = " ".join(by_index.summary(X, y).attrs["notes"])
    assert "the features [1] have a coefficient common" in notes
    # every feature shared: experts that differ by their intercepts only
    both = _fit(X, y, n_init=2, shared_features=[0, 1], shared_variance=True)
    assert np.ptp(both.expert_coef_, axis=0).max() == 0.0
    assert both.n_parameters() == 3 + 2 + 2 + 1
    # deterministic: a second fit is the same to the last bit
    again = _fit(X, y, n_init=2, shared_features=[1])
    assert again.log_likelihood_ == by_index.log_likelihood_
    np.testing.assert_array_equal(again.expert_coef_, by_index.expert_coef_)


def test_bad_shared_features_are_value_errors(common_data):
    pd = pytest.importorskip("pandas")
    X, y, _ = common_data
    fitted = _fit(X, y, n_init=1, shared_features=[1])
    before = fitted.log_likelihood_, fitted.expert_coef_.copy()
    bad = [
        ({"shared_features": [2]}, "X has 2 features"),
        ({"shared_features": [1, 1]}, "more than once"),
        ({"shared_features": [-1]}, "shared_features"),
        ({"shared_features": [True]}, "shared_features"),
        ({"shared_features": ["b"]}, "no column names"),
        ({"shared_features": [0], "experts": GaussianLinear(shared_features=[1])},
         "disagrees"),
        ({"shared_features": [0], "experts": _PlainFamily()},
         "options of Gaussian linear experts"),
        ({"shared_features": None,
          "experts": GaussianLinear(shared_features=[5])}, "X has 2 features"),
    ]
    for params, message in bad:
        with pytest.raises(ValueError, match=message):
            fitted.set_params(**{"experts": "gaussian_linear", **params}).fit(X, y)
        assert fitted.log_likelihood_ == before[0]
        np.testing.assert_array_equal(fitted.expert_coef_, before[1])
    frame = pd.DataFrame(X, columns=["a", "b"])
    with pytest.raises(ValueError, match="not a column of X"):
        fitted.set_params(experts="gaussian_linear",
                          shared_features=["c"]).fit(frame, y)
    with pytest.raises(ValueError, match="twice"):
        fitted.set_params(shared_features=["b", 1]).fit(frame, y)
    with pytest.raises(ValueError, match="shared_features"):
        fitted.set_params(shared_features="b").fit(frame, y)
    assert fitted.log_likelihood_ == before[0]
    # agreeing shorthands and object are one family
    agree = _fit(X, y, n_init=1, shared_features=[1], shared_variance=True,
                 experts=GaussianLinear(shared_features=[1]))
    assert agree.experts_ == GaussianLinear(shared_features=(1,),
                                            shared_variance=True)


def test_inference_with_common_slope(common_data):
    X, y, _ = common_data
    fit = _fit(X, y, shared_features=[1], shared_variance=True)
    result = fit.inference(X, y)
    assert result.covariance.shape == (fit.n_parameters(),) * 2
    assert np.all(np.isfinite(np.diag(result.covariance)))
    band = result.predict_mean_interval(X[:5])
    assert np.all(band[:, 0] < band[:, 1])
    np.testing.assert_allclose(band.mean(axis=1), fit.predict(X[:5]), rtol=1e-6,
                               atol=1e-9)
    sandwich = fit.inference(X, y, method="sandwich").summary()
    common = sandwich[(sandwich.parameter == "expert_coef") & (sandwich.feature == 1)]
    assert common.std_error.nunique() == 1 and np.isfinite(common.std_error).all()


def _check_against_differences(model, theta, grad, hess, n):
    """The free-parameter gradient and Hessian of a 2-expert ``model`` at
    ``theta`` against central differences of its objective and gradient."""
    def objective(t):
        return model.objective(model.from_vector(t, 2))

    h = 1e-5
    eye = np.eye(theta.size)
    fd_grad = np.array([(objective(theta + h * e) - objective(theta - h * e))
                        / (2 * h) for e in eye])
    np.testing.assert_allclose(grad, fd_grad, rtol=1e-6, atol=1e-6 * n)
    fd_hess = np.array([(model.derivatives(model.from_vector(theta + h * e, 2))[1]
                         - model.derivatives(model.from_vector(theta - h * e, 2))[1])
                        / (2 * h) for e in eye])
    np.testing.assert_allclose(hess, 0.5 * (fd_hess + fd_hess.T), rtol=1e-5,
                               atol=1e-5 * n)


def test_bootstrap_refits_keep_the_common_coefficient(common_data):
    # every bootstrap refit has the family of the fit: its common slope is one
    # number, so the table's rows of that slope have one spread
    X, y, _ = common_data
    model = _fit(X, y, n_init=2, shared_features=[1])
    table = model.summary(X, y, method="bootstrap", n_boot=8, random_state=0)
    rows = table[(table["parameter"] == "expert_coef") & (table["feature"] == 1)]
    assert len(rows) == 2 and rows["std_error"].nunique() == 1
    assert np.isfinite(rows["std_error"]).all() and (rows["std_error"] > 0).all()
    own = table[(table["parameter"] == "expert_coef") & (table["feature"] == 0)]
    assert own["std_error"].nunique() == 2
