"""The pieces of the Voronoi losses [N23] at given cells and translation: the
distances between fitted and true atoms, the exponents of each parameter
group, the best intercept translation and the loss's terms.

An atom is :math:`(\\gamma_i, a_i, b_i, \\sigma_i)` with :math:`\\gamma_i` the gate
part (:attr:`gmoe.MixingMeasure.gate_atoms`).  When the gate's gauge translates
:math:`\\gamma` (the softmax gate's slopes) the gate distances depend on the
translation :math:`t_1` and :mod:`gmoe.theory._voronoi_search` minimises over it;
otherwise the gate part is compared as it is, like the experts.
"""

import numbers
from collections.abc import Mapping

import numpy as np

#: The known values of rbar(M) [HN16 Proposition 2.1; N23 Lemma 1].
RBAR_KNOWN = {1: 1, 2: 4, 3: 6}

KINDS = ("D1", "D2")
METRICS = ("l1", "l2")
TRANSLATIONS = ("infimum", "reference")

#: The parameter groups of an atom, in the order of the exponent arrays.
EXPONENT_GROUPS = ("gate", "expert_intercept", "expert_coef", "expert_variance")

#: In a cell of ``M >= 2`` atoms, D2 raises each group's distance to this factor
#: times rbar(M) [N23]: the gate part and the expert intercept to rbar, the expert
#: slopes and variance to rbar / 2.
DEFAULT_EXPONENTS = {"gate": 1.0, "expert_intercept": 1.0, "expert_coef": 0.5,
                     "expert_variance": 0.5}


class UnknownRbarWarning(UserWarning):
    """rbar(M) is not known for this cell size M; a default value is used.

    rbar(M) is known for M <= 3 only [HN16, N23]; for M >= 4 the default is
    ``2 M``, which extends the known values but is not a theorem.  Pass
    ``rbar={4: ...}`` (or a callable) to :func:`gmoe.voronoi_loss` to set it.

    Examples
    --------
    >>> import warnings
    >>> from gmoe import UnknownRbarWarning
    >>> issubclass(UnknownRbarWarning, UserWarning)
    True
    >>> with warnings.catch_warnings():  # to silence it
    ...     warnings.simplefilter("ignore", UnknownRbarWarning)
    """


def default_rbar(M):
    """Default rbar(M): 1, 4, 6 for M = 1, 2, 3 [HN16, N23] and ``2 M`` beyond.

    Parameters
    ----------
    M : int
        Number of fitted atoms in a Voronoi cell, ``M >= 1``.

    Returns
    -------
    rbar : int

    Examples
    --------
    >>> [default_rbar(M) for M in range(1, 6)]
    [1, 4, 6, 8, 10]
    """
    if not isinstance(M, numbers.Integral) or M < 1:
        raise ValueError(f"M must be a positive integer; got {M!r}.")
    return RBAR_KNOWN.get(int(M), 2 * int(M))


class Exponents:
    """rbar(M) from the user's mapping or callable, else the default table, and
    the exponent of each parameter group in a cell of M atoms."""

    def __init__(self, rbar, exponents=None):
        if rbar is not None and not (isinstance(rbar, Mapping) or callable(rbar)):
            raise ValueError(
                "rbar must be None, a mapping {M: rbar(M)} or a callable M -> rbar(M); "
                f"got {type(rbar).__name__}."
            )
        factors = dict(DEFAULT_EXPONENTS)
        if exponents is not None:
            if not isinstance(exponents, Mapping) or not set(exponents) <= set(
                    EXPONENT_GROUPS):
                raise ValueError(
                    f"exponents must be a mapping with keys among {EXPONENT_GROUPS}; "
                    f"got {exponents!r}.")
            for group, value in exponents.items():
                if (not isinstance(value, numbers.Real) or not np.isfinite(value)
                        or value <= 0):
                    raise ValueError(f"exponents[{group!r}] must be a positive "
                                     f"number; got {value!r}.")
                factors[group] = float(value)
        self.rbar = rbar
        self.factors = np.array([factors[group] for group in EXPONENT_GROUPS])
        self._cache = {}

    def is_assumed(self, M):
        """True when rbar(M) comes from the unproven default ``2 M``."""
        if M < 2 or M in RBAR_KNOWN or callable(self.rbar):
            return False
        return not (isinstance(self.rbar, Mapping) and M in self.rbar)

    def __call__(self, M):
        """rbar(M)."""
        M = int(M)
        if M in self._cache:
            return self._cache[M]
        if callable(self.rbar) and not isinstance(self.rbar, Mapping):
            value = self.rbar(M)
        elif isinstance(self.rbar, Mapping) and M in self.rbar:
            value = self.rbar[M]
        else:
            value = default_rbar(M)
        if (not isinstance(value, numbers.Real) or not np.isfinite(value)
                or value < 1):
            raise ValueError(
                f"rbar({M}) = {value!r}; rbar must give a finite number >= 1 for every "
                "cell size."
            )
        if M >= 2 and self.factors[0] * value < 1:
            raise ValueError(
                f"the gate exponent exponents['gate'] * rbar({M}) = "
                f"{self.factors[0] * value!r} must be >= 1 (the infimum over the "
                "translation needs a convex gate term).")
        self._cache[M] = float(value)
        return self._cache[M]

    def powers(self, kind, M):
        """Exponents of the groups :data:`EXPONENT_GROUPS` for cells of sizes
        ``M`` (any shape): shape ``M.shape + (4,)``; all 1 for D1 and for cells
        of one atom."""
        M = np.asarray(M, dtype=int)
        out = np.ones(M.shape + (len(EXPONENT_GROUPS),))
        if kind == "D2":
            for m in np.unique(M[M >= 2]):
                out[M == m] = self.factors * self(m)
        return out


# ------------------------------------------------------------------- geometry
class Atoms:
    """Fitted and true atoms, and the distances that do not depend on ``t1``.

    ``beta`` (k, q) are the gate parts the translation ``t1`` moves (empty
    unless the gate's gauge translates them); a gate part it does not move
    counts like the experts, in ``dg`` and ``rest``.
    """

    def __init__(self, G, G_true, metric):
        self.metric = metric
        self.k, self.k0 = G.n_atoms, G_true.n_atoms
        gate, gate_true = np.asarray(G.gate_atoms), np.asarray(G_true.gate_atoms)
        self.translated = G.gauge[1]
        empty = (np.zeros((self.k, 0)), np.zeros((self.k0, 0)))
        self.beta, self.beta_true = (gate, gate_true) if self.translated else empty
        fixed, fixed_true = empty if self.translated else (gate, gate_true)
        diff_g = fixed[:, None, :] - fixed_true[None, :, :]
        diff_a = G.expert_coef[:, None, :] - G_true.expert_coef[None, :, :]
        # Raw group distances, (k, k0) each.
        self.dg = np.sqrt(np.sum(diff_g**2, axis=2))
        self.da = np.sqrt(np.sum(diff_a**2, axis=2))
        self.db = np.abs(G.expert_intercept[:, None] - G_true.expert_intercept[None])
        self.ds = np.abs(G.expert_variance[:, None] - G_true.expert_variance[None])
        # The cell metric's t1-free part.
        if metric == "l1":
            self.rest = (np.sum(np.abs(diff_g), axis=2) + np.sum(np.abs(diff_a), axis=2)
                         + self.db + self.ds)
        else:
            self.rest = self.dg**2 + self.da**2 + self.db**2 + self.ds**2
        names = G.gate.attributes[1:]
        self.gate_group = "_".join(names) if gate.shape[1] else None

    def gate_diff(self, t1):
        """:math:`\\gamma_i - \\gamma^*_j - t_1` of the translated gate parts,
        shape (..., k, k0, q)."""
        t1 = np.asarray(t1, dtype=float)
        base = self.beta[:, None, :] - self.beta_true[None, :, :]
        return base - t1[..., None, None, :]

    def cell_distance(self, T):
        """Cell metric between fitted and true atoms, shape (P, k, k0).

        ``"l1"``: :math:`\\|\\Delta\\gamma\\|_1 + \\|\\Delta a\\|_1 + |\\Delta b| +
        |\\Delta\\sigma|`; ``"l2"``: the squared Euclidean norm of the atom
        difference (same ordering as the norm).
        """
        diff = self.gate_diff(np.atleast_2d(T))
        if self.metric == "l1":
            return np.sum(np.abs(diff), axis=-1) + self.rest
        return np.sum(diff**2, axis=-1) + self.rest

    def cells(self, T):
        """Cells for each translation in T (P, q): (P, k); ties to the lowest j."""
        return np.argmin(self.cell_distance(T), axis=-1)


# ------------------------------------------------------------- loss pieces
def best_t0(W, log_w_true):
    """argmin over t0 of sum_j |W_j - exp(log_w_true_j + t0)|.

    In ``u = exp(t0) >= 0`` the sum is convex and piecewise linear, so its
    minimum is at a kink ``u = W_j / w_j`` or at ``u = 0`` (then ``t0 = -inf``);
    on ties a positive ``u`` is preferred, the smallest one.
    """
    shift = np.max(log_w_true)
    w = np.exp(log_w_true - shift)
    kinks = np.sort((W / w)[W > 0])
    candidates = np.append(kinks, 0.0)
    values = np.sum(np.abs(W[None, :] - candidates[:, None] * w), axis=1)
    u = candidates[int(np.argmin(values))]
    if u <= 0:
        return -np.inf
    return float(np.log(u) - shift)


def powers(kind, sizes, cells, table):
    """Exponents of the groups of each fitted atom, shape (k, 4)."""
    return table.powers(kind, sizes[cells])


def evaluate(atoms, cells, t1, p, log_w_true, kind, table, t0=None):
    """All pieces of the loss at given cells and translation (``t0=None``: the
    best ``t0``)."""
    k0 = atoms.k0
    cells = np.asarray(cells, dtype=int)
    sizes = np.bincount(cells, minlength=k0)
    W = np.bincount(cells, weights=p, minlength=k0)
    if t0 is None:
        t0 = best_t0(W, log_w_true)
    true_w = np.exp(log_w_true + t0) if np.isfinite(t0) else np.zeros_like(W)
    weight_terms = np.abs(W - true_w)
    rows = np.arange(atoms.k)
    g = np.sqrt(np.sum(atoms.gate_diff(t1)[rows, cells] ** 2, axis=-1)
                + atoms.dg[rows, cells] ** 2)
    ea, eb, es = atoms.da[rows, cells], atoms.db[rows, cells], atoms.ds[rows, cells]
    E = powers(kind, sizes, cells, table)
    atom_terms = p * (g ** E[:, 0] + eb ** E[:, 1] + ea ** E[:, 2] + es ** E[:, 3])
    cell_terms = weight_terms + np.bincount(cells, weights=atom_terms, minlength=k0)
    group_errors = {}
    groups = {atoms.gate_group: g, "expert_coef": ea, "expert_intercept": eb,
              "expert_variance": es}
    for name, err in groups.items():
        if name is None:
            continue
        worst = np.full(k0, -np.inf)
        np.maximum.at(worst, cells, err)
        group_errors[name] = np.where(sizes > 0, worst, np.nan)
    used = ({int(m): table(m) for m in np.unique(sizes) if m >= 2}
            if kind == "D2" else {})
    return dict(
        value=float(np.sum(cell_terms)), cells=cells, cell_sizes=sizes,
        fitted_weights=p, weight_sums=W, true_weights=true_w, t0=float(t0),
        t1=np.asarray(t1, dtype=float), group_errors=group_errors,
        cell_terms=cell_terms, atom_terms=atom_terms,
        rbar=used,
    )
