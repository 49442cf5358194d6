"""Explicit, recorded seeds for every random draw.

A seed is derived from a master seed and a tuple of names (dataset, regime,
run, weight set, shuffle method, index, ...) with a stable hash, never with
Python's salted ``hash()``, so every process and machine derives the same
seed for the same names. Seeds are spawned through ``numpy.random.SeedSequence``
so seeds for different names are statistically independent.
"""

from __future__ import annotations

import hashlib

import numpy as np

_SEED_BITS = 63  # fits in a signed 64-bit integer, JSON and TensorFlow seeds


def name_key(name: str | int) -> int:
    """A stable 32-bit integer for a name (ints map to themselves when small)."""
    if isinstance(name, (int, np.integer)) and 0 <= int(name) < 2**32:
        return int(name)
    digest = hashlib.sha256(str(name).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "little")


def seed_sequence(seed: int, *names: str | int) -> np.random.SeedSequence:
    """The ``SeedSequence`` for ``names`` under the integer ``seed``."""
    if int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return np.random.SeedSequence(int(seed), spawn_key=tuple(name_key(n) for n in names))


def derive_seed(seed: int, *names: str | int) -> int:
    """A non-negative integer seed for ``names`` under ``seed`` (recordable in JSON)."""
    state = seed_sequence(seed, *names).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 32 | int(state[1])) & ((1 << _SEED_BITS) - 1))


def generator(seed: int, *names: str | int) -> np.random.Generator:
    """A numpy ``Generator`` for ``names`` under ``seed``."""
    return np.random.default_rng(seed_sequence(seed, *names))
