"""Convergence rates from a rate study: log-log least squares with a bootstrap CI."""

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class RateEstimate:
    """The slope of ``log(mean loss)`` against ``log(n)`` and its uncertainty.

    Returned by :func:`estimate_rate`; ``mean_loss ~ exp(intercept) * n**slope``.

    Attributes
    ----------
    loss : str
        The column of the results the rate is about (``"D2"``, an error column...).
    slope : float
        Least-squares slope of ``log(mean loss)`` on ``log(n)``.
    intercept : float
        Its intercept (natural logarithms).
    ci : tuple of float
        ``(low, high)`` percentile bootstrap interval of the slope.
    confidence : float
        Level of ``ci``.
    sample_sizes : ndarray of shape (n_points,)
        The sample sizes the line was fitted to, increasing.
    mean : ndarray of shape (n_points,)
        Mean of the column over the replications at each sample size.
    sem : ndarray of shape (n_points,)
        Standard error of that mean (NaN with a single replication).
    counts : ndarray of shape (n_points,)
        Number of finite values averaged at each sample size.
    n_missing : ndarray of shape (n_points,)
        Number of rows at each sample size whose value is NaN or infinite (failed
        fits, or an error column of a cell size the fit did not produce).
    window : tuple
        ``(n_min, n_max)`` as declared, or ``(None, None)`` for the whole grid.
    n_boot : int
        Number of bootstrap resamples behind ``ci``.
    boot_slopes : ndarray of shape (n_boot,)
        The bootstrap slopes.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> n = np.repeat([100, 1000, 10000], 3)
    >>> frame = pd.DataFrame({"n": n, "D2": 2.0 * n ** -0.5
    ...                       * np.tile([0.9, 1.0, 1.1], 3)})
    >>> rate = estimate_rate(frame, "D2", n_boot=100)
    >>> isinstance(rate, RateEstimate), round(rate.slope, 3)
    (True, -0.5)
    >>> rate.sample_sizes.tolist(), rate.counts.tolist()
    ([100, 1000, 10000], [3, 3, 3])
    >>> low, high = rate.ci
    >>> bool(low <= rate.slope <= high)
    True
    """

    loss: str
    slope: float
    intercept: float
    ci: tuple
    confidence: float
    sample_sizes: np.ndarray
    mean: np.ndarray
    sem: np.ndarray
    counts: np.ndarray
    n_missing: np.ndarray
    window: tuple
    n_boot: int
    boot_slopes: np.ndarray

    def predict(self, n):
        """The fitted line ``exp(intercept) * n**slope``.

        Parameters
        ----------
        n : float or array-like

        Returns
        -------
        mean_loss : float or ndarray

        Examples
        --------
        >>> import numpy as np
        >>> import pandas as pd
        >>> n = np.array([100, 10000])
        >>> rate = estimate_rate(pd.DataFrame({"n": n, "D2": 2.0 / np.sqrt(n)}),
        ...                      n_boot=0)
        >>> rate.predict([100, 400]).round(6)
        array([0.2, 0.1])
        """
        return np.exp(self.intercept) * np.asarray(n, dtype=float) ** self.slope

    def to_dict(self):
        """A JSON-ready summary (without the bootstrap draws).

        Returns
        -------
        summary : dict

        Examples
        --------
        >>> import numpy as np
        >>> import pandas as pd
        >>> n = np.array([100, 10000])
        >>> rate = estimate_rate(pd.DataFrame({"n": n, "D2": 2.0 / np.sqrt(n)}),
        ...                      n_boot=0)
        >>> summary = rate.to_dict()
        >>> summary["loss"], round(summary["slope"], 6), summary["sample_sizes"]
        ('D2', -0.5, [100, 10000])
        """
        return {
            "loss": self.loss,
            "slope": self.slope,
            "intercept": self.intercept,
            "ci": list(self.ci),
            "confidence": self.confidence,
            "window": list(self.window),
            "n_boot": self.n_boot,
            "sample_sizes": self.sample_sizes.tolist(),
            "mean": self.mean.tolist(),
            "counts": self.counts.tolist(),
            "n_missing": self.n_missing.tolist(),
        }

    def __str__(self):
        low, high = self.ci
        return (
            f"{self.loss}: slope {self.slope:.3f} "
            f"({100 * self.confidence:g}% CI [{low:.3f}, {high:.3f}]) over "
            f"{len(self.sample_sizes)} sample sizes from {self.sample_sizes[0]} to "
            f"{self.sample_sizes[-1]}"
        )


def _ols(log_n, log_mean):
    """Slopes and intercepts of rows of ``log_mean`` (..., m) on ``log_n`` (m,)."""
    centred = log_n - log_n.mean()
    slope = (log_mean - log_mean.mean(axis=-1, keepdims=True)) @ centred / (
        centred @ centred
    )
    intercept = log_mean.mean(axis=-1) - slope * log_n.mean()
    return slope, intercept


def select_study(results, k=None):
    """The rows of one fitted number of experts.

    Parameters
    ----------
    results : pandas.DataFrame
        Output of :func:`gmoe.simulation.run_rate_study`.
    k : int or None, default=None
        Number of experts; may be None when ``results`` holds a single one.

    Returns
    -------
    rows : pandas.DataFrame

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"k": [2, 3], "n": [10, 10], "D2": [1.0, 2.0]})
    >>> select_study(frame, k=3)["D2"].tolist()
    [2.0]
    """
    if not isinstance(results, pd.DataFrame):
        raise TypeError(
            f"results must be the pandas DataFrame of run_rate_study; got "
            f"{type(results).__name__}."
        )
    if "k" not in results.columns:
        if k is not None:
            raise ValueError("results has no column 'k'; leave k=None.")
        return results
    present = sorted(int(v) for v in pd.unique(results["k"]))
    if k is None:
        if len(present) > 1:
            raise ValueError(
                f"results hold several numbers of experts {present}; pass k= to "
                "choose one."
            )
        return results
    if int(k) not in present:
        raise ValueError(f"k={k} is not in the results; they hold k = {present}.")
    return results[results["k"] == int(k)]


def _per_n_values(results, loss, window):
    """The finite values of column ``loss`` grouped by ``n`` inside the window."""
    if loss not in results.columns:
        raise ValueError(
            f"results has no column {loss!r}; choose one of "
            f"{[c for c in results.columns if c.startswith(('D', 'err_'))]}."
        )
    if "n" not in results.columns:
        raise ValueError("results needs a column 'n' of sample sizes.")
    if window is None:
        low, high = None, None
    else:
        try:
            low, high = window
        except (TypeError, ValueError):
            raise ValueError(
                f"window must be a pair (n_min, n_max); got {window!r}."
            ) from None
        if low is not None and high is not None and low > high:
            raise ValueError(f"window {window!r} is empty: n_min > n_max.")
    sizes = np.sort(pd.unique(results["n"]).astype(int))
    keep = np.ones(len(sizes), dtype=bool)
    if low is not None:
        keep &= sizes >= low
    if high is not None:
        keep &= sizes <= high
    sizes = sizes[keep]
    if len(sizes) < 2:
        raise ValueError(
            f"the window {window!r} holds {len(sizes)} sample size(s); a slope needs "
            "at least 2."
        )
    values, missing = [], []
    column = results[loss].to_numpy(dtype=float)
    ns = results["n"].to_numpy()
    for n in sizes:
        v = column[ns == n]
        finite = v[np.isfinite(v)]
        if finite.size == 0:
            raise ValueError(
                f"column {loss!r} has no finite value at n={n} (all fits failed or "
                "the cell size never occurred); narrow the window or choose another "
                "column."
            )
        if np.any(finite <= 0):
            raise ValueError(
                f"column {loss!r} has values <= 0 at n={n}; a log-log rate needs "
                "positive values."
            )
        values.append(finite)
        missing.append(v.size - finite.size)
    return sizes, values, np.asarray(missing), (low, high)


def estimate_rate(results, loss="D2", *, window=None, k=None, n_boot=1000,
                  confidence=0.95, random_state=0):
    """Slope of the mean loss against the sample size on log-log axes.

    For each sample size ``n`` in the window the column ``loss`` is averaged over the
    replications (finite values only), and the line

    .. math::

        \\log \\bar L_n = c + s \\log n

    is fitted by ordinary least squares, as in [N23].  The confidence interval of
    ``s`` is a percentile bootstrap: each resample draws, independently for every
    ``n``, as many replications as there are, with replacement, and refits the line.

    Parameters
    ----------
    results : pandas.DataFrame
        Output of :func:`gmoe.simulation.run_rate_study` (columns ``n`` and
        ``loss``; ``k`` when it holds several numbers of experts).
    loss : str, default="D2"
        Column to study: ``"D1"``, ``"D2"`` or any error column such as
        ``"err_expert_intercept_M2"``.
    window : tuple (n_min, n_max) or None, default=None
        Inclusive range of sample sizes to fit; either end may be None.  None uses
        the whole grid.  Declare it before looking at the figure; nothing else is
        ever dropped.
    k : int or None, default=None
        Number of experts, when ``results`` holds several.
    n_boot : int, default=1000
        Number of bootstrap resamples; 0 skips the bootstrap (``ci`` is NaN).
    confidence : float, default=0.95
        Level of the interval, in (0, 1).
    random_state : int, Generator or None, default=0
        Seeds the bootstrap.

    Returns
    -------
    rate : RateEstimate
        ``.slope``, ``.intercept``, ``.ci``, ``.sample_sizes``, ``.mean`` and the
        counts behind each mean.

    Raises
    ------
    ValueError
        When the column is missing, the window holds fewer than two sample sizes,
        a sample size has no finite value, or a mean is not positive.

    Notes
    -----
    Rows whose value is NaN (a failed fit, or an error column of a cell size that
    fit did not produce) are left out of the mean of their ``n`` and counted in
    ``n_missing``; check it.  Sample sizes are only ever left out by ``window``.

    References
    ----------
    .. [N23] H. Nguyen, T. Nguyen, N. Ho, "Demystifying Softmax Gating Function in
       Gaussian Mixture of Experts", NeurIPS 2023.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> n = np.repeat([100, 1000, 10000], 4)
    >>> noise = np.tile([0.9, 1.1, 0.95, 1.05], 3)
    >>> frame = pd.DataFrame({"n": n, "replication": np.tile(range(4), 3),
    ...                       "D2": 3.0 * n ** -0.5 * noise})
    >>> rate = estimate_rate(frame, "D2", n_boot=200)
    >>> round(rate.slope, 6), round(float(np.exp(rate.intercept)), 6)
    (-0.5, 3.0)
    """
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer; got {n_boot!r}.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}.")
    results = select_study(results, k)
    sizes, values, missing, window = _per_n_values(results, loss, window)
    log_n = np.log(sizes.astype(float))
    mean = np.array([v.mean() for v in values])
    sem = np.array(
        [v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else np.nan for v in values]
    )
    slope, intercept = _ols(log_n, np.log(mean))
    rng = np.random.default_rng(random_state)
    boot = np.empty(n_boot)
    if n_boot:
        boot_means = np.empty((n_boot, len(sizes)))
        for j, v in enumerate(values):
            draws = rng.integers(0, v.size, size=(n_boot, v.size))
            boot_means[:, j] = v[draws].mean(axis=1)
        boot, _ = _ols(log_n, np.log(boot_means))
        alpha = (1 - confidence) / 2
        ci = (float(np.quantile(boot, alpha)), float(np.quantile(boot, 1 - alpha)))
    else:
        ci = (np.nan, np.nan)
    return RateEstimate(
        loss=loss,
        slope=float(slope),
        intercept=float(intercept),
        ci=ci,
        confidence=float(confidence),
        sample_sizes=sizes,
        mean=mean,
        sem=sem,
        counts=np.array([v.size for v in values]),
        n_missing=missing,
        window=window,
        n_boot=int(n_boot),
        boot_slopes=boot,
    )


def rates_to_json(rates):
    """Serialise a dict of :class:`RateEstimate` (nested dicts allowed) to JSON text.

    Parameters
    ----------
    rates : dict
        Values are RateEstimate or dicts of them.

    Returns
    -------
    text : str
    """

    def convert(value):
        if isinstance(value, RateEstimate):
            return value.to_dict()
        if isinstance(value, dict):
            return {str(key): convert(item) for key, item in value.items()}
        return value

    return json.dumps(convert(rates), indent=2, allow_nan=True)
