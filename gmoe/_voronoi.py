"""Voronoi cells and Voronoi losses between mixing measures [N23].

The numerical core works on plain arrays: the fitted atoms, the true atoms, the
fitted weights and the true log-weights.  The infimum over the gate translation
``(t0, t1)`` is solved exactly in ``t0`` (a weighted median).  For ``t1`` the
building block is an exact search along a line of translations: the line is cut
into the intervals on which the Voronoi cells do not change, and a convex
function is minimised on each.  One feature needs one line; two features need
the lines that hold the boundaries between cells; three or more use a
multi-start search made of such lines.
"""

import dataclasses
import numbers
import warnings
from collections.abc import Mapping

import numpy as np
import scipy.optimize
import scipy.special

from gmoe._measure import MixingMeasure
from gmoe.datasets import PARAM_NAMES

__all__ = [
    "RBAR_KNOWN",
    "UnknownRbarWarning",
    "VoronoiLossResult",
    "default_rbar",
    "voronoi_cells",
    "voronoi_loss",
]

#: The known values of rbar(M) [HN16 Proposition 2.1; N23 Lemma 1].
RBAR_KNOWN = {1: 1, 2: 4, 3: 6}

KINDS = ("D1", "D2")
METRICS = ("l1", "l2")
TRANSLATIONS = ("infimum", "reference")
GROUPS = ("gate_coef", "expert_coef", "expert_intercept", "expert_variance")

_BISECTION_STEPS = 52
_MAX_SWEEPS = 50
_INSET = 1e-10


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


class _RbarTable:
    """rbar(M) from the user's mapping or callable, else the default table."""

    def __init__(self, rbar):
        if rbar is not None and not (isinstance(rbar, Mapping) or callable(rbar)):
            raise ValueError(
                "rbar must be None, a mapping {M: rbar(M)} or a callable M -> rbar(M); "
                f"got {type(rbar).__name__}."
            )
        self.rbar = rbar
        self._cache = {}

    def is_assumed(self, M):
        """True when rbar(M) comes from the unproven default ``2 M``."""
        if M < 2 or M in RBAR_KNOWN or callable(self.rbar):
            return False
        return not (isinstance(self.rbar, Mapping) and M in self.rbar)

    def __call__(self, M):
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
        self._cache[M] = float(value)
        return self._cache[M]


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
    if all(hasattr(obj, key + "_") for key in PARAM_NAMES):
        return MixingMeasure.from_estimator(obj)
    raise ValueError(
        f"{name} must be a MixingMeasure, a dict of the five parameter arrays or a "
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
    return G, G_true


def _check_choice(name, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}.")
    return value


# ------------------------------------------------------------------- geometry
class _Atoms:
    """Fitted and true atoms, and the distances that do not depend on ``t1``."""

    def __init__(self, G, G_true, metric):
        self.metric = metric
        self.beta = np.asarray(G.gate_coef)
        self.beta_true = np.asarray(G_true.gate_coef)
        self.k, self.k0 = G.n_atoms, G_true.n_atoms
        diff_a = G.expert_coef[:, None, :] - G_true.expert_coef[None, :, :]
        # Raw group distances, (k, k0) each.
        self.da = np.sqrt(np.sum(diff_a**2, axis=2))
        self.db = np.abs(G.expert_intercept[:, None] - G_true.expert_intercept[None])
        self.ds = np.abs(G.expert_variance[:, None] - G_true.expert_variance[None])
        # The cell metric's t1-free part.
        if metric == "l1":
            self.rest = np.sum(np.abs(diff_a), axis=2) + self.db + self.ds
        else:
            self.rest = self.da**2 + self.db**2 + self.ds**2

    def gate_diff(self, t1):
        """:math:`\\beta_{1i} - \\beta^*_{1j} - t_1`, shape (..., k, k0, d)."""
        t1 = np.asarray(t1, dtype=float)
        base = self.beta[:, None, :] - self.beta_true[None, :, :]
        return base - t1[..., None, None, :]

    def cell_distance(self, T):
        """Cell metric between fitted and true atoms, shape (P, k, k0).

        ``"l1"``: :math:`\\|\\Delta\\beta_1\\|_1 + \\|\\Delta a\\|_1 + |\\Delta b| +
        |\\Delta\\sigma|`; ``"l2"``: the squared Euclidean norm of the atom
        difference (same ordering as the norm).
        """
        diff = self.gate_diff(np.atleast_2d(T))
        if self.metric == "l1":
            return np.sum(np.abs(diff), axis=-1) + self.rest
        return np.sum(diff**2, axis=-1) + self.rest

    def cells(self, T):
        """Cells for each translation in T (P, d): (P, k); ties to the lowest j."""
        return np.argmin(self.cell_distance(T), axis=-1)


# ------------------------------------------------------------- loss pieces
def _best_t0(W, log_w_true):
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


def _weight_term(W, log_w_true, t0):
    true_w = np.exp(log_w_true + t0) if np.isfinite(t0) else np.zeros_like(W)
    return np.abs(W - true_w), true_w


def _powers(kind, sizes, cells, rbar_table):
    """Exponents (gate/intercept, slope/variance) of each fitted atom, (k,) each."""
    M = sizes[cells]
    if kind == "D1":
        ones = np.ones(len(cells))
        return ones, ones
    r = np.array([1.0 if m == 1 else rbar_table(m) for m in M])
    half = np.where(M == 1, 1.0, r / 2.0)
    return r, half


def _evaluate(atoms, cells, t1, p, log_w_true, kind, rbar_table, t0=None):
    """All pieces of the loss at given cells and translation."""
    k0 = atoms.k0
    cells = np.asarray(cells, dtype=int)
    sizes = np.bincount(cells, minlength=k0)
    W = np.bincount(cells, weights=p, minlength=k0)
    if t0 is None:
        t0 = _best_t0(W, log_w_true)
    weight_terms, true_w = _weight_term(W, log_w_true, t0)
    rows = np.arange(atoms.k)
    g = np.sqrt(np.sum(atoms.gate_diff(t1)[rows, cells] ** 2, axis=-1))
    ea, eb, es = atoms.da[rows, cells], atoms.db[rows, cells], atoms.ds[rows, cells]
    r, half = _powers(kind, sizes, cells, rbar_table)
    atom_terms = p * (g**r + eb**r + ea**half + es**half)
    cell_terms = weight_terms + np.bincount(cells, weights=atom_terms, minlength=k0)
    group_errors = {}
    for name, err in zip(GROUPS, (g, ea, eb, es), strict=True):
        worst = np.full(k0, -np.inf)
        np.maximum.at(worst, cells, err)
        group_errors[name] = np.where(sizes > 0, worst, np.nan)
    used = ({int(m): rbar_table(m) for m in np.unique(sizes) if m >= 2}
            if kind == "D2" else {})
    return dict(
        value=float(np.sum(cell_terms)), cells=cells, cell_sizes=sizes,
        fitted_weights=p, weight_sums=W, true_weights=true_w, t0=float(t0),
        t1=np.asarray(t1, dtype=float), group_errors=group_errors,
        cell_terms=cell_terms, atom_terms=atom_terms,
        rbar=used,
    )


# ------------------------------------------------------ search along a line
def _breakpoints(atoms, base, u):
    """Values of s at which a cell may change along ``t1 = base + s u``."""
    V = atoms.gate_diff(base)  # (k, k0, d)
    points = []
    k0 = atoms.k0
    for j in range(k0):
        for m in range(j + 1, k0):
            if atoms.metric == "l2":
                # Squared distances differ by a linear function of s.
                denom = 2.0 * (V[:, j] - V[:, m]) @ u
                numer = (np.sum(V[:, j] ** 2, axis=1) + atoms.rest[:, j]
                         - np.sum(V[:, m] ** 2, axis=1) - atoms.rest[:, m])
                ok = denom != 0
                points.append(numer[ok] / denom[ok])
                continue
            # l1: the difference is piecewise linear with kinks where one gate
            # coordinate crosses zero; constant beyond the outermost kinks.
            nz = u != 0
            if not np.any(nz):
                continue
            kinks = np.concatenate([V[:, j][:, nz] / u[nz], V[:, m][:, nz] / u[nz]],
                                   axis=1)
            kinks.sort(axis=1)
            res = V[:, :, None, :] - kinks[:, None, :, None] * u  # (k, k0, K, d)
            h = (np.sum(np.abs(res[:, j]), axis=-1) + atoms.rest[:, j, None]
                 - np.sum(np.abs(res[:, m]), axis=-1) - atoms.rest[:, m, None])
            h0, h1 = h[:, :-1], h[:, 1:]
            s0, s1 = kinks[:, :-1], kinks[:, 1:]
            cross = (h0 * h1 < 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                roots = s0 - h0 * (s1 - s0) / (h1 - h0)
            points.append(kinks.ravel())
            points.append(roots[cross])
    if not points:
        return np.empty(0)
    points = np.concatenate(points)
    return np.unique(points[np.isfinite(points)])


def _segments(points, reach):
    """(lo, hi, representative) of the pieces of ``[-reach, reach]``.

    The pieces are the open intervals between consecutive breakpoints and the
    breakpoints themselves.
    """
    points = points[(points > -reach) & (points < reach)]
    ends = np.concatenate([[-reach], points, [reach]])
    lo = np.concatenate([ends[:-1], points])
    hi = np.concatenate([ends[1:], points])
    rep = np.concatenate([0.5 * (ends[:-1] + ends[1:]), points])
    return lo, hi, rep


def _reach(search, base):
    """A radius beyond which the loss along any unit line through ``base`` exceeds
    its value at ``base``; and that value.

    With normalised weights, every fitted atom is at gate distance at least
    ``|s| - m`` from every translated true atom (``m`` the largest distance at
    ``s = 0``), so the loss is at least ``min(x, x**Q)`` with ``x = |s| - m`` and
    ``Q`` the largest exponent in use.
    """
    atoms, p, log_w_true, kind, rbar_table = search
    V = atoms.gate_diff(base)
    m = float(np.sqrt(np.max(np.sum(V**2, axis=-1))))
    cells = atoms.cells(base[None])[0]
    upper = _evaluate(atoms, cells, base, p, log_w_true, kind, rbar_table)["value"]
    Q = 1.0
    if kind == "D2":
        Q = max([1.0] + [rbar_table(M) for M in range(2, atoms.k - atoms.k0 + 2)])
    return m + max(upper, upper ** (1.0 / Q)) + 1.0, upper


def _gate_objective(B, P, pw, q, s):
    """sum_i pw_i ||V_i - s u||^{q_i} per row, for each row's s (U,).

    With a unit ``u``, ``B = V.u`` and ``P = ||V - B u||^2`` (both (U, k)):
    ``||V - s u||^2 = (B - s)^2 + P``, free of cancellation.
    """
    norm2 = (B - s[:, None]) ** 2 + P
    return np.sum(pw * norm2 ** (0.5 * q), axis=-1)


def _gate_argmin(B, P, pw, q):
    """Minimiser over s of the convex gate objective, per row (U,)."""
    lo, hi = B.min(axis=1), B.max(axis=1)  # each term is smallest at s = B
    weight = pw * q
    half_qm2 = 0.5 * (q - 2.0)
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        along = B - mid[:, None]
        norm2 = along**2 + P
        # d/ds ||V - s u||^q = -q ||V - s u||^(q - 2) (B - s), 0 where it vanishes.
        factor = np.power(norm2, half_qm2, out=np.zeros_like(norm2),
                          where=norm2 > 0)
        go_left = -np.sum(weight * factor * along, axis=1) > 0
        hi = np.where(go_left, mid, hi)
        lo = np.where(go_left, lo, mid)
    best = 0.5 * (lo + hi)
    # The optimum of the terms with exponent 1 often sits exactly at one term's
    # own minimiser: try those points too, so exact fits give exactly zero.
    values = _gate_objective(B, P, pw, q, best)
    for col in range(B.shape[1]):
        trial = B[:, col]
        trial_values = _gate_objective(B, P, pw, q, trial)
        better = trial_values <= values
        best = np.where(better, trial, best)
        values = np.where(better, trial_values, values)
    return best


def _fixed_parts(atoms, cells, p, log_w_true, kind, rbar_table):
    """For each row of cells (U, k): the loss without its gate-slope terms, with
    the best t0, and the gate-slope exponents (U, k)."""
    k, k0 = atoms.k, atoms.k0
    member = cells[:, :, None] == np.arange(k0)  # (U, k, k0)
    sizes = member.sum(axis=1)
    W = np.einsum("ukj,k->uj", member, p)
    # sum_j |W_j - u w_j| is convex and piecewise linear in u = exp(t0) >= 0:
    # its minimum is at u = 0 or at a kink u = W_j / w_j.
    w = np.exp(log_w_true - np.max(log_w_true))
    u = np.concatenate([np.zeros((len(cells), 1)), W / w], axis=1)
    weight = np.min(np.sum(np.abs(W[:, None, :] - u[:, :, None] * w), axis=2),
                    axis=1)
    if kind == "D1":
        r = np.ones(k + 1)
    else:
        r = np.array([1.0, 1.0] + [rbar_table(m) for m in range(2, k + 1)])
    M = np.take_along_axis(sizes, cells, axis=1)
    q = r[M]
    half = np.where(M == 1, 1.0, q / 2.0) if kind == "D2" else q
    rows = np.arange(k)
    rest = (atoms.db[rows, cells] ** q + atoms.da[rows, cells] ** half
            + atoms.ds[rows, cells] ** half)
    return weight + rest @ p, q


def _line_search(atoms, p, log_w_true, kind, rbar_table, base, u, seen=None):
    """Exact minimum of the loss over ``t1 = base + s u``: (value, cells, t1).

    ``u`` must have unit length.  The cells met along the line are appended to
    the list ``seen`` when one is given.
    """
    reach, upper = _reach((atoms, p, log_w_true, kind, rbar_table), base)
    lo, hi, rep = _segments(_breakpoints(atoms, base, u), reach)
    all_cells = atoms.cells(base + rep[:, None] * u)
    unique, inverse = np.unique(all_cells, axis=0, return_inverse=True)
    inverse = np.ravel(inverse)
    if seen is not None:
        seen.append(unique)
    rows = np.arange(atoms.k)
    V = atoms.gate_diff(base)
    n_unique = unique.shape[0]
    const, q = _fixed_parts(atoms, unique, p, log_w_true, kind, rbar_table)
    Vsel = V[rows, unique]  # (n_unique, k, d)
    B = Vsel @ u
    P = np.sum((Vsel - B[..., None] * u) ** 2, axis=-1)
    # Cells whose fixed part alone exceeds the loss at ``base`` cannot win.
    # (The tolerance covers rounding: the cells at ``base`` must stay in.)
    hopeful = const <= upper * (1 + 1e-9) + 1e-12
    s_star = np.zeros(n_unique)
    s_star[hopeful] = _gate_argmin(B[hopeful], P[hopeful], p, q[hopeful])
    s = np.clip(s_star[inverse], lo, hi)
    values = np.full(len(s), np.inf)
    live = hopeful[inverse]
    pick = inverse[live]
    values[live] = const[pick] + _gate_objective(B[pick], P[pick], p, q[pick], s[live])
    best = int(np.argmin(values))
    a, s_best, lo_b, hi_b = inverse[best], s[best], lo[best], hi[best]
    if lo_b < hi_b and not np.array_equal(atoms.cells((base + s_best * u)[None])[0],
                                          unique[a]):
        # At an end of an interval whose cells differ from the cells at the end
        # point, the infimum is a limit: step just inside the interval so that
        # the returned cells are the cells at the returned t1.
        inset = min(_INSET * (1.0 + abs(s_best)), 0.25 * (hi_b - lo_b))
        s_best = min(max(s_best, lo_b + inset), hi_b - inset)
        values[best] = const[a] + _gate_objective(B[a:a + 1], P[a:a + 1], p,
                                                  q[a:a + 1], np.array([s_best]))[0]
    return float(values[best]), unique[a], base + s_best * u


def _convex_argmin(Vsel, pw, q):
    """Unconstrained minimiser over t of sum_i pw_i ||Vsel_i - t||^{q_i} (d >= 2).

    The objective is convex and smooth except where a term vanishes.  Damped
    Newton steps from the weighted mean, compared at the end with every point
    where a term vanishes (where the exponent-1 terms put their kinks).
    """
    d = Vsel.shape[1]

    def value(t):
        norm = np.sqrt(np.sum((Vsel - t) ** 2, axis=1))
        return float(np.sum(pw * norm**q))

    t = pw @ Vsel / np.sum(pw)
    current = value(t)
    for _ in range(100):
        res = Vsel - t
        norm = np.sqrt(np.sum(res**2, axis=1))
        live = norm > 1e-300
        if not np.any(live):
            break
        res, nr, w, qq = res[live], norm[live], pw[live], q[live]
        c = w * qq * nr ** (qq - 2.0)
        grad = -c @ res
        unit = res / nr[:, None]
        hess = np.eye(d) * np.sum(c) + ((c * (qq - 2.0))[:, None] * unit).T @ unit
        hess += np.eye(d) * 1e-12 * (1.0 + np.trace(hess))
        try:
            step = -np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            step = -grad
        improved = False
        for _ in range(60):
            trial = t + step
            trial_value = value(trial)
            if trial_value < current:
                improved = True
                break
            step = 0.5 * step
        if not improved:
            break
        gain = current - trial_value
        t, current = trial, trial_value
        if gain <= 1e-15 * (1.0 + abs(current)):
            break
    values = [value(point) for point in Vsel]
    best = int(np.argmin(values))
    return Vsel[best] if values[best] < current else t


def _search_directions(atoms):
    """Unit directions for the line searches in d >= 2 dimensions.

    The coordinate axes, and directions lying in the boundaries between cells:
    for ``"l2"`` the boundaries are hyperplanes normal to
    :math:`\beta^*_{1l} - \beta^*_{1j}`; for ``"l1"`` their pieces are normal to
    vectors with entries in ``{-1, 0, 1}``, which contain the directions
    :math:`e_a \\pm e_b`.
    """
    d = atoms.beta.shape[1]
    eye = np.eye(d)
    directions = list(eye)
    if atoms.metric == "l1":
        for a in range(d):
            for b in range(a + 1, d):
                directions += [eye[a] + eye[b], eye[a] - eye[b]]
    else:
        for j in range(atoms.k0):
            for m in range(j + 1, atoms.k0):
                normal = atoms.beta_true[m] - atoms.beta_true[j]
                size = np.sqrt(normal @ normal)
                if size == 0:
                    continue
                normal = normal / size
                directions += [e - (e @ normal) * normal for e in eye]
    out = []
    for u in directions:
        size = np.sqrt(u @ u)
        if size > 1e-12 and not any(abs(abs(u @ v) / size - 1) < 1e-12 for v in out):
            out.append(u / size)
    return out


def _descend(search, start, directions, targets, visited):
    """Exact line searches from ``start`` until no direction improves.

    ``visited`` maps the points (cells and rounded t1) that earlier descents
    passed through to where they ended: a descent that reaches one stops there.
    """
    atoms, p, log_w_true, kind, rbar_table = search
    rows = np.arange(atoms.k)
    cells = atoms.cells(start[None])[0]
    value = _evaluate(atoms, cells, start, *search[1:])["value"]
    t1 = start
    path = []
    result = None
    for _ in range(_MAX_SWEEPS):
        key = (cells.tobytes(), np.round(t1, 9).tobytes())
        if key in visited:
            result = visited[key]
            break
        path.append(key)
        previous = value
        if key[0] not in targets:
            sizes = np.bincount(cells, minlength=atoms.k0)
            r, _ = _powers(kind, sizes, cells, rbar_table)
            base = atoms.gate_diff(np.zeros(atoms.beta.shape[1]))
            targets[key[0]] = _convex_argmin(base[rows, cells], p, r)
        for u in [targets[key[0]] - t1] + directions:
            norm = np.sqrt(u @ u)
            if norm <= 1e-14 * (1.0 + np.sqrt(t1 @ t1)):
                continue
            new_value, new_cells, new_t1 = _line_search(*search, t1, u / norm)
            if new_value < value:
                value, cells, t1 = new_value, new_cells, new_t1
                key = (cells.tobytes(), np.round(t1, 9).tobytes())
                if key in visited:
                    result = visited[key]
                    break
                path.append(key)
        if result is not None or value >= previous - 1e-13 * (1.0 + abs(previous)):
            break
    if result is None:
        result = (value, cells, t1)
    for key in path:
        visited[key] = result
    return result


def _boundary_lines(atoms):
    """For d == 2: lines ``(point, unit direction, unit normal)`` that contain
    every boundary between cells.

    A fitted atom ``i`` is as near true atom ``j`` as true atom ``l`` where
    :math:`h(t) = \\mathrm{dist}_{ij}(t) - \\mathrm{dist}_{il}(t) = 0`.  For
    ``"l2"`` (squared distances) ``h`` is affine: one line.  For ``"l1"`` ``h`` is
    affine on each box of the grid cut by the coordinates of the two points where
    the gate distances vanish: one line per box whose zero set meets the box.
    """
    V = atoms.gate_diff(np.zeros(2))  # (k, k0, 2): the gate distance to j is
    lines = []                        # ||V_ij - t||
    for i in range(atoms.k):
        for j in range(atoms.k0):
            for m in range(j + 1, atoms.k0):
                a, b = V[i, j], V[i, m]
                gap = atoms.rest[i, j] - atoms.rest[i, m]
                if atoms.metric == "l2":
                    # |a - t|^2 - |b - t|^2 + gap = 0: 2 (b - a).t = |b|^2 - |a|^2 - gap
                    normal = 2.0 * (b - a)
                    level = b @ b - a @ a - gap
                    lines.append((normal, level))
                    continue
                cuts = [np.sort([a[0], b[0]]), np.sort([a[1], b[1]])]
                edges = [np.concatenate([[-np.inf], c, [np.inf]]) for c in cuts]
                for bx in range(3):
                    for by in range(3):
                        box = [(edges[0][bx], edges[0][bx + 1]),
                               (edges[1][by], edges[1][by + 1])]
                        inside = np.array([_inside(lo, hi) for lo, hi in box])
                        # |a_c - t_c| = sa_c (t_c - a_c) on the box, same for b.
                        sa = np.sign(inside - a)
                        sb = np.sign(inside - b)
                        normal = sa - sb
                        level = sa @ a - sb @ b - gap
                        if _line_meets_box(normal, level, box):
                            lines.append((normal, level))
    out, keys = [], set()
    for normal, level in lines:
        size = np.sqrt(normal @ normal)
        if size == 0:
            continue
        normal, level = normal / size, level / size
        sign = 1.0 if (normal[0] > 0 or (normal[0] == 0 and normal[1] > 0)) else -1.0
        normal, level = sign * normal, sign * level
        key = tuple(np.round(np.append(normal, level), 12))
        if key in keys:
            continue
        keys.add(key)
        out.append((level * normal, np.array([-normal[1], normal[0]]), normal))
    return out


def _inside(lo, hi):
    """A point strictly inside the interval (lo, hi), which may be unbounded."""
    if np.isinf(lo) and np.isinf(hi):
        return 0.0
    if np.isinf(lo):
        return hi - 1.0
    if np.isinf(hi):
        return lo + 1.0
    return 0.5 * (lo + hi)


def _line_meets_box(normal, level, box):
    """Whether ``normal . t = level`` meets the (closed, possibly unbounded) box."""
    low = high = 0.0
    for n, (lo, hi) in zip(normal, box, strict=True):
        if n == 0:
            continue
        ends = (n * lo, n * hi)
        low += min(ends)
        high += max(ends)
    return low <= level <= high


def _planar_infimum(search):
    """Exact infimum over t1 in the plane (d == 2).

    Every cell's closure is bounded by pieces of the lines of
    :func:`_boundary_lines`.  The convex objective of a cell is smallest either
    at its unconstrained minimiser, if that lies in the cell, or on the cell's
    boundary.  Exact searches along every boundary line and along its two
    neighbours at a tiny offset on either side therefore meet the minimum of
    every cell on its boundary; the cells met along the way supply the interior
    candidates.
    """
    atoms, p, log_w_true, kind, rbar_table = search
    rows = np.arange(atoms.k)
    candidates, seen = [], []
    origin = np.zeros(2)
    candidates.append(_line_search(*search, origin, np.array([1.0, 0.0]), seen))
    for point, direction, normal in _boundary_lines(atoms):
        offset = 1e-9 * (1.0 + np.sqrt(point @ point))
        for shift in (0.0, offset, -offset):
            candidates.append(_line_search(*search, point + shift * normal,
                                           direction, seen))
    base = atoms.gate_diff(origin)
    for cells in np.unique(np.vstack(seen), axis=0):
        sizes = np.bincount(cells, minlength=atoms.k0)
        r, _ = _powers(kind, sizes, cells, rbar_table)
        target = _convex_argmin(base[rows, cells], p, r)
        if np.array_equal(atoms.cells(target[None])[0], cells):
            value = _evaluate(atoms, cells, target, *search[1:])["value"]
            candidates.append((value, cells, target))
    best = min(range(len(candidates)), key=lambda c: candidates[c][0])
    return candidates[best][1], candidates[best][2]


def _infimum(atoms, p, log_w_true, kind, rbar_table):
    """Minimise the loss over the gate-slope translation t1: (cells, t1)."""
    d = atoms.beta.shape[1]
    search = (atoms, p, log_w_true, kind, rbar_table)
    if d == 1:
        _, cells, t1 = _line_search(*search, np.zeros(1), np.ones(1))
        return cells, t1
    if d == 2:
        return _planar_infimum(search)
    # d >= 3: exact minimisation along lines, from several starts: no
    # translation, and every translation that aligns a fitted gate slope with a
    # true one (best first).  From each start, repeat until no line improves: the
    # line towards the unconstrained minimiser of the current cells' convex
    # objective, the coordinate axes and directions along cell boundaries.
    align = (atoms.beta[:, None, :] - atoms.beta_true[None, :, :]).reshape(-1, d)
    starts = np.unique(np.vstack([np.zeros((1, d)), align]), axis=0)
    first = [_evaluate(atoms, atoms.cells(t[None])[0], t, *search[1:])["value"]
             for t in starts]
    starts = starts[np.argsort(first, kind="stable")]
    directions = _search_directions(atoms)
    targets, visited = {}, {}
    best_value, best_cells, best_t1 = np.inf, None, None
    for start in starts:
        value, cells, t1 = _descend(search, start, directions, targets, visited)
        if value < best_value:
            best_value, best_cells, best_t1 = value, cells, t1
    return best_cells, best_t1


# ------------------------------------------------------------------ public
def _prepare(G, G_true, kind, translation, metric, rbar):
    kind = _check_choice("kind", kind, KINDS)
    translation = _check_choice("translation", translation, TRANSLATIONS)
    metric = _check_choice("metric", metric, METRICS)
    G, G_true = _check_pair(G, G_true)
    return G, G_true, kind, translation, metric, _RbarTable(rbar)


def _solve(G, G_true, kind, translation, metric, rbar_table):
    atoms = _Atoms(G, G_true, metric)
    log_w_true = np.asarray(G_true.gate_intercept, dtype=float)
    if translation == "reference":
        # The official code's convention: both measures with the reference atom's
        # gate at (0, 0), no infimum.  The true reference is the last atom; the
        # fitted one is the atom that gives the smallest loss, so that the loss
        # does not depend on the order of the fitted atoms (in the official code
        # the last fitted atom is the one started near the true last atom).
        t0 = -float(G_true.gate_intercept[-1])
        best = None
        for r in range(G.n_atoms):
            with np.errstate(over="ignore"):
                p = np.exp(G.gate_intercept - G.gate_intercept[r])
            if not np.all(np.isfinite(p)):
                continue
            t1 = G.gate_coef[r] - G_true.gate_coef[-1]
            cells = atoms.cells(t1[None])[0]
            pieces = _evaluate(atoms, cells, t1, p, log_w_true, kind, rbar_table,
                               t0=t0)
            if best is None or pieces["value"] < best["value"]:
                best = pieces
        return best
    p = np.exp(G.gate_intercept - scipy.special.logsumexp(G.gate_intercept))
    cells, t1 = _infimum(atoms, p, log_w_true, kind, rbar_table)
    return _evaluate(atoms, cells, t1, p, log_w_true, kind, rbar_table)


def voronoi_loss(G, G_true, kind="D2", *, translation="infimum", metric="l1",
                 rbar=None, return_details=False):
    """Voronoi loss D1 (exact-fitted) or D2 (over-fitted) between mixing measures.

    With fitted weights :math:`p_i`, cells :math:`A_j` (see
    :func:`voronoi_cells`), :math:`\\Delta\\beta_{1ij} = \\beta_{1i} -
    \\beta^*_{1j} - t_1`, :math:`\\Delta a_{ij} = a_i - a^*_j`, :math:`\\Delta
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

    Parameters
    ----------
    G : MixingMeasure
        The fitted measure, ``k`` atoms (a dict of the five arrays or a fitted
        :class:`gmoe.GaussianMoERegressor` are accepted too).
    G_true : MixingMeasure
        The true measure, ``k0`` atoms, same number of features.
    kind : {"D1", "D2"}, default="D2"
        D1 uses exponent 1 everywhere; D2 uses :math:`\\bar r(M)` in cells holding
        ``M > 1`` fitted atoms.  They agree when every cell holds one atom.
    translation : {"infimum", "reference"}, default="infimum"
        ``"infimum"``: the fitted weights are normalised,
        :math:`p_i = e^{\\beta_{0i}} / \\sum_l e^{\\beta_{0l}}`, and the infimum over
        :math:`(t_0, t_1)` is taken, the cells being recomputed for every
        :math:`t_1`.  The loss is then invariant under translating the gates of
        either measure and under permuting atoms.  The infimum over :math:`t_0`
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
    """
    G, G_true, kind, translation, metric, rbar_table = _prepare(
        G, G_true, kind, translation, metric, rbar
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
                  rbar=None):
    """Voronoi cells: which true atom each fitted atom approximates.

    .. math::

        A_j = \\{ i : \\|\\theta_i - \\theta^*_j\\| \\le \\|\\theta_i - \\theta^*_l\\|
              \\ \\forall l \\}, \\qquad
        \\theta = (\\beta_1, a, b, \\sigma)

    The gate intercept is the weight, not part of the atom.  The gate slopes are
    compared after a translation :math:`t_1` of the true ones, since a common
    translation of all gate slopes leaves the model unchanged but moves the cells;
    see ``translation``.  A fitted atom equidistant from several true atoms goes
    to the lowest true index.

    Parameters
    ----------
    G : MixingMeasure
        Fitted measure, ``k`` atoms.
    G_true : MixingMeasure
        True measure, ``k0`` atoms.
    metric : {"l1", "l2"}, default="l1"
        ``"l1"``: :math:`\\|\\Delta\\beta_1\\|_1 + \\|\\Delta a\\|_1 + |\\Delta b| +
        |\\Delta\\sigma|`, the choice of the official code of [N23].  ``"l2"``:
        the Euclidean norm of :math:`\\theta_i - \\theta^*_j`, as the paper writes.
    translation : {"infimum", "reference", "none"} or array-like of shape (d,)
        ``"infimum"`` (default): the cells at the translation attaining
        ``voronoi_loss(G, G_true, kind, metric=metric, rbar=rbar)``, i.e. the
        cells that loss uses.  ``"reference"``: the cells of
        ``voronoi_loss(..., translation="reference")`` (official code).
        ``"none"``: the gate slopes as given.  An array: the translation
        :math:`t_1` itself
        (:math:`\\Delta\\beta_{1ij} = \\beta_{1i} - \\beta^*_{1j} - t_1`).
    kind : {"D1", "D2"}, default="D2"
        The loss whose infimum fixes the translation (``"infimum"`` only).
    rbar : mapping, callable or None, default=None
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
    atoms = _Atoms(G, G_true, metric)
    if isinstance(translation, str):
        _check_choice("translation", translation, TRANSLATIONS + ("none",))
        if translation == "infimum":
            kind = _check_choice("kind", kind, KINDS)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UnknownRbarWarning)
                pieces = _solve(G, G_true, kind, translation, metric,
                                _RbarTable(rbar))
            return pieces["cells"]
        if translation == "reference":
            kind = _check_choice("kind", kind, KINDS)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UnknownRbarWarning)
                return _solve(G, G_true, kind, translation, metric,
                              _RbarTable(rbar))["cells"]
        else:
            t1 = np.zeros(G.n_features)
    else:
        t1 = np.asarray(translation, dtype=float)
        if t1.ndim == 0:
            t1 = np.full(G.n_features, float(t1))
        if t1.shape != (G.n_features,) or not np.all(np.isfinite(t1)):
            raise ValueError(
                "translation must be 'infimum', 'reference', 'none' or a finite "
                f"array of shape ({G.n_features},); got {translation!r}."
            )
    return atoms.cells(t1[None])[0]
