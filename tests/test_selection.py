"""select_n_experts and bootstrap_lrt: criteria against plain numpy, seeds,
recorded warnings, the rule for irregular fits, bad input, the bootstrap test."""

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.stats

from gmoe import GaussianMoERegressor, bootstrap_lrt, select_n_experts
from gmoe.datasets import load_mcycle, make_moe_regression
from gmoe.selection._criteria import criteria_row
from gmoe.selection._selection import _choose
from gmoe.selection._split import split_start


@pytest.fixture(scope="module")
def n23_data():
    return make_moe_regression(400, random_state=3)


def _naive_criteria(model, X, y):
    """BIC, ICL (entropy) and the hard ICL from the parameters, plain scipy."""
    logits = X @ model.gate_coef_.T + model.gate_intercept_
    gate = np.exp(logits - logits.max(axis=1, keepdims=True))
    gate /= gate.sum(axis=1, keepdims=True)
    means = X @ model.expert_coef_.T + model.expert_intercept_
    joint = gate * scipy.stats.norm.pdf(y[:, None], means,
                                        np.sqrt(model.expert_variance_))
    density = joint.sum(axis=1)
    tau = joint / density[:, None]
    k, d = model.expert_coef_.shape
    m = (k - 1) * (d + 1) + k * (d + 2)
    bic = -2 * np.log(density).sum() + m * np.log(len(y))
    entropy = -np.sum(tau * np.log(np.where(tau > 0, tau, 1.0)))
    return bic, bic + 2 * entropy, bic - 2 * np.log(tau.max(axis=1)).sum()


def test_criteria_match_naive(n23_data):
    X, y = n23_data
    model = GaussianMoERegressor(3, n_init=2, random_state=0).fit(X, y)
    row = criteria_row(model, X, y)
    bic, icl, icl_map = _naive_criteria(model, X, y)
    assert row["bic"] == pytest.approx(bic, rel=1e-10)
    assert row["icl"] == pytest.approx(icl, rel=1e-8)
    assert row["icl_map"] == pytest.approx(icl_map, rel=1e-8)
    assert row["icl"] > row["bic"]
    assert row["aic"] == pytest.approx(-2 * model.log_likelihood_ + 2 * 13, rel=1e-8)


def test_weights_count_as_repeats(n23_data):
    X, y = n23_data
    model = GaussianMoERegressor(2, n_init=1, random_state=0).fit(X, y)
    w = np.ones(len(y))
    w[:50] = 2
    weighted = criteria_row(model, X, y, w)
    Xr = np.vstack([X, X[:50]])
    yr = np.concatenate([y, y[:50]])
    repeated = criteria_row(model, Xr, yr)
    for key in ("log_likelihood", "bic", "icl", "aic"):
        assert weighted[key] == pytest.approx(repeated[key], rel=1e-10)


def test_bic_sweep_chooses_truth_and_reports(n23_data):
    X, y = n23_data
    selection = select_n_experts(X, y, [1, 2, 3], random_state=0, n_init=3)
    assert selection.n_experts_ == 2
    table = selection.results_
    assert table["n_experts"].tolist() == [1, 2, 3]
    for column in ("log_likelihood", "n_parameters", "bic", "icl", "aic",
                   "converged", "n_degenerate", "fit_time", "warnings"):
        assert column in table
    assert selection.best_estimator_ is selection.estimators_[2]
    for k, model in selection.estimators_.items():
        assert model.n_experts == k
        row = table[table["n_experts"] == k].iloc[0]
        assert row["bic"] == pytest.approx(model.bic(X, y), rel=1e-10)
    assert table["bic"].idxmin() == 1
    assert selection.plot() is not None


def test_same_fits_whatever_n_jobs_and_other_k(n23_data):
    X, y = n23_data
    one = select_n_experts(X, y, [1, 2, 3], random_state=7, n_init=2, n_jobs=1)
    # threads: the same seeds reach the workers without the cost of new processes
    with joblib.parallel_config(backend="threading"):
        two = select_n_experts(X, y, [1, 2, 3], random_state=7, n_init=2,
                               n_jobs=2)
    np.testing.assert_array_equal(one.results_["log_likelihood"],
                                  two.results_["log_likelihood"])
    alone = select_n_experts(X, y, [3], random_state=7, n_init=2)
    assert alone.results_["log_likelihood"].iloc[0] == \
        one.results_["log_likelihood"].iloc[2]
    other = select_n_experts(X, y, [1, 2, 3], random_state=8, n_init=2)
    assert other.results_["random_state"].iloc[2] != \
        one.results_["random_state"].iloc[2]


def test_split_start_keeps_the_density_and_splits_the_heaviest(n23_data):
    X, y = n23_data
    moe = GaussianMoERegressor(2, n_init=2, random_state=0).fit(X, y)
    start = split_start(moe, 4, spread=0.0)
    heavy = int(np.argmax(moe.expert_weight_))
    # the gate weights of the copies add up to the split expert's
    twin = GaussianMoERegressor(4, init_params=start, max_iter=0).fit(X, y)
    np.testing.assert_allclose(twin.predict(X), moe.predict(X), atol=1e-10)
    np.testing.assert_allclose(twin.score_samples(X, y), moe.score_samples(X, y),
                               atol=1e-10)
    assert start["expert_variance"].tolist().count(
        moe.expert_variance_[heavy]) >= 2
    moved = split_start(moe, 3, spread=0.5)
    shift = 0.5 * np.sqrt(moe.expert_variance_[heavy])
    np.testing.assert_allclose(
        sorted(moved["expert_intercept"][[heavy, 2]] - moe.expert_intercept_[heavy]),
        [-shift, shift])
    with pytest.raises(ValueError, match="must exceed"):
        split_start(moe, 2)


def test_sweep_log_likelihood_never_falls_with_k():
    """With one start per k some fits on mcycle miss the maximum and fall below
    a fit with fewer experts; the sweep refits those from a split start."""
    X, y = load_mcycle(return_X_y=True)
    selection = select_n_experts(X, y, n_experts=range(1, 9), n_init=1,
                                 random_state=3)
    table = selection.results_
    assert np.all(np.diff(table["log_likelihood"]) >= -1e-6)
    repaired = table[table["start"] != "search"]
    assert len(repaired) >= 1
    for k, ll in zip(repaired["n_experts"], repaired["log_likelihood"],
                     strict=True):
        assert selection.estimators_[k].log_likelihood_ == pytest.approx(ll)
        assert selection.estimators_[k].n_experts == k


def test_warnings_are_recorded_not_raised():
    # one line and noise: the over-fitted fits degenerate and warn; under the
    # suite's "warnings are errors" filter the sweep must not raise (data on
    # which no fit is refitted from a split start, whose fits need not warn)
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(40, 1))
    y = 2 * X[:, 0] + 0.1 * rng.standard_normal(40)
    selection = select_n_experts(X, y, [1, 2, 3, 4], random_state=0, n_init=2)
    table = selection.results_
    assert table["n_warnings"].sum() > 0
    flagged = table[table["warnings"] != ""]
    assert flagged["warnings"].str.contains("Warning").all()
    chosen = table[table["n_experts"] == selection.n_experts_].iloc[0]
    assert chosen["regular"]


def test_irregular_fit_not_chosen_over_regular():
    table = pd.DataFrame({"n_experts": [1, 2, 3], "bic": [10.0, 5.0, 1.0],
                          "regular": [True, True, False]})
    assert _choose(table, "bic") == 2
    table["regular"] = [True, True, True]
    assert _choose(table, "bic") == 3
    tie = pd.DataFrame({"n_experts": [2, 3], "bic": [5.0, 5.0],
                        "regular": [True, True]})
    assert _choose(tie, "bic") == 2
    none = pd.DataFrame({"n_experts": [2, 3], "bic": [5.0, 4.0],
                         "regular": [False, False]})
    assert _choose(none, "bic") == 3


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_experts": []}, "n_experts is empty"),
    ({"n_experts": [1, 2.5]}, "positive integers"),
    ({"n_experts": [0, 1]}, "positive integers"),
    ({"n_experts": "abc"}, "positive integers"),
    ({"n_experts": None}, "integer or a list"),
    ({"criterion": "bick"}, "criterion must be one of"),
    ({"n_experts": [1, 30]}, "use at most"),
    ({"n_init": 0}, "n_init must be a positive integer"),
    ({"random_state": 3, "n_experts": [1], "criterion": "dsc"}, "2 or more"),
])
def test_bad_input(n23_data, kwargs, message):
    X, y = n23_data
    X, y = X[:60], y[:60]
    with pytest.raises(ValueError, match=message):
        select_n_experts(X, y, **kwargs)


def test_dsc_criterion_from_one_fit(n23_data):
    X, y = n23_data
    selection = select_n_experts(X, y, range(1, 5), "dsc", random_state=0,
                                 n_init=3)
    assert list(selection.estimators_) == [4]
    assert selection.results_["n_experts"].tolist() == [2, 3, 4]
    assert selection.n_experts_ == selection.dendrogram_.n_experts_ == 2
    best = selection.best_estimator_
    assert best.n_experts == 2
    np.testing.assert_allclose(np.sort(best.expert_coef_.ravel()), [-20, 20],
                               atol=0.5)
    assert "dsc" in selection.results_ and selection.plot() is not None


def test_bootstrap_lrt_p_values():
    X, y = make_moe_regression(300, random_state=5)
    false_null = bootstrap_lrt(X, y, n_experts=1, n_boot=19, n_init=1,
                               random_state=0)
    assert false_null.p_value == pytest.approx(1 / 20)
    assert false_null.statistic > 10 * false_null.bootstrap_statistics.max()
    # the statistic needs the maximum of each fit: more than one start
    true_null = bootstrap_lrt(X, y, n_experts=2, n_boot=9, n_init=10,
                              random_state=0)
    assert true_null.bootstrap_statistics.shape == (9,)
    # under the true null the p-value is uniform, so one data set says little of
    # it; its statistic lies among the bootstrap ones, not far beyond them
    boot = true_null.bootstrap_statistics
    assert true_null.p_value == pytest.approx(
        (1 + np.sum(boot >= true_null.statistic)) / (1 + boot.size))
    assert true_null.statistic < 3 * boot.max()
    with joblib.parallel_config(backend="threading"):
        again = bootstrap_lrt(X, y, n_experts=2, n_boot=9, n_init=10,
                              random_state=0, n_jobs=2)
    np.testing.assert_array_equal(again.bootstrap_statistics,
                                  true_null.bootstrap_statistics)


def test_bootstrap_lrt_bad_input(n23_data):
    X, y = n23_data
    with pytest.raises(ValueError, match="positive integer"):
        bootstrap_lrt(X, y, n_experts=0)
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_lrt(X, y, n_experts=1, n_boot=0)


def test_wilson_interval_against_scipy():
    from gmoe.simulation._consistency import wilson_interval

    for hits, total in [(0, 20), (7, 20), (20, 20), (13, 30)]:
        ci = scipy.stats.binomtest(hits, total).proportion_ci(method="wilson")
        lower, upper = wilson_interval(hits, total)
        assert lower == pytest.approx(ci.low, abs=1e-12)
        assert upper == pytest.approx(ci.high, abs=1e-12)
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(3, 2)


def test_simulate_consistency_command(tmp_path, capsys, monkeypatch):
    from gmoe.cli import main
    from gmoe.simulation import _consistency

    monkeypatch.setitem(_consistency.CONSISTENCY_GRID, "quick", {
        "sample_sizes": (150, 200), "n_datasets": 1, "n_experts": (1, 2, 3)})
    out = tmp_path / "out"
    status = main(["simulate", "--consistency", "quick", "--no-progress", "--out",
                   str(out)])
    printed = capsys.readouterr().out
    assert status == 0
    results = pd.read_csv(out / "consistency.csv")
    assert len(results) == 4  # two truths, two sizes, one data set each
    assert set(results["truth"]) == {"n23", "three_planes"}
    summary = pd.read_csv(out / "consistency_summary.csv")
    for (truth, n, criterion), row in summary.set_index(
            ["truth", "n", "criterion"]).iterrows():
        chosen = results.loc[(results["truth"] == truth) & (results["n"] == n),
                             criterion]
        k0 = 2 if truth == "n23" else 3
        assert row["share"] == np.mean(chosen == k0)
    assert (out / "consistency.png").exists()
    assert "chose the true k" in printed
    assert main(["simulate", "--consistency", "--replications", "0"]) == 2


@pytest.mark.slow
@pytest.mark.parametrize("k0", [2, 3, 4])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_right_k_at_n5000_well_separated(k0, d):
    """BIC and DSC choose k0 on well separated truths at n = 5000 (the truths
    of benchmarks/bench_select.py: gate regions around k0 centres, expert
    intercepts 4 apart, standard deviation 0.3)."""
    from gmoe import MixingDendrogram

    if d == 1:
        centres = np.linspace(-0.7, 0.7, k0)[:, None]
    else:
        angles = 2 * np.pi * np.arange(k0) / k0
        centres = np.zeros((k0, d))
        centres[:, 0], centres[:, 1] = 0.6 * np.cos(angles), 0.6 * np.sin(angles)
    slopes = np.array([(-1) ** i * (1 + i % 2) for i in range(k0)], dtype=float)
    truth = {"gate_intercept": -6 * np.sum(centres**2, axis=1),
             "gate_coef": 12 * centres,
             "expert_intercept": 4.0 * np.arange(k0) - 2.0 * (k0 - 1),
             "expert_coef": slopes[:, None] * np.ones((k0, d)) / np.sqrt(d),
             "expert_variance": np.full(k0, 0.09)}
    X, y = make_moe_regression(5000, truth, low=-1, high=1, random_state=k0 * 10 + d)
    selection = select_n_experts(X, y, range(1, k0 + 3), random_state=0)
    assert selection.n_experts_ == k0
    tree = MixingDendrogram(selection.estimators_[k0 + 2], X, y)
    assert tree.n_experts_ == k0
