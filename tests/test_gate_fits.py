"""Fitting every gate of gmoe.gates through GaussianMoERegressor: on data drawn
from the gate's own model the fit reaches at least the truth's likelihood at a
certified stationary point, and everything the estimator predicts reads the
gate through its interface.  The numpy engine (GatedGaussianMoE) against the
compiled softmax kernels, and its derivatives against finite differences."""

import copy
import types
import warnings

import numpy as np
import pytest
from scipy.stats import norm

from gmoe import GaussianMoERegressor, select_n_experts, split_start
from gmoe.datasets import make_moe_regression
from gmoe.engine._gated_model import GatedGaussianMoE
from gmoe.engine._model import MoEParams, SoftmaxGaussianMoE
from gmoe.gates import Constant, Cosine, Laplace, Sigmoid, Softmax

IDENTITY = types.SimpleNamespace(x_mean=np.zeros(2), x_scale=np.ones(2))
EXPERTS = {"expert_intercept": np.array([-2.0, 1.0, 3.0]),
           "expert_coef": np.array([[1.5, 0.0], [-1.0, 1.0], [0.0, -2.0]]),
           "expert_variance": np.array([0.1, 0.2, 0.15])}

#: Each gate with true parameters (original units) of three experts, d = 2.
TRUTHS = {
    "constant": (Constant(), {"gate_intercept": np.array([0.3, -0.2, 0.0])}),
    "sigmoid": (Sigmoid(), {"gate_intercept": np.array([0.5, -0.5, 0.2]),
                            "gate_coef": np.array([[2.0, -1.0], [-2.0, 1.0],
                                                   [0.5, 2.0]])}),
    "cosine": (Cosine(0.1), {"gate_intercept": np.array([0.2, -0.1, 0.0]),
                             "gate_coef": np.array([[3.0, 0.0], [-2.0, 2.0],
                                                    [0.0, -3.0]])}),
    "laplace": (Laplace(), {"gate_intercept": np.array([0.0, 0.2, 0.0]),
                            "gate_coef": np.array([[1.0, 1.0], [-1.0, 0.5],
                                                   [0.5, -1.0]])}),
}


def draw(gate, params, n, seed):
    """(X, y, true log-likelihood) from a gate model with the EXPERTS."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 2))
    blocks = gate.from_original(params, IDENTITY)
    log_pi = gate.log_weights(gate.features(X, IDENTITY), blocks)
    pi = np.exp(log_pi)
    expert = (rng.uniform(size=(n, 1)) > np.cumsum(pi, axis=1)).sum(axis=1)
    means = X @ EXPERTS["expert_coef"].T + EXPERTS["expert_intercept"]
    sd = np.sqrt(EXPERTS["expert_variance"])
    y = means[np.arange(n), expert] + sd[expert] * rng.standard_normal(n)
    log_lik = np.logaddexp.reduce(log_pi + norm.logpdf(y[:, None], means, sd),
                                  axis=1).sum()
    return X, y, log_lik


@pytest.fixture(scope="module", params=sorted(TRUTHS))
def gate_fit(request):
    gate, params = TRUTHS[request.param]
    X, y, truth_ll = draw(gate, params, 1500, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = GaussianMoERegressor(3, gate=gate, n_init=6, n_refine=3,
                                     random_state=0).fit(X, y)
    return request.param, model, X, y, truth_ll


def test_fit_reaches_the_truths_likelihood_at_a_stationary_point(gate_fit):
    name, model, X, y, truth_ll = gate_fit
    assert model.log_likelihood_ >= truth_ll - 1e-6, name
    assert model.converged_
    assert model.gradient_norm_ < 1e-6
    assert not model.degenerate_experts_.any()
    assert np.all(np.diff(model.expert_weight_) > 0)  # the canonical order


def test_predictions_read_the_gate(gate_fit):
    name, model, X, y, _ = gate_fit
    assert model.score_samples(X, y).sum() == pytest.approx(model.log_likelihood_,
                                                            rel=1e-10)
    gate = model.predict_gate(X[:50])
    np.testing.assert_allclose(gate.sum(axis=1), 1.0)
    np.testing.assert_allclose(model.predict(X[:50]),
                               np.sum(gate * model.predict_experts(X[:50]), axis=1))
    y_draw, experts = model.sample(X[:50], random_state=0)
    assert y_draw.shape == (50,) and experts.max() < 3
    k, d = 3, 2
    assert model.n_parameters() == model.gate_.n_parameters(k, d) + k * (d + 2)
    assert model.bic(X, y) == pytest.approx(
        -2 * model.log_likelihood_ + model.n_parameters() * np.log(len(y)))


def test_recovers_the_experts(gate_fit):
    name, model, *_ = gate_fit
    order = np.argsort(model.expert_intercept_)
    np.testing.assert_allclose(model.expert_intercept_[order],
                               np.sort(EXPERTS["expert_intercept"]), atol=0.3)


def test_warm_start_continues_the_same_gate(gate_fit):
    name, model, X, y, _ = gate_fit
    again = GaussianMoERegressor(3, gate=model.gate_, warm_start=True)
    again.__dict__.update({key: value for key, value in model.__dict__.items()
                           if key.endswith("_")})
    again.fit(X, y)
    assert again.log_likelihood_ >= model.log_likelihood_ - 1e-8


def test_constant_gate_weights_do_not_depend_on_x():
    gate, params = TRUTHS["constant"]
    X, y, _ = draw(gate, params, 600, seed=3)
    model = GaussianMoERegressor(3, gate="constant", n_init=4,
                                 random_state=0).fit(X, y)
    weights = model.predict_gate(X)
    np.testing.assert_allclose(weights, weights[:1].repeat(len(X), axis=0))
    assert not hasattr(model, "gate_coef_")
    assert model.n_parameters() == 2 + 3 * 4


@pytest.mark.parametrize("options, message", [
    ({"gate": "constant", "top_k": 1}, "top_k applies to the softmax gate"),
    ({"gate": "sigmoid", "gate_bound": 1.0}, "gate_bound applies"),
    ({"gate": "laplace", "gate_penalty": 1.0}, "gate_penalty applies"),
    ({"gate": "nonsense"}, "gate"),
    ({"gate": Cosine(perturbation=-1.0)}, "perturbation"),
])
def test_bad_gate_options_are_clear_errors(options, message):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 2)), rng.normal(size=50)
    fitted = GaussianMoERegressor(2, n_init=2, random_state=0).fit(X, y)
    before = fitted.expert_coef_.copy()
    with pytest.raises(ValueError, match=message):
        fitted.set_params(**options).fit(X, y)
    np.testing.assert_array_equal(fitted.expert_coef_, before)


def test_laplace_gate_refuses_a_constant_feature():
    X = np.column_stack([np.linspace(0, 1, 40), np.ones(40)])
    with pytest.raises(ValueError, match="constant"):
        GaussianMoERegressor(2, gate="laplace").fit(X, X[:, 0])


def test_summary_gives_finite_standard_errors(gate_fit):
    name, model, X, y, _ = gate_fit
    summarised = model.gate_.summary_gate()
    for method in ("wald", "sandwich"):
        table = model.summary(X, y, method=method)
        assert len(table) == sum(np.size(v) for v in model._params_dict().values())
        free = table["std_error"].notna()
        # only the reference's gauge coordinates have no standard error
        n_fixed = int(summarised.gauge(2).sum())
        assert (~free).sum() == n_fixed, (name, method)
        assert np.all(table.loc[free, "lower"] < table.loc[free, "upper"])
    band = model.predict_mean_interval(X[:5], X, y)
    assert np.all(band[:, 0] < band[:, 1])


def test_cosine_summary_reports_the_identified_scores():
    # the perturbed cosine gate's weights do not change along a curved set of
    # its w_i (see the theory page); its table reports the softmax gate on
    # x / (|x| + theta) with slopes v_i = w_i / (|w_i| + theta), relative to the
    # reference expert, which the likelihood identifies
    gate, params = TRUTHS["cosine"]
    X, y, _ = draw(gate, params, 1500, seed=1)
    model = GaussianMoERegressor(3, gate=gate, init_params={**params, **EXPERTS},
                                 random_state=0).fit(X, y)
    table = model.summary(X, y)
    rows = table[table["parameter"] == "gate_score"]
    assert list(rows["feature"][:3]) == ["intercept", "v0", "v1"]
    w = model.gate_coef_
    blocks = np.column_stack([model.gate_intercept_,
                              w / (np.linalg.norm(w, axis=1) + 0.1)[:, None]])
    np.testing.assert_allclose(rows["estimate"], (blocks - blocks[-1]).ravel(),
                               rtol=0, atol=1e-12)
    se = table["std_error"]
    assert se.isna().sum() == 3 and np.all(se[se.notna()] > 0)
    plain = GaussianMoERegressor(3, gate=Cosine(0.0), n_init=2,
                                 random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="perturbation > 0"):
        plain.summary(X, y)


def test_wald_standard_errors_cover_the_truth_on_average():
    # Constant gate (mixture of regressions): the expert slopes' 95% Wald
    # intervals, over 30 data sets, cover the truth about 95% of the time.
    gate, params = TRUTHS["constant"]
    hits = []
    for seed in range(30):
        X, y, _ = draw(gate, params, 600, seed=100 + seed)
        model = GaussianMoERegressor(3, gate="constant", init_params={
            **params, **EXPERTS}, random_state=0).fit(X, y)
        table = model.summary(X, y)
        rows = table[table["parameter"] == "expert_coef"]
        # fitted expert j is the true expert of the same rank of intercept
        rank = np.argsort(np.argsort(model.expert_intercept_))
        truth = EXPERTS["expert_coef"][
            np.argsort(EXPERTS["expert_intercept"])[rank]].ravel()
        hits.extend((rows["lower"].to_numpy() <= truth)
                    & (truth <= rows["upper"].to_numpy()))
    assert 0.85 <= np.mean(hits) <= 1.0


# ------------------------------------------------------------------ the engine
def test_engine_with_the_softmax_gate_matches_the_compiled_kernels():
    rng = np.random.default_rng(0)
    n, d, k = 400, 2, 3
    Z = rng.normal(size=(n, d))
    Xt = np.column_stack([np.ones(n), Z])
    y, w = rng.normal(size=n), rng.uniform(0.5, 2.0, size=n)
    gate = rng.normal(size=(k, d + 1))
    gate[-1] = 0
    params = MoEParams(gate, rng.normal(size=(k, d + 1)), rng.uniform(0.5, 2, k))
    compiled = SoftmaxGaussianMoE(Xt, y, w, var_lower=1e-6)
    generic = GatedGaussianMoE(Z, Xt, y, w, Softmax(), var_lower=1e-6)
    for a, b in zip(compiled.derivatives(params), generic.derivatives(params),
                    strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    prev = rng.dirichlet(np.ones(k), size=n)
    r1, r2 = np.empty((n, k)), np.empty((n, k))
    s1, s2 = compiled.e_step(params, prev, r1), generic.e_step(params, prev, r2)
    np.testing.assert_allclose(r1, r2, rtol=1e-12, atol=1e-14)
    for field in ("loglik", "A", "B", "C", "gate_q", "gate_grad", "gate_info",
                  "gate_q_prev"):
        np.testing.assert_allclose(getattr(s1, field), getattr(s2, field),
                                   rtol=1e-10, atol=1e-10, err_msg=field)


@pytest.mark.parametrize("gate", [Constant(), Sigmoid(), Cosine(0.1), Laplace()],
                         ids=["constant", "sigmoid", "cosine", "laplace"])
def test_engine_derivatives_against_finite_differences(gate):
    rng = np.random.default_rng(1)
    n, d, k = 120, 2, 3
    Z = rng.normal(size=(n, d))
    Xt = np.column_stack([np.ones(n), Z])
    model = GatedGaussianMoE(Z, Xt, rng.normal(size=n), np.ones(n), gate,
                             var_lower=1e-6)
    params = MoEParams(model.project_gate(rng.normal(size=(k, model.m))),
                       rng.normal(size=(k, d + 1)), rng.uniform(0.5, 2, k))
    theta = model.to_vector(params)
    value, grad, hess = model.derivatives(params)
    assert value == pytest.approx(model.objective(params), rel=1e-12)
    eps = 1e-5
    steps = np.eye(theta.size) * eps
    fd_grad = [(model.objective(model.from_vector(theta + e, k))
                - model.objective(model.from_vector(theta - e, k))) / (2 * eps)
               for e in steps]
    fd_hess = [(model.derivatives(model.from_vector(theta + e, k))[1]
                - model.derivatives(model.from_vector(theta - e, k))[1]) / (2 * eps)
               for e in steps]
    np.testing.assert_allclose(grad, fd_grad, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(hess, np.array(fd_hess), rtol=1e-5, atol=1e-5)


def test_split_start_of_a_constant_gate_keeps_the_density():
    gate, params = TRUTHS["constant"]
    X, y, _ = draw(gate, params, 800, seed=7)
    two = GaussianMoERegressor(2, gate="constant", n_init=4, random_state=0).fit(X, y)
    start = split_start(two, 3, spread=0.0)
    assert set(start) == {"gate_intercept", "expert_intercept", "expert_coef",
                          "expert_variance"}
    twin = GaussianMoERegressor(3, gate="constant", init_params=start,
                                max_iter=0).fit(X, y)
    assert twin.log_likelihood_ == pytest.approx(two.log_likelihood_, rel=1e-12)


def test_split_start_refuses_a_gate_without_an_additive_intercept():
    gate, params = TRUTHS["sigmoid"]
    X, y, _ = draw(gate, params, 400, seed=8)
    two = GaussianMoERegressor(2, gate="sigmoid", n_init=2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="additive intercept"):
        split_start(two, 3)


@pytest.mark.parametrize("name", ["constant", "laplace"])
def test_select_n_experts_picks_the_true_number_for_other_gates(name):
    gate, params = TRUTHS[name]
    X, y, _ = draw(gate, params, 1500, seed=5)
    selection = select_n_experts(X, y, range(1, 5), gate=gate, n_init=6,
                                 random_state=0)
    assert selection.n_experts_ == 3
    assert type(selection.best_estimator_.gate_) is type(gate)


@pytest.mark.parametrize("gate", [Softmax(), Constant(), Sigmoid()],
                         ids=["softmax", "constant", "sigmoid"])
def test_linear_predictor_kernels_match_the_array_kernels(gate):
    # the kernels compute a linear-predictor gate's scores themselves; the same
    # gate given as score arrays must give the same numbers
    rng = np.random.default_rng(2)
    n, d, k = 300, 2, 3
    Z = rng.normal(size=(n, d))
    Xt = np.column_stack([np.ones(n), Z])
    y, w = rng.normal(size=n), rng.uniform(0.5, 2.0, size=n)
    fast = GatedGaussianMoE(Z, Xt, y, w, gate, var_lower=1e-6)
    slow = GatedGaussianMoE(Z, Xt, y, w, gate, var_lower=1e-6)
    slow._Zt = None
    assert fast._Zt is not None
    params = MoEParams(fast.project_gate(rng.normal(size=(k, fast.m))),
                       rng.normal(size=(k, d + 1)), rng.uniform(0.5, 2, k))
    for a, b in zip(fast.derivatives(params), slow.derivatives(params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
    prev = rng.dirichlet(np.ones(k), size=n)
    r1, r2 = np.empty((n, k)), np.empty((n, k))
    s1, s2 = fast.e_step(params, prev, r1), slow.e_step(params, prev, r2)
    for field in ("loglik", "A", "B", "C", "gate_q", "gate_grad", "gate_info",
                  "gate_q_prev"):
        np.testing.assert_allclose(getattr(s1, field), getattr(s2, field),
                                   rtol=1e-10, atol=1e-10, err_msg=field)
    np.testing.assert_allclose(r1, r2, rtol=1e-12, atol=1e-14)


def test_top_k_on_the_engine_reaches_the_top_k_path_optimum():
    # TopK(2) through the engine every gate shares, against top_k=2 on its own
    # path: the same model and starts; the engine's Newton, which holds the
    # samples at their boundaries, reaches at least the same optimum
    from gmoe.datasets import TOPK_TRUTH
    from gmoe.gates import TopK, TopP

    X, y = make_moe_regression(1500, TOPK_TRUTH, random_state=3, top_k=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # boundary maxima: see the theory page
        path = GaussianMoERegressor(4, top_k=2, n_init=6, random_state=0).fit(X, y)
        engine = GaussianMoERegressor(4, gate=TopK(2), n_init=6,
                                      random_state=0).fit(X, y)
        top_p = GaussianMoERegressor(4, gate=TopP(0.9), n_init=6,
                                     random_state=0).fit(X, y)
    assert engine.log_likelihood_ >= path.log_likelihood_ - 1e-3
    for model in (engine, top_p):
        weights = model.predict_gate(X)
        np.testing.assert_allclose(weights.sum(axis=1), 1.0)
        assert model.score_samples(X, y).sum() == pytest.approx(
            model.log_likelihood_, rel=1e-10)
    assert np.all((engine.predict_gate(X) > 0).sum(axis=1) <= 2)
    # inference on the fit's piece (see test_topk.py for its coverage)
    table = engine.summary(X, y)
    assert "piecewise smooth" in table.attrs["notes"][0]


def _laplace_fit(seed):
    """The default Laplace fit of n = 1000 samples of Figure 9's Laplace truth
    (one covariate), with every warning an error."""
    from gmoe import MixingMeasure
    from gmoe.datasets import N23_TRUTH

    truth = MixingMeasure(gate="laplace", gate_intercept=[0.36, 0.0],
                          gate_coef=[[0.75], [0.25]],
                          expert_intercept=N23_TRUTH["expert_intercept"],
                          expert_coef=N23_TRUTH["expert_coef"],
                          expert_variance=N23_TRUTH["expert_variance"])
    X, y = truth.sample(1000, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = GaussianMoERegressor(2, gate="laplace", random_state=0).fit(X, y)
    return X, y, model


def _assert_centres_at_a_maximum(model, X, y):
    """Moving a centre lowers the log-likelihood (the other parameters as
    fitted): off its sample either way for a centre on a sample, within its
    piece (a quarter of the way to the nearest sample) for one between two."""
    base = model.score_samples(X, y).sum()
    for i, w in enumerate(model.gate_coef_[:, 0]):
        distance = np.abs(X[:, 0] - w)
        step = 1e-4 if np.any(distance == 0) else distance.min() / 4
        for h in (step, -step):
            moved = copy.deepcopy(model)
            moved.gate_coef_ = model.gate_coef_.copy()
            moved.gate_coef_[i, 0] += h
            assert moved.score_samples(X, y).sum() < base - 1e-12 * abs(base)


def test_laplace_on_one_covariate_is_certified_at_a_kink():
    # the score -|w - x| + b has a kink at every sample: a centre's maximiser can
    # sit on a sample, where the gradient jumps; the certificate is then the
    # one-sided derivatives, checked here by moving each centre off its sample
    # either way (public API, other parameters as fitted)
    X, y, model = _laplace_fit(0)
    assert model.converged_ and model.solver_status_ == "kink"
    assert all(np.isin(w, X[:, 0]) for w in model.gate_coef_[:, 0])
    _assert_centres_at_a_maximum(model, X, y)


def test_laplace_on_one_covariate_is_certified_between_samples():
    # a centre's maximiser can also lie strictly between two samples, where the
    # log-likelihood is smooth but the smoothed kink curvature is not its
    # Hessian: Newton with the exact curvature on that piece certifies it (on
    # these data one centre ends between two samples, the other on one)
    X, y, model = _laplace_fit(6)
    assert model.converged_ and model.solver_status_ == "kink"
    assert model.gradient_norm_ <= model.gtol
    on_sample = [bool(np.isin(w, X[:, 0])) for w in model.gate_coef_[:, 0]]
    assert sorted(on_sample) == [False, True]
    _assert_centres_at_a_maximum(model, X, y)
