"""The compiled kernels against their plain-numpy references."""

import numba
import numpy as np
import pytest
from naive import e_step as naive_e_step
from naive import gate_objective
from naive import gate_stats as naive_gate_stats

from gmoe.kernels._em import EXP_NORMAL_MIN, _exp_nonpositive, e_step, gate_stats
from gmoe.kernels._numba_config import CHUNK_SIZE, MAX_TASKS


def random_problem(n, k, d, seed, gate_scale=1.0):
    rng = np.random.default_rng(seed)
    Xt = np.column_stack([np.ones(n), rng.normal(size=(n, d))])
    y = rng.normal(size=n) * 2
    w = rng.uniform(0, 2, size=n)
    w[rng.random(n) < 0.1] = 0.0
    gate = gate_scale * rng.normal(size=(k, d + 1))
    coef = rng.normal(size=(k, d + 1))
    var = rng.uniform(0.1, 2.0, size=k)
    return Xt, y, w, gate, coef, var


@numba.njit
def _exp_all(z):
    out = np.empty_like(z)
    for j in range(z.shape[0]):
        out[j] = _exp_nonpositive(z[j])
    return out


def test_exp_nonpositive_is_within_one_ulp_of_numpy():
    rng = np.random.default_rng(0)
    z = np.concatenate([
        -708.0 * rng.random(200_000), -2.0 * rng.random(200_000),
        -1e-9 * rng.random(1000), [0.0, -0.0, -np.log(2) / 2, -np.log(2), -707.99],
    ])
    got, want = _exp_all(z), np.exp(z)
    assert np.all(np.abs(got - want) <= np.spacing(want))
    assert _exp_all(np.array([0.0]))[0] == 1.0


def test_exp_nonpositive_underflows_to_zero():
    z = np.array([EXP_NORMAL_MIN, EXP_NORMAL_MIN - 1e-9, -745.2, -1e300, -np.inf])
    assert np.all(_exp_all(z) == 0.0)


def test_exp_nonpositive_keeps_nan_and_never_indexes_outside_its_table():
    got = _exp_all(np.array([np.nan, 1.0, 800.0, np.inf]))
    assert np.isnan(got[0])
    assert np.all(np.isfinite(got[1:3]))  # outside the domain, but no stray read


def test_e_step_with_nan_parameters_returns_nan_not_garbage():
    Xt, y, w, gate, coef, var = random_problem(3000, 3, 2, seed=9)
    gate[1, 1] = np.nan
    resp = np.empty((3000, 3))
    loglik = e_step(Xt, y, w, gate, coef, var, np.full((3000, 3), 1 / 3), resp)[0]
    assert np.isnan(loglik)


SHAPES = [
    (1, 1, 1), (7, 2, 1), (CHUNK_SIZE + 13, 3, 1), (3 * CHUNK_SIZE, 4, 3), (500, 10, 5),
    ((MAX_TASKS + 2) * CHUNK_SIZE + 3, 2, 1),
]


@pytest.mark.parametrize("n, k, d", SHAPES)
@pytest.mark.parametrize("gate_scale", [1.0, 60.0])
def test_e_step_matches_reference(n, k, d, gate_scale):
    Xt, y, w, gate, coef, var = random_problem(n, k, d, seed=n + k + d,
                                               gate_scale=gate_scale)
    resp_prev = np.random.default_rng(n).dirichlet(np.ones(k), size=n)
    resp = np.empty((n, k))
    got = e_step(Xt, y, w, gate, coef, var, resp_prev, resp)
    want = naive_e_step(Xt, y, w, gate, coef, var, resp_prev)
    for g, e in zip(got, want[:8], strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(resp, want[8], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("n, k, d", SHAPES)
def test_gate_stats_matches_reference(n, k, d):
    Xt, _, w, gate, _, _ = random_problem(n, k, d, seed=3 * n + k)
    rng = np.random.default_rng(n)
    resp = rng.dirichlet(np.ones(k), size=n)
    got = gate_stats(Xt, w, resp, gate)
    want = naive_gate_stats(Xt, w, resp, gate)
    for g, e in zip(got, want, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-10)


def test_gate_gradient_and_information_are_derivatives():
    """grad = dQ/dbeta and info = -d grad/dbeta, by central differences."""
    Xt, _, w, gate, _, _ = random_problem(300, 3, 2, seed=5)
    resp = np.random.default_rng(5).dirichlet(np.ones(3), size=300)
    _, grad, info = gate_stats(Xt, w, resp, gate)
    h = 1e-6
    for i in range(3):
        for a in range(3):
            step = np.zeros_like(gate)
            step[i, a] = h
            fd = (gate_objective(Xt, w, resp, gate + step)
                  - gate_objective(Xt, w, resp, gate - step)) / (2 * h)
            assert fd == pytest.approx(grad[i, a], rel=1e-5, abs=1e-6)
            _, g_plus, _ = gate_stats(Xt, w, resp, gate + step)
            _, g_minus, _ = gate_stats(Xt, w, resp, gate - step)
            np.testing.assert_allclose(
                -(g_plus - g_minus) / (2 * h), info[:, i, :, a], rtol=1e-5, atol=1e-6
            )


@pytest.mark.parametrize("n", [5 * CHUNK_SIZE + 1, (MAX_TASKS + 3) * CHUNK_SIZE + 7])
def test_e_step_is_bitwise_identical_across_thread_counts(n):
    """Also beyond MAX_TASKS chunks, where a task sums several chunks."""
    Xt, y, w, gate, coef, var = random_problem(n, 3, 2, seed=11)
    out = []
    before = numba.get_num_threads()
    try:
        for threads in (1, numba.config.NUMBA_NUM_THREADS):
            numba.set_num_threads(threads)
            resp = np.empty((Xt.shape[0], 3))
            out.append((e_step(Xt, y, w, gate, coef, var, np.ones_like(resp) / 3, resp),
                        resp))
    finally:
        numba.set_num_threads(before)
    (first, resp1), (second, resp2) = out
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(resp1, resp2)
    want = naive_e_step(Xt, y, w, gate, coef, var, np.ones_like(resp1) / 3)
    for g, e in zip(first, want[:8], strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-8)


def test_e_step_log_space_survives_extreme_values():
    """Saturated gates and far-away experts give finite results, no NaN."""
    Xt, y, w, gate, coef, var = random_problem(200, 3, 1, seed=2)
    gate = gate * 1e4
    y = y + 1e3
    resp = np.empty((200, 3))
    var = np.array([1e-8, 1.0, 1e8])
    out = e_step(Xt, y, w, gate, coef, var, np.full((200, 3), 1 / 3), resp)
    assert all(np.all(np.isfinite(part)) for part in out)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0)
