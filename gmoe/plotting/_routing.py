"""The routing figure: per-expert load, and the gate weights along a covariate."""

import numpy as np


def plot_routing(model, X, *, feature=0, axes=None, min_load=0.01):
    """Per-expert load bars and the gate weights along one covariate.

    Left panel: for each expert, its load (mean gate weight over ``X``) and its
    top share (share of the samples whose largest gate weight is its), from
    :func:`gmoe.routing_diagnostics`; experts flagged never used are hatched.
    Right panel: the gate weights :math:`\\pi_i(x)` along covariate ``feature``
    over the range of ``X`` (the other covariates held at their medians; for
    one covariate, the gate itself).  Works for any gate the estimator offers:
    it uses ``predict_gate`` only.

    Parameters
    ----------
    model : fitted estimator
        With ``predict_gate(X)``, e.g. :class:`gmoe.GaussianMoERegressor`.
    X : ndarray of shape (n_samples, n_features)
    feature : int, default=0
        Covariate of the right panel.
    axes : sequence of two matplotlib Axes or None, default=None
        A new figure when None.
    min_load : float, default=0.01
        Load below which an expert is drawn as never used.

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
    >>> fig = plot_routing(GaussianMoERegressor(random_state=0).fit(X, y), X)
    >>> len(fig.axes)
    2
    """
    import matplotlib.pyplot as plt

    from gmoe.inference._routing import routing_diagnostics

    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError("X must be 2-D (n_samples, n_features).")
    if not 0 <= feature < X.shape[1]:
        raise ValueError(
            f"feature must be a covariate index from 0 to {X.shape[1] - 1}; got "
            f"{feature!r}.")
    report = routing_diagnostics(model, X, min_load=min_load)
    experts = report.experts
    k = len(experts)
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6),
                                 gridspec_kw={"width_ratios": [1, 1.6]})
    left, right = axes
    fig = left.figure
    cmap = plt.get_cmap("tab10" if k <= 10 else "tab20")
    colors = [cmap(i % cmap.N) for i in range(k)]
    index = np.arange(k)
    bars = left.bar(index - 0.2, experts["load"], width=0.4, color=colors,
                    label="load (mean gate weight)")
    left.bar(index + 0.2, experts["top_share"], width=0.4, color=colors, alpha=0.45,
             label="top share")
    for bar, unused in zip(bars, experts["never_used"], strict=True):
        if unused:
            bar.set_hatch("//")
    left.axhline(1.0 / k, color="0.4", lw=0.8, ls="--")
    left.set_xticks(index, [f"{i + 1}" for i in index])
    left.set_xlabel("expert")
    left.set_ylabel("share of the samples")
    s = report.summary
    left.set_title(f"effective experts: {s['effective_experts_load']:.2f} (load), "
                   f"{s['effective_experts_sample']:.2f} (per sample)", fontsize=9)
    left.legend(fontsize=8)
    grid = np.repeat(np.median(X, axis=0)[None, :], 400, axis=0)
    grid[:, feature] = np.linspace(X[:, feature].min(), X[:, feature].max(), 400)
    gate = np.asarray(model.predict_gate(grid))
    for i, color in enumerate(colors):
        right.plot(grid[:, feature], gate[:, i], color=color, lw=2,
                   label=f"expert {i + 1}")
    right.set_ylim(-0.02, 1.02)
    right.set_xlabel(f"x[{feature}]" if X.shape[1] > 1 else "x")
    right.set_ylabel("gate  $\\pi_i(x)$")
    if X.shape[1] > 1:
        right.set_title("other covariates at their medians", fontsize=9)
    right.legend(fontsize=8, ncol=2)
    return fig
