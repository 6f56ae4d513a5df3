"""Validation of a mixing measure's gate and parameter arrays."""

import numpy as np

from gmoe.datasets import PARAM_NAMES
from gmoe.gates import get_gate
from gmoe.gates._base import identity_scaling

#: The experts' parameters, after the gate's in every parameter dict.
EXPERT_NAMES = PARAM_NAMES[2:]


def as_float_array(name, value):
    try:
        array = np.array(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array of numbers; got {value!r}.") from exc
    return array


def check_gate(gate):
    gate = get_gate(gate)
    if gate.sparse:
        raise ValueError(
            f"a mixing measure is defined here for dense gates; gate={gate!r} is "
            "sparse (its weights depend on which experts each sample selects). "
            "Use a dense gate, e.g. gate='softmax'.")
    return gate


def check_params(gate, gate_params, experts):
    """Validate the gate's attributes and the experts' arrays; return them (in
    the order ``gate.attributes + EXPERT_NAMES``) as read-only float copies."""
    names = tuple(gate.attributes)
    missing = [name for name in names if name not in gate_params]
    extra = sorted(set(gate_params) - set(names))
    if missing or extra:
        raise TypeError(
            f"a mixing measure with gate={gate!r} takes the keyword arguments "
            f"{list(names + EXPERT_NAMES)}; missing {missing}, unexpected {extra}.")
    arrays = {name: as_float_array(name, gate_params[name]) for name in names}
    arrays.update({name: as_float_array(name, value)
                   for name, value in experts.items()})
    matrices = [name for name in names[1:] + ("expert_coef",)]
    for name in matrices:
        if arrays[name].ndim != 2:
            raise ValueError(
                f"{name} must be 2-D of shape (n_atoms, n_features); got shape "
                f"{arrays[name].shape}. With one feature pass a column, e.g. "
                "np.reshape(values, (-1, 1))."
            )
    first = matrices[0]
    k, d = arrays[first].shape
    if k < 1 or d < 1:
        raise ValueError(
            f"{first} has shape {(k, d)}; a mixing measure needs at least one atom "
            "and one feature."
        )
    for name, value in arrays.items():
        shape = (k, d) if name in matrices else (k,)
        if value.shape != shape:
            raise ValueError(
                f"{name} has shape {value.shape}; {first} has shape {(k, d)} "
                f"(n_atoms={k}, n_features={d}), so {name} must have shape {shape}."
            )
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name} contains NaN or infinity; all parameters "
                             "must be finite.")
    if np.any(arrays["expert_variance"] <= 0):
        raise ValueError(
            "expert_variance must be positive (these are variances sigma_i, not "
            f"standard deviations); got {arrays['expert_variance'].tolist()}."
        )
    gate.check_data(np.zeros((0, d)))
    blocks = np.column_stack([arrays[name] for name in names])
    if (blocks.shape[1] != gate.n_block(d) or not np.array_equal(
            gate.from_original(arrays, identity_scaling(d)), blocks)):
        raise ValueError(
            f"gate={gate!r}: a mixing measure reads the gate's blocks in the data's "
            f"units as its attributes {list(names)} side by side; this gate's "
            "from_original does not give them.")
    gauge = gate.gauge(d)[1:]
    if gauge.any() and not gauge.all():
        raise ValueError(
            f"gate={gate!r}: its gauge translates some coordinates of the gate part "
            "of an atom and not others; a mixing measure needs all or none.")
    for array in (*arrays.values(), blocks):
        array.flags.writeable = False
    return arrays, blocks
