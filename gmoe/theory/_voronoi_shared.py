"""Voronoi losses between measures of shared and routed experts [DS25]: the
cells and loss pieces of :mod:`gmoe.theory._voronoi_atoms` applied to each kind
of atom, the shared atoms against the true shared atoms, the routed atoms
against the true routed atoms (with the translation search of
:mod:`gmoe.theory._voronoi` for the routed gate's gauge).
"""

import dataclasses
import numbers
import warnings
from collections.abc import Mapping

import numpy as np
import scipy.special

from gmoe.theory._shared_measure import SharedRoutedMeasure
from gmoe.theory._voronoi import (
    VoronoiLossResult,
    _check_choice,
    _check_pair,
    _solve,
)
from gmoe.theory._voronoi_atoms import (
    EXPONENT_GROUPS,
    METRICS,
    TRANSLATIONS,
    Atoms,
    Exponents,
    UnknownRbarWarning,
    evaluate,
)

__all__ = ["SharedRoutedLossResult", "shared_routed_loss"]

KINDS = ("D1", "D2", "D3", "D4")
PARTS = ("shared", "routed")


class Fixed:
    """An exponent that does not depend on the cell size: ``Fixed(2)(M) == 2``.

    Examples
    --------
    >>> Fixed(2.0)(3)
    2.0
    """

    def __init__(self, value):
        self.value = float(value)

    def __call__(self, M):
        return self.value

    def __repr__(self):
        return f"Fixed({self.value:g})"


_SQUARE, _ONE = Fixed(2.0), Fixed(1.0)
#: The shared part of D2, D3 and D4 [DS25]: kappa_0 to r1, kappa_1 squared,
#: tau to r1 / 2 (a number is a factor of r(M), a Fixed a power).
_SHARED_LINEAR = {"expert_intercept": 1.0, "expert_coef": _SQUARE,
                  "expert_variance": 0.5}
#: Exponents in cells of several atoms, by kind and part; single-atom cells
#: always have power 1.
DEFAULT_EXPONENTS = {
    "D1": {"shared": dict.fromkeys(EXPONENT_GROUPS[1:], _SQUARE),
           "routed": dict.fromkeys(EXPONENT_GROUPS, _SQUARE)},
    "D2": {"shared": _SHARED_LINEAR,
           "routed": {"gate": 1.0, "expert_intercept": 1.0, "expert_coef": 0.5,
                      "expert_variance": 0.5}},
    "D4": {"shared": _SHARED_LINEAR, "routed": dict.fromkeys(EXPONENT_GROUPS, _ONE)},
}
DEFAULT_EXPONENTS["D3"] = DEFAULT_EXPONENTS["D2"]


class PartPowers(Exponents):
    """r(M) (the rbar table of :class:`gmoe.theory._voronoi_atoms.Exponents`)
    and each group's exponent in a cell of M atoms: ``spec[group] * r(M)`` for
    a number, ``spec[group](M)`` for a callable; 1 in cells of one atom."""

    def __init__(self, r, spec):
        super().__init__(r)
        self.spec = [spec.get(group, _ONE) for group in EXPONENT_GROUPS]
        self._powers = {}

    def uses_r(self):
        """True when some group's exponent is a factor of r(M)."""
        return any(not callable(entry) for entry in self.spec)

    def group_powers(self, M):
        """Exponents of the groups in a cell of ``M >= 2`` atoms, shape (4,)."""
        M = int(M)
        if M not in self._powers:
            out = []
            for group, entry in zip(EXPONENT_GROUPS, self.spec, strict=True):
                value = entry(M) if callable(entry) else entry * self(M)
                if (not isinstance(value, numbers.Real) or not np.isfinite(value)
                        or value <= 0):
                    raise ValueError(
                        f"the exponent of {group!r} in a cell of {M} atoms is "
                        f"{value!r}; it must be a positive number.")
                out.append(float(value))
            if out[0] < 1:
                raise ValueError(
                    f"the gate exponent in a cell of {M} atoms is {out[0]!r}; it "
                    "must be >= 1 (the infimum over the translation needs a "
                    "convex gate term).")
            self._powers[M] = np.array(out)
        return self._powers[M]

    def powers(self, kind, M):
        M = np.asarray(M, dtype=int)
        out = np.ones(M.shape + (len(EXPONENT_GROUPS),))
        for m in np.unique(M[M >= 2]):
            out[M == m] = self.group_powers(m)
        return out


@dataclasses.dataclass(frozen=True, eq=False)
class SharedRoutedLossResult:
    """A shared-routed Voronoi loss with its two parts (``return_details=True``).

    Attributes
    ----------
    value : float
        The loss, ``shared.value + routed.value``.
    kind : str
        ``"D1"``, ``"D2"``, ``"D3"`` or ``"D4"``.
    shared : VoronoiLossResult
        The shared atoms against the true shared atoms: cells, weights
        :math:`\\omega_i`, the terms; ``t0`` is :math:`-\\log \\sum_j
        e^{\\beta^*_{0j}}` (the true weights normalised); ``rbar`` holds
        :math:`r_1(M)` for the multi-atom cell sizes present when an exponent
        uses it.
    routed : VoronoiLossResult
        The routed atoms against the true routed atoms (as
        :func:`gmoe.voronoi_loss` reports them; ``rbar`` holds
        :math:`r_2(M)`).
    exponents : dict
        ``{"shared": {M: powers}, "routed": {M: powers}}``: the exponents of the
        groups ``("gate", "expert_intercept", "expert_coef",
        "expert_variance")`` used in each multi-atom cell size M present (the
        shared atoms have no gate part: their "gate" entry is 1, unused).

    Examples
    --------
    >>> from gmoe import SharedRoutedMeasure, shared_routed_loss
    >>> G = SharedRoutedMeasure.from_arrays(
    ...     [1.0], [[0.0, 1.0], [1.0, 0.0], [2.0, 0.0]], [1.0, 1.0, 1.0],
    ...     gate_intercept=[0.0, 0.0], gate_coef=[[1.0], [0.0]])
    >>> res = shared_routed_loss(G, G, "D2", return_details=True)
    >>> res.value, res.shared.cells, res.routed.cells
    (0.0, array([0]), array([0, 1]))
    """

    value: float
    kind: str
    shared: VoronoiLossResult
    routed: VoronoiLossResult
    exponents: dict

    def __float__(self):
        return float(self.value)


# --------------------------------------------------------------------- inputs
def _as_measure(obj, name):
    if isinstance(obj, SharedRoutedMeasure):
        return obj
    if hasattr(obj, "shared_weights_"):
        return SharedRoutedMeasure.from_estimator(obj)
    raise ValueError(
        f"{name} must be a SharedRoutedMeasure or a fitted estimator with shared "
        f"experts; got {type(obj).__name__}.")


def _r_tables(r):
    """The r(M) of the shared part and of the routed part."""
    if isinstance(r, (tuple, list)):
        if len(r) != 2:
            raise ValueError(
                "r must be None, a mapping, a callable, or a pair (r1, r2) of those "
                f"for the shared and routed parts; got a sequence of length {len(r)}.")
        return tuple(r)
    return r, r


def _specs(kind, exponents):
    """The exponent specs of both parts: the defaults of ``kind`` updated by
    ``exponents``."""
    specs = {part: dict(DEFAULT_EXPONENTS[kind][part]) for part in PARTS}
    if exponents is None:
        return specs
    if not isinstance(exponents, Mapping) or not set(exponents) <= set(PARTS):
        raise ValueError(
            f"exponents must be a mapping with keys among {PARTS}; got {exponents!r}.")
    for part, groups in exponents.items():
        allowed = EXPONENT_GROUPS[1:] if part == "shared" else EXPONENT_GROUPS
        if not isinstance(groups, Mapping) or not set(groups) <= set(allowed):
            raise ValueError(
                f"exponents[{part!r}] must be a mapping with keys among {allowed}; "
                f"got {groups!r}.")
        for group, value in groups.items():
            if callable(value):
                specs[part][group] = value
            elif (isinstance(value, numbers.Real) and not isinstance(value, bool)
                    and np.isfinite(value) and value > 0):
                specs[part][group] = float(value)
            else:
                raise ValueError(
                    f"exponents[{part!r}][{group!r}] must be a positive number (a "
                    "factor of r(M)) or a callable M -> exponent; got "
                    f"{value!r}.")
    return specs


def _shared_pieces(S, S_true, metric, table):
    """The shared part: weights normalised on both sides (no translation)."""
    atoms = Atoms(S, S_true, metric)
    p = np.exp(S.gate_intercept - scipy.special.logsumexp(S.gate_intercept))
    log_w_true = np.asarray(S_true.gate_intercept, dtype=float)
    t1 = np.zeros(0)
    cells = atoms.cells(t1[None])[0]
    return evaluate(atoms, cells, t1, p, log_w_true, "D2", table,
                    t0=-float(scipy.special.logsumexp(log_w_true)))


def _finish(pieces, table, kind, translation, metric):
    sizes = [int(m) for m in np.unique(pieces["cell_sizes"]) if m >= 2]
    pieces["rbar"] = ({m: table(m) for m in sizes} if table.uses_r() else {})
    assumed = [m for m in sizes if table.uses_r() and table.is_assumed(m)]
    for key in ("cells", "cell_sizes", "fitted_weights", "weight_sums",
                "true_weights", "t1", "cell_terms", "atom_terms"):
        pieces[key] = np.array(pieces[key])
        pieces[key].flags.writeable = False
    result = VoronoiLossResult(kind=kind, translation=translation, metric=metric,
                               **pieces)
    return result, {m: table.group_powers(m) for m in sizes}, assumed


# ------------------------------------------------------------------ public
def shared_routed_loss(G, G_true, kind="D2", *, r=None, exponents=None,
                       translation="infimum", metric="l1", return_details=False):
    """Voronoi loss between measures of shared and routed experts [DS25].

    The cells are built per kind of atom: :math:`V_{1j}` holds the fitted
    shared atoms :math:`(\\kappa_{1i}, \\kappa_{0i}, \\tau_i)` closest to the
    true shared atom ``j``, :math:`V_{2j}` the fitted routed atoms
    :math:`(\\beta_{1i}, \\eta_{1i}, \\eta_{0i}, \\nu_i)` closest to the true
    routed atom ``j`` (:func:`gmoe.voronoi_cells`).  With :math:`\\Delta`
    the differences from the cell's true atom, the loss is the sum of a shared
    and a routed part,

    .. math::

        D = \\sum_j \\Big|\\sum_{i \\in V_{1j}} \\omega_i - \\omega^*_j\\Big|
            + \\sum_j \\sum_{i \\in V_{1j}} \\omega_i\\, S_{ij}
            + \\inf_{t_0, t_1} \\Big\\{ \\sum_j \\Big|\\sum_{i \\in V_{2j}}
              e^{\\beta_{0i}} - e^{\\beta^*_{0j} + t_0}\\Big|
            + \\sum_j \\sum_{i \\in V_{2j}} e^{\\beta_{0i}}\\, R_{ij} \\Big\\},

    with, in a cell of one atom, every difference to the power 1,
    :math:`S_{ij} = \\|\\Delta\\kappa_1\\| + |\\Delta\\kappa_0| +
    |\\Delta\\tau|` and :math:`R_{ij} = \\|\\Delta\\beta_1\\| +
    \\|\\Delta\\eta_1\\| + |\\Delta\\eta_0| + |\\Delta\\nu|` (:math:`\\Delta
    \\beta_1 = \\beta_{1i} - \\beta^*_{1j} - t_1`), and in a cell of
    :math:`M \\ge 2` atoms, with :math:`r_1 = r(|V_{1j}|)`, :math:`r_2 =
    r(|V_{2j}|)`:

    - D1: :math:`S_{ij} = \\|\\Delta\\kappa_1\\|^2 + |\\Delta\\kappa_0|^2 +
      |\\Delta\\tau|^2`, :math:`R_{ij} = \\|\\Delta\\beta_1\\|^2 +
      \\|\\Delta\\eta_1\\|^2 + |\\Delta\\eta_0|^2 + |\\Delta\\nu|^2`;
    - D2 and D3: :math:`S_{ij} = \\|\\Delta\\kappa_1\\|^2 +
      |\\Delta\\kappa_0|^{r_1} + |\\Delta\\tau|^{r_1/2}`, :math:`R_{ij} =
      \\|\\Delta\\beta_1\\|^{r_2} + \\|\\Delta\\eta_1\\|^{r_2/2} +
      |\\Delta\\eta_0|^{r_2} + |\\Delta\\nu|^{r_2/2}`;
    - D4: :math:`S_{ij}` as D2, :math:`R_{ij}` with every difference to the
      power 1.

    D1 is the loss of [DS25] for strongly identifiable experts, D2 for linear
    experts, both with the softmax routed gate; D3 and D4 are its losses for
    the normalised sigmoid gate in the sparse regime (all over-specified
    :math:`\\beta^*_{1j} = 0`: as the softmax gate) and in the dense regime
    (routed parameters at rate :math:`n^{-1/2}`).  Here every kind is applied
    to the Gaussian linear experts of the measures, whatever the routed gate.
    The known values are :math:`r(2) = 4`, :math:`r(3) = 6` [DS25, Appendix
    B; HN16]; for :math:`M \\ge 4` the default is the unproven :math:`2M`, with
    an :class:`gmoe.UnknownRbarWarning`.

    What the sources used here do not fix is taken from the softmax losses of
    :func:`gmoe.voronoi_loss` [N23], with the exponents as a parameter:
    the single-atom cells of D2, D3, D4 (power 1); the split of D1's squared
    norm into groups (squares of the group norms, whose sum is the squared
    norm of the whole difference); the shared part of D3 and D4 (that of D2,
    the experts being linear); the routed mass term of the normalised sigmoid
    gate (:math:`e^{\\beta_{0i}}` compared as it is, :math:`t_0 = 0`: that gate
    has no translation).  Norms are Euclidean; ``metric`` only chooses the
    cells.  The shared weights are normalised on both sides (no
    translation); the routed part is ``voronoi_loss(G.routed,
    G_true.routed)`` with these exponents, its infimum over the routed gate's
    gauge (softmax: :math:`(t_0, t_1)`, sigmoid: none).

    Parameters
    ----------
    G : SharedRoutedMeasure
        The fitted measure, ``k1`` shared and ``k2`` routed atoms (or an
        estimator :meth:`SharedRoutedMeasure.from_estimator` reads).
    G_true : SharedRoutedMeasure
        The true measure: same number of features, same routed gate, same
        shared fraction.
    kind : {"D1", "D2", "D3", "D4"}, default="D2"
    r : mapping, callable, pair of those, or None, default=None
        r(M) for cells of ``M >= 2`` atoms, as ``rbar`` of
        :func:`gmoe.voronoi_loss` (default 4, 6 for M = 2, 3 and ``2 M``
        beyond; a mapping overrides those keys, a callable replaces the
        table); a pair ``(r1, r2)`` sets the shared and routed parts apart.
        Not used by D1 nor by the routed part of D4 (their powers are fixed).
    exponents : mapping or None, default=None
        ``{"shared": {group: value}, "routed": {group: value}}`` overriding the
        exponents of the table above in cells of several atoms, groups among
        ``"gate"`` (routed only), ``"expert_intercept"``, ``"expert_coef"``,
        ``"expert_variance"``: a number is a factor of r(M) (as in
        :func:`gmoe.voronoi_loss`), a callable ``M -> exponent`` an exponent
        (:class:`Fixed` for a constant).  The routed gate's exponent must be
        >= 1.
    translation : {"infimum", "reference"}, default="infimum"
        For the routed part, as in :func:`gmoe.voronoi_loss`: ``"infimum"``
        normalises the fitted routed weights and takes the infimum over the
        gauge; ``"reference"`` the last true atom and the best fitted atom as
        reference (the gate row fixed at 0 in [DS25]).
    metric : {"l1", "l2"}, default="l1"
        The distance that defines the cells (:func:`gmoe.voronoi_cells`).
    return_details : bool, default=False
        Return a :class:`SharedRoutedLossResult`.

    Returns
    -------
    loss : float or SharedRoutedLossResult

    References
    ----------
    .. [DS25] H. Nguyen, T. T. Doan, Q. Pham, N. D. Q. Bui, N. Ho, A. Rinaldo,
       "On DeepSeekMoE: statistical benefits of shared experts and normalized
       sigmoid gating", arXiv 2505.10860, 2025.
    .. [N23] H. Nguyen, T. Nguyen, N. Ho, "Demystifying Softmax Gating Function in
       Gaussian Mixture of Experts", NeurIPS 2023.
    .. [HN16] N. Ho, X. Nguyen, "Convergence rates of parameter estimation for some
       weakly identifiable finite mixtures", Annals of Statistics 44(6), 2016.

    Examples
    --------
    >>> from gmoe import SharedRoutedMeasure, shared_routed_loss
    >>> truth = SharedRoutedMeasure.from_arrays(
    ...     [1.0], [[0.0, 6.0], [-12.0, 12.0], [4.0, 4.0]], [0.25, 0.4, 0.4],
    ...     gate_intercept=[-0.5, 0.0], gate_coef=[[5.0], [0.0]])
    >>> shared_routed_loss(truth, truth, "D1")
    0.0

    A shared atom split in two, its intercepts 0.1 apart: power r(2) = 4.

    >>> G = SharedRoutedMeasure.from_arrays(
    ...     [0.5, 0.5], [[0.1, 6.0], [-0.1, 6.0], [-12.0, 12.0], [4.0, 4.0]],
    ...     [0.25, 0.25, 0.4, 0.4],
    ...     gate_intercept=[-0.5, 0.0], gate_coef=[[5.0], [0.0]])
    >>> round(shared_routed_loss(G, truth, "D2"), 8)  # 0.5 * 0.1**4 * 2
    0.0001
    """
    kind = _check_choice("kind", kind, KINDS)
    translation = _check_choice("translation", translation, TRANSLATIONS)
    metric = _check_choice("metric", metric, METRICS)
    if not isinstance(return_details, (bool, np.bool_)):
        raise ValueError(
            f"return_details must be True or False; got {return_details!r}.")
    G, G_true = _as_measure(G, "G"), _as_measure(G_true, "G_true")
    if G.shared_fraction != G_true.shared_fraction:
        raise ValueError(
            f"G has shared_fraction={G.shared_fraction} but G_true has "
            f"{G_true.shared_fraction}; the loss compares measures of the same "
            "shared fraction.")
    S, S_true = _check_pair(G.shared, G_true.shared)
    R, R_true = _check_pair(G.routed, G_true.routed)
    specs = _specs(kind, exponents)
    r_shared, r_routed = _r_tables(r)
    tables = {"shared": PartPowers(r_shared, specs["shared"]),
              "routed": PartPowers(r_routed, specs["routed"])}
    raw = {"shared": _shared_pieces(S, S_true, metric, tables["shared"]),
           "routed": _solve(R, R_true, "D2", translation, metric, tables["routed"])}
    parts, used, assumed = {}, {}, []
    for part in PARTS:
        parts[part], used[part], unknown = _finish(
            raw[part], tables[part], kind, translation, metric)
        assumed += [(part, m) for m in unknown]
    if assumed:
        warnings.warn(
            f"r(M) is not known for the cells {assumed} (part, M); using 2 M. "
            "Pass r={M: value} to choose it.", UnknownRbarWarning, stacklevel=2)
    value = parts["shared"].value + parts["routed"].value
    if not return_details:
        return value
    return SharedRoutedLossResult(value=value, kind=kind, shared=parts["shared"],
                                  routed=parts["routed"], exponents=used)
