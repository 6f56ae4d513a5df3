"""The specification of a rate study: its options and their checks."""


import numpy as np

from gmoe.datasets import DESIGNS
from gmoe.gates import gate_spec, get_gate, same_gate
from gmoe.simulation._truth import (
    NEAR_TRUTH_NOISE,  # noqa: F401 (re-exported)
    as_measure,
    check_noise,
    check_truth,
)

#: How the EM starts are made.  ``"near_truth"`` follows [N23] (see
#: :func:`near_truth_start`); the others are the estimator's own initialisations.
INITS = ("near_truth", "kmeans", "random")

LOSS_KINDS = ("D1", "D2")
TRANSLATIONS = ("infimum", "reference")

#: Parameter groups of the per-cell errors, by column name: ``err_<group>_M<M>``.
#: ``weight`` is ``|sum_{i in A_j} exp(beta_0i) - exp(beta*_0j + t0)|``.
ERROR_GROUPS = ("gate_coef", "expert_coef", "expert_intercept", "expert_variance",
                "weight")

#: Columns that measure time; they differ between otherwise identical runs.
TIMING_COLUMNS = ("fit_time", "loss_time", "task_time")

#: Options of :class:`gmoe.GaussianMoERegressor` that a study sets itself; every
#: other option of the estimator may be given in ``estimator_params``.
STUDY_CONTROLLED = ("n_experts", "max_iter", "tol", "n_init", "init_params",
                    "random_state", "warm_start", "verbose")


def estimator_options():
    """Names of the estimator options a study passes on (``estimator_params``).

    Returns
    -------
    names : tuple of str
        The parameters of :class:`gmoe.GaussianMoERegressor` that the study does
        not set itself (such as ``reg_variance``).

    Examples
    --------
    >>> "reg_variance" in estimator_options()
    True
    """
    from gmoe import GaussianMoERegressor

    names = GaussianMoERegressor().get_params(deep=False)
    return tuple(sorted(set(names) - set(STUDY_CONTROLLED)))

#: Bumped when the content of a cached fit changes meaning.
CACHE_FORMAT = 1

_MAX_ENTROPY = 2**63


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_entropy(random_state):
    if isinstance(random_state, np.random.SeedSequence):
        if random_state.spawn_key:
            raise ValueError(
                "random_state must be a root SeedSequence (empty spawn_key); pass "
                "its entropy instead."
            )
        random_state = random_state.entropy
    if random_state is None:
        return int(np.random.SeedSequence().entropy % _MAX_ENTROPY)
    if not _is_int(random_state) or not 0 <= random_state < _MAX_ENTROPY:
        raise ValueError(
            "random_state must be an integer in [0, 2**63) (or a root "
            f"numpy.random.SeedSequence); got {random_state!r}. A study needs a fixed "
            "seed to be reproducible and resumable."
        )
    return int(random_state)


def _check_sizes(sample_sizes, n_experts):
    try:
        sizes = np.asarray(sample_sizes, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(
            f"sample_sizes must be a sequence of integers; got {sample_sizes!r}."
        ) from None
    if sizes.ndim != 1 or sizes.size == 0:
        raise ValueError(
            f"sample_sizes must be a non-empty 1-D sequence; got {sample_sizes!r}."
        )
    if not np.all(np.isfinite(sizes)) or np.any(sizes != np.round(sizes)):
        raise ValueError(
            "sample_sizes must be whole numbers (round a log-spaced grid, or use "
            f"gmoe.simulation.sample_size_grid); got {sizes.tolist()}."
        )
    sizes = sizes.astype(np.int64)
    smallest = max(n_experts)
    if np.any(sizes < smallest):
        raise ValueError(
            f"every sample size must be at least the number of experts "
            f"({smallest}); got {sorted(set(sizes[sizes < smallest].tolist()))}."
        )
    if len(np.unique(sizes)) != len(sizes):
        raise ValueError(f"sample_sizes has duplicates: {sizes.tolist()}.")
    return tuple(int(n) for n in sizes)


def _check_experts(n_experts):
    values = [n_experts] if _is_int(n_experts) else n_experts
    try:
        values = list(values)
    except TypeError:
        raise ValueError(
            "n_experts must be an integer or a sequence of integers; got "
            f"{n_experts!r}."
        ) from None
    if not values or not all(_is_int(k) and k >= 1 for k in values):
        raise ValueError(
            f"n_experts must be integers >= 1 (k < 1 experts is no model); got "
            f"{n_experts!r}."
        )
    if len(set(values)) != len(values):
        raise ValueError(f"n_experts has duplicates: {values}.")
    return tuple(sorted(int(k) for k in values))


def _check_rbar(rbar):
    """rbar as a dict with int keys (a study stores it, so no callables)."""
    if rbar is None:
        return None
    if not isinstance(rbar, dict):
        raise ValueError(
            f"rbar must be a dict {{cell size M: rbar(M)}} or None; got {rbar!r}."
        )
    checked = {}
    for key, value in rbar.items():
        try:
            size = int(key)
        except (TypeError, ValueError):
            raise ValueError(f"rbar keys must be cell sizes (integers); got {key!r}.") \
                from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"rbar[{key!r}] must be a number; got {value!r}.")
        checked[size] = value
    return checked


def _check_exponents(exponents):
    """exponents as a dict of group name to number (a study stores it)."""
    if not isinstance(exponents, dict):
        raise ValueError(
            f"exponents must be a dict {{parameter group: exponent}} or None; got "
            f"{exponents!r}.")
    checked = {}
    for key, value in exponents.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"exponents[{key!r}] must be a number; got {value!r}.")
        checked[str(key)] = value
    return checked


def check_study(truth, n_experts, sample_sizes, n_replications, *, random_state,
                design="uniform", low=0.0, high=1.0, init="near_truth", n_init=1,
                max_iter=2000, tol=1e-6, estimator_params=None, near_truth_noise=None,
                losses=LOSS_KINDS, translation="infimum", metric="l1", rbar=None,
                exponents=None, truth_top_k=None):
    """Validate the description of a rate study; nothing is fitted.

    Takes the arguments of :func:`run_rate_study` (see there) and returns them
    checked and normalised, or raises a ValueError that says what to fix.

    Returns
    -------
    spec : dict
        ``truth`` (the gate's and the experts' arrays, canonical: the last
        atom's gauge coordinates zero), ``n_experts`` (tuple),
        ``sample_sizes`` (tuple), ``n_replications``, ``entropy`` (int), and the
        fit and loss options.

    Examples
    --------
    >>> from gmoe.datasets import N23_TRUTH
    >>> spec = check_study(N23_TRUTH, 3, [1000, 2000], 4, random_state=0)
    >>> spec["n_experts"], spec["sample_sizes"]
    ((3,), (1000, 2000))
    >>> check_study(N23_TRUTH, 0, [1000], 4, random_state=0)
    Traceback (most recent call last):
    ...
    ValueError: n_experts must be integers >= 1 (k < 1 experts is no model); got 0.
    """
    from gmoe import GaussianMoERegressor

    truth, gate = check_truth(truth)
    k0, d = truth["expert_coef"].shape
    n_experts = _check_experts(n_experts)
    sizes = _check_sizes(sample_sizes, n_experts)
    if not _is_int(n_replications) or n_replications < 1:
        raise ValueError(
            f"n_replications must be an integer >= 1; got {n_replications!r}."
        )
    entropy = _check_entropy(random_state)
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS}; got {design!r}.")
    if design == "grid" and d != 1:
        raise ValueError(
            f"design='grid' needs one covariate; the truth has {d}. Use 'uniform'."
        )
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"need finite low < high; got low={low!r}, high={high!r}.")
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}; got {init!r}.")
    if init == "near_truth" and min(n_experts) < k0:
        raise ValueError(
            f"init='near_truth' gives every true expert a fitted one, so it needs "
            f"n_experts >= k0 = {k0}; got {min(n_experts)}. Use init='kmeans' for "
            "under-fitted models."
        )
    if not _is_int(n_init) or n_init < 1:
        raise ValueError(f"n_init must be an integer >= 1; got {n_init!r}.")
    estimator_params = dict(estimator_params or {})
    unknown = sorted(set(estimator_params) - set(estimator_options()))
    if unknown:
        raise ValueError(
            f"estimator_params has keys {unknown} a study does not pass on; allowed: "
            f"{list(estimator_options())} (set n_experts, max_iter, tol, n_init and "
            "init with the study's own arguments)."
        )
    probe = GaussianMoERegressor(max_iter=max_iter, tol=tol, **estimator_params)
    try:
        probe._validate_params()
    except Exception as exc:  # sklearn raises InvalidParameterError (a ValueError)
        raise ValueError(f"bad EM option: {exc}") from None
    noise = check_noise(near_truth_noise)
    dense_softmax = gate_spec(gate) == "softmax"
    if not dense_softmax:
        # The fits use the truth's gate (an estimator_params gate must be it).
        given = estimator_params.setdefault("gate", gate_spec(gate))
        try:
            given = get_gate(given)
        except ValueError as exc:
            raise ValueError(f"estimator_params['gate']: {exc}") from None
        if not same_gate(given, gate):
            raise ValueError(
                f"estimator_params['gate']={given!r} differs from the truth's gate "
                f"{gate!r}; the fits use the truth's gate: leave it out.")
        estimator_params["gate"] = gate_spec(gate)
        if truth_top_k is not None:
            raise ValueError(
                f"truth_top_k makes the truth's gate top-K softmax; the truth has "
                f"gate={gate!r}. Give a softmax truth or truth_top_k=None.")
    if truth_top_k is not None and (not _is_int(truth_top_k)
                                    or not 1 <= truth_top_k <= k0):
        raise ValueError(
            f"truth_top_k must be None (dense softmax gate) or an integer from 1 to "
            f"k0={k0}; got {truth_top_k!r}.")
    if isinstance(losses, str):
        losses = (losses,)
    losses = tuple(losses)
    bad = [kind for kind in losses if kind not in LOSS_KINDS]
    if bad or len(set(losses)) != len(losses):
        raise ValueError(
            f"losses must be distinct entries of {LOSS_KINDS}; got {list(losses)}."
        )
    if translation not in TRANSLATIONS:
        raise ValueError(
            f"translation must be one of {TRANSLATIONS}; got {translation!r}."
        )
    loss = {"losses": losses, "translation": translation, "metric": metric,
            "rbar": _check_rbar(rbar)}
    if exponents is not None:
        # only then: the loss keys of studies without exponents stay as they were
        loss["exponents"] = _check_exponents(exponents)
    if losses:
        # The loss checks its own options (metric, rbar values): try it once now.
        from gmoe import voronoi_loss

        measure = as_measure(truth, gate)
        for kind in losses:
            voronoi_loss(measure, measure, kind, translation=translation,
                         metric=metric, rbar=loss["rbar"],
                         exponents=loss.get("exponents"))
    fit = {
        "design": design,
        "low": float(low),
        "high": float(high),
        "init": init,
        "n_init": int(n_init),
        "max_iter": int(max_iter),
        "tol": float(tol),
        "estimator_params": estimator_params,
        "near_truth_noise": noise if init == "near_truth" else None,
    }
    if truth_top_k is not None and truth_top_k < k0:
        # only then: the cache keys of dense-gate studies stay as they were
        fit["truth_top_k"] = int(truth_top_k)
    if not dense_softmax:
        # only then: the cache keys of softmax studies stay as they were
        fit["truth_gate"] = gate_spec(gate)
    return {
        "truth": truth,
        "n_experts": n_experts,
        "sample_sizes": sizes,
        "n_replications": int(n_replications),
        "entropy": entropy,
        "fit": fit,
        "loss": loss,
    }
