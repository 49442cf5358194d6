"""Atomic file writes: a killed job never leaves a half-written file behind.

Every output is first written to a temporary file in the destination folder and
then renamed over the destination (``os.replace`` is atomic on POSIX when both
paths are on one file system). Missing parent folders are created; if the write
then fails, the folders it created are removed again, so a failed write leaves
nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed, so are the parent folders
    this call created, and ``path`` is untouched (an ``OSError`` of the file
    system propagates; callers turn it into a message naming ``path``).
    The temporary name keeps the final suffix, so writers that infer a format
    from the extension (numpy, matplotlib, Keras) still work.
    """
    path = Path(path)
    created = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    tmp_path = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # The stem is shortened so the temporary name fits wherever the final name does.
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem[:64]}.", suffix=f".tmp{path.suffix}", dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        # mkstemp creates the file private (0600); give it the permissions of a normal new file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        if tmp_path is not None:
            with contextlib.suppress(OSError):
                tmp_path.unlink()
        for folder in created:  # deepest first; only the ones this call made, and only if still empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n")


def write_npz(path: str | os.PathLike[str], **arrays: np.ndarray) -> None:
    """Write arrays to a compressed ``.npz`` file atomically (no pickled objects)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **{k: np.asarray(v) for k, v in arrays.items()})
