"""How many experts?  Information criteria over a sweep of k, and the bootstrap
likelihood-ratio test of k against k + 1.

:func:`select_n_experts` fits one model per number of experts (in parallel, each
fit with its own seed) and compares BIC, ICL or AIC, or fits once with the
largest number and reads the dendrogram of its mixing measure (DSC, see
:mod:`gmoe.selection._dendrogram`).  :func:`bootstrap_lrt` tests ``k`` experts against
``k + 1`` by a parametric bootstrap of the likelihood-ratio statistic.
"""

import numbers
import warnings

import numpy as np

from gmoe.model._order import better_fit
from gmoe.selection._common import (
    _check_ks,
    _check_room,
    _check_Xy,
    _entropy_of,
    _fit_recorded,
    _run,
    _seed_for,
)
from gmoe.selection._criteria import criteria_row
from gmoe.selection._split import split_start

__all__ = [
    "CRITERIA",
    "ExpertSelection",
    "select_n_experts",
]

#: The criteria of :func:`select_n_experts`; all are "smaller is better".
CRITERIA = ("bic", "icl", "aic", "dsc")

def _sweep_row(k, X, y, w, seed, estimator_params):
    model, elapsed, counts, messages = _fit_recorded(k, X, y, w, seed,
                                                     estimator_params)
    row = criteria_row(model, X, y, w)
    n_degenerate = int(np.sum(model.degenerate_experts_))
    row.update(converged=bool(model.converged_), n_degenerate=n_degenerate,
               regular=n_degenerate == 0 and counts["spurious"] == 0,
               fit_time=elapsed, n_warnings=len(messages),
               warnings="; ".join(messages), random_state=seed)
    return model, row


def _repair_nesting(ks, estimators, rows, X, y, w, entropy, estimator_params):
    """Refit, from a split of the best smaller fit, every k whose fit has a lower
    log-likelihood than a fit with fewer experts (the models are nested, so its
    search missed the maximum); keep the better of the two fits."""
    from gmoe.gates import get_gate

    gate = get_gate(estimator_params.get("gate", "softmax"))
    # a sparse gate's models are not nested (an added expert changes the selected
    # sets), and a gate without an additive intercept has no split copy
    if (estimator_params.get("top_k") is not None or gate.sparse
            or not gate.additive_intercept()
            or "gate_intercept" not in gate.attributes):
        return
    for index, k in enumerate(ks):
        smaller = ks[:index]
        if not smaller:
            continue
        j = max(smaller, key=lambda j: rows[j]["log_likelihood"])
        target = rows[j]["log_likelihood"]
        if rows[k]["log_likelihood"] >= target - 1e-9 * abs(target):
            continue
        params = {**estimator_params,
                  "init_params": split_start(estimators[j], k)}
        model, row = _sweep_row(k, X, y, w, _seed_for(entropy, k, stream=5), params)
        row["fit_time"] += rows[k]["fit_time"]
        if better_fit((row["regular"], row["log_likelihood"]),
                      (rows[k]["regular"], rows[k]["log_likelihood"]), w.sum()):
            row["start"] = f"split of k={j}"
            estimators[k], rows[k] = model, row


def _choose(results, criterion):
    """The row of the smallest criterion among regular fits (among all fits when
    none is regular); ties go to the fewer experts."""
    eligible = results[results["regular"]]
    if eligible.empty:
        eligible = results
    values = eligible[criterion].to_numpy()
    best = np.flatnonzero(values == np.nanmin(values))
    return int(eligible["n_experts"].to_numpy()[best].min())


# ------------------------------------------------------------ the result
class ExpertSelection:
    """The result of :func:`select_n_experts`.

    Attributes
    ----------
    n_experts_ : int
        The chosen number of experts.
    best_estimator_ : GaussianMoERegressor
        The fitted model with ``n_experts_`` experts (for ``criterion="dsc"``, the
        refit from the merged parameters).
    estimators_ : dict of int to GaussianMoERegressor
        Every fit: one per k of a sweep; for ``"dsc"`` the over-fitted fit only.
    results_ : pandas.DataFrame
        One row per k: ``n_experts``, ``log_likelihood``, ``n_parameters``,
        ``bic``, ``icl``, ``icl_map``, ``aic`` (all smaller-is-better),
        ``entropy``,
        ``converged``, ``n_degenerate`` (degenerate experts of the fit),
        ``regular``, ``start`` (``"search"``, or ``"split of k=j"`` for a fit
        refitted from a split of the fit with j experts), ``fit_time`` (s, both
        fits of a refitted k), ``n_warnings``, ``warnings`` (the first
        lines of the fit's warnings, ``"; "``-joined), ``random_state`` (the seed
        of the fit).  For ``"dsc"``: the merged models of the dendrogram, with
        ``dsc`` and ``height`` columns, ``converged`` and ``fit_time`` those of
        the single fit.
    criterion : str
    dendrogram_ : MixingDendrogram or None
        For ``criterion="dsc"``.

    Examples
    --------
    >>> from gmoe import select_n_experts
    >>> from gmoe.datasets import make_moe_regression
    >>> X, y = make_moe_regression(500, random_state=0)
    >>> selection = select_n_experts(X, y, n_experts=range(1, 4), n_init=3,
    ...                              random_state=0)
    >>> selection.n_experts_, selection.best_estimator_.n_experts
    (2, 2)
    >>> sorted(selection.estimators_)
    [1, 2, 3]
    >>> selection.results_["n_experts"].tolist()
    [1, 2, 3]
    """

    def __init__(self, *, criterion, n_experts, best_estimator, estimators,
                 results, dendrogram=None):
        self.criterion = criterion
        self.n_experts_ = n_experts
        self.best_estimator_ = best_estimator
        self.estimators_ = estimators
        self.results_ = results
        self.dendrogram_ = dendrogram

    def __repr__(self):
        ks = self.results_["n_experts"].tolist()
        return (f"ExpertSelection(criterion={self.criterion!r}, n_experts_="
                f"{self.n_experts_}, k in {ks})")

    def plot(self, ax=None):
        """Draw the criteria against k, the choice marked.

        Parameters
        ----------
        ax : matplotlib Axes or None
            None: a new figure.

        Returns
        -------
        ax : matplotlib Axes
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5.5, 3.6))
        table = self.results_
        ks = table["n_experts"].to_numpy()
        columns = ["bic", "icl", "aic"]
        if "dsc" in table:
            columns = ["dsc"]
        markers = {"bic": "o-", "icl": "s-", "aic": "^-", "dsc": "D-"}
        for column in columns:
            ax.plot(ks, table[column], markers[column], label=column.upper(),
                    lw=2.2 if column == self.criterion else 1.0)
        chosen = table[table["n_experts"] == self.n_experts_]
        ax.plot(chosen["n_experts"], chosen[self.criterion], "o", ms=14,
                mfc="none", mec="k", mew=1.5,
                label=f"chosen: k = {self.n_experts_}")
        irregular = table[~table["regular"]] if "regular" in table else table[:0]
        if len(irregular):
            ax.plot(irregular["n_experts"], irregular[self.criterion], "x",
                    color="r", ms=9, label="degenerate experts")
        ax.set_xticks(ks)
        ax.set_xlabel("number of experts k")
        ax.set_ylabel("criterion (smaller is better)")
        ax.legend(fontsize=8)
        return ax


# ------------------------------------------------------------ the sweep
def select_n_experts(X, y, n_experts=range(1, 9), criterion="bic", *, n_init=None,
                     random_state=None, n_jobs=None, progress=None,
                     sample_weight=None, **estimator_params):
    """Choose the number of experts: a sweep of fits and an information
    criterion, or one over-fitted fit and its dendrogram.

    ``"bic"``, ``"icl"``, ``"aic"``: fit :class:`~gmoe.GaussianMoERegressor` for
    every k of ``n_experts`` and keep the smallest criterion,

    .. math::

        \\mathrm{BIC} = -2 \\log L + m \\log n, \\quad
        \\mathrm{ICL} = \\mathrm{BIC} - 2 \\sum_n \\sum_i \\tau_{ni}
        \\log \\tau_{ni}, \\quad \\mathrm{AIC} = -2 \\log L + 2 m .

    ``"dsc"``: fit once with ``max(n_experts)`` experts, merge its atoms two at a
    time (:class:`~gmoe.MixingDendrogram`) and keep the number of atoms kappa
    (among ``n_experts``, at least 2) of smallest
    :math:`\\mathrm{DSC}(\\kappa) = -(h_\\kappa + \\log n \\cdot \\bar\\ell_\\kappa)`;
    the best estimator is then refitted from the merged parameters.  DSC works
    for the dense gates whose atoms can be merged (``gate=`` "softmax",
    "constant", "cosine", "laplace"; see
    :func:`gmoe.selection._dendrogram.check_mergeable`) and raises a ValueError before
    any fit for the others.

    A fit with degenerate experts (an expert with too little weight or a
    variance at the floor: ``degenerate_experts_``, or a fit that warns
    :class:`~gmoe.SpuriousFitWarning`) is "irregular" and is never chosen while a
    regular fit exists, whatever its criterion; ties go to the fewer experts.

    The models are nested: a fit with more experts can always reach the
    log-likelihood of one with fewer.  When a k's search ends below a smaller
    k's fit, that k is refitted from :func:`split_start` of the best smaller fit
    and the better of the two fits is kept (column ``start`` of ``results_``:
    ``"search"`` or ``"split of k=j"``), so that the log-likelihood does not
    fall with k (dense softmax gate).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    n_experts : int or iterable of int, default=range(1, 9)
        The numbers of experts to compare (positive, distinct).
    criterion : {"bic", "icl", "aic", "dsc"}, default="bic"
    n_init : int or None, default=None
        Starts per fit; None: ``SELECTION_N_INIT`` (10), a third of the
        estimator's default, which on mcycle reaches the same choice.  Unless
        ``n_refine`` is given, the starts are screened down to
        ``SELECTION_N_REFINE`` (2) that are run to the end.
    random_state : int, RandomState, Generator or None, default=None
        The fit with k experts gets its own seed, a child of one
        ``numpy.random.SeedSequence`` keyed by k: results do not depend on
        ``n_jobs``, nor on which other k are fitted unless a fit was refitted
        from a split start (see below).
    n_jobs : int or None, default=None
        Parallel fits (joblib); None: one.
    progress : bool or None, default=None
        A tqdm progress bar over the fits; None: only when standard error is a
        terminal.
    sample_weight : array-like of shape (n_samples,) or None, default=None
        Then :math:`\\log L` is weighted and :math:`n = \\sum_n w_n`.
    **estimator_params
        Passed to every :class:`~gmoe.GaussianMoERegressor` (``solver``,
        ``max_iter``, ``tol``, ``gate``, ...).  For ``"dsc"``, the keys
        ``distance`` and ``reference`` go to :class:`~gmoe.MixingDendrogram`
        instead.

    Returns
    -------
    selection : ExpertSelection

    Raises
    ------
    ValueError
        Empty or non-integer ``n_experts``, an unknown ``criterion``, or more
        parameters than samples at ``max(n_experts)``.

    Examples
    --------
    >>> from gmoe import select_n_experts
    >>> from gmoe.datasets import make_moe_regression
    >>> X, y = make_moe_regression(500, random_state=0)
    >>> selection = select_n_experts(X, y, n_experts=[1, 2, 3], random_state=0)
    >>> selection.n_experts_
    2
    >>> selection.results_[["n_experts", "bic", "regular"]].round(1)
       n_experts     bic  regular
    0          1  2845.8     True
    1          2   422.8     True
    2          3   440.7     True
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}; got {criterion!r}.")
    ks = _check_ks(n_experts)
    X, y, w = _check_Xy(X, y, sample_weight)
    _check_room(ks, int(np.count_nonzero(w)), X.shape[1])
    if n_init is not None:
        if not isinstance(n_init, numbers.Integral) or n_init < 1:
            raise ValueError(f"n_init must be a positive integer; got {n_init!r}.")
        estimator_params["n_init"] = int(n_init)
    if "random_state" in estimator_params or "n_experts" in estimator_params:
        raise ValueError("pass random_state and n_experts to select_n_experts "
                         "itself, not as estimator parameters.")
    if estimator_params.get("n_shared_experts", 0):
        raise ValueError(
            "select_n_experts compares models without shared experts; with "
            f"n_shared_experts={estimator_params['n_shared_experts']!r}, fit "
            "GaussianMoERegressor for each n_experts and compare their bic(X, y).")
    entropy = _entropy_of(random_state)
    if criterion == "dsc":
        return _select_dsc(X, y, w, ks, entropy, estimator_params)
    import pandas as pd

    tasks = [(lambda k=k: _sweep_row(k, X, y, w, _seed_for(entropy, k),
                                     estimator_params)) for k in ks]
    fitted = _run(tasks, n_jobs, progress, "fits")
    estimators = {k: model for k, (model, _) in zip(ks, fitted, strict=True)}
    rows = {k: {**row, "start": "search"} for k, (_, row) in zip(ks, fitted,
                                                               strict=True)}
    _repair_nesting(ks, estimators, rows, X, y, w, entropy, estimator_params)
    results = pd.DataFrame([rows[k] for k in ks])
    chosen = _choose(results, criterion)
    return ExpertSelection(criterion=criterion, n_experts=chosen,
                           best_estimator=estimators[chosen],
                           estimators=estimators, results=results)


def _select_dsc(X, y, w, ks, entropy, estimator_params):
    import pandas as pd

    from gmoe.gates import TopK, get_gate
    from gmoe.selection._dendrogram import MixingDendrogram, check_mergeable

    dendro_options = {key: estimator_params.pop(key)
                      for key in ("distance", "reference") if key in estimator_params}
    gate = get_gate(estimator_params.get("gate", "softmax"),
                    estimator_params.get("likelihood", "conditional"))
    if estimator_params.get("top_k") is not None:
        gate = TopK(estimator_params["top_k"])
    check_mergeable(gate)
    k_max = max(ks)
    candidates = [k for k in ks if k >= 2]
    if not candidates:
        raise ValueError("criterion='dsc' compares 2 or more experts (the merge "
                         "height from kappa to kappa - 1); give n_experts with a "
                         "value of 2 or more, e.g. range(1, 9).")
    model, row = _sweep_row(k_max, X, y, w, _seed_for(entropy, k_max),
                            estimator_params)
    tree = MixingDendrogram(model, X, y, sample_weight=w, **dendro_options)
    rows = []
    for kappa in candidates:
        merged = tree.estimator(kappa)
        values = criteria_row(merged, X, y, w)
        values.update(dsc=tree.dsc_[kappa], height=tree.heights_[kappa],
                      converged=row["converged"],
                      n_degenerate=row["n_degenerate"] if kappa == k_max else 0,
                      regular=True, fit_time=row["fit_time"] if kappa == k_max
                      else 0.0, n_warnings=row["n_warnings"] if kappa == k_max
                      else 0, warnings=row["warnings"] if kappa == k_max else "",
                      random_state=row["random_state"])
        rows.append(values)
    results = pd.DataFrame(rows)
    chosen = int(results["n_experts"].to_numpy()[np.argmin(results["dsc"])])
    refit_params = {key: value for key, value in estimator_params.items()
                    if key != "n_init"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        best = tree.refit(X, y, chosen, sample_weight=w,
                          random_state=_seed_for(entropy, chosen, stream=1),
                          **refit_params)
    return ExpertSelection(criterion="dsc", n_experts=chosen, best_estimator=best,
                           estimators={k_max: model}, results=results,
                           dendrogram=tree)
