"""Which library files a job depends on, so editing one reruns exactly its users.

Snakemake tracks a rule's inputs, parameters and script, but not the Python
modules the script imports. :func:`module_files` finds, by reading the source
(never importing it), every module of this package that the given modules
import directly or transitively; the workflow lists those files as inputs.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "clusterability"
PACKAGE_DIR = Path(__file__).resolve().parent


def _module_path(module: str) -> Path | None:
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _imports(path: Path, module: str) -> set[str]:
    """Package modules imported by the module at ``path`` (absolute names)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.add(prefix)
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
    return {m for m in found if m.split(".")[0] == PACKAGE}


def module_files(*modules: str) -> list[str]:
    """Sorted source files of ``modules`` and of every package module they import."""
    seen: dict[str, Path] = {}
    stack = list(modules)
    while stack:
        module = stack.pop()
        path = _module_path(module)
        if path is None or module in seen:
            continue
        seen[module] = path
        # A submodule import also runs its parent packages' __init__.
        parent = module.rpartition(".")[0]
        if parent:
            stack.append(parent)
        stack.extend(_imports(path, module))
    return sorted({str(p) for p in seen.values()})


def script_module_files(script: str | Path) -> list[str]:
    """Package source files that a workflow script imports, directly or transitively."""
    path = Path(script)
    return module_files(*sorted(_imports(path, "__main__")))
