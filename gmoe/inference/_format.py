"""The summary table of a :class:`gmoe.MoEInference` as text."""

import numpy as np


def format_summary(table, *, digits=4):
    """The summary table as text, with a header of the fit and the method.

    Parameters
    ----------
    table : pandas.DataFrame
        As returned by :meth:`gmoe.GaussianMoERegressor.summary` (its ``attrs``
        make the header; a table without them prints without header).
    digits : int, default=4
        Significant digits of the numbers.

    Returns
    -------
    text : str

    Examples
    --------
    >>> from gmoe import GaussianMoERegressor, format_summary
    >>> from gmoe.datasets import make_moe_regression
    >>> X, y = make_moe_regression(1000, random_state=0)
    >>> moe = GaussianMoERegressor(2, n_init=3, random_state=1).fit(X, y)
    >>> print(format_summary(moe.summary(X, y)).splitlines()[0])
    Gaussian MoE, gate Softmax(): n = 1000, k = 2, log-likelihood = -424.7
    """
    attrs = table.attrs
    lines = []
    if attrs:
        lines.append(
            f"Gaussian MoE, gate {attrs.get('gate', 'Softmax()')}: "
            f"n = {attrs['n_samples']}, "
            f"k = {attrs['n_experts']}, log-likelihood = "
            f"{attrs['log_likelihood']:.1f}")
        lines.append(f"Method: {attrs['method']}; level {attrs['level']:g}")
    shown = table.copy()
    shown["feature"] = ["" if f is None or f is np.nan else str(f)
                        for f in shown["feature"]]
    body = shown.to_string(index=False, float_format=lambda v: f"{v:.{digits}g}",
                           na_rep="NaN")
    lines.append(body)
    for note in attrs.get("notes", []):
        lines.append(f"Note: {note}")
    return "\n".join(lines)
