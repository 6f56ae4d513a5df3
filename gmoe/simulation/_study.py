"""Parameter-rate studies: fit k experts to data from a k0-expert truth, many times.

One *fit* is indexed by ``(k, n, replication)``.  Its data and its random starts
come from ``numpy.random.SeedSequence(entropy=random_state, spawn_key=(n,
replication))``, so a fit's numbers depend on nothing else: not on the number of
workers, the order the fits run in, or which other fits the study holds.  Fits for
several ``k`` at the same ``(n, replication)`` share their data.

Fits run in the calling process (``n_jobs=1``), in local worker processes
(joblib's loky backend) or on a Dask cluster (``client=``).  Finished fits are
written to a cache folder, one small JSON file per fit, atomically, as they
arrive; a re-run skips them.
"""

import hashlib
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from gmoe.datasets import DESIGNS
from gmoe.gates import gate_spec, get_gate, same_gate
from gmoe.inference._routing import routing_summary
from gmoe.model._order import improves
from gmoe.simulation._truth import (
    NEAR_TRUTH_NOISE,  # noqa: F401 (re-exported)
    as_measure,
    check_noise,
    check_truth,
    draw_data,
    fitted_params,
    gate_of,
    near_truth_start,
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


# --------------------------------------------------------------------- validation
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


# ------------------------------------------------------------------- one fit
def fit_seed_sequence(random_state, n, replication):
    """The seed sequence of the fit at ``(n, replication)``.

    ``SeedSequence(entropy=random_state, spawn_key=(n, replication))``; its first
    child seeds the data, its second the EM starts.

    Parameters
    ----------
    random_state : int
    n, replication : int

    Returns
    -------
    seed_sequence : numpy.random.SeedSequence

    Examples
    --------
    >>> fit_seed_sequence(7, 1000, 3).spawn_key
    (1000, 3)
    """
    return np.random.SeedSequence(entropy=int(random_state),
                                  spawn_key=(int(n), int(replication)))


def draw_replication(truth, n, replication, *, random_state, design="uniform",
                     low=0.0, high=1.0, top_k=None):
    """The data of one fit of a rate study.

    Recreates exactly the sample that :func:`run_rate_study` drew at ``(n,
    replication)`` with this ``random_state`` and design, e.g. to look into a fit
    with a surprising loss.

    Parameters
    ----------
    truth : MixingMeasure or dict
        The truth: a measure with its gate (the data are drawn by
        :meth:`gmoe.MixingMeasure.sample`), or the arrays of a softmax-gated one.
    n, replication : int
    random_state : int
        The study's ``random_state`` (the ``seed`` column of its results).
    design, low, high :
        As in :func:`gmoe.datasets.draw_covariates`.
    top_k : int or None, default=None
        ``K`` of the truth's top-K sparse softmax gate (the study's
        ``truth_top_k``); None for the dense softmax gate.

    Returns
    -------
    X : ndarray of shape (n, d)
    y : ndarray of shape (n,)

    Examples
    --------
    >>> from gmoe.datasets import N23_TRUTH
    >>> X, y = draw_replication(N23_TRUTH, 100, 0, random_state=1)
    >>> X2, y2 = draw_replication(N23_TRUTH, 100, 0, random_state=1)
    >>> X.shape, bool((y == y2).all())
    ((100, 1), True)
    """
    data_seq, _ = fit_seed_sequence(random_state, n, replication).spawn(2)
    rng = np.random.default_rng(data_seq)
    return draw_data(truth, n, rng, design=design, low=low, high=high, top_k=top_k)


def _fit(X, y, k, n, truth, fit, seq):
    """EM fit of one data set (``truth`` a measure); returns the best estimator."""
    from gmoe import GaussianMoERegressor

    common = dict(max_iter=fit["max_iter"], tol=fit["tol"], **fit["estimator_params"])
    if "gate" in common:  # stored as plain data (gate_spec)
        common["gate"] = get_gate(common["gate"])
    if fit["init"] != "near_truth":
        seed = int(seq.generate_state(1)[0])
        model = GaussianMoERegressor(k, n_init=fit["n_init"], init_params=fit["init"],
                                     random_state=seed, **common)
        return model.fit(X, y)
    rng = np.random.default_rng(seq)
    best = None
    for _ in range(fit["n_init"]):
        start = near_truth_start(truth, k, n, rng, fit["near_truth_noise"])
        model = GaussianMoERegressor(k, init_params=start, **common).fit(X, y)
        if best is None or improves(model.log_likelihood_, best.log_likelihood_,
                                    scale=len(y)):
            best = model
    return best


def loss_columns(params, truth, loss, gate=None):
    """Voronoi losses and per-cell errors of one fitted parameter set.

    Parameters
    ----------
    params, truth : dict or MixingMeasure
        The fit (k experts) and the truth (k0 experts): measures of the same
        gate, or dicts of the gate's and the experts' arrays.
    loss : dict
        ``losses`` (kinds), ``translation``, ``metric``, ``rbar`` and optionally
        ``exponents``, as in :func:`run_rate_study`.
    gate : str, Gate, dict or None, default=None
        The gate of measures given as dicts (None: the softmax gate).

    Returns
    -------
    columns : dict
        One value per loss kind; ``err_<group>_M<M>`` for every group of
        :data:`ERROR_GROUPS` and cell size ``M = 1..k`` (the largest error over the
        true atoms whose Voronoi cell holds ``M`` fitted atoms; NaN when no cell has
        that size); ``cell_size_<j>`` for each true atom ``j = 1..k0``;
        ``n_empty_cells``.  The errors come from the details of D2 when it is
        computed, else of D1 (the translation ``(t0, t1)`` is that loss's).
        The ``gate_coef`` errors are NaN for a gate without a gate part of the
        atoms (the constant gate).

    Examples
    --------
    >>> from gmoe.datasets import N23_TRUTH
    >>> options = {"losses": ("D1", "D2"), "translation": "reference",
    ...            "metric": "l1", "rbar": None}
    >>> columns = loss_columns(N23_TRUTH, N23_TRUTH, options)
    >>> columns["D2"], columns["cell_size_1"], columns["err_expert_intercept_M1"]
    (0.0, 1, 0.0)
    """
    from gmoe import voronoi_loss

    fitted = as_measure(params, gate)
    true = as_measure(truth, gate)
    k, k0 = fitted.n_atoms, true.n_atoms
    columns = {}
    details = None
    for kind in loss["losses"]:
        detail = voronoi_loss(
            fitted, true, kind, translation=loss["translation"], metric=loss["metric"],
            rbar=loss["rbar"], exponents=loss.get("exponents"), return_details=True,
        )
        columns[kind] = float(detail.value)
        if details is None or kind == "D2":
            details = detail
    if details is None:
        return columns
    sizes = np.asarray(details.cell_sizes, dtype=int)
    missing = np.full(k0, np.nan)
    errors = {group: np.asarray(details.group_errors.get(group, missing), dtype=float)
              for group in ERROR_GROUPS if group != "weight"}
    errors["weight"] = np.abs(np.asarray(details.weight_sums, dtype=float)
                              - np.asarray(details.true_weights, dtype=float))
    for group in ERROR_GROUPS:
        for size in range(1, k + 1):
            cells = sizes == size
            columns[f"err_{group}_M{size}"] = (
                float(np.max(errors[group][cells])) if np.any(cells) else np.nan
            )
    for j in range(k0):
        columns[f"cell_size_{j + 1}"] = int(sizes[j])
    columns["n_empty_cells"] = int(np.sum(sizes == 0))
    return columns


def _fit_task(spec, k, n, replication, single_thread=False):
    """Run one fit of a study and measure it; never raises on a failed fit."""
    task_start = time.perf_counter()
    if single_thread:
        import numba

        numba.set_num_threads(1)
    record = {"k": int(k), "n": int(n), "replication": int(replication),
              "seed": spec["entropy"]}
    fit = spec["fit"]
    try:
        truth = as_measure(spec["truth"], gate_of(fit))
        X, y = draw_replication(truth, n, replication,
                                random_state=spec["entropy"], design=fit["design"],
                                low=fit["low"], high=fit["high"],
                                top_k=fit.get("truth_top_k"))
        _, start_seq = fit_seed_sequence(spec["entropy"], n, replication).spawn(2)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.perf_counter()
            model = _fit(X, y, k, n, truth, fit, start_seq)
            record["fit_time"] = time.perf_counter() - start
            record["log_likelihood"] = float(model.log_likelihood_)
            record["n_iter"] = int(model.n_iter_)
            record["converged"] = bool(model.converged_)
            record.update(routing_summary(model, X))
            params = fitted_params(model)
            record["params"] = json.dumps({name: value.tolist()
                                           for name, value in params.items()})
            start = time.perf_counter()
            record.update(loss_columns(params, truth, spec["loss"], truth.gate))
            record["loss_time"] = time.perf_counter() - start
        record["warnings"] = "; ".join(sorted({w.category.__name__ for w in caught}))
        record["error"] = ""
    except Exception as exc:  # a failed fit is a result, the study goes on
        record["error"] = f"{type(exc).__name__}: {exc}"
    record["loss_key"] = _loss_key(spec["loss"])
    record["task_time"] = time.perf_counter() - task_start
    return record


# --------------------------------------------------------------------- cache
def _jsonable(value):
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _fit_description(spec):
    """Everything that changes a fit, except k, n and the replication."""
    from gmoe import __version__

    return _jsonable({
        "cache_format": CACHE_FORMAT,
        "gmoe_version": __version__,
        "truth": spec["truth"],
        "random_state": spec["entropy"],
        "fit": spec["fit"],
    })


def study_key(spec):
    """Hex digest identifying the fits of a study (see :func:`run_rate_study`)."""
    text = json.dumps(_fit_description(spec), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _loss_key(loss):
    return json.dumps(_jsonable(loss), sort_keys=True)


class _Cache:
    """A folder of finished fits: ``<root>/<study key>/k<k>/n<n>_r<rep>.json``."""

    def __init__(self, root, spec):
        self.folder = Path(root) / study_key(spec)
        self.folder.mkdir(parents=True, exist_ok=True)
        description = self.folder / "study.json"
        if not description.exists():
            self._write(description, json.dumps(_fit_description(spec), indent=2,
                                                sort_keys=True))

    def path(self, k, n, replication):
        return self.folder / f"k{k}" / f"n{n}_r{replication}.json"

    def load(self, k, n, replication):
        path = self.path(k, n, replication)
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def store(self, record):
        path = self.path(record["k"], record["n"], record["replication"])
        path.parent.mkdir(parents=True, exist_ok=True)
        self._write(path, json.dumps(record))

    @staticmethod
    def _write(path, text):
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(handle, "w") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


# ------------------------------------------------------------------ runners
def _run_serial(spec, tasks, on_result):
    for k, n, replication in tasks:
        on_result(_fit_task(spec, k, n, replication))


def _run_joblib(spec, tasks, on_result, n_jobs):
    import joblib
    from joblib import Parallel, delayed

    # Results in the order they finish (joblib >= 1.4), else in submission order.
    order = "generator_unordered" if tuple(
        int(part) for part in joblib.__version__.split(".")[:2]
    ) >= (1, 4) else "generator"
    parallel = Parallel(n_jobs=n_jobs, backend="loky", return_as=order)
    for record in parallel(
        delayed(_fit_task)(spec, k, n, replication, True) for k, n, replication in tasks
    ):
        on_result(record)


def _run_dask(spec, tasks, on_result, client):
    from distributed import as_completed

    spec_future = client.scatter(spec, broadcast=True)
    futures = [
        client.submit(_fit_task, spec_future, k, n, replication, True, pure=False)
        for k, n, replication in tasks
    ]
    try:
        for future in as_completed(futures):
            on_result(future.result())
    finally:
        client.cancel(futures)


# --------------------------------------------------------------------- study
def _column_order(columns):
    head = ["k", "n", "replication", "seed", "D1", "D2"]
    def error_key(column):
        group, size = column[len("err_"):].rsplit("_M", 1)
        return ERROR_GROUPS.index(group), int(size)

    errors = sorted((c for c in columns if c.startswith("err_")), key=error_key)
    cells = sorted((c for c in columns if c.startswith("cell_size_")),
                   key=lambda c: int(c.rsplit("_", 1)[1]))
    tail = ["n_empty_cells", "log_likelihood", "n_iter", "converged", "warnings",
            "error", *TIMING_COLUMNS, "params"]
    order = [c for c in head + errors + cells + tail if c in columns]
    return order + sorted(set(columns) - set(order) - {"loss_key"})


def run_rate_study(truth, n_experts, sample_sizes, n_replications, *, random_state,
                   n_jobs=1, cache=None, client=None, design="uniform", low=0.0,
                   high=1.0, init="near_truth", n_init=1, max_iter=2000, tol=1e-6,
                   estimator_params=None, near_truth_noise=None, losses=LOSS_KINDS,
                   translation="infimum", metric="l1", rbar=None, retry_failed=False,
                   remeasure=False,
                   progress=None, truth_top_k=None, exponents=None):
    """Fit k experts to many samples of a known mixture of experts.

    For every number of experts ``k``, sample size ``n`` and replication ``r``, a
    sample of size ``n`` is drawn from ``truth``, a
    :class:`gmoe.GaussianMoERegressor` with ``k`` experts is fitted by EM, and the
    fit is measured against the truth with the Voronoi losses
    :func:`gmoe.voronoi_loss` ``D1`` and ``D2`` [N23] and the per-cell errors of
    each parameter group.  :func:`estimate_rate` then turns the table into rates.

    Parameters
    ----------
    truth : MixingMeasure or dict
        The true parameters (k0 experts, d covariates): a
        :class:`gmoe.MixingMeasure` with any dense gate of :mod:`gmoe.gates`
        (``MixingMeasure(gate=..., ...)``), or the five arrays of a softmax-gated
        one, ``gate_intercept`` (k0,), ``gate_coef`` (k0, d), ``expert_intercept``
        (k0,), ``expert_coef`` (k0, d), ``expert_variance`` (k0,).  The data are
        drawn from the measure (:meth:`gmoe.MixingMeasure.sample`), the fits use
        its gate (``GaussianMoERegressor(k, gate=<the truth's gate>)``), the
        starts near the truth are made on the gate's parameter blocks
        (:func:`near_truth_start`) and the losses are those of the gate's measure.
    n_experts : int or sequence of int
        Number(s) of fitted experts ``k``; fits for several ``k`` at the same ``(n,
        r)`` use the same data.
    sample_sizes : sequence of int
        Distinct sample sizes, each at least ``max(n_experts)``; see
        :func:`sample_size_grid`.
    n_replications : int
        Number of samples per size.
    random_state : int or numpy.random.SeedSequence
        Root of every random draw: the fit at ``(n, r)`` uses
        ``SeedSequence(entropy=random_state, spawn_key=(n, r))``, whose first child
        draws the data and second the EM starts.  The numbers therefore do not
        depend on ``n_jobs``, the order of the fits, or the rest of the grid.
        None draws a fresh seed (recorded in the ``seed`` column).
    n_jobs : int, default=1
        Local worker processes (joblib, loky backend); -1 uses all cores.  With
        ``n_jobs > 1`` each worker runs numba with one thread, so that the workers
        do not oversubscribe the cores.
    cache : str, Path or None, default=None
        Folder of finished fits.  Each fit is written there as soon as it finishes
        (one JSON file, written atomically); a re-run skips the fits it finds, so
        an interrupted study loses only the fits in flight.  The fits live under a
        key that hashes everything that changes a fit (truth, EM and data options,
        ``random_state``, package version), so a changed study never reuses stale
        fits; the loss options are not part of it: cached fits are re-measured
        when they change.
    client : dask.distributed.Client or None, default=None
        Run the fits on this Dask cluster instead (``n_jobs`` is then ignored);
        needs the ``dask`` extra.  Every worker runs numba with one thread.
    design : {"uniform", "grid"}, default="uniform"
        Covariates: i.i.d. uniform on ``[low, high]^d``, or an equispaced grid
        (``d = 1``), which the official code of [N23] uses.
    low, high : float, default=0.0, 1.0
        The covariate box.
    init : {"near_truth", "kmeans", "random"}, default="near_truth"
        EM starts: near the truth as in [N23] (:func:`near_truth_start`), or the
        estimator's realistic starts.
    n_init : int, default=1
        Starts per fit; the best log-likelihood is kept.
    max_iter : int, default=2000
        EM iterations per start.
    tol : float, default=1e-6
        EM tolerance on the change of the mean log-likelihood per iteration (see
        :class:`gmoe.GaussianMoERegressor`).
    estimator_params : dict or None, default=None
        Other options of :class:`gmoe.GaussianMoERegressor`, such as
        ``reg_variance``: any option the study does not set itself.  A ``gate``
        given here must be the truth's (the default when the truth's gate is not
        the softmax gate); with a softmax truth it may set the fitted gate apart
        (e.g. ``top_k``).
    near_truth_noise : dict or None, default=None
        Overrides of :data:`NEAR_TRUTH_NOISE` for ``init="near_truth"``.
    losses : sequence of {"D1", "D2"}, default=("D1", "D2")
        Losses to compute.  D1 is meant for ``k = k0`` but is defined for any k.
    translation : {"infimum", "reference"}, default="infimum"
        How the losses handle the translation invariance of the gate (see
        :func:`gmoe.voronoi_loss`).
    metric : str, default="l1"
        Distance that forms the Voronoi cells (see :func:`gmoe.voronoi_loss`).
    rbar : dict or None, default=None
        Exponents ``rbar(M)`` of D2 by cell size ``M`` (see
        :func:`gmoe.voronoi_loss`).
    exponents : dict or None, default=None
        Exponents of the parameter groups in the multi-atom cells of D2 (see
        :func:`gmoe.voronoi_loss`; None: those of [N23]).
    remeasure : bool, default=False
        Recompute the losses of every cached fit from its stored parameters, even
        when the loss options are unchanged (after a change of the loss code).
    retry_failed : bool, default=False
        Refit the cached fits that raised, instead of reusing their error.
    progress : bool or None, default=None
        Progress bar with ETA on stderr (tqdm); None shows it only on a terminal.
    truth_top_k : int or None, default=None
        The truth's gate: ``None`` the dense softmax gate, an int ``K`` the top-K
        sparse softmax gate (the data are drawn from it,
        :func:`gmoe.datasets.draw_response`).  The fitted gate is set apart, with
        ``estimator_params={"top_k": K}``.

    Returns
    -------
    results : pandas.DataFrame
        One row per fit, sorted by ``k``, ``n``, ``replication``, with the columns

        - ``k``, ``n``, ``replication``, ``seed`` (the study's ``random_state``);
        - ``D1``, ``D2``: the losses asked for;
        - ``err_<group>_M<M>``: for the true atoms whose Voronoi cell holds ``M``
          fitted atoms, the largest distance between a fitted and the true
          parameter of the group, with groups ``gate_coef`` (beta1),
          ``expert_coef`` (a), ``expert_intercept`` (b), ``expert_variance``
          (sigma) and ``weight`` (``|sum_{i in A_j} exp(beta_0i) - exp(beta*_0j +
          t0)|``); NaN when no cell has ``M`` atoms (see :func:`loss_columns`);
        - ``cell_size_<j>`` (``j = 1..k0``), ``n_empty_cells``;
        - ``log_likelihood``, ``n_iter``, ``converged`` (of the kept start),
          ``warnings`` (categories the fit raised);
        - ``routing_*``: routing diagnostics of the fitted gate on the fit's
          data (:func:`gmoe.inference._routing.routing_summary`: mean gate entropy,
          effective numbers of experts, mean number of active experts, number
          of never-used experts, collapse flag, largest load);
        - ``error``: empty, or the message of a fit that raised (its other
          columns are NaN);
        - ``fit_time`` (EM), ``loss_time``, ``task_time`` (whole fit, data drawing
          included), in seconds: :data:`TIMING_COLUMNS`, the only columns that
          change between identical runs;
        - ``params``: the fitted parameters as JSON text.

        ``results.attrs`` holds the study's description and cache folder.

    Raises
    ------
    ValueError
        On a bad description, before anything is fitted.

    See Also
    --------
    estimate_rate, gmoe.plotting.plot_rate

    References
    ----------
    .. [N23] H. Nguyen, T. Nguyen, N. Ho, "Demystifying Softmax Gating Function in
       Gaussian Mixture of Experts", NeurIPS 2023.

    Examples
    --------
    >>> from gmoe.datasets import N23_TRUTH
    >>> results = run_rate_study(N23_TRUTH, 2, [500, 1000], 2, random_state=0,
    ...                          progress=False)
    >>> results[["k", "n", "replication"]].values.tolist()
    [[2, 500, 0], [2, 500, 1], [2, 1000, 0], [2, 1000, 1]]
    >>> bool((results["D1"] > 0).all())
    True
    """
    spec = check_study(
        truth, n_experts, sample_sizes, n_replications, random_state=random_state,
        design=design, low=low, high=high, init=init, n_init=n_init,
        max_iter=max_iter, tol=tol, estimator_params=estimator_params,
        near_truth_noise=near_truth_noise, losses=losses, translation=translation,
        metric=metric, rbar=rbar, exponents=exponents, truth_top_k=truth_top_k,
    )
    if not (_is_int(n_jobs) and (n_jobs >= 1 or n_jobs == -1)):
        raise ValueError(f"n_jobs must be a positive integer or -1; got {n_jobs!r}.")
    if progress not in (None, True, False):
        raise ValueError(f"progress must be True, False or None; got {progress!r}.")
    return _run(spec, n_jobs=n_jobs, cache=cache, client=client,
                retry_failed=retry_failed, remeasure=remeasure, progress=progress)


def _run(spec, *, n_jobs, cache, client, retry_failed, remeasure, progress):
    from tqdm.auto import tqdm

    store = _Cache(cache, spec) if cache is not None else None
    loss_key = _loss_key(spec["loss"])
    records = {}
    tasks = []
    for k in spec["n_experts"]:
        for n in spec["sample_sizes"]:
            for replication in range(spec["n_replications"]):
                record = store.load(k, n, replication) if store else None
                if record is not None and retry_failed and record.get("error"):
                    record = None
                if record is None:
                    tasks.append((k, n, replication))
                    continue
                stale = remeasure or record.get("loss_key") != loss_key
                if stale and not record.get("error"):
                    record = _remeasure(record, spec)
                records[(k, n, replication)] = record
    n_cached = len(records)
    # Large fits first: the slowest tasks start early and the workers stay busy.
    tasks.sort(key=lambda task: (-task[1], task[0], task[2]))
    bar = tqdm(
        total=len(records) + len(tasks), initial=n_cached, unit="fit",
        desc="rate study", disable=None if progress is None else not progress,
        file=sys.stderr, dynamic_ncols=True,
    )

    def on_result(record):
        if store is not None:
            store.store(record)
        records[(record["k"], record["n"], record["replication"])] = record
        bar.update(1)

    try:
        if not tasks:
            pass
        elif client is not None:
            _run_dask(spec, tasks, on_result, client)
        elif n_jobs == 1:
            _run_serial(spec, tasks, on_result)
        else:
            _run_joblib(spec, tasks, on_result, n_jobs)
    finally:
        bar.close()
    frame = pd.DataFrame([records[key] for key in sorted(records)])
    frame = frame[_column_order(frame.columns)]
    if "error" in frame:
        frame["error"] = frame["error"].fillna("")
    frame.attrs["study"] = _jsonable({
        **{key: spec[key] for key in ("n_experts", "sample_sizes", "n_replications")},
        "random_state": spec["entropy"],
        "truth": spec["truth"],
        "fit": spec["fit"],
        "loss": spec["loss"],
    })
    frame.attrs["cache"] = str(store.folder) if store else None
    frame.attrs["n_cached"] = n_cached
    return frame


def _remeasure(record, spec):
    """Recompute the losses of a cached fit under new loss options."""
    record = {key: value for key, value in record.items()
              if not (key in LOSS_KINDS or key.startswith(("err_", "cell_size_")))}
    params = {name: np.asarray(value, dtype=float)
              for name, value in json.loads(record["params"]).items()}
    start = time.perf_counter()
    try:
        record.update(loss_columns(params, spec["truth"], spec["loss"],
                                   gate_of(spec["fit"])))
    except Exception as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
    record["loss_time"] = time.perf_counter() - start
    record["loss_key"] = _loss_key(spec["loss"])
    return record


def sample_size_grid(start, stop, num, *, spacing="log"):
    """Distinct integer sample sizes from ``start`` to ``stop``.

    Parameters
    ----------
    start, stop : int
        Smallest and largest sample size (both included).
    num : int
        Number of sizes.
    spacing : {"log", "linear"}, default="log"
        Evenly spaced on a log scale (``numpy.geomspace``) or a linear one, then
        rounded to integers.

    Returns
    -------
    sizes : ndarray of shape (num,), dtype=int64

    Raises
    ------
    ValueError
        When rounding makes two sizes equal (ask for fewer sizes).

    Examples
    --------
    >>> sample_size_grid(1000, 100000, 5)
    array([  1000,   3162,  10000,  31623, 100000])
    """
    if spacing not in ("log", "linear"):
        raise ValueError(f"spacing must be 'log' or 'linear'; got {spacing!r}.")
    if not (_is_int(num) and num >= 1):
        raise ValueError(f"num must be an integer >= 1; got {num!r}.")
    if not (start >= 1 and stop >= start):
        raise ValueError(f"need 1 <= start <= stop; got start={start}, stop={stop}.")
    if num == 1 and start != stop:
        raise ValueError("num=1 needs start == stop.")
    grid = np.geomspace(start, stop, num) if spacing == "log" else \
        np.linspace(start, stop, num)
    sizes = np.round(grid).astype(np.int64)
    if len(np.unique(sizes)) != num:
        raise ValueError(
            f"{num} {spacing}-spaced integers from {start} to {stop} are not distinct; "
            "ask for fewer sizes."
        )
    return sizes
