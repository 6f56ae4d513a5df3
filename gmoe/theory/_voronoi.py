"""Voronoi cells and Voronoi losses between mixing measures [N23].

The measures hold the same dense gate of :mod:`gmoe.gates`.  The infimum over
the translations runs over the gate's gauge only: the intercept translation
``t0`` (every gate whose scores add the intercept) is solved exactly (a weighted
median), the translation ``t1`` of the gate parts of the atoms (the softmax
gate's slopes, the perturbed cosine gate's ``v_i``) by the search of
:mod:`gmoe.theory._voronoi_search`; a gate without a gauge (the normalised
sigmoid gate) is compared as it is.  The loss's pieces are in
:mod:`gmoe.theory._voronoi_atoms`.
"""

import dataclasses
import warnings
from collections.abc import Mapping

import numpy as np
import scipy.special

from gmoe.gates import same_gate
from gmoe.theory._measure import MixingMeasure
from gmoe.theory._voronoi_atoms import (
    KINDS,
    METRICS,
    RBAR_KNOWN,
    TRANSLATIONS,
    Atoms,
    Exponents,
    UnknownRbarWarning,
    default_rbar,
    evaluate,
)
from gmoe.theory._voronoi_search import infimum

#: rbar(M) by cell size (the Gaussian gate's loss reads it by this name).
_RbarTable = Exponents

__all__ = [
    "RBAR_KNOWN",
    "UnknownRbarWarning",
    "VoronoiLossResult",
    "default_rbar",
    "voronoi_cells",
    "voronoi_loss",
]


@dataclasses.dataclass(frozen=True, eq=False)
class VoronoiLossResult:
    """A Voronoi loss with its pieces (returned with ``return_details=True``).

    The loss is ``value == cell_terms.sum()``.  The translation ``(t0, t1)`` acts
    on the TRUE measure, as in [N23]: the true atom ``j`` is compared with gate
    slope :math:`\\beta^*_{1j} + t_1` and weight :math:`\\exp(\\beta^*_{0j} + t_0)`.

    Attributes
    ----------
    value : float
        The loss.
    kind : str
        ``"D1"`` or ``"D2"``.
    translation : str
        ``"infimum"`` or ``"reference"``.
    metric : str
        The metric that defined the cells, ``"l1"`` or ``"l2"``.
    cells : ndarray of shape (k,), dtype=int
        True atom index of each fitted atom.
    cell_sizes : ndarray of shape (k0,), dtype=int
        :math:`|A_j|`.
    fitted_weights : ndarray of shape (k,)
        Weights of the fitted atoms as used in the loss: :math:`\\exp(\\beta_{0i})`
        normalised to sum 1 (``"infimum"``) or divided by the last atom's weight
        (``"reference"``).
    weight_sums : ndarray of shape (k0,)
        :math:`\\sum_{i \\in A_j}` of ``fitted_weights``.
    true_weights : ndarray of shape (k0,)
        :math:`\\exp(\\beta^*_{0j} + t_0)`.
    t0 : float
        Gate-intercept translation of the truth (``-inf`` when the infimum is
        reached only in the limit of vanishing true weights).
    t1 : ndarray of shape (d,)
        Gate-slope translation of the truth.
    group_errors : dict of str to ndarray of shape (k0,)
        Keys ``"gate_coef"``, ``"expert_coef"``, ``"expert_intercept"``,
        ``"expert_variance"``: for cell ``j`` the largest raw distance
        :math:`\\max_{i \\in A_j} \\|\\Delta\\|` of that parameter group (Euclidean
        norm; gate slopes after the translation ``t1``); NaN for an empty cell.
    cell_terms : ndarray of shape (k0,)
        Contribution of each cell: its atom terms plus its weight term
        :math:`|\\sum_{i\\in A_j} p_i - \\exp(\\beta^*_{0j} + t_0)|`.
    atom_terms : ndarray of shape (k,)
        Contribution of each fitted atom (its weight times its distance terms).
    rbar : dict of int to float
        rbar(M) used for each multi-atom cell size M present (empty for D1).

    Examples
    --------
    >>> from gmoe import MixingMeasure, voronoi_loss
    >>> from gmoe.datasets import N23_TRUTH
    >>> G_true = MixingMeasure.from_params(**N23_TRUTH)
    >>> res = voronoi_loss(G_true, G_true, "D2", return_details=True)
    >>> res.value, res.cells, res.cell_sizes
    (0.0, array([0, 1]), array([1, 1]))
    >>> bool(float(res) == res.cell_terms.sum())
    True
    """

    value: float
    kind: str
    translation: str
    metric: str
    cells: np.ndarray
    cell_sizes: np.ndarray
    fitted_weights: np.ndarray
    weight_sums: np.ndarray
    true_weights: np.ndarray
    t0: float
    t1: np.ndarray
    group_errors: dict
    cell_terms: np.ndarray
    atom_terms: np.ndarray
    rbar: dict

    def __float__(self):
        return float(self.value)


# --------------------------------------------------------------------- inputs
def _as_measure(obj, name):
    if isinstance(obj, MixingMeasure):
        return obj
    if isinstance(obj, Mapping):
        return MixingMeasure.from_dict(obj)
    if hasattr(obj, "expert_variance_"):
        return MixingMeasure.from_estimator(obj)
    raise ValueError(
        f"{name} must be a MixingMeasure, a dict of the parameter arrays or a "
        f"fitted GaussianMoERegressor; got {type(obj).__name__}."
    )


def _check_pair(G, G_true):
    G = _as_measure(G, "G")
    G_true = _as_measure(G_true, "G_true")
    if G.n_features != G_true.n_features:
        raise ValueError(
            f"G has n_features={G.n_features} but G_true has "
            f"n_features={G_true.n_features}; both measures must have the same "
            "covariate dimension."
        )
    if not same_gate(G.gate, G_true.gate):
        raise ValueError(
            f"G has gate={G.gate!r} but G_true has gate={G_true.gate!r}; Voronoi "
            "losses compare measures of the same gate.")
    if G.gauge[1] and not G.gauge[0]:
        raise ValueError(
            f"gate={G.gate!r} translates the gate parts of the atoms but not the "
            "intercepts; the Voronoi losses here need the intercept translation "
            "with it.")
    return G, G_true


def _check_choice(name, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}.")
    return value


# ------------------------------------------------------------------ public
def _prepare(G, G_true, kind, translation, metric, rbar, exponents):
    kind = _check_choice("kind", kind, KINDS)
    translation = _check_choice("translation", translation, TRANSLATIONS)
    metric = _check_choice("metric", metric, METRICS)
    G, G_true = _check_pair(G, G_true)
    return G, G_true, kind, translation, metric, Exponents(rbar, exponents)


def _solve(G, G_true, kind, translation, metric, table):
    atoms = Atoms(G, G_true, metric)
    log_w_true = np.asarray(G_true.gate_intercept, dtype=float)
    translate_weights, translate_atoms = G.gauge
    no_t1 = np.zeros(0)
    if translation == "reference":
        # The official code's convention: both measures with the reference atom's
        # gate at (0, 0), no infimum.  The true reference is the last atom; the
        # fitted one is the atom that gives the smallest loss, so that the loss
        # does not depend on the order of the fitted atoms (in the official code
        # the last fitted atom is the one started near the true last atom).  A
        # gate without a gauge has no reference: the measures as they are.
        t0 = -float(log_w_true[-1]) if translate_weights else 0.0
        best = None
        for r in range(G.n_atoms if translate_weights else 1):
            shift = G.gate_intercept[r] if translate_weights else 0.0
            with np.errstate(over="ignore"):
                p = np.exp(G.gate_intercept - shift)
            if not np.all(np.isfinite(p)):
                continue
            t1 = (G.gate_atoms[r] - G_true.gate_atoms[-1] if translate_atoms
                  else no_t1)
            cells = atoms.cells(t1[None])[0]
            pieces = evaluate(atoms, cells, t1, p, log_w_true, kind, table, t0=t0)
            if best is None or pieces["value"] < best["value"]:
                best = pieces
        return best
    if translate_weights:
        p = np.exp(G.gate_intercept - scipy.special.logsumexp(G.gate_intercept))
        t0 = None
    else:
        p, t0 = np.exp(G.gate_intercept), 0.0
    if translate_atoms:
        cells, t1 = infimum(atoms, p, log_w_true, kind, table)
    else:
        t1 = no_t1
        cells = atoms.cells(t1[None])[0]
    return evaluate(atoms, cells, t1, p, log_w_true, kind, table, t0=t0)


def voronoi_loss(G, G_true, kind="D2", *, translation="infimum", metric="l1",
                 rbar=None, exponents=None, return_details=False):
    """Voronoi loss D1 (exact-fitted) or D2 (over-fitted) between mixing measures.

    With fitted weights :math:`p_i`, cells :math:`A_j` (see
    :func:`voronoi_cells`), the gate parts of the atoms
    :math:`\\Delta\\beta_{1ij} = \\beta_{1i} - \\beta^*_{1j} - t_1` (softmax gate;
    for the other gates :math:`\\gamma_i - \\gamma^*_j`, see
    :class:`gmoe.MixingMeasure`), :math:`\\Delta a_{ij} = a_i - a^*_j`, :math:`\\Delta
    b_{ij} = b_i - b^*_j`, :math:`\\Delta\\sigma_{ij} = \\sigma_i - \\sigma^*_j`
    and the weight terms :math:`\\omega_j = |\\sum_{i \\in A_j} p_i -
    \\exp(\\beta^*_{0j} + t_0)|` [N23]:

    .. math::

        D_1 = \\inf_{t_0, t_1} \\sum_j \\omega_j + \\sum_j \\sum_{i \\in A_j} p_i
              \\left(\\|\\Delta\\beta_{1ij}\\| + \\|\\Delta a_{ij}\\| + |\\Delta b_{ij}|
              + |\\Delta\\sigma_{ij}|\\right)

        D_2 = \\inf_{t_0, t_1} \\sum_j \\omega_j
              + \\sum_{j: |A_j| > 1} \\sum_{i \\in A_j} p_i
              \\left(\\|\\Delta\\beta_{1ij}\\|^{\\bar r_j}
              + |\\Delta b_{ij}|^{\\bar r_j}
              + \\|\\Delta a_{ij}\\|^{\\bar r_j / 2}
              + |\\Delta\\sigma_{ij}|^{\\bar r_j / 2}\\right)
              + \\sum_{j: |A_j| = 1} \\sum_{i \\in A_j} p_i
              \\left(\\|\\Delta\\beta_{1ij}\\| + \\|\\Delta a_{ij}\\| + |\\Delta b_{ij}|
              + |\\Delta\\sigma_{ij}|\\right)

    with :math:`\\bar r_j = \\bar r(|A_j|)`.  Norms of vectors are Euclidean (for
    one feature, absolute values); ``metric`` only chooses the cells.  An empty
    cell contributes its weight term :math:`\\exp(\\beta^*_{0j} + t_0)`.

    The infimum runs over the gate's gauge (:attr:`gmoe.MixingMeasure.gauge`):
    :math:`(t_0, t_1)` for the softmax gate and the cosine gate with
    ``perturbation > 0`` (whose atoms hold :math:`v_i = w_i / (\\|w_i\\| +
    \\theta)`, the slopes of the softmax gate on :math:`x / (\\|x\\| +
    \\theta)`), :math:`t_0` alone for the constant, plain cosine (unit vectors
    :math:`w_i / \\|w_i\\|`) and Laplace gates, none for the normalised
    sigmoid gate (its weights :math:`e^{\\beta_{0i}}` are compared as they
    are, :math:`t_0 = 0`).  The
    formulas are those of [N23]_ for the softmax gate; for the other gates they
    are the same formulas applied to their atoms, not a loss read in a paper
    (the theory page on gates says what is known), with the exponents as
    parameters (``rbar``, ``exponents``).  For the normalised sigmoid gate
    [NSG25]_ gives different rates in two regimes: ``kind="D2"`` follows its
    sparse regime (the softmax gate's exponents), ``kind="D1"`` (power 1) its
    dense regime.

    Parameters
    ----------
    G : MixingMeasure
        The fitted measure, ``k`` atoms (a dict of the parameter arrays, as
        :meth:`~gmoe.MixingMeasure.to_dict` writes, or a fitted
        :class:`gmoe.GaussianMoERegressor` are accepted too).
    G_true : MixingMeasure
        The true measure, ``k0`` atoms, same gate and number of features.
    kind : {"D1", "D2"}, default="D2"
        D1 uses exponent 1 everywhere; D2 uses :math:`\\bar r(M)` in cells holding
        ``M > 1`` fitted atoms.  They agree when every cell holds one atom.
    translation : {"infimum", "reference"}, default="infimum"
        ``"infimum"``: with the intercept translation, the fitted weights are
        normalised, :math:`p_i = e^{\\beta_{0i}} / \\sum_l e^{\\beta_{0l}}`, and
        the infimum over the gauge's :math:`(t_0, t_1)` is taken, the cells being
        recomputed for every :math:`t_1`.  The loss is then invariant under
        translating the gates of either measure (within the gauge) and under
        permuting atoms.  The infimum over :math:`t_0`
        is exact (a weighted median).  For one or two features the infimum over
        :math:`t_1` is exact too (up to rounding).  With one feature the line is
        split where a cell can change and a convex problem is solved on each
        piece.  With two, the same exact line minimisation runs along every line
        that holds a boundary between cells, and the unconstrained minimiser of
        every cell met is tried.  For ``d >= 3`` the line minimisation is
        repeated along the coordinate axes, along cell boundaries and towards
        the current cells' own minimiser, from ``k k0 + 1`` starts: a careful
        search, not a certificate.
        ``"reference"``: the official code of [N23]: both measures in the form
        whose reference atom's gate is ``(0, 0)``, :math:`p_i = e^{\\beta_{0i} -
        \\beta_{0r}}`, no infimum; the true reference is the last true atom, the
        fitted reference ``r`` the fitted atom that gives the smallest loss (the
        loss does not depend on the order of the fitted atoms).  The two differ
        when the cell of the true reference atom holds several fitted atoms:
        their weights are each close to
        the reference weight 1 and the weight term stays near 1 at any sample size.
    metric : {"l1", "l2"}, default="l1"
        The distance defining the cells (see :func:`voronoi_cells`).
    rbar : mapping, callable or None, default=None
        rbar(M) for cells of size ``M >= 2``.  Default: 4 and 6 for M = 2, 3
        [HN16 Proposition 2.1; N23 Lemma 1] and the unproven ``2 M`` for
        ``M >= 4``, with an :class:`UnknownRbarWarning` when such a cell occurs.
        A mapping overrides the defaults for its keys; a callable replaces them.
        Values must be >= 1.
    exponents : mapping or None, default=None
        In a cell of ``M >= 2`` atoms (D2), each parameter group's distance is
        raised to ``exponents[group] * rbar(M)``; groups ``"gate"`` (the gate
        part of the atom), ``"expert_intercept"``, ``"expert_coef"``,
        ``"expert_variance"``, default 1, 1, 1/2, 1/2 [N23].  Keys not given keep
        the default; ``exponents["gate"] * rbar(M)`` must be >= 1.
    return_details : bool, default=False
        Return a :class:`VoronoiLossResult` instead of the number.

    Returns
    -------
    loss : float or VoronoiLossResult

    Notes
    -----
    [N23] weights each atom term by the fitted :math:`e^{\\beta_{0i}}`, so the
    formula taken literally scales by :math:`e^{s}` when all fitted intercepts
    are shifted by :math:`s`; normalising the fitted weights (``"infimum"``) or
    fixing the last one to 1 (``"reference"``) removes that freedom.  In
    ``"reference"`` mode with ``k == k0`` the official code drops the atom terms
    of cells holding two atoms; here D1 keeps them, as the formula says.

    References
    ----------
    .. [N23] H. Nguyen, T. Nguyen, N. Ho, "Demystifying Softmax Gating Function in
       Gaussian Mixture of Experts", NeurIPS 2023.
    .. [HN16] N. Ho, X. Nguyen, "Convergence rates of parameter estimation for some
       weakly identifiable finite mixtures", Annals of Statistics 44(6), 2016.
    .. [NSG25] "On DeepSeekMoE: statistical benefits of shared experts and
       normalized sigmoid gating", arXiv 2505.10860, 2025.

    Examples
    --------
    >>> from gmoe import MixingMeasure, voronoi_loss
    >>> from gmoe.datasets import N23_TRUTH
    >>> G_true = MixingMeasure.from_params(**N23_TRUTH)
    >>> voronoi_loss(G_true.translated(1.0, [2.0]), G_true)
    0.0
    >>> params = G_true.to_params()
    >>> params["expert_intercept"] = params["expert_intercept"] + [0.0, 0.1]
    >>> G = MixingMeasure.from_params(**params)
    >>> round(voronoi_loss(G, G_true, "D1"), 4)  # 0.1 times the weight of atom 2
    0.1
    >>> details = voronoi_loss(G, G_true, "D1", return_details=True)
    >>> details.cells, details.cell_sizes
    (array([0, 1]), array([1, 1]))

    The constant gate: its measure's translations are the intercepts' alone.

    >>> mix = MixingMeasure(gate="constant", gate_intercept=[0.0, 0.0],
    ...                     expert_intercept=[1.0, -1.0], expert_coef=[[1.0], [0.0]],
    ...                     expert_variance=[0.1, 0.1])
    >>> voronoi_loss(mix.translated(3.0), mix)
    0.0
    """
    G, G_true, kind, translation, metric, rbar_table = _prepare(
        G, G_true, kind, translation, metric, rbar, exponents
    )
    if not isinstance(return_details, (bool, np.bool_)):
        raise ValueError(
            f"return_details must be True or False; got {return_details!r}."
        )
    pieces = _solve(G, G_true, kind, translation, metric, rbar_table)
    assumed = sorted(m for m in pieces["rbar"] if rbar_table.is_assumed(m))
    if assumed:
        warnings.warn(
            f"rbar(M) is not known for cell sizes M = {assumed}; using "
            f"{[pieces['rbar'][m] for m in assumed]} (2 M). Pass rbar={{M: value}} "
            "to choose it.",
            UnknownRbarWarning,
            stacklevel=2,
        )
    if not return_details:
        return pieces["value"]
    for key in ("cells", "cell_sizes", "fitted_weights", "weight_sums",
                "true_weights", "t1", "cell_terms", "atom_terms"):
        pieces[key] = np.array(pieces[key])
        pieces[key].flags.writeable = False
    return VoronoiLossResult(kind=kind, translation=translation, metric=metric,
                             **pieces)


def voronoi_cells(G, G_true, *, metric="l1", translation="infimum", kind="D2",
                  rbar=None, exponents=None):
    """Voronoi cells: which true atom each fitted atom approximates.

    .. math::

        A_j = \\{ i : \\|\\theta_i - \\theta^*_j\\| \\le \\|\\theta_i - \\theta^*_l\\|
              \\ \\forall l \\}, \\qquad
        \\theta = (\\beta_1, a, b, \\sigma)

    The gate intercept is the weight, not part of the atom; for gates other
    than the softmax gate, :math:`\\beta_1` is the gate part of the atom
    (:attr:`gmoe.MixingMeasure.gate_atoms`: none for the constant gate).  The
    softmax gate's slopes are compared after a translation :math:`t_1` of the
    true ones, since a common translation of all gate slopes leaves the model
    unchanged but moves the cells; see ``translation``.  The other gates have no
    such translation: their cells are fixed.  A fitted atom equidistant from
    several true atoms goes to the lowest true index.

    Parameters
    ----------
    G : MixingMeasure
        Fitted measure, ``k`` atoms.
    G_true : MixingMeasure
        True measure, ``k0`` atoms, same gate.
    metric : {"l1", "l2"}, default="l1"
        ``"l1"``: :math:`\\|\\Delta\\beta_1\\|_1 + \\|\\Delta a\\|_1 + |\\Delta b| +
        |\\Delta\\sigma|`, the choice of the official code of [N23].  ``"l2"``:
        the Euclidean norm of :math:`\\theta_i - \\theta^*_j`, as the paper writes.
    translation : {"infimum", "reference", "none"} or array-like of shape (d,)
        ``"infimum"`` (default): the cells at the translation attaining
        ``voronoi_loss(G, G_true, kind, metric=metric, rbar=rbar)``, i.e. the
        cells that loss uses.  ``"reference"``: the cells of
        ``voronoi_loss(..., translation="reference")`` (official code).
        ``"none"``: the gate slopes as given.  An array (softmax gate only): the
        translation :math:`t_1` itself
        (:math:`\\Delta\\beta_{1ij} = \\beta_{1i} - \\beta^*_{1j} - t_1`).
    kind : {"D1", "D2"}, default="D2"
        The loss whose infimum fixes the translation (``"infimum"`` only).
    rbar, exponents : mapping, callable or None, default=None
        As in :func:`voronoi_loss` (``"infimum"`` only).

    Returns
    -------
    cells : ndarray of shape (k,), dtype=int
        ``cells[i]`` is the true atom index ``j`` with ``i`` in :math:`A_j`.

    Examples
    --------
    >>> import numpy as np
    >>> from gmoe import MixingMeasure, voronoi_cells
    >>> from gmoe.datasets import N23_TRUTH
    >>> G_true = MixingMeasure.from_params(**N23_TRUTH)
    >>> params = G_true.to_params()
    >>> G = MixingMeasure.from_params(**{name: np.concatenate([value, value[1:]])
    ...                                  for name, value in params.items()})
    >>> voronoi_cells(G, G_true)  # atom 2 duplicated: cell 1 holds atoms 1 and 2
    array([0, 1, 1])
    """
    G, G_true = _check_pair(G, G_true)
    metric = _check_choice("metric", metric, METRICS)
    atoms = Atoms(G, G_true, metric)
    q = atoms.beta.shape[1]
    if isinstance(translation, str):
        _check_choice("translation", translation, TRANSLATIONS + ("none",))
        if translation in TRANSLATIONS:
            kind = _check_choice("kind", kind, KINDS)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UnknownRbarWarning)
                pieces = _solve(G, G_true, kind, translation, metric,
                                Exponents(rbar, exponents))
            return pieces["cells"]
        t1 = np.zeros(q)
    else:
        t1 = np.asarray(translation, dtype=float)
        if t1.ndim == 0 and q:
            t1 = np.full(q, float(t1))
        if t1.shape != (q,) or not np.all(np.isfinite(t1)):
            raise ValueError(
                "translation must be 'infimum', 'reference', 'none' or a finite "
                f"array of shape ({q},) (the translated gate coordinates of "
                f"gate={G.gate!r}); got {translation!r}."
            )
    return atoms.cells(t1[None])[0]
