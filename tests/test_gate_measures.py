"""Mixing measures, Voronoi losses, merges and DSC for every dense gate of
gmoe.gates: each gate's measure against plain numpy from the estimator's
fitted attributes and the gates' formulas (tests/naive.py), the loss against a
loop-by-loop transcription of its formula, the loss's properties (zero iff
equal up to the gauge, permutations, the gauge's translations, D1 == D2 with one
atom per cell), the merge rule and DSC on constant-gate and cosine-gate truths,
and the sigmoid gate's refusals."""

import warnings

import numpy as np
import pytest
from naive import gate_scores
from scipy.special import softmax
from scipy.stats import kstest, norm

from gmoe import (
    GaussianMoERegressor,
    MixingMeasure,
    dendrogram,
    merge,
    select_n_experts,
    voronoi_cells,
    voronoi_loss,
)
from gmoe.gates import Cosine, TopK
from gmoe.theory._voronoi_atoms import default_rbar

EXPERTS = {"expert_intercept": np.array([-2.0, 1.0, 3.0]),
           "expert_coef": np.array([[1.5, 0.0], [-1.0, 1.0], [0.0, -2.0]]),
           "expert_variance": np.array([0.1, 0.2, 0.15])}

#: Three experts, d = 2, for each dense gate (data's units).
GATES = {
    "softmax": ("softmax", {"gate_intercept": np.array([0.5, -0.5, 0.0]),
                            "gate_coef": np.array([[2.0, -1.0], [-2.0, 1.5],
                                                   [0.0, 0.0]])}),
    "constant": ("constant", {"gate_intercept": np.array([0.3, -0.2, 0.0])}),
    "sigmoid": ("sigmoid", {"gate_intercept": np.array([0.5, -0.5, 0.2]),
                            "gate_coef": np.array([[2.0, -1.0], [-2.0, 1.0],
                                                   [0.5, 2.0]])}),
    "cosine": (Cosine(0.1), {"gate_intercept": np.array([0.2, -0.1, 0.0]),
                             "gate_coef": np.array([[3.0, 0.0], [-2.0, 2.0],
                                                    [0.0, -3.0]])}),
    "laplace": ("laplace", {"gate_intercept": np.array([0.0, 0.2, 0.0]),
                            "gate_coef": np.array([[1.0, 1.0], [-1.0, 0.5],
                                                   [0.5, -1.0]])}),
}
NAMES = sorted(GATES)


def truth(name):
    gate, params = GATES[name]
    return MixingMeasure(gate=gate, **params, **EXPERTS)


def with_params(G, **changes):
    params = G.to_params()
    params.update(changes)
    return MixingMeasure(gate=G.gate, **params)


def permuted(G, perm):
    return with_params(G, **{name: value[perm] for name, value in
                             G.to_params().items()})


def near(G_true, k, rng, noise):
    """k atoms around the truth (every true atom used, extra ones repeated with
    the weight split), moved by Gaussian noise."""
    k0 = G_true.n_atoms
    source = np.concatenate([np.arange(k0), rng.integers(0, k0, size=k - k0)])
    params = {name: np.array(value)[source]
              for name, value in G_true.to_params().items()}
    counts = np.bincount(source, minlength=k0)[source]
    params["gate_intercept"] = params["gate_intercept"] - np.log(counts)
    for name in params:
        params[name] = params[name] + noise * rng.normal(size=params[name].shape)
    params["expert_variance"] = np.abs(params["expert_variance"])
    return MixingMeasure(gate=G_true.gate, **params)


def blocks_of(params):
    """The gate's blocks in the data's units: (intercept, gate_coef) side by side."""
    return np.column_stack([params["gate_intercept"]]
                           + ([params["gate_coef"]] if "gate_coef" in params else []))


def identified_part(name, params, perturbation):
    """The gate part of the atoms: ``gate_coef``, but for the cosine gate
    ``v = w / (|w| + theta)`` (plain numpy)."""
    part = blocks_of(params)[:, 1:]
    if name == "cosine":
        part = part / (np.linalg.norm(part, axis=1) + perturbation)[:, None]
    return part


# ----------------------------------------------------------- naive references
def naive_cells(G, Gt):
    """Cells by the definition (l1 over the whole atom), no translation."""
    cells = []
    for i in range(G.n_atoms):
        best_j, best = None, np.inf
        for j in range(Gt.n_atoms):
            dist = np.sum(np.abs(G.atoms[i] - Gt.atoms[j]))
            if dist < best:
                best_j, best = j, dist
        cells.append(best_j)
    return np.array(cells)


def naive_loss(G, Gt, kind, rbar=default_rbar, factors=(1.0, 1.0, 0.5, 0.5)):
    """D1 / D2 of a gate whose gauge is at most the intercept translation t0:
    the formula term by term, the best t0 among the kinks of the weight terms."""
    cells = naive_cells(G, Gt)
    translate = G.gauge[0]
    p = np.exp(G.gate_intercept)
    if translate:
        p = p / p.sum()
        W = np.array([p[cells == j].sum() for j in range(Gt.n_atoms)])
        t0s = [-np.inf] + [np.log(W[j]) - Gt.gate_intercept[j]
                           for j in range(Gt.n_atoms) if W[j] > 0]
    else:
        t0s = [0.0]
    best = np.inf
    for t0 in t0s:
        total = 0.0
        for j in range(Gt.n_atoms):
            members = [i for i in range(G.n_atoms) if cells[i] == j]
            total += abs(sum(p[i] for i in members)
                         - np.exp(Gt.gate_intercept[j] + t0))
            M = len(members)
            for i in members:
                dists = [np.linalg.norm(G.gate_atoms[i] - Gt.gate_atoms[j]),
                         abs(G.expert_intercept[i] - Gt.expert_intercept[j]),
                         np.linalg.norm(G.expert_coef[i] - Gt.expert_coef[j]),
                         abs(G.expert_variance[i] - Gt.expert_variance[j])]
                if kind == "D1" or M == 1:
                    total += p[i] * sum(dists)
                else:
                    total += p[i] * sum(dist ** (f * rbar(M))
                                        for dist, f in zip(dists, factors,
                                                           strict=True))
        best = min(best, total)
    return best


# ------------------------------------------------------------------- measures
@pytest.mark.parametrize("name", NAMES)
def test_measure_against_numpy_and_the_estimator(name):
    G_true = truth(name)
    X, y = G_true.sample(400, low=-2, high=2, random_state=0)
    est = GaussianMoERegressor(3, gate=G_true.gate, init_params=G_true.to_params(),
                               max_iter=0).fit(X, y)
    G = est.mixing_measure_
    assert G == MixingMeasure.from_estimator(est)
    assert type(G.gate) is type(G_true.gate)
    params = {name_: getattr(est, name_ + "_") for name_ in G.to_params()}
    # plain numpy: the gate's formula on the fitted attributes, then softmax
    perturbation = getattr(G.gate, "perturbation", 0.1)
    pi = softmax(gate_scores(name, X, blocks_of(params), perturbation), axis=1)
    means = X @ params["expert_coef"].T + params["expert_intercept"]
    sd = np.sqrt(params["expert_variance"])
    density = np.sum(pi * norm.pdf(y[:, None], means, sd), axis=1)
    np.testing.assert_allclose(G.gate_probabilities(X), pi, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(est.predict_gate(X), pi, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(G.expert_means(X), means, rtol=1e-12)
    np.testing.assert_allclose(G.density(X, y), density, rtol=1e-10)
    np.testing.assert_allclose(G.conditional_mean(X), np.sum(pi * means, axis=1),
                               rtol=1e-10, atol=1e-12)
    assert G.log_density(X, y).sum() == pytest.approx(est.log_likelihood_,
                                                      rel=1e-10)
    # atoms: the gate part (gate_coef, or none) then (a, b, sigma)
    expected = np.column_stack([identified_part(name, params, perturbation),
                                params["expert_coef"],
                                params["expert_intercept"],
                                params["expert_variance"]])
    np.testing.assert_array_equal(G.atoms, expected)
    np.testing.assert_allclose(G.weights, np.exp(params["gate_intercept"]))
    # the fit reorders and re-references the truth: the same model
    assert voronoi_loss(G, G_true) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_sample_follows_the_density(name):
    G = truth(name)
    X = np.repeat(np.array([[-1.0, 0.5], [1.5, -1.0]]), 5000, axis=0)
    X_out, y = G.sample(X=X, random_state=1)
    np.testing.assert_array_equal(X_out, X)
    pi = G.gate_probabilities(X)
    pit = np.sum(pi * norm.cdf((y[:, None] - G.expert_means(X))
                               / np.sqrt(G.expert_variance)), axis=1)
    assert kstest(pit, "uniform").pvalue > 1e-3


@pytest.mark.parametrize("name", NAMES)
def test_translations_of_the_gauge_only(name):
    G = truth(name)
    translate_weights, translate_atoms = G.gauge
    assert (translate_weights, translate_atoms) == {
        "softmax": (True, True), "cosine": (True, True),
        "sigmoid": (False, False)}.get(name, (True, False))
    X, y = G.sample(50, low=-2, high=2, random_state=0)
    if translate_weights:
        moved = G.translated(1.25)
        np.testing.assert_allclose(moved.weights, G.weights * np.exp(1.25))
        np.testing.assert_allclose(moved.log_density(X, y), G.log_density(X, y),
                                   rtol=1e-12)
        if name == "cosine":
            # v_0 = 0 puts the other v_i outside the unit ball: no such w
            with pytest.raises(ValueError, match="unit ball"):
                G.canonical(0)
        else:
            assert G.canonical(0).gate_intercept[0] == 0
    else:
        with pytest.raises(ValueError, match="not in its gauge"):
            G.translated(1.0)
        assert G.canonical(0) == G
    if not translate_atoms and G.gate_atoms.shape[1]:
        with pytest.raises(ValueError, match="not in its gauge"):
            G.translated(0.0, [1.0, 0.0])


def test_round_trips_and_equality():
    import json

    for name in NAMES:
        G = truth(name)
        back = MixingMeasure.from_dict(json.loads(json.dumps(G.to_dict())))
        assert back == G and type(back.gate) is type(G.gate)
        assert ("gate" in G.to_dict()) == (name != "softmax")
    cosine = truth("cosine")
    assert cosine.to_dict()["gate"] == {"name": "cosine", "perturbation": 0.1}
    other = MixingMeasure(gate=Cosine(0.0), **cosine.to_params())
    assert other != cosine
    assert "gate=Cosine(perturbation=0.1)" in repr(cosine)
    constant = truth("constant")
    assert constant.atoms.shape == (3, 4) and constant.gate_atoms.shape == (3, 0)
    with pytest.raises(AttributeError, match="no gate_coef"):
        constant.gate_coef  # noqa: B018
    with pytest.raises(TypeError, match="unexpected"):
        MixingMeasure(gate="constant", gate_coef=np.zeros((3, 2)),
                      **GATES["constant"][1], **EXPERTS)
    with pytest.raises(ValueError, match="sparse"):
        MixingMeasure(gate=TopK(2), **GATES["softmax"][1], **EXPERTS)
    with pytest.raises(ValueError, match="perturbation must be >= 0"):
        MixingMeasure(gate=Cosine(-1.0), **GATES["cosine"][1], **EXPERTS)


def test_sparse_and_gaussian_models_have_no_measure_here():
    X, y = truth("softmax").sample(300, low=-2, high=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sparse = GaussianMoERegressor(3, gate=TopK(2), n_init=1, max_iter=5,
                                      random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="sparse gate"):
        sparse.mixing_measure_  # noqa: B018
    # an attribute the model does not have: hasattr and dir (IPython's
    # completion, scikit-learn's __dir__) do not fail
    assert not hasattr(sparse, "mixing_measure_")
    assert "predict" in dir(sparse)


# ----------------------------------------------------------------- the losses
@pytest.mark.parametrize("name", [n for n in NAMES if n not in ("softmax", "cosine")])
@pytest.mark.parametrize("kind", ["D1", "D2"])
def test_loss_against_the_formula(name, kind):
    G_true = truth(name)
    rng = np.random.default_rng(4)
    for k in (3, 4, 5):
        G = near(G_true, k, rng, noise=0.1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rbar(4) is assumed
            got = voronoi_loss(G, G_true, kind, return_details=True)
        assert got.value == pytest.approx(naive_loss(G, G_true, kind), rel=1e-10)
        np.testing.assert_array_equal(got.cells, naive_cells(G, G_true))
        np.testing.assert_array_equal(voronoi_cells(G, G_true, kind=kind),
                                      got.cells)
        assert got.t1.shape == (0,)
        if not G.gauge[0]:
            assert got.t0 == 0.0
            np.testing.assert_allclose(got.fitted_weights, G.weights)
    # exponents as a parameter: the gate part squared, the rest as before
    G = near(G_true, 4, rng, noise=0.1)
    factors = {"gate": 0.5, "expert_coef": 1.0}
    got = voronoi_loss(G, G_true, "D2", exponents=factors)
    assert got == pytest.approx(naive_loss(G, G_true, "D2",
                                           factors=(0.5, 1.0, 1.0, 0.5)), rel=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_loss_properties(name):
    G_true = truth(name)
    rng = np.random.default_rng(5)
    G = near(G_true, 5, rng, noise=0.1)
    translate_weights, translate_atoms = G.gauge
    t0 = 0.7 if translate_weights else 0.0
    # (the cosine gate's v_i + t1 must stay in the unit ball)
    scale = 0.01 if name == "cosine" else 1.0
    t1 = scale * rng.normal(size=2) if translate_atoms else None
    moved, moved_truth = G.translated(t0, t1), G_true.translated(-t0, t1)
    shuffled = permuted(G, rng.permutation(5))
    shuffled_truth = permuted(G_true, rng.permutation(3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kind in ("D1", "D2"):
            base = voronoi_loss(G, G_true, kind)
            assert base > 1e-3
            for other in (voronoi_loss(moved, G_true, kind),
                          voronoi_loss(G, moved_truth, kind),
                          voronoi_loss(shuffled, G_true, kind),
                          voronoi_loss(G, shuffled_truth, kind)):
                assert other == pytest.approx(base, rel=1e-8)
            reference = voronoi_loss(G, G_true, kind, translation="reference")
            assert voronoi_loss(moved, G_true, kind, translation="reference") == \
                pytest.approx(reference, rel=1e-10)
            assert base <= reference * (1 + 1e-12)
    # zero iff equal up to permutation and the gauge
    same = permuted(G_true, [2, 0, 1]).translated(t0, t1)
    for kind in ("D1", "D2"):
        assert voronoi_loss(same, G_true, kind) == pytest.approx(0.0, abs=1e-12)
    for key in G_true.to_params():
        params = G_true.to_params()
        params[key] = params[key] + 1e-3 * (np.arange(params[key].size)
                                            .reshape(params[key].shape) == 0)
        changed = MixingMeasure(gate=G_true.gate, **params)
        assert voronoi_loss(changed, G_true) > 1e-6, key
    if not translate_weights:
        # a common shift of the sigmoid gate's intercepts changes the model, and
        # the loss sees it
        shifted = with_params(G_true, gate_intercept=G_true.gate_intercept + 0.5)
        X, y = G_true.sample(20, low=-2, high=2, random_state=0)
        assert not np.allclose(shifted.log_density(X, y), G_true.log_density(X, y))
        assert voronoi_loss(shifted, G_true) > 0.1


@pytest.mark.parametrize("name", NAMES)
def test_d1_equals_d2_with_one_atom_per_cell(name):
    G_true = truth(name)
    rng = np.random.default_rng(6)
    for _ in range(3):
        G = near(G_true, 3, rng, noise=0.05)
        d1 = voronoi_loss(G, G_true, "D1", return_details=True)
        d2 = voronoi_loss(G, G_true, "D2", return_details=True)
        assert np.all(d2.cell_sizes == 1)
        assert d1.value == pytest.approx(d2.value, rel=1e-12)


def test_losses_compare_measures_of_one_gate():
    with pytest.raises(ValueError, match="same gate"):
        voronoi_loss(truth("laplace"), truth("cosine"))
    with pytest.raises(ValueError, match="same gate"):
        voronoi_loss(truth("cosine"),
                     MixingMeasure(gate=Cosine(0.0), **truth("cosine").to_params()))
    with pytest.raises(ValueError, match=r"shape \(0,\)"):
        voronoi_cells(truth("laplace"), truth("laplace"), translation=[1.0, 2.0])


# ------------------------------------------------------------- merges and DSC
def test_merge_rule_for_a_constant_gate():
    # two copies of each atom with half the weight merge back to the truth
    G = truth("constant")
    doubled = {name: np.concatenate([value, value])
               for name, value in G.to_params().items()}
    doubled["gate_intercept"] = doubled["gate_intercept"] - np.log(2)
    merged = MixingMeasure(gate="constant", **merge(
        MixingMeasure(gate="constant", **doubled), 3))
    assert voronoi_loss(merged, G) == pytest.approx(0.0, abs=1e-12)
    # one merge of two different atoms: weight the sum, atom the weighted mean
    tree = dendrogram(G)
    start = tree.params(3)
    (a,), (b,) = tree.merges_[0]["atoms"]
    p = np.exp(start["gate_intercept"])
    level = tree.params(2)
    row = next(i for i, members in enumerate(tree.members_[2])
               if members == tuple(sorted((a, b))))
    assert np.exp(level["gate_intercept"][row]) == pytest.approx(p[a] + p[b])
    for key in ("expert_intercept", "expert_coef", "expert_variance"):
        mean = (p[a] * start[key][a] + p[b] * start[key][b]) / (p[a] + p[b])
        np.testing.assert_allclose(level[key][row], mean)
    assert set(level) == {"gate_intercept", "expert_intercept", "expert_coef",
                          "expert_variance"}


def test_dendrogram_of_an_over_fitted_constant_gate():
    G_true = truth("constant")
    X, y = G_true.sample(1000, low=-2, high=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        over = GaussianMoERegressor(5, gate="constant", n_init=10,
                                    random_state=0).fit(X, y)
    tree = dendrogram(over, X, y)
    assert tree.n_experts_ == 3
    merged = tree.measure(3)
    assert merged.gate.name == "constant"
    order = np.argsort(merged.expert_intercept)
    np.testing.assert_allclose(merged.expert_intercept[order],
                               np.sort(EXPERTS["expert_intercept"]), atol=0.3)
    assert voronoi_loss(merged, G_true, "D1") < 0.3
    model = tree.estimator(3)
    weights = model.predict_gate(X[:5])
    np.testing.assert_allclose(weights, weights[:1].repeat(5, axis=0))
    assert model.score_samples(X, y).sum() == pytest.approx(
        tree.log_likelihood_[3], rel=1e-10)
    refit = tree.refit(X, y, 3)
    assert refit.gate_.name == "constant"
    assert refit.log_likelihood_ >= tree.log_likelihood_[3] - 1e-6


@pytest.mark.parametrize("name", ["constant", "cosine"])
def test_dsc_picks_the_true_number_of_experts(name):
    G_true = truth(name)
    X, y = G_true.sample(1000, low=-2, high=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        selection = select_n_experts(X, y, range(1, 6), "dsc", gate=G_true.gate,
                                     random_state=0)
    assert selection.n_experts_ == 3
    assert type(selection.best_estimator_.gate_) is type(G_true.gate)
    assert type(selection.dendrogram_.gate) is type(G_true.gate)


def test_sigmoid_gate_has_no_merge():
    G = truth("sigmoid")
    for call in (lambda: dendrogram(G), lambda: merge(G, 2)):
        with pytest.raises(ValueError, match="add the intercept"):
            call()
    X, y = G.sample(200, low=-2, high=2, random_state=0)
    with pytest.raises(ValueError, match="criterion='bic'"):
        select_n_experts(X, y, range(1, 4), "dsc", gate="sigmoid", random_state=0)


def test_rate_studies_fit_the_truths_gate():
    from gmoe.simulation import check_study

    spec = check_study(truth("constant"), 4, [1000], 2, random_state=0)
    assert spec["n_experts"] == (4,)
    assert "constant" in str(spec)
    with pytest.raises(ValueError, match="gate"):
        check_study(truth("constant"), 4, [1000], 2, random_state=0,
                    estimator_params={"gate": "softmax"})


# ------------------------------------- the cosine gate's identified parameters
def cosine_v(w, theta):
    """v = w / (|w| + theta), plain numpy."""
    return w / (np.linalg.norm(w, axis=1) + theta)[:, None]


def cosine_w(v, theta):
    """The inverse on the open unit ball, w = theta v / (1 - |v|)."""
    return theta * v / (1.0 - np.linalg.norm(v, axis=1))[:, None]


COSINE = {"gate_intercept": np.array([0.2, -0.1, 0.0]),
          "gate_coef": np.array([[0.3, 0.0], [-0.2, 0.2], [0.0, -0.3]])}


@pytest.mark.parametrize("theta", [0.1, 0.5])
def test_equivalent_cosine_measures_have_zero_loss(theta):
    G = MixingMeasure(gate=Cosine(theta), **COSINE, **EXPERTS)
    assert G.gauge == (True, True)
    np.testing.assert_allclose(G.gate_atoms, cosine_v(COSINE["gate_coef"], theta),
                               rtol=1e-14)
    t = np.array([0.15, -0.1])
    w_moved = cosine_w(cosine_v(COSINE["gate_coef"], theta) + t, theta)
    assert np.max(np.abs(w_moved - COSINE["gate_coef"])) > 0.05
    other = MixingMeasure(gate=Cosine(theta), gate_intercept=COSINE["gate_intercept"]
                          + 0.4, gate_coef=w_moved, **EXPERTS)
    X, y = G.sample(300, low=-2, high=2, random_state=0)
    np.testing.assert_allclose(other.log_density(X, y), G.log_density(X, y),
                               rtol=1e-10)
    for kind in ("D1", "D2"):
        assert voronoi_loss(other, G, kind) == pytest.approx(0.0, abs=1e-10)
        assert voronoi_loss(G, permuted(other, [2, 0, 1]), kind) == \
            pytest.approx(0.0, abs=1e-10)
    # translated() goes the same way, and back
    moved = G.translated(0.4, t)
    np.testing.assert_allclose(moved.gate_coef, w_moved, rtol=1e-10)
    np.testing.assert_allclose(moved.translated(-0.4, -t).gate_coef,
                               COSINE["gate_coef"], rtol=1e-10, atol=1e-14)
    # the identified parameters, and back
    params = G.identified_params()
    np.testing.assert_array_equal(params["gate_coef"], G.gate_atoms)
    back = MixingMeasure.from_identified_params(gate=G.gate, **params)
    np.testing.assert_allclose(back.gate_coef, G.gate_coef, rtol=1e-12)
    # a translation that leaves the ball is refused, the measure intact
    with pytest.raises(ValueError, match="unit ball"):
        G.translated(0.0, [2.0, 0.0])
    np.testing.assert_array_equal(G.gate_coef, COSINE["gate_coef"])


def test_the_loss_of_a_cosine_fit_ignores_the_equivalence_set():
    G_true = MixingMeasure(gate=Cosine(0.1), **COSINE, **EXPERTS)
    X, y = G_true.sample(2000, low=-2, high=2, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = GaussianMoERegressor(3, gate=G_true.gate, n_init=1, max_iter=200,
                                   init_params=G_true.to_params(),
                                   random_state=0).fit(X, y)
    G = est.mixing_measure_
    rng = np.random.default_rng(2)
    for kind in ("D1", "D2"):
        base = voronoi_loss(G, G_true, kind)
        assert np.isfinite(base) and 0 < base < 1
        for _ in range(3):
            t = 0.05 * rng.normal(size=2)
            v = G.gate_atoms + t
            moved = with_params(G, gate_coef=cosine_w(v, 0.1))
            assert np.max(np.abs(moved.gate_coef - G.gate_coef)) > 1e-3
            assert voronoi_loss(moved, G_true, kind) == pytest.approx(base, rel=1e-8)
            assert voronoi_loss(G, moved, kind) == pytest.approx(0.0, abs=1e-10)


def test_plain_cosine_measures_compare_directions():
    G = MixingMeasure(gate=Cosine(0.0), **COSINE, **EXPERTS)
    assert G.gauge == (True, False)
    w = COSINE["gate_coef"]
    np.testing.assert_allclose(G.gate_atoms, w / np.linalg.norm(w, axis=1)[:, None],
                               rtol=1e-14)
    scaled = with_params(G, gate_coef=w * np.array([[0.5], [3.0], [20.0]]))
    X, y = G.sample(200, low=-2, high=2, random_state=0)
    np.testing.assert_allclose(scaled.log_density(X, y), G.log_density(X, y),
                               rtol=1e-10)
    for kind in ("D1", "D2"):
        assert voronoi_loss(scaled, G, kind) == pytest.approx(0.0, abs=1e-12)
    turned = with_params(G, gate_coef=w + np.array([[0.0, 0.1], [0, 0], [0, 0]]))
    assert voronoi_loss(turned, G) > 1e-3
    with pytest.raises(ValueError, match="not in its gauge"):
        G.translated(0.0, [0.1, 0.0])
    with pytest.raises(ValueError, match="no direction|nonzero direction"):
        with_params(G, gate_coef=np.zeros((3, 2)))


def test_merged_cosine_atoms_are_the_merged_softmax_on_a():
    theta = 0.1
    params = {"gate_intercept": np.array([0.2, -0.5, -0.4, 0.0]),
              "gate_coef": np.array([[0.3, 0.0], [-0.2, 0.2], [-0.25, 0.2],
                                     [0.0, -0.3]]),
              "expert_intercept": np.array([-2.0, 1.0, 1.05, 3.0]),
              "expert_coef": np.array([[1.5, 0.0], [-1.0, 1.0], [-1.0, 1.1],
                                       [0.0, -2.0]]),
              "expert_variance": np.array([0.1, 0.2, 0.21, 0.15])}
    G = MixingMeasure(gate=Cosine(theta), **params)
    tree = dendrogram(G)
    X = np.random.default_rng(0).uniform(-2, 2, size=(50, 2))
    a = X / (np.linalg.norm(X, axis=1) + theta)[:, None]
    v = cosine_v(params["gate_coef"], theta)
    p = np.exp(params["gate_intercept"])
    for kappa in (3, 2, 1):
        merged = tree.measure(kappa)
        assert merged.gate.name == "cosine" and merged.n_atoms == kappa
        np.testing.assert_array_equal(merge(G, kappa)["gate_coef"],
                                      merged.gate_coef)
        # plain numpy: weights summed, v's and experts averaged by weight, then
        # the softmax gate on a(x) with the merged v's
        groups = tree.members_[kappa]
        b = np.array([np.log(p[list(g)].sum()) for g in groups])
        vm = np.array([p[list(g)] @ v[list(g)] / p[list(g)].sum() for g in groups])
        assert np.all(np.linalg.norm(vm, axis=1) < 1)
        pi = softmax(a @ vm.T + b, axis=1)
        np.testing.assert_allclose(merged.gate_probabilities(X), pi, rtol=1e-10)
        np.testing.assert_allclose(merged.gate_atoms, vm, rtol=1e-10, atol=1e-15)
        for name in ("expert_intercept", "expert_coef", "expert_variance"):
            expected = np.array([p[list(g)] @ params[name][list(g)] / p[list(g)].sum()
                                 for g in groups])
            np.testing.assert_allclose(getattr(merged, name), expected, rtol=1e-10)
    assert tree.members_[3] == [(0,), (1, 2), (3,)]


def test_identified_gate_is_the_summary_default():
    from gmoe.gates import Laplace, Softmax
    from gmoe.gates._distance import CosineScores

    for gate in (Softmax(), Laplace()):
        assert gate.identified_gate() is gate and gate.summary_gate() is gate
    for theta in (0.0, 0.3):
        identified = Cosine(theta).identified_gate()
        assert isinstance(identified, CosineScores)
        assert identified.gauge(2).tolist() == [True] + [theta > 0] * 2
    assert isinstance(Cosine(0.3).summary_gate(), CosineScores)
    with pytest.raises(ValueError, match="perturbation=0"):
        Cosine(0.0).summary_gate()
