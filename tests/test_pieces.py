"""The pieces of a sparse gate's likelihood: the compiled selections, the
boundaries of the selections, and the certificate of a piecewise fit."""

import warnings

import naive
import numpy as np
import pytest

from gmoe import GaussianMoERegressor
from gmoe.datasets import make_moe_regression
from gmoe.engine._gated_model import GatedGaussianMoE
from gmoe.engine._model import MoEParams
from gmoe.engine._newton import HOLD_MARGIN
from gmoe.engine._pieces import (
    ROUNDING_TIE,
    TIE_INFLATIONS,
    inflate_ties,
    kkt_residual,
    settle_ties,
    tied_pairs,
)
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


# ------------------------------------------------------------------ ties
def _switch_model(n=60, seed=0):
    """Two lines, switched at x = 0.3, and a top-1 model of them (k = 2)."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-1, 1, n))
    y = np.where(x > 0.3, 1.0 + 2.0 * x, -1.0 - x) + 0.05 * rng.normal(size=n)
    Xt = np.column_stack([np.ones(n), x])
    model = GatedGaussianMoE(x[:, None], Xt, y, np.ones(n), TopK(1), var_lower=1e-6)
    coef = np.array([[1.0, 2.0], [-1.0, -1.0]])
    return model, x, coef, np.full(2, 0.05**2)


def _selections(model, params):
    return model.gate.active(model.gate.scores(model.Z,
                                               model.project_gate(params.gate)))


def test_settle_ties_takes_a_sample_at_a_rounding_tie_to_its_better_side():
    model, x, coef, var = _switch_model()
    # the gate's switch exactly at sample j, on the wrong side of the data's
    # switch: sample j fits expert 1 (x < 0.3); at the tie the lower index,
    # expert 0, is selected
    j = int(np.searchsorted(x, 0.0))
    c = 50.0
    gate = np.array([[-c * x[j], c], [0.0, 0.0]])
    params = MoEParams(gate, coef, var)
    S = model.gate.scores(model.Z, model.project_gate(gate))
    assert abs(S[j, 0] - S[j, 1]) <= ROUNDING_TIE
    before = _selections(model, params)
    settled = settle_ties(model, params, HOLD_MARGIN)
    after = _selections(model, settled)
    assert after[j, 1] and not after[j, 0]  # crossed to expert 1
    others = np.arange(len(x)) != j
    np.testing.assert_array_equal(after[others], before[others])
    S = model.gate.scores(model.Z, model.project_gate(settled.gate))
    assert S[j, 1] - S[j, 0] == pytest.approx(HOLD_MARGIN, rel=1e-3)
    assert model.objective(settled) > model.objective(params)


def test_settle_ties_keeps_the_better_side_and_leaves_clear_margins_alone():
    model, x, coef, var = _switch_model()
    j = int(np.searchsorted(x, 0.0))
    # the experts swapped: at sample j expert 0 (now the x < 0.3 line) is the
    # better one and is the one selected at the tie: it is held inside
    params = MoEParams(np.array([[-50.0 * x[j], 50.0], [0.0, 0.0]]), coef[::-1],
                       var)
    settled = settle_ties(model, params, HOLD_MARGIN)
    np.testing.assert_array_equal(_selections(model, settled),
                                  _selections(model, params))
    S = model.gate.scores(model.Z, model.project_gate(settled.gate))
    assert S[j, 0] - S[j, 1] == pytest.approx(HOLD_MARGIN, rel=1e-3)
    # no sample within rounding of its boundary: the same parameters
    clear = MoEParams(np.array([[-50.0 * (x[j] + x[j + 1]) / 2, 50.0],
                                [0.0, 0.0]]), coef, var)
    assert settle_ties(model, clear, HOLD_MARGIN) is clear


@pytest.mark.parametrize("seed", range(5))
def test_settle_ties_never_lowers_the_objective(seed):
    # every sample at a rounding tie at once (two experts' gate rows equal to
    # 1e-14): no single move settles them all; whatever is returned is no
    # worse than the start
    model, x, coef, var = _switch_model(seed=seed)
    rng = np.random.default_rng(seed)
    gate = np.array([[0.0, 1e-14 * rng.normal()], [0.0, 0.0]])
    params = MoEParams(gate, coef, var)
    settled = settle_ties(model, params, HOLD_MARGIN)
    before = model.objective(params)
    assert model.objective(settled) >= before - 1e-9 * max(abs(before), 1.0)


def test_tied_pairs_and_their_inflation():
    rng = np.random.default_rng(0)
    n = 50
    z = rng.uniform(-1, 1, n)
    Xt = np.column_stack([np.ones(n), z])
    model = GatedGaussianMoE(z[:, None], Xt, z, np.ones(n), TopK(2), var_lower=1e-6)
    gate = np.array([[1.0, 2.0], [1.0 + 2e-6, 2.0 - 3e-6], [-1.0, 0.5],
                     [-1.0, 0.5 + 5e-5], [0.0, 0.0]])
    params = MoEParams(gate, rng.normal(size=(5, 2)), np.ones(5))
    # pairs whose scores agree to TIE_SCORES at every sample, closest first
    assert tied_pairs(model, params) == [(0, 1), (2, 3)]
    factor = TIE_INFLATIONS[0]
    inflated = inflate_ties(model, params, factor)
    for a, b in [(0, 1), (2, 3)]:
        np.testing.assert_allclose(inflated.gate[a] - inflated.gate[b],
                                   factor * (gate[a] - gate[b]), rtol=1e-6)
        np.testing.assert_allclose(inflated.gate[a] + inflated.gate[b],
                                   gate[a] + gate[b], rtol=1e-12)
    np.testing.assert_array_equal(inflated.gate[4], gate[4])
    np.testing.assert_array_equal(inflated.coef, params.coef)
    # each sample keeps its order within each pair
    before = Xt @ gate.T
    after = Xt @ inflated.gate.T
    for a, b in [(0, 1), (2, 3)]:
        np.testing.assert_array_equal(np.sign(after[:, a] - after[:, b]),
                                      np.sign(before[:, a] - before[:, b]))
    apart = MoEParams(np.array([[1.0, 2.0], [1.1, 2.0], [-1.0, 0.5], [0.0, 1.0],
                                [0.0, 0.0]]), params.coef, params.var)
    assert tied_pairs(model, apart) == []
    assert inflate_ties(model, apart, factor) is None


def _default_top2_fit(n, seed):
    """The default top-2 fit of four experts on the [N23] data of ``seed``,
    any warning (a ConvergenceWarning among them) an error."""
    X, y = make_moe_regression(n, random_state=seed)[:2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return GaussianMoERegressor(4, top_k=2, random_state=0).fit(X, y)


def test_default_top2_fit_that_stalled_at_a_rounding_tie_is_certified():
    # EM left a sample at a tie to rounding on the best regular end; the
    # Newton finish held it by a margin computed on the other side and
    # stalled (gradient 3e-3); settled first, the fit is certified, and higher
    fit = _default_top2_fit(3000, 9)
    assert fit.converged_ and fit.solver_status_ == "gradient"
    assert fit.log_likelihood_ > -1332.0115 + 10.0


def test_default_top2_fit_ending_at_tied_experts_is_certified():
    # the best regular end holds two experts whose gate rows agree to 1e-5:
    # only the sign of their difference selects between them, and the Newton
    # finish, unable to move that hyperplane, ended "boundary"; run again
    # from the difference inflated (a hundredfold here), it is certified
    fit = _default_top2_fit(10000, 8)
    assert fit.converged_ and fit.solver_status_ == "gradient"


def test_holds_bring_margins_to_the_holding_margin_or_only_up_to_it():
    from gmoe.engine._newton import _hold

    model, x, coef, var = _switch_model()
    j = int(np.searchsorted(x, 0.0))
    c = 50.0
    for margin in (0.5 * HOLD_MARGIN, 3.0 * HOLD_MARGIN):
        b = x[j] - margin / c  # sample j's margin
        params = MoEParams(np.array([[-c * b, c], [0.0, 0.0]]), coef, var)
        pinned = (np.array([j]), np.array([[False, True]]))
        _, exact = _hold(model, params, pinned)
        _, upward = _hold(model, params, pinned, upward=True)
        assert exact[0] == pytest.approx(HOLD_MARGIN - margin, rel=1e-6)
        assert upward[0] == pytest.approx(max(HOLD_MARGIN - margin, 0.0), abs=1e-15)
