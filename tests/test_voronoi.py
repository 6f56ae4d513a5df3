"""Voronoi cells and the Voronoi losses D1, D2 [N23].

The loss is checked against a plain, loop-by-loop transcription of the formula
(``naive_loss``), against brute-force grids over the gate translation, against
hand computations, and for its invariances and exponents.
"""

import dataclasses
import warnings

import numpy as np
import pytest
from conftest import TRUTH_3X2

from gmoe import (
    GaussianMoERegressor,
    MixingMeasure,
    UnknownRbarWarning,
    voronoi_cells,
    voronoi_loss,
)
from gmoe.datasets import N23_TRUTH
from gmoe.theory._voronoi import RBAR_KNOWN, default_rbar

E8 = np.exp(-8.0)


# ----------------------------------------------------------------- references
def naive_cells(G, Gt, t1, metric):
    """Cells by the definition; strict '<' keeps the lowest index on ties."""
    cells = []
    for i in range(G.n_atoms):
        best_j, best = None, np.inf
        for j in range(Gt.n_atoms):
            parts = [G.gate_coef[i] - Gt.gate_coef[j] - t1,
                     G.expert_coef[i] - Gt.expert_coef[j],
                     [G.expert_intercept[i] - Gt.expert_intercept[j]],
                     [G.expert_variance[i] - Gt.expert_variance[j]]]
            flat = np.concatenate([np.ravel(part) for part in parts])
            dist = np.sum(np.abs(flat)) if metric == "l1" else np.sqrt(flat @ flat)
            if dist < best:
                best_j, best = j, dist
        cells.append(best_j)
    return np.array(cells)


def naive_loss(G, Gt, t0, t1, kind, metric, rbar=default_rbar, p=None):
    """The formula of D1 / D2 at a fixed translation (t0, t1) of the truth."""
    if p is None:  # normalised fitted weights, as in translation="infimum"
        p = np.exp(G.gate_intercept) / np.sum(np.exp(G.gate_intercept))
    cells = naive_cells(G, Gt, t1, metric)
    total = 0.0
    for j in range(Gt.n_atoms):
        members = [i for i in range(G.n_atoms) if cells[i] == j]
        total += abs(sum(p[i] for i in members) - np.exp(Gt.gate_intercept[j] + t0))
        M = len(members)
        for i in members:
            g = np.linalg.norm(G.gate_coef[i] - Gt.gate_coef[j] - t1)
            a = np.linalg.norm(G.expert_coef[i] - Gt.expert_coef[j])
            b = abs(G.expert_intercept[i] - Gt.expert_intercept[j])
            s = abs(G.expert_variance[i] - Gt.expert_variance[j])
            if kind == "D1" or M == 1:
                total += p[i] * (g + a + b + s)
            else:
                r = rbar(M)
                total += p[i] * (g**r + b**r + a ** (r / 2) + s ** (r / 2))
    return total


def naive_best_t0(G, Gt, t1, kind, metric):
    """min over t0: the weight terms are convex and piecewise linear in exp(t0),
    so the minimum is at exp(t0) = 0 or at a kink W_j / w*_j."""
    p = np.exp(G.gate_intercept) / np.sum(np.exp(G.gate_intercept))
    cells = naive_cells(G, Gt, t1, metric)
    W = np.array([p[cells == j].sum() for j in range(Gt.n_atoms)])
    t0s = [-np.inf] + [np.log(W[j]) - Gt.gate_intercept[j]
                       for j in range(Gt.n_atoms) if W[j] > 0]
    return min(naive_loss(G, Gt, t0, t1, kind, metric) for t0 in t0s)


def random_measure(rng, k, d, gate_scale=1.0):
    return MixingMeasure(
        gate_intercept=rng.normal(size=k),
        gate_coef=gate_scale * rng.normal(size=(k, d)),
        expert_intercept=rng.normal(size=k),
        expert_coef=rng.normal(size=(k, d)),
        expert_variance=rng.uniform(0.1, 1.0, size=k),
    )


def near_truth(truth, k, rng, noise=0.05):
    """k atoms around the truth: every true atom used, extra ones repeated;
    weights of repeated atoms split so the model stays close to the truth."""
    k0 = truth.n_atoms
    source = np.concatenate([np.arange(k0), rng.integers(0, k0, size=k - k0)])
    params = {name: np.array(value)[source] for name, value in
              truth.to_params().items()}
    counts = np.bincount(source, minlength=k0)[source]
    params["gate_intercept"] = params["gate_intercept"] - np.log(counts)
    for name in params:
        params[name] = params[name] + noise * rng.normal(size=params[name].shape)
    params["expert_variance"] = np.abs(params["expert_variance"])
    return MixingMeasure.from_params(**params)


def split(truth, j, offsets, group, eps):
    """Replace true atom j by len(offsets) atoms whose ``group`` is shifted by
    eps * offsets (first coordinate), with equal weights summing to its weight."""
    params = truth.to_params()
    M = len(offsets)
    new = {name: [] for name in params}
    for i in range(truth.n_atoms):
        copies = M if i == j else 1
        for m in range(copies):
            for name, value in params.items():
                item = np.array(value[i], dtype=float)
                if name == "gate_intercept" and i == j:
                    item = item - np.log(M)
                if name == group and i == j:
                    if item.ndim:
                        item[0] += eps * offsets[m]
                    else:
                        item = item + eps * offsets[m]
                new[name].append(item)
    return MixingMeasure.from_params(**{name: np.array(v) for name, v in new.items()})


#: Two well separated experts, equal weights, one covariate.
SIMPLE = MixingMeasure(
    gate_intercept=[0.0, 0.0], gate_coef=[[1.0], [-1.0]],
    expert_intercept=[2.0, -2.0], expert_coef=[[1.0], [-1.0]],
    expert_variance=[0.5, 0.5],
)


# ------------------------------------------------------------ hand computed
def test_hand_exact_fit_intercept_error():
    # Truth [N23]; the fit moves expert 2's intercept b by 0.1.  Cells (0, 1).
    # "reference": weights (e^-8, 1) match the truth's, so D1 = 1 * 0.1.
    # "infimum": weights normalised, p_2 = 1 / (1 + e^-8); t0 = -log(1 + e^-8)
    # makes both weight terms 0, t1 = 0, so D1 = 0.1 / (1 + e^-8).
    truth = MixingMeasure.from_params(**N23_TRUTH)
    params = truth.to_params()
    params["expert_intercept"][1] += 0.1
    G = MixingMeasure.from_params(**params)
    assert voronoi_loss(G, truth, "D1", translation="reference") == pytest.approx(
        0.1, rel=1e-12)
    res = voronoi_loss(G, truth, "D1", return_details=True)
    assert res.value == pytest.approx(0.1 / (1 + E8), rel=1e-12)
    assert res.t0 == pytest.approx(-np.log1p(E8), rel=1e-12)
    np.testing.assert_allclose(res.t1, [0.0], atol=1e-12)
    np.testing.assert_array_equal(res.cells, [0, 1])
    # One atom per cell: D2 is the same number.
    assert voronoi_loss(G, truth, "D2") == pytest.approx(res.value, rel=1e-12)


@pytest.mark.parametrize(
    "group, d1, d2",
    [
        # One true atom (weight 1), split into two atoms of weight 1/2 with the
        # group moved by +-0.1.  D1 = 2 * 1/2 * 0.1.  D2 with rbar(2) = 4:
        # intercept (and gate slope) enter as 0.1^4, slope and variance as 0.1^2.
        ("expert_intercept", 0.1, 1e-4),
        ("expert_coef", 0.1, 1e-2),
        ("expert_variance", 0.1, 1e-2),
        # Gate slopes +-0.1: the best t1 is 0 for D2 (symmetry, strictly convex)
        # and anything in [-0.1, 0.1] for D1, where the sum stays 0.1.
        ("gate_coef", 0.1, 1e-4),
    ],
)
def test_hand_split_one_atom(group, d1, d2):
    truth = MixingMeasure(gate_intercept=[0.0], gate_coef=[[0.0]],
                          expert_intercept=[0.0], expert_coef=[[0.0]],
                          expert_variance=[1.0])
    G = split(truth, 0, [-1.0, 1.0], group, 0.1)
    assert voronoi_loss(G, truth, "D1") == pytest.approx(d1, rel=1e-9)
    assert voronoi_loss(G, truth, "D2") == pytest.approx(d2, rel=1e-9)


def test_hand_gate_translation_recovered():
    # Truth: gate slopes (0, 2), weights 3 : 1 (p = 0.75, 0.25), experts far
    # apart.  Fit: every gate slope moved by +5 (no change of model) and atom 2's
    # by another 0.3.  D1(t1) = 0.75 |5 - t1| + 0.25 |5.3 - t1| is smallest at
    # the weighted median t1 = 5: D1 = 0.25 * 0.3 = 0.075 (weight terms 0).
    truth = MixingMeasure(gate_intercept=[np.log(3.0), 0.0],
                          gate_coef=[[0.0], [2.0]], expert_intercept=[10.0, -10.0],
                          expert_coef=[[1.0], [-1.0]], expert_variance=[1.0, 1.0])
    params = truth.to_params()
    params["gate_coef"] = params["gate_coef"] + [[5.0], [5.3]]
    G = MixingMeasure.from_params(**params)
    res = voronoi_loss(G, truth, "D1", return_details=True)
    assert res.value == pytest.approx(0.075, rel=1e-9)
    np.testing.assert_allclose(res.t1, [5.0], atol=1e-9)
    np.testing.assert_allclose(res.cell_terms, [0.0, 0.075], atol=1e-9)
    np.testing.assert_allclose(res.group_errors["gate_coef"], [0.0, 0.3], atol=1e-9)


def test_hand_empty_cell():
    # Truth with two atoms of weight 1; the fit has one atom equal to true atom
    # 0.  With u = exp(t0), the weight terms are |1 - u| + |0 - u| = 1 for
    # u in [0, 1]: D = 1, all of it from the empty cell when u = 1.
    G = MixingMeasure(gate_intercept=[0.3], gate_coef=[[1.0]],
                      expert_intercept=[2.0], expert_coef=[[1.0]],
                      expert_variance=[0.5])
    for kind in ("D1", "D2"):
        res = voronoi_loss(G, SIMPLE, kind, return_details=True)
        assert res.value == pytest.approx(1.0, rel=1e-12)
        np.testing.assert_array_equal(res.cell_sizes, [1, 0])
        np.testing.assert_allclose(res.weight_sums, [1.0, 0.0])
        np.testing.assert_allclose(res.true_weights, [1.0, 1.0])
        np.testing.assert_allclose(res.cell_terms, [0.0, 1.0], atol=1e-12)
        for name in ("gate_coef", "expert_coef", "expert_intercept",
                     "expert_variance"):
            assert res.group_errors[name][0] == pytest.approx(0.0, abs=1e-12)
            assert np.isnan(res.group_errors[name][1])


def test_hand_reference_floor_when_reference_cell_is_split():
    # The [N23] truth with its reference expert split in two halves: the same
    # model.  Canonical form (last gate 0): intercepts (-8 + log 2, 0, 0), so the
    # official convention sees weights (2 e^-8, 1, 1) against (e^-8, 1):
    # weight terms e^-8 + 1, atom terms 0, D2 = 1 + e^-8, at any sample size.
    # The infimum rescales the weights: 0.
    G = MixingMeasure(gate_intercept=[-8.0, np.log(0.5), np.log(0.5)],
                      gate_coef=[[25.0], [0.0], [0.0]],
                      expert_intercept=[15.0, -5.0, -5.0],
                      expert_coef=[[-20.0], [20.0], [20.0]],
                      expert_variance=[0.09, 0.16, 0.16])
    truth = MixingMeasure.from_params(**N23_TRUTH)
    ref = voronoi_loss(G, truth, "D2", translation="reference", return_details=True)
    assert ref.value == pytest.approx(1 + E8, rel=1e-10)
    np.testing.assert_allclose(ref.fitted_weights, [2 * E8, 1.0, 1.0], rtol=1e-12)
    assert voronoi_loss(G, truth, "D2") == pytest.approx(0.0, abs=1e-15)


# ------------------------------------------------- formula and brute force
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("metric", ["l1", "l2"])
@pytest.mark.parametrize("kind", ["D1", "D2"])
def test_infimum_against_brute_force_d1(seed, metric, kind):
    rng = np.random.default_rng(seed)
    k0, k = [(1, 3), (2, 3), (2, 4), (3, 4)][seed]
    truth = random_measure(rng, k0, 1, gate_scale=2.0)
    G = random_measure(rng, k, 1, gate_scale=2.0)
    res = voronoi_loss(G, truth, kind, metric=metric, return_details=True)
    # The value is attained at the reported translation, with those cells.
    np.testing.assert_array_equal(naive_cells(G, truth, res.t1, metric),
                                  res.cells)
    assert naive_loss(G, truth, res.t0, res.t1, kind, metric) == pytest.approx(
        res.value, rel=1e-9, abs=1e-12)
    # And no translation on a fine grid does better.
    grid = np.linspace(-8, 8, 641)
    brute = min(naive_best_t0(G, truth, np.array([t]), kind, metric)
                for t in grid)
    assert res.value <= brute + 1e-9


@pytest.mark.parametrize("seed, kind, metric",
                         [(0, "D1", "l1"), (1, "D2", "l2"), (2, "D2", "l1")])
def test_infimum_against_brute_force_d2(seed, kind, metric):
    rng = np.random.default_rng(100 + seed)
    truth = random_measure(rng, 2, 2)
    G = random_measure(rng, 3, 2) if seed < 2 else near_truth(truth, 3, rng, 0.3)
    res = voronoi_loss(G, truth, kind, metric=metric, return_details=True)
    assert naive_loss(G, truth, res.t0, res.t1, kind, metric) == pytest.approx(
        res.value, rel=1e-9, abs=1e-12)
    axis = np.linspace(-4, 4, 29)
    brute = min(naive_best_t0(G, truth, np.array([a, b]), kind, metric)
                for a in axis for b in axis)
    assert res.value <= brute + 1e-9


def test_infimum_against_brute_force_d3():
    # d >= 3 uses a multi-start search; compare with a coarse grid.
    rng = np.random.default_rng(7)
    truth = random_measure(rng, 2, 3)
    G = near_truth(truth, 3, rng, 0.3).translated(0.0, [0.5, -0.5, 1.0])
    res = voronoi_loss(G, truth, "D2", return_details=True)
    assert naive_loss(G, truth, res.t0, res.t1, "D2", "l1") == pytest.approx(
        res.value, rel=1e-9, abs=1e-12)
    axis = np.linspace(-1.5, 2.5, 11)
    brute = min(naive_best_t0(G, truth, np.array([a, b, c]), "D2", "l1")
                for a in axis for b in axis for c in axis)
    assert res.value <= brute + 1e-9


def test_reference_mode_is_the_official_formula():
    # Official convention: both measures canonical (reference gate (0, 0)),
    # weights exp(beta0) of those forms, L1 cells, no infimum; the truth's
    # reference is its last atom, the fitted one the atom of smallest loss, so
    # that the order of the fitted atoms does not matter.
    truth = MixingMeasure.from_params(**N23_TRUTH)
    canon_truth = truth.canonical()
    rng = np.random.default_rng(7)
    for k in (2, 3, 4):
        G = near_truth(truth, k, rng, noise=0.2)
        for kind in ("D1", "D2"):
            by_reference = [
                naive_loss(G.canonical(r), canon_truth, 0.0, np.zeros(1), kind, "l1",
                           p=np.exp(G.canonical(r).gate_intercept))
                for r in range(k)]
            got = voronoi_loss(G, truth, kind, translation="reference")
            assert got == pytest.approx(min(by_reference), rel=1e-10)
            reversed_G = MixingMeasure.from_params(
                **{name: value[::-1] for name, value in G.to_params().items()})
            assert voronoi_loss(reversed_G, truth, kind,
                                translation="reference") == pytest.approx(got,
                                                                         rel=1e-10)
            # The infimum can only be lower when the truth is canonical.
            assert voronoi_loss(G, truth, kind) <= got * (1 + 1e-12)


# ---------------------------------------------------------------- invariances
@pytest.mark.parametrize("truth_params, k", [(N23_TRUTH, 3), (TRUTH_3X2, 4)])
def test_translation_and_permutation_invariance(truth_params, k):
    truth = MixingMeasure.from_params(**truth_params)
    rng = np.random.default_rng(1)
    G = near_truth(truth, k, rng, noise=0.1)
    d = truth.n_features
    t1 = rng.normal(size=d) * 3
    perm = rng.permutation(k)
    perm_true = rng.permutation(truth.n_atoms)
    moved = G.translated(2.5, t1)
    shuffled = MixingMeasure.from_params(
        **{name: value[perm] for name, value in G.to_params().items()})
    shuffled_truth = MixingMeasure.from_params(
        **{name: value[perm_true] for name, value in truth.to_params().items()})
    for kind in ("D1", "D2"):
        for metric in ("l1", "l2"):
            base = voronoi_loss(G, truth, kind, metric=metric)
            assert base > 0
            for other in (voronoi_loss(moved, truth, kind, metric=metric),
                          voronoi_loss(G, truth.translated(-1.0, -t1), kind,
                                       metric=metric),
                          voronoi_loss(shuffled, truth, kind, metric=metric),
                          voronoi_loss(G, shuffled_truth, kind, metric=metric)):
                assert other == pytest.approx(base, rel=1e-8)
    # The reference convention is translation invariant too.
    ref = voronoi_loss(G, truth, translation="reference")
    assert voronoi_loss(moved, truth, translation="reference") == pytest.approx(
        ref, rel=1e-10)


@pytest.mark.parametrize("truth_params", [N23_TRUTH, TRUTH_3X2])
def test_zero_iff_equal_up_to_permutation_and_translation(truth_params):
    truth = MixingMeasure.from_params(**truth_params)
    k0, d = truth.n_atoms, truth.n_features
    perm = np.arange(k0)[::-1]
    same = MixingMeasure.from_params(
        **{name: value[perm] for name, value in truth.to_params().items()})
    # Exactly representable shifts: the alignment is exact in floating point.
    same = same.translated(-1.5, np.full(d, 0.75))
    for kind in ("D1", "D2"):
        for metric in ("l1", "l2"):
            assert voronoi_loss(same, truth, kind, metric=metric) == 0.0
            # Any other shift: zero up to rounding.
            assert voronoi_loss(truth.translated(0.3, np.full(d, 0.1)), truth,
                                kind, metric=metric) < 1e-12
    # Any change of the model makes the loss positive.
    for name in ("gate_coef", "expert_coef", "expert_intercept", "expert_variance"):
        params = truth.to_params()
        params[name] = params[name] + 1e-3 * (np.arange(params[name].size)
                                              .reshape(params[name].shape) == 0)
        G = MixingMeasure.from_params(**params)
        for kind in ("D1", "D2"):
            assert voronoi_loss(G, truth, kind) > 0
    params = truth.to_params()
    params["gate_intercept"][0] += 1e-3  # relative weights change
    assert voronoi_loss(MixingMeasure.from_params(**params), truth) > 0


def test_d1_equals_d2_with_one_atom_per_cell():
    rng = np.random.default_rng(3)
    for truth_params in (N23_TRUTH, TRUTH_3X2):
        truth = MixingMeasure.from_params(**truth_params)
        for _ in range(3):
            G = near_truth(truth, truth.n_atoms, rng, noise=0.05)
            d1 = voronoi_loss(G, truth, "D1", return_details=True)
            d2 = voronoi_loss(G, truth, "D2", return_details=True)
            assert np.all(d2.cell_sizes == 1)
            assert d1.value == pytest.approx(d2.value, rel=1e-12)


# -------------------------------------------------------------------- exponents
def loglog_slope(values, eps):
    return np.polyfit(np.log(eps), np.log(values), 1)[0]


@pytest.mark.parametrize(
    "M, offsets",
    [(2, [-1.0, 1.0]), (3, [-1.0, 0.0, 1.0])],
)
def test_exponents_of_split_atoms(M, offsets):
    # SIMPLE has weights (1, 1): normalised p = 1/2 per true atom, each of the M
    # pieces of atom 0 has p = 1 / (2M); the weight terms vanish.
    r = RBAR_KNOWN[M]
    eps = np.logspace(-3, -0.5, 8)
    for group, power in [("expert_intercept", r), ("gate_coef", r),
                         ("expert_coef", r / 2), ("expert_variance", r / 2)]:
        values = np.array([voronoi_loss(split(SIMPLE, 0, offsets, group, e), SIMPLE)
                           for e in eps])
        assert loglog_slope(values, eps) == pytest.approx(power, abs=1e-6)
        # The constant too: sum_m 1/(2M) |offset_m|^power.
        const = np.sum(np.abs(offsets) ** power) / (2 * M)
        np.testing.assert_allclose(values, const * eps**power, rtol=1e-6)
        # D1 is linear in eps whatever M.
        d1 = [voronoi_loss(split(SIMPLE, 0, offsets, group, e), SIMPLE, "D1")
              for e in eps]
        assert loglog_slope(d1, eps) == pytest.approx(1.0, abs=1e-6)


def test_unknown_rbar_warns_and_can_be_set():
    offsets = [-1.5, -0.5, 0.5, 1.5]
    G = split(SIMPLE, 0, offsets, "expert_intercept", 0.1)
    with pytest.warns(UnknownRbarWarning, match=r"M = \[4\]"):
        res = voronoi_loss(G, SIMPLE, return_details=True)
    # Default 2M = 8: D2 = sum_m 1/8 |0.1 offset_m|^8.
    assert res.value == pytest.approx(np.sum(np.abs(offsets) ** 8) * 0.1**8 / 8,
                                      rel=1e-9)
    assert res.rbar == {4: 8.0}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert voronoi_loss(G, SIMPLE, rbar={4: 5}) == pytest.approx(
            np.sum(np.abs(offsets) ** 5) * 0.1**5 / 8, rel=1e-9)
        assert voronoi_loss(G, SIMPLE, rbar=lambda M: 2) == pytest.approx(
            np.sum(np.abs(offsets) ** 2) * 0.1**2 / 8, rel=1e-9)
        voronoi_loss(G, SIMPLE, "D1")  # D1 needs no rbar
    # A mapping overrides only its keys: M = 2 keeps rbar(2) = 4 ...
    G2 = split(SIMPLE, 0, [-1.0, 1.0], "expert_intercept", 0.1)
    assert voronoi_loss(G2, SIMPLE, rbar={4: 5}) == pytest.approx(0.1**4 / 2,
                                                                  rel=1e-9)
    # ... or changes it.
    assert voronoi_loss(G2, SIMPLE, rbar={2: 3}) == pytest.approx(0.1**3 / 2,
                                                                  rel=1e-9)
    assert [default_rbar(M) for M in (1, 2, 3, 4, 7)] == [1, 4, 6, 8, 14]


# --------------------------------------------------------------------- details
def test_details_fields():
    truth = MixingMeasure.from_params(**TRUTH_3X2)
    G = near_truth(truth, 5, np.random.default_rng(4), noise=0.05)
    res = voronoi_loss(G, truth, "D2", return_details=True)
    k, k0, d = 5, 3, 2
    assert res.kind == "D2" and res.translation == "infimum" and res.metric == "l1"
    assert res.cells.shape == (k,) and res.cell_sizes.shape == (k0,)
    assert res.cell_sizes.sum() == k
    np.testing.assert_array_equal(np.bincount(res.cells, minlength=k0),
                                  res.cell_sizes)
    assert res.t1.shape == (d,)
    assert res.fitted_weights.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(
        res.weight_sums,
        [res.fitted_weights[res.cells == j].sum() for j in range(k0)])
    np.testing.assert_allclose(res.true_weights,
                               np.exp(truth.gate_intercept + res.t0))
    assert res.cell_terms.sum() == pytest.approx(res.value, rel=1e-12)
    assert (res.atom_terms.sum() + np.abs(res.weight_sums - res.true_weights).sum()
            == pytest.approx(res.value, rel=1e-12))
    assert float(res) == res.value
    assert set(res.group_errors) == {"gate_coef", "expert_coef", "expert_intercept",
                                     "expert_variance"}
    # group error of cell j: the largest raw distance in the cell.
    for j in range(k0):
        members = np.flatnonzero(res.cells == j)
        b = np.abs(G.expert_intercept[members] - truth.expert_intercept[j])
        assert res.group_errors["expert_intercept"][j] == pytest.approx(b.max())
        g = np.linalg.norm(G.gate_coef[members] - truth.gate_coef[j] - res.t1,
                           axis=1)
        assert res.group_errors["gate_coef"][j] == pytest.approx(g.max())
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.value = 0.0
    with pytest.raises(ValueError, match="read-only"):
        res.cells[0] = 1


# ----------------------------------------------------------------------- cells
def test_cells_tie_goes_to_lowest_index():
    # The fitted atom sits exactly half way between the two true atoms.
    G = MixingMeasure(gate_intercept=[0.0], gate_coef=[[0.0]],
                      expert_intercept=[0.0], expert_coef=[[0.0]],
                      expert_variance=[0.5])
    for metric in ("l1", "l2"):
        assert voronoi_cells(G, SIMPLE, metric=metric,
                             translation="none").tolist() == [0]
    reversed_truth = MixingMeasure.from_params(
        **{name: value[::-1] for name, value in SIMPLE.to_params().items()})
    assert voronoi_cells(G, reversed_truth, translation="none").tolist() == [0]


def test_cells_l1_and_l2_differ():
    # Differences to true atom 0: (1, 1) in (b, a); to true atom 1: 1.8 in b.
    # l1: 2 > 1.8 -> cell 1.  l2: sqrt(2) < 1.8 -> cell 0.
    truth = MixingMeasure(gate_intercept=[0.0, 0.0], gate_coef=[[0.0], [0.0]],
                          expert_intercept=[1.0, 1.8], expert_coef=[[1.0], [0.0]],
                          expert_variance=[1.0, 1.0])
    G = MixingMeasure(gate_intercept=[0.0], gate_coef=[[0.0]],
                      expert_intercept=[0.0], expert_coef=[[0.0]],
                      expert_variance=[1.0])
    assert voronoi_cells(G, truth, metric="l1", translation="none").tolist() == [1]
    assert voronoi_cells(G, truth, metric="l2", translation="none").tolist() == [0]


def test_cells_follow_the_translation():
    # Gate slopes (5, -5); the expert parts of the two true atoms differ by
    # |1 - (-1)| + |0.5 - (-0.5)| = 3 in l1.  Fit: the truth with every gate
    # slope moved by +10, i.e. (15, 5): untranslated, fitted atom 1 is at l1
    # distance 0 + 3 from true atom 0 and 10 from true atom 1, so both fitted
    # atoms fall in cell 0; the translation t1 = 10 undoes it.
    truth = MixingMeasure(gate_intercept=[0.0, 0.0], gate_coef=[[5.0], [-5.0]],
                          expert_intercept=[1.0, -1.0], expert_coef=[[0.5], [-0.5]],
                          expert_variance=[0.5, 0.5])
    G = truth.translated(0.0, [10.0])
    assert voronoi_cells(G, truth, translation="none").tolist() == [0, 0]
    assert voronoi_cells(G, truth, translation=[10.0]).tolist() == [0, 1]
    assert voronoi_cells(G, truth, translation="reference").tolist() == [0, 1]
    assert voronoi_cells(G, truth).tolist() == [0, 1]
    res = voronoi_loss(G, truth, return_details=True)
    assert res.value == 0.0
    np.testing.assert_array_equal(voronoi_cells(G, truth), res.cells)
    np.testing.assert_allclose(res.t1, [10.0])


def test_inputs_as_dict_and_estimator():
    truth = MixingMeasure.from_params(**N23_TRUTH)
    X, y = truth.sample(2000, random_state=0)
    est = GaussianMoERegressor(n_experts=2, init_params=truth.to_params(),
                               random_state=0).fit(X, y)
    fitted = MixingMeasure.from_estimator(est)
    expected = voronoi_loss(fitted, truth)
    assert voronoi_loss(est, N23_TRUTH) == expected
    assert voronoi_loss(fitted.to_dict(), truth) == expected
    assert 0 < expected < 0.5
    # one fitted atom in each true atom's cell (the fit's own order is canonical)
    cells = voronoi_cells(est, truth)
    np.testing.assert_array_equal(np.sort(cells), [0, 1])
    np.testing.assert_allclose(est.expert_coef_[np.argsort(cells)],
                               truth.expert_coef, atol=1.0)


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "D3"}, r"kind must be one of \('D1', 'D2'\)"),
        ({"translation": "mean"}, "translation must be one of"),
        ({"metric": "linf"}, "metric must be one of"),
        ({"rbar": 4}, "rbar must be None, a mapping"),
        ({"rbar": {2: 0.5}}, r"rbar\(2\) = 0.5"),
        ({"rbar": {2: np.nan}}, "finite number >= 1"),
        ({"return_details": "yes"}, "return_details must be True or False"),
    ],
)
def test_loss_validation(kwargs, message):
    G = split(SIMPLE, 0, [-1.0, 1.0], "expert_intercept", 0.1)
    with pytest.raises(ValueError, match=message):
        voronoi_loss(G, SIMPLE, **kwargs)


def test_dimension_and_type_errors():
    truth2 = MixingMeasure.from_params(**TRUTH_3X2)
    with pytest.raises(ValueError, match="n_features=1 but G_true has n_features=2"):
        voronoi_loss(SIMPLE, truth2)
    with pytest.raises(ValueError, match="n_features=1 but G_true has n_features=2"):
        voronoi_cells(SIMPLE, truth2)
    with pytest.raises(ValueError, match="G must be a MixingMeasure"):
        voronoi_loss([1, 2, 3], SIMPLE)
    with pytest.raises(ValueError, match="G_true must be a MixingMeasure"):
        voronoi_cells(SIMPLE, "truth")
    with pytest.raises(ValueError, match="translation must be 'infimum'"):
        voronoi_cells(SIMPLE, SIMPLE, translation=[1.0, 2.0])
    with pytest.raises(ValueError, match="translation must be one of"):
        voronoi_cells(SIMPLE, SIMPLE, translation="centre")
