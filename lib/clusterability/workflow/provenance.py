"""Which library code a job runs, so that a change to its logic reruns exactly its users.

Snakemake tracks a rule's inputs, parameters and script, but not the Python
modules the script imports. :func:`module_files` finds, by reading the source
(never importing it), every module of this package that the given modules
import, directly or transitively, at module level or inside a function (which
functions a job calls is not known, so every import counts). Importing
``a.b.c`` also runs the package ``a.b``'s ``__init__``, whose own imports count
too; a package imported for itself (``import a.b``, ``from a.b import name``)
counts with all its modules, as its ``__init__`` may load them lazily.

:func:`code_hash` digests the logic of those modules: their top-level
definitions' syntax trees, without docstrings, comments or layout, as one sorted
collection, and with this package's import paths left out (which names are
imported stays). The workflow gives it to each rule as a parameter, so a
comment, a docstring, reformatting, or moving a definition to another module
reruns nothing, and a logic change reruns exactly the jobs whose code it is.
The runs recorded under ``docs/`` store these hashes, so a test can tell
whether the code has changed in logic since (``docs/reproducibility.md``).

Parsing the library takes about 0.6 s, which every Snakemake invocation (and
every SLURM job, which runs Snakemake again) would pay. So :func:`code_hash`
keeps its results in ``__pycache__/code-hashes.json`` beside the package, keyed
by the bytes of the script, of every module of the package and the Python
version: a cached hash is one the same code gave, and a ``git checkout`` that
restores a version finds its hashes again. The file is only a cache: unreadable,
malformed or read-only, it is ignored.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import re
import sys
import tempfile
from pathlib import Path

from clusterability.errors import InputError

PACKAGE = "clusterability"
PACKAGE_DIR = Path(__file__).resolve().parents[1]


def check_library(imported: str | Path, beside: str | Path, pythonpath: str = "") -> None:
    """Stop unless the importable package is the ``lib/`` beside the Snakefile (or one ``pythonpath`` names).

    Otherwise a clone's jobs would run, and track, another clone's installed code.
    """
    imported, beside = Path(imported).resolve(), Path(beside).resolve()
    named = {Path(p, PACKAGE).resolve() for p in pythonpath.split(os.pathsep) if p}
    if imported != beside and imported not in named:
        raise InputError(
            f"the importable {PACKAGE} is {imported}, not this workflow's {beside}: "
            "run `pip install -e .` in this clone, or run with this clone's environment"
        )


def _module_path(module: str, root: Path = PACKAGE_DIR) -> Path | None:
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = root.joinpath(*parts[1:])
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _imports(path: Path, module: str, root: Path = PACKAGE_DIR) -> set[str]:
    """Package modules (absolute names) imported by the module at ``path``: ``from P import name``
    gives ``P.name`` where that is a module, else ``P`` itself."""
    stat = path.stat()
    return set(_cached_imports(str(path), stat.st_mtime_ns, stat.st_size, module, str(root)))


@functools.lru_cache(maxsize=1024)
def _cached_imports(path_name: str, mtime_ns: int, size: int, module: str, root_name: str) -> frozenset[str]:
    path, root = Path(path_name), Path(root_name)
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
            for alias in node.names:
                sub = f"{prefix}.{alias.name}"
                found.add(sub if _module_path(sub, root) is not None else prefix)
    return frozenset(m for m in found if m.split(".")[0] == PACKAGE)


def _package_modules(module: str, root: Path = PACKAGE_DIR) -> list[str]:
    """Every module of the package ``module`` (its ``__init__`` and everything below it)."""
    names = []
    for path in sorted(root.joinpath(*module.split(".")[1:]).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        names.append(".".join((PACKAGE, *(parts[:-1] if parts[-1] == "__init__" else parts))))
    return names


def module_files(*modules: str, root: str | Path = PACKAGE_DIR) -> list[str]:
    """Sorted source files of ``modules`` and of every package module they import (the package at ``root``,
    by default this one)."""
    root = Path(root)
    seen: set[str] = set()
    files: set[Path] = set()
    stack = [(m, True) for m in modules]
    while stack:
        module, direct = stack.pop()
        path = _module_path(module, root)
        if path is None or (module, direct) in seen or (module, True) in seen:
            continue
        seen.add((module, direct))
        files.add(path)
        # A submodule import also runs its parent packages' __init__.
        parent = module.rpartition(".")[0]
        if parent:
            stack.append((parent, False))
        stack.extend((m, True) for m in _imports(path, module, root))
        if direct and path.name == "__init__.py" and module != PACKAGE:
            stack.extend((m, True) for m in _package_modules(module, root) if m != module)
    return sorted(str(p) for p in files)


def script_module_files(script: str | Path, root: str | Path = PACKAGE_DIR) -> list[str]:
    """Package source files that a workflow script imports, directly or transitively."""
    path = Path(script)
    return module_files(*sorted(_imports(path, "__main__", Path(root))), root=root)


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


def _without_package_paths(tree: ast.AST) -> ast.AST:
    """Imports from this package keep the names they import, not the module they import them from."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] == PACKAGE):
            node.module, node.level = PACKAGE, 0
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    alias.asname = alias.asname or alias.name.rpartition(".")[2]
                    alias.name = PACKAGE
    return tree


def logic_dump(path: str | Path) -> str:
    """The syntax tree of a Python file without docstrings, comments, layout or line numbers."""
    tree = _without_docstrings(ast.parse(Path(path).read_text(), filename=str(path)))
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def logic_statements(path: str | Path) -> list[str]:
    """The top-level statements of a Python file as syntax trees (:func:`logic_dump`), this package's
    import paths left out and its imports at module level dropped (which module holds a definition is
    layout, not logic)."""
    stat = Path(path).stat()
    return list(_logic_statements(str(path), stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=1024)
def _logic_statements(path: str, mtime_ns: int, size: int) -> tuple[str, ...]:
    """:func:`logic_statements`, parsed once per version of the file (its modification time and size)."""
    tree = _without_package_paths(_without_docstrings(ast.parse(Path(path).read_text(), filename=path)))
    return tuple(
        ast.dump(node, annotate_fields=False, include_attributes=False)
        for node in tree.body
        if not (isinstance(node, ast.ImportFrom) and node.module in (PACKAGE, "__future__"))
        and not (isinstance(node, ast.Import) and all(alias.name == PACKAGE for alias in node.names))
    )


CACHE_FILE = Path("__pycache__", "code-hashes.json")
_CACHE_ENTRIES = 512
_HASH = re.compile(r"[0-9a-f]{64}")


def code_hash(script: str | Path, root: str | Path = PACKAGE_DIR) -> str:
    """The sha256 of a workflow script's logic and of the library modules it imports: their top-level
    statements (:func:`logic_statements`) as one sorted collection, other libraries' imports counted once
    however many modules repeat them. ``root``: the package the script runs (another checkout's
    ``lib/clusterability``, say). Cached by content (module docstring)."""
    root = Path(root)
    key = hashlib.sha256(f"{_library_fingerprint(root)}\n".encode() + Path(script).read_bytes()).hexdigest()
    cache_path = root / CACHE_FILE
    cached = _read_cache(cache_path)
    if key in cached:
        return cached[key]
    value = _code_hash(script, root)
    _write_cache(cache_path, {**cached, key: value})
    return value


def _library_fingerprint(root: Path) -> str:
    """A digest of the Python version and of every module of the package at ``root``, path and bytes."""
    files = sorted(root.rglob("*.py"))
    stats = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    return _fingerprint(str(root), stats)


@functools.lru_cache(maxsize=16)
def _fingerprint(root: str, stats: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256(f"{sys.version_info[:2]}\n".encode())  # ast.dump's output differs between Pythons
    for name, _, _ in stats:
        path = Path(name)
        digest.update(f"{path.relative_to(root).as_posix()}\0".encode() + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _read_cache(path: Path) -> dict[str, str]:
    """The cached hashes, or none where the file is missing or not a mapping of hashes to hashes."""
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(cached, dict):
        return {}
    return {k: v for k, v in cached.items() if isinstance(v, str) and _HASH.fullmatch(k) and _HASH.fullmatch(v)}


def _write_cache(path: Path, cached: dict[str, str]) -> None:
    """Write the newest ``_CACHE_ENTRIES`` hashes atomically; a folder that cannot be written is left alone."""
    try:
        path.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".code-hashes.", suffix=".tmp")
        try:
            os.chmod(fd, 0o644)
            with os.fdopen(fd, "w") as f:
                json.dump(dict(list(cached.items())[-_CACHE_ENTRIES:]), f)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass


def _code_hash(script: str | Path, root: str | Path = PACKAGE_DIR) -> str:
    """:func:`code_hash`, computed."""
    imports: set[str] = set()
    definitions: list[str] = []
    for origin, path in [("script", script), *(("library", p) for p in script_module_files(script, root))]:
        for statement in logic_statements(path):
            if statement.startswith(("Import(", "ImportFrom(")):
                imports.add(statement)
            else:
                definitions.append(f"{origin}\n{statement}")
    digest = hashlib.sha256()
    for statement in [*sorted(imports), *sorted(definitions)]:
        digest.update(f"{statement}\n".encode())
    return digest.hexdigest()
