"""Sparse softmax gates: the softmax over the experts a rule selects from the
scores, sample by sample (top-K, top-P).

Their scores are the softmax gate's, ``beta_0i + beta_1i' x``, with the same
gauge; :meth:`active` selects, and the weights outside the selection are 0.  The
likelihood is then piecewise smooth: the engine's EM checks the observed
likelihood at every gate step and moves the selection's boundaries by a compass
search, and its Newton finish works on the piece of the current selections,
holding the samples at the boundaries it must not cross (:mod:`gmoe.engine._pieces`,
:ref:`when a sparse fit converges <theory-sparse-convergence>`).
"""

import numbers

import numpy as np

from gmoe.gates._linear import Softmax


def top_k_mask(scores, top_k):
    """Which experts the top-K sparse softmax gate keeps, sample by sample.

    Parameters
    ----------
    scores : ndarray of shape (n, k)
        Gate scores :math:`s_i(x_n) = \\beta_{0i} + \\beta_{1i}^\\top x_n`.
    top_k : int or None
        ``K``; ``None`` keeps every expert (the dense softmax gate).

    Returns
    -------
    keep : ndarray of shape (n, k), dtype=bool
        True for the ``K`` largest scores of each row.  Ties are broken by the
        lower index: of equal scores the expert with the smaller index is kept
        first (a stable sort of the negated scores).

    Examples
    --------
    >>> import numpy as np
    >>> top_k_mask(np.array([[0.0, 2.0, 1.0, 2.0]]), 2)
    array([[False,  True, False,  True]])
    >>> top_k_mask(np.array([[1.0, 1.0, 1.0]]), 1)
    array([[ True, False, False]])
    """
    scores = np.asarray(scores, dtype=float)
    keep = np.ones(scores.shape, dtype=bool)
    if top_k is None or top_k >= scores.shape[1]:
        return keep
    order = np.argsort(-scores, axis=1, kind="stable")
    keep[:] = False
    np.put_along_axis(keep, order[:, :top_k], True, axis=1)
    return keep


class TopK(Softmax):
    """The top-K sparse softmax gate [N24k]_: the softmax of the ``k`` largest
    scores, 0 for the other experts (ties to the lower index).

    ``GaussianMoERegressor(top_k=K)`` is the shorthand of ``gate=TopK(K)``.

    Parameters
    ----------
    k : int
        Experts kept per sample, at least 1.

    References
    ----------
    .. [N24k] H. Nguyen, P. Akbarian, F. Yan, N. Ho, "Statistical Perspective of
       Top-K Sparse Softmax Gating Mixture of Experts", ICLR 2024.

    Examples
    --------
    >>> import numpy as np
    >>> gate = TopK(1)
    >>> np.exp(gate.log_weights(np.array([[1.0]]), np.array([[0.0, 1.0],
    ...                                                      [0.0, 0.0]])))
    array([[1., 0.]])
    """

    name = "top_k"
    sparse = True

    def __init__(self, k=2):
        self.k = k

    def check_data(self, X):
        if (isinstance(self.k, bool) or not isinstance(self.k, numbers.Integral)
                or self.k < 1):
            raise ValueError(f"TopK(k) needs an integer k >= 1; got {self.k!r}.")

    def active(self, S):
        return top_k_mask(S, int(self.k))

    def selection(self):
        return ("top_k", int(self.k))

    def boundary(self, S, towards=None):
        """The tie of the ``K``-th and ``(K+1)``-th scores: margin ``s_(K) -
        s_(K+1)``; across it the two experts swap.  With ``towards``, the swap
        on the way to that selection: its leaving expert of lowest score with
        its entering one of highest score."""
        S = np.asarray(S, dtype=float)
        n, k = S.shape
        keep = self.active(S)
        if int(self.k) >= k:
            return np.full(n, np.inf), np.zeros((n, k)), keep
        rows = np.arange(n)
        leaving, entering = keep, ~keep
        if towards is not None:
            moved = np.any(towards != keep, axis=1, keepdims=True)
            leaving = np.where(moved, keep & ~towards, keep)
            entering = np.where(moved, towards & ~keep, ~keep)
        # the lowest kept score (the last of equal ones, as the tie rule keeps
        # the lower index) and the highest left out (the first of equal ones)
        inside = np.where(leaving, S, np.inf)
        last_in = k - 1 - np.argmin(inside[:, ::-1], axis=1)
        first_out = np.argmax(np.where(entering, S, -np.inf), axis=1)
        margin = S[rows, last_in] - S[rows, first_out]
        dmargin = np.zeros((n, k))
        dmargin[rows, last_in] = 1.0
        dmargin[rows, first_out] = -1.0
        other = keep.copy()
        other[rows, last_in] = False
        other[rows, first_out] = True
        return margin, dmargin, other

    def __repr__(self):
        return f"TopK(k={self.k})"


class TopP(Softmax):
    """The top-P gate: per sample, the softmax over the smallest set of experts
    whose dense softmax weights add up to at least ``p``, 0 for the others.

    The experts enter the set by decreasing score (ties to the lower index) until
    their dense weights reach ``p``; ``p = 1`` keeps every expert (up to the
    experts whose weight underflows), a small ``p`` only the best one (top-1).
    Like top-K it is the softmax gate on each piece of covariate space where the
    sets are fixed, with the softmax gate's gauge.

    Parameters
    ----------
    p : float
        In (0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> gate = TopP(0.7)
    >>> S = np.log(np.array([[0.5, 0.3, 0.2]]))
    >>> gate.active(S)
    array([[ True,  True, False]])
    >>> np.exp(gate.log_weights(np.array([[0.0]]),
    ...                         np.column_stack([S[0], np.zeros(3)]))).round(3)
    array([[0.625, 0.375, 0.   ]])
    """

    name = "top_p"
    sparse = True

    def __init__(self, p=0.9):
        self.p = p

    def check_data(self, X):
        if (isinstance(self.p, bool) or not isinstance(self.p, numbers.Real)
                or not 0 < self.p <= 1):
            raise ValueError(f"TopP(p) needs 0 < p <= 1; got {self.p!r}.")

    def active(self, S):
        S = np.asarray(S, dtype=float)
        order = np.argsort(-S, axis=1, kind="stable")
        ranked = np.take_along_axis(S, order, axis=1)
        weights = np.exp(ranked - ranked[:, :1])
        weights /= weights.sum(axis=1, keepdims=True)
        before = np.cumsum(weights, axis=1) - weights
        # an expert enters while the weight of those before it is short of p
        keep_ranked = before < self.p
        keep = np.zeros(S.shape, dtype=bool)
        np.put_along_axis(keep, order, keep_ranked, axis=1)
        return keep

    def selection(self):
        return ("top_p", float(self.p))

    def boundary(self, S, towards=None):
        """The nearest of three boundaries, in dense weight (the scores' units
        for the swap): the set shrinks when the weight of all but its last
        expert reaches ``p`` (margin ``p - W_(m-1)``), grows when its weight
        falls below ``p`` (margin ``W_m - p``), and its last expert swaps with
        the next one at a tie (margin ``s_(m) - s_(m+1)``).  With ``towards``,
        the boundary of that kind on the way to that selection (a smaller set,
        a larger one, or one as large) where it differs."""
        S = np.asarray(S, dtype=float)
        n, k = S.shape
        rows = np.arange(n)
        keep = self.active(S)
        pi = np.exp(S - S.max(axis=1, keepdims=True))
        pi /= pi.sum(axis=1, keepdims=True)
        order = np.argsort(-S, axis=1, kind="stable")
        size = keep.sum(axis=1)
        last = order[rows, size - 1]
        nxt = order[rows, np.minimum(size, k - 1)]
        weight = np.sum(np.where(keep, pi, 0.0), axis=1)

        def dweight(mask):
            # d(sum_{i in mask} pi_i) / ds_j = pi_j ([j in mask] - sum_{mask} pi)
            return pi * (mask - np.sum(np.where(mask, pi, 0.0), axis=1)[:, None])

        without_last = keep.copy()
        without_last[rows, last] = False
        with_next = keep.copy()
        with_next[rows, nxt] = True
        swapped = without_last.copy()
        swapped[rows, nxt] = True
        full = size >= k
        shrink = np.where(size > 1, self.p - (weight - pi[rows, last]), np.inf)
        grow = np.where(full, np.inf, weight - self.p)
        swap = np.where(full, np.inf, S[rows, last] - S[rows, nxt])
        choice = np.argmin(np.column_stack([shrink, grow, swap]), axis=1)
        if towards is not None:
            moved = np.any(towards != keep, axis=1)
            kind = np.sign(towards.sum(axis=1) - size) % 3  # 2: smaller, 1: larger
            choice = np.where(moved, np.choose(kind, [2, 1, 0]), choice)
        margin = np.choose(choice, [shrink, grow, swap])
        dswap = np.zeros((n, k))
        dswap[rows, last] = 1.0
        dswap[rows, nxt] = -1.0
        dmargin = np.choose(choice[:, None],
                            [-dweight(without_last), dweight(keep), dswap])
        other = np.choose(choice[:, None], [without_last, with_next, swapped])
        return margin, dmargin, other.astype(bool)

    def __repr__(self):
        return f"TopP(p={self.p})"
