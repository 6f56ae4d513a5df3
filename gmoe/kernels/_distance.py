"""Compiled scores of the distance gates (:mod:`gmoe.gates._distance`) for the
passes of :mod:`gmoe.kernels._scores`: the perturbed cosine score and the Laplace
score, their first derivatives chunk by chunk, and the sums of their second
derivatives the Hessian needs.

As in :mod:`gmoe.kernels._scores`, a chunk is held transposed (samples last):
``ZT`` (d, mc) the covariates, ``ST`` (k, mc) the scores, ``D1T`` (k, m, mc) the
first derivatives with respect to each expert's block ``(b_i, w_i)``, ``AUX``
(k, mc) what the second derivatives need.  The formulas are those of
:meth:`gmoe.gates.Cosine.score_derivatives` and
:meth:`gmoe.gates.Laplace.score_derivatives`.
"""

import math

import numpy as np

from gmoe.kernels._em import _exp_nonpositive
from gmoe.kernels._numba_config import jit

#: Floor of the norms that divide the derivatives (``|w_i - x|`` of the Laplace
#: gate at a sample on a centre, ``|w_i|`` of the cosine gate at ``w_i = 0``):
#: the derivatives stay finite where the score is not differentiable.
NORM_FLOOR = 1e-12

SQRT_2PI = math.sqrt(2.0 * math.pi)


@jit
def _cosine_chunk(blocks, theta, mc, order, ZT, ST, D1T, AUX):
    """The cosine score ``s_i = a . w_i / g_i + b_i``, ``a = z / (|z| + theta)``,
    ``g_i = |w_i| + theta``, and (``order >= 1``) its derivatives ``(1, a / g_i
    - p u_i / g_i^2)`` (``p = a . w_i``, ``u_i = w_i / |w_i|``); ``ZT`` holds
    ``z`` and is overwritten with ``a``, ``AUX`` receives ``p``."""
    k, d = blocks.shape[0], ZT.shape[0]
    for j in range(mc):
        norm = 0.0
        for c in range(d):
            norm += ZT[c, j] * ZT[c, j]
        norm = math.sqrt(norm) + theta
        for c in range(d):
            ZT[c, j] = ZT[c, j] / norm
    for i in range(k):
        norm_w = 0.0
        for c in range(d):
            norm_w += blocks[i, 1 + c] * blocks[i, 1 + c]
        norm_w = math.sqrt(norm_w)
        g = norm_w + theta
        safe = max(norm_w, NORM_FLOOR)
        for j in range(mc):
            AUX[i, j] = 0.0
        for c in range(d):
            for j in range(mc):
                AUX[i, j] += ZT[c, j] * blocks[i, 1 + c]
        for j in range(mc):
            ST[i, j] = AUX[i, j] / g + blocks[i, 0]
        if order == 0:
            continue
        for j in range(mc):
            D1T[i, 0, j] = 1.0
        for c in range(d):
            u = blocks[i, 1 + c] / safe
            for j in range(mc):
                D1T[i, 1 + c, j] = ZT[c, j] / g - AUX[i, j] * u / (g * g)


@jit
def _laplace_chunk(blocks, bandwidth, mc, order, ZT, ST, D1T, AUX):
    """The Laplace score ``s_i = b_i - |w_i - z|`` and (``order >= 1``) its
    derivatives ``(1, (z - w_i) / |w_i - z|)``; with ``order == 2`` ``AUX``
    receives ``1 / |w_i - z|`` or, in one dimension with a bandwidth ``h > 0``,
    the second derivative ``-2 K_h(w_i - z)``
    (:meth:`gmoe.gates.Laplace.score_derivatives`)."""
    k, d = blocks.shape[0], ZT.shape[0]
    kink = d == 1 and bandwidth > 0
    for i in range(k):
        for j in range(mc):
            AUX[i, j] = 0.0
        for c in range(d):
            for j in range(mc):
                r = blocks[i, 1 + c] - ZT[c, j]
                AUX[i, j] += r * r
        for j in range(mc):
            rho = math.sqrt(AUX[i, j])
            ST[i, j] = blocks[i, 0] - rho
            AUX[i, j] = 1.0 / max(rho, NORM_FLOOR)
        if order == 0:
            continue
        for j in range(mc):
            D1T[i, 0, j] = 1.0
        for c in range(d):
            for j in range(mc):
                D1T[i, 1 + c, j] = (ZT[c, j] - blocks[i, 1 + c]) * AUX[i, j]
        if kink and order == 2:
            inv_h = 1.0 / bandwidth
            scale = -2.0 * inv_h / SQRT_2PI
            for j in range(mc):
                r = (blocks[i, 1] - ZT[0, j]) * inv_h
                AUX[i, j] = scale * _exp_nonpositive(-0.5 * r * r)


@jit
def _add_distance_curvature(link, constant, blocks, i, mc, C, ZT, D1T, AUX, out):
    """Add ``sum_j C_j D2_ij`` to ``out`` (m, m), ``D2_ij`` the second
    derivatives of expert ``i``'s cosine (``link`` 2) or Laplace (3) score at the
    chunk's samples, from what :func:`_gate_chunk` left in ``ZT``, ``D1T`` and
    ``AUX``.  Only the ``w_i`` coordinates have second derivatives.

    Cosine: ``D2 = -(a u' + u a') / g^2 + p (2 u u' / g^3 - (I - u u') / (|w|
    g^2))`` is linear in ``(a, p)``, so the sum needs ``sum_j C_j a_j`` and
    ``sum_j C_j p_j`` only.  Laplace: ``D2 = -(I - v v') / |w - z|`` with ``v =
    (w - z) / |w - z|``, or ``AUX`` itself in one dimension with a bandwidth.
    """
    d = ZT.shape[0]
    if link == 2:
        theta = constant
        norm_w = 0.0
        for c in range(d):
            norm_w += blocks[i, 1 + c] * blocks[i, 1 + c]
        norm_w = math.sqrt(norm_w)
        g = norm_w + theta
        safe = max(norm_w, NORM_FLOOR)
        total_p = 0.0
        for j in range(mc):
            total_p += C[j] * AUX[i, j]
        total_a = np.zeros(d)
        for a in range(d):
            for j in range(mc):
                total_a[a] += C[j] * ZT[a, j]
        for a in range(d):
            u_a = blocks[i, 1 + a] / safe
            for b in range(d):
                u_b = blocks[i, 1 + b] / safe
                curv = 2.0 * u_a * u_b / (g * g * g) - (
                    (1.0 if a == b else 0.0) - u_a * u_b) / (safe * g * g)
                out[1 + a, 1 + b] += (-(total_a[a] * u_b + u_a * total_a[b]) / (g * g)
                                      + total_p * curv)
        return
    if d == 1 and constant > 0:
        acc = 0.0
        for j in range(mc):
            acc += C[j] * AUX[i, j]
        out[1, 1] += acc
        return
    diag = 0.0
    for j in range(mc):
        diag += C[j] * AUX[i, j]
    for a in range(d):
        for b in range(d):
            acc = 0.0
            for j in range(mc):
                acc += C[j] * AUX[i, j] * D1T[i, 1 + a, j] * D1T[i, 1 + b, j]
            out[1 + a, 1 + b] += acc - (diag if a == b else 0.0)
