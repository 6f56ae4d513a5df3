"""MixingMeasure: construction, validation, density, sampling, serialisation."""

import json

import numpy as np
import pytest
import scipy.integrate
import scipy.stats
from conftest import TRUTH_3X2
from scipy.special import softmax

from gmoe import GaussianMoERegressor, MixingMeasure
from gmoe.datasets import N23_TRUTH, make_moe_regression
from gmoe.inference._align import align_experts


def naive_density(params, x, y):
    """g(y | x) for one covariate row, from the formula term by term."""
    logits = [params["gate_coef"][i] @ x + params["gate_intercept"][i]
              for i in range(len(params["gate_intercept"]))]
    gate = softmax(logits)
    total = 0.0
    for i, pi in enumerate(gate):
        mean = params["expert_coef"][i] @ x + params["expert_intercept"][i]
        sd = np.sqrt(params["expert_variance"][i])
        total += pi * scipy.stats.norm.pdf(y, mean, sd)
    return total


@pytest.fixture
def n23():
    return MixingMeasure.from_params(**N23_TRUTH)


@pytest.fixture
def m3x2():
    return MixingMeasure.from_params(**TRUTH_3X2)


def test_attributes(n23, m3x2):
    assert n23.n_atoms == 2 and n23.n_features == 1
    assert m3x2.n_atoms == 3 and m3x2.n_features == 2
    np.testing.assert_array_equal(n23.gate_intercept, [-8.0, 0.0])
    np.testing.assert_array_equal(n23.expert_variance, [0.09, 0.16])
    # Weights are exp(beta0), not normalised.
    np.testing.assert_allclose(n23.weights, [np.exp(-8.0), 1.0])
    # Atom = (gate slope, expert slope, expert intercept, variance).
    np.testing.assert_array_equal(
        m3x2.atoms[1], [-2.0, 1.5, -2.0, 0.5, -3.0, 0.09]
    )


def test_arrays_are_read_only_copies():
    params = {name: np.array(value) for name, value in N23_TRUTH.items()}
    G = MixingMeasure.from_params(**params)
    params["expert_intercept"][0] = 99.0  # the measure holds its own copy
    assert G.expert_intercept[0] == 15.0
    with pytest.raises(ValueError, match="read-only"):
        G.expert_intercept[0] = 1.0
    with pytest.raises(AttributeError):
        G.gate_coef = np.zeros((2, 1))
    # to_params hands out writable copies.
    out = G.to_params()
    out["gate_coef"][0, 0] = -1.0
    assert G.gate_coef[0, 0] == 25.0


@pytest.mark.parametrize(
    "change, message",
    [
        ({"gate_intercept": [0.0, 0.0, 0.0]},
         r"gate_intercept has shape \(3,\).*\(2,\)"),
        ({"expert_coef": [[1.0, 2.0], [3.0, 4.0]]}, r"expert_coef has shape \(2, 2\)"),
        ({"gate_coef": [25.0, 0.0]}, "must be 2-D"),
        ({"expert_variance": [0.09, 0.0]}, "expert_variance must be positive"),
        ({"expert_variance": [0.09, -1.0]}, "variances"),
        ({"expert_intercept": [np.nan, 1.0]}, "NaN or infinity"),
        ({"gate_coef": [[np.inf], [0.0]]}, "NaN or infinity"),
        ({"gate_coef": np.zeros((0, 1)), "gate_intercept": [],
          "expert_intercept": [], "expert_coef": np.zeros((0, 1)),
          "expert_variance": []}, "at least one atom"),
        ({"expert_intercept": ["a", "b"]}, "array of numbers"),
    ],
)
def test_validation(change, message):
    params = dict(N23_TRUTH, **change)
    with pytest.raises(ValueError, match=message):
        MixingMeasure.from_params(**params)


def test_from_params_needs_exactly_the_five_keywords():
    with pytest.raises(TypeError):
        MixingMeasure.from_params(**{k: v for k, v in N23_TRUTH.items()
                                     if k != "gate_coef"})
    with pytest.raises(TypeError):
        MixingMeasure.from_params(*N23_TRUTH.values())


def test_json_round_trip(m3x2):
    text = json.dumps(m3x2.to_dict())
    back = MixingMeasure.from_dict(json.loads(text))
    assert back == m3x2
    for name in N23_TRUTH:
        np.testing.assert_array_equal(getattr(back, name), getattr(m3x2, name))
    data = m3x2.to_dict()
    assert all(isinstance(value, list) for value in data.values())


def test_from_dict_validation(n23):
    data = n23.to_dict()
    del data["gate_coef"]
    with pytest.raises(ValueError, match=r"missing \['gate_coef'\]"):
        MixingMeasure.from_dict(data)
    with pytest.raises(ValueError, match="unexpected"):
        MixingMeasure.from_dict(dict(n23.to_dict(), extra=[1]))
    with pytest.raises(ValueError, match="mapping"):
        MixingMeasure.from_dict([1, 2])


def test_equality_and_repr(n23):
    same = MixingMeasure.from_params(**N23_TRUTH)
    assert n23 == same
    assert n23 != n23.translated(0.5)
    assert n23 != "not a measure"
    text = repr(n23)
    assert text.startswith("MixingMeasure(")
    assert "expert_variance=[0.09, 0.16]" in text
    with pytest.raises(TypeError):
        hash(n23)


def test_density_matches_formula(m3x2):
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(7, 2))
    y = rng.normal(size=7) * 3
    expected = [naive_density(TRUTH_3X2, X[n], y[n]) for n in range(7)]
    np.testing.assert_allclose(m3x2.density(X, y), expected, rtol=1e-12)
    np.testing.assert_allclose(m3x2.log_density(X, y), np.log(expected), rtol=1e-12)


@pytest.mark.parametrize("x", [0.0, 0.3, 0.32, 0.8])
def test_density_integrates_to_one(n23, x):
    # Around x = 0.32 the two experts are mixed; the means are 15 - 20 x and
    # -5 + 20 x, sds 0.3 and 0.4: [-20, 30] holds all the mass.
    grid = np.linspace(-20.0, 30.0, 200_001)
    X = np.full((grid.size, 1), x)
    total = scipy.integrate.trapezoid(n23.density(X, grid), grid)
    assert total == pytest.approx(1.0, abs=1e-8)
    # The mean of the density is the conditional mean.
    mean = scipy.integrate.trapezoid(grid * n23.density(X, grid), grid)
    assert mean == pytest.approx(n23.conditional_mean([[x]])[0], abs=1e-6)


def test_gate_and_expert_means(m3x2):
    X = np.array([[0.5, -1.0], [2.0, 0.0]])
    logits = X @ TRUTH_3X2["gate_coef"].T + TRUTH_3X2["gate_intercept"]
    np.testing.assert_allclose(m3x2.gate_probabilities(X), softmax(logits, axis=1))
    np.testing.assert_allclose(
        m3x2.expert_means(X),
        X @ TRUTH_3X2["expert_coef"].T + TRUTH_3X2["expert_intercept"],
    )


def test_sample_equals_make_moe_regression(m3x2):
    X, y = m3x2.sample(300, low=-2, high=2, random_state=5)
    X_ref, y_ref = make_moe_regression(300, TRUTH_3X2, low=-2, high=2, random_state=5)
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)
    X_grid, _ = MixingMeasure.from_params(**N23_TRUTH).sample(
        5, design="grid", random_state=0)
    np.testing.assert_array_equal(X_grid.ravel(), np.linspace(0, 1, 5))


def test_sample_follows_density(n23):
    # Probability integral transform: F(y | x) of draws from g(. | x) is U(0, 1).
    X, y = n23.sample(20_000, random_state=1)
    gate = n23.gate_probabilities(X)
    means = n23.expert_means(X)
    sd = np.sqrt(n23.expert_variance)
    pit = np.sum(gate * scipy.stats.norm.cdf((y[:, None] - means) / sd), axis=1)
    assert scipy.stats.kstest(pit, "uniform").pvalue > 1e-3
    # The sample mean of y matches the mean of the density (4 standard errors).
    cond_mean = n23.conditional_mean(X)
    assert abs(np.mean(y - cond_mean)) < 4 * np.std(y - cond_mean) / np.sqrt(len(y))


def test_sample_with_given_X(m3x2):
    X = np.random.default_rng(0).uniform(-2, 2, size=(50, 2))
    X_out, y = m3x2.sample(X=X, random_state=0)
    np.testing.assert_array_equal(X_out, X)
    assert y.shape == (50,)
    # Same seed, same draws; another seed, other draws.
    np.testing.assert_array_equal(m3x2.sample(X=X, random_state=0)[1], y)
    assert not np.array_equal(m3x2.sample(X=X, random_state=1)[1], y)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_samples": 0}, "positive integer"),
        ({"n_samples": 2.5}, "positive integer"),
        ({}, "positive integer"),
        ({"n_samples": 10, "design": "sobol"}, "design must be one of"),
        ({"n_samples": 3, "X": np.zeros((4, 2))}, "n_samples=3 but X has 4 rows"),
        ({"X": np.zeros((4, 3))}, "2 column"),
    ],
)
def test_sample_validation(m3x2, kwargs, message):
    with pytest.raises(ValueError, match=message):
        m3x2.sample(**kwargs)


def test_translated_leaves_density_unchanged(m3x2):
    moved = m3x2.translated(1.7, [-3.0, 0.25])
    np.testing.assert_allclose(moved.gate_intercept, m3x2.gate_intercept + 1.7)
    np.testing.assert_allclose(moved.gate_coef, m3x2.gate_coef + [-3.0, 0.25])
    np.testing.assert_allclose(moved.weights, m3x2.weights * np.exp(1.7))
    np.testing.assert_array_equal(moved.expert_coef, m3x2.expert_coef)
    rng = np.random.default_rng(3)
    X = rng.uniform(-2, 2, size=(40, 2))
    y = rng.normal(size=40) * 3
    np.testing.assert_allclose(moved.log_density(X, y), m3x2.log_density(X, y),
                               rtol=1e-12)
    # A float t1 moves every slope coordinate.
    np.testing.assert_allclose(m3x2.translated(0.0, 2.0).gate_coef,
                               m3x2.gate_coef + 2.0)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        m3x2.translated(0.0, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="t0 must be a finite number"):
        m3x2.translated(np.nan)


def test_canonical(m3x2):
    canon = m3x2.translated(2.0, [1.0, -1.0]).canonical()
    assert canon.gate_intercept[-1] == 0 and np.all(canon.gate_coef[-1] == 0)
    # TRUTH_3X2 already has its last gate at (0, 0).
    np.testing.assert_allclose(canon.gate_intercept, m3x2.gate_intercept, atol=1e-15)
    np.testing.assert_allclose(canon.gate_coef, m3x2.gate_coef, atol=1e-15)
    first = m3x2.canonical(0)
    assert first.gate_intercept[0] == 0
    with pytest.raises(ValueError, match="atom index"):
        m3x2.canonical(3)


def test_init_params_and_from_estimator():
    # A measure starts EM where it says; with max_iter=0 the fit keeps it.
    G = MixingMeasure.from_params(**N23_TRUTH)
    X, y = G.sample(400, random_state=0)
    est = GaussianMoERegressor(n_experts=2, init_params=G.to_params(), max_iter=0)
    est.fit(X, y)
    back = MixingMeasure.from_estimator(est)
    # the fit reports the atoms in its canonical order: the same measure,
    # relabelled (and its gate re-expressed against the new last atom)
    matched, _ = align_experts(back.to_params(), N23_TRUTH)
    for name in N23_TRUTH:
        np.testing.assert_allclose(matched[name], N23_TRUTH[name],
                                   rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="fit it first"):
        MixingMeasure.from_estimator(GaussianMoERegressor())
