"""How the compiled passes get a gate's scores (:class:`GateSource`): the
score forms the kernels compute themselves (:data:`FORMS`), the selections of
the sparse gates (:data:`SELECTIONS`), and the chunk of scores and first
derivatives every pass of :mod:`gmoe.kernels._scores` starts from.
"""

import math
from typing import NamedTuple

import numpy as np

from gmoe.kernels._distance import (
    _cosine_chunk,
    _laplace_chunk,
)
from gmoe.kernels._em import (
    _exp_nonpositive,
    _linear_predictors,
    _load_chunk,
    _softmax_columns,
    _top_k_mask,
)
from gmoe.kernels._numba_config import CHUNK_SIZE, jit, jit_inline

#: Links of the linear-predictor gates, by name: the code the kernels take.
LINKS = {"identity": 0, "log_sigmoid": 1}
#: Every score form the kernels compute themselves, by name: the code they take.
FORMS = {**LINKS, "cosine": 2, "laplace": 3}

#: Selections of the sparse gates, by name (:meth:`gmoe.gates.Gate.selection`):
#: the code the kernels take; the selection's parameter is ``K`` for top-K and
#: ``p`` for top-P.
SELECTIONS = {None: 0, "top_k": 1, "top_p": 2}


#: ``2 / (2 i + 1)`` for ``i = 10, ..., 0``: the series of :func:`_log1p_unit`.
LOG1P_SERIES = np.array([2.0 / (2 * i + 1) for i in range(10, -1, -1)])
LN2 = math.log(2.0)


@jit_inline
def _log1p_unit(e):
    """``log(1 + e)`` for ``0 <= e <= 1``, within 2 ulps, in a form the compiler
    vectorises (the library's ``log1p`` is a call per number).

    ``log(1 + e) = 2 atanh(s)`` with ``s = e / (2 + e)``, or ``log 2 + 2
    atanh(s)`` with ``s = (e - 1) / (e + 3)`` above ``sqrt(2) - 1``, so that
    ``|s| <= 0.1716``: eleven terms of ``2 (s + s^3 / 3 + s^5 / 5 + ...)`` then
    leave less than 1e-18.
    """
    big = e > 0.41421356237309503
    s = (e - 1.0) / (e + 3.0) if big else e / (2.0 + e)
    s2 = s * s
    poly = LOG1P_SERIES[0]
    for c in range(1, LOG1P_SERIES.shape[0]):
        poly = poly * s2 + LOG1P_SERIES[c]
    return (LN2 if big else 0.0) + s * poly


#: No groups: the softmax over every expert (:class:`GateSource`).
NO_GROUPS = (np.zeros(0, dtype=np.int64), np.zeros(0))


class GateSource(NamedTuple):
    """A gate as the kernels take it (see the module docstring); the fields of
    the unused form are empty arrays.  ``link`` is the code of a compiled form
    (:data:`FORMS`), ``constant`` its constant (0 if it has none).  ``group``
    (k,) and ``log_mass`` (G,) are the groups of a gate normalised in groups of
    fixed masses (:meth:`gmoe.gates.Gate.groups`), empty for one group."""

    S: np.ndarray
    D1: np.ndarray
    D2: np.ndarray
    Zt: np.ndarray
    blocks: np.ndarray
    link: int
    select: int
    select_param: float
    marginal: int = 0
    constant: float = 0.0
    group: np.ndarray = NO_GROUPS[0]
    log_mass: np.ndarray = NO_GROUPS[1]


def _selection_codes(selection):
    """``(code, parameter)`` of a gate's selection (None: a dense gate)."""
    if selection is None:
        return 0, 0.0
    name, parameter = selection
    return SELECTIONS[name], float(parameter)


def linear_source(Zt, blocks, link, selection=None, marginal=False):
    """A linear-predictor gate: design ``Zt`` (n, m), ``blocks`` (k, m), ``link``
    a name of :data:`LINKS`, ``selection`` None or ``(name, parameter)`` with a
    name of :data:`SELECTIONS`; ``marginal`` for a gate with an x-marginal."""
    k, m = blocks.shape
    return GateSource(np.zeros((0, k)), np.zeros((0, k, m)), np.zeros((0, k, m, m)),
                      np.ascontiguousarray(Zt, dtype=np.float64),
                      np.ascontiguousarray(blocks, dtype=np.float64), LINKS[link],
                      *_selection_codes(selection), int(marginal))


def _group_arrays(groups):
    if groups is None:
        return NO_GROUPS
    return (np.ascontiguousarray(groups[0], dtype=np.int64),
            np.ascontiguousarray(groups[1], dtype=np.float64))


def compiled_source(Zt, blocks, form, constant=0.0, selection=None, marginal=False,
                    groups=None):
    """A gate whose scores the kernels compute: ``Zt`` (n, d'), ``blocks``
    (k, m), ``form`` a name of :data:`FORMS` with its ``constant``; ``selection``
    and ``marginal`` as in :func:`linear_source`; ``groups`` None or ``(group,
    log_mass)`` of :meth:`gmoe.gates.Gate.groups`.

    ``Zt`` is the design of a linear predictor (``d' = m``), the covariates of
    the cosine and Laplace scores (``m = d' + 1``).

    Examples
    --------
    >>> import numpy as np
    >>> source = compiled_source(np.array([[3.0, 4.0]]), np.zeros((2, 3)),
    ...                          "cosine", 0.1)
    >>> source.link, source.constant, source.Zt.shape
    (2, 0.1, (1, 2))
    """
    k, m = blocks.shape
    return GateSource(np.zeros((0, k)), np.zeros((0, k, m)), np.zeros((0, k, m, m)),
                      np.ascontiguousarray(Zt, dtype=np.float64),
                      np.ascontiguousarray(blocks, dtype=np.float64), FORMS[form],
                      *_selection_codes(selection), int(marginal), float(constant),
                      *_group_arrays(groups))


def array_source(S, D1, D2=None, selection=None, marginal=False, groups=None):
    """A gate given by its scores ``S`` (n, k) and derivatives ``D1`` (n, k, m)
    (or shape (0, k, m) for the log-likelihood pass, which reads the scores
    only), ``D2`` (n, k, m, m) or None (scores linear in the blocks);
    ``selection`` and ``marginal`` as in :func:`linear_source`, ``groups`` as in
    :func:`compiled_source`."""
    k, m = D1.shape[1:]
    D2 = np.zeros((0, k, m, m)) if D2 is None else D2
    return GateSource(np.ascontiguousarray(S, dtype=np.float64),
                      np.ascontiguousarray(D1, dtype=np.float64),
                      np.ascontiguousarray(D2, dtype=np.float64),
                      np.zeros((0, m)), np.zeros((k, m)), 0,
                      *_selection_codes(selection), int(marginal), 0.0,
                      *_group_arrays(groups))


@jit_inline
def _top_p_mask(Z, mc, p, KEEP, BEST, ARG, TOTAL, CUM):
    """Keep, in each of the first ``mc`` columns of the scores ``Z`` (k, .), the
    smallest set of largest scores whose dense softmax weights reach ``p``; set
    the others to ``-inf``.  The experts enter by decreasing score (the first of
    equal maxima first, as a stable sort) while the weight of those already in
    is short of ``p``.  ``BEST``, ``TOTAL``, ``CUM`` (float) and ``ARG`` (int)
    of length ``mc`` are scratch."""
    k = Z.shape[0]
    for j in range(mc):
        BEST[j] = Z[0, j]
    for i in range(1, k):
        for j in range(mc):
            BEST[j] = max(BEST[j], Z[i, j])
    for j in range(mc):
        TOTAL[j] = 0.0
        CUM[j] = 0.0
    for i in range(k):
        for j in range(mc):
            KEEP[i, j] = 0.0
            TOTAL[j] += _exp_nonpositive(Z[i, j] - BEST[j])
    # TOTAL is the softmax normaliser relative to the top score, which BEST
    # held; now BEST is the next score to take
    top = np.empty(mc)
    for j in range(mc):
        top[j] = BEST[j]
    for _ in range(k):
        for j in range(mc):
            BEST[j] = -np.inf
            ARG[j] = -1
        for i in range(k):
            for j in range(mc):
                if KEEP[i, j] == 0.0 and Z[i, j] > BEST[j]:
                    BEST[j] = Z[i, j]
                    ARG[j] = i
        for j in range(mc):
            if ARG[j] >= 0 and CUM[j] < p:
                KEEP[ARG[j], j] = 1.0
                CUM[j] += _exp_nonpositive(BEST[j] - top[j]) / TOTAL[j]
    for i in range(k):
        for j in range(mc):
            if KEEP[i, j] == 0.0:
                Z[i, j] = -np.inf


@jit_inline
def _select(ST, mc, select, select_param, KEEP, BEST, ARG, TOTAL, CUM):
    """Apply a sparse gate's selection (:data:`SELECTIONS`) to the scores of a
    chunk; nothing for a dense gate."""
    if select == 1:
        _top_k_mask(ST, mc, int(select_param), KEEP, BEST, ARG)
    elif select == 2:
        _top_p_mask(ST, mc, select_param, KEEP, BEST, ARG, TOTAL, CUM)


# ------------------------------------------------------- E-step, chunk by chunk
@jit
def _gate_chunk(S, D1, Zt, blocks, link, constant, lo, mc, order, ZT, ST, D1T, AUX):
    """The scores ``ST`` (k, mc) and, with ``order >= 1``, their derivatives
    ``D1T`` (k, m, mc) of the chunk of ``mc`` samples starting at ``lo``,
    transposed (samples last, so that the loops over them are vectorised).  A
    linear predictor's derivatives ``h'(eta_i) z`` are written out for the
    Hessian only (``order == 2``): the gate moments read the design ``ZT`` and
    ``h'`` themselves.
    ``AUX`` (k, mc) receives what a compiled form's second derivatives need
    (``order == 2``; :mod:`gmoe.kernels._distance`), and the log-sigmoid link's
    first derivative ``sigma(-eta)`` (``order >= 1``)."""
    k, m = D1T.shape[0], D1T.shape[1]
    if Zt.shape[0] == 0:
        for i in range(k):
            for j in range(mc):
                ST[i, j] = S[lo + j, i]
            if D1.shape[0] == 0 or order == 0:
                continue  # scores only (the log-likelihood pass)
            for a in range(m):
                for j in range(mc):
                    D1T[i, a, j] = D1[lo + j, i, a]
        return
    _load_chunk(Zt, lo, mc, ZT)
    if link == 2:
        _cosine_chunk(blocks, constant, mc, order, ZT, ST, D1T, AUX)
        return
    if link == 3:
        _laplace_chunk(blocks, constant, mc, order, ZT, ST, D1T, AUX)
        return
    _linear_predictors(blocks, ZT, mc, ST)
    for i in range(k):
        if link == 1:
            for j in range(mc):
                eta = ST[i, j]
                # log sigma(eta) = min(eta, 0) - log1p(e), e = exp(-|eta|), both
                # in vectorised forms; the derivative sigma(-eta)
                e = _exp_nonpositive(-abs(eta))
                ST[i, j] = min(eta, 0.0) - _log1p_unit(e)
                AUX[i, j] = (e if eta >= 0 else 1.0) / (1.0 + e)
        if order < 2:
            continue  # the gate moments read ZT and AUX (_gate_moments_chunk)
        for a in range(m):
            if link == 0:
                for j in range(mc):
                    D1T[i, a, j] = ZT[a, j]
            else:
                for j in range(mc):
                    D1T[i, a, j] = AUX[i, j] * ZT[a, j]


@jit
def _gate_scratch(k, m, z_dim):
    """The scratch arrays of the gate part of a pass, one chunk long: the
    covariates read (``ZT``), scores (``ST``), log-weights (``LP``), weights
    (``P``), score derivatives (``D1T``, ``AUX``), the selection's work arrays
    (``KEEP``, ``BEST``, ``TOTAL``, ``CUM``, ``ARG``) and the log-sum-exp
    (``LSE``, ``TMP``), in that order (see :func:`_gate_weights`)."""
    return (np.empty((max(z_dim, 1), CHUNK_SIZE)), np.empty((k, CHUNK_SIZE)),
            np.empty((k, CHUNK_SIZE)), np.empty((k, CHUNK_SIZE)),
            np.empty((k, m, CHUNK_SIZE)), np.empty((k, CHUNK_SIZE)),
            np.empty((k, CHUNK_SIZE)), np.empty(CHUNK_SIZE), np.empty(CHUNK_SIZE),
            np.empty(CHUNK_SIZE), np.empty(CHUNK_SIZE, dtype=np.int64),
            np.empty(CHUNK_SIZE), np.empty(CHUNK_SIZE))


@jit
def _group_softmax(ST, mc, group, log_mass, P, LP, BEST, TOTAL):
    """The weights ``P`` and log-weights ``LP`` of a softmax within groups of
    fixed masses: ``log pi_i = log_mass[g] + s_i - logsumexp_{j in g} s_j``,
    ``g = group[i]``.  ``BEST`` and ``TOTAL`` (mc,) are scratch."""
    k = ST.shape[0]
    for g in range(log_mass.shape[0]):
        for j in range(mc):
            BEST[j] = -np.inf
            TOTAL[j] = 0.0
        for i in range(k):
            if group[i] == g:
                for j in range(mc):
                    BEST[j] = max(BEST[j], ST[i, j])
        for i in range(k):
            if group[i] == g:
                for j in range(mc):
                    TOTAL[j] += _exp_nonpositive(ST[i, j] - BEST[j])
        for j in range(mc):
            TOTAL[j] = log_mass[g] - BEST[j] - math.log(TOTAL[j])
        for i in range(k):
            if group[i] == g:
                for j in range(mc):
                    LP[i, j] = ST[i, j] + TOTAL[j]
                    P[i, j] = _exp_nonpositive(LP[i, j])


@jit
def _group_sums(X, P, group, log_mass, mc, S, PW, TMP):
    """With groups: ``S`` the sums of ``X`` (k, .) over each expert's group, and
    the weights within the group ``PW = pi / m_g``, on the first ``mc``
    columns."""
    k = X.shape[0]
    for g in range(log_mass.shape[0]):
        mass = math.exp(log_mass[g])
        for j in range(mc):
            TMP[j] = 0.0
        for i in range(k):
            if group[i] == g:
                for j in range(mc):
                    TMP[j] += X[i, j]
        for i in range(k):
            if group[i] == g:
                for j in range(mc):
                    S[i, j] = TMP[j]
                    PW[i, j] = P[i, j] / mass


@jit
def _group_pull(WT, P, group, log_mass, mc, PW, WG, TMP):
    """With groups: the weights within the group ``PW = pi / m_g`` and the
    gradient's ``WG = (sum over i's group of WT) PW`` (``WT = w tau``)."""
    _group_sums(WT, P, group, log_mass, mc, WG, PW, TMP)
    for i in range(WT.shape[0]):
        for j in range(mc):
            WG[i, j] = WG[i, j] * PW[i, j]


@jit
def _gate_weights(S, D1, Zt, blocks, link, select, select_param, constant, group,
                  log_mass, lo, mc, order, scratch):
    """The gate part of every pass for the chunk of ``mc`` samples from ``lo``:
    scores and their derivatives up to ``order`` (:func:`_gate_chunk`), the
    sparse gate's selection (:func:`_select`), then the weights ``P`` and
    log-weights ``LP`` (``-inf`` off the selection; within the groups of
    ``group``, if any: :func:`_group_softmax`) and each sample's log-sum-exp of
    the scores ``LSE``, all in ``scratch``."""
    ZT, ST, LP, P, D1T, AUX, KEEP, BEST, TOTAL, CUM, ARG, LSE, TMP = scratch
    _gate_chunk(S, D1, Zt, blocks, link, constant, lo, mc, order, ZT, ST, D1T, AUX)
    _select(ST, mc, select, select_param, KEEP, BEST, ARG, TOTAL, CUM)
    _softmax_columns(ST, mc, P, LP, LSE, TMP)
    if group.shape[0] > 0:
        _group_softmax(ST, mc, group, log_mass, P, LP, BEST, TOTAL)
