"""One place for the numba compiler flags used by every kernel.

Of the ``fastmath`` flags only ``reassoc`` and ``contract``: the compiler may
reorder a sum over a chunk's samples (so that it can vectorise it) and fuse a
multiply and an add.  The flags that assume finite values (``nnan``, ``ninf``) are
not used: the kernels work in log space, where ``-inf`` and the exact handling of
``exp`` underflow matter.  The order of the operations depends on the compiled code
only, never on the number of threads.

``cache=True`` keeps the compiled code on disk, so the compile cost is paid once
per machine, not once per process.  The cache goes to :data:`CACHE_DIR`, a
per-user folder outside the package (``$XDG_CACHE_HOME/gmoe/numba/<version>`` or
``~/.cache/gmoe/numba/<version>``), or to the user's own ``NUMBA_CACHE_DIR``
when it is set.  Never next to the installed modules (numba's default): files
written there survive ``pip uninstall``, and the leftover ``gmoe`` folder, without
its ``__init__.py``, is then imported as a namespace package that hides a later
(editable) install.
"""
import os

# numba's OpenMP threading layer makes idle threads spin by default.  When the
# machine is busy (other processes, or several fits in parallel) the spinning
# threads steal the cores from the working ones and a parallel kernel can run 100x
# slower.  Passive waiting costs nothing measurable on an idle machine.  Only a
# default: a user's own setting wins.  It must be set before libgomp is loaded.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import contextlib  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

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




def _gmoe_version():
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover
        return "unknown"
    try:
        return version("gmoe")
    except PackageNotFoundError:
        return "unknown"


def _user_cache_root():
    """The per-user cache folder of the platform (no package name in it)."""
    if sys.platform == "win32":
        root = os.environ.get("LOCALAPPDATA") or os.path.join("~", "AppData", "Local")
    elif sys.platform == "darwin":
        root = os.path.join("~", "Library", "Caches")
    else:
        root = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return os.path.expanduser(root)


def _writable_dir(path):
    """``path``, created if need be, if a file can be written there; else None."""
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return None
    return path


def _cache_dir():
    """Where numba keeps gmoe's compiled kernels (None: no disk cache).

    The user's ``NUMBA_CACHE_DIR`` if set; else a per-user folder keyed by gmoe's
    version; else, when that one cannot be written (a read-only home), a folder
    of the user in the temporary directory.  Never inside the installed package.
    Within the folder numba keys the files by the path of the source folder
    (installs in different places do not share files) and checks them against
    the source's content and numba's version.
    """
    user_dir = numba.config.CACHE_DIR or os.environ.get("NUMBA_CACHE_DIR")
    if user_dir:
        return user_dir
    version = _gmoe_version()
    user = os.environ.get("USER") or os.environ.get("USERNAME") or "user"
    candidates = (os.path.join(_user_cache_root(), "gmoe", "numba", version),
                  os.path.join(tempfile.gettempdir(), f"gmoe-{user}", "numba", version))
    for path in candidates:
        if _writable_dir(path) is not None:
            return path
    return None


#: Folder of numba's disk cache of the kernels (see the module's docstring), or
#: None when no folder outside the package can be written: then the kernels are
#: compiled in every process rather than cached inside the package.
CACHE_DIR = _cache_dir()


@contextlib.contextmanager
def _gmoe_cache_dir():
    """numba's cache folder set to :data:`CACHE_DIR` while decorating a kernel.

    numba picks the cache folder of a ``cache=True`` function when the function is
    decorated (its ``UserProvidedCacheLocator`` reads ``numba.config.CACHE_DIR``,
    the value of ``NUMBA_CACHE_DIR``, and keeps the path): setting it for the
    decoration only leaves the caches of other packages where numba puts them,
    and works whether or not numba was imported before gmoe.
    """
    previous = numba.config.CACHE_DIR
    numba.config.CACHE_DIR = CACHE_DIR
    try:
        yield
    finally:
        numba.config.CACHE_DIR = previous


def _njit(func, **flags):
    if CACHE_DIR is None:
        return numba.njit(**{**flags, "cache": False})(func)
    with _gmoe_cache_dir():
        return numba.njit(**flags)(func)


def jit(func):
    """Compile ``func`` with the serial flags."""
    return _njit(func, **JIT_FLAGS)


def jit_inline(func):
    """Compile ``func`` to be inlined into its callers (small helpers of kernels)."""
    return _njit(func, inline="always", **JIT_FLAGS)


def jit_parallel(func):
    """Compile ``func`` with the parallel flags."""
    return _njit(func, **PARALLEL_JIT_FLAGS)
