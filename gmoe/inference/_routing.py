"""Routing diagnostics: how a fitted gate shares the samples among the experts.

Written against the estimator's public prediction methods only
(``predict_gate(X)`` and, when ``y`` is given, ``predict_responsibilities(X,
y)``), so that they apply to any gate the estimator offers: the dense softmax
gate, the top-K sparse gate, or another one.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["RoutingDiagnostics", "routing_diagnostics", "routing_summary"]


def _entropy(weights, axis=-1):
    """Shannon entropy (nats) of probability vectors along ``axis``; 0 log 0 = 0."""
    weights = np.asarray(weights, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(weights > 0, weights * np.log(weights), 0.0)
    return -np.sum(terms, axis=axis)


@dataclass
class RoutingDiagnostics:
    """The result of :func:`routing_diagnostics`.

    Attributes
    ----------
    experts : pandas.DataFrame
        One row per expert (index ``expert``, 0-based) with the columns

        - ``load``: mean gate weight :math:`\\bar\\pi_i = \\frac1n \\sum_n
          \\pi_i(x_n)` (sums to 1 over the experts);
        - ``top_share``: share of the samples whose largest gate weight is
          expert ``i``'s (ties to the lower index; sums to 1);
        - ``active_share``: share of the samples where ``pi_i(x_n) > 0`` (below 1
          for a sparse gate);
        - ``responsibility``: mean posterior responsibility (only when ``y`` was
          given);
        - ``never_used``: ``load < min_load``;
        - ``collapsed``: this expert takes nearly all the samples
          (``top_share >= collapse_share``);
        - ``shared`` (with shared experts only): the expert is shared (constant
          weight, active at every sample); ``top_share`` is then NaN for it and
          counts the routed experts alone, and a shared expert never
          ``collapsed``.
    summary : dict
        ``n_samples``, ``n_experts``, ``mean_entropy`` (mean over the samples of
        the entropy of the gate weights, nats), ``max_entropy`` (``log k``),
        ``effective_experts_load`` (``exp`` of the entropy of the mean load),
        ``effective_experts_sample`` (mean over the samples of ``exp`` of the
        entropy of their gate weights), ``mean_active`` (mean number of
        experts with positive gate weight per sample), ``n_never_used``,
        ``collapsed`` (bool), ``min_load``, ``collapse_share``.

    Examples
    --------
    >>> from gmoe import GaussianMoERegressor, routing_diagnostics
    >>> from gmoe.datasets import make_moe_regression
    >>> X, y = make_moe_regression(500, random_state=0)
    >>> moe = GaussianMoERegressor(2, n_init=3, random_state=0).fit(X, y)
    >>> report = routing_diagnostics(moe, X, y)
    >>> report.experts.shape
    (2, 6)
    >>> report.experts.columns.tolist()[3]
    'responsibility'
    >>> report.summary["n_never_used"], report.summary["collapsed"]
    (0, False)
    """

    experts: pd.DataFrame
    summary: dict

    def __repr__(self):
        lines = [f"RoutingDiagnostics({self.summary['n_experts']} experts, "
                 f"{self.summary['n_samples']} samples)",
                 self.experts.to_string(float_format=lambda v: f"{v:.4g}")]
        keys = ("mean_entropy", "effective_experts_load", "effective_experts_sample",
                "mean_active", "n_never_used", "collapsed")
        lines += [f"{key}: {self.summary[key]:.4g}"
                  if isinstance(self.summary[key], float)
                  else f"{key}: {self.summary[key]}" for key in keys]
        return "\n".join(lines)


def _shared_experts(estimator, k):
    """(k,) bool: the estimator's shared experts (none for a model without)."""
    gate = getattr(estimator, "gate_", None)
    if gate is None or not hasattr(gate, "shared_mask"):
        return np.zeros(k, dtype=bool)
    return np.asarray(gate.shared_mask(k), dtype=bool)


def routing_diagnostics(estimator, X, y=None, *, min_load=0.01, collapse_share=0.95):
    """Per-expert load, gate entropy, effective number of experts and flags.

    With :math:`\\pi_{ni} = \\pi_i(x_n)` the gate weights of the ``n`` rows of
    ``X`` (``estimator.predict_gate``):

    .. math::

        \\bar\\pi_i = \\frac1n \\sum_n \\pi_{ni},\\qquad
        H_n = -\\sum_i \\pi_{ni} \\log \\pi_{ni},\\qquad
        N_{\\mathrm{load}} = \\exp\\Big(-\\sum_i \\bar\\pi_i \\log \\bar\\pi_i\\Big),
        \\qquad N_{\\mathrm{sample}} = \\frac1n \\sum_n \\exp(H_n).

    :math:`N_{\\mathrm{load}}` (``effective_experts_load``) counts the experts the
    data use overall: ``k`` when the load is even, 1 when one expert takes
    everything.  :math:`N_{\\mathrm{sample}}` (``effective_experts_sample``)
    counts the experts that share a typical sample: 1 for a hard (top-1) gate,
    at most ``K`` for a top-K gate.  An expert is ``never_used`` when its load is
    below ``min_load``; the gate has ``collapsed`` when one expert is the top
    expert of at least ``collapse_share`` of the samples.

    Parameters
    ----------
    estimator : fitted estimator
        Anything with ``predict_gate(X)`` returning an (n, k) array of gate
        weights whose rows sum to 1 (and ``predict_responsibilities(X, y)`` when
        ``y`` is given), e.g. :class:`gmoe.GaussianMoERegressor`.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or None, default=None
        When given, the mean posterior responsibility of each expert is added.
    min_load : float, default=0.01
        Threshold of the load below which an expert is flagged ``never_used``;
        in [0, 1).
    collapse_share : float, default=0.95
        Share of the samples in (0, 1] that one expert must top for the gate to
        count as ``collapsed``.

    Returns
    -------
    RoutingDiagnostics
        ``experts`` (pandas DataFrame, one row per expert) and ``summary``
        (dict of scalars).

    Examples
    --------
    >>> from gmoe import GaussianMoERegressor, routing_diagnostics
    >>> from gmoe.datasets import make_moe_regression
    >>> X, y = make_moe_regression(500, random_state=0)
    >>> moe = GaussianMoERegressor(random_state=0).fit(X, y)
    >>> report = routing_diagnostics(moe, X)
    >>> report.experts.columns.tolist()
    ['load', 'top_share', 'active_share', 'never_used', 'collapsed']
    >>> bool(abs(report.experts["load"].sum() - 1) < 1e-12)
    True
    >>> 1 <= report.summary["effective_experts_load"] <= 2
    True
    """
    if not 0 <= min_load < 1:
        raise ValueError(f"min_load must be in [0, 1); got {min_load!r}.")
    if not 0 < collapse_share <= 1:
        raise ValueError(f"collapse_share must be in (0, 1]; got {collapse_share!r}.")
    if not hasattr(estimator, "predict_gate"):
        raise ValueError(
            f"routing_diagnostics needs an estimator with predict_gate(X); got "
            f"{type(estimator).__name__}.")
    gate = np.asarray(estimator.predict_gate(X), dtype=float)
    if gate.ndim != 2 or gate.shape[0] == 0:
        raise ValueError("routing_diagnostics needs at least one sample in X.")
    n, k = gate.shape
    shared = _shared_experts(estimator, k)
    load = gate.mean(axis=0)
    # the routing decision is among the routed experts: the shared ones take
    # every sample
    routed = np.flatnonzero(~shared)
    top = routed[np.argmax(gate[:, routed], axis=1)]
    top_share = np.bincount(top, minlength=k) / n
    top_share[shared] = np.nan
    active_share = np.mean(gate > 0, axis=0)
    entropy = _entropy(gate, axis=1)
    never_used = load < min_load
    collapsed = np.where(shared, False, top_share >= collapse_share)
    columns = {"load": load, "top_share": top_share, "active_share": active_share}
    if shared.any():
        columns["shared"] = shared
    if y is not None:
        resp = np.asarray(estimator.predict_responsibilities(X, y), dtype=float)
        columns["responsibility"] = resp.mean(axis=0)
    columns["never_used"] = never_used
    columns["collapsed"] = collapsed
    experts = pd.DataFrame(columns, index=pd.RangeIndex(k, name="expert"))
    summary = {
        "n_samples": int(n),
        "n_experts": int(k),
        "mean_entropy": float(entropy.mean()),
        "max_entropy": float(np.log(k)),
        "effective_experts_load": float(np.exp(_entropy(load))),
        "effective_experts_sample": float(np.mean(np.exp(entropy))),
        "mean_active": float(np.mean(np.sum(gate > 0, axis=1))),
        "n_never_used": int(never_used.sum()),
        "collapsed": bool(collapsed.any()),
        "min_load": float(min_load),
        "collapse_share": float(collapse_share),
    }
    return RoutingDiagnostics(experts, summary)


def routing_summary(estimator, X, *, min_load=0.01, collapse_share=0.95):
    """The scalar routing columns of a rate study's result table.

    ``routing_entropy``, ``routing_effective_load``, ``routing_effective_sample``,
    ``routing_mean_active``, ``routing_n_never_used``, ``routing_collapsed`` and
    ``routing_max_load`` (largest per-expert load), from
    :func:`routing_diagnostics`.

    Parameters
    ----------
    estimator : fitted estimator
    X : array-like of shape (n_samples, n_features)
    min_load, collapse_share : float
        As in :func:`routing_diagnostics`.

    Returns
    -------
    columns : dict of str to float, int or bool

    Examples
    --------
    >>> from gmoe import GaussianMoERegressor
    >>> from gmoe.datasets import make_moe_regression
    >>> X, y = make_moe_regression(500, random_state=0)
    >>> moe = GaussianMoERegressor(random_state=0).fit(X, y)
    >>> sorted(routing_summary(moe, X))[:2]
    ['routing_collapsed', 'routing_effective_load']
    """
    report = routing_diagnostics(estimator, X, min_load=min_load,
                                 collapse_share=collapse_share)
    s = report.summary
    return {
        "routing_entropy": s["mean_entropy"],
        "routing_effective_load": s["effective_experts_load"],
        "routing_effective_sample": s["effective_experts_sample"],
        "routing_mean_active": s["mean_active"],
        "routing_n_never_used": s["n_never_used"],
        "routing_collapsed": s["collapsed"],
        "routing_max_load": float(report.experts["load"].max()),
    }
