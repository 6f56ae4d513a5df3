"""Checks of the estimator's parameters: starting parameters given as a dict,
the shorthands of the gate and of the experts, and the names of the parameters
a fit sets."""

import numbers

import numpy as np

from gmoe.datasets import PARAM_NAMES
from gmoe.experts import GaussianLinear, get_experts
from gmoe.gates import GATES, SharedRouted, Softmax, TopK, get_gate
from gmoe.model._order import canonical_expert_order

#: The expert parameters of every fit (the gate's are ``gate.attributes``).
EXPERT_PARAM_NAMES = ("expert_intercept", "expert_coef", "expert_variance")

#: Every gate attribute a fit may set (removed before a refit sets its own).
_ALL_GATE_ATTRIBUTES = tuple(sorted({name for gate in GATES.values()
                                     for name in gate().attributes}
                                    | {"shared_weights"}))


def with_shared_experts(gate, n_shared, shared_fraction):
    """The gate of ``n_shared`` shared experts (:class:`gmoe.gates.SharedRouted`)
    whose routed experts ``gate`` routes; ``gate`` itself when ``n_shared`` is
    0.  A ValueError says what to change when ``gate`` cannot route them (a
    sparse gate, the Gaussian gate) or is already a shared-experts gate."""
    if isinstance(gate, SharedRouted):
        raise ValueError(
            f"gate={gate!r}: give the routed gate as gate= and the shared experts "
            "as n_shared_experts= and shared_fraction=.")
    if n_shared == 0:
        return gate
    try:
        return SharedRouted(n_shared, gate, shared_fraction)
    except ValueError as error:
        raise ValueError(
            f"n_shared_experts={n_shared} needs a dense gate fitted by its own "
            f"likelihood for the routed experts ('softmax', 'sigmoid', 'constant', "
            f"'cosine', 'laplace'); gate={gate!r} is not one. Use one of those or "
            f"n_shared_experts=0.") from error

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


def check_top_k(top_k, k):
    """``top_k`` checked against ``n_experts`` ``k``; None for the dense gate."""
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral):
        raise ValueError(
            f"top_k must be None or an integer from 1 to n_experts={k}; got "
            f"{top_k!r}.")
    if not 1 <= top_k <= k:
        raise ValueError(
            f"top_k={top_k} must lie between 1 and n_experts={k}; lower top_k "
            "or raise n_experts (top_k=None is the dense softmax gate).")
    return None if top_k == k else int(top_k)


def check_balance(balance_penalty, gate, n_experts):
    """``balance_penalty`` as a float, checked: finite, non-negative, and zero
    unless ``gate`` (of ``n_experts`` experts) is dense, fitted by the
    conditional likelihood and one softmax over every expert."""
    if (isinstance(balance_penalty, bool)
            or not isinstance(balance_penalty, numbers.Real)
            or not np.isfinite(balance_penalty) or balance_penalty < 0):
        raise ValueError(
            "balance_penalty must be a finite number >= 0 (0: no load balancing); "
            f"got {balance_penalty!r}.")
    if balance_penalty and (gate.sparse or gate.marginal):
        raise ValueError(
            f"balance_penalty applies to dense gates fitted by the conditional "
            f"likelihood (softmax, sigmoid, cosine, laplace, constant); gate="
            f"{gate!r} is sparse or has an x-marginal. Leave balance_penalty=0 "
            "with it.")
    if balance_penalty and gate.groups(n_experts) is not None:
        raise ValueError(
            f"balance_penalty balances the weights of one softmax over every "
            f"expert; gate={gate!r} normalises its weights in groups (shared "
            "experts). Leave balance_penalty=0 with n_shared_experts > 0.")
    return float(balance_penalty)


def resolve_experts(experts, shared_features, shared_variance, n_features,
                    feature_names=None):
    """The expert family of ``experts=`` and the shorthands
    ``shared_features=`` and ``shared_variance=``, bound to the data's
    features (:meth:`gmoe.experts.ExpertFamily.for_features`).

    The shorthands build ``GaussianLinear(shared_features, shared_variance)``;
    with ``experts=`` a :class:`gmoe.experts.GaussianLinear`, an option a
    shorthand sets must agree with the object's (or the object leave it at its
    default).
    """
    family = get_experts(experts)
    if shared_features is None and shared_variance is False:
        return family.for_features(n_features, feature_names)
    if not isinstance(shared_variance, (bool, np.bool_)):
        raise ValueError(f"shared_variance must be True or False; got "
                         f"{shared_variance!r}.")
    if type(family) is not GaussianLinear:
        raise ValueError(
            f"shared_features and shared_variance are options of Gaussian linear "
            f"experts; leave them at None and False with experts={family!r} (or "
            "pass the options to the family itself).")
    own = family.shared_features
    if shared_features is not None and own is not None and \
            list(own) != list(shared_features):
        raise ValueError(
            f"shared_features={shared_features!r} disagrees with experts={family!r};"
            " give the shared features in one place.")
    family = GaussianLinear(
        shared_features=own if shared_features is None else shared_features,
        shared_variance=bool(shared_variance or family.shared_variance))
    return family.for_features(n_features, feature_names)


def grouped_expert_order(gate, share, coef, variance, *, fixed_last=False):
    """The canonical order of the experts (:func:`gmoe.model._order.
    canonical_expert_order`) within each of the gate's groups
    (:meth:`gmoe.gates.Gate.groups`), the groups kept in place: ``order`` (k,),
    expert ``order[j]`` becomes expert ``j``."""
    k = len(share)
    groups = gate.groups(k)
    if groups is None:
        return canonical_expert_order(share, coef, variance, fixed_last=fixed_last)
    order = np.arange(k)
    for g in range(len(groups[1])):
        members = np.flatnonzero(groups[0] == g)
        order[members] = members[canonical_expert_order(
            share[members], coef[members], variance[members],
            fixed_last=fixed_last)]
    return order


def resolve_gate(estimator, k, X):
    """The gate an estimator's parameters name, and its ``top_k`` (int or None).

    ``top_k`` is the shorthand of :class:`gmoe.gates.TopK` and applies to the
    softmax gate only; shared experts wrap the gate
    (:func:`with_shared_experts`); ``gate_bound`` and ``gate_penalty`` apply to
    the dense softmax gate only; any other gate checks ``X``
    (:meth:`gmoe.gates.Gate.check_data`).  Raises ``ValueError`` naming the fix.
    """
    top_k = check_top_k(estimator.top_k, k)
    gate = get_gate(estimator.gate, estimator.likelihood)
    if top_k is not None:
        # the shorthand of the top-K gate, fitted on the engine every gate shares
        if type(gate) is not Softmax:
            raise ValueError(
                f"top_k applies to the softmax gate; leave top_k=None with "
                f"gate={gate!r} (or pass gate=gmoe.gates.TopK(K)).")
        gate = TopK(top_k)
    gate = with_shared_experts(gate, estimator.n_shared_experts,
                               estimator.shared_fraction)
    if type(gate) is not Softmax:
        if estimator.gate_bound is not None:
            raise ValueError(
                f"gate_bound applies to the dense softmax gate; leave "
                f"gate_bound=None with gate={gate!r}.")
        if estimator.gate_penalty:
            raise ValueError("gate_penalty applies to the dense softmax gate; "
                             f"leave it at 0 with gate={gate!r}.")
        gate.check_data(X)
    return gate, top_k
