"""One place for the numba compiler flags used by every kernel.

Of the ``fastmath`` flags only ``reassoc`` and ``contract``: the compiler may
reorder a sum over a chunk's samples (so that it can vectorise it) and fuse a
multiply and an add.  The flags that assume finite values (``nnan``, ``ninf``) are
not used: the kernels work in log space, where ``-inf`` and the exact handling of
``exp`` underflow matter.  The order of the operations depends on the compiled code
only, never on the number of threads.  ``cache=True`` writes the compiled code
next to the module (or to numba's user-wide cache when that folder is read-only),
so the compile cost is paid once per machine, not once per process.
"""

import os

# numba's OpenMP threading layer makes idle threads spin by default.  When the
# machine is busy (other processes, or several fits in parallel) the spinning
# threads steal the cores from the working ones and a parallel kernel can run 100x
# slower.  Passive waiting costs nothing measurable on an idle machine.  Only a
# default: a user's own setting wins.  It must be set before libgomp is loaded.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402

JIT_FLAGS = {"nogil": True, "cache": True, "error_model": "numpy",
             "fastmath": {"reassoc", "contract"}}
PARALLEL_JIT_FLAGS = {**JIT_FLAGS, "parallel": True}

#: Samples per chunk of a parallel reduction.  The chunking does not depend on
#: the number of threads, so sums are added in the same order whatever the
#: number of threads: a fit gives the same bits whatever the number of threads.
CHUNK_SIZE = 2048

#: At most this many parallel tasks per kernel call, each a contiguous run of
#: chunks.  Each task keeps its own partial sums, the largest of which is the gate's
#: (k, k, p, p) information: the cap keeps their memory independent of n.  Like
#: the chunks, the tasks do not depend on the number of threads.
MAX_TASKS = 64


def jit(func):
    """Compile ``func`` with the serial flags."""
    return numba.njit(**JIT_FLAGS)(func)


def jit_inline(func):
    """Compile ``func`` to be inlined into its callers (small helpers of kernels)."""
    return numba.njit(inline="always", **JIT_FLAGS)(func)


def jit_parallel(func):
    """Compile ``func`` with the parallel flags."""
    return numba.njit(**PARALLEL_JIT_FLAGS)(func)
