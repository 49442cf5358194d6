"""The benchmarks' (and the tests') random networks: MLP kernels at Keras' default initialization.

``bench_ncut.py`` and ``bench_kmeans.py`` import this module (run as scripts, this folder is on
their path); ``tests/conftest.py`` loads it by its file path (``build_glorot_mlp``). Numpy only.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

#: The MLP of both papers: 784-256-256-256-256-10.
PAPER_WIDTHS = (784, 256, 256, 256, 256, 10)


def glorot_mlp(widths: Sequence[int] = PAPER_WIDTHS, *, seed: int, sparsity: float = 0.0) -> list[np.ndarray]:
    """Kernels ``(fan_in, fan_out)`` of an MLP at Glorot-uniform initialization, float64, in layer order.

    Each kernel is drawn from ``U(-limit, limit)``, ``limit = sqrt(6 / (fan_in + fan_out))``, by one
    generator seeded with ``seed``; then the entries of each kernel smaller in magnitude than its
    ``sparsity`` quantile are set to zero (per-layer magnitude pruning; 0: dense).
    """
    rng = np.random.default_rng(seed)
    kernels = []
    for fan_in, fan_out in itertools.pairwise(widths):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        w = rng.uniform(-limit, limit, size=(fan_in, fan_out))
        if sparsity > 0:
            w[np.abs(w) < np.quantile(np.abs(w), sparsity)] = 0.0
        kernels.append(w)
    return kernels
