"""Smoke test of the paper-figure pipeline on its quick preset."""

import pytest

from paper_figures import _common, compute, redraw


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
    redraw.main(["--quick"])
    for script in redraw.SCRIPTS:
        assert (workspace / "figures" / f"{script}_quick.png").stat().st_size > 10_000
    summary = (workspace / "results" / "summary_quick.md").read_text()
    assert summary.count("| fig") >= 6
    assert summary.count("| fig6_regimes |") == 16  # 4 regimes, 2 k, mean and median
    # Mean and median D1 of every gate.
    assert summary.count("| fig9_gates |") == 2 * len(_common.GATE_TRUTHS)
    # Mean and median per regime, and the five error groups of the exact fit.
    assert summary.count("| fig10_topk |") == 2 * len(_common.TOPK_REGIMES) + 5
    assert "| certified |" in (workspace / "results" / "topk_quick.md").read_text()
    norms = (workspace / "results" / "gradient_norms_quick.csv").read_text()
    assert len(norms.splitlines()) == 1 + 4 * 2 * 4 * 3  # regimes, k, sizes, reps
    regimes = (workspace / "results" / "regimes_quick.md").read_text()
    rows = [line[:6] for line in regimes.splitlines()]
    assert rows.count("| 3 | ") == 4 and rows.count("| 4 | ") == 4
