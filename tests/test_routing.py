"""Routing diagnostics against hand computations with numpy."""

import warnings

import numpy as np
import pandas as pd
import pytest

from gmoe import GaussianMoERegressor, routing_diagnostics
from gmoe.datasets import TOPK_TRUTH, make_moe_regression
from gmoe.inference._routing import routing_summary


class FixedGate:
    """A stand-in estimator with a given gate matrix: the diagnostics use only
    predict_gate and predict_responsibilities."""

    def __init__(self, gate, resp=None):
        self.gate = np.asarray(gate, dtype=float)
        self.resp = self.gate if resp is None else np.asarray(resp, dtype=float)

    def predict_gate(self, X):
        return self.gate

    def predict_responsibilities(self, X, y):
        return self.resp


def test_diagnostics_by_hand():
    gate = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.2, 0.3, 0.5],
                     [0.0, 1.0, 0.0]])
    report = routing_diagnostics(FixedGate(gate), np.zeros((4, 1)), min_load=0.2)
    load = gate.mean(axis=0)
    np.testing.assert_allclose(report.experts["load"], load)
    # top experts: 0 (tie of 0 and 1 goes to 0), 0, 2, 1
    np.testing.assert_allclose(report.experts["top_share"], [0.5, 0.25, 0.25])
    np.testing.assert_allclose(report.experts["active_share"], [0.75, 0.75, 0.25])
    ent = np.array([np.log(2), 0.0,
                    -(0.2 * np.log(0.2) + 0.3 * np.log(0.3) + 0.5 * np.log(0.5)), 0.0])
    s = report.summary
    assert s["mean_entropy"] == pytest.approx(ent.mean())
    assert s["effective_experts_sample"] == pytest.approx(np.exp(ent).mean())
    assert s["effective_experts_load"] == pytest.approx(
        np.exp(-np.sum(load * np.log(load))))
    assert s["mean_active"] == pytest.approx(7 / 4)
    np.testing.assert_array_equal(report.experts["never_used"], load < 0.2)
    assert s["n_never_used"] == 1 and not s["collapsed"]
    assert isinstance(report.experts, pd.DataFrame)
    assert "effective_experts_load" in repr(report)


def test_collapse_and_unused_flags():
    gate = np.zeros((100, 3))
    gate[:, 1] = 0.99
    gate[:, 0] = 0.01
    report = routing_diagnostics(FixedGate(gate), np.zeros((100, 1)))
    assert report.summary["collapsed"]
    np.testing.assert_array_equal(report.experts["collapsed"], [False, True, False])
    np.testing.assert_array_equal(report.experts["never_used"], [False, False, True])
    assert report.summary["effective_experts_load"] == pytest.approx(
        np.exp(-(0.01 * np.log(0.01) + 0.99 * np.log(0.99))))


def test_responsibility_column_and_bad_input():
    gate = np.array([[0.5, 0.5], [0.5, 0.5]])
    resp = np.array([[1.0, 0.0], [0.5, 0.5]])
    report = routing_diagnostics(FixedGate(gate, resp), np.zeros((2, 1)), y=[0, 0])
    np.testing.assert_allclose(report.experts["responsibility"], [0.75, 0.25])
    with pytest.raises(ValueError, match="min_load"):
        routing_diagnostics(FixedGate(gate), np.zeros((2, 1)), min_load=1.5)
    with pytest.raises(ValueError, match="collapse_share"):
        routing_diagnostics(FixedGate(gate), np.zeros((2, 1)), collapse_share=0)
    with pytest.raises(ValueError, match="predict_gate"):
        routing_diagnostics(object(), np.zeros((2, 1)))


@pytest.mark.parametrize("top_k", [None, 1, 2])
def test_diagnostics_of_fitted_gates(top_k):
    X, y = make_moe_regression(800, TOPK_TRUTH, random_state=0, top_k=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        moe = GaussianMoERegressor(4, top_k=top_k, solver="em", n_init=2,
                                   max_iter=100, random_state=0).fit(X, y)
    report = moe.routing_report(X, y)
    direct = routing_diagnostics(moe, X, y)
    pd.testing.assert_frame_equal(report.experts, direct.experts)
    gate = moe.predict_gate(X)
    np.testing.assert_allclose(report.experts["load"], gate.mean(axis=0))
    assert report.experts["load"].sum() == pytest.approx(1.0)
    assert report.experts["responsibility"].sum() == pytest.approx(1.0)
    K = 4 if top_k is None else top_k
    assert report.summary["mean_active"] <= K
    assert 1 - 1e-12 <= report.summary["effective_experts_sample"] <= K + 1e-12
    if top_k == 1:
        assert report.summary["mean_entropy"] == 0.0
    columns = routing_summary(moe, X)
    assert columns["routing_max_load"] == pytest.approx(gate.mean(axis=0).max())
