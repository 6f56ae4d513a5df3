"""The package's layout: its layers import downwards only, and no module is long.

The layers, bottom to top (``docs/developers.rst``, "How the package is laid
out").  A module may import its own subpackage and any layer below its own;
subpackages on the same level (the gates and the experts; the engine and the
theory) do not import each other.

====  ==================================  ==========================================
rank  subpackage                          job
====  ==================================  ==========================================
0     ``gmoe.kernels``                    compiled passes, numba settings, warm-up
1     ``gmoe.gates``, ``gmoe.experts``    the gates (the Gaussian gate's maths too);
                                          the expert families
2     ``gmoe.datasets``                   synthetic data and mcycle
3     ``gmoe.model``                      conditional law, expert order, scaling
4     ``gmoe.engine``, ``gmoe.theory``    the fitting engine; measures and losses
5     ``gmoe.inference``                  standard errors, intervals, routing
6     ``gmoe.estimator``                  the scikit-learn estimator
7     ``gmoe.selection``                  how many experts
8     ``gmoe`` (its ``__init__``)         the public names
9     ``gmoe.simulation``                 rate and consistency studies
10    ``gmoe.plotting``                   figures
11    ``gmoe.commands``                   the commands of the command line
12    ``gmoe.cli``                        the ``gmoe`` entry point
====  ==================================  ==========================================

An import that goes up the layers is an error unless it is in :data:`UPWARDS`,
with its reason; those must be function-level imports.
"""

import ast
import importlib.util
import pkgutil
from pathlib import Path

import gmoe

RANKS = {
    "gmoe.kernels": 0,
    "gmoe.gates": 1,
    "gmoe.experts": 1,
    "gmoe.datasets": 2,
    "gmoe.model": 3,
    "gmoe.engine": 4,
    "gmoe.theory": 4,
    "gmoe.inference": 5,
    "gmoe.estimator": 6,
    "gmoe.selection": 7,
    "gmoe": 8,
    "gmoe.simulation": 9,
    "gmoe.plotting": 10,
    "gmoe.commands": 11,
    "gmoe.cli": 12,
}

#: The imports allowed to go up the layers, (importer, imported): why.
UPWARDS = {
    ("gmoe.gates._gaussian", "gmoe.theory._voronoi_gaussian"):
        "Gate.mixing_measure: a gate names the class of mixing measure that "
        "represents its fits, so that the estimator never asks which gate it has",
    ("gmoe.simulation._config", "gmoe.plotting"):
        "run_config draws the figure that a study's configuration asks for",
    ("gmoe.simulation._demo", "gmoe.plotting._rates"):
        "demo_study draws its figure when asked",
}

#: The longest a module may be.
MAX_LINES = 650


def _modules():
    """Every module of gmoe: name -> path of its source."""
    names = ["gmoe"] + [info.name for info in pkgutil.walk_packages(
        gmoe.__path__, prefix="gmoe.")]
    return {name: Path(importlib.util.find_spec(name).origin) for name in names}


def _layer(name):
    """The entry of :data:`RANKS` a module belongs to (its longest prefix)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in RANKS:
            return prefix
    raise AssertionError(f"{name} belongs to no layer; add it to RANKS")


def _imports(name, path, modules):
    """``(imported module, lazy)`` for every import of gmoe in a module's source;
    ``lazy`` when the import is inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []

    def visit(node, lazy):
        for child in ast.iter_child_nodes(node):
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                               ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((alias.name, inner) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")
                    parent = parts[:len(parts) - child.level + 1]
                    base = ".".join(parent + ([base] if base else []))
                for alias in child.names:
                    target = f"{base}.{alias.name}"
                    found.append((target if target in modules else base, inner))
            visit(child, inner)

    visit(ast.parse(path.read_text()), False)
    return [(target, lazy) for target, lazy in found
            if target == "gmoe" or target.startswith("gmoe.")]


def test_layers_import_downwards_only():
    modules = _modules()
    wrong = []
    for name, path in modules.items():
        layer = _layer(name)
        for target, lazy in _imports(name, path, modules):
            other = _layer(target)
            if other == layer or RANKS[other] < RANKS[layer]:
                continue
            if (name, target) in UPWARDS and lazy:
                continue
            wrong.append(f"{name} imports {target} ({layer} may not import {other})")
    assert not wrong, "\n".join(wrong)


def test_upward_imports_listed_still_exist():
    """Every allowed upward import is still made (the list does not go stale)."""
    modules = _modules()
    made = {(name, target) for name, path in modules.items()
            for target, lazy in _imports(name, path, modules) if lazy}
    assert set(UPWARDS) <= made, set(UPWARDS) - made


def test_every_subpackage_has_a_layer():
    for name in _modules():
        assert _layer(name) in RANKS


def test_the_import_graph_finds_imports():
    """The graph sees top-level and function-level imports (the checks above
    would pass vacuously otherwise)."""
    modules = _modules()
    estimator = _imports("gmoe.estimator._estimator",
                         modules["gmoe.estimator._estimator"], modules)
    assert ("gmoe.engine._model", False) in estimator
    demo = _imports("gmoe.simulation._demo", modules["gmoe.simulation._demo"],
                    modules)
    assert ("gmoe.plotting._rates", True) in demo


def test_modules_are_short():
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"
