"""The pieces of a sparse gate's likelihood: the compiled selections, the
boundaries of the selections, and the certificate of a piecewise fit."""

import naive
import numpy as np
import pytest

from gmoe.engine._pieces import kkt_residual
from gmoe.gates import TopK, TopP
from gmoe.kernels._scores import loglik_from_scores
from gmoe.kernels._sources import linear_source

SPARSE = [TopK(1), TopK(2), TopK(3), TopP(0.5), TopP(0.8), TopP(0.99)]


@pytest.mark.parametrize("gate", SPARSE, ids=repr)
def test_compiled_selection_matches_the_gate(gate):
    # the kernels' selection (top-K, top-P) against the gate's numpy one: the
    # log-likelihood of the selected softmax, by plain numpy
    rng = np.random.default_rng(0)
    n, k, d = 3000, 4, 2
    Z = rng.normal(size=(n, d))
    Zt = np.column_stack([np.ones(n), Z])
    blocks = rng.normal(size=(k, d + 1))
    Xt = np.column_stack([np.ones(n), rng.normal(size=n)])
    y, w = rng.normal(size=n), rng.uniform(0.5, 2.0, n)
    coef, var = rng.normal(size=(k, 2)), rng.uniform(0.5, 2.0, k)
    S = Zt @ blocks.T
    keep = gate.active(S)
    if isinstance(gate, TopP):
        np.testing.assert_array_equal(keep, naive.top_p_keep(S, gate.p))
    s = np.where(keep, S, -np.inf)
    log_pi = s - np.logaddexp.reduce(s, axis=1, keepdims=True)
    resid = y[:, None] - Xt @ coef.T
    log_norm = -0.5 * (np.log(2 * np.pi * var) + resid**2 / var)
    expected = w @ np.logaddexp.reduce(log_pi + log_norm, axis=1)
    got = loglik_from_scores(linear_source(Zt, blocks, "identity", gate.selection()),
                             Xt, y, w, coef, var)
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("gate", SPARSE, ids=repr)
def test_boundary_margin_gradient_and_the_selection_across(gate):
    # the margin's gradient against finite differences; moving the scores
    # along it changes the selection within about the margin (to first order)
    # and, for top-K (one kind of boundary), to the selection announced
    rng = np.random.default_rng(1)
    S = rng.normal(size=(40, 4))
    margin, dmargin, other = gate.boundary(S)
    assert np.all(margin >= 0)
    keep = gate.active(S)
    eps = 1e-7
    for n in range(len(S)):
        if not np.isfinite(margin[n]):
            continue
        numeric = [(gate.boundary(S[n:n + 1] + eps * np.eye(4)[j])[0][0] - margin[n])
                   / eps for j in range(4)]
        np.testing.assert_allclose(numeric, dmargin[n], atol=1e-5)
        step = dmargin[n] / (dmargin[n] @ dmargin[n])
        for t in np.linspace(0.0, 3.0 * margin[n], 3001)[1:]:
            moved = gate.active((S[n] - t * step)[None])[0]
            if np.any(moved != keep[n]):
                break
        assert np.any(moved != keep[n])
        if isinstance(gate, TopK):
            np.testing.assert_array_equal(moved, other[n])


def test_kkt_residual_removes_only_outward_gradients():
    rows = np.array([[1.0, 0.0]])
    # gradient pushing across the held margin (decreasing it): removed
    residual, lam = kkt_residual(np.array([-2.0, 0.5]), rows)
    np.testing.assert_allclose(residual, [0.0, 0.5])
    assert lam[0] == pytest.approx(2.0)
    # gradient pulling inside: kept whole, multiplier zero
    residual, lam = kkt_residual(np.array([2.0, 0.5]), rows)
    np.testing.assert_allclose(residual, [2.0, 0.5])
    assert lam[0] == 0.0
