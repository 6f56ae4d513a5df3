"""How many experts?  Information criteria over a sweep of k, and the bootstrap
likelihood-ratio test of k against k + 1.

:func:`select_n_experts` fits one model per number of experts (in parallel, each
fit with its own seed) and compares BIC, ICL or AIC, or fits once with the
largest number and reads the dendrogram of its mixing measure (DSC, see
:mod:`gmoe.selection._dendrogram`).  :func:`bootstrap_lrt` tests ``k`` experts against
``k + 1`` by a parametric bootstrap of the likelihood-ratio statistic.
"""

import numbers
import sys
import time
import warnings

import numpy as np
import scipy.special
from sklearn.exceptions import ConvergenceWarning

from gmoe.model._order import better_fit

__all__ = [
    "CRITERIA",
    "ExpertSelection",
    "LikelihoodRatioTest",
    "bootstrap_lrt",
    "select_n_experts",
]

#: The criteria of :func:`select_n_experts`; all are "smaller is better".
CRITERIA = ("bic", "icl", "aic", "dsc")

#: Default number of starts per fit in :func:`select_n_experts` and
#: :func:`bootstrap_lrt` (the estimator's own default is 30): on mcycle the sweep
#: k = 1..8 with 10 starts reaches the same BIC choice at half the time.
SELECTION_N_INIT = 10

#: Default number of screened starts run to the end (the estimator's
#: ``n_refine``, whose own default is 10): with 10 starts screened down to 2, a
#: sweep k = 1..6 at n = 1e5 takes 80 s on 2 cores instead of 250 s.
SELECTION_N_REFINE = 2

#: The warnings of a fit that are recorded per fit instead of being shown.
_RECORDED = {"SpuriousFitWarning": "spurious", "ConvergenceWarning": "not_converged",
             "GateSeparationWarning": "separated", "UserWarning": "degenerate"}


# ----------------------------------------------------------------- helpers
def _check_Xy(X, y, sample_weight):
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        raise ValueError("X must be 2-D of shape (n_samples, n_features); with one "
                         "feature pass X.reshape(-1, 1).")
    y = np.asarray(y, dtype=float)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be 2-D and y 1-D with one value per row of X; got "
                         f"shapes {X.shape} and {y.shape}.")
    if sample_weight is None:
        w = np.ones(X.shape[0])
    else:
        w = np.asarray(sample_weight, dtype=float)
        if w.shape != y.shape or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("sample_weight must be finite, non-negative and have "
                             f"one value per sample ({y.shape[0]}).")
    return X, y, w


def _check_ks(n_experts):
    """The numbers of experts as a sorted list of distinct positive ints."""
    if isinstance(n_experts, numbers.Integral) and not isinstance(n_experts, bool):
        n_experts = [n_experts]
    try:
        values = list(n_experts)
    except TypeError:
        raise ValueError(f"n_experts must be an integer or a list of them, e.g. "
                         f"range(1, 9); got {n_experts!r}.") from None
    if not values:
        raise ValueError("n_experts is empty; give at least one number of experts, "
                         "e.g. range(1, 9).")
    bad = [v for v in values if isinstance(v, bool)
           or not isinstance(v, numbers.Integral | np.integer) or v < 1]
    if bad:
        raise ValueError(f"n_experts must hold positive integers; got {bad[:3]!r} "
                         f"in {n_experts!r}.")
    return sorted({int(v) for v in values})


def _check_room(ks, n_positive, n_features):
    """Refuse k whose model has more parameters than there are samples."""
    k_max = max(ks)
    m = (k_max - 1) * (n_features + 1) + k_max * (n_features + 2)
    if m >= n_positive:
        fit = [k for k in ks
               if (k - 1) * (n_features + 1) + k * (n_features + 2) < n_positive]
        hint = (f"use at most {max(fit)} experts" if fit
                else "the data are too few for any mixture of experts")
        raise ValueError(
            f"n_experts={k_max} needs {m} free parameters but the data have "
            f"{n_positive} samples (with positive weight); {hint}, or more data.")


def _seed_for(entropy, k, stream=0):
    """The random state of the fit with k experts: a child of one SeedSequence
    keyed by k (and a stream number), so that it depends neither on the order
    of the fits nor on the number of workers."""
    seq = np.random.SeedSequence(entropy, spawn_key=(int(stream), int(k)))
    return int(seq.generate_state(1)[0])


def _entropy_of(random_state):
    """The entropy of the SeedSequence behind a ``random_state``."""
    if random_state is None:
        return np.random.SeedSequence().entropy
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(np.iinfo(np.int64).max))
    raise ValueError("random_state must be None, an int, a numpy RandomState or "
                     f"Generator; got {random_state!r}.")


def _show_progress(progress):
    if progress is None:
        return sys.stderr.isatty()
    return bool(progress)


def _run(tasks, n_jobs, progress, desc):
    """Run ``tasks`` (callables) with joblib, in order, under a tqdm bar."""
    from joblib import Parallel, delayed

    bar = None
    if _show_progress(progress):
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tasks), desc=desc, leave=False)
    results = []
    runner = Parallel(n_jobs=n_jobs, return_as="generator")
    for result in runner(delayed(task)() for task in tasks):
        results.append(result)
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    return results


def responsibility_entropy(estimator, X, y, sample_weight=None):
    """Entropy of the responsibilities of a fitted model.

    .. math::

        E = -\\sum_n w_n \\sum_i \\tau_{ni} \\log \\tau_{ni}

    (terms with :math:`\\tau_{ni} = 0` count 0).

    Parameters
    ----------
    estimator : GaussianMoERegressor
        Fitted.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    sample_weight : array-like of shape (n_samples,) or None

    Returns
    -------
    entropy : float
        Non-negative; 0 when every sample belongs wholly to one expert.

    Examples
    --------
    >>> from gmoe import GaussianMoERegressor
    >>> from gmoe.datasets import make_moe_regression
    >>> X, y = make_moe_regression(300, random_state=0)
    >>> moe = GaussianMoERegressor(1, n_init=1).fit(X, y)
    >>> responsibility_entropy(moe, X, y)
    0.0
    """
    resp = estimator.predict_responsibilities(X, y)
    w = np.ones(resp.shape[0]) if sample_weight is None else np.asarray(
        sample_weight, dtype=float)
    return float(-(w @ scipy.special.xlogy(resp, resp).sum(axis=1)) + 0.0)


def criteria_row(estimator, X, y, sample_weight=None):
    """Log-likelihood, number of parameters, BIC, ICL and AIC of a fitted model.

    .. math::

        \\mathrm{BIC} = -2 \\log L + m \\log n, \\quad
        \\mathrm{ICL} = \\mathrm{BIC} + 2 E, \\quad
        \\mathrm{AIC} = -2 \\log L + 2 m,

    with :math:`\\log L = \\sum_n w_n \\log g(y_n \\mid x_n)`,
    :math:`n = \\sum_n w_n` (the number of samples without weights), ``m`` the
    free parameters and ``E`` the entropy of the responsibilities
    (:func:`responsibility_entropy`).  All three: smaller is better.

    Parameters
    ----------
    estimator : GaussianMoERegressor
        Fitted.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    sample_weight : array-like of shape (n_samples,) or None

    Returns
    -------
    row : dict
        ``n_experts``, ``log_likelihood``, ``n_parameters``, ``bic``, ``icl``,
        ``icl_map``, ``aic``, ``entropy``.  ``icl_map`` is the hard-assignment
        ICL :math:`\\mathrm{BIC} - 2 \\sum_n w_n \\log \\max_i \\tau_{ni}`
        (Biernacki, Celeux & Govaert 2000), the one R flexmix's ``ICL()``
        computes (``-2 clogLik + df log n``).

    Examples
    --------
    >>> from gmoe import GaussianMoERegressor
    >>> from gmoe.datasets import make_moe_regression
    >>> X, y = make_moe_regression(300, random_state=0)
    >>> moe = GaussianMoERegressor(2, n_init=2, random_state=0).fit(X, y)
    >>> row = criteria_row(moe, X, y)
    >>> bool(np.isclose(row["bic"], moe.bic(X, y)))
    True
    """
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight,
                                                                   dtype=float)
    loglik = float(w @ estimator.score_samples(X, y))
    m = estimator.n_parameters()
    n = float(w.sum())
    resp = estimator.predict_responsibilities(X, y)
    entropy = float(-(w @ scipy.special.xlogy(resp, resp).sum(axis=1)) + 0.0)
    map_term = float(-(w @ np.log(np.maximum(resp.max(axis=1), 1e-300))))
    bic = -2 * loglik + m * np.log(n)
    return {"n_experts": resp.shape[1], "log_likelihood": loglik,
            "n_parameters": m, "bic": bic, "icl": bic + 2 * entropy,
            "icl_map": bic + 2 * map_term, "aic": -2 * loglik + 2 * m,
            "entropy": entropy}


def _fit_recorded(k, X, y, w, seed, estimator_params):
    """Fit k experts; record its warnings instead of showing them."""
    from gmoe.estimator._estimator import (
        GateSeparationWarning,
        GaussianMoERegressor,
        SpuriousFitWarning,
    )

    params = {"n_init": SELECTION_N_INIT, "n_refine": SELECTION_N_REFINE,
              **estimator_params}
    if params.get("top_k") is not None and params["top_k"] > k:
        params["top_k"] = k  # a top-K gate over k <= K experts is the dense gate
    model = GaussianMoERegressor(k, random_state=seed, **params)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y, sample_weight=w)
    elapsed = time.perf_counter() - start
    counts = dict.fromkeys(_RECORDED.values(), 0)
    messages = []
    for item in caught:
        if issubclass(item.category, SpuriousFitWarning):
            counts["spurious"] += 1
        elif issubclass(item.category, ConvergenceWarning):
            counts["not_converged"] += 1
        elif issubclass(item.category, GateSeparationWarning):
            counts["separated"] += 1
        elif issubclass(item.category, UserWarning):
            counts["degenerate"] += 1
        line = f"{item.category.__name__}: {str(item.message).splitlines()[0]}"
        if line not in messages:
            messages.append(line)
    return model, elapsed, counts, messages


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


def split_start(estimator, n_experts, *, spread=0.5):
    """A start with ``n_experts`` experts made from a smaller fitted model by
    splitting its heaviest expert, again and again.

    Each split replaces expert ``s`` (the largest ``expert_weight_`` so far) by two
    copies whose gate intercepts are lowered by :math:`\\log 2` (so their gate
    weights add up to the original's) and whose expert intercepts are moved by
    :math:`\\pm` ``spread`` :math:`\\sqrt{\\sigma_s}`.  With ``spread=0`` the
    start's conditional density equals the smaller model's exactly; a positive
    spread lets EM pull the copies apart.

    Parameters
    ----------
    estimator : GaussianMoERegressor
        Fitted with fewer than ``n_experts`` experts and a dense gate whose
        scores have an additive intercept (softmax, constant, cosine, Laplace).
    n_experts : int
    spread : float, default=0.5
        Shift of the expert intercepts, in standard deviations of the split expert.

    Returns
    -------
    params : dict
        The parameter arrays (the gate's and the experts'), usable as
        ``init_params``.

    Examples
    --------
    >>> import numpy as np
    >>> from gmoe import GaussianMoERegressor
    >>> from gmoe.datasets import make_moe_regression
    >>> X, y = make_moe_regression(300, random_state=0)
    >>> moe = GaussianMoERegressor(2, n_init=2, random_state=0).fit(X, y)
    >>> from gmoe import split_start
    >>> start = split_start(moe, 3, spread=0.0)
    >>> twin = GaussianMoERegressor(3, init_params=start, max_iter=0).fit(X, y)
    >>> bool(np.isclose(twin.log_likelihood_, moe.log_likelihood_))
    True
    """
    from gmoe.model._conditional import require_dense_gate

    require_dense_gate(estimator, "a split start")
    gate = estimator._fitted_gate()
    if not gate.additive_intercept():
        raise ValueError(
            f"a split start halves the gate weight of the split expert by lowering "
            f"its score by log 2; the scores of gate={gate!r} have no additive "
            "intercept, so no such copy exists. Use random starts for this gate.")
    params = {name: np.array(value, dtype=float)
              for name, value in estimator._params_dict().items()}
    weight = np.array(estimator.expert_weight_, dtype=float)
    if not weight.size < n_experts:
        raise ValueError(f"n_experts={n_experts} must exceed the fitted model's "
                         f"{weight.size} experts.")
    while weight.size < n_experts:
        s = int(np.argmax(weight))
        shift = spread * np.sqrt(params["expert_variance"][s])
        for name, value in params.items():
            params[name] = np.concatenate([value, value[s:s + 1]])
        params["gate_intercept"][[s, -1]] -= np.log(2.0)
        params["expert_intercept"][s] += shift
        params["expert_intercept"][-1] -= shift
        weight = np.append(weight, weight[s] / 2)
        weight[s] /= 2
    return params


def _repair_nesting(ks, estimators, rows, X, y, w, entropy, estimator_params):
    """Refit, from a split of the best smaller fit, every k whose fit has a lower
    log-likelihood than a fit with fewer experts (the models are nested, so its
    search missed the maximum); keep the better of the two fits."""
    from gmoe.gates import get_gate

    gate = estimator_params.get("gate", "softmax")
    if (estimator_params.get("top_k") is not None
            or not get_gate(gate).additive_intercept()
            or "gate_intercept" not in get_gate(gate).attributes):
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
    "constant", "cosine", "laplace"; see :func:`gmoe.selection._dendrogram.check_mergeable`)
    and raises a ValueError before any fit for the others.

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

    from gmoe.gates import get_gate
    from gmoe.selection._dendrogram import MixingDendrogram, check_mergeable

    dendro_options = {key: estimator_params.pop(key)
                      for key in ("distance", "reference") if key in estimator_params}
    gate = estimator_params.get("gate", "softmax")
    if isinstance(gate, str) and gate == "gaussian":
        raise ValueError("criterion='dsc' merges the atoms of a gate of gmoe.gates; "
                         "the Gaussian gate's measure has no merge here. Use "
                         "criterion='bic' (or 'icl', 'aic').")
    gate = get_gate(gate)
    if gate.sparse or estimator_params.get("top_k") is not None:
        raise ValueError("criterion='dsc' is defined for dense gates; use "
                         "criterion='bic' (or 'icl', 'aic') with a sparse gate.")
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


# ----------------------------------------------------- bootstrap LRT
class LikelihoodRatioTest:
    """The result of :func:`bootstrap_lrt`.

    Attributes
    ----------
    n_experts : int
        The null hypothesis: ``n_experts`` experts (against ``n_experts + 1``).
    statistic : float
        :math:`2 (\\log L_{k+1} - \\log L_k)` on the data.
    bootstrap_statistics : ndarray of shape (n_boot,)
        The statistic on each sample drawn from the fitted k-expert model.
    p_value : float
        :math:`(1 + \\#\\{b : T_b \\ge T\\}) / (1 + B)`.
    estimators : tuple of GaussianMoERegressor
        The fits with k and k + 1 experts to the data.

    Examples
    --------
    >>> from gmoe import bootstrap_lrt
    >>> from gmoe.datasets import make_moe_regression
    >>> X, y = make_moe_regression(300, random_state=0)
    >>> test = bootstrap_lrt(X, y, n_experts=1, n_boot=4, n_init=3,
    ...                      random_state=0)
    >>> test.bootstrap_statistics.shape
    (4,)
    >>> 0 < test.p_value <= 1
    True
    >>> [moe.n_experts for moe in test.estimators]
    [1, 2]
    """

    def __init__(self, n_experts, statistic, bootstrap_statistics, estimators):
        self.n_experts = n_experts
        self.statistic = float(statistic)
        self.bootstrap_statistics = np.asarray(bootstrap_statistics, dtype=float)
        b = self.bootstrap_statistics
        self.p_value = float((1 + np.sum(b >= self.statistic)) / (1 + b.size))
        self.estimators = estimators

    def __repr__(self):
        return (f"LikelihoodRatioTest(k={self.n_experts} vs {self.n_experts + 1}, "
                f"statistic={self.statistic:.3f}, p_value={self.p_value:.4f}, "
                f"n_boot={self.bootstrap_statistics.size})")


def _lrt_pair(k, X, y, w, seeds, estimator_params):
    """The statistic 2 (logL_{k+1} - logL_k) and the two fits."""
    small = _fit_recorded(k, X, y, w, seeds[0], estimator_params)[0]
    large = _fit_recorded(k + 1, X, y, w, seeds[1], estimator_params)[0]
    return 2 * (large.log_likelihood_ - small.log_likelihood_), small, large


def _lrt_replicate(b, k, null, X, w, entropy, estimator_params):
    seed = _seed_for(entropy, b, stream=2)
    y_b, _ = null.sample(X, random_state=seed)
    seeds = (_seed_for(entropy, b, stream=3), _seed_for(entropy, b, stream=4))
    return _lrt_pair(k, X, y_b, w, seeds, estimator_params)[0]


def bootstrap_lrt(X, y, n_experts=1, *, n_boot=99, n_init=None, random_state=None,
                  n_jobs=None, progress=None, sample_weight=None,
                  **estimator_params):
    """Test k experts against k + 1: parametric bootstrap of the likelihood ratio.

    The statistic :math:`T = 2 (\\log L_{k+1} - \\log L_k)` has no chi-squared
    limit here (k experts lie on the boundary of the k + 1 model, where the
    Fisher information is singular), so its null distribution is simulated, as
    in mixtools' ``boot.comp``: draw ``y`` from the fitted k-expert model at the
    observed ``X`` (:meth:`~gmoe.GaussianMoERegressor.sample`), fit k and k + 1
    experts to it, and recompute T; ``B = n_boot`` times.  The p-value is
    :math:`(1 + \\#\\{b : T_b \\ge T\\}) / (1 + B)`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    n_experts : int, default=1
        k, the number of experts of the null hypothesis.
    n_boot : int, default=99
    n_init : int or None, default=None
        Starts per fit (None: ``SELECTION_N_INIT``).
    random_state : int, RandomState, Generator or None, default=None
        Every draw and fit gets a seed from one ``SeedSequence`` keyed by the
        replicate: results do not depend on ``n_jobs``.
    n_jobs : int or None, default=None
        Parallel replicates (joblib).
    progress : bool or None, default=None
        A tqdm bar over the replicates; None: only on a terminal.
    sample_weight : array-like of shape (n_samples,) or None, default=None
        Weights of the log-likelihoods (the samples are drawn at every row).
    **estimator_params
        Passed to every :class:`~gmoe.GaussianMoERegressor`.

    Returns
    -------
    test : LikelihoodRatioTest
        ``statistic``, ``bootstrap_statistics`` (n_boot,), ``p_value``.

    Examples
    --------
    >>> from gmoe import bootstrap_lrt
    >>> from gmoe.datasets import make_moe_regression
    >>> X, y = make_moe_regression(300, random_state=0)
    >>> test = bootstrap_lrt(X, y, n_experts=1, n_boot=4, n_init=1,
    ...                      random_state=0)
    >>> test.p_value  # two experts are far better than one: (1 + 0) / (1 + 4)
    0.2
    """
    if not isinstance(n_experts, numbers.Integral) or isinstance(n_experts, bool) \
            or n_experts < 1:
        raise ValueError(f"n_experts must be a positive integer (the k of k against "
                         f"k + 1); got {n_experts!r}.")
    if not isinstance(n_boot, numbers.Integral) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer; got {n_boot!r}.")
    k = int(n_experts)
    X, y, w = _check_Xy(X, y, sample_weight)
    _check_room([k + 1], int(np.count_nonzero(w)), X.shape[1])
    if n_init is not None:
        if not isinstance(n_init, numbers.Integral) or n_init < 1:
            raise ValueError(f"n_init must be a positive integer; got {n_init!r}.")
        estimator_params["n_init"] = int(n_init)
    entropy = _entropy_of(random_state)
    seeds = (_seed_for(entropy, k), _seed_for(entropy, k + 1))
    statistic, small, large = _lrt_pair(k, X, y, w, seeds, estimator_params)
    tasks = [(lambda b=b: _lrt_replicate(b, k, small, X, w, entropy,
                                         estimator_params)) for b in range(n_boot)]
    stats = _run(tasks, n_jobs, progress, "bootstrap")
    return LikelihoodRatioTest(k, statistic, stats, (small, large))
