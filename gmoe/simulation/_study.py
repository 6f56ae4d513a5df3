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

import json
import sys
import time
import warnings

import numpy as np
import pandas as pd

from gmoe.gates import get_gate
from gmoe.inference._routing import routing_summary
from gmoe.model._order import improves
from gmoe.simulation._cache import _Cache, _jsonable, _loss_key
from gmoe.simulation._replication import (
    draw_replication,
    fit_seed_sequence,
    loss_columns,
)
from gmoe.simulation._spec import (
    ERROR_GROUPS,
    LOSS_KINDS,
    TIMING_COLUMNS,
    _is_int,
    check_study,
)
from gmoe.simulation._truth import (
    as_measure,
    fitted_params,
    gate_of,
    near_truth_start,
)


# ------------------------------------------------------------------- one fit
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
