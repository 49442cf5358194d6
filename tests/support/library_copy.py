"""Private copies of the library for the workflow runs, sharing its compiled code.

The Snakemake runs of the tests import a copy of ``lib/clusterability`` (so that a test
may edit it, and edits to ``lib/`` during a session do not reach a run). Each package of
the copy gets the library's own ``__pycache__`` as a symbolic link: numba keeps the
machine code of ``cache=True`` functions there, keyed by the module and the source file's
modification time and size (not its path), and Python its bytecode, checked the same
way; ``shutil.copytree`` keeps the times, so the copy loads what the library compiled,
and what a job of the copy compiles serves the next one and the library. An edited file
of the copy no longer matches and is compiled again, as before. Without the link every
fresh copy compiled the functions again in each of its first jobs (about 16 CPU seconds
for a clustering job: 35 CPU seconds more for the tiny run of P1 alone, 155 s wall
against 142 s).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from workflow_helpers import REPO

LIBRARY = REPO / "lib" / "clusterability"


def copy_library(root: Path) -> Path:
    """Copy the library to ``root/clusterability``, its ``__pycache__`` folders linked to the library's;
    return ``root`` (for ``PYTHONPATH``)."""
    copy = root / "clusterability"
    shutil.copytree(LIBRARY, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for package in [LIBRARY, *(p for p in LIBRARY.rglob("*") if p.is_dir() and "__pycache__" not in p.parts)]:
        cache = package / "__pycache__"
        cache.mkdir(exist_ok=True)
        (copy / package.relative_to(LIBRARY) / "__pycache__").symlink_to(cache, target_is_directory=True)
    return root
