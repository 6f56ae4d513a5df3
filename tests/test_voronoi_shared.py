"""The measure of shared and routed experts and its Voronoi losses D1-D4
(arXiv 2505.10860).

The density is checked against a direct numpy transcription of the model's
eq. (1), the draws by the probability integral transform, the losses against
the loop-by-loop twin ``naive.shared_routed_loss``, for their invariances and
for the power of each parameter group (log-log slopes).
"""

import warnings

import naive
import numpy as np
import pytest
import scipy.special
import scipy.stats

from gmoe import (
    MixingMeasure,
    SharedRoutedLossResult,
    SharedRoutedMeasure,
    UnknownRbarWarning,
    shared_routed_loss,
    voronoi_loss,
)
from gmoe.theory._voronoi_shared import Fixed

KINDS = ("D1", "D2", "D3", "D4")


# -------------------------------------------------------------------- helpers
def build(omega, shared, tau, beta0, beta1, routed, nu, gate="softmax", c=0.5):
    """Measure from the paper's arrays: ``shared``/``routed`` rows (intercept,
    slopes...), ``beta1`` rows of gate slopes."""
    return SharedRoutedMeasure.from_arrays(
        omega, np.vstack([shared, routed]), np.concatenate([tau, nu]), gate=gate,
        shared_fraction=c, gate_intercept=beta0, gate_coef=beta1)


def truth(gate="softmax"):
    """k1* = 1 shared, k2* = 2 routed, one covariate."""
    return dict(omega=[1.0], shared=[[0.0, 6.0]], tau=[0.25], beta0=[-0.5, 0.0],
                beta1=[[5.0], [0.0]], routed=[[-12.0, 12.0], [4.0, 4.0]],
                nu=[0.4, 0.3], gate=gate)


def truth2(gate="softmax"):
    """k1* = 2 shared, k2* = 2 routed, two covariates."""
    return dict(omega=[0.3, 0.7], shared=[[0.0, 6.0, -1.0], [2.0, -3.0, 1.0]],
                tau=[0.25, 0.5], beta0=[-0.5, 0.0], beta1=[[5.0, 1.0], [0.0, 0.0]],
                routed=[[-12.0, 12.0, 0.0], [4.0, 4.0, 2.0]], nu=[0.4, 0.3],
                gate=gate)


def perturbed(params, rng, scale, n_shared_extra=0, n_routed_extra=0):
    """The parameters with atoms duplicated (the first ones) and noise added."""
    p = {key: (np.array(value, dtype=float) if key != "gate" else value)
         for key, value in params.items()}
    for _ in range(n_shared_extra):
        p["omega"][0] /= 2.0
        p["omega"] = np.append(p["omega"], p["omega"][0])
        p["shared"] = np.vstack([p["shared"], p["shared"][:1]])
        p["tau"] = np.append(p["tau"], p["tau"][0])
    for _ in range(n_routed_extra):
        p["beta0"][0] -= np.log(2.0)
        p["beta0"] = np.insert(p["beta0"], 0, p["beta0"][0])
        p["beta1"] = np.vstack([p["beta1"][:1], p["beta1"]])
        p["routed"] = np.vstack([p["routed"][:1], p["routed"]])
        p["nu"] = np.insert(p["nu"], 0, p["nu"][0])
    for key in ("shared", "beta1", "routed", "beta0"):
        p[key] = p[key] + scale * rng.standard_normal(p[key].shape)
    for key in ("tau", "nu"):
        p[key] = p[key] * np.exp(scale * rng.standard_normal(p[key].shape))
    p["omega"] = p["omega"] * np.exp(scale * rng.standard_normal(p["omega"].shape))
    return p


def eq1_density(X, y, params, c=0.5):
    """f(y|x) of eq. (1), written out with numpy."""
    X, y = np.asarray(X, float), np.asarray(y, float)
    Xt = np.column_stack([np.ones(len(X)), X])

    def phi(mean, var):
        return np.exp(-(y[:, None] - mean) ** 2 / (2 * var)) / np.sqrt(2 * np.pi * var)

    omega = np.asarray(params["omega"], float)
    omega = omega / omega.sum()
    shared = phi(Xt @ np.asarray(params["shared"], float).T,
                 np.asarray(params["tau"], float)) @ omega
    s = np.asarray(params["beta0"]) + X @ np.asarray(params["beta1"], float).T
    if params["gate"] == "softmax":
        g = np.exp(s - s.max(axis=1, keepdims=True))
    else:
        g = 1.0 / (1.0 + np.exp(-s))
    g = g / g.sum(axis=1, keepdims=True)
    routed = np.sum(g * phi(Xt @ np.asarray(params["routed"], float).T,
                            np.asarray(params["nu"], float)), axis=1)
    return c * shared + (1 - c) * routed


def eq1_cdf(X, y, params, c=0.5):
    """P(Y <= y | x) of eq. (1)."""
    X, y = np.asarray(X, float), np.asarray(y, float)
    Xt = np.column_stack([np.ones(len(X)), X])
    omega = np.asarray(params["omega"], float)
    omega = omega / omega.sum()
    shared = scipy.stats.norm.cdf(
        y[:, None], Xt @ np.asarray(params["shared"], float).T,
        np.sqrt(params["tau"])) @ omega
    s = np.asarray(params["beta0"]) + X @ np.asarray(params["beta1"], float).T
    g = (scipy.special.softmax(s, axis=1) if params["gate"] == "softmax"
         else scipy.special.expit(s) / scipy.special.expit(s).sum(1, keepdims=True))
    routed = np.sum(g * scipy.stats.norm.cdf(
        y[:, None], Xt @ np.asarray(params["routed"], float).T, np.sqrt(params["nu"])),
        axis=1)
    return c * shared + (1 - c) * routed


def slope(hs, values):
    return np.polyfit(np.log(hs), np.log(values), 1)[0]


def part_dict(measure, weights, routed):
    out = dict(weight=np.asarray(weights), coef=measure.expert_coef,
               intercept=measure.expert_intercept, var=measure.expert_variance)
    if routed:
        out["gate"] = measure.gate_coef
    return out


def naive_value(kind, G, Gt, routed_w, routed_w_true, t1=0.0, r=None):
    return naive.shared_routed_loss(
        kind, part_dict(G.shared, G.shared_weights, False),
        part_dict(Gt.shared, Gt.shared_weights, False),
        part_dict(G.routed, routed_w, True),
        part_dict(Gt.routed, routed_w_true, True), t1=t1, r=r)


# -------------------------------------------------------------------- measure
@pytest.mark.parametrize("gate", ["softmax", "sigmoid"])
@pytest.mark.parametrize("c", [0.5, 0.2])
def test_density_is_eq1(gate, c):
    rng = np.random.default_rng(0)
    params = perturbed(truth2(gate), rng, 0.3, 1, 1)
    G = build(**params, c=c)
    X = rng.uniform(-3, 3, size=(50, 2))
    y = rng.normal(0, 10, size=50)
    np.testing.assert_allclose(G.density(X, y), eq1_density(X, y, params, c),
                               rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(G.log_likelihood(X, y),
                               np.sum(np.log(eq1_density(X, y, params, c))),
                               rtol=1e-10)


@pytest.mark.parametrize("gate,c", [("softmax", 0.5), ("sigmoid", 0.5),
                                    ("softmax", 0.8)])
def test_sample_follows_eq1(gate, c):
    params = truth(gate)
    G = build(**params, c=c)
    X, y = G.sample(4000, random_state=1)
    assert X.shape == (4000, 1) and y.shape == (4000,)
    assert X.min() >= -3 and X.max() <= 3
    assert abs(X.mean()) < 4 * np.sqrt(3.0 / 4000)  # U[-3, 3]: variance 3
    # The probability integral transform of the draws is uniform.
    u = eq1_cdf(X, y, params, c)
    assert scipy.stats.kstest(u, "uniform").pvalue > 1e-3
    # The shared fraction moves the law: a wrong c is detected.
    u_wrong = eq1_cdf(X, y, params, c=1 - c if c != 0.5 else 0.1)
    assert scipy.stats.kstest(u_wrong, "uniform").pvalue < 1e-3
    X2, y2 = G.sample(4000, random_state=1)
    np.testing.assert_array_equal(y, y2)
    Xg, yg = G.sample(X[:10], random_state=2)
    np.testing.assert_array_equal(Xg, X[:10])


@pytest.mark.parametrize("gate, fraction", [("softmax", 0.5), ("sigmoid", 0.3)])
def test_from_estimator_reads_a_fit(gate, fraction):
    from gmoe import GaussianMoERegressor

    params = truth(gate)
    G_true = build(**params)
    X, y = G_true.sample(1500, random_state=0)
    moe = GaussianMoERegressor(len(params["nu"]), n_shared_experts=len(
        params["omega"]), gate=gate, shared_fraction=fraction, n_init=3,
        random_state=0).fit(X, y)
    G = SharedRoutedMeasure.from_estimator(moe)
    assert (G.n_shared, G.n_routed) == (len(params["omega"]), len(params["nu"]))
    assert G.shared_fraction == fraction
    np.testing.assert_allclose(G.shared_weights, moe.shared_weights_)
    # the measure's density is the fitted model's
    np.testing.assert_allclose(G.log_likelihood(X, y), moe.log_likelihood_,
                               rtol=1e-10)
    np.testing.assert_allclose(G.log_density(X, y), moe.score_samples(X, y),
                               rtol=1e-10, atol=1e-12)
    assert shared_routed_loss(moe, G, "D2") == 0.0  # an estimator as G
    plain = GaussianMoERegressor(2, n_init=2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="n_shared_experts"):
        SharedRoutedMeasure.from_estimator(plain)


def test_measure_bad_input():
    params = truth()
    G = build(**params)
    with pytest.raises(ValueError, match="constant"):
        SharedRoutedMeasure(G.routed, G.routed)
    with pytest.raises(ValueError, match="MixingMeasure"):
        SharedRoutedMeasure(G.shared, "routed")
    with pytest.raises(ValueError, match="shared_fraction"):
        SharedRoutedMeasure(G.shared, G.routed, 1.0)
    other = build(**truth2()).routed
    with pytest.raises(ValueError, match="n_features"):
        SharedRoutedMeasure(G.shared, other)
    with pytest.raises(ValueError, match="shared_weights"):
        build(**{**params, "omega": [-1.0]})
    with pytest.raises(ValueError, match="expert_var"):
        build(**{**params, "nu": [0.4]})
    with pytest.raises(ValueError, match="n_or_X"):
        G.sample(0)
    with pytest.raises(ValueError, match="column"):
        G.sample(np.zeros((3, 2)))


# --------------------------------------------------------------- the losses
@pytest.mark.parametrize("gate", ["softmax", "sigmoid"])
@pytest.mark.parametrize("kind", KINDS)
def test_zero_at_truth_and_permutation_invariant(gate, kind):
    G_true = build(**truth2(gate))
    assert shared_routed_loss(G_true, G_true, kind) == 0.0
    rng = np.random.default_rng(3)
    params = perturbed(truth2(gate), rng, 0.05, 1, 2)
    G = build(**params)
    value = shared_routed_loss(G, G_true, kind)
    assert value > 0
    ps, pr = rng.permutation(3), rng.permutation(4)
    shuffled = dict(params, omega=params["omega"][ps], shared=params["shared"][ps],
                    tau=params["tau"][ps], beta0=params["beta0"][pr],
                    beta1=params["beta1"][pr], routed=params["routed"][pr],
                    nu=params["nu"][pr])
    assert np.isclose(shared_routed_loss(build(**shuffled), G_true, kind), value,
                      rtol=1e-12, atol=0)
    # The true atoms too.
    t = {key: (np.array(v) if key != "gate" else v) for key, v in truth2(gate).items()}
    flipped = dict(t, omega=t["omega"][::-1], shared=t["shared"][::-1],
                   tau=t["tau"][::-1])
    assert np.isclose(shared_routed_loss(G, build(**flipped), kind), value,
                      rtol=1e-12, atol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_softmax_gauge_invariance(kind):
    G_true = build(**truth2())
    G = build(**perturbed(truth2(), np.random.default_rng(4), 0.05, 1, 1))
    value = shared_routed_loss(G, G_true, kind)
    moved = SharedRoutedMeasure(
        MixingMeasure.from_params(gate="constant", **{
            **G.shared.to_params(), "gate_intercept": G.shared.gate_intercept + 2.0}),
        G.routed.translated(1.5, [0.7, -0.3]))
    assert np.isclose(shared_routed_loss(moved, G_true, kind), value, rtol=1e-9)


@pytest.mark.parametrize("gate", ["softmax", "sigmoid"])
@pytest.mark.parametrize("kind", KINDS)
def test_exact_fitted_scales_as_h(gate, kind):
    G_true = build(**truth2(gate))
    hs = np.array([1e-3, 3e-3, 1e-2, 3e-2])
    values = [shared_routed_loss(
        build(**perturbed(truth2(gate), np.random.default_rng(5), h)), G_true, kind)
        for h in hs]
    assert abs(slope(hs, values) - 1.0) < 0.05
    # With one atom per cell every kind is the same loss.
    others = [shared_routed_loss(build(**perturbed(truth2(gate),
                                                  np.random.default_rng(5), 3e-2)),
                                 G_true, k) for k in KINDS]
    np.testing.assert_allclose(others, values[-1], rtol=1e-12)


#: Expected log-log slopes of a cell of two atoms at +-h in one group.
SHARED_SLOPES = {"D1": {"intercept": 2, "coef": 2, "var": 2},
                 "D2": {"intercept": 4, "coef": 2, "var": 2}}
SHARED_SLOPES["D3"] = SHARED_SLOPES["D4"] = SHARED_SLOPES["D2"]
ROUTED_SLOPES = {"D1": {"gate": 2, "intercept": 2, "coef": 2, "var": 2},
                 "D2": {"gate": 4, "intercept": 4, "coef": 2, "var": 2},
                 "D4": {"gate": 1, "intercept": 1, "coef": 1, "var": 1}}
ROUTED_SLOPES["D3"] = ROUTED_SLOPES["D2"]
HS = np.array([0.05, 0.1, 0.2, 0.4])


def split_shared(h, group, n=2):
    """The truth with its shared atom split into ``n`` atoms at offsets of
    ``h`` in one group (a symmetric pattern, equal weights)."""
    p = truth()
    offsets = np.linspace(-h, h, n)
    shared = np.repeat(np.array(p["shared"]), n, axis=0)
    tau = np.repeat(p["tau"], n)
    if group == "intercept":
        shared[:, 0] += offsets
    elif group == "coef":
        shared[:, 1] += offsets
    else:
        tau = tau + offsets / 4
    return build(**{**p, "omega": np.full(n, 1.0 / n), "shared": shared, "tau": tau})


def split_routed(h, group, gate, n=2):
    """The truth with its first routed atom split into ``n`` atoms (weights
    divided by n) at offsets of ``h`` in one group."""
    p = truth(gate)
    offsets = np.linspace(-h, h, n)
    beta0 = np.concatenate([np.full(n, p["beta0"][0] - np.log(n)), p["beta0"][1:]])
    beta1 = np.vstack([np.repeat(p["beta1"][:1], n, axis=0), p["beta1"][1:]])
    routed = np.vstack([np.repeat(np.array(p["routed"][:1]), n, axis=0),
                        p["routed"][1:]])
    nu = np.concatenate([np.full(n, p["nu"][0]), p["nu"][1:]])
    if group == "gate":
        beta1[:n, 0] += offsets
    elif group == "intercept":
        routed[:n, 0] += offsets
    elif group == "coef":
        routed[:n, 1] += offsets
    else:
        nu[:n] += offsets / 4
    return build(**{**p, "beta0": beta0, "beta1": beta1, "routed": routed, "nu": nu})


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("group", ["intercept", "coef", "var"])
def test_split_shared_atom_powers(kind, group):
    G_true = build(**truth())
    values = [shared_routed_loss(split_shared(h, group), G_true, kind) for h in HS]
    assert abs(slope(HS, values) - SHARED_SLOPES[kind][group]) < 1e-6
    res = shared_routed_loss(split_shared(0.1, group), G_true, kind,
                             return_details=True)
    assert isinstance(res, SharedRoutedLossResult)
    assert res.routed.value == 0.0 and res.value == res.shared.value
    np.testing.assert_array_equal(res.shared.cells, [0, 0])


@pytest.mark.parametrize("gate", ["softmax", "sigmoid"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("group", ["gate", "intercept", "coef", "var"])
def test_split_routed_atom_powers(gate, kind, group):
    G_true = build(**truth(gate))
    values = [shared_routed_loss(split_routed(h, group, gate), G_true, kind)
              for h in HS]
    assert abs(slope(HS, values) - ROUTED_SLOPES[kind][group]) < 1e-6
    res = shared_routed_loss(split_routed(0.1, group, gate), G_true, kind,
                             return_details=True)
    np.testing.assert_array_equal(res.routed.cells, [0, 0, 1])
    assert res.shared.value == 0.0


def test_three_atom_cells_use_r3_and_r_is_a_parameter():
    G_true = build(**truth())
    values = [shared_routed_loss(split_shared(h, "intercept", n=3), G_true, "D2")
              for h in HS]
    assert abs(slope(HS, values) - 6) < 1e-6
    values = [shared_routed_loss(split_routed(h, "gate", "softmax", n=3), G_true,
                                 "D2") for h in HS]
    assert abs(slope(HS, values) - 6) < 1e-6
    # r as a mapping, a pair (shared, routed), and exponents as parameters.
    values = [shared_routed_loss(split_shared(h, "intercept"), G_true, "D2",
                                 r={2: 8}) for h in HS]
    assert abs(slope(HS, values) - 8) < 1e-6
    values = [shared_routed_loss(split_shared(h, "var"), G_true, "D2",
                                 r=(lambda M: 10, None)) for h in HS]
    assert abs(slope(HS, values) - 5) < 1e-6
    values = [shared_routed_loss(split_routed(h, "gate", "softmax"), G_true, "D2",
                                 r=(None, {2: 3})) for h in HS]
    assert abs(slope(HS, values) - 3) < 1e-6
    values = [shared_routed_loss(split_shared(h, "coef"), G_true, "D2",
                                 exponents={"shared": {"expert_coef": Fixed(3)}})
              for h in HS]
    assert abs(slope(HS, values) - 3) < 1e-6
    values = [shared_routed_loss(split_routed(h, "coef", "softmax"), G_true, "D1",
                                 exponents={"routed": {"expert_coef": 1.5}})
              for h in HS]  # a number is a factor of r(2) = 4
    assert abs(slope(HS, values) - 6) < 1e-6


def test_unknown_r_warns_only_when_used():
    G_true = build(**truth())
    G = split_shared(0.1, "intercept", n=4)
    with pytest.warns(UnknownRbarWarning, match="shared"):
        res = shared_routed_loss(G, G_true, "D2", return_details=True)
    assert res.shared.rbar == {4: 8.0}
    np.testing.assert_allclose(res.exponents["shared"][4], [1.0, 8.0, 2.0, 4.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = shared_routed_loss(G, G_true, "D1", return_details=True)
        shared_routed_loss(G, G_true, "D2", r={4: 9})
    assert res.shared.rbar == {}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_naive_sigmoid(kind, seed):
    """No translation: the naive twin with the measures' own weights."""
    rng = np.random.default_rng(seed)
    G_true = build(**truth2("sigmoid"))
    extra = [(1, 2), (0, 1), (2, 0)][seed]
    G = build(**perturbed(truth2("sigmoid"), rng, 0.1, *extra))
    value = shared_routed_loss(G, G_true, kind)
    expected = naive_value(kind, G, G_true, G.routed.weights, G_true.routed.weights)
    assert np.isclose(value, expected, rtol=1e-12, atol=1e-15)


def test_against_naive_empty_cell():
    G_true = build(**truth2("sigmoid"))
    p = truth2("sigmoid")
    G = build(**{**p, "omega": [1.0], "shared": p["shared"][:1], "tau": p["tau"][:1]})
    res = shared_routed_loss(G, G_true, "D2", return_details=True)
    np.testing.assert_array_equal(res.shared.cell_sizes, [1, 0])
    # omega*: the first cell has 1 - 0.3 too much, the empty one misses 0.7.
    assert np.isclose(res.value, 1.4)
    expected = naive_value("D2", G, G_true, G.routed.weights, G_true.routed.weights)
    assert np.isclose(res.value, expected, rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_against_naive_softmax_infimum(kind, seed):
    """The routed part at the reported translation equals the twin; no
    translation on a grid does better."""
    rng = np.random.default_rng(10 + seed)
    G_true = build(**truth2())
    G = build(**perturbed(truth2(), rng, 0.1, 1, 1 + seed))
    res = shared_routed_loss(G, G_true, kind, return_details=True)
    routed = res.routed
    expected = naive_value(kind, G, G_true, routed.fitted_weights,
                           routed.true_weights, t1=routed.t1)
    assert np.isclose(res.value, expected, rtol=1e-10)
    p = np.exp(G.routed.gate_intercept
               - scipy.special.logsumexp(G.routed.gate_intercept))
    for t0 in routed.t0 + np.linspace(-0.3, 0.3, 5):
        for a in np.linspace(-0.4, 0.4, 5):
            for b in np.linspace(-0.4, 0.4, 5):
                value = naive_value(kind, G, G_true, p,
                                    np.exp(G_true.routed.gate_intercept + t0),
                                    t1=routed.t1 + [a, b])
                assert value >= res.value - 1e-9


def test_routed_part_is_voronoi_loss():
    """With the softmax D2 exponents, the routed part is voronoi_loss's D2."""
    G_true = build(**truth2())
    G = build(**perturbed(truth2(), np.random.default_rng(6), 0.1, 0, 2))
    res = shared_routed_loss(G, G_true, "D2", return_details=True)
    assert np.isclose(res.routed.value, voronoi_loss(G.routed, G_true.routed, "D2"),
                      rtol=1e-12)
    ref = shared_routed_loss(G, G_true, "D2", translation="reference",
                             return_details=True)
    assert np.isclose(ref.routed.value, voronoi_loss(
        G.routed, G_true.routed, "D2", translation="reference"), rtol=1e-12)


def test_loss_bad_input():
    G_true = build(**truth())
    G = build(**truth2())
    with pytest.raises(ValueError, match="n_features"):
        shared_routed_loss(G, G_true)
    with pytest.raises(ValueError, match="kind"):
        shared_routed_loss(G_true, G_true, "D5")
    with pytest.raises(ValueError, match="gate"):
        shared_routed_loss(build(**truth("sigmoid")), G_true)
    with pytest.raises(ValueError, match="shared_fraction"):
        shared_routed_loss(build(**truth(), c=0.3), G_true)
    with pytest.raises(ValueError, match="SharedRoutedMeasure"):
        shared_routed_loss(G_true.routed, G_true)
    with pytest.raises(ValueError, match="exponents"):
        shared_routed_loss(G_true, G_true, exponents={"shared": {"gate": 1.0}})
    with pytest.raises(ValueError, match="exponents"):
        shared_routed_loss(G_true, G_true, exponents={"routed": {"gate": -1.0}})
    with pytest.raises(ValueError, match="pair"):
        shared_routed_loss(G_true, G_true, r=(None, None, None))
    with pytest.raises(ValueError, match="rbar"):
        shared_routed_loss(G_true, G_true, r=3)
    with pytest.raises(ValueError, match="translation"):
        shared_routed_loss(G_true, G_true, translation="none")
    with pytest.raises(ValueError, match="return_details"):
        shared_routed_loss(G_true, G_true, return_details="yes")
    split = split_routed(0.1, "gate", "softmax")
    with pytest.raises(ValueError, match="gate exponent"):
        shared_routed_loss(split, G_true, "D2",
                           exponents={"routed": {"gate": Fixed(0.5)}})
