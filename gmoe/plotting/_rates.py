"""The log-log figure of a rate study."""

import numpy as np

from gmoe.simulation._rates import estimate_rate, select_study

ERRORBARS = ("sem", "std", None)


def _format_slope(value):
    return f"{value:.3g}"


def plot_rate(results, loss="D2", *, theory_slope=-0.5, ax=None, window=None, k=None,
              rate=None, n_boot=1000, random_state=0, errorbar="sem", label=None,
              color=None, show_replications=False):
    """Mean loss against the sample size on log-log axes, with the fitted rate.

    Draws, for each sample size ``n``, the mean of column ``loss`` over the
    replications with an error bar; the least-squares line of
    :func:`gmoe.simulation.estimate_rate`, labelled with its slope and bootstrap
    confidence interval; and a reference line of slope ``theory_slope`` through the
    fitted line at the geometric middle of the window (dashed, same colour).
    Sample sizes outside
    ``window`` are drawn with hollow markers: they are shown, not fitted.

    Parameters
    ----------
    results : pandas.DataFrame
        Output of :func:`gmoe.simulation.run_rate_study`.
    loss : str, default="D2"
        Column to draw: ``"D1"``, ``"D2"`` or an error column such as
        ``"err_expert_intercept_M2"``.
    theory_slope : float or None, default=-0.5
        Slope of the reference line; -0.5 is the rate of D1 and D2 [N23].  None
        draws no reference line.
    ax : matplotlib Axes or None, default=None
        Where to draw; a new figure when None.
    window : tuple (n_min, n_max) or None, default=None
        Sample sizes the line is fitted to (see :func:`~gmoe.simulation.estimate_rate`).
    k : int or None, default=None
        Number of experts, when ``results`` holds several.
    rate : RateEstimate or None, default=None
        A rate computed before for the same column and window; skips the bootstrap.
    n_boot : int, default=1000
        Bootstrap resamples of the confidence interval.
    random_state : int, Generator or None, default=0
        Seeds the bootstrap.
    errorbar : {"sem", "std"} or None, default="sem"
        Error bars: standard error of the mean over replications, standard
        deviation of the replications, or none.  Bars are clipped above zero.
    label : str or None, default=None
        Legend label of the means (default: the column name).
    color : color or None, default=None
        Colour of the means and the fitted line (default: next in the cycle).
    show_replications : bool, default=False
        Also draw every replication as a faint dot.

    Returns
    -------
    ax : matplotlib Axes

    See Also
    --------
    gmoe.simulation.run_rate_study, gmoe.simulation.estimate_rate

    References
    ----------
    .. [N23] H. Nguyen, T. Nguyen, N. Ho, "Demystifying Softmax Gating Function in
       Gaussian Mixture of Experts", NeurIPS 2023.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> import pandas as pd
    >>> from gmoe.plotting import plot_rate
    >>> n = np.repeat([100, 1000, 10000], 3)
    >>> frame = pd.DataFrame({"n": n, "D2": n ** -0.5 * np.tile([0.9, 1.0, 1.1], 3)})
    >>> ax = plot_rate(frame, "D2", n_boot=100)
    >>> ax.get_xscale(), ax.get_yscale()
    ('log', 'log')
    """
    import matplotlib.pyplot as plt

    if errorbar not in ERRORBARS:
        raise ValueError(f"errorbar must be one of {ERRORBARS}; got {errorbar!r}.")
    if rate is None:
        rate = estimate_rate(results, loss, window=window, k=k, n_boot=n_boot,
                             random_state=random_state)
    elif rate.loss != loss:
        raise ValueError(f"rate is about {rate.loss!r}, not {loss!r}.")
    rows = select_study(results, k)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4.5))
    if color is None:
        (probe,) = ax.plot([], [])
        color = probe.get_color()
        probe.remove()

    sizes = np.sort(rows["n"].unique().astype(int))
    column = rows[loss].to_numpy(dtype=float)
    ns = rows["n"].to_numpy()
    means, spreads, inside = [], [], []
    for n in sizes:
        values = column[(ns == n) & np.isfinite(column)]
        means.append(values.mean() if values.size else np.nan)
        if values.size > 1 and errorbar == "sem":
            spreads.append(values.std(ddof=1) / np.sqrt(values.size))
        elif values.size > 1 and errorbar == "std":
            spreads.append(values.std(ddof=1))
        else:
            spreads.append(0.0)
        inside.append(n in rate.sample_sizes)
    means, spreads, inside = np.array(means), np.array(spreads), np.array(inside)
    lower = np.minimum(spreads, 0.999 * np.abs(means))
    yerr = np.vstack([lower, spreads]) if errorbar else None

    if show_replications:
        finite = np.isfinite(column) & (column > 0)
        ax.scatter(ns[finite], column[finite], s=6, color=color, alpha=0.25, lw=0)
    ax.errorbar(sizes[inside], means[inside],
                yerr=None if yerr is None else yerr[:, inside], fmt="o", ms=4,
                color=color, capsize=2, label=label or loss)
    if np.any(~inside):
        ax.errorbar(sizes[~inside], means[~inside],
                    yerr=None if yerr is None else yerr[:, ~inside], fmt="o", ms=4,
                    mfc="none", color=color, capsize=2, alpha=0.6,
                    label="outside the window")
    grid = np.geomspace(rate.sample_sizes[0], rate.sample_sizes[-1], 50)
    low, high = rate.ci
    ci_text = "" if not np.isfinite(low) else (
        f" [{_format_slope(low)}, {_format_slope(high)}]"
    )
    ax.plot(grid, rate.predict(grid), "-", color=color, lw=1.5,
            label=f"fit: slope {_format_slope(rate.slope)}{ci_text}")
    if theory_slope is not None:
        middle = np.sqrt(rate.sample_sizes[0] * rate.sample_sizes[-1])
        reference = rate.predict(middle) * (grid / middle) ** theory_slope
        ax.plot(grid, reference, "--", color=color, lw=1, alpha=0.7,
                label=f"theory: slope {_format_slope(theory_slope)}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sample size n")
    ax.set_ylabel(f"mean {loss}")
    ax.legend(fontsize="small")
    return ax
