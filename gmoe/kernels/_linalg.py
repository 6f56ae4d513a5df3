"""Small dense linear algebra for the M-steps: many tiny systems solved in one
compiled call, where numpy's per-call overhead would cost more than the solve."""

import math

import numpy as np

from gmoe.kernels._numba_config import jit


@jit
def cholesky_solve(A, B, out):
    """Solve ``A[i] x_i = B[i]`` for each symmetric positive definite ``A[i]``.

    Parameters
    ----------
    A : ndarray of shape (k, p, p)
        Symmetric matrices (only their lower triangles are read).
    B : ndarray of shape (k, p)
    out : ndarray of shape (k, p)
        Receives the solutions.

    Returns
    -------
    bool
        False when a matrix is not numerically positive definite (a pivot that
        is not positive and finite) or a solution is not finite; ``out`` is then
        incomplete and the caller must solve another way.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[[4.0, 2.0], [2.0, 3.0]]]); out = np.empty((1, 2))
    >>> bool(cholesky_solve(A, np.array([[2.0, 1.0]]), out)), out
    (True, array([[0.5, 0. ]]))
    """
    k, p = B.shape
    L = np.empty((p, p))
    for i in range(k):
        for a in range(p):
            for b in range(a + 1):
                s = A[i, a, b]
                for c in range(b):
                    s -= L[a, c] * L[b, c]
                if a == b:
                    if not (s > 0.0 and s < math.inf):
                        return False
                    L[a, a] = math.sqrt(s)
                else:
                    L[a, b] = s / L[b, b]
        for a in range(p):
            s = B[i, a]
            for c in range(a):
                s -= L[a, c] * out[i, c]
            out[i, a] = s / L[a, a]
        for a in range(p - 1, -1, -1):
            s = out[i, a]
            for c in range(a + 1, p):
                s -= L[c, a] * out[i, c]
            out[i, a] = s / L[a, a]
            if not math.isfinite(out[i, a]):
                return False
    return True
