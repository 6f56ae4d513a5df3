"""Compile the kernels ahead of their first use, and say so when it takes time.

numba compiles a kernel the first time it is called with new argument types and
keeps the result in its disk cache (:data:`gmoe._numba_config.CACHE_DIR`).
:func:`ensure_compiled` compiles the kernels of a group for the one set of types
gmoe passes them (float64, C-contiguous arrays: the Python wrappers of the kernels
convert other arrays first), so a fit never compiles a second specialisation, and
prints one line to stderr when a kernel is actually compiled (not when it is
loaded from the disk cache), so that the first fit on a machine does not wait in
silence.
"""

import importlib
import sys
import threading

import numba
from numba import types
from numba.core import event

_F1 = types.float64[::1]
_F2 = types.float64[:, ::1]
_F3 = types.float64[:, :, ::1]
_F4 = types.float64[:, :, :, ::1]
_F5 = types.float64[:, :, :, :, ::1]
_I = types.int64

#: Per group: (module, kernel name, argument types) of every compiled entry point
#: (their callees are compiled with them), and a rough duration of the compile on
#: an idle 2-core machine, in seconds, for the message.
GROUPS = {
    "em": (
        [
            ("gmoe._kernels", "_e_step_tasks",
             (_I, _I, _F2, _F1, _F1, _F2, _F2, _F1, _F2, _F2,
              _F1, _F1, _F4, _F3, _F2, _F1, _F3, _F5)),
            ("gmoe._kernels", "_e_step_sums",
             (_F1, _F1, _F4, _F3, _F2, _F1, _F3, _F5)),
            ("gmoe._kernels", "_gate_stats_tasks",
             (_I, _I, _F2, _F1, _F2, _F2, _F1, _F3, _F5)),
            ("gmoe._kernels", "_gate_stats_sums", (_F1, _F3, _F5)),
        ],
        10,
    ),
}

_LOCK = threading.RLock()
_READY = set()


class _CompileNotice(event.Listener):
    """Prints the message at the first compile numba actually starts (a kernel
    missing from the disk cache), once."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.printed = False

    def on_start(self, event_):
        if not self.printed:
            self.printed = True
            print(f"gmoe: compiling the kernels, once per machine "
                  f"(about {self.seconds} s)...", file=sys.stderr, flush=True)

    def on_end(self, event_):
        pass


def ensure_compiled(*groups):
    """Compile (or load from the disk cache) the kernels of ``groups``.

    ``groups`` are names of :data:`GROUPS`, by default ``"em"`` (the kernels of an
    EM fit).  Fast after the first call in a process.  When a kernel is missing
    from the disk cache (the first fit on a machine, or after an upgrade of gmoe
    or numba), prints ``gmoe: compiling the kernels, once per machine (about N
    s)...`` to stderr before compiling.  Returns the names of the groups compiled
    or loaded by this call.
    """
    groups = groups or ("em",)
    todo = [g for g in groups if g not in _READY]
    if not todo:
        return []
    with _LOCK:
        todo = [g for g in groups if g not in _READY]
        for group in todo:
            entries, seconds = GROUPS[group]
            notice = _CompileNotice(seconds)
            with event.install_listener("numba:compile", notice):
                for module, name, signature in entries:
                    kernel = getattr(importlib.import_module(module), name)
                    if isinstance(kernel, numba.core.dispatcher.Dispatcher):
                        kernel.compile(signature)
            _READY.add(group)
    return todo


def is_compiled(group="em"):
    """Whether :func:`ensure_compiled` already ran for ``group`` in this process."""
    return group in _READY
