"""The parametric bootstrap likelihood-ratio test of k experts against k + 1."""

import numbers

import numpy as np

from gmoe.selection._common import (
    _check_room,
    _check_Xy,
    _entropy_of,
    _fit_recorded,
    _run,
    _seed_for,
)

__all__ = ["LikelihoodRatioTest", "bootstrap_lrt"]


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
