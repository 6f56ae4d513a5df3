"""The picture of the Voronoi cells of a fitted mixing measure."""

import warnings

import numpy as np

from gmoe.theory._voronoi import UnknownRbarWarning, _check_pair, voronoi_loss


def _expert_colors(k):
    """One distinct colour per fitted expert, by its index (as in ``plot_fit``)."""
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab10" if k <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(k)]


def plot_voronoi_cells(G, G_true, X=None, y=None, *, ax=None, translation="infimum",
                       metric="l1", rbar=None, feature=0, x_fixed=None,
                       x_range=None, max_points=3000, random_state=0):
    """Fitted expert lines and the Voronoi cell each falls in.

    Each fitted expert's regression line :math:`a_i^\\top x + b_i` is drawn in its
    own colour, and the legend names its cell :math:`A_j` (the true expert it
    approximates, see :func:`gmoe.voronoi_cells`); along the line, the opacity
    follows the expert's gate probability :math:`\\pi_i(x)`, so a line is solid
    where its expert is in charge and fades where the gate ignores it.  The true
    lines are wide pale bands under the fitted ones, the data (if given)
    underneath them, and the title gives the losses D1 and D2
    (:func:`gmoe.voronoi_loss`).

    Parameters
    ----------
    G : MixingMeasure
        The fitted measure, ``k`` atoms (a fitted
        :class:`gmoe.GaussianMoERegressor` or a dict of the parameter arrays also
        work).
    G_true : MixingMeasure
        The true measure, ``k0`` atoms.
    X : ndarray of shape (n_samples, d) or None, default=None
        Covariates of the data to draw.
    y : ndarray of shape (n_samples,) or None, default=None
        Responses; needed when ``X`` is given.
    ax : matplotlib Axes or None, default=None
        Where to draw; a new figure when None.
    translation, metric, rbar
        Passed to :func:`gmoe.voronoi_loss`; the cells are those of D2.
    feature : int, default=0
        The covariate on the horizontal axis.
    x_fixed : array-like of shape (d,) or None, default=None
        Values of the other covariates along the lines (``d > 1`` only);
        default: their mean in ``X``, or zero.
    x_range : (float, float) or None, default=None
        Horizontal extent of the lines; default: the range of ``X[:, feature]``,
        or ``(0, 1)``.
    max_points : int, default=3000
        At most this many data points are drawn (a random subset).
    random_state : int, default=0
        Seeds the subset.

    Returns
    -------
    ax : matplotlib Axes
        Fitted expert ``i`` is the ``LineCollection`` with gid ``"fitted-i"``
        (distinct colours), true expert ``j`` the line with gid ``"true-j"`` (drawn
        under the fitted ones).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from gmoe import MixingMeasure
    >>> from gmoe.datasets import N23_TRUTH
    >>> from gmoe.plotting import plot_voronoi_cells
    >>> G_true = MixingMeasure.from_params(**N23_TRUTH)
    >>> X, y = G_true.sample(500, random_state=0)
    >>> ax = plot_voronoi_cells(G_true, G_true, X, y)
    >>> ax.get_title().splitlines()[-1]
    'D1 = 0, D2 = 0'
    """
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    G, G_true = _check_pair(G, G_true)
    d, k, k0 = G.n_features, G.n_atoms, G_true.n_atoms
    if not isinstance(feature, (int, np.integer)) or not 0 <= feature < d:
        raise ValueError(f"feature must be an integer in [0, {d}); got {feature!r}.")
    if (X is None) != (y is None):
        raise ValueError("give both X and y, or neither.")
    if X is not None:
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float)
        if X.ndim != 2 or X.shape[1] != d or y.shape != (X.shape[0],):
            raise ValueError(
                f"X must have shape (n_samples, {d}) and y shape (n_samples,); got "
                f"{X.shape} and {y.shape}."
            )
    if x_range is None:
        x_range = (0, 1) if X is None else (X[:, feature].min(), X[:, feature].max())
    lo, hi = (float(v) for v in x_range)
    if not lo < hi:
        raise ValueError(f"x_range must be increasing; got {x_range!r}.")
    if x_fixed is None:
        x_fixed = X.mean(axis=0) if X is not None else np.zeros(d)
    x_fixed = np.asarray(x_fixed, dtype=float)
    if x_fixed.shape != (d,):
        raise ValueError(f"x_fixed must have shape ({d},); got {x_fixed.shape}.")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownRbarWarning)
        loss = {kind: voronoi_loss(G, G_true, kind, translation=translation,
                                   metric=metric, rbar=rbar, return_details=True)
                for kind in ("D1", "D2")}
    cells = loss["D2"].cells

    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 5))
    if X is not None:
        rng = np.random.default_rng(random_state)
        shown = rng.permutation(len(y))[:max_points]
        ax.scatter(X[shown, feature], y[shown], s=4, color="0.55", alpha=0.35,
                   linewidths=0, zorder=1, label="data")

    grid = np.tile(x_fixed, (300, 1))
    grid[:, feature] = np.linspace(lo, hi, 300)
    x = grid[:, feature]
    gate = G.gate_probabilities(grid)
    means = G.expert_means(grid)
    share = gate.mean(axis=0)
    true_means = G_true.expert_means(grid)
    for j in range(k0):
        ax.plot(x, true_means[:, j], color="black", lw=7, alpha=0.2, zorder=2,
                solid_capstyle="butt", gid=f"true-{j}")
    colors = _expert_colors(k)
    for i in range(k):
        points = np.column_stack([x, means[:, i]])
        segments = np.stack([points[:-1], points[1:]], axis=1)
        rgba = np.tile(colors[i], (len(segments), 1))
        rgba[:, 3] = np.clip(0.5 * (gate[:-1, i] + gate[1:, i]), 0.06, 1.0)
        width = 1.0 + 1.6 * np.sqrt(share[i] / max(share.max(), 1e-300))
        ax.add_collection(LineCollection(segments, colors=rgba, linewidths=width,
                                         capstyle="round", zorder=3,
                                         gid=f"fitted-{i}"))

    sizes = loss["D2"].cell_sizes
    handles = []
    for i in np.argsort(cells, kind="stable"):
        j = cells[i]
        handles.append(Line2D(
            [], [], color=colors[i], lw=2.5,
            label=f"fitted {i + 1}: cell {j + 1} ({sizes[j]} atom"
                  + ("s" if sizes[j] != 1 else "") + ")"))
    handles.append(Line2D([], [], color="black", alpha=0.2, lw=7,
                          label="true experts"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12),
              ncol=min(len(handles), 3), fontsize=9, frameon=False)
    if X is not None:
        low, high = np.quantile(y, [0.002, 0.998])
        pad = 0.08 * (high - low)
        ax.set_ylim(low - pad, high + pad)
    else:
        every = np.concatenate([means.ravel(), true_means.ravel()])
        pad = 0.08 * (every.max() - every.min() + 1e-12)
        ax.set_ylim(every.min() - pad, every.max() + pad)
    ax.set_xlim(lo, hi)
    ax.set_xlabel(f"x{feature + 1}" if d > 1 else "x")
    ax.set_ylabel("y")

    def fmt(value):
        return "0" if value == 0 else f"{value:.3g}"

    ax.set_title(
        f"Voronoi cells of {k} fitted experts around {k0} true experts\n"
        f"D1 = {fmt(loss['D1'].value)}, D2 = {fmt(loss['D2'].value)}",
        fontsize=10,
    )
    return ax
