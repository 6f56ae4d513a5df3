"""Checks of the estimator's parameters: starting parameters given as a dict,
and the names of the parameters a fit sets."""

import numpy as np

from gmoe.datasets import PARAM_NAMES
from gmoe.gates import GATES, Softmax

#: The expert parameters of every fit (the gate's are ``gate.attributes``).
EXPERT_PARAM_NAMES = ("expert_intercept", "expert_coef", "expert_variance")

#: Every gate attribute a fit may set (removed before a refit sets its own).
_ALL_GATE_ATTRIBUTES = tuple(sorted({name for gate in GATES.values()
                                     for name in gate().attributes}))

def _check_init_dict(params, k, d, names=PARAM_NAMES, gate=None):
    """Validate user-supplied starting parameters ``names`` (original units);
    the shapes of the gate's attributes are ``gate``'s (default: the softmax
    gate's)."""
    if hasattr(params, "to_params"):
        params = params.to_params()
    missing = [name for name in names if name not in params]
    if missing:
        raise ValueError(
            f"init_params is missing {missing}; a dict of starting parameters needs "
            f"the keys {list(names)}."
        )
    shapes = {
        "gate_intercept": (k,),
        "gate_coef": (k, d),
        "expert_intercept": (k,),
        "expert_coef": (k, d),
        "expert_variance": (k,),
        **(Softmax() if gate is None else gate).attribute_shapes(k, d),
    }
    checked = {}
    for name in names:
        shape = shapes[name]
        value = np.asarray(params[name], dtype=float)
        if value.shape != shape:
            raise ValueError(
                f"init_params[{name!r}] has shape {value.shape}; with n_experts={k} "
                f"and {d} features it must have shape {shape}."
            )
        if not np.all(np.isfinite(value)):
            raise ValueError(f"init_params[{name!r}] contains NaN or infinity.")
        checked[name] = value
    if np.any(checked["expert_variance"] <= 0):
        raise ValueError("init_params['expert_variance'] must be positive.")
    return checked
