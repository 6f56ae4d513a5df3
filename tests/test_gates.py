"""The gate plug-ins of gmoe.gates: derivatives, gauge, units, flat start, data
checks, and the scores against plain-Python twins."""

import types

import naive
import numpy as np
import pytest

from gmoe.gates import GATES, Cosine, Gaussian, Laplace, Softmax, TopK, TopP, get_gate
from gmoe.gates._distance import NORM_FLOOR
from gmoe.gates._gaussian_maths import gaussian_to_quadratic

N, D, K = 50, 2, 3

#: Every gate of GATES (with the cosine gate's two regimes): (id, gate).
CASES = [
    ("softmax", GATES["softmax"]()),
    ("constant", GATES["constant"]()),
    ("sigmoid", GATES["sigmoid"]()),
    ("cosine-0.1", Cosine(perturbation=0.1)),
    ("cosine-0.0", Cosine(perturbation=0.0)),
    ("laplace", GATES["laplace"]()),
    ("top_k", TopK(2)),
    ("top_p", TopP(0.7)),
    ("gaussian", Gaussian()),
    ("gaussian-joint", Gaussian("joint")),
]
IDS = [case[0] for case in CASES]
GATE_CASES = [case[1] for case in CASES]


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(N, D)), rng


def _blocks(gate, rng):
    if gate.name == "gaussian":
        # Gaussian log-densities: the joint likelihood's domain
        factors = rng.normal(size=(K, D, D))
        cov = factors @ np.swapaxes(factors, 1, 2) + 0.5 * np.eye(D)
        return gaussian_to_quadratic(rng.dirichlet(np.ones(K)),
                                     rng.normal(size=(K, D)), cov)
    return rng.normal(size=(K, gate.n_block(D)))


def _identified(gate, Z, blocks):
    """What the likelihood reads of the gate: the log weights, and for a gate
    with an x-marginal the log-density of x too (scores minus normaliser)."""
    if gate.marginal:
        return gate.scores(Z, blocks) - gate.log_partition(blocks)[0]
    return gate.log_weights(Z, blocks)


def _perturbation(gate):
    return getattr(gate, "perturbation", 0.1)


def test_cases_cover_every_registered_gate():
    assert {gate.name for gate in GATE_CASES} == set(GATES)


@pytest.mark.parametrize("gate", GATE_CASES, ids=IDS)
def test_scores_match_naive(gate):
    Z, rng = _data(1)
    blocks = _blocks(gate, rng)
    expected = naive.gate_scores(gate.name, Z, blocks, _perturbation(gate))
    np.testing.assert_allclose(gate.scores(Z, blocks), expected, rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("gate", GATE_CASES, ids=IDS)
def test_score_depends_on_own_block_only(gate):
    Z, rng = _data(2)
    blocks = _blocks(gate, rng)
    S = gate.scores(Z, blocks)
    moved = blocks.copy()
    moved[0] += rng.normal(size=blocks.shape[1])
    S_moved = gate.scores(Z, moved)
    np.testing.assert_array_equal(S_moved[:, 1:], S[:, 1:])
    assert not np.allclose(S_moved[:, 0], S[:, 0])


@pytest.mark.parametrize("gate", GATE_CASES, ids=IDS)
def test_first_derivative_matches_finite_differences(gate):
    Z, rng = _data(3)
    blocks = _blocks(gate, rng)
    S, D1, _ = gate.score_derivatives(Z, blocks, order=1)
    np.testing.assert_allclose(S, gate.scores(Z, blocks), rtol=1e-14, atol=0)
    assert D1.shape == (N, K, blocks.shape[1])
    h = 1e-5
    for j in range(blocks.shape[1]):
        # s_i depends on block i only: moving coordinate j of every block at
        # once gives d s_i / d theta_ij for every i
        up, down = blocks.copy(), blocks.copy()
        up[:, j] += h
        down[:, j] -= h
        fd = (gate.scores(Z, up) - gate.scores(Z, down)) / (2 * h)
        np.testing.assert_allclose(D1[:, :, j], fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("gate", GATE_CASES, ids=IDS)
def test_second_derivative_matches_finite_differences(gate):
    Z, rng = _data(4)
    blocks = _blocks(gate, rng)
    _, D1, D2 = gate.score_derivatives(Z, blocks, order=2)
    m = blocks.shape[1]
    h = 1e-5
    fd = np.empty((N, K, m, m))
    for j in range(m):
        up, down = blocks.copy(), blocks.copy()
        up[:, j] += h
        down[:, j] -= h
        fd[:, :, :, j] = (gate.score_derivatives(Z, up, order=1)[1]
                          - gate.score_derivatives(Z, down, order=1)[1]) / (2 * h)
    if D2 is None:
        # allowed only for scores linear in the blocks
        np.testing.assert_allclose(fd, 0.0, atol=1e-8)
    else:
        assert D2.shape == (N, K, m, m)
        np.testing.assert_allclose(D2, np.swapaxes(D2, 2, 3), rtol=0, atol=1e-12)
        np.testing.assert_allclose(D2, fd, rtol=1e-6, atol=1e-7)


def test_nonlinear_gates_give_second_derivatives():
    Z, rng = _data(5)
    for gate in GATE_CASES:
        if gate.name in ("sigmoid", "cosine", "laplace"):
            assert gate.score_derivatives(Z, _blocks(gate, rng), order=2)[2] is not None


@pytest.mark.parametrize("gate", GATE_CASES, ids=IDS)
def test_gauge_translation_leaves_weights_unchanged(gate):
    Z, rng = _data(6)
    blocks = _blocks(gate, rng)
    gauge = gate.gauge(D)
    assert gauge.shape == (blocks.shape[1],) and gauge.dtype == bool
    log_pi = _identified(gate, Z, blocks)
    moved = blocks.copy()
    moved[:, gauge] += rng.normal(size=int(gauge.sum()))
    np.testing.assert_allclose(_identified(gate, Z, moved), log_pi, rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("gate", GATE_CASES, ids=IDS)
def test_parameter_count_is_the_rank_of_what_the_likelihood_reads(gate):
    # n_parameters (what BIC counts) is the number of directions of the blocks
    # that move the log-weights (and the density of x): the rank of their
    # Jacobian, by central differences.  The cosine gate has fewer than its
    # blocks less the gauge: a curved set of equivalent blocks (theta > 0) or
    # free norms (theta = 0).
    Z, rng = _data(8)
    blocks = _blocks(gate, rng)
    h = 1e-5
    columns = []
    for j in range(blocks.size):
        step = np.zeros(blocks.size)
        step[j] = h
        step = step.reshape(blocks.shape)
        plus, minus = _identified(gate, Z, blocks + step), _identified(
            gate, Z, blocks - step)
        with np.errstate(invalid="ignore"):     # -inf - -inf off the selection
            columns.append((plus - minus) / (2 * h))
    J = np.column_stack([column.ravel() for column in columns])
    J = J[np.all(np.isfinite(J), axis=1)]          # the selected experts' rows
    s = np.linalg.svd(J, compute_uv=False)
    assert gate.n_parameters(K, D) == int(np.sum(s > 1e-7 * s[0]))


@pytest.mark.parametrize("gate", GATE_CASES, ids=IDS)
def test_gauge_is_not_too_wide(gate):
    # a common translation of any coordinate outside the gauge moves the weights
    Z, rng = _data(7)
    blocks = _blocks(gate, rng)
    log_pi = _identified(gate, Z, blocks)
    free = np.flatnonzero(~gate.gauge(D))
    if gate.name == "softmax" or gate == GATES["gaussian"]:
        assert free.size == 0
    for j in free:
        moved = blocks.copy()
        moved[:, j] += 0.07
        assert np.max(np.abs(_identified(gate, Z, moved) - log_pi)) > 1e-3, j


@pytest.mark.parametrize("gate", GATE_CASES, ids=IDS)
def test_original_units_round_trip(gate):
    rng = np.random.default_rng(8)
    X = 3.0 + rng.normal(size=(N, D)) * np.array([2.0, 0.5])
    scaling = types.SimpleNamespace(x_mean=X.mean(axis=0), x_scale=X.std(axis=0))
    Z = gate.features(X, scaling)
    blocks = _blocks(gate, rng)
    values = gate.to_original(blocks, scaling)
    assert tuple(values) == gate.attributes
    if gate.gauge(D)[0] and "gate_intercept" in values:
        assert values["gate_intercept"][-1] == 0.0   # reference form
    back = gate.from_original(values, scaling)
    assert back.shape == blocks.shape
    np.testing.assert_allclose(gate.log_weights(Z, back), gate.log_weights(Z, blocks),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("gate", [Cosine(0.1), Cosine(0.0), Laplace()],
                         ids=["cosine-0.1", "cosine-0.0", "laplace"])
def test_distance_gates_read_x_in_the_data_units(gate):
    rng = np.random.default_rng(9)
    X = 3.0 + rng.normal(size=(N, D))
    scaling = types.SimpleNamespace(x_mean=X.mean(axis=0), x_scale=X.std(axis=0))
    np.testing.assert_array_equal(gate.features(X, scaling), X)
    blocks = _blocks(gate, rng)
    values = gate.to_original(blocks, scaling)
    np.testing.assert_array_equal(values["gate_coef"], blocks[:, 1:])
    np.testing.assert_array_equal(values["gate_intercept"],
                                  blocks[:, 0] - blocks[-1, 0])


@pytest.mark.parametrize("gate", GATE_CASES, ids=IDS)
def test_flat_gives_equal_weights(gate):
    Z, _ = _data(10)
    Z = Z + np.array([1.0, -2.0])
    blocks = gate.flat(K, Z)
    assert blocks.shape == (K, gate.n_block(D))
    # equal scores: equal weights over the experts the gate selects (all of
    # them for a dense gate)
    weights = np.exp(gate.log_weights(Z, blocks))
    selected = np.ones(weights.shape, bool) if not gate.sparse else gate.active(
        gate.scores(Z, blocks))
    counts = selected.sum(axis=1)
    np.testing.assert_allclose(weights[selected], np.repeat(1.0 / counts, counts),
                               rtol=1e-12)
    assert np.all(weights[~selected] == 0)
    S, D1, _ = gate.score_derivatives(Z, blocks, order=2)
    assert np.all(np.isfinite(S)) and np.all(np.isfinite(D1))


def test_cosine_flat_weights_are_not_zero():
    Z, _ = _data(11)
    for Zc in (Z, np.zeros((4, D))):
        W = Cosine(0.0).flat(K, Zc)[:, 1:]
        assert np.all(np.linalg.norm(W, axis=1) > 0)
        np.testing.assert_array_equal(W, np.broadcast_to(W[0], W.shape))


def test_check_data_errors():
    X, _ = _data(12)
    for bad in (-1, np.nan, np.inf):
        with pytest.raises(ValueError, match="perturbation must be >= 0"):
            Cosine(perturbation=bad).check_data(X)
    zero_row = X.copy()
    zero_row[5] = 0.0
    with pytest.raises(ValueError, match="a row of X is all zeros"):
        Cosine(0).check_data(zero_row)
    Cosine(0.1).check_data(zero_row)          # fine with a perturbation
    Cosine(0).check_data(X)
    constant = X.copy()
    constant[:, 1] = 2.5
    with pytest.raises(ValueError, match=r"features \[1\] are constant"):
        Laplace().check_data(constant)
    Laplace().check_data(X)


def test_registry_and_repr():
    gate = get_gate("cosine")
    assert isinstance(gate, Cosine) and gate.perturbation == 0.1
    assert repr(gate) == "Cosine(perturbation=0.1)"
    assert repr(Cosine(0.0)) == "Cosine(perturbation=0.0)"
    assert isinstance(get_gate("laplace"), Laplace)


def test_cosine_identifiability_as_documented():
    # theta = 0: the norms of the w_i are free; theta > 0: translating every
    # v_i = w_i / (|w_i| + theta) by the same t leaves the weights unchanged
    Z, rng = _data(13)
    blocks = rng.normal(size=(K, D + 1))
    plain = Cosine(0.0)
    rescaled = blocks.copy()
    rescaled[:, 1:] *= np.array([[0.3], [2.0], [7.0]])
    np.testing.assert_allclose(plain.log_weights(Z, rescaled),
                               plain.log_weights(Z, blocks), atol=1e-12)
    _, D1, _ = plain.score_derivatives(Z, blocks, order=1)
    np.testing.assert_allclose(np.einsum("nkj,kj->nk", D1[:, :, 1:], blocks[:, 1:]),
                               0.0, atol=1e-12)
    theta = 0.1
    gate = Cosine(theta)
    W = blocks[:, 1:] * 0.05
    V = W / (np.linalg.norm(W, axis=1, keepdims=True) + theta)
    V2 = V + np.array([0.1, -0.05])
    assert np.all(np.linalg.norm(V2, axis=1) < 1)
    norm_v2 = np.linalg.norm(V2, axis=1, keepdims=True)
    W2 = V2 * theta / (1 - norm_v2)
    moved = np.column_stack([blocks[:, 0], W2])
    np.testing.assert_allclose(gate.log_weights(Z, moved),
                               gate.log_weights(Z, np.column_stack([blocks[:, 0], W])),
                               atol=1e-12)


def test_laplace_derivatives_finite_on_a_centre():
    Z, rng = _data(14)
    blocks = rng.normal(size=(K, D + 1))
    blocks[1, 1:] = Z[3]                      # a sample on a centre
    S, D1, D2 = Laplace().score_derivatives(Z, blocks, order=2)
    assert S[3, 1] == blocks[1, 0]
    np.testing.assert_array_equal(D1[3, 1, 1:], 0.0)
    np.testing.assert_allclose(D2[3, 1, 1:, 1:], -np.eye(D) / NORM_FLOOR)
    assert np.all(np.isfinite(D1)) and np.all(np.isfinite(D2))


def test_sparse_gates_select_as_the_plain_python_rules():
    rng = np.random.default_rng(5)
    S = rng.normal(size=(200, 5))
    S[:20, 1] = S[:20, 3]  # ties go to the lower index
    np.testing.assert_array_equal(TopK(2).active(S), naive.top_k_keep(S, 2))
    for p in (0.3, 0.7, 0.95, 1.0):
        np.testing.assert_array_equal(TopP(p).active(S), naive.top_p_keep(S, p))
    with pytest.raises(ValueError, match="p <= 1"):
        TopP(1.5).check_data(S)
    with pytest.raises(ValueError, match="k >= 1"):
        TopK(0).check_data(S)


# ------------------------------------------------- Laplace kink, compiled forms
def test_laplace_kink_curvature_on_one_covariate():
    # one covariate: the second derivative is the kink's -2 K_h(w - x), the
    # first derivative stays exact (-sign(w - x))
    rng = np.random.default_rng(15)
    Z = rng.uniform(-1, 1, size=(40, 1))
    blocks = rng.normal(size=(K, 2))
    gate = Laplace(bandwidth=0.3)
    S, D1, D2 = gate.score_derivatives(Z, blocks, order=2)
    np.testing.assert_allclose(D1[:, :, 1], -np.sign(blocks[:, 1] - Z), rtol=0,
                               atol=0)
    np.testing.assert_allclose(D2[:, :, 1, 1], naive.laplace_kink_curvature(
        Z[:, 0], blocks[:, 1], 0.3), rtol=1e-13, atol=0)
    assert np.all(D2[:, :, 0, :] == 0) and np.all(D2[:, :, :, 0] == 0)
    # two covariates: the bandwidth is ignored, the Hessian is the exact one
    Z2, blocks2 = rng.normal(size=(30, 2)), rng.normal(size=(K, 3))
    for a, b in zip(gate.score_derivatives(Z2, blocks2),
                    Laplace().score_derivatives(Z2, blocks2), strict=True):
        np.testing.assert_array_equal(a, b)


def test_laplace_kink_curvature_is_the_curvature_of_the_sum():
    # sum_n -|w - x_n| is piecewise linear in w, its slope the number of samples
    # right of w minus those left of it: over a width of several bandwidths its
    # slope falls by 2 n f(w), which sum_n -2 K_h(w - x_n) estimates
    rng = np.random.default_rng(16)
    n = 200_000
    Z = rng.normal(size=(n, 1))
    gate = Laplace().prepare(Z, np.ones(n))
    assert gate.bandwidth == pytest.approx(1.06 * Z.std() * n ** -0.2, rel=1e-12)
    w, width = 0.5, 0.2
    blocks = np.array([[0.0, w - width / 2], [0.0, w + width / 2]])
    _, D1, _ = gate.score_derivatives(Z, blocks, order=1)
    slope_change = (D1[:, 1, 1].sum() - D1[:, 0, 1].sum()) / width
    _, _, D2 = gate.score_derivatives(Z, np.array([[0.0, w]]), order=2)
    assert D2[:, 0, 1, 1].sum() == pytest.approx(slope_change, rel=0.05)
    assert slope_change == pytest.approx(-2 * n * np.exp(-w * w / 2)
                                         / np.sqrt(2 * np.pi), rel=0.05)


def test_laplace_prepare():
    rng = np.random.default_rng(17)
    Z, w = rng.uniform(size=(500, 1)), rng.uniform(0.5, 2.0, size=500)
    prepared = Laplace().prepare(Z, w)
    mean = w @ Z[:, 0] / w.sum()
    sd = np.sqrt(w @ (Z[:, 0] - mean) ** 2 / w.sum())
    n_eff = w.sum() ** 2 / (w @ w)
    assert prepared.bandwidth == pytest.approx(1.06 * sd * n_eff ** -0.2, rel=1e-12)
    assert Laplace().bandwidth is None                     # the gate is not changed
    assert repr(prepared).startswith("Laplace(bandwidth=")
    fixed = Laplace(bandwidth=0.25)
    assert fixed.prepare(Z, w) is fixed
    two = Laplace()
    assert two.prepare(rng.normal(size=(50, 2)), np.ones(50)) is two
    for bad in (-1.0, np.nan, np.inf, "wide"):
        with pytest.raises(ValueError, match="bandwidth must be None or a finite"):
            Laplace(bandwidth=bad).check_data(Z)
    Laplace(bandwidth=0.0).check_data(Z)                   # no kink curvature


def test_laplace_exact_curvature_has_no_kink_term():
    # bandwidth 0: the second derivative of -|w - x| in the centre is its own,
    # zero away from the samples (the kink's curvature left out), the first
    # derivatives unchanged
    rng = np.random.default_rng(18)
    Z = rng.uniform(-1, 1, size=(60, 1))
    blocks = rng.normal(size=(K, 2))
    exact = Laplace(bandwidth=0.3).exact_curvature()
    assert exact.bandwidth == 0.0 and exact.prepare(Z, np.ones(60)) is exact
    smooth, kinked = (g.score_derivatives(Z, blocks, order=2)
                      for g in (exact, Laplace(bandwidth=0.3)))
    np.testing.assert_array_equal(smooth[1], kinked[1])
    assert np.all(smooth[2] == 0) and np.any(kinked[2] != 0)
    softmax = Softmax()
    assert softmax.exact_curvature() is softmax


@pytest.mark.parametrize("gate, d", [(Cosine(0.1), 1), (Cosine(0.1), 2),
                                     (Cosine(0.0), 2), (Laplace(), 1),
                                     (Laplace(), 2), (Laplace(bandwidth=0.2), 1)],
                         ids=["cosine-d1", "cosine-d2", "cosine-0-d2", "laplace-d1",
                              "laplace-d2", "laplace-h-d1"])
def test_compiled_distance_scores_match_the_score_arrays(gate, d):
    # the kernels compute the cosine and Laplace scores themselves; the same
    # gate given as the score arrays of score_derivatives gives the same numbers
    from gmoe.engine._gated_model import GatedGaussianMoE
    from gmoe.engine._model import MoEParams

    rng = np.random.default_rng(18 + d)
    n, k = 5000, 3                      # more than one chunk of the kernels
    Z = rng.uniform(-1, 2, size=(n, d))
    Xt = np.column_stack([np.ones(n), Z])
    y, w = rng.normal(size=n), rng.uniform(0.5, 2.0, size=n)
    fast = GatedGaussianMoE(Z, Xt, y, w, gate, var_lower=1e-6)
    slow = GatedGaussianMoE(Z, Xt, y, w, gate, var_lower=1e-6)
    slow._Zt = None
    assert fast._Zt is not None
    blocks = rng.normal(size=(k, d + 1))
    blocks[1, 1:] = Z[7]                # a sample on a centre
    params = MoEParams(fast.project_gate(blocks), rng.normal(size=(k, d + 1)),
                       rng.uniform(0.5, 2, k))
    for a, b in zip(fast.derivatives(params), slow.derivatives(params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-9)
    assert fast.objective(params) == pytest.approx(slow.objective(params),
                                                   rel=1e-13)
    prev = rng.dirichlet(np.ones(k), size=n)
    r1, r2 = np.empty((n, k)), np.empty((n, k))
    s1, s2 = fast.e_step(params, prev, r1), slow.e_step(params, prev, r2)
    for field in ("loglik", "A", "B", "C", "gate_q", "gate_grad", "gate_info",
                  "gate_q_prev"):
        np.testing.assert_allclose(getattr(s1, field), getattr(s2, field),
                                   rtol=1e-10, atol=1e-9, err_msg=field)
    np.testing.assert_allclose(r1, r2, rtol=1e-12, atol=1e-14)
    for a, b in zip(fast.gate_stats(prev, params.gate),
                    slow.gate_stats(prev, params.gate), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-9)


def test_vectorised_log1p_of_the_sigmoid_link():
    # the kernels' log1p on [0, 1] against the library's, relative error
    import math

    from gmoe.kernels._sources import _log1p_unit

    rng = np.random.default_rng(19)
    e = np.concatenate([rng.uniform(0, 1, 20000), np.exp(-rng.uniform(0, 745, 20000)),
                        [0.0, 1.0, 0.41421356237309503, 0.414213562373095, 5e-324]])
    got = np.array([_log1p_unit(v) for v in e])
    want = np.array([math.log1p(v) for v in e])
    assert got[np.flatnonzero(e == 0.0)] == 0.0
    # within 2 ulps (subnormal results: within the smallest subnormals)
    np.testing.assert_allclose(got, want, rtol=5e-16, atol=1e-320)


@pytest.mark.parametrize("gate", [Cosine(0.1), Laplace(), GATES["sigmoid"](),
                                  GATES["softmax"]()],
                         ids=["cosine", "laplace", "sigmoid", "softmax"])
def test_gate_objective_keeps_the_log_weight_of_an_underflowing_expert(gate):
    # a dense gate's weight can underflow to 0 where its log-weight is finite
    # (scores more than 745 apart): the gate objective sum w resp log pi of the
    # compiled passes must keep that finite, very negative term (EM's check of
    # a gate step compares it), as the plain formula does
    from scipy.special import log_softmax

    from gmoe.engine._gated_model import GatedGaussianMoE
    from gmoe.engine._model import MoEParams

    rng = np.random.default_rng(20)
    n, k = 300, 3
    Z = rng.uniform(0.5, 2.0, size=(n, D))
    Xt = np.column_stack([np.ones(n), Z])
    model = GatedGaussianMoE(Z, Xt, rng.normal(size=n), np.ones(n), gate,
                             var_lower=1e-6)
    blocks = rng.normal(size=(k, model.m))
    blocks[0, 0] = -2000.0                   # expert 0: weight exp(-2000) -> 0
    blocks = model.project_gate(blocks)
    log_pi = log_softmax(gate.scores(Z, blocks), axis=1)
    assert np.all(np.exp(log_pi[:, 0]) == 0) and np.all(np.isfinite(log_pi))
    resp = rng.dirichlet(np.ones(k), size=n)
    want = float(np.sum(resp * log_pi))
    params = MoEParams(blocks, rng.normal(size=(k, D + 1)), np.ones(k))
    stats = model.e_step(params, resp, np.empty((n, k)))
    assert stats.gate_q_prev == pytest.approx(want, rel=1e-12)
    assert model.gate_stats(resp, blocks)[0] == pytest.approx(want, rel=1e-12)
    assert want < -1e5
