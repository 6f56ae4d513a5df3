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


def plot_rate_band(rate, *, theory_slope=None, ax=None, color="C0", title=None,
                   verdict=None):
    """Median, quartile band and range of a quantity against n, with its slope.

    Parameters
    ----------
    rate : gmoe.simulation._demo.MedianRate
        Medians, quartiles, extremes and the fitted slope of one quantity.
    theory_slope : float or None, default=None
        Slope of a dashed reference line through the fitted line at the geometric
        middle of the sample sizes.
    ax : matplotlib Axes or None, default=None
    color : color, default="C0"
    title : str or None, default=None
    verdict : str or None, default=None
        Written after the theory's slope (e.g. ``"consistent"``).

    Returns
    -------
    ax : matplotlib Axes
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.5))
    n = rate.sample_sizes
    ax.fill_between(n, rate.low, rate.high, color=color, alpha=0.12, lw=0,
                    gid="range")
    ax.fill_between(n, rate.q25, rate.q75, color=color, alpha=0.3, lw=0,
                    gid="quartiles")
    ax.plot(n, rate.median, "o", color=color, ms=5, gid="median")
    grid = np.geomspace(n[0], n[-1], 50)
    ax.plot(grid, rate.predict(grid), "-", color=color, lw=1.8, gid="fit")
    if theory_slope is not None:
        middle = np.sqrt(n[0] * n[-1])
        ax.plot(grid, rate.predict(middle) * (grid / middle) ** theory_slope, "--",
                color="black", lw=1.3, gid="theory")
    low, high = rate.ci
    text = f"slope {rate.slope:.2f}"
    if np.isfinite(low):
        text += f" [{low:.2f}, {high:.2f}]"
    if theory_slope is not None:
        from gmoe.simulation._demo import _fraction

        text += f"\ntheory {_fraction(theory_slope)}"
        if verdict:
            text += f": {verdict}"
    ax.text(0.03, 0.04, text, transform=ax.transAxes, fontsize=9, va="bottom",
            bbox=dict(boxstyle="round,pad=0.25", fc="white", ec="0.8", alpha=0.85))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(n)
    ax.set_xticklabels([f"{v:g}" for v in n], fontsize=8)
    ax.minorticks_off()
    ax.set_xlabel("sample size n", fontsize=9)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_demo_rates(results, rates, quantities, path=None, *, verdicts=None,
                    dpi=100):
    """The figure of ``gmoe demo``'s rate study: one panel per quantity.

    Losses and the cell weight on the first row, with a key in the last cell; the
    four parameter groups of the two-atom cell on the second row.  Each panel is
    drawn by :func:`plot_rate_band`.

    Parameters
    ----------
    results : pandas.DataFrame
        The fits (unused except for the count in the key).
    rates : dict
        Keys of ``quantities`` to their MedianRate (missing keys get an empty panel).
    quantities : sequence
        The demo's quantities (``key``, ``symbol``, ``theory``, ``family``).
    path : str or Path or None, default=None
        Where to save the figure (PNG); the figure is closed then.
    verdicts : dict or None, default=None
        Keys of ``quantities`` to ``(verdict, sentence)`` pairs of
        :func:`gmoe.simulation._demo.judge_slope`; the verdict is written in
        each panel.
    dpi : int, default=100

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig, axes = plt.subplots(2, 4, figsize=(14, 7))
    top = [q for q in quantities if q.family != "cell parameter"][:3]
    bottom = [q for q in quantities if q.family == "cell parameter"][:4]
    slots = (list(zip(axes[0, :3], top, strict=False))
             + list(zip(axes[1], bottom, strict=False)))
    for index, (ax, q) in enumerate(slots):
        color = f"C{index}"
        if q.key in rates:
            verdict, sentence = (verdicts or {}).get(q.key, (None, ""))
            if verdict and "weak check" in sentence:
                verdict += " (weak check)"
            plot_rate_band(rates[q.key], theory_slope=q.theory, ax=ax, color=color,
                           title=q.symbol, verdict=verdict)
        else:
            ax.set_title(q.symbol, fontsize=10)
            ax.text(0.5, 0.5, "no slope", ha="center", transform=ax.transAxes)
    axes[0, 0].set_ylabel("loss (log scale)")
    axes[1, 0].set_ylabel("error (log scale)")
    key = axes[0, 3]
    key.axis("off")
    handles = [
        Line2D([], [], ls="none", marker="o", color="0.3",
               label="median over replications"),
        Patch(color="0.3", alpha=0.35, label="middle half (quartiles)"),
        Patch(color="0.3", alpha=0.12, label="smallest to largest"),
        Line2D([], [], color="0.3", lw=1.8, label="fitted slope of the medians"),
        Line2D([], [], color="black", ls="--", lw=1.3, label="theory's slope [N23]"),
    ]
    key.legend(handles=handles, loc="center", fontsize=10, frameon=False,
               title=f"{len(results)} certified fits", title_fontsize=10)
    fig.suptitle("Rates on the [N23] truth (k0 = 2): exact fit k = 2, over-fit k = 3",
                 fontsize=12)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
    return fig
