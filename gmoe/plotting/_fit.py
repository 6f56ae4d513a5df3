"""The picture of a fitted one-covariate mixture of experts."""

import numpy as np


def plot_fit(model, X, y, *, true_params=None, axes=None, max_points=4000,
             random_state=0):
    """Draw data, fitted expert lines and the gate of a model with one covariate.

    Upper panel: the data, each fitted expert's line :math:`a_i x + b_i` drawn
    where its gate probability exceeds 5 % (thin and faint elsewhere), each in its
    own colour, and the true lines when ``true_params`` is given, as wide pale
    bands underneath the fitted lines (so that a fit on the truth stays visible).
    Lower panel: the gate probabilities :math:`\\pi_i(x)`.

    Parameters
    ----------
    model : GaussianMoERegressor
        Fitted, with ``n_features_in_ == 1``.
    X : ndarray of shape (n_samples, 1)
    y : ndarray of shape (n_samples,)
    true_params : dict or None, default=None
        True parameters (the five arrays), drawn as wide pale bands under the fits.
    axes : sequence of two matplotlib Axes or None, default=None
        Upper and lower panels; a new figure when None.
    max_points : int, default=4000
        At most this many data points are drawn (a random subset).
    random_state : int, default=0
        Seeds the subset.

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from gmoe import GaussianMoERegressor
    >>> from gmoe.datasets import make_moe_regression
    >>> X, y = make_moe_regression(500, random_state=0)
    >>> fig = plot_fit(GaussianMoERegressor(random_state=0).fit(X, y), X, y)
    >>> len(fig.axes)
    2
    """
    import matplotlib.pyplot as plt

    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != 1:
        raise ValueError("plot_fit draws models with exactly one covariate.")
    if axes is None:
        fig, axes = plt.subplots(
            2, 1, figsize=(7, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
        )
    top, bottom = axes
    fig = top.figure
    rng = np.random.default_rng(random_state)
    shown = rng.permutation(len(y))[:max_points]
    top.scatter(X[shown, 0], y[shown], s=3, color="0.6", alpha=0.5, label="data",
                zorder=1)
    grid = np.linspace(X.min(), X.max(), 400)[:, None]
    if true_params is not None:
        true_means = grid @ np.asarray(true_params["expert_coef"]).T + true_params[
            "expert_intercept"
        ]
        for j in range(true_means.shape[1]):
            top.plot(grid[:, 0], true_means[:, j], color="black", lw=6, alpha=0.22,
                     solid_capstyle="butt", zorder=2, gid=f"true-{j}",
                     label="truth (wide band)" if j == 0 else None)
    gate = model.predict_gate(grid)
    means = model.predict_experts(grid)
    cmap = plt.get_cmap("tab10" if model.n_experts <= 10 else "tab20")
    colors = [cmap(i % cmap.N) for i in range(model.n_experts)]
    for i, color in enumerate(colors):
        top.plot(grid[:, 0], means[:, i], color=color, lw=0.8, alpha=0.35, zorder=3)
        active = np.where(gate[:, i] > 0.05, means[:, i], np.nan)
        top.plot(grid[:, 0], active, color=color, lw=1.8, zorder=4,
                 label=f"expert {i + 1}", gid=f"fitted-{i}")
        bottom.plot(grid[:, 0], gate[:, i], color=color, lw=2)
    top.set_ylim(np.quantile(y, 0.001) - 1, np.quantile(y, 0.999) + 1)
    top.set_ylabel("y")
    top.legend(loc="best", fontsize=9, ncol=2)
    bottom.set_ylabel("gate  $\\pi_i(x)$")
    bottom.set_xlabel("x")
    bottom.set_ylim(-0.02, 1.02)
    return fig
