"""The dendrogram of mixing measures: merge rule against a plain reference,
translation invariance, DSC against the measure's own log-density, and the
three-lines-ten-experts recovery."""

import itertools
import warnings

import numpy as np
import pytest
from scipy.cluster.hierarchy import is_valid_linkage

from gmoe import GaussianMoERegressor, MixingDendrogram, MixingMeasure, merge
from gmoe.datasets import make_moe_regression

THREE_LINES = {
    "gate_intercept": np.array([0.0, 1.0, 0.0]),
    "gate_coef": np.array([[-6.0], [0.0], [0.0]]),
    "expert_intercept": np.array([4.0, 0.0, -4.0]),
    "expert_coef": np.array([[-3.0], [2.0], [4.0]]),
    "expert_variance": np.array([0.09, 0.09, 0.09]),
}

SMALL = {  # three atoms, the last the gate reference
    "gate_intercept": np.array([0.5, -1.0, 0.0]),
    "gate_coef": np.array([[1.0], [2.0], [0.0]]),
    "expert_intercept": np.array([1.0, 1.2, 3.0]),
    "expert_coef": np.array([[0.5], [0.4], [-1.0]]),
    "expert_variance": np.array([0.2, 0.3, 0.1]),
}


def _naive_moe_distance(params, i, j):
    p = np.exp(params["gate_intercept"])
    weight = p[i] * p[j] / (p[i] + p[j])
    db = params["expert_intercept"][i] - params["expert_intercept"][j]
    da = params["expert_coef"][i] - params["expert_coef"][j]
    dv = params["expert_variance"][i] - params["expert_variance"][j]
    return weight * (db**2 + np.sqrt(np.sum(da**2) + dv**2))


def test_merge_rule_against_plain_reference():
    tree = MixingDendrogram(SMALL, reference=-1, weights="gate")
    pairs = list(itertools.combinations(range(3), 2))
    distances = [_naive_moe_distance(SMALL, i, j) for i, j in pairs]
    i, j = pairs[int(np.argmin(distances))]
    assert tree.heights_[3] == pytest.approx(min(distances), rel=1e-12)
    assert tree.merges_[0]["atoms"] == ((i,), (j,))
    p = np.exp(SMALL["gate_intercept"])
    level = tree.params(2)
    merged = tree.members_[2].index((i, j))
    assert level["gate_intercept"][merged] == pytest.approx(np.log(p[i] + p[j]))
    for name in ("gate_coef", "expert_intercept", "expert_coef", "expert_variance"):
        expected = (p[i] * SMALL[name][i] + p[j] * SMALL[name][j]) / (p[i] + p[j])
        np.testing.assert_allclose(level[name][merged], expected, rtol=1e-12)
    # the second merge: the merged atom against the one left
    other = 3 - i - j
    two = {name: np.stack([level[name][merged], SMALL[name][other]])
           for name in SMALL}
    assert tree.heights_[2] == pytest.approx(_naive_moe_distance(two, 0, 1),
                                             rel=1e-12)
    top = tree.params(1)
    assert top["gate_intercept"][0] == pytest.approx(np.log(p.sum()))
    np.testing.assert_allclose(top["expert_intercept"][0],
                               p @ SMALL["expert_intercept"] / p.sum())
    assert is_valid_linkage(tree.linkage_)
    assert tree.linkage_[-1, 3] == 3


def test_euclidean_distance_includes_gate_slopes():
    tree = MixingDendrogram(SMALL, reference=-1, weights="gate",
                            distance="euclidean")
    p = np.exp(SMALL["gate_intercept"])
    naive = []
    for i, j in itertools.combinations(range(3), 2):
        theta = [np.concatenate([SMALL["gate_coef"][a], SMALL["expert_coef"][a],
                                 [SMALL["expert_intercept"][a],
                                  SMALL["expert_variance"][a]]]) for a in (i, j)]
        naive.append(p[i] * p[j] / (p[i] + p[j]) * np.sum((theta[0] - theta[1]) ** 2))
    assert tree.heights_[3] == pytest.approx(min(naive), rel=1e-12)


def test_translation_of_the_gate_changes_nothing():
    X, y = make_moe_regression(300, THREE_LINES, low=-1, high=1, random_state=0)
    G = MixingMeasure.from_params(**THREE_LINES)
    moved = G.translated(2.5, [-3.0])
    for options in ({"weights": "proportion"}, {"weights": "gate"},
                    {"weights": "gate", "reference": 0}):
        a = MixingDendrogram(G, X, y, **options)
        b = MixingDendrogram(moved, X, y, **options)
        for kappa in a.heights_:
            assert a.heights_[kappa] == pytest.approx(b.heights_[kappa], rel=1e-9)
            assert a.log_likelihood_[kappa] == pytest.approx(b.log_likelihood_[kappa],
                                                             rel=1e-9)


def test_dsc_against_log_density():
    X, y = make_moe_regression(400, THREE_LINES, low=-1, high=1, random_state=1)
    doubled = {name: np.concatenate([v, v]) for name, v in THREE_LINES.items()}
    doubled["expert_intercept"] = doubled["expert_intercept"] + np.repeat(
        [0.0, 0.05], 3)
    tree = MixingDendrogram(doubled, X, y)
    n = len(y)
    for kappa in range(2, 7):
        mean = tree.measure(kappa).log_density(X, y).mean()
        assert tree.mean_log_likelihood_[kappa] == pytest.approx(mean, rel=1e-12)
        assert tree.dsc_[kappa] == pytest.approx(
            -(tree.heights_[kappa] + np.log(n) * mean), rel=1e-12)
    # the three near-copies merge first, at small heights, back to the truth
    assert {tuple(m) for m in tree.members_[3]} == {(0, 3), (1, 4), (2, 5)}
    assert tree.n_experts_ == 3
    table = tree.table()
    assert table["n_experts"].tolist() == [6, 5, 4, 3, 2, 1]
    assert tree.plot() is not None


def test_three_lines_ten_experts_merged_and_refitted():
    X, y = make_moe_regression(2000, THREE_LINES, low=-1, high=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        over = GaussianMoERegressor(10, n_init=3, n_refine=1,
                                    random_state=0).fit(X, y)
    tree = MixingDendrogram(over, X, y)
    assert tree.n_experts_ == 3
    start = merge(over, 3, X=X)
    for name, value in start.items():
        np.testing.assert_array_equal(value, tree.params(3)[name])
    refit = tree.refit(X, y)
    assert refit.n_experts == 3
    order = np.argsort(refit.expert_intercept_)[::-1]  # truth: 4, 0, -4
    np.testing.assert_allclose(refit.expert_intercept_[order], [4, 0, -4], atol=0.15)
    np.testing.assert_allclose(refit.expert_coef_[order, 0], [-3, 2, 4], atol=0.2)
    np.testing.assert_allclose(refit.expert_variance_[order], 0.09, atol=0.02)
    gate = refit.gate_coef_[order, 0] - refit.gate_coef_[order[-1], 0]
    np.testing.assert_allclose(gate, [-6, 0, 0], atol=1.5)
    same = GaussianMoERegressor(3, init_params=start).fit(X, y)
    assert same.log_likelihood_ == pytest.approx(refit.log_likelihood_, rel=1e-10)


def test_bad_input():
    with pytest.raises(ValueError, match="distance must be one of"):
        MixingDendrogram(SMALL, distance="manhattan")
    with pytest.raises(ValueError, match="reference must be"):
        MixingDendrogram(SMALL, reference="min")
    with pytest.raises(ValueError, match="needs X"):
        MixingDendrogram(SMALL, weights="proportion")
    with pytest.raises(ValueError, match="from 1 to 3"):
        MixingDendrogram(SMALL).params(4)
    with pytest.raises(ValueError, match="pass n_experts"):
        MixingDendrogram(SMALL).refit(np.zeros((5, 1)), np.zeros(5))
    with pytest.raises(ValueError, match="expected a fitted"):
        MixingDendrogram([1, 2, 3])
