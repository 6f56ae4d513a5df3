"""Compile the kernels ahead of their first use, and say so when it takes time.

numba compiles a kernel the first time it is called with new argument types and
keeps the result in its disk cache (:data:`gmoe.kernels._numba_config.CACHE_DIR`).
:func:`ensure_compiled` compiles the kernels for the one set of types gmoe passes
them (float64, C-contiguous arrays: the Python wrappers of the kernels convert
other arrays first), so a fit never compiles a second specialisation, and
prints one line to stderr when a kernel is actually compiled (not when it is
loaded from the disk cache), so that the first fit on a machine does not wait in
silence.
"""

import importlib
import subprocess
import sys
import threading

import numba
import numpy as np
from numba import types
from numba.core import event

from gmoe.kernels._numba_config import CACHE_DIR

_F1 = types.float64[::1]
_F2 = types.float64[:, ::1]
_F3 = types.float64[:, :, ::1]
_F4 = types.float64[:, :, :, ::1]
_F5 = types.float64[:, :, :, :, ::1]
_I = types.int64

#: The EM kernels and the argument types gmoe passes them.
EM_KERNELS = [
    ("_e_step_tasks", (_I, _I, _F2, _F1, _F1, _F2, _F2, _F1, _F2, _F2,
                       _F1, _F1, _F4, _F3, _F2, _F1, _F3, _F5)),
    ("_e_step_sums", (_F1, _F1, _F4, _F3, _F2, _F1, _F3, _F5,
                      _F3, _F2, _F1, _F2, _F4)),
    ("_gate_stats_tasks", (_I, _I, _F2, _F1, _F2, _F2, _F1, _F3, _F5)),
    ("_gate_stats_sums", (_F1, _F3, _F5, _F2, _F4)),
]


#: Small linear algebra of the M-steps (:mod:`gmoe.kernels._linalg`).
LINALG_KERNELS = [
    ("cholesky_solve", (_F3, _F2, _F2)),
    ("least_squares_update", (_F3, _F2, _F1, _F2, _F1, types.float64,
                              types.float64, types.float64, _F2, _F1)),
    ("ridge_cholesky_solve", (_F2, _F1, types.float64, _F1)),
    ("expert_moments", (_F2, _F1, _F1, _F2, _F3, _F2, _F1)),
]


def _compile_em():
    for module, table in (("_em", EM_KERNELS), ("_linalg", LINALG_KERNELS)):
        kernels = importlib.import_module(f"gmoe.kernels.{module}")
        for name, signature in table:
            kernel = getattr(kernels, name)
            if isinstance(kernel, numba.core.dispatcher.Dispatcher):
                kernel.compile(signature)


def _compile_hessian():
    """One call on a tiny problem: compiles whatever the wrapper calls (it passes
    float64 C-contiguous arrays whatever its input, see ``_as_c_float64``)."""
    try:
        module = importlib.import_module("gmoe.kernels._hessian")
    except ImportError:
        return
    n, k, p = 4, 2, 2
    Xt = np.column_stack([np.ones(n), np.linspace(-1.0, 1.0, n)])
    module.loglik_hessian(Xt, np.zeros(n), np.ones(n), np.zeros((k, p)),
                          np.zeros((k, p)), np.ones(k))


#: Per group: the function that compiles its kernels (their callees are compiled
#: with them) and a rough duration of a cold compile on an idle 2-core machine, in
#: seconds, for the message.  A fit uses both groups (the Newton solver the
#: Hessian kernel).
GROUPS = {
    "em": (_compile_em, 12),
    "hessian": (_compile_hessian, 7),
}

_LOCK = threading.RLock()
_READY = set()
_RUNNING = set()


class _CompileNotice(event.Listener):
    """At the first compile numba actually starts (a kernel missing from the disk
    cache), once: prints the message, and calls ``on_cold`` (which may start the
    compile of other groups elsewhere)."""

    def __init__(self, seconds, on_cold=None):
        self.seconds = seconds
        self.on_cold = on_cold
        self.printed = False

    def on_start(self, event_):
        if not self.printed:
            self.printed = True
            print(f"gmoe: compiling the kernels, once per machine "
                  f"(about {self.seconds} s)...", file=sys.stderr, flush=True)
            if self.on_cold is not None:
                self.on_cold()

    def on_end(self, event_):
        pass


def _start_child(group):
    """A child process compiling ``group`` into the disk cache (None if it cannot
    be started)."""
    code = ("from gmoe.kernels._compile import ensure_compiled; "
            f"ensure_compiled({group!r})")
    try:
        return subprocess.Popen([sys.executable, "-c", code],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        return None


def _wait(child, timeout=600):
    """Wait for a child of :func:`_start_child`; its failure only costs time."""
    if child is None:
        return
    try:
        child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()


def ensure_compiled(*groups):
    """Compile (or load from the disk cache) the kernels of ``groups``.

    ``groups`` are names of :data:`GROUPS`, by default all of them (the kernels a
    fit uses).  Fast after the first call in a process.  When a kernel is missing
    from the disk cache (the first fit on a machine, or after an upgrade of gmoe
    or numba), prints ``gmoe: compiling the kernels, once per machine (about N
    s)...`` to stderr, once, before compiling.  Returns the names of the groups
    compiled or loaded by this call.
    """
    groups = groups or tuple(GROUPS)
    if all(g in _READY for g in groups):
        return []
    with _LOCK:
        todo = [g for g in groups if g not in _READY and g not in _RUNNING]
        if not todo:
            return []
        helpers = []

        def compile_others_elsewhere():
            # A cold cache: numba compiles one function at a time in a process, so
            # the groups after the first are compiled at the same time in child
            # processes, which write the shared disk cache; this process then
            # loads them from it (or compiles them itself if a child failed).
            if CACHE_DIR is None or len(todo) < 2:
                return
            for group in todo[1:]:
                helpers.append(_start_child(group))

        seconds = max(GROUPS[g][1] for g in todo) if CACHE_DIR is not None else sum(
            GROUPS[g][1] for g in todo)
        notice = _CompileNotice(seconds, compile_others_elsewhere)
        with event.install_listener("numba:compile", notice):
            for index, group in enumerate(todo):
                if index == 1:
                    for child in helpers:
                        _wait(child)
                _RUNNING.add(group)
                try:
                    GROUPS[group][0]()
                finally:
                    _RUNNING.discard(group)
                _READY.add(group)
    return todo


def is_compiled(group="em"):
    """Whether :func:`ensure_compiled` already ran for ``group`` in this process."""
    return group in _READY
