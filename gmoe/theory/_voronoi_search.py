"""The infimum of a Voronoi loss over the translation ``t1`` of the gate parts of
the atoms (the softmax gate's slopes) [N23].

The building block is an exact search along a line of translations: the line is
cut into the intervals on which the Voronoi cells do not change, and a convex
function is minimised on each.  One coordinate needs one line; two need the
lines that hold the boundaries between cells; three or more use a multi-start
search made of such lines.  The intercept translation ``t0`` is solved exactly
for each set of cells (:func:`gmoe.theory._voronoi_atoms.best_t0`).
"""

import numpy as np

from gmoe.theory._voronoi_atoms import evaluate, powers

_BISECTION_STEPS = 52
_MAX_SWEEPS = 50
_INSET = 1e-10


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
    upper = evaluate(atoms, cells, base, p, log_w_true, kind, rbar_table)["value"]
    sizes = np.arange(1, max(atoms.k - atoms.k0, 0) + 2)
    Q = float(np.max(rbar_table.powers(kind, sizes)[:, 0]))
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
    """For each row of cells (U, k): the loss without its gate terms, with the
    best t0, and the gate exponents (U, k)."""
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
    E = rbar_table.powers(kind, np.take_along_axis(sizes, cells, axis=1))
    rows = np.arange(k)
    rest = (atoms.db[rows, cells] ** E[..., 1] + atoms.da[rows, cells] ** E[..., 2]
            + atoms.ds[rows, cells] ** E[..., 3])
    return weight + rest @ p, E[..., 0]


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
    value = evaluate(atoms, cells, start, *search[1:])["value"]
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
            r = powers(kind, sizes, cells, rbar_table)[:, 0]
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
        r = powers(kind, sizes, cells, rbar_table)[:, 0]
        target = _convex_argmin(base[rows, cells], p, r)
        if np.array_equal(atoms.cells(target[None])[0], cells):
            value = evaluate(atoms, cells, target, *search[1:])["value"]
            candidates.append((value, cells, target))
    best = min(range(len(candidates)), key=lambda c: candidates[c][0])
    return candidates[best][1], candidates[best][2]


def infimum(atoms, p, log_w_true, kind, rbar_table):
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
    first = [evaluate(atoms, atoms.cells(t[None])[0], t, *search[1:])["value"]
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
