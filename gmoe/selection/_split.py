"""Split starts: a fit of k experts grown into a start for more, its experts
split in two along their own regression lines."""


import numpy as np


def split_start(estimator, n_experts, *, spread=0.5):
    """A start with ``n_experts`` experts made from a smaller fitted model by
    splitting its heaviest expert, again and again.

    Each split replaces expert ``s`` (the largest ``expert_weight_`` so far) by two
    copies whose gate intercepts are lowered by :math:`\\log 2` (so their gate
    weights add up to the original's) and whose expert intercepts are moved by
    :math:`\\pm` ``spread`` :math:`\\sqrt{\\sigma_s}`.  With ``spread=0`` the
    start's conditional density equals the smaller model's exactly; a positive
    spread lets EM pull the copies apart.

    Parameters
    ----------
    estimator : GaussianMoERegressor
        Fitted with fewer than ``n_experts`` experts and a dense gate whose
        scores have an additive intercept (softmax, constant, cosine, Laplace).
    n_experts : int
    spread : float, default=0.5
        Shift of the expert intercepts, in standard deviations of the split expert.

    Returns
    -------
    params : dict
        The parameter arrays (the gate's and the experts'), usable as
        ``init_params``.

    Examples
    --------
    >>> import numpy as np
    >>> from gmoe import GaussianMoERegressor
    >>> from gmoe.datasets import make_moe_regression
    >>> X, y = make_moe_regression(300, random_state=0)
    >>> moe = GaussianMoERegressor(2, n_init=2, random_state=0).fit(X, y)
    >>> from gmoe import split_start
    >>> start = split_start(moe, 3, spread=0.0)
    >>> twin = GaussianMoERegressor(3, init_params=start, max_iter=0).fit(X, y)
    >>> bool(np.isclose(twin.log_likelihood_, moe.log_likelihood_))
    True
    """
    from gmoe.model._conditional import require_dense_gate

    require_dense_gate(estimator, "a split start")
    gate = estimator._fitted_gate()
    if not gate.additive_intercept():
        raise ValueError(
            f"a split start halves the gate weight of the split expert by lowering "
            f"its score by log 2; the scores of gate={gate!r} have no additive "
            "intercept, so no such copy exists. Use random starts for this gate.")
    params = {name: np.array(value, dtype=float)
              for name, value in estimator._params_dict().items()}
    weight = np.array(estimator.expert_weight_, dtype=float)
    if not weight.size < n_experts:
        raise ValueError(f"n_experts={n_experts} must exceed the fitted model's "
                         f"{weight.size} experts.")
    while weight.size < n_experts:
        s = int(np.argmax(weight))
        shift = spread * np.sqrt(params["expert_variance"][s])
        for name, value in params.items():
            params[name] = np.concatenate([value, value[s:s + 1]])
        params["gate_intercept"][[s, -1]] -= np.log(2.0)
        params["expert_intercept"][s] += shift
        params["expert_intercept"][-1] -= shift
        weight = np.append(weight, weight[s] / 2)
        weight[s] /= 2
    return params
