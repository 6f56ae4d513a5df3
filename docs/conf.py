"""Sphinx configuration of the gmoe documentation.

Build the site from the root of the repository with::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The gallery runs every ``examples/plot_*.py`` during the build, so a broken
example breaks the build.
"""

import importlib
import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# Document the source tree next to this folder, installed or not; local
# extensions live in _ext.
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))

# Figures are drawn off-screen.
os.environ.setdefault("MPLBACKEND", "Agg")
# The examples fit a few thousand samples, one to three chunks of the parallel
# E-step: extra threads bring nothing there, and one thread keeps the build time
# steady on a busy machine.  Set NUMBA_NUM_THREADS to override.
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import gmoe  # noqa: E402

# -- Project -----------------------------------------------------------------
project = "gmoe"
author = "the gmoe developers"
copyright = "the gmoe developers"
version = gmoe.__version__
release = gmoe.__version__

# -- General -----------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "gmoe_cli",
]

# Formulas are typeset by MathJax.  With the sphinx-mathjax-offline package (in the
# docs extra) a copy of MathJax ships with the site, which then reads offline;
# without it, MathJax is loaded from its public CDN when a page is opened.
try:
    importlib.import_module("sphinx-mathjax-offline")
except ImportError:
    pass
else:
    extensions.append("sphinx-mathjax-offline")

templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "Thumbs.db",
    ".DS_Store",
    # sphinx-gallery writes these; they are not pages of their own.
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.json",
    "auto_examples/*.md5",
    "sg_execution_times.rst",
]
default_role = "literal"
math_eqref_format = "({number})"
# Page tables of contents list methods as ``fit()``, not ``Class.fit()``.
toc_object_entries_show_parents = "hide"

# -- API reference -----------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"
# Class pages list their methods through the autosummary template
# (``_templates/autosummary/class.rst``), not through numpydoc.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- Gallery -----------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"plot_",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("gmoe",),
    "reference_url": {"gmoe": None},
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "show_memory": False,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "write_computation_times": True,
    # sphinx-gallery skips examples whose source did not change since the last
    # build; GMOE_DOCS_RERUN=1 runs them all (the docs test does).
    "run_stale_examples": os.environ.get("GMOE_DOCS_RERUN", "0") == "1",
}

# -- HTML --------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"gmoe {release}"
html_static_path = ["_static"]
html_css_files = ["gmoe.css"]
html_show_sourcelink = False
html_theme_options = {
    "navbar_align": "left",
    "header_links_before_dropdown": 7,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
# Pages of single API objects are wide (signatures, formulas, parameter lists):
# they keep the list of their members on the right and drop the left navigation,
# which the "API reference" page and the breadcrumbs provide.
html_sidebars = {
    "index": [],
    "install": [],
    "gen_modules/*": [],
}
html_context = {"default_mode": "light"}


def _skip_metadata_routing(app, what, name, obj, skip, options):
    """Leave scikit-learn's generated ``set_*_request`` methods out of the pages.

    They are the metadata-routing plumbing every scikit-learn estimator gets;
    their docstrings point into scikit-learn's own documentation.
    """
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return skip


_SHAPE = re.compile(r"shape \(([^()]*)\)")
_TRAILING_UNDERSCORE = re.compile(r"\b([A-Za-z]\w*[A-Za-z0-9])_(?=[\s,+\-*/)]|$)")


def _escape_shape_underscores(app, what, name, obj, options, lines):
    """Escape attribute names inside ``shape (...)`` of docstring type fields.

    Shapes are often given by fitted attributes, as in
    ``ndarray of shape (n_iter_ + 1,)``; in reStructuredText a word ending with an
    underscore is a link to a target of that name, which does not exist.  Elsewhere
    in a docstring such names belong in double backquotes.
    """
    for index, line in enumerate(lines):
        lines[index] = _SHAPE.sub(
            lambda m: "shape (" + _TRAILING_UNDERSCORE.sub(r"\1\\_", m.group(1)) + ")",
            line,
        )


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_routing)
    app.connect("autodoc-process-docstring", _escape_shape_underscores)
