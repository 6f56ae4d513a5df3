"""Mixing measure and Voronoi loss of the Gaussian-gated MoE [N24g].

The mixing measure of a Gaussian-gated MoE with ``k`` experts is

.. math::

    G = \\sum_{i=1}^k \\pi_i\\, \\delta_{(c_i, \\Gamma_i, A_i, b_i, \\nu_i)},

with normalised weights :math:`\\pi_i` (here the weights ARE the mixture weights
of the gate, unlike the softmax gate's :math:`\\exp(\\beta_{0i})`).  The loss
follows the official simulation code of [N24g] (``discrepancies.py``): fitted
atoms are assigned to the true atom nearest in
:math:`\\lVert \\Delta c \\rVert + \\lVert \\Delta \\Gamma \\rVert + \\lVert
\\Delta A \\rVert + \\lvert \\Delta b \\rvert + \\lvert \\Delta \\nu \\rvert`
(Euclidean and Frobenius norms), and

.. math::

    \\mathcal D(G, G_*) = \\sum_{j: |A_j| > 1} \\sum_{i \\in A_j} \\pi_i \\left(
        \\lVert \\Delta c_{ij} \\rVert^{r} + \\lVert \\Delta \\Gamma_{ij}
        \\rVert^{r/2} + \\lVert \\Delta A_{ij} \\rVert^{e_j} + \\lvert \\Delta
        b_{ij} \\rvert^{r} + \\lvert \\Delta \\nu_{ij} \\rvert^{r/2} \\right)
      + \\sum_{j: |A_j| = 1} \\sum_{i \\in A_j} \\pi_i\\, d(\\theta_i, \\theta^*_j)
      + \\sum_j \\Bigl\\lvert \\sum_{i \\in A_j} \\pi_i - \\pi^*_j \\Bigr\\rvert,

with :math:`r = \\bar r(|A_j|)` and :math:`e_j = 2` when :math:`c^*_j \\neq 0`
(Type I, the loss :math:`\\overline{\\mathcal D}` of the code) and
:math:`e_j = \\tilde r(|A_j|) / 2` when :math:`c^*_j = 0` (Type II,
:math:`\\widetilde{\\mathcal D}`).  The code uses the same table
:math:`\\bar r = \\tilde r = (1, 4, 6)` for cells of 1, 2, 3 atoms; gmoe uses it
too, with ``2 M`` beyond (:func:`gmoe.theory._voronoi.default_rbar`), and the table is a
parameter.

One difference from the code: it looks up the size of a cell by the position of
the true atom among the non-empty cells, which is wrong when a true atom has an
empty cell; gmoe uses the size of the cell itself.
"""

import warnings
from dataclasses import dataclass

import numpy as np

from gmoe.theory._voronoi import UnknownRbarWarning, _RbarTable


@dataclass(frozen=True)
class GaussianGateMixingMeasure:
    """The mixing measure of a Gaussian-gated MoE (scalar responses).

    Attributes
    ----------
    weight : ndarray of shape (k,)
        Gate mixture weights :math:`\\pi_i` (sum to 1).
    mean : ndarray of shape (k, d)
        Gate locations :math:`c_i`.
    covariance : ndarray of shape (k, d, d)
        Gate covariances :math:`\\Gamma_i`.
    expert_coef : ndarray of shape (k, d)
        Expert slopes :math:`A_i`.
    expert_intercept : ndarray of shape (k,)
        Expert intercepts :math:`b_i`.
    expert_variance : ndarray of shape (k,)
        Expert variances :math:`\\nu_i`.

    Examples
    --------
    >>> from gmoe.datasets import N24G_TRUTH_TYPE1
    >>> G = GaussianGateMixingMeasure.from_params(**N24G_TRUTH_TYPE1)
    >>> G.n_atoms, G.n_features
    (3, 1)
    """

    weight: np.ndarray
    mean: np.ndarray
    covariance: np.ndarray
    expert_coef: np.ndarray
    expert_intercept: np.ndarray
    expert_variance: np.ndarray

    @classmethod
    def from_params(cls, gate_weight, gate_mean, gate_covariance, expert_intercept,
                    expert_coef, expert_variance):
        """From the fitted-attribute names of ``GaussianMoERegressor(gate=
        "gaussian")`` (without the trailing underscore)."""
        weight = np.asarray(gate_weight, dtype=float)
        k = weight.shape[0]
        mean = np.asarray(gate_mean, dtype=float).reshape(k, -1)
        d = mean.shape[1]
        cov = np.asarray(gate_covariance, dtype=float).reshape(k, d, d)
        coef = np.asarray(expert_coef, dtype=float).reshape(k, d)
        b = np.asarray(expert_intercept, dtype=float).reshape(k)
        var = np.asarray(expert_variance, dtype=float).reshape(k)
        for name, value in (("gate_weight", weight), ("gate_mean", mean),
                            ("gate_covariance", cov), ("expert_coef", coef),
                            ("expert_intercept", b), ("expert_variance", var)):
            if not np.all(np.isfinite(value)):
                raise ValueError(f"{name} contains NaN or infinity.")
        if np.any(weight < 0) or np.any(var <= 0):
            raise ValueError("gate_weight must be non-negative and expert_variance "
                             "positive.")
        return cls(weight, mean, cov, coef, b, var)

    @property
    def n_atoms(self):
        return self.weight.shape[0]

    @property
    def n_features(self):
        return self.mean.shape[1]

    def to_params(self):
        """The parameter dict (keys of ``GaussianMoERegressor`` attributes)."""
        return {"gate_weight": self.weight, "gate_mean": self.mean,
                "gate_covariance": self.covariance,
                "expert_intercept": self.expert_intercept,
                "expert_coef": self.expert_coef,
                "expert_variance": self.expert_variance}


def _as_measure(G, name):
    if isinstance(G, GaussianGateMixingMeasure):
        return G
    if isinstance(G, dict):
        return GaussianGateMixingMeasure.from_params(**G)
    raise ValueError(f"{name} must be a GaussianGateMixingMeasure or a dict of "
                     f"Gaussian-gate parameters; got {type(G).__name__}.")


def _distances(G, G_true):
    """Per-group distances, each (k, k0): c, Gamma, A, b, nu."""
    dc = np.linalg.norm(G.mean[:, None] - G_true.mean[None], axis=-1)
    dG = np.linalg.norm(G.covariance[:, None] - G_true.covariance[None],
                        axis=(-2, -1))
    dA = np.linalg.norm(G.expert_coef[:, None] - G_true.expert_coef[None], axis=-1)
    db = np.abs(G.expert_intercept[:, None] - G_true.expert_intercept[None])
    dnu = np.abs(G.expert_variance[:, None] - G_true.expert_variance[None])
    return dc, dG, dA, db, dnu


def gaussian_gate_voronoi_cells(G, G_true):
    """Voronoi cell of every fitted atom (index of the nearest true atom), (k,).

    The distance is :math:`\\lVert \\Delta c \\rVert + \\lVert \\Delta \\Gamma
    \\rVert_F + \\lVert \\Delta A \\rVert + \\lvert \\Delta b \\rvert + \\lvert
    \\Delta \\nu \\rvert`, as in [N24g]'s code; ties go to the lowest index.

    Examples
    --------
    >>> from gmoe.datasets import N24G_TRUTH_TYPE1
    >>> G = GaussianGateMixingMeasure.from_params(**N24G_TRUTH_TYPE1)
    >>> gaussian_gate_voronoi_cells(G, G)
    array([0, 1, 2])
    """
    G = _as_measure(G, "G")
    G_true = _as_measure(G_true, "G_true")
    if G.n_features != G_true.n_features:
        raise ValueError(f"G has {G.n_features} features and G_true "
                         f"{G_true.n_features}; they must match.")
    return np.argmin(sum(_distances(G, G_true)), axis=1)


def gaussian_gate_loss(G, G_true, *, rbar=None, return_details=False):
    """Voronoi loss between Gaussian-gate mixing measures (the formula of the
    module docstring; Type I and Type II exponents chosen per true atom by
    whether its location :math:`c^*_j` is zero).

    Parameters
    ----------
    G, G_true : GaussianGateMixingMeasure or dict
        Fitted and true measures (dicts with the keys of
        :meth:`GaussianGateMixingMeasure.to_params`).
    rbar : mapping or callable, default=None
        :math:`\\bar r(M) = \\tilde r(M)` by cell size; default 1, 4, 6 for
        M = 1, 2, 3 (the table of [N24g]'s code, from [HN16]) and ``2 M`` beyond
        (an assumption: :class:`gmoe.UnknownRbarWarning`).
    return_details : bool, default=False
        Also return the cells and the per-atom and weight terms.

    Returns
    -------
    loss : float
        Or, with ``return_details``, a dict with ``value``, ``cells`` (k,),
        ``cell_sizes`` (k0,), ``atom_terms`` (k,) and ``weight_terms`` (k0,).

    References
    ----------
    .. [N24g] H. Nguyen, T. Nguyen, K. Nguyen, N. Ho, "Towards Convergence Rates
       for Parameter Estimation in Gaussian-gated Mixture of Experts",
       AISTATS 2024.

    Examples
    --------
    >>> import numpy as np
    >>> from gmoe.datasets import N24G_TRUTH_TYPE1
    >>> G0 = GaussianGateMixingMeasure.from_params(**N24G_TRUTH_TYPE1)
    >>> gaussian_gate_loss(G0, G0)
    0.0
    >>> moved = dict(N24G_TRUTH_TYPE1, expert_intercept=G0.expert_intercept + 0.1)
    >>> round(gaussian_gate_loss(moved, G0), 10)  # one atom per cell: 0.1 * sum(pi)
    0.1
    """
    G = _as_measure(G, "G")
    G_true = _as_measure(G_true, "G_true")
    if G.n_features != G_true.n_features:
        raise ValueError(f"G has {G.n_features} features and G_true "
                         f"{G_true.n_features}; they must match.")
    table = _RbarTable(rbar)
    parts = _distances(G, G_true)
    cells = np.argmin(sum(parts), axis=1)
    k0 = G_true.n_atoms
    sizes = np.bincount(cells, minlength=k0)
    zero_location = np.all(G_true.mean == 0, axis=1)
    atom_terms = np.empty(G.n_atoms)
    for i, j in enumerate(cells):
        dc, dG, dA, db, dnu = (part[i, j] for part in parts)
        M = int(sizes[j])
        if M == 1:
            atom_terms[i] = G.weight[i] * (dc + dG + dA + db + dnu)
            continue
        if table.is_assumed(M):
            warnings.warn(
                f"a Voronoi cell holds {M} atoms; rbar({M}) is not known and "
                f"{table(M)} is used. Pass rbar= to set it.", UnknownRbarWarning,
                stacklevel=2)
        r = float(table(M))
        a_exp = r / 2 if zero_location[j] else 2.0
        atom_terms[i] = G.weight[i] * (dc**r + dG ** (r / 2) + dA**a_exp + db**r
                                       + dnu ** (r / 2))
    weight_terms = np.abs(np.bincount(cells, weights=G.weight, minlength=k0)
                          - G_true.weight)
    value = float(atom_terms.sum() + weight_terms.sum())
    if not return_details:
        return value
    return {"value": value, "cells": cells, "cell_sizes": sizes,
            "atom_terms": atom_terms, "weight_terms": weight_terms}

