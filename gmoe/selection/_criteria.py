"""The criteria of one fit: BIC, AIC, ICL and the entropy of its
responsibilities."""


import numpy as np
import scipy.special


def responsibility_entropy(estimator, X, y, sample_weight=None):
    """Entropy of the responsibilities of a fitted model.

    .. math::

        E = -\\sum_n w_n \\sum_i \\tau_{ni} \\log \\tau_{ni}

    (terms with :math:`\\tau_{ni} = 0` count 0).

    Parameters
    ----------
    estimator : GaussianMoERegressor
        Fitted.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    sample_weight : array-like of shape (n_samples,) or None

    Returns
    -------
    entropy : float
        Non-negative; 0 when every sample belongs wholly to one expert.

    Examples
    --------
    >>> from gmoe import GaussianMoERegressor
    >>> from gmoe.datasets import make_moe_regression
    >>> X, y = make_moe_regression(300, random_state=0)
    >>> moe = GaussianMoERegressor(1, n_init=1).fit(X, y)
    >>> responsibility_entropy(moe, X, y)
    0.0
    """
    resp = estimator.predict_responsibilities(X, y)
    w = np.ones(resp.shape[0]) if sample_weight is None else np.asarray(
        sample_weight, dtype=float)
    return float(-(w @ scipy.special.xlogy(resp, resp).sum(axis=1)) + 0.0)


def criteria_row(estimator, X, y, sample_weight=None):
    """Log-likelihood, number of parameters, BIC, ICL and AIC of a fitted model.

    .. math::

        \\mathrm{BIC} = -2 \\log L + m \\log n, \\quad
        \\mathrm{ICL} = \\mathrm{BIC} + 2 E, \\quad
        \\mathrm{AIC} = -2 \\log L + 2 m,

    with :math:`\\log L = \\sum_n w_n \\log g(y_n \\mid x_n)`,
    :math:`n = \\sum_n w_n` (the number of samples without weights), ``m`` the
    free parameters and ``E`` the entropy of the responsibilities
    (:func:`responsibility_entropy`).  All three: smaller is better.

    Parameters
    ----------
    estimator : GaussianMoERegressor
        Fitted.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    sample_weight : array-like of shape (n_samples,) or None

    Returns
    -------
    row : dict
        ``n_experts``, ``log_likelihood``, ``n_parameters``, ``bic``, ``icl``,
        ``icl_map``, ``aic``, ``entropy``.  ``icl_map`` is the hard-assignment
        ICL :math:`\\mathrm{BIC} - 2 \\sum_n w_n \\log \\max_i \\tau_{ni}`
        (Biernacki, Celeux & Govaert 2000), the one R flexmix's ``ICL()``
        computes (``-2 clogLik + df log n``).

    Examples
    --------
    >>> from gmoe import GaussianMoERegressor
    >>> from gmoe.datasets import make_moe_regression
    >>> X, y = make_moe_regression(300, random_state=0)
    >>> moe = GaussianMoERegressor(2, n_init=2, random_state=0).fit(X, y)
    >>> row = criteria_row(moe, X, y)
    >>> bool(np.isclose(row["bic"], moe.bic(X, y)))
    True
    """
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight,
                                                                   dtype=float)
    loglik = float(w @ estimator.score_samples(X, y))
    m = estimator.n_parameters()
    n = float(w.sum())
    resp = estimator.predict_responsibilities(X, y)
    entropy = float(-(w @ scipy.special.xlogy(resp, resp).sum(axis=1)) + 0.0)
    map_term = float(-(w @ np.log(np.maximum(resp.max(axis=1), 1e-300))))
    bic = -2 * loglik + m * np.log(n)
    return {"n_experts": resp.shape[1], "log_likelihood": loglik,
            "n_parameters": m, "bic": bic, "icl": bic + 2 * entropy,
            "icl_map": bic + 2 * map_term, "aic": -2 * loglik + 2 * m,
            "entropy": entropy}
