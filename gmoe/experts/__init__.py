"""Expert families: what the experts of a mixture of experts are.

The fitting engine asks an expert family (:class:`ExpertFamily`) for the
experts' free parameters (a linear map to the per-expert coefficients and
log-variances the compiled passes differentiate), their closed-form M-step and
their count; it never asks which family it has.  Strings name the families'
defaults:

=====================  =========================================================
``"gaussian_linear"``  :class:`GaussianLinear`, ``N(y; c_i' (1, x), sigma_i)``
                       (``GaussianLinear(shared_variance=True)``: one variance
                       shared by the experts; ``shared_features=[j]``: feature
                       ``j``'s coefficient common to the experts)
=====================  =========================================================
"""

from gmoe.experts._base import EMPTY_EXPERT_FRACTION, ExpertFamily
from gmoe.experts._gaussian_linear import (
    GaussianLinear,
    common_least_squares,
    weighted_least_squares,
)

#: The expert families by name: ``EXPERT_FAMILIES[name]()`` is the family with
#: its default options.
EXPERT_FAMILIES = {family.name: family for family in (GaussianLinear,)}


def get_experts(experts):
    """The expert family for a name of :data:`EXPERT_FAMILIES` or an
    :class:`ExpertFamily` instance, its options checked.

    Examples
    --------
    >>> get_experts("gaussian_linear")
    GaussianLinear()
    >>> get_experts(GaussianLinear(shared_variance=True))
    GaussianLinear(shared_variance=True)
    >>> get_experts("nope")
    Traceback (most recent call last):
    ...
    ValueError: experts='nope' is not a known expert family; use one of \
['gaussian_linear'] or a gmoe.experts.ExpertFamily instance.
    """
    if isinstance(experts, ExpertFamily):
        experts.check()
        return experts
    if isinstance(experts, str) and experts in EXPERT_FAMILIES:
        return EXPERT_FAMILIES[experts]()
    raise ValueError(f"experts={experts!r} is not a known expert family; use one "
                     f"of {sorted(EXPERT_FAMILIES)} or a gmoe.experts.ExpertFamily "
                     "instance.")


__all__ = ["EMPTY_EXPERT_FRACTION", "EXPERT_FAMILIES", "ExpertFamily",
           "GaussianLinear", "common_least_squares", "get_experts",
           "weighted_least_squares"]
