"""Smoke test of the paper-figure pipeline on its quick preset."""

import pytest

from paper_figures import _common, compute, redraw
from paper_figures import fig6_regimes as fig6
from paper_figures import shared as shared_study


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    for name in ("RESULTS", "FIGURES", "CACHE"):
        monkeypatch.setattr(_common, name, tmp_path / name.lower())
    return tmp_path


def test_quick_pipeline_computes_and_draws_every_figure(workspace):
    compute.main(["--quick", "--jobs", "1"])
    for name in _common.STUDIES:
        results = _common.load(name, quick=True)
        assert {"n", "replication", "D1", "D2", "D2_reference"} <= set(results.columns)
        assert (results["error"].isna().all()
                or (results["error"].fillna("") == "").all())
    gates = _common.load("gates", quick=True)
    assert set(gates["gate"]) == set(_common.GATE_TRUTHS)
    assert gates["error"].isna().all() or (gates["error"].fillna("") == "").all()
    assert gates["D1"].notna().all() and (gates["D1"] > 0).all()
    assert len(gates) == len(_common.GATE_TRUTHS) * len(
        _common.GATE_SIZES["quick"]) * _common.GATE_PRESETS["quick"]["n_replications"]
    topk = _common.load("topk", quick=True)
    assert set(topk["regime"]) == set(_common.TOPK_REGIMES)
    assert topk["error"].isna().all() or (topk["error"].fillna("") == "").all()
    for regime, (k, top_k, loss) in _common.TOPK_REGIMES.items():
        rows = topk[topk["regime"] == regime]
        assert (rows["k"] == k).all() and (rows["top_k"] == top_k).all()
        assert rows[loss].notna().all() and (rows[loss] > 0).all()
        assert (rows["routing_mean_active"] <= top_k + 1e-12).all()
        assert len(rows) == len(_common.TOPK_SIZES["quick"]) * _common.TOPK_PRESETS[
            "quick"]["n_replications"]
    # Both regimes cover the same grid (so, by the seeding, the same data sets).
    pairs = {regime: set(zip(rows["n"], rows["replication"], strict=True))
             for regime, rows in topk.groupby("regime")}
    assert pairs["exact"] == pairs["over"]
    balance = _common.load("balance", quick=True)
    assert balance["converged"].all() and balance["D1"].notna().all()
    for _, rows in balance.groupby(["case", "replication"]):
        rows = rows.sort_values("alpha")
        # the strongest penalty balances the loads far better than none
        assert rows["kl_uniform"].iloc[-1] < 0.1 * rows["kl_uniform"].iloc[0]
        assert rows["effective_experts"].iloc[-1] > rows["effective_experts"].iloc[0]
    shared = _common.load("shared", quick=True)
    assert (shared["error"].astype(object).fillna("") == "").all()
    assert shared["converged"].all()
    # every fit of the shared and routed model reaches the truth's likelihood
    assert (shared["log_likelihood"] >= shared["truth_log_likelihood"]).all()
    for regime, (_, _, losses, _) in shared_study.REGIMES.items():
        rows = shared[shared["regime"] == regime]
        assert rows[list(losses)].notna().all().all()
    redraw.main(["--quick"])
    for script in redraw.SCRIPTS:
        assert (workspace / "figures" / f"{script}_quick.png").stat().st_size > 10_000
    summary = (workspace / "results" / "summary_quick.md").read_text()
    assert summary.count("| fig") >= 6
    assert summary.count("| fig6_regimes |") == 16  # 4 regimes, 2 k, mean and median
    # Mean and median D1 of every gate.
    assert summary.count("| fig9_gates |") == 2 * len(_common.GATE_TRUTHS)
    # Mean and median per regime, the five error groups of the exact fit, and the
    # mean and median boundary shift.
    assert summary.count("| fig10_topk |") == 2 * len(_common.TOPK_REGIMES) + 5 + 2
    # the median slope of every loss, and the mean slope of the softmax regimes'
    assert summary.count("| fig12_shared |") == sum(
        len(losses) * (2 if gate == "softmax" else 1)
        for gate, _, losses, _ in shared_study.REGIMES.values())
    assert "| certified |" in (workspace / "results" / "topk_quick.md").read_text()
    norms = (workspace / "results" / "gradient_norms_quick.csv").read_text()
    # Every fit of the four regimes: the EM regimes on the "over" grid, the MLE
    # regimes on the longer "large" grid; k = 3 and 4; 3 replications.
    n_sizes = [len(_common.SIZES["quick"][_common.STUDIES[name][0]])
               for name, _ in _common.REGIMES]
    assert n_sizes == [4, 4, 5, 5]
    assert len(norms.splitlines()) == 1 + sum(n_sizes) * 2 * 3
    regimes = (workspace / "results" / "regimes_quick.md").read_text()
    rows = [line[:6] for line in regimes.splitlines()]
    per_k = len(_common.REGIMES) + len(fig6.MLE_REGIMES) * len(fig6.WINDOWS)
    assert rows.count("| 3 | ") == per_k and rows.count("| 4 | ") == per_k
    assert "nan" not in regimes


def test_boundary_shift_is_the_area_between_the_lines():
    import numpy as np

    from gmoe.datasets import TOPK_TRUTH
    from paper_figures.fig10_topk import _abs_integral, boundary_shift

    # The integral of |a + b t| on [0, 1] against a fine midpoint rule.
    t = (np.arange(200_000) + 0.5) / 200_000
    for a, b in [(0.3, -1.0), (-0.2, 0.1), (0.0, 1.0), (0.5, 0.5), (0.1, 0.0)]:
        assert abs(_abs_integral(a, b) - np.mean(np.abs(a + b * t))) < 1e-8
    assert boundary_shift(TOPK_TRUTH) == 0.0
    params = {key: np.array(value, float) for key, value in TOPK_TRUTH.items()}
    # Expert 1's score minus expert 3's is 12 (x_1 - 0.5): lowering expert 1's
    # intercept by 0.12 moves that boundary to x_1 = 0.51 (area 0.01 of one of
    # the two boundaries); tilting expert 2 turns the other about (0.5, 0.5).
    params["gate_intercept"][0] -= 0.12
    assert abs(boundary_shift(params) - 0.005) < 1e-12
    params["gate_coef"][1] += [1.2, 0.0]
    params["gate_intercept"][1] -= 0.6
    # x_2 - 0.5 = -0.1 (x_1 - 0.5): area 2 * 0.1 * 0.5 ** 2 / 2 = 0.025.
    assert abs(boundary_shift(params) - (0.01 + 0.025) / 2) < 1e-12
    # The same fit with its experts in another order and another reference.
    order = [2, 0, 3, 1]
    moved = {key: value[order] for key, value in params.items()}
    moved["gate_intercept"] -= moved["gate_intercept"][-1]
    moved["gate_coef"] -= moved["gate_coef"][-1]
    assert abs(boundary_shift(moved) - boundary_shift(params)) < 1e-12
