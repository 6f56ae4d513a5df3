"""The load-balancing penalty: the divergence of the mean gate weights from
uniform.

With ``k`` experts, sample weights ``w_n`` (total ``W``) and gate weights
``pi_ni``, the mean gate weights (the experts' loads) are ``P_i = (1/W) sum_n
w_n pi_ni``, and the penalty, in the totals of the log-likelihood, is

.. math::

    \\mathrm{pen}(\\theta) = \\alpha W \\, \\mathrm{KL}(P \\,\\|\\, u)
        = \\alpha W \\sum_i P_i \\log(k P_i),

so that the fit maximises ``loglik / W - alpha KL(P || u)`` per unit of weight:
one ``alpha`` means the same at every sample size.  ``KL(P || u)`` is smooth in
the gate parameters, zero exactly at equal loads, convex in ``P`` and at most
``log k`` (all the weight on one expert).

It stands in for the Switch Transformer's auxiliary loss ``alpha k sum_i f_i
P_i`` (Fedus, Zoph and Shazeer, JMLR 23(120), 2022), whose shares ``f_i`` of
samples routed first to expert ``i`` are piecewise constant in the
parameters.  The quadratic ``k sum_i P_i^2 - 1`` (``f`` replaced by ``P``) has
the same minimiser and near balance ``KL = (k sum_i P_i^2 - 1) / 2 + O(|P -
u|^3)``; but it reaches ``k - 1`` where KL reaches ``log k`` (neither scale is
free of ``k``; KL's grows far more slowly), and its slope in ``P_i`` stays
finite as ``P_i -> 0`` where KL's, ``log(k P_i) + 1``, does not.

Derivatives, with ``S_i = W P_i``, ``c_i = log(k P_i)``, ``D1_ni`` the
derivative of expert ``i``'s score with respect to its own block
(:meth:`gmoe.gates.Gate.score_derivatives`), ``D2_ni`` the second one, and
``e_ni = c_i - sum_j pi_nj c_j``:

- ``T_ij = sum_n w_n pi_ni (delta_ij - pi_nj) D1_nj`` (``= W dP_i / d theta_j``);
- gradient over block ``j``: ``alpha sum_i c_i T_ij = alpha sum_n w_n pi_nj
  e_nj D1_nj`` (the ``+1`` of ``d (P log kP) / dP`` drops out: the loads sum
  to one);
- Hessian between blocks ``j`` and ``l``:
  ``alpha [sum_i T_ij T_il' / S_i + sum_n w_n (M_njl D1_nj D1_nl' + delta_jl
  pi_nj e_nj D2_nj)]`` with ``M_njl = delta_jl pi_nj e_nj - pi_nj pi_nl (e_nj +
  e_nl)``; its first term (the curvature of KL in ``P`` carried to the
  parameters) is positive semi-definite, and is what the EM gate step adds to
  the information of its Fisher scoring.

A sparse gate's loads jump where a sample's selection changes; the penalty is
defined for dense gates only.
"""

import numpy as np

from gmoe.gates import log_softmax_active

#: Samples per chunk of a pass (bounds the memory of the derivative arrays).
CHUNK = 65536


def _chunks(n):
    for lo in range(0, n, CHUNK):
        yield slice(lo, min(lo + CHUNK, n))


def _weights(gate, S):
    """Gate weights from the scores ``S`` (n, k): the softmax over each
    sample's active experts (all of them for a dense gate)."""
    active = gate.active(S)
    if active is not None:
        return np.exp(log_softmax_active(S, active))
    # expert by expert: reductions across a few columns are slow in numpy
    pi = np.array(S, dtype=float, order="F")
    top = pi[:, 0].copy()
    for j in range(1, pi.shape[1]):
        np.maximum(top, pi[:, j], out=top)
    pi -= top[:, None]
    np.exp(pi, out=pi)
    total = pi[:, 0].copy()
    for j in range(1, pi.shape[1]):
        total += pi[:, j]
    pi /= total[:, None]
    return np.ascontiguousarray(pi)


def gate_loads(gate, Z, w, blocks):
    """Weighted sums of the gate weights, ``S_i = sum_n w_n pi_i(z_n)``, (k,).

    Examples
    --------
    >>> import numpy as np
    >>> from gmoe.gates import Constant
    >>> gate_loads(Constant(), np.zeros((4, 1)), np.ones(4),
    ...            np.array([[np.log(3.0)], [0.0]])).round(6)
    array([3., 1.])
    """
    load = np.zeros(blocks.shape[0])
    for rows in _chunks(Z.shape[0]):
        load += w[rows] @ _weights(gate, gate.scores(Z[rows], blocks))
    return load


def balance_divergence(load):
    """``KL(P || u) = sum_i P_i log(k P_i)`` of the loads ``load`` (k,)
    (normalised here to sum to one; a zero load adds 0).

    Examples
    --------
    >>> import numpy as np
    >>> float(balance_divergence(np.array([2.0, 2.0])))
    0.0
    >>> bool(np.isclose(balance_divergence(np.array([1.0, 0.0, 0.0])), np.log(3)))
    True
    """
    P = np.asarray(load, dtype=float) / np.sum(load)
    k = P.shape[0]
    safe = np.where(P > 0, P, 1.0)
    return float(np.sum(np.where(P > 0, P * np.log(k * safe), 0.0)))


def balance_terms(gate, Z, w, blocks, alpha, order=0, load=None):
    """The penalty ``alpha W KL(P || u)`` and its derivatives over the blocks.

    Parameters
    ----------
    gate : gmoe.gates.Gate
        A dense gate.
    Z : ndarray of shape (n, d)
        The gate's features.
    w : ndarray of shape (n,)
        Sample weights.
    blocks : ndarray of shape (k, m)
    alpha : float
        Non-negative.
    order : {0, 1, 2}
        0: the value; 1: also the gradient and the positive semi-definite part
        of the Hessian; 2: also the exact Hessian.
    load : ndarray of shape (k,) or None
        :func:`gate_loads` at ``blocks`` when known (None: computed here).

    Returns
    -------
    value : float
    grad : ndarray of shape (k, m) or None
    info : ndarray of shape (k, k, m, m) or None
        ``alpha sum_i T_i T_i' / S_i`` (block ``j``, block ``l``): positive
        semi-definite.
    hess : ndarray of shape (k, k, m, m) or None
        The exact Hessian (``order == 2``).

    Examples
    --------
    >>> import numpy as np
    >>> from gmoe.gates import Softmax
    >>> Z = np.linspace(-1, 1, 5)[:, None]
    >>> blocks = np.array([[0.0, 1.0], [0.0, 0.0]])
    >>> value, grad, info, hess = balance_terms(Softmax(), Z, np.ones(5), blocks,
    ...                                         1.0, order=2)
    >>> round(value, 10), grad.shape, hess.shape
    (0.0, (2, 2), (2, 2, 2, 2))
    """
    k, m = blocks.shape
    if load is None:
        load = gate_loads(gate, Z, w, blocks)
    total = float(np.sum(w))
    value = alpha * total * balance_divergence(load)
    if order == 0:
        return value, None, None, None
    P = load / total
    c = np.log(k * np.maximum(P, np.finfo(float).tiny))
    T = np.zeros((k, k, m))
    data = np.zeros((k, k, m, m))
    for rows in _chunks(Z.shape[0]):
        S, D1, D2 = gate.score_derivatives(Z[rows], blocks, order=order)
        pi = _weights(gate, S)
        n = pi.shape[0]
        wp = w[rows, None] * pi
        right = (pi[:, :, None] * D1).reshape(n, k * m)
        T -= (wp.T @ right).reshape(k, k, m)
        T[np.arange(k), np.arange(k)] += (w[rows] @ right).reshape(k, m)
        if order >= 2:
            e = c[None, :] - (pi @ c)[:, None]
            A = wp * e
            left = (A[:, :, None] * D1).reshape(n, k * m)
            cross = left.T @ right
            cross = cross + cross.T
            data -= cross.reshape(k, m, k, m).transpose(0, 2, 1, 3)
            for j in range(k):
                data[j, j] += left.reshape(n, k, m)[:, j].T @ D1[:, j]
                if D2 is not None:
                    data[j, j] += (A[:, j] @ D2[:, j].reshape(n, m * m)).reshape(m, m)
    grad = alpha * np.einsum("i,ija->ja", c, T)
    inverse = np.divide(1.0, load, out=np.zeros(k), where=load > 0)
    info = alpha * np.einsum("i,ija,ilb->jlab", inverse, T, T)
    hess = info + alpha * data if order >= 2 else None
    return value, grad, info, hess


def balance_slopes(gate, Z, w, blocks, alpha, rows):
    """``alpha pi_ni e_ni`` on the samples ``rows``, shape (len(rows), k): the
    coefficient of ``w_n D1_ni`` in the penalty's gradient over block ``i``
    (``e_ni = c_i - sum_j pi_nj c_j``, ``c = log(k P)`` of all the samples).

    Examples
    --------
    >>> import numpy as np
    >>> from gmoe.gates import Constant
    >>> balance_slopes(Constant(), np.zeros((3, 1)), np.ones(3), np.zeros((2, 1)),
    ...                1.0, [0])
    array([[0., 0.]])
    """
    k = blocks.shape[0]
    P = gate_loads(gate, Z, w, blocks) / float(np.sum(w))
    c = np.log(k * np.maximum(P, np.finfo(float).tiny))
    pi = _weights(gate, gate.scores(Z[rows], blocks))
    return alpha * pi * (c[None, :] - (pi @ c)[:, None])


class BalanceTerms:
    """:func:`balance_terms` on one data set, the last blocks' kept: EM asks
    for the value at a candidate, then for the derivatives at the same blocks.

    Examples
    --------
    >>> import numpy as np
    >>> from gmoe.gates import Constant
    >>> terms = BalanceTerms(Constant(), np.zeros((4, 1)), np.ones(4))
    >>> blocks = np.array([[np.log(3.0)], [0.0]])
    >>> value = terms(blocks, 0, 1.0)[0]
    >>> bool(np.isclose(value, 4 * (0.75 * np.log(1.5) + 0.25 * np.log(0.5))))
    True
    """

    def __init__(self, gate, Z, w):
        self.gate, self.Z, self.w = gate, Z, w
        self._last = None

    def __call__(self, blocks, order, alpha):
        """``balance_terms(gate, Z, w, blocks, alpha, order)``."""
        key = (np.ascontiguousarray(blocks).tobytes(), float(alpha))
        load = None
        if self._last is not None and self._last[0] == key:
            if self._last[1] >= order:
                return self._last[2]
            load = self._last[3]
        if load is None:
            load = gate_loads(self.gate, self.Z, self.w, blocks)
        terms = balance_terms(self.gate, self.Z, self.w, blocks, alpha, order, load)
        self._last = (key, order, terms, load)
        return terms


__all__ = ["BalanceTerms", "balance_divergence", "balance_slopes", "balance_terms",
           "gate_loads"]
