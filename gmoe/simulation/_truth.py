"""The truth of a rate study: a mixing measure with any dense gate of gmoe.gates.

A study's truth is a :class:`gmoe.MixingMeasure` carrying its gate.  The data are
drawn from the measure (:meth:`gmoe.MixingMeasure.sample`), the starts near the
truth are made on the gate's parameter blocks (:meth:`gmoe.gates.Gate.
from_original` / :meth:`~gmoe.gates.Gate.to_original`, the gauge from
:meth:`~gmoe.gates.Gate.gauge`), and the losses are those of the gate's measure.
Nothing here names a gate: every gate-dependent step asks the gate object.
"""

import numpy as np

from gmoe.datasets import PARAM_NAMES, draw_covariates, draw_response
from gmoe.gates import Softmax, gate_spec, get_gate
from gmoe.gates._base import identity_scaling
from gmoe.model._measure_params import EXPERT_NAMES

#: Noise of the [N23] start near the truth: standard deviation ``sd * n**power``.
NEAR_TRUTH_NOISE = {
    "gate_sd": 0.005,
    "gate_power": -0.083,
    "expert_sd": 0.05,
    "expert_power": -0.083,
    "variance_sd": 0.005,
    "variance_power": -0.25,
}


def check_noise(near_truth_noise):
    """:data:`NEAR_TRUTH_NOISE` with the overrides ``near_truth_noise``, checked."""
    noise = dict(NEAR_TRUTH_NOISE)
    if near_truth_noise is not None:
        unknown = sorted(set(near_truth_noise) - set(NEAR_TRUTH_NOISE))
        if unknown:
            raise ValueError(
                f"near_truth_noise has unknown keys {unknown}; allowed: "
                f"{list(NEAR_TRUTH_NOISE)}."
            )
        noise.update(near_truth_noise)
    for key, value in noise.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                or not np.isfinite(value):
            raise ValueError(f"near_truth_noise[{key!r}] must be a finite number.")
        if key.endswith("_sd") and value < 0:
            raise ValueError(f"near_truth_noise[{key!r}] must be >= 0; got {value}.")
    return {key: float(value) for key, value in noise.items()}


def as_measure(truth, gate=None):
    """The truth as a :class:`gmoe.MixingMeasure`.

    ``truth`` is a measure (its own gate), or a dict of the gate's attributes and
    the experts' arrays with the gate ``gate`` (default: the softmax gate; a dict
    may also carry the gate under the key ``"gate"``, as
    :meth:`gmoe.MixingMeasure.to_dict` writes).
    """
    from gmoe import MixingMeasure

    if isinstance(truth, MixingMeasure):
        if gate is not None and gate_spec(get_gate(gate)) != gate_spec(truth.gate):
            raise ValueError(
                f"the truth has gate={truth.gate!r} but gate={gate!r} was given; "
                "give one of them.")
        return truth
    if not isinstance(truth, dict):
        raise TypeError(
            "truth must be a gmoe.MixingMeasure or a dict of its parameter arrays; "
            f"got {type(truth).__name__}."
        )
    if "gate" in truth:
        if gate is not None:
            raise ValueError("the truth dict has a 'gate' key and gate= was given; "
                             "give one of them.")
        gate = truth["gate"]
        truth = {key: value for key, value in truth.items() if key != "gate"}
    gate = Softmax() if gate is None else get_gate(gate)
    names = tuple(gate.attributes) + EXPERT_NAMES
    missing = [name for name in names if name not in truth]
    extra = sorted(str(key) for key in truth if key not in names)
    if missing or extra:
        raise ValueError(
            f"truth must have exactly the keys {list(names)} (gate={gate!r}); "
            f"missing {missing}, unexpected {extra}."
        )
    return MixingMeasure(gate=gate, **{name: truth[name] for name in names})


def check_truth(truth):
    """The truth as ``(params, gate)``: the measure's arrays in the form the
    estimator reports (the last atom's coordinates in the gate's gauge zero,
    :meth:`gmoe.gates.Gate.to_original`) and its gate object."""
    measure = as_measure(truth)
    gate, params = measure.gate, measure.to_params()
    scaling = identity_scaling(measure.n_features)
    values = {name: params[name] for name in gate.attributes}
    params.update(gate.to_original(gate.from_original(values, scaling), scaling))
    return params, gate


def gate_of(fit):
    """The truth's gate from a study's fit options (softmax when not recorded)."""
    return get_gate(fit.get("truth_gate", "softmax"))


def draw_data(truth, n, rng, *, design="uniform", low=0.0, high=1.0, top_k=None):
    """Covariates, then responses, of one sample from ``truth``, all from ``rng``.

    With ``top_k`` the truth is the softmax measure and its gate the top-K sparse
    softmax gate (:func:`gmoe.datasets.draw_response`); otherwise the measure
    draws them itself (:meth:`gmoe.MixingMeasure.sample`).
    """
    measure = as_measure(truth)
    if top_k is None:
        return measure.sample(int(n), design=design, low=low, high=high,
                              random_state=rng)
    X = draw_covariates(int(n), measure.n_features, design=design, low=low,
                        high=high, random_state=rng)
    params = measure.to_params()
    y, _ = draw_response({name: params[name] for name in PARAM_NAMES}, X, rng,
                         top_k=top_k)
    return X, y


def near_truth_start(truth, n_experts, n, random_state, noise=None):
    """A start near the true parameters, as in the simulations of [N23].

    Each fitted expert ``i`` gets a true expert ``s_i``: the last fitted expert the
    last true one (the gate reference), the others drawn uniformly, redrawn until
    every true expert is used.  The gate part of the start is the truth's gate
    block of ``s_i`` (:meth:`gmoe.gates.Gate.from_original`, data's units) with
    the reference's gauge coordinates subtracted from every block, plus Gaussian
    noise of standard deviation ``gate_sd * n**gate_power`` on every coordinate
    but the reference's gauge coordinates (for the softmax gate: intercept and
    slopes of every expert but the reference).  The experts get ``expert_sd *
    n**expert_power`` on the intercept and slopes, and ``|N(0, (variance_sd *
    n**variance_power)^2)|`` added to the variance (defaults:
    :data:`NEAR_TRUTH_NOISE`).

    Parameters
    ----------
    truth : MixingMeasure or dict
        The truth, k0 atoms: a measure (with its gate) or the arrays of a
        softmax-gated one (see :func:`gmoe.simulation.run_rate_study`).
    n_experts : int
        ``k >= k0``.
    n : int
        Sample size; the noise shrinks with it.
    random_state : int, Generator or None
    noise : dict or None, default=None
        Overrides of :data:`NEAR_TRUTH_NOISE`.

    Returns
    -------
    start : dict
        The gate's attributes and the experts' arrays of the start, ``k``
        experts, for ``GaussianMoERegressor(gate=..., init_params=start)``.

    References
    ----------
    .. [N23] H. Nguyen, T. Nguyen, N. Ho, "Demystifying Softmax Gating Function in
       Gaussian Mixture of Experts", NeurIPS 2023 (official simulation code).

    Examples
    --------
    >>> from gmoe.datasets import N23_TRUTH
    >>> start = near_truth_start(N23_TRUTH, 3, 10_000, random_state=0)
    >>> start["expert_intercept"].shape, float(start["gate_intercept"][-1])
    ((3,), 0.0)
    """
    noise = check_noise(noise)
    rng = np.random.default_rng(random_state)
    measure = as_measure(truth)
    gate = measure.gate
    k0, d = measure.n_atoms, measure.n_features
    k = int(n_experts)
    if k < k0:
        raise ValueError(
            f"a start near the truth needs n_experts >= k0 = {k0}; got {k}."
        )
    while True:
        assignment = np.append(rng.integers(0, k0, size=k - 1), k0 - 1)
        if len(np.unique(assignment)) == k0:
            break
    gate_sd = noise["gate_sd"] * n ** noise["gate_power"]
    expert_sd = noise["expert_sd"] * n ** noise["expert_power"]
    variance_sd = noise["variance_sd"] * n ** noise["variance_power"]
    scaling = identity_scaling(d)
    params = measure.to_params()
    values = {name: params[name] for name in gate.attributes}
    blocks = np.asarray(gate.from_original(values, scaling), dtype=float)[assignment]
    gauge = np.asarray(gate.gauge(d), dtype=bool)
    blocks[:, gauge] -= blocks[-1, gauge]
    blocks[:-1] += rng.normal(0.0, gate_sd, size=(k - 1, blocks.shape[1]))
    # The reference's free coordinates (none for a gate whose gauge is every one).
    blocks[-1, ~gauge] += rng.normal(0.0, gate_sd, size=int(np.sum(~gauge)))
    expert = np.column_stack([params["expert_intercept"], params["expert_coef"]])
    expert = expert[assignment] + rng.normal(0.0, expert_sd, size=(k, d + 1))
    variance = params["expert_variance"][assignment] + np.abs(
        rng.normal(0.0, variance_sd, size=k)
    )
    start = {name: np.asarray(value, dtype=float)
             for name, value in gate.to_original(blocks, scaling).items()}
    start.update({
        "expert_intercept": expert[:, 0],
        "expert_coef": expert[:, 1:],
        "expert_variance": variance,
    })
    return start


def fitted_params(model):
    """The fitted attributes of ``model``: its gate's, then the experts'."""
    gate = getattr(model, "gate_", None) or Softmax()
    return {name: np.asarray(getattr(model, name + "_"), dtype=float)
            for name in tuple(gate.attributes) + EXPERT_NAMES}
