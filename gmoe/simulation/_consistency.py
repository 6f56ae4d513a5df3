"""Consistency of the choice of the number of experts: on how many data sets do
BIC, ICL and DSC choose the true k0, as n grows?

Each data set gets one sweep k = 1..K (:func:`gmoe.select_n_experts`); BIC and
ICL choose from the sweep, DSC from the dendrogram of its largest fit (the same
fit a DSC-only analysis would make), so the three criteria see the same fits.
"""

import time
import warnings

import numpy as np

__all__ = [
    "CONSISTENCY_GRID",
    "CONSISTENCY_TRUTHS",
    "consistency_summary",
    "run_consistency_study",
    "wilson_interval",
]

#: Two truths: [N23]'s (k0 = 2, d = 1, X ~ U[0, 1]) and three well separated
#: planes (k0 = 3, d = 2, X ~ U[-1, 1]^2: the gate gives each expert about a
#: third of the square, the planes differ by 4 at their centres and more than 2
#: everywhere, standard deviations 0.3).
CONSISTENCY_TRUTHS = {
    "n23": {
        "params": {
            "gate_intercept": np.array([-8.0, 0.0]),
            "gate_coef": np.array([[25.0], [0.0]]),
            "expert_intercept": np.array([15.0, -5.0]),
            "expert_coef": np.array([[-20.0], [20.0]]),
            "expert_variance": np.array([0.09, 0.16]),
        },
        "low": 0.0, "high": 1.0,
    },
    "three_planes": {
        "params": {
            "gate_intercept": np.array([0.0, 0.0, 0.0]),
            "gate_coef": np.array([[-4.0, 0.0], [0.0, 0.0], [0.0, 4.0]]),
            "expert_intercept": np.array([4.0, 0.0, -4.0]),
            "expert_coef": np.array([[1.0, -1.0], [2.0, 1.0], [-1.0, 2.0]]),
            "expert_variance": np.array([0.09, 0.09, 0.09]),
        },
        "low": -1.0, "high": 1.0,
    },
}

#: The grid of the full study (about 15 min on one core; ``quick``: seconds).
CONSISTENCY_GRID = {
    "full": {"sample_sizes": (200, 700, 2000, 5000), "n_datasets": 20,
             "n_experts": (1, 2, 3, 4, 5)},
    "quick": {"sample_sizes": (200, 400), "n_datasets": 1,
              "n_experts": (1, 2, 3)},
}


def wilson_interval(successes, total, confidence=0.95):
    """Wilson score interval of a binomial proportion.

    .. math::

        \\frac{\\hat p + z^2 / 2n \\pm z \\sqrt{\\hat p (1 - \\hat p) / n +
        z^2 / 4n^2}}{1 + z^2 / n}

    Parameters
    ----------
    successes : int or array-like
    total : int or array-like
        Positive.
    confidence : float, default=0.95

    Returns
    -------
    lower, upper : float or ndarray

    Examples
    --------
    >>> lower, upper = wilson_interval(20, 20)
    >>> round(float(lower), 3), float(upper)
    (0.839, 1.0)
    """
    import scipy.stats

    s = np.asarray(successes, dtype=float)
    n = np.asarray(total, dtype=float)
    if np.any(n <= 0) or np.any(s < 0) or np.any(s > n):
        raise ValueError("wilson_interval needs 0 <= successes <= total, total > 0.")
    z = scipy.stats.norm.ppf(0.5 + confidence / 2)
    p = s / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def _cached(cache, key, compute):
    """The row of ``key`` from the cache folder, or compute and store it."""
    if cache is None:
        return compute()
    import hashlib
    import json
    from pathlib import Path

    name = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode())
    path = Path(cache) / f"{name.hexdigest()[:20]}.json"
    if path.exists():
        return json.loads(path.read_text())
    row = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(row))
    tmp.replace(path)
    return row


def _one_dataset(truth_name, truth, n, replication, ks, entropy, estimator_params):
    from gmoe.datasets import make_moe_regression
    from gmoe.selection._dendrogram import MixingDendrogram
    from gmoe.selection._selection import _choose, select_n_experts

    index = sorted(CONSISTENCY_TRUTHS).index(truth_name) \
        if truth_name in CONSISTENCY_TRUTHS else 99
    seq = np.random.SeedSequence(entropy, spawn_key=(index, int(n), int(replication)))
    data_seed, fit_seed = (int(s) for s in seq.generate_state(2))
    X, y = make_moe_regression(n, truth["params"], low=truth["low"],
                               high=truth["high"], random_state=data_seed)
    start = time.perf_counter()
    selection = select_n_experts(X, y, ks, "bic", random_state=fit_seed,
                                 **estimator_params)
    sweep_time = time.perf_counter() - start
    table = selection.results_
    k_max = max(ks)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = MixingDendrogram(selection.estimators_[k_max], X, y)
    dsc_time = float(table.loc[table["n_experts"] == k_max, "fit_time"].iloc[0]) \
        + time.perf_counter() - start
    return {"truth": truth_name, "k0": len(truth["params"]["expert_variance"]),
            "n": int(n), "replication": int(replication),
            "bic": selection.n_experts_, "icl": _choose(table, "icl"),
            "aic": _choose(table, "aic"), "dsc": tree.n_experts_,
            "sweep_time": sweep_time, "dsc_time": dsc_time,
            "n_irregular": int((~table["regular"]).sum())}


def run_consistency_study(truths=None, sample_sizes=(200, 700, 2000, 5000),
                          n_datasets=20, n_experts=(1, 2, 3, 4, 5), *,
                          random_state=0, n_jobs=None, progress=None,
                          cache=None, **estimator_params):
    """The choice of BIC, ICL, AIC and DSC on many data sets of known truths.

    Parameters
    ----------
    truths : dict or None, default=None
        ``name -> {"params": dict, "low": float, "high": float}``; None:
        :data:`CONSISTENCY_TRUTHS`.
    sample_sizes : sequence of int
    n_datasets : int
        Data sets per truth and sample size.
    n_experts : sequence of int
        The sweep of every data set; DSC uses the fit with the largest.
    random_state : int, default=0
        Data set ``(truth, n, replication)`` and its fits take their seeds from
        one ``SeedSequence`` keyed by them: rows do not depend on ``n_jobs``.
    n_jobs : int or None
        Parallel data sets (joblib).
    progress : bool or None
        A tqdm bar; None: on a terminal only.
    cache : str, Path or None, default=None
        A folder keeping each finished data set's row (JSON, keyed by the truth,
        n, replication, k, seed and estimator parameters): a rerun resumes.
    **estimator_params
        Passed to :func:`gmoe.select_n_experts`.

    Returns
    -------
    results : pandas.DataFrame
        One row per data set: ``truth``, ``k0``, ``n``, ``replication``, the
        choice of ``bic``, ``icl``, ``aic``, ``dsc``, ``sweep_time`` (s, the whole
        sweep), ``dsc_time`` (s, the largest fit and its dendrogram),
        ``n_irregular`` (fits of the sweep with degenerate experts).

    Examples
    --------
    >>> table = run_consistency_study(sample_sizes=(300,), n_datasets=1,
    ...                               n_experts=(1, 2, 3), n_init=2)
    >>> table[["truth", "k0", "n", "bic", "dsc"]]
              truth  k0    n  bic  dsc
    0           n23   2  300    2    2
    1  three_planes   3  300    3    3
    """
    import pandas as pd

    from gmoe.selection._common import _entropy_of, _run

    truths = CONSISTENCY_TRUTHS if truths is None else truths
    entropy = _entropy_of(random_state)
    ks = sorted(int(k) for k in n_experts)
    if entropy is None or not isinstance(entropy, int):
        cache = None  # fresh entropy: nothing to resume

    def task(name, truth, n, r):
        key = {"truth": name, "params": {k: np.asarray(v).tolist()
                                         for k, v in truth["params"].items()},
               "low": truth["low"], "high": truth["high"], "n": int(n),
               "replication": r, "ks": ks, "entropy": entropy,
               "estimator_params": estimator_params}
        return lambda: _cached(cache, key, lambda: _one_dataset(
            name, truth, n, r, ks, entropy, estimator_params))

    # replications outermost: an interrupted run has the same number of data
    # sets at every n
    tasks = [task(name, truth, n, r) for r in range(n_datasets)
             for name, truth in truths.items() for n in sample_sizes]
    rows = _run(tasks, n_jobs, progress, "data sets")
    return pd.DataFrame(rows).sort_values(
        ["truth", "n", "replication"]).reset_index(drop=True)


def consistency_summary(results, criteria=("bic", "icl", "dsc"), confidence=0.95):
    """Share of data sets on which each criterion chose k0, with Wilson intervals.

    Parameters
    ----------
    results : pandas.DataFrame
        From :func:`run_consistency_study`.
    criteria : sequence of str
    confidence : float

    Returns
    -------
    summary : pandas.DataFrame
        One row per truth, n and criterion: ``share``, ``lower``, ``upper``,
        ``n_datasets``, ``too_few``, ``too_many`` (counts), ``sweep_time`` and
        ``dsc_time`` (median seconds per data set).

    Examples
    --------
    >>> import pandas as pd
    >>> results = pd.DataFrame({"truth": ["a"] * 4, "k0": 2, "n": 100,
    ...                         "bic": [2, 2, 3, 1], "sweep_time": 1.0,
    ...                         "dsc_time": 0.2})
    >>> consistency_summary(results, ["bic"])[["share", "too_few", "too_many"]]
       share  too_few  too_many
    0    0.5        1         1
    """
    import pandas as pd

    rows = []
    for (truth, n), group in results.groupby(["truth", "n"], sort=True):
        k0 = int(group["k0"].iloc[0])
        for criterion in criteria:
            chosen = group[criterion].to_numpy()
            hits = int(np.sum(chosen == k0))
            lower, upper = wilson_interval(hits, len(chosen), confidence)
            rows.append({"truth": truth, "k0": k0, "n": int(n),
                         "criterion": criterion, "share": hits / len(chosen),
                         "lower": float(lower), "upper": float(upper),
                         "n_datasets": len(chosen),
                         "too_few": int(np.sum(chosen < k0)),
                         "too_many": int(np.sum(chosen > k0)),
                         "sweep_time": float(group["sweep_time"].median()),
                         "dsc_time": float(group["dsc_time"].median())})
    return pd.DataFrame(rows)


def plot_consistency(summary, axes=None):
    """Share of correct choices against n, one panel per truth, with intervals.

    Parameters
    ----------
    summary : pandas.DataFrame
        From :func:`consistency_summary`.
    axes : sequence of matplotlib Axes or None

    Returns
    -------
    fig : matplotlib Figure
    """
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    truths = list(dict.fromkeys(summary["truth"]))
    if axes is None:
        fig, axes = plt.subplots(1, len(truths), figsize=(4.2 * len(truths), 3.4),
                                 squeeze=False, sharey=True)
        axes = axes[0]
    fig = axes[0].figure
    for ax, truth in zip(axes, truths, strict=False):
        part = summary[summary["truth"] == truth]
        for j, (criterion, group) in enumerate(part.groupby("criterion", sort=False)):
            n = group["n"].to_numpy() * (1 + 0.07 * (j - 1))
            ax.errorbar(n, group["share"],
                        yerr=[group["share"] - group["lower"],
                              group["upper"] - group["share"]],
                        marker="os^D"[j % 4], capsize=3, label=criterion.upper())
        ax.set_xscale("log")
        sizes = sorted(set(part["n"]))
        ax.set_xticks(sizes, [str(int(v)) for v in sizes])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("sample size n")
        ax.set_title(f"{truth} (k0 = {int(part['k0'].iloc[0])}), "
                     f"{int(part['n_datasets'].iloc[0])} data sets per n",
                     fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("share of data sets with k = k0")
    axes[0].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
