"""Where the compiled kernels are cached, what is compiled, and the compile notice."""

import sys
import time
from pathlib import Path

import numba
import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning

import gmoe
from gmoe import GaussianMoERegressor
from gmoe.kernels import _compile, _numba_config
from gmoe.kernels import _em as _kernels

PACKAGE = Path(gmoe.__file__).resolve().parent

#: The fits here are cut short (max_iter of 3 or 5): they only need the kernels to run.
CUT_SHORT = dict(expected_warning=ConvergenceWarning, match="did not converge")


def _gmoe_dispatchers():
    for module in sys.modules.values():
        name = getattr(module, "__name__", "")
        if name == "gmoe" or name.startswith("gmoe."):
            for value in vars(module).values():
                if (isinstance(value, numba.core.dispatcher.Dispatcher)
                        and value.py_func.__module__ == name):
                    yield value


def _inside_package(path):
    return Path(path).resolve().is_relative_to(PACKAGE)


@pytest.fixture(scope="module")
def fitted():
    """A small fit: the kernels compiled (or loaded from the disk cache)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 2))
    y = X[:, 0] + rng.normal(size=3000)
    start = time.time()
    with pytest.warns(**CUT_SHORT):
        GaussianMoERegressor(3, max_iter=5, random_state=0).fit(X, y)
    return X, y, start


def test_the_kernel_cache_is_outside_the_package(fitted):
    if _inside_package(numba.config.CACHE_DIR or "/"):
        pytest.skip("NUMBA_CACHE_DIR points inside the package")
    dispatchers = list(_gmoe_dispatchers())
    assert len(dispatchers) >= 8
    assert _numba_config.CACHE_DIR is not None
    assert not _inside_package(_numba_config.CACHE_DIR)
    for dispatcher in dispatchers:
        assert not _inside_package(dispatcher.stats.cache_path), dispatcher


def test_a_fit_writes_no_compiled_files_into_the_package(fitted):
    start = fitted[2]
    written = [p for p in PACKAGE.rglob("*")
               if p.suffix in (".nbi", ".nbc") and p.stat().st_mtime >= start - 1]
    assert written == []


def test_the_kernel_decorators_leave_numbas_own_cache_setting_alone():
    before = numba.config.CACHE_DIR

    @_numba_config.jit
    def plus_one(x):
        return x + 1

    assert numba.config.CACHE_DIR == before
    if _numba_config.CACHE_DIR is not None:
        assert Path(plus_one.stats.cache_path).resolve().is_relative_to(
            Path(_numba_config.CACHE_DIR).resolve())


def test_other_layouts_and_dataframes_compile_nothing_more(fitted):
    X, y, _ = fitted
    with pytest.warns(**CUT_SHORT):
        GaussianMoERegressor(3, max_iter=3, random_state=0).fit(
            pd.DataFrame(X, columns=["a", "b"]), pd.Series(y))
    with pytest.warns(**CUT_SHORT):
        GaussianMoERegressor(3, max_iter=3, random_state=0).fit(
            np.asfortranarray(X), y, sample_weight=np.ones(2 * len(y))[::2])
    frozen = X.copy()
    frozen.setflags(write=False)
    with pytest.warns(**CUT_SHORT):
        GaussianMoERegressor(3, max_iter=3, random_state=0).fit(frozen, y)
    n, k = len(y), 3
    Xt = np.asfortranarray(np.column_stack([np.ones(n), X]))
    resp = np.empty((k, n)).T  # Fortran order: written through a copy
    out = _kernels.e_step(Xt, y, np.ones(n), np.zeros((k, 3)), np.zeros((k, 3)),
                          np.ones(k), np.full((n, k), 1 / k), resp)
    np.testing.assert_allclose(resp, 1 / k)
    assert np.isfinite(out[0])
    for dispatcher in _gmoe_dispatchers():
        module = dispatcher.py_func.__module__
        if module in ("gmoe.kernels._em", "gmoe.kernels._hessian"):
            assert len(dispatcher.signatures) <= 1, dispatcher


def test_ensure_compiled_says_so_only_when_it_compiles(monkeypatch, capsys):
    @numba.njit
    def tiny(x):
        return 2.0 * x

    monkeypatch.setitem(_compile.GROUPS, "test-tiny",
                        (lambda: tiny.compile((numba.float64,)), 1))
    monkeypatch.setattr(_compile, "_READY", set(_compile._READY))
    assert _compile.ensure_compiled("test-tiny") == ["test-tiny"]
    err = capsys.readouterr().err
    assert err.startswith("gmoe: compiling the kernels, once per machine (about 1 s)")
    assert err.count("\n") == 1
    assert tiny.signatures == [(numba.float64,)]
    assert _compile.ensure_compiled("test-tiny") == []
    _compile._READY.discard("test-tiny")
    # Already compiled: nothing to compile, nothing printed.
    assert _compile.ensure_compiled("test-tiny") == ["test-tiny"]
    assert capsys.readouterr().err == ""


def test_ensure_compiled_is_silent_once_the_kernels_exist(fitted, capsys):
    assert all(_compile.is_compiled(group) for group in _compile.GROUPS)
    assert _compile.ensure_compiled() == []
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_a_cold_compile_fills_the_cache_for_every_group(tmp_path):
    """On an empty cache, ensure_compiled compiles the Hessian group in a child
    process at the same time as the EM group; afterwards a new process finds
    everything in the cache (no compile message)."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    code = "from gmoe.kernels._compile import ensure_compiled; print(ensure_compiled())"
    cold = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True)
    assert "compiling the kernels" in cold.stderr
    warm = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True)
    assert "compiling the kernels" not in warm.stderr
    assert "['em', 'hessian']" in warm.stdout
