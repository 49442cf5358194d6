"""Skipping a test module whose optional libraries are not installed, without importing them.

``pytest.importorskip`` at a module's top imports the library when the module is collected, in
every selection: for TensorFlow, 5 CPU seconds of ``make test-fast``, whose ``-m "not tf"``
deselects those tests only after collection.
"""

from __future__ import annotations

import importlib.util

import pytest


def require(*names: str) -> None:
    """Skip the calling test module unless every top-level package in ``names`` can be imported."""
    missing = [name for name in names if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"could not find {', '.join(missing)}", allow_module_level=True)
