"""Rate studies: validation, seeds, reproducibility, cache, resumption, workers."""

import json

import numpy as np
import pandas as pd
import pytest

from gmoe import MixingMeasure, voronoi_loss
from gmoe.datasets import N23_TRUTH, draw_covariates, draw_response
from gmoe.simulation import (
    NEAR_TRUTH_NOISE,
    TIMING_COLUMNS,
    _study,
    check_study,
    draw_replication,
    fit_seed_sequence,
    loss_columns,
    near_truth_start,
    run_rate_study,
    sample_size_grid,
)

SMALL = dict(n_experts=(2, 3), sample_sizes=(200, 400), n_replications=2)
LOSS_OPTIONS = {"losses": ("D1", "D2"), "translation": "reference", "metric": "l1",
                "rbar": None}


def without_timing(frame):
    return frame.drop(columns=list(TIMING_COLUMNS)).reset_index(drop=True)


def assert_same_fits(frame, expected):
    """Equal tables, bit for bit, apart from the timing columns."""
    pd.testing.assert_frame_equal(without_timing(frame), without_timing(expected),
                                  check_exact=True)


@pytest.fixture(scope="module")
def reference_study():
    """The small study, run once serially without a cache."""
    return run_rate_study(N23_TRUTH, **SMALL, random_state=11, progress=False)


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("change, message", [
    (dict(n_experts=0), "n_experts must be integers >= 1"),
    (dict(n_experts=[2, 2]), "duplicates"),
    (dict(sample_sizes=[-5, 100]), "at least the number of experts"),
    (dict(sample_sizes=[100, 100]), "duplicates"),
    (dict(sample_sizes=[100.5]), "whole numbers"),
    (dict(sample_sizes=[]), "non-empty"),
    (dict(n_replications=0), "n_replications"),
    (dict(random_state=-1), "random_state"),
    (dict(random_state=1.5), "random_state"),
    (dict(design="sobol"), "design"),
    (dict(init="truth"), "init must be one of"),
    (dict(n_experts=1), "n_experts >= k0 = 2"),
    (dict(n_init=0), "n_init"),
    (dict(tol=-1.0), "bad EM option"),
    (dict(estimator_params={"n_experts": 4}), "does not pass on"),
    (dict(estimator_params={"reg_variance": -1.0}), "bad EM option"),
    (dict(near_truth_noise={"gate": 1.0}), "unknown keys"),
    (dict(losses=["D3"]), "losses"),
    (dict(translation="median"), "translation"),
    (dict(metric="l7"), "metric"),
    (dict(rbar={"two": 4}), "rbar"),
])
def test_bad_study_fails_before_any_fit(monkeypatch, change, message):
    def no_fit(*args, **kwargs):
        raise AssertionError("a fit ran")

    monkeypatch.setattr(_study, "_fit_task", no_fit)
    arguments = dict(SMALL, random_state=0)
    arguments.update(change)
    with pytest.raises(ValueError, match=message):
        run_rate_study(N23_TRUTH, **arguments, progress=False)


def test_truth_with_wrong_shapes_is_refused():
    bad = dict(N23_TRUTH, expert_coef=np.array([-20.0, 20.0]))
    with pytest.raises(ValueError, match="expert_coef"):
        check_study(bad, 3, [100], 1, random_state=0)
    with pytest.raises(ValueError, match="missing"):
        check_study({"gate_coef": [[0.0]]}, 3, [100], 1, random_state=0)
    with pytest.raises(ValueError, match="variance"):
        check_study(dict(N23_TRUTH, expert_variance=[0.1, -0.1]), 3, [100], 1,
                    random_state=0)
    with pytest.raises(TypeError, match="MixingMeasure or a dict"):
        check_study([1, 2], 3, [100], 1, random_state=0)


def test_truth_is_put_in_reference_form():
    shifted = MixingMeasure.from_params(**N23_TRUTH).translated(1.5, [2.0])
    spec = check_study(shifted, 3, [100], 1, random_state=0)
    for name in ("gate_intercept", "gate_coef"):
        np.testing.assert_allclose(spec["truth"][name], N23_TRUTH[name])


def test_sample_size_grid():
    assert sample_size_grid(1000, 100000, 3).tolist() == [1000, 10000, 100000]
    assert sample_size_grid(10, 20, 3, spacing="linear").tolist() == [10, 15, 20]
    with pytest.raises(ValueError, match="not distinct"):
        sample_size_grid(10, 12, 5)


# ----------------------------------------------------------------------- seeds
def test_data_come_from_the_seed_sequence_of_n_and_replication():
    X, y = draw_replication(N23_TRUTH, 300, 2, random_state=5)
    data_seq, _ = np.random.SeedSequence(5, spawn_key=(300, 2)).spawn(2)
    rng = np.random.default_rng(data_seq)
    X_ref = draw_covariates(300, 1, random_state=rng)
    y_ref, _ = draw_response(N23_TRUTH, X_ref, rng)
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)
    assert fit_seed_sequence(5, 300, 2).spawn_key == (300, 2)
    other_rep = draw_replication(N23_TRUTH, 300, 3, random_state=5)[1]
    other_seed = draw_replication(N23_TRUTH, 300, 2, random_state=6)[1]
    assert not np.array_equal(y, other_rep) and not np.array_equal(y, other_seed)
    X_grid, _ = draw_replication(N23_TRUTH, 5, 0, random_state=5, design="grid")
    np.testing.assert_allclose(X_grid.ravel(), [0, 0.25, 0.5, 0.75, 1])


def test_near_truth_start_follows_the_recipe():
    truth = {name: np.asarray(value, dtype=float) for name, value in N23_TRUTH.items()}
    silent = dict.fromkeys(("gate_sd", "expert_sd", "variance_sd"), 0.0)
    for seed in range(20):
        start = near_truth_start(truth, 4, 1000, seed, noise=silent)
        # Every fitted expert is a copy of a true one, the last one the reference,
        # and every true expert is used.
        assignment = [int(np.flatnonzero(truth["expert_intercept"] == b)[0])
                      for b in start["expert_intercept"]]
        assert assignment[-1] == 1 and set(assignment) == {0, 1}
        for name in ("gate_coef", "expert_coef", "expert_variance", "gate_intercept"):
            np.testing.assert_array_equal(start[name], truth[name][assignment])
    # The noise has the documented scale: sd * n**power.
    n = 5000
    draws = np.array([near_truth_start(truth, 2, n, seed)["expert_intercept"]
                      for seed in range(2000)]) - truth["expert_intercept"]
    expected = NEAR_TRUTH_NOISE["expert_sd"] * n ** NEAR_TRUTH_NOISE["expert_power"]
    assert draws.std() == pytest.approx(expected, rel=0.05)
    gates = np.array([near_truth_start(truth, 2, n, seed)["gate_coef"][:, 0]
                      for seed in range(2000)])
    assert np.all(gates[:, 1] == 0.0)  # no noise on the reference
    expected = NEAR_TRUTH_NOISE["gate_sd"] * n ** NEAR_TRUTH_NOISE["gate_power"]
    assert (gates[:, 0] - 25.0).std() == pytest.approx(expected, rel=0.05)
    variances = np.array([near_truth_start(truth, 2, n, seed)["expert_variance"]
                          for seed in range(2000)]) - truth["expert_variance"]
    expected = NEAR_TRUTH_NOISE["variance_sd"] * n ** NEAR_TRUTH_NOISE["variance_power"]
    assert np.all(variances >= 0)
    # E|N(0, s^2)| = s sqrt(2 / pi)
    assert variances.mean() == pytest.approx(expected * np.sqrt(2 / np.pi), rel=0.05)
    with pytest.raises(ValueError, match="k0 = 2"):
        near_truth_start(truth, 1, 100, 0)


# ---------------------------------------------------------------------- losses
def test_loss_columns_of_a_split_atom_by_hand():
    truth = MixingMeasure.from_params(**N23_TRUTH).to_params()
    # Atom 2 (the reference) split in two with equal weights; one copy's intercept
    # is off by 0.1 and the other's variance by 0.02.
    fitted = {name: np.concatenate([value, value[1:]]) for name, value in truth.items()}
    fitted["gate_intercept"] = np.array([-8.0, np.log(0.5), np.log(0.5)])
    fitted["expert_intercept"] = fitted["expert_intercept"] + [0.0, 0.1, 0.0]
    fitted["expert_variance"] = fitted["expert_variance"] + [0.0, 0.0, 0.02]
    columns = loss_columns(fitted, truth, LOSS_OPTIONS)
    assert columns["cell_size_1"] == 1 and columns["cell_size_2"] == 2
    assert columns["n_empty_cells"] == 0
    assert columns["err_expert_intercept_M2"] == pytest.approx(0.1)
    assert columns["err_expert_variance_M2"] == pytest.approx(0.02)
    assert columns["err_expert_intercept_M1"] == 0.0
    assert np.isnan(columns["err_gate_coef_M3"])
    # Weights: the copies sum to the true reference weight 1 ("reference" form
    # divides by the last fitted weight 0.5, so the sum is 2 and the error 1).
    assert columns["err_weight_M2"] == pytest.approx(1.0)
    # The losses are those of gmoe.voronoi_loss.
    for kind in ("D1", "D2"):
        expected = voronoi_loss(MixingMeasure.from_params(**fitted),
                                MixingMeasure.from_params(**truth), kind,
                                translation="reference")
        assert columns[kind] == pytest.approx(expected)
    # By hand, in the reference form (weights divided by the last fitted one, 0.5):
    # cell 2 holds two atoms of weight 1, with rbar(2) = 4 terms 0.1^4 and
    # 0.02^(4/2), and the weight term |2 - 1|; cell 1 holds an exact atom of
    # weight exp(-8) / 0.5 against the true exp(-8): weight term exp(-8).
    expected_d2 = 0.1**4 + 0.02**2 + 1.0 + np.exp(-8)
    assert columns["D2"] == pytest.approx(expected_d2)
    assert columns["err_weight_M1"] == pytest.approx(np.exp(-8))


# ------------------------------------------------------------------------ runs
def test_results_table(reference_study):
    frame = reference_study
    assert len(frame) == 8
    assert frame[["k", "n", "replication"]].values.tolist() == [
        [k, n, r] for k in (2, 3) for n in (200, 400) for r in (0, 1)]
    assert (frame["seed"] == 11).all()
    assert (frame["error"] == "").all()
    assert frame["D1"].gt(0).all() and frame["D2"].gt(0).all()
    for column in ("log_likelihood", "n_iter", "converged", "fit_time", "params",
                   "err_gate_coef_M1", "err_expert_variance_M2", "cell_size_2"):
        assert column in frame
    # Exact fits have one atom per cell: D1 == D2 and no M2 errors.
    exact = frame[frame["k"] == 2]
    np.testing.assert_allclose(exact["D1"], exact["D2"])
    assert exact["err_expert_coef_M2"].isna().all()
    # Recompute one row by hand: its data, its fit, its losses.
    row = frame[(frame["k"] == 3) & (frame["n"] == 400) & (frame["replication"] == 1)]
    params = {name: np.asarray(value)
              for name, value in json.loads(row["params"].iloc[0]).items()}
    X, y = draw_replication(N23_TRUTH, 400, 1, random_state=11)
    G = MixingMeasure.from_params(**params)
    assert G.log_density(X, y).sum() == pytest.approx(row["log_likelihood"].iloc[0])
    G_true = MixingMeasure.from_params(**N23_TRUTH)
    assert voronoi_loss(G, G_true, "D2") == pytest.approx(row["D2"].iloc[0])


def test_identical_with_one_or_two_workers_and_in_any_order(reference_study):
    parallel = run_rate_study(N23_TRUTH, **SMALL, random_state=11, n_jobs=2,
                              progress=False)
    assert_same_fits(parallel, reference_study)
    # Sizes and numbers of experts given in another order, one size at a time.
    parts = [run_rate_study(N23_TRUTH, (3, 2), [n], 2, random_state=11, progress=False)
             for n in (400, 200)]
    combined = pd.concat(parts).sort_values(["k", "n", "replication"])
    assert_same_fits(combined, reference_study)


def test_interrupted_study_resumes_to_the_same_results(tmp_path, monkeypatch,
                                                       reference_study):
    real_task = _study._fit_task
    calls = []

    def interrupted(*args, **kwargs):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(args[1:4])
        return real_task(*args, **kwargs)

    monkeypatch.setattr(_study, "_fit_task", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_rate_study(N23_TRUTH, **SMALL, random_state=11, cache=tmp_path,
                       progress=False)
    cached = list(tmp_path.glob("*/k*/*.json"))
    assert len(cached) == 3
    assert not list(tmp_path.glob("*/k*/.tmp-*"))

    resumed_calls = []

    def counting(*args, **kwargs):
        resumed_calls.append(args[1:4])
        return real_task(*args, **kwargs)

    monkeypatch.setattr(_study, "_fit_task", counting)
    resumed = run_rate_study(N23_TRUTH, **SMALL, random_state=11, cache=tmp_path,
                             progress=False)
    assert len(resumed_calls) == 5
    assert not set(resumed_calls) & set(calls)
    assert resumed.attrs["n_cached"] == 3
    assert_same_fits(resumed, reference_study)
    # A third run fits nothing.
    resumed_calls.clear()
    again = run_rate_study(N23_TRUTH, **SMALL, random_state=11, cache=tmp_path,
                           progress=False)
    assert resumed_calls == []
    pd.testing.assert_frame_equal(again, resumed)


def test_cache_key_separates_studies_and_losses_are_remeasured(tmp_path, monkeypatch):
    arguments = dict(n_experts=3, sample_sizes=[200], n_replications=1, progress=False,
                     cache=tmp_path)
    first = run_rate_study(N23_TRUTH, **arguments, random_state=1)
    calls = []
    real_task = _study._fit_task

    def counting(*args, **kwargs):
        calls.append(args[1:4])
        return real_task(*args, **kwargs)

    monkeypatch.setattr(_study, "_fit_task", counting)
    # Anything that changes a fit gets its own folder: a new fit.
    for change in (dict(random_state=2), dict(random_state=1, tol=1e-7),
                   dict(random_state=1, n_init=2), dict(random_state=1, design="grid")):
        run_rate_study(N23_TRUTH, **arguments, **change)
    truth = dict(N23_TRUTH, expert_variance=np.array([0.09, 0.17]))
    run_rate_study(truth, **arguments, random_state=1)
    assert len(calls) == 5
    assert len(list(tmp_path.iterdir())) == 6
    # Loss options are not part of the key: the cached fit is re-measured.
    calls.clear()
    reference = run_rate_study(N23_TRUTH, **arguments, random_state=1,
                               translation="reference", losses=["D2"])
    assert calls == []
    assert "D1" not in reference
    params = {name: np.asarray(value)
              for name, value in json.loads(reference["params"].iloc[0]).items()}
    expected = voronoi_loss(MixingMeasure.from_params(**params),
                            MixingMeasure.from_params(**N23_TRUTH), "D2",
                            translation="reference")
    assert reference["D2"].iloc[0] == pytest.approx(expected)
    assert first["params"].iloc[0] == reference["params"].iloc[0]


def test_a_failing_fit_is_recorded_and_the_study_goes_on(tmp_path, monkeypatch):
    real_fit = _study._fit

    def flaky(X, y, k, n, *args):
        if n == 300:
            raise np.linalg.LinAlgError("singular matrix in a test")
        return real_fit(X, y, k, n, *args)

    monkeypatch.setattr(_study, "_fit", flaky)
    arguments = dict(n_experts=2, sample_sizes=[200, 300], n_replications=2,
                     random_state=3, cache=tmp_path, progress=False)
    frame = run_rate_study(N23_TRUTH, **arguments)
    failed = frame[frame["n"] == 300]
    assert (failed["error"] == "LinAlgError: singular matrix in a test").all()
    assert failed["D2"].isna().all()
    assert (frame.loc[frame["n"] == 200, "error"] == "").all()
    monkeypatch.setattr(_study, "_fit", real_fit)
    # The failures are cached; retry_failed refits them.
    again = run_rate_study(N23_TRUTH, **arguments)
    assert (again.loc[again["n"] == 300, "error"] != "").all()
    retried = run_rate_study(N23_TRUTH, **arguments, retry_failed=True)
    assert (retried["error"] == "").all()


def test_kmeans_starts_and_a_study_seed_of_none():
    frame = run_rate_study(N23_TRUTH, 2, [300], 2, random_state=None, init="kmeans",
                           n_init=2, progress=False)
    assert (frame["error"] == "").all()
    assert frame["seed"].nunique() == 1
    seed = int(frame["seed"].iloc[0])
    again = run_rate_study(N23_TRUTH, 2, [300], 2, random_state=seed, init="kmeans",
                           n_init=2, progress=False)
    pd.testing.assert_frame_equal(without_timing(frame), without_timing(again))


def test_progress_bar_only_when_asked(capsys):
    run_rate_study(N23_TRUTH, 2, [200], 1, random_state=0, progress=False)
    assert capsys.readouterr().err == ""
    run_rate_study(N23_TRUTH, 2, [200], 1, random_state=0, progress=True)
    err = capsys.readouterr().err
    assert "rate study" in err and "1/1" in err
    # Not a terminal (pytest captures stderr): progress=None stays silent.
    run_rate_study(N23_TRUTH, 2, [200], 1, random_state=0)
    assert capsys.readouterr().err == ""


def test_dask_cluster_gives_the_same_results(reference_study):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        frame = run_rate_study(N23_TRUTH, **SMALL, random_state=11, client=client,
                               progress=False)
    assert_same_fits(frame, reference_study)


def test_remeasure_recomputes_cached_losses_from_the_parameters(tmp_path):
    arguments = dict(n_experts=3, sample_sizes=[200], n_replications=1, progress=False,
                     cache=tmp_path, random_state=5)
    first = run_rate_study(N23_TRUTH, **arguments)
    # corrupt the cached loss, as an older loss code would have left it
    (path,) = tmp_path.glob("*/k3/*.json")
    record = json.loads(path.read_text())
    record["D2"] = 123.0
    path.write_text(json.dumps(record))
    assert run_rate_study(N23_TRUTH, **arguments)["D2"].iloc[0] == 123.0
    again = run_rate_study(N23_TRUTH, **arguments, remeasure=True)
    assert again["D2"].iloc[0] == pytest.approx(first["D2"].iloc[0])


# ------------------------------------------------------------ other dense gates
_EXPERTS = {name: N23_TRUTH[name] for name in
            ("expert_intercept", "expert_coef", "expert_variance")}
GATED_TRUTHS = {
    "constant": MixingMeasure(gate="constant", gate_intercept=[0.7, 0.0], **_EXPERTS),
    "cosine": MixingMeasure(gate={"name": "cosine", "perturbation": 0.1},
                            gate_intercept=[-1.4, 0.0], gate_coef=[[1.0], [-1.0]],
                            **_EXPERTS),
}
TINY = dict(n_experts=2, sample_sizes=(150, 300), n_replications=2, max_iter=50)


@pytest.fixture(scope="module", params=sorted(GATED_TRUTHS))
def gated_study(request):
    truth = GATED_TRUTHS[request.param]
    return truth, run_rate_study(truth, **TINY, random_state=5, progress=False)


def test_gated_truth_study_gives_finite_losses_with_its_gate(gated_study):
    truth, results = gated_study
    assert (results["error"] == "").all()
    assert np.all(np.isfinite(results[["D1", "D2"]].to_numpy()))
    assert (results["D1"] > 0).all()
    assert results.attrs["study"]["fit"]["estimator_params"]["gate"] == \
        truth.to_dict()["gate"]
    # The stored fits are the truth's gate's parameters, and the losses are those
    # of that gate's measure.
    for row in results.itertuples():
        params = json.loads(row.params)
        assert set(params) == set(truth.to_params())
        fitted = MixingMeasure(gate=truth.gate, **params)
        assert voronoi_loss(fitted, truth, "D1") == pytest.approx(row.D1, rel=1e-12)


def test_gated_truth_study_identical_with_one_or_two_workers(gated_study):
    truth, serial = gated_study
    parallel = run_rate_study(truth, **TINY, random_state=5, n_jobs=2,
                              progress=False)
    assert_same_fits(parallel, serial)


def test_gated_truth_data_come_from_the_measure():
    truth = GATED_TRUTHS["cosine"]
    X, y = draw_replication(truth, 500, 1, random_state=3)
    data_seq, _ = fit_seed_sequence(3, 500, 1).spawn(2)
    X2, y2 = truth.sample(500, random_state=np.random.default_rng(data_seq))
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    # ... not from the softmax gate of the same arrays
    softmax = MixingMeasure(**truth.to_params())
    _, y3 = softmax.sample(500, random_state=np.random.default_rng(data_seq))
    assert not np.array_equal(y, y3)


@pytest.mark.parametrize("name", sorted(GATED_TRUTHS))
def test_near_truth_start_without_noise_is_the_truth(name):
    truth = GATED_TRUTHS[name]
    silent = {key: 0.0 for key in NEAR_TRUTH_NOISE if key.endswith("_sd")}
    start = near_truth_start(truth, 2, 1000, 0, noise=silent)
    assert set(start) == set(truth.to_params())
    measure = MixingMeasure(gate=truth.gate, **start)
    assert voronoi_loss(measure, truth, "D1") == 0.0
    assert loss_columns(start, truth, LOSS_OPTIONS, truth.gate)["D2"] == 0.0
    noisy = near_truth_start(truth, 2, 1000, 0)
    assert voronoi_loss(MixingMeasure(gate=truth.gate, **noisy), truth, "D1") > 0


def test_near_truth_start_noises_a_reference_without_gauge():
    # The normalised sigmoid gate has no gauge: the last expert's gate is free.
    truth = MixingMeasure(gate="sigmoid", **N23_TRUTH)
    starts = [near_truth_start(truth, 2, 1000, seed) for seed in range(20)]
    last = np.array([start["gate_coef"][-1, 0] for start in starts])
    assert np.std(last) > 0
    softmax = [near_truth_start(N23_TRUTH, 2, 1000, seed) for seed in range(5)]
    assert all(start["gate_coef"][-1, 0] == 0.0 for start in softmax)


def test_fitted_gate_must_be_the_truths():
    truth = GATED_TRUTHS["cosine"]
    with pytest.raises(ValueError, match="differs from the truth's gate"):
        check_study(truth, 2, [100], 1, random_state=0,
                    estimator_params={"gate": "softmax"})
    with pytest.raises(ValueError, match="truth_top_k"):
        check_study(truth, 2, [100], 1, random_state=0, truth_top_k=1)
    spec = check_study(truth, 2, [100], 1, random_state=0)
    assert spec["fit"]["truth_gate"] == {"name": "cosine", "perturbation": 0.1}
    # a softmax study's description (and so its cache key) has no gate entry
    assert "truth_gate" not in check_study(N23_TRUTH, 2, [100], 1,
                                           random_state=0)["fit"]
