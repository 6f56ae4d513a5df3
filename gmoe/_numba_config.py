"""One place for the numba compiler flags used by every kernel.

No ``fastmath``: the kernels work in log space, where ``-inf`` and the exact
handling of ``exp`` underflow matter.  ``cache=True`` writes the compiled code
next to the module (or to numba's user-wide cache when that folder is read-only),
so the compile cost is paid once per machine, not once per process.
"""

import numba

JIT_FLAGS = {"nogil": True, "cache": True, "error_model": "numpy"}
PARALLEL_JIT_FLAGS = {**JIT_FLAGS, "parallel": True}

#: Samples per chunk of a parallel reduction.  The chunking does not depend on
#: the number of threads, so sums are added in the same order whatever the
#: number of threads: fits are bitwise reproducible across machines' core counts.
CHUNK_SIZE = 2048


def jit(func):
    """Compile ``func`` with the serial flags."""
    return numba.njit(**JIT_FLAGS)(func)


def jit_parallel(func):
    """Compile ``func`` with the parallel flags."""
    return numba.njit(**PARALLEL_JIT_FLAGS)(func)
