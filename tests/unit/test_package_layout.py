"""The package's layout: subpackages in layers, no import cycles, TensorFlow only in ``train/``.

Every import counts, at module level or inside a function, so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from clusterability.workflow.provenance import PACKAGE_DIR

#: What each part of the package may import (besides itself). The base modules (errors, atomic, seeds,
#: threads, limits) sit below everything; ``cli`` and ``api`` on top.
BASE = {"errors", "atomic", "seeds", "threads", "limits"}
ALLOWED = {
    **{name: BASE for name in BASE},
    "core": BASE,
    "data": BASE,
    "io": BASE | {"core"},
    "train": BASE | {"core", "io"},
    "lesions": BASE | {"core", "io", "data"},
    "report": BASE | {"core", "io", "data", "lesions"},
    "workflow": BASE | {"core", "io", "data", "lesions", "report", "train"},
    "cli": BASE | {"core", "io", "report", "package"},
    "api": BASE | {"core", "io", "report"},
    "package": set(),
}
TENSORFLOW = ("tensorflow", "tf_keras", "tensorflow_model_optimization", "keras")


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in PACKAGE_DIR.rglob("*.py")}


def _imports(module: str) -> tuple[set[str], set[str]]:
    """The package modules ``module`` imports, and the other top-level packages it imports."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    ours, theirs = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            if base.split(".")[0] != "clusterability":
                theirs.add(base.split(".")[0])
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                ours.add(full if full in MODULES else base)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                (ours if alias.name.split(".")[0] == "clusterability" else theirs).add(alias.name.split(".")[0])
    return {m for m in ours if m in MODULES} - {module}, theirs


GRAPH = {module: _imports(module)[0] for module in MODULES}


def _part(module: str) -> str:
    """``package`` for the package itself, else the subpackage or top-level module it belongs to."""
    parts = module.split(".")
    return "package" if len(parts) == 1 else parts[1]


def test_no_import_cycles() -> None:
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(module: str, stack: list[str]) -> None:
        state[module] = 1
        for dep in sorted(GRAPH[module]):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_one() -> None:
    """The walk above sees a cycle that goes through a function-level import."""
    tree = ast.parse("def f():\n    from clusterability.core.spectral import spectral_clusters\n")
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert imported == ["clusterability.core.spectral"] and "clusterability.core.spectral" in GRAPH


def test_each_part_imports_only_the_layers_below_it() -> None:
    wrong = {
        module: sorted(dep for dep in deps if _part(dep) != _part(module) and _part(dep) not in ALLOWED[_part(module)])
        for module, deps in GRAPH.items()
    }
    assert set(ALLOWED) >= {_part(m) for m in MODULES}
    assert not {m: d for m, d in wrong.items() if d}


@pytest.mark.parametrize("package", sorted(m for m, p in MODULES.items() if p.name == "__init__.py"))
def test_subpackage_inits_import_nothing(package: str) -> None:
    assert not GRAPH[package] and not _imports(package)[1] - {"__future__"}, package


def test_only_train_imports_tensorflow() -> None:
    importers = {m for m in MODULES if _imports(m)[1] & set(TENSORFLOW)}
    assert importers and all(m.startswith("clusterability.train.") for m in importers), sorted(importers)


def test_core_uses_numerical_libraries_only() -> None:
    allowed = {"numpy", "scipy", "numba", "__future__", "dataclasses", "typing", "collections", "math", "os", "hashlib"}
    allowed |= {"functools", "itertools", "warnings", "re", "threadpoolctl", "sklearn", "abc"}
    for module in MODULES:
        if module.startswith("clusterability.core."):
            assert _imports(module)[1] <= allowed, (module, _imports(module)[1] - allowed)
