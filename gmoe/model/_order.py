"""Answers that must not depend on the processor: ties between optima, and the
canonical order of experts.

Round-off differs between processors (vector widths, fused multiply-add, the
BLAS kernel chosen at run time), so two starts that reach the same optimum end
with objectives that differ in their last bits, and a fit's experts come out in
whichever order the winning start happened to have.  Two rules remove both:

- **Ties by tolerance.**  Two objectives (log-likelihoods, in nats) count as the
  same optimum when they differ by at most :data:`OBJECTIVE_RTOL` times
  ``max(|a|, |b|, total sample weight)``; among equal optima the EARLIER start
  wins (:func:`improves`, :func:`rank_fits`).
- **A canonical order of experts** (:func:`canonical_expert_order`): by
  increasing data share, so that the last expert, the gate's reference (its
  gate row is zero), is the largest, the best-determined baseline for the
  gate's log-odds; ties by increasing expert intercept, then slopes, then
  variance, each compared with a tolerance.

Why 1e-9: a log-likelihood is a sum of ``n`` per-sample terms of order one (the
response is standardised), whose round-off is far below 1e-12 of the total,
and a certified fit (gradient per sample below ``gtol = 1e-8``) lies within
about ``gtol**2`` per sample of its maximum; two optima closer than 1e-9 per
sample (1e-3 nats at n = 1e6, 1e-7 nats at n = 100) cannot be told apart by any
likelihood-ratio statistic.
"""

import functools

import numpy as np

#: Relative tolerance under which two objectives are the same optimum.
OBJECTIVE_RTOL = 1e-9

#: Two ends of a search are the same optimum, for the choice of the ends the
#: moves start from and for a sparse fit's certified replacement of an
#: uncertified end, when both are regular or both are not and their objectives
#: differ by at most this times the total sample weight: looser than
#: :data:`OBJECTIVE_RTOL`, since runs that stop on a ridge short of the same
#: maximum differ by more than that.
SAME_END_RTOL = 1e-6

#: Data shares (which sum to one) closer than this are tied; the intercept
#: decides.
SHARE_ATOL = 1e-6

#: Expert parameters are compared with this relative tolerance (relative to
#: ``max(1, |a|, |b|)``) when they break a tie of shares.
PARAMETER_RTOL = 1e-6


def _objective_tolerance(a, b, scale):
    return OBJECTIVE_RTOL * max(abs(a), abs(b), scale)


def improves(candidate, incumbent, scale=1.0):
    """Whether objective ``candidate`` beats ``incumbent`` beyond the tie
    tolerance.

    Parameters
    ----------
    candidate, incumbent : float
        Objectives to maximise (``incumbent`` may be None: anything beats it).
    scale : float, default=1.0
        The objective's natural scale, the total sample weight for a
        log-likelihood.

    Returns
    -------
    bool
        True when ``candidate > incumbent + OBJECTIVE_RTOL * max(|candidate|,
        |incumbent|, scale)``.

    Examples
    --------
    >>> improves(-100.0 + 1e-10, -100.0, scale=50)
    False
    >>> improves(-100.0 + 1e-3, -100.0, scale=50)
    True
    """
    if incumbent is None:
        return True
    return candidate > incumbent + _objective_tolerance(candidate, incumbent, scale)


def better_fit(candidate, incumbent, scale=1.0):
    """Whether fit ``candidate`` beats ``incumbent``; each is a pair
    ``(regular, objective)`` (or ``incumbent`` None).

    A regular fit beats an irregular one; between fits of the same regularity,
    the objective decides through :func:`improves`, so that an equal optimum
    never replaces the incumbent (the earlier start wins).

    Examples
    --------
    >>> better_fit((True, -10.0), (False, -5.0))
    True
    >>> better_fit((True, -5.0 + 1e-12), (True, -5.0))
    False
    """
    if incumbent is None:
        return True
    if candidate[0] != incumbent[0]:
        return bool(candidate[0])
    return improves(candidate[1], incumbent[1], scale)


def rank_fits(regular, objectives, scale=1.0):
    """Order of fits, best first: regular fits first, then by decreasing
    objective, with objectives within the tie tolerance of each other kept in
    their original order.

    Parameters
    ----------
    regular : array-like of shape (m,), dtype=bool
    objectives : array-like of shape (m,)
    scale : float, default=1.0
        See :func:`improves`.

    Returns
    -------
    order : list of int

    Examples
    --------
    >>> rank_fits([True, True, True, False], [-3.0, -1.0, -1.0 + 1e-13, 0.0])
    [1, 2, 0, 3]
    """
    regular = [bool(r) for r in regular]
    objectives = [float(v) for v in objectives]
    order = sorted(range(len(objectives)),
                   key=lambda i: (not regular[i], -objectives[i], i))
    ranked, group = [], []
    for i in order:
        if group and (regular[i] != regular[group[0]] or improves(
                objectives[group[-1]], objectives[i], scale)):
            ranked.extend(sorted(group))
            group = []
        group.append(i)
    ranked.extend(sorted(group))
    return ranked


def _close(a, b, rtol):
    return abs(a - b) <= rtol * max(1.0, abs(a), abs(b))


def canonical_expert_order(share, coef, variance, *, fixed_last=False):
    """The canonical order of experts: increasing data share, ties by the expert
    parameters.

    Expert ``i`` comes before expert ``j`` when its share is smaller by more than
    :data:`SHARE_ATOL`, so that the last expert (the gate's reference) has the
    largest share; shares closer than that are tied and the expert rows
    decide, compared column by column (intercept first, then the slopes, then
    the variance), each with the relative tolerance :data:`PARAMETER_RTOL`: the
    smaller value comes first.  Experts equal in all of these keep their order.

    Parameters
    ----------
    share : ndarray of shape (k,)
        Data share of each expert (for a fit, ``expert_weight_``).
    coef : ndarray of shape (k, p)
        Expert rows, intercept first (``(b_i, a_i)``).
    variance : ndarray of shape (k,)
        Expert variances.
    fixed_last : bool, default=False
        Keep the last expert last and order the others: for objectives that
        depend on which expert is the gate's reference (a gate penalty or bound
        written in the reference form).

    Returns
    -------
    order : ndarray of shape (k,), dtype=int
        Expert ``order[j]`` becomes expert ``j``.

    Examples
    --------
    >>> import numpy as np
    >>> canonical_expert_order(np.array([0.2, 0.5, 0.3]), np.zeros((3, 2)),
    ...                        np.ones(3))
    array([0, 2, 1])
    >>> canonical_expert_order(np.array([0.5, 0.5]), np.array([[2.0], [-1.0]]),
    ...                        np.ones(2))
    array([1, 0])
    """
    share = np.asarray(share, dtype=float)
    keys = np.column_stack([np.asarray(coef, dtype=float),
                            np.asarray(variance, dtype=float)])

    def compare(i, j):
        if abs(share[i] - share[j]) > SHARE_ATOL:
            return -1 if share[i] < share[j] else 1
        for a, b in zip(keys[i], keys[j], strict=True):
            if not _close(a, b, PARAMETER_RTOL):
                return -1 if a < b else 1
        return i - j

    movable = range(share.size - 1 if fixed_last else share.size)
    order = sorted(movable, key=functools.cmp_to_key(compare))
    if fixed_last:
        order.append(share.size - 1)
    return np.array(order, dtype=int)


def canonical_rows(X, y, sample_weight):
    """The data as a weighted set of distinct rows, in a canonical order.

    Rows of weight zero are dropped; equal rows ``(x, y)`` are merged into one
    whose weight is the sum of theirs; the rows are sorted by y, then by the
    features in turn.  A fit on the result depends on the data only through
    their weighted empirical measure: it is the same for shuffled rows, and for
    integer weights and the rows repeated that many times.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    sample_weight : ndarray of shape (n_samples,)
        Non-negative.

    Returns
    -------
    X, y, sample_weight : ndarray
        The distinct rows of positive weight (``m <= n_samples`` of them).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0], [0.0], [1.0], [2.0]])
    >>> Xc, yc, wc = canonical_rows(X, np.array([5.0, 3.0, 5.0, 3.0]),
    ...                             np.array([1.0, 1.0, 2.0, 0.0]))
    >>> Xc.ravel(), yc, wc
    (array([0., 1.]), array([3., 5.]), array([1., 3.]))
    """
    keep = sample_weight > 0
    if not keep.all():
        X, y, sample_weight = X[keep], y[keep], sample_weight[keep]
    order = np.argsort(y, kind="stable")
    if np.any(y[order][1:] == y[order][:-1]):
        order = np.lexsort(tuple(X.T[::-1]) + (y,))
    X, y, sample_weight = X[order], y[order], sample_weight[order]
    if X.shape[0] < 2:
        return X, y, sample_weight
    same = (y[1:] == y[:-1]) & np.all(X[1:] == X[:-1], axis=1)
    if not same.any():
        return np.ascontiguousarray(X), y, sample_weight
    first = np.flatnonzero(np.concatenate([[True], ~same]))
    return (np.ascontiguousarray(X[first]), y[first],
            np.add.reduceat(sample_weight, first))
