"""A regular install, a fit, then an editable install over it: gmoe still imports.

numba's ``cache=True`` used to write its ``.nbi``/``.nbc`` files into
``site-packages/gmoe/__pycache__``; ``pip uninstall`` (run by the editable
install) leaves them, and the left-over ``site-packages/gmoe`` folder, without an
``__init__.py``, was then imported as a namespace package that hid the editable
install (``ImportError: cannot import name '__version__' from 'gmoe' (unknown
location)``).  The kernels' cache now lives outside the package.

Minutes: a virtual environment, two installs and a cold compile.  Marked slow.
"""

import os
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FIT = (
    "import numpy as np; from gmoe import GaussianMoERegressor; "
    "rng = np.random.default_rng(0); X = rng.normal(size=(300, 1)); "
    "y = X[:, 0] + rng.normal(size=300); "
    "GaussianMoERegressor(2, max_iter=5, random_state=0).fit(X, y); print('fitted')"
)


def _copy_project(dest):
    """The working tree's files a build needs (not .git, caches, build output)."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "gmoe", dest / "gmoe",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))


def _run(args, cwd, env):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, (
        f"{' '.join(map(str, args))} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def _site_packages(python):
    out = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def _compiled_files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.suffix in (".nbi", ".nbc"))


@pytest.mark.slow
def test_editable_install_over_a_used_regular_install_imports(tmp_path):
    project = tmp_path / "project"
    _copy_project(project)
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(env_dir)
    python = env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CACHE_DIR", "PYTHONPATH")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # a cold cache, then left here
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    # --no-deps: the dependencies come from the system's site-packages.
    pip = [python, "-m", "pip", "install", "--no-deps", "--quiet"]

    _run(pip + [str(project)], cwd=elsewhere, env=env)
    site = _site_packages(python)
    assert (site / "gmoe" / "__init__.py").is_file()
    assert "fitted" in _run([python, "-c", FIT], cwd=elsewhere, env=env)
    left_in_site = _compiled_files(site / "gmoe")

    _run(pip + ["--editable", str(project)], cwd=elsewhere, env=env)
    out = _run([python, "-c", "import gmoe; print(gmoe.__version__); "
                "print(gmoe.__file__)"], cwd=elsewhere, env=env)
    version, location = out.split()
    assert version
    assert Path(location).resolve() == (project / "gmoe" / "__init__.py").resolve()
    assert left_in_site == []
    assert not (site / "gmoe").exists()
    assert _compiled_files(tmp_path / "cache")  # the compiled kernels went there
    assert "fitted" in _run([python, "-c", FIT], cwd=elsewhere, env=env)
    assert _compiled_files(project / "gmoe") == []
