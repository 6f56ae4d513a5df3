"""The documentation builds without warnings and the code on its pages runs.

- ``test_docs_build`` runs the documented build command,
  ``python -m sphinx -W --keep-going -b html docs <out>``, into a temporary folder,
  with every gallery example re-run (warnings are errors);
- ``test_api_reference_is_complete`` checks that every public name has a page;
- ``test_page_examples`` runs the ``>>>`` examples of each page with doctest.

Skipped, with the reason, when Sphinx is not installed (``pip install -e
".[docs]"`` or ``".[test]"``).
"""

import doctest
import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: Generated folders of the docs source tree, never pages of their own.
GENERATED = ("_build", "auto_examples", "gen_modules")

#: Public modules whose ``__all__`` must appear in the API reference.
PUBLIC_MODULES = ("gmoe", "gmoe.datasets", "gmoe.experts", "gmoe.gates",
                  "gmoe.plotting", "gmoe.simulation")

#: Upper bound of the build, in seconds: far above the normal time, it only stops
#: a hung build from blocking the suite.
BUILD_TIMEOUT = 900


def _sphinx_missing():
    """The name of the first missing documentation tool, or None."""
    for module in ("sphinx", "numpydoc", "sphinx_gallery", "pydata_sphinx_theme"):
        try:
            importlib.import_module(module)
        except ImportError:
            return module
    return None


MISSING = _sphinx_missing()
needs_sphinx = pytest.mark.skipif(
    MISSING is not None,
    reason=f"{MISSING} is not installed; pip install -e '.[docs]' to build the docs",
)


def _pages_with_examples():
    pages = []
    for path in sorted(DOCS.rglob("*.rst")):
        relative = path.relative_to(DOCS)
        if relative.parts[0] in GENERATED:
            continue
        text = path.read_text(encoding="utf-8")
        if any(line.lstrip().startswith(">>> ") for line in text.splitlines()):
            pages.append(relative)
    return pages


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    """Build the site once; return the output folder and the build log."""
    out = tmp_path_factory.mktemp("docs") / "html"
    env = dict(os.environ, GMOE_DOCS_RERUN="1")
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
               "-d", str(out.parent / "doctrees"), str(DOCS), str(out)]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=BUILD_TIMEOUT)
    elapsed = time.perf_counter() - start
    log = result.stdout + result.stderr
    print(f"documentation build: {elapsed:.0f} s")
    assert result.returncode == 0, f"the documentation build failed:\n{log[-20000:]}"
    return out, log


@needs_sphinx
def test_docs_build(built_site):
    out, _ = built_site
    for page in ("index", "install", "api", "developers", "user_guide/fitting",
                 "theory/em", "cli/demo", "auto_examples/plot_fit_basics",
                 "auto_examples/plot_model_selection"):
        assert (out / f"{page}.html").is_file(), f"{page}.html was not built"
    # The gallery ran the examples and embedded their figures.
    images = list((out / "_images").glob("sphx_glr_plot_fit_basics_*.png"))
    assert images, "the figure of plot_fit_basics.py is missing"


@needs_sphinx
def test_api_reference_is_complete(built_site):
    out, _ = built_site
    missing = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", []):
            if name.startswith("__"):
                continue
            page = out / "gen_modules" / f"{module_name}.{name}.html"
            if not page.is_file():
                missing.append(f"{module_name}.{name}")
    assert not missing, (
        f"public names without a page in the API reference: {missing}; add each to "
        "docs/api.rst"
    )


@pytest.mark.parametrize("page", _pages_with_examples(), ids=str)
def test_page_examples(page):
    result = doctest.testfile(
        str(DOCS / page),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        encoding="utf-8",
    )
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} example(s) of docs/{page} failed"
