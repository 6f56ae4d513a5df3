"""What the model-level tools do with each gate family: the sweep over k works
for every gate; merging refuses the gates it does not cover."""

import warnings

import numpy as np
import pytest

import gmoe
from gmoe.datasets import make_moe_regression


@pytest.fixture(scope="module")
def data():
    return make_moe_regression(400, random_state=3)


def _fit(X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gmoe.GaussianMoERegressor(3, n_init=2, random_state=0,
                                         **params).fit(X, y)


@pytest.mark.parametrize("params", [{"top_k": 2}, {"gate": "gaussian"},
                                    {"gate": "gaussian", "likelihood": "joint"}],
                         ids=["top_k", "gaussian", "gaussian-joint"])
def test_inference_and_merging_refuse_other_gates(data, params):
    X, y = data
    moe = _fit(X, y, **params)
    before = moe.expert_variance_.copy()
    # inference covers every gate, by the likelihood it was fitted by (this
    # 3-expert fit of 2-expert data is over-fitted: warned about); merging only
    # the dense gates of the conditional likelihood
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gmoe.InferenceWarning)
        table = moe.summary(X, y)
    assert table.attrs["n_experts"] == 3 and table.attrs["gate"] == repr(moe.gate_)
    with pytest.raises(ValueError, match="dense gates of gmoe.gates|conditional"):
        gmoe.merge(moe, 2)
    with pytest.raises(ValueError, match="dense gates of gmoe.gates|conditional"):
        gmoe.dendrogram(moe, X, y)
    np.testing.assert_array_equal(moe.expert_variance_, before)


def test_top_k_sweep_uses_the_dense_gate_below_k(data):
    X, y = data
    selection = gmoe.select_n_experts(X, y, n_experts=[1, 2, 3], top_k=2, n_init=2,
                                      random_state=0)
    fitted = selection.estimators_
    assert fitted[1].top_k_ is None and fitted[2].top_k_ is None
    assert fitted[3].top_k_ == 2
    # k = 2 with top_k clipped to 2 is the dense fit with the same seed
    dense = gmoe.select_n_experts(X, y, n_experts=[1, 2, 3], n_init=2,
                                  random_state=0).estimators_[2]
    np.testing.assert_allclose(fitted[2].log_likelihood_, dense.log_likelihood_)


def test_gaussian_gate_sweep_counts_its_parameters(data):
    X, y = data
    selection = gmoe.select_n_experts(X, y, n_experts=[1, 2], gate="gaussian",
                                      n_init=2, random_state=0)
    table = selection.results_.set_index("n_experts")
    for k in (1, 2):
        moe = selection.estimators_[k]
        assert table.loc[k, "n_parameters"] == moe.n_parameters()
        expected = -2 * moe.log_likelihood_ + moe.n_parameters() * np.log(len(y))
        np.testing.assert_allclose(table.loc[k, "bic"], expected)


@pytest.mark.parametrize("params", [{"gate": gmoe.gates.Gaussian()},
                                    {"gate": "gaussian"},
                                    {"gate": gmoe.gates.TopK(2)}, {"top_k": 2}],
                         ids=["gaussian-object", "gaussian", "TopK", "top_k"])
def test_dsc_refuses_gates_without_merges_before_any_fit(data, params, monkeypatch):
    X, y = data
    import gmoe.selection._selection as selection

    def no_fit(*args, **kwargs):
        raise AssertionError("a fit ran before the refusal")

    monkeypatch.setattr(selection, "_sweep_row", no_fit)
    with pytest.raises(ValueError, match="no such measure"):
        gmoe.select_n_experts(X, y, [2, 3], criterion="dsc", **params)
