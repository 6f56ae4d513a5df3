"""One replication of a rate study: its seeds, its data, and the loss and error
columns of a fit."""


import numpy as np

from gmoe.simulation._spec import ERROR_GROUPS
from gmoe.simulation._truth import (
    NEAR_TRUTH_NOISE,  # noqa: F401 (re-exported)
    as_measure,
    draw_data,
)


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
